import CrucibleWire
import Foundation
import GRDB

/// The corpus: every attempt, in one SQLite file (WAL mode, so readers never block the
/// writer and several processes can append at once). Each attempt is one transaction:
/// its session row, the attempt, its diagnostics and its tool calls land together or not
/// at all, so a process killed mid-write leaves every committed attempt whole.
public final class CorpusStore: Sendable {
    /// Relative to the working directory, like `.crucible/tools`; `--corpus` or
    /// `CRUCIBLE_CORPUS` names another file.
    public static let defaultPath = ".crucible/corpus.sqlite"

    public let path: String
    let pool: DatabasePool

    /// What a failed write or open means for the user, with the SQLite detail kept.
    public struct Failure: Error, CustomStringConvertible {
        public enum Reason: String, Sendable { case diskFull = "disk_full", readOnly = "read_only", busy, corrupt, newerSchema = "newer_schema", invalidRecord = "invalid_record", other }
        public let reason: Reason
        public let description: String
    }

    /// The path crucible uses when none is given: `$CRUCIBLE_CORPUS`, else the default.
    public static func resolvedPath(_ given: String?) -> String {
        if let given, !given.isEmpty { return given }
        if let fromEnvironment = ProcessInfo.processInfo.environment["CRUCIBLE_CORPUS"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return defaultPath
    }

    /// Opens (creating when missing and `create` is set) and migrates the corpus at `path`.
    public init(path: String, create: Bool = true) throws {
        self.path = path
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if !FileManager.default.fileExists(atPath: path) {
            guard create else {
                throw Failure(reason: .other, description: "no corpus at \(path) (record attempts with `crucible generate`, "
                    + "`crucible serve` or `crucible corpus import` first, or pass --corpus)")
            }
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        var configuration = Configuration()
        // Other processes may hold the write lock for one attempt's transaction: wait, never fail.
        configuration.busyMode = .timeout(30)
        configuration.foreignKeysEnabled = true
        // WAL with synchronous=NORMAL: a commit survives the process being killed (the test
        // kills writers mid-run); only a power loss may take the last commits. FULL would add
        // an fsync to every attempt.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        do {
            // Several processes may create the same corpus at once (parallel `generate`
            // runs): switching a new file to WAL and migrating it are not safe to race
            // (SQLite answers BUSY without waiting), so setup is serialized across
            // processes by an advisory lock on a file beside the database.
            pool = try Self.whileHoldingSetupLock(beside: path) {
                let pool = try DatabasePool(path: path, configuration: configuration)
                let migrator = CorpusSchema.migrator
                let known = Set(migrator.migrations)
                let applied = try pool.read { db in try migrator.appliedIdentifiers(db) }
                if let unknown = applied.first(where: { !known.contains($0) }) {
                    throw Failure(reason: .newerSchema, description: "the corpus \(path) was written by a newer crucible "
                        + "(migration \(unknown.debugDescription) is unknown here); upgrade crucible to use it")
                }
                try migrator.migrate(pool)
                return pool
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Self.explain(error, doing: "opening the corpus", at: path)
        }
    }

    /// Runs `body` holding the lock on `<path>.setup-lock` (GRDB's advice: coordinate the setup
    /// of a shared database), so processes creating the same corpus at once take turns.
    private static func whileHoldingSetupLock<T>(beside path: String, _ body: () throws -> T) throws -> T {
        try FileLock.whileHolding(path + ".setup-lock", body)
    }

    /// Turns a SQLite error into a sentence that says what happened and what to do.
    static func explain(_ error: Error, doing action: String, at path: String) -> Failure {
        guard let database = error as? DatabaseError else {
            return Failure(reason: .other, description: "\(action) \(path) failed: \(error)")
        }
        let detail = database.message ?? "\(database.resultCode)"
        switch database.resultCode {
        case .SQLITE_FULL:
            return Failure(reason: .diskFull, description: "\(action) \(path) failed: the disk is full (\(detail)); free space or pass --corpus elsewhere")
        case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_CANTOPEN:
            return Failure(reason: .readOnly, description: "\(action) \(path) failed: the file or its folder cannot be written (\(detail)); make it writable or pass --corpus elsewhere")
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return Failure(reason: .busy, description: "\(action) \(path) failed: another process held the database for over 30 s (\(detail))")
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return Failure(reason: .corrupt, description: "\(action) \(path) failed: the file is not a readable SQLite database (\(detail)); move it aside")
        case .SQLITE_IOERR:
            return Failure(reason: .other, description: "\(action) \(path) failed: an I/O error (\(detail)); check the disk")
        default:
            return Failure(reason: .other, description: "\(action) \(path) failed: \(detail)")
        }
    }

    /// Where one attempt landed.
    public struct Stored: Sendable, Equatable {
        public var attemptID: Int64
        public var episodeID: String
        public var attempt: Int
        /// False when the same session and attempt number were already stored (re-import).
        public var inserted: Bool
    }

    /// Stores one attempt record (the retry loop's shape; `attempt` may be absent, and then
    /// the next number of its session is given). `source` says which front end made it.
    @discardableResult
    public func record(_ record: AttemptRecord, source: String) throws -> Stored {
        let prepared = PreparedAttempt(record, source: source)
        do {
            return try pool.write { db in try prepared.insert(into: db) }
        } catch {
            throw Self.explain(error, doing: "storing attempt \(prepared.attempt.map(String.init) ?? "(next)") of session \(prepared.episodeID) in", at: path)
        }
    }

    /// Stores `records` in one transaction, in order (a recorder's batch: one commit, and one
    /// WAL write, for many records). Each session's counts are brought up to date once, after
    /// its last record. Throws when any record fails: then none is stored.
    ///
    /// `beforeEach` runs before each record's rows: a recorder's writer at normal priority gives
    /// up its core there (`LaterRecords`). A batch is milliseconds of CPU; a request's thread
    /// (or the session worker polling for its next cell) that lands on the writer's core would
    /// otherwise wait for the scheduler's next tick (BENCHMARKS.md, issue 22).
    @discardableResult
    public func record(together records: [AttemptRecord], source: String, beforeEach: () -> Void = {}) throws -> [Stored] {
        let prepared = records.map { PreparedAttempt($0, source: source) }
        do {
            return try pool.write { db in
                try AttemptRows.insert(prepared, into: db, beforeEach: beforeEach)
            }
        } catch {
            throw Self.explain(error, doing: "storing \(prepared.count) attempts in", at: path)
        }
    }

    /// Stores many records in transactions of `chunk` (import): each chunk commits whole.
    /// `committed` is called after each commit with the running totals.
    public func record(
        batch records: [AttemptRecord], source: String, chunk: Int = 500,
        committed: ((_ inserted: Int, _ skipped: Int) -> Void)? = nil
    ) throws -> (inserted: Int, skipped: Int) {
        let prepared = records.map { PreparedAttempt($0, source: source) }
        var inserted = 0, skipped = 0
        for start in stride(from: 0, to: prepared.count, by: chunk) {
            let slice = prepared[start..<min(start + chunk, prepared.count)]
            let counts: (Int, Int)
            do {
                counts = try pool.write { db in
                    let added = try AttemptRows.insert(Array(slice), into: db).count(where: \.inserted)
                    return (added, slice.count - added)
                }
            } catch {
                throw Self.explain(error, doing: "storing records \(start + 1)–\(start + slice.count) (the \(start) before are stored) in", at: path)
            }
            inserted += counts.0
            skipped += counts.1
            committed?(inserted, skipped)
        }
        return (inserted, skipped)
    }

    /// Every attempt with its session, sessions in the order they were first stored, then by
    /// attempt number (what export, stats
    /// and the report read). Diagnostics come as rule rows, not re-parsed from JSON.
    public func attempts() throws -> [CorpusAttempt] {
        do {
            return try pool.read { db in
                var diagnostics: [Int64: [CorpusAttempt.Finding]] = [:]
                let rows = try Row.fetchCursor(db, sql: """
                    SELECT attempt_id, rule, severity, line, column, message, hint FROM diagnostics ORDER BY attempt_id, position
                    """)
                while let row = try rows.next() {
                    diagnostics[row[0], default: []].append(CorpusAttempt.Finding(
                        rule: row[1], severity: row[2], line: row[3] ?? 0, column: row[4] ?? 0, message: row[5], hint: row[6]))
                }
                var result: [CorpusAttempt] = []
                let attempts = try Row.fetchCursor(db, sql: """
                    SELECT a.id, a.session_id, a.attempt, a.passed, a.code, a.reply, a.feedback, a.started_at,
                           s.source, s.task_id, s.task, s.kind, s.model, s.system_prompt, s.budget, a.verdict
                    FROM attempts a JOIN sessions s ON s.id = a.session_id
                    ORDER BY s.rowid, a.attempt
                    """)
                while let row = try attempts.next() {
                    let id: Int64 = row[0]
                    let verdict = (row[15] as String?).flatMap(Verdict.init(rawValue:))
                    // The user's verdict overrides the checks: a rejected or edited attempt is
                    // no positive example, whatever the validators said (an edit follows it as its fix).
                    let passed: Bool = row[3]
                    result.append(CorpusAttempt(
                        id: id, episodeID: row[1], attempt: row[2], passed: passed && (verdict == nil || verdict == .accepted),
                        code: row[4], reply: row[5],
                        feedback: row[6], startedAt: row[7] ?? "", source: row[8], taskID: row[9] ?? "", task: row[10],
                        kind: row[11], model: row[12], systemPrompt: row[13], budget: row[14],
                        findings: diagnostics[id] ?? [], verdict: verdict))
                }
                return result
            }
        } catch { throw Self.explain(error, doing: "reading", at: path) }
    }

    /// Remembers an export and its gate report (the latest shows in `corpus stats`).
    public func noteExport(format: String, seed: Int, destination: String, report: JSONValue) throws {
        do {
            try pool.write { db in
                try db.execute(
                    sql: "INSERT INTO exports (created_at, format, seed, destination, report) VALUES (?, ?, ?, ?, ?)",
                    arguments: [Self.now(), format, seed, destination, report.jsonText])
            }
        } catch { throw Self.explain(error, doing: "noting the export in", at: path) }
    }

    /// The latest export's report, if any.
    public func latestExport() throws -> (format: String, createdAt: String, report: JSONValue)? {
        do {
            return try pool.read { db in
                guard let row = try Row.fetchOne(db, sql: "SELECT format, created_at, report FROM exports ORDER BY id DESC LIMIT 1")
                else { return nil }
                return (row[0], row[1], (try? JSONValue(parsing: row[2])) ?? .null)
            }
        } catch { throw Self.explain(error, doing: "reading", at: path) }
    }

    /// SQLite's own check of the file (pages, indexes, foreign keys): "ok" when sound.
    public func integrityCheck() throws -> String {
        do {
            return try pool.read { db in
                let pages = try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ")
                let orphans = try Row.fetchAll(db, sql: "PRAGMA foreign_key_check")
                return orphans.isEmpty ? pages : pages + "; \(orphans.count) rows reference missing parents"
            }
        } catch { throw Self.explain(error, doing: "checking", at: path) }
    }

    static func now() -> String { Timestamp.iso8601(milliseconds: true) }
}

/// One attempt as the corpus reads it back: what export, stats and the report need.
public struct CorpusAttempt: Sendable {
    public struct Finding: Sendable, Equatable {
        public var rule: String
        public var severity: String
        public var line: Int
        public var column: Int
        public var message: String
        public var hint: String
    }
    public var id: Int64
    public var episodeID: String
    public var attempt: Int
    public var passed: Bool
    public var code: String
    public var reply: String?
    public var feedback: String?
    public var startedAt: String
    public var source: String
    public var taskID: String
    public var task: String
    public var kind: String
    public var model: String?
    public var systemPrompt: String?
    public var budget: Int?
    public var findings: [Finding]
    /// What the user said of it (`feedback`), if anything.
    public var verdict: Verdict? = nil

    /// The rules whose errors failed this attempt.
    public var failedRules: [String] { findings.filter { $0.severity == "error" }.map(\.rule) }

    /// What a failing attempt failed on, for the stats: its rules; else the user's verdict
    /// (`feedback:rejected`, `feedback:edited`) when the checks had passed it; else `runtime`.
    public var failureLabels: [String] {
        let rules = failedRules
        if !rules.isEmpty { return rules }
        if let verdict, verdict != .accepted { return ["feedback:" + verdict.rawValue] }
        return ["runtime"]
    }
}
