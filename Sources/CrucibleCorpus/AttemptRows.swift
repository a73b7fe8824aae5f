import CrucibleWire
import GRDB

/// A record taken apart for its rows before its transaction opens.
struct PreparedAttempt {
    var record: AttemptRecord
    var source: String
    var startedAt: String
    var toolCalls: [JSONValue]
    var fieldReads: [JSONValue]
    var dataFlows: [JSONValue]

    var episodeID: String { record.episodeID }
    var attempt: Int? { record.attempt }

    init(_ record: AttemptRecord, source: String) {
        var record = record
        self.source = record.source ?? source
        record.source = self.source
        startedAt = record.startedAt ?? CorpusStore.now()
        toolCalls = record.runtime?["trace"]?["tool_calls"]?.arrayValue ?? []
        fieldReads = record.runtime?["trace"]?["field_reads"]?.arrayValue ?? []
        dataFlows = record.runtime?["trace"]?["data_flows"]?.arrayValue ?? []
        self.record = record
    }

    /// Stores the record alone and brings its session's counts up to date.
    func insert(into db: Database) throws -> CorpusStore.Stored {
        try AttemptRows.insert([self], into: db)[0]
    }
}

/// Writes records into an open transaction: each record's rows (its session's row when new,
/// the attempt, its diagnostics, tool calls and data flows), then each session's counts.
///
/// Most records start their session (a `serve` or `mcp` call without a `corpus` link is an
/// episode of its own), so a session new in the transaction is inserted with the counts its
/// records will give it (`NewSession`), and needs neither `SELECT MAX(attempt)` for their
/// numbers nor an `UPDATE` with three subqueries afterwards: two statements per record
/// instead of four, on the writer thread that shares the machine with the requests
/// (BENCHMARKS.md, issue 22). A session already stored is handled as before: numbers after
/// its largest, counts recomputed from its rows once, after its last record in the batch.
enum AttemptRows {
    /// `beforeEach` runs before each record's rows (a recorder's writer at normal priority
    /// yields its core there).
    static func insert(_ items: [PreparedAttempt], into db: Database, beforeEach: () -> Void = {}) throws -> [CorpusStore.Stored] {
        let statements = try Statements(db)
        let now = CorpusStore.now()
        var byEpisode: [String: [Int]] = [:]
        for (index, item) in items.enumerated() { byEpisode[item.episodeID, default: []].append(index) }
        var sessions: [String: SessionState] = [:]
        var stored: [CorpusStore.Stored] = []
        stored.reserveCapacity(items.count)
        for item in items {
            beforeEach()
            var session: SessionState
            if let known = sessions[item.episodeID] {
                session = known
            } else {
                let plan = NewSession(byEpisode[item.episodeID, default: []].map { items[$0] })
                session = SessionState(plan: try statements.insertSession(item, plan: plan, now: now) ? plan : nil)
            }
            let number: Int
            if let plan = session.plan {
                number = plan.numbers[session.position]
            } else if let given = item.attempt {
                number = given
            } else {
                let largest = try session.largest ?? statements.largestAttempt(item.episodeID)
                session.largest = largest
                number = largest + 1
            }
            session.position += 1
            let landed = try statements.insertAttempt(item, number: number)
            stored.append(landed)
            if landed.inserted {
                session.inserted += 1
                if let largest = session.largest { session.largest = max(largest, number) }
                if session.model == nil { session.model = item.record.model }
            } else if let plan = session.plan, plan.stores[session.position - 1] {
                // The plan counted this record in, but its id was already stored (from another
                // session): from here on the session is numbered and counted from its rows.
                session.plan = nil
                session.unplanned = true
            }
            sessions[item.episodeID] = session
        }
        for (episode, session) in sessions where session.plan == nil {
            if session.unplanned, let first = items.first(where: { $0.episodeID == episode }) {
                // Its row was inserted with the plan's model; the model is the first record's,
                // or else the first one stored names, as for a session made record by record.
                try statements.updateSession(episode, model: first.record.model ?? session.model, now: now, replacingModel: true)
            } else if session.inserted > 0 {
                try statements.updateSession(episode, model: session.model, now: now)
            }
        }
        return stored
    }

    /// What the batch knows of one session.
    private struct SessionState {
        /// Set when this transaction made the session: its numbers and counts, planned.
        var plan: NewSession?
        /// Which of the session's records in the batch comes next.
        var position = 0
        /// A stored session's largest attempt number, once looked up.
        var largest: Int?
        /// The first model its inserted records name.
        var model: String?
        var inserted = 0
        /// Set when the batch made the session but a record its plan counted in was not stored.
        var unplanned = false
    }

    /// A session's row as its records in the batch will leave it when the batch creates it:
    /// each record's number (the one given, or one more than the largest so far), and the
    /// counts. A number given twice is stored once (the attempt's insert skips the second).
    struct NewSession {
        var numbers: [Int] = []
        /// Whether each record is stored (false: its number was given before in the batch).
        var stores: [Bool] = []
        var attempts = 0
        var firstPassing: Int?
        var model: String?

        init(_ records: [PreparedAttempt]) {
            var largest: Int?  // as MAX(attempt) over the rows so far: nil while there are none
            var taken = Set<Int>()
            for record in records {
                let number = record.attempt ?? (largest ?? 0) + 1
                numbers.append(number)
                stores.append(taken.insert(number).inserted)
                guard stores.last! else { continue }
                largest = max(largest ?? number, number)
                attempts += 1
                if record.record.passed { firstPassing = min(firstPassing ?? number, number) }
                if model == nil { model = record.record.model }
            }
        }
    }

