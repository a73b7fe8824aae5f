import CrucibleGeneration
import CrucibleWire
import Foundation

/// Records attempts into the corpus store for one front end (`generate`, `serve`, `mcp`).
/// When the store cannot take a record (full disk, read-only file, a corpus it cannot
/// open) the run goes on: the record is appended to a spill file that `crucible corpus
/// import` reads later, the first failure of each kind is reported in full, and the
/// counts say at the end how many records went where.
public final class CorpusRecorder: AttemptRecorder, @unchecked Sendable {
    public let path: String
    public let source: String
    let store: CorpusStore?
    let report: @Sendable (String) -> Void
    private let lock = NSLock()
    private var spill: AttemptLog?
    private var reported: Set<String> = []
    private var counts = Counts()
    /// The records `recordLater` queued, and the thread that writes them (LaterRecords.swift).
    let later: LaterRecords
    /// The git state of the folder attempts are made in, added to each record (`workspace`).
    private var workspace: WorkspaceContext

    /// The folder whose git state each record carries (default: the current directory).
    public func describeWorkspace(at directory: String) {
        lock.withLock { workspace = WorkspaceContext(directory: directory) }
    }

    public struct Counts: Sendable, Equatable {
        public var stored = 0
        /// Not in the store, but kept whole in `spillPath`.
        public var spilled = 0
        /// Neither in the store nor in a spill file (both refused); each was reported.
        public var lost = 0
        public var spillPath: String?
        public var problem: String?
    }

    public var snapshot: Counts { lock.withLock { counts } }

    /// Opens the store at `path`; a store that cannot be opened is reported and every record
    /// goes to the spill file instead.
    /// `batchWindow`: how long a `recordLater` record waits for others to share its transaction;
    /// `writerIdleExit`: how long its writer thread waits for a record before it ends.
    public init(path: String, source: String, batchWindow: Duration = LaterRecords.defaultWindow,
                writerIdleExit: Duration = LaterRecords.defaultIdleExit,
                report: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data("crucible: \($0)\n".utf8)) }) {
        later = LaterRecords(window: batchWindow, idleExit: writerIdleExit)
        self.path = path
        self.source = source
        self.report = report
        workspace = WorkspaceContext(directory: FileManager.default.currentDirectoryPath)
        do {
            store = try CorpusStore(path: path)
        } catch {
            store = nil
            counts.problem = "\(error)"
            report("corpus: \(error); attempts will be kept in a spill file instead")
        }
    }

    /// Wraps a store already open (a Swift host, `crucible serve`).
    /// `background`: let the writer run at SCHED_IDLE (`LaterRecords`; tests turn it off).
    public init(store: CorpusStore, source: String, batchWindow: Duration = LaterRecords.defaultWindow,
                writerIdleExit: Duration = LaterRecords.defaultIdleExit, background: Bool = true,
                report: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data("crucible: \($0)\n".utf8)) }) {
        later = LaterRecords(window: batchWindow, idleExit: writerIdleExit, background: background)
        path = store.path
        self.source = source
        self.report = report
        self.store = store
        workspace = WorkspaceContext(directory: FileManager.default.currentDirectoryPath)
    }

    /// Stores the record, or spills it; throws only when both failed (the record is lost,
    /// and the caller reports that too).
    @discardableResult
    public func record(_ record: AttemptRecord) throws -> CorpusStore.Stored? {
        let record = withWorkspace(record)
        if let store {
            do {
                let stored = try store.record(record, source: source)
                lock.withLock { counts.stored += 1 }
                return stored
            } catch let failure as CorpusStore.Failure where failure.reason == .invalidRecord {
                throw failure
            } catch {
                note(key: "\((error as? CorpusStore.Failure)?.reason.rawValue ?? "other")", "corpus: \(error)")
                lock.withLock { counts.problem = "\(error)" }
            }
        }
        try spillRecord(record)
        return nil
    }

    public func append(_ record: AttemptRecord) throws { try self.record(record) }

    /// Stores `records` in one transaction, calling `beforeEach` before each; false (nothing
    /// stored, nothing reported) when the store is missing or refused them, and the caller
    /// then records each alone.
    func storeTogether(_ records: [AttemptRecord], beforeEach: () -> Void = {}) -> Bool {
        guard let store else { return false }
        do {
            try store.record(together: records.map(withWorkspace), source: source, beforeEach: beforeEach)
        } catch {
            return false
        }
        lock.withLock { counts.stored += records.count }
        return true
    }

    /// The record with the git state of the folder it was made in (`workspace`).
    private func withWorkspace(_ record: AttemptRecord) -> AttemptRecord {
        // Imported records carry their own context (or none): the importer's folder is not theirs.
        guard source != "import", record.extra["workspace"] == nil else { return record }
        var record = record
        record.extra["workspace"] = lock.withLock { workspace.current() }
        return record
    }

    private func spillRecord(_ record: AttemptRecord) throws {
        var line = record
        line.source = line.source ?? source
        try lock.withLock {
            if spill == nil {
                // Beside the corpus first; in the temporary folder when that disk is the problem.
                let temporary = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("crucible-unsaved-\(getpid()).jsonl").path
                let candidates = [path + ".unsaved.jsonl", temporary]
                for candidate in candidates {
                    if let opened = try? AttemptLog(path: candidate) {
                        do {
                            try opened.append(line)
                            spill = opened
                            counts.spilled += 1
                            counts.spillPath = candidate
                            report("corpus: attempts not stored in \(path) are kept in \(candidate); "
                                         + "load them later with `crucible corpus import \(candidate)`")
                            return
                        } catch {
                            // Opened but refused the write (a full disk): leave no empty file behind.
                            if ((try? FileManager.default.attributesOfItem(atPath: candidate))?[.size] as? NSNumber)?.intValue == 0 {
                                unlink(candidate)
                            }
                            continue
                        }
                    }
                }
                counts.lost += 1
                report("corpus: an attempt could not be stored in \(path) nor written to a spill file; it is lost")
                throw CorpusStore.Failure(reason: .other, description: "the attempt was neither stored nor spilled")
            }
            do {
                try spill!.append(line)
                counts.spilled += 1
            } catch {
                counts.lost += 1
                report("corpus: \(error); this attempt is lost")
                throw error
            }
        }
    }

    private func note(key: String, _ message: String) {
        let first = lock.withLock { reported.insert(key).inserted }
        if first { report(message) }
    }

    /// One line for the end of a run: where the records went.
    public var summary: String {
        let counts = snapshot
        var text = "corpus: \(counts.stored) attempt\(counts.stored == 1 ? "" : "s") stored in \(path)"
        if counts.spilled > 0 {
            text += "; \(counts.spilled) NOT stored (\(counts.problem ?? "the store failed")) but kept in "
                + "\(counts.spillPath ?? "?"): run `crucible corpus import \(counts.spillPath ?? "?")`"
        }
        if counts.lost > 0 { text += "; \(counts.lost) LOST (no spill file could be written)" }
        return text
    }

    public var summaryJSON: JSONValue {
        let counts = snapshot
        return [
            "path": .string(path), "stored": .int(counts.stored), "spilled": .int(counts.spilled),
            "lost": .int(counts.lost), "spill_path": counts.spillPath.map { .string($0) } ?? .null,
            "problem": counts.problem.map { .string($0) } ?? .null,
        ]
    }
}
