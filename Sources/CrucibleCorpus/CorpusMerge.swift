import CrucibleWire
import Foundation
import GRDB

extension CorpusStore {
    /// What one merge did.
    public struct MergeCounts: Sendable, Equatable {
        /// Attempts added to this corpus.
        public var inserted = 0
        /// Attempts this corpus already had (an earlier merge of the same source, or a shared ancestor).
        public var alreadyPresent = 0
        /// Of `inserted`: attempts whose corpus session already had their attempt number for
        /// another attempt (two machines recorded into the same session id); they were
        /// appended after that session's attempts instead.
        public var renumbered = 0
        /// Feedback rows added.
        public var feedback = 0
    }

    /// Adds every attempt of `source` that this corpus does not have, with its diagnostics,
    /// tool calls, data flows and feedback: the corpora of many machines become one.
    ///
    /// Each attempt is re-inserted from its stored record through the same path as
    /// `record(batch:)`, so its rows are derived exactly as when it was first stored, and its
    /// attempt number is kept. An attempt is the same one when its id (`uid`, the id the
    /// front end handed out) matches; one without an id (the retry loop's) when its session,
    /// number, code and start time match. Merging a source again therefore adds nothing.
    /// Chunks commit as they go: an interrupted merge, run again, finishes the rest.
    public func merge(from source: CorpusStore, chunk: Int = 500) throws -> MergeCounts {
        guard URL(fileURLWithPath: source.path).standardizedFileURL != URL(fileURLWithPath: path).standardizedFileURL else {
            throw Failure(reason: .other, description: "cannot merge \(path) into itself")
        }
        var counts = MergeCounts()
        var mapped: [Int64: Int64] = [:]  // the source's attempts.id -> this corpus's
        var after: Int64 = 0
        while true {
            // In the order the source stored them (row ids), so attempts a session gets
            // renumbered keep their order, and a fix comes after the attempt it edits.
            let page: [(id: Int64, record: String)]
            do {
                page = try source.pool.read { db in
                    try Row.fetchAll(db, sql: "SELECT id, record FROM attempts WHERE id > ? ORDER BY id LIMIT ?",
                                     arguments: [after, chunk]).map { ($0[0], $0[1]) }
                }
            } catch { throw Self.explain(error, doing: "reading", at: source.path) }
            guard let last = page.last else { break }
            after = last.id
            var records: [(Int64, AttemptRecord)] = []
            for row in page {
                do {
                    records.append((row.id, try AttemptRecord(json: JSONValue(parsing: row.record))))
                } catch {
                    throw Failure(reason: .invalidRecord, description: "attempt \(row.id) of \(source.path) has a record that cannot be read (\(error)); nothing from it was merged")
                }
            }
            do {
                try pool.write { db in
                    for (sourceID, record) in records {
                        if let existing = try existingAttempt(matching: record, in: db) {
                            mapped[sourceID] = existing
                            counts.alreadyPresent += 1
                            continue
                        }
                        var record = record
                        if let number = record.attempt,
                           try Bool.fetchOne(db, sql: "SELECT 1 FROM attempts WHERE session_id = ? AND attempt = ?",
                                             arguments: [record.episodeID, number]) == true {
                            record.attempt = nil  // the store gives the session's next number
                            counts.renumbered += 1
                        }
                        let stored = try PreparedAttempt(record, source: record.source ?? "merge").insert(into: db)
                        mapped[sourceID] = stored.attemptID
                        if stored.inserted { counts.inserted += 1 } else { counts.alreadyPresent += 1 }
                    }
                }
            } catch let failure as Failure {
                throw failure
            } catch {
                throw Self.explain(error, doing: "merging \(source.path) into", at: path)
            }
        }
        counts.feedback = try mergeFeedback(from: source, mapped: mapped)
        return counts
    }

    /// This corpus's row for the attempt `record` describes, if it has one.
    private func existingAttempt(matching record: AttemptRecord, in db: Database) throws -> Int64? {
        if let uid = record.attemptID {
            return try Int64.fetchOne(db, sql: "SELECT id FROM attempts WHERE uid = ?", arguments: [uid])
        }
        guard let number = record.attempt else { return nil }
        guard let row = try Row.fetchOne(db, sql: "SELECT id, uid, code, started_at FROM attempts WHERE session_id = ? AND attempt = ?",
                                         arguments: [record.episodeID, number])
        else { return nil }
        let uid: String? = row[1]
        let code: String = row[2]
        let started: String? = row[3]
        return uid == nil && code == record.code && started == record.startedAt ? row[0] : nil
    }

    /// The source's feedback rows on attempts now in this corpus (a row this corpus already
    /// has, same attempt, verdict and time, is skipped); then each touched attempt's verdict
    /// is its latest feedback's, as `feedback(_:)` leaves it.
    private func mergeFeedback(from source: CorpusStore, mapped: [Int64: Int64]) throws -> Int {
        let rows: [Row]
        do {
            rows = try source.pool.read { db in
                try Row.fetchAll(db, sql: "SELECT attempt_id, verdict, edited_code, note, fix_attempt_id, created_at FROM feedback ORDER BY id")
            }
        } catch { throw Self.explain(error, doing: "reading", at: source.path) }
        guard !rows.isEmpty else { return 0 }
        do {
            return try pool.write { db in
                var added = 0
                var touched = Set<Int64>()
                for row in rows {
                    let sourceAttempt: Int64 = row[0]
                    guard let attempt = mapped[sourceAttempt] else { continue }
                    let verdict: String = row[1]
                    let created: String = row[5]
                    if try Bool.fetchOne(db, sql: "SELECT 1 FROM feedback WHERE attempt_id = ? AND verdict = ? AND created_at = ?",
                                         arguments: [attempt, verdict, created]) == true {
                        continue
                    }
                    let fix = (row[4] as Int64?).flatMap { mapped[$0] }
                    try db.execute(sql: """
                        INSERT INTO feedback (attempt_id, verdict, edited_code, note, fix_attempt_id, created_at) VALUES (?, ?, ?, ?, ?, ?)
                        """, arguments: [attempt, verdict, row[2] as String?, row[3] as String?, fix, created])
                    touched.insert(attempt)
                    added += 1
                }
                for attempt in touched {
                    try db.execute(sql: """
                        UPDATE attempts SET verdict = (SELECT verdict FROM feedback WHERE attempt_id = :id ORDER BY created_at DESC, id DESC LIMIT 1)
                        WHERE id = :id
                        """, arguments: ["id": attempt])
                }
                return added
            }
        } catch { throw Self.explain(error, doing: "merging the feedback of \(source.path) into", at: path) }
    }
}