    /// The statements a batch runs, looked up once per batch rather than once per record
    /// (cached statements: SQLite parses each once per connection).
    private struct Statements {
        let db: Database
        let session, largest, attempt, existing, diagnostic, toolCall, dataFlow: Statement

        init(_ db: Database) throws {
            self.db = db
            session = try db.cachedStatement(sql: """
                INSERT INTO sessions (id, source, task_id, task, kind, model, system_prompt, budget,
                                      attempts, first_passing_attempt, outcome, started_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO NOTHING
                """)
            largest = try db.cachedStatement(sql: "SELECT MAX(attempt) FROM attempts WHERE session_id = ?")
            attempt = try db.cachedStatement(sql: """
                INSERT INTO attempts (session_id, attempt, passed, code, reply, feedback, model, started_at, latency_ms, record, uid)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """)
            existing = try db.cachedStatement(sql: "SELECT id FROM attempts WHERE session_id = ? AND attempt = ?")
            diagnostic = try db.cachedStatement(sql: """
                INSERT INTO diagnostics (attempt_id, position, rule, severity, line, column, end_line, end_column, message, hint)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            toolCall = try db.cachedStatement(sql: """
                INSERT INTO tool_calls (attempt_id, position, tool, arguments, duration_ms, outcome, result_bytes, fields_read, result_fields)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            dataFlow = try db.cachedStatement(sql: """
                INSERT INTO data_flows (attempt_id, from_call, from_tool, from_path, to_call, to_tool, argument)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
        }

        /// Inserts the session of `item` with the counts `plan` gives it; false when it was
        /// already stored (and then nothing changed).
        func insertSession(_ item: PreparedAttempt, plan: NewSession, now: String) throws -> Bool {
            let record = item.record
            try session.execute(arguments: [
                item.episodeID, item.source, record.taskID, record.task, record.kind, plan.model, record.effectiveSystemPrompt,
                record.maxAttempts, plan.attempts, plan.firstPassing, plan.firstPassing == nil ? "failed" : "passed",
                item.startedAt, now,
            ])
            return db.changesCount > 0
        }

        func largestAttempt(_ episodeID: String) throws -> Int {
            try Int.fetchOne(largest, arguments: [episodeID]) ?? 0
        }

        /// The attempt's rows; `inserted` false when its session already had that number.
        func insertAttempt(_ item: PreparedAttempt, number: Int) throws -> CorpusStore.Stored {
            let record = item.record
            var stored = record
            stored.attempt = number
            stored.startedAt = item.startedAt
            try attempt.execute(arguments: [
                item.episodeID, number, record.passed, record.code, record.reply?.content, record.feedback, record.model,
                item.startedAt, record.latencyMS, stored.json.jsonText, record.attemptID,
            ])
            guard db.changesCount > 0 else {
                let id = try Int64.fetchOne(existing, arguments: [item.episodeID, number]) ?? 0
                return CorpusStore.Stored(attemptID: id, episodeID: item.episodeID, attempt: number, inserted: false)
            }
            let attemptID = db.lastInsertedRowID
            for (position, diagnostic) in record.diagnostics.enumerated() {
                try self.diagnostic.execute(arguments: [
                    attemptID, position, diagnostic.rule, diagnostic.severity, diagnostic.line, diagnostic.column,
                    diagnostic.endLine, diagnostic.endColumn, diagnostic.message, diagnostic.hint,
                ])
            }
            for (position, call) in item.toolCalls.enumerated() {
                let index = call["index"]?.intValue ?? position
                let read = item.fieldReads.filter { $0["call"]?.intValue == index }.compactMap { $0["path"] }
                try toolCall.execute(arguments: [
                    attemptID, position, call["tool"]?.stringValue ?? "?", (call["arguments"] ?? .null).jsonText,
                    call["duration_ms"]?.numberValue, call["outcome"]?.stringValue ?? "?", call["result_bytes"]?.intValue,
                    JSONValue.array(read).jsonText, call["result_fields"]?.jsonText,
                ])
            }
            for flow in item.dataFlows {
                guard let fromCall = flow["from_call"]?.intValue, let toCall = flow["to_call"]?.intValue else { continue }
                try dataFlow.execute(arguments: [
                    attemptID, fromCall, flow["from_tool"]?.stringValue ?? "?", flow["from_path"]?.stringValue ?? "?",
                    toCall, flow["to_tool"]?.stringValue ?? "?", flow["argument"]?.stringValue ?? "?",
                ])
            }
            return CorpusStore.Stored(attemptID: attemptID, episodeID: item.episodeID, attempt: number, inserted: true)
        }

        /// A session's attempt count, first passing attempt and outcome, from its rows as stored
        /// now; its model kept when it has one, or `model` (`replacingModel`: `model` either way).
        func updateSession(_ episodeID: String, model: String?, now: String, replacingModel: Bool = false) throws {
            try db.cachedStatement(sql: """
                UPDATE sessions SET
                    attempts = (SELECT COUNT(*) FROM attempts WHERE session_id = :id),
                    first_passing_attempt = (SELECT MIN(attempt) FROM attempts WHERE session_id = :id AND passed),
                    outcome = CASE WHEN EXISTS (SELECT 1 FROM attempts WHERE session_id = :id AND passed) THEN 'passed' ELSE 'failed' END,
                    model = CASE WHEN :replace THEN :model ELSE COALESCE(model, :model) END,
                    updated_at = :now
                WHERE id = :id
                """).execute(arguments: ["id": episodeID, "model": model, "now": now, "replace": replacingModel])
        }
    }
}
