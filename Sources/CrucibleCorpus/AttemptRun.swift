import CrucibleWire
import GRDB

/// What running one attempt gave, as its stored record holds it: what the tool-calling
/// exports put in a `tool` message and what the RL rows pass to a reward function.
public struct AttemptRun: Sendable, Equatable {
    /// `ran`, `checked`, `not_run`, `skipped` or `error` (the record's `runtime.status`).
    public var status: String?
    /// The execution's outcome (`ok`, `exception`, `timeout`, …) when it ran.
    public var outcome: String?
    public var stdout: String?
    public var stderr: String?
    /// The last expression's value: JSON text, or Python's repr when it is not JSON.
    public var value: String?
    /// `Type: message` of the exception, when one ended the run.
    public var error: String?
    /// Why it was not run, or what expectation it missed.
    public var reason: String?
    /// The kind's check, when one ran: its outcome.
    public var checkOutcome: String?
    /// The task's expectation (`{"value": X}` / `{"stdout_contains": T}`), JSON text.
    public var expect: String?
    /// The typed tools the code called, in first-call order.
    public var tools: [String] = []
}

extension CorpusStore {
    /// Every attempt's run, by attempt id. SQLite's JSON functions take the few fields out of
    /// the stored records, so 100,000 records are not parsed whole here.
    public func attemptRuns() throws -> [Int64: AttemptRun] {
        do {
            return try pool.read { db in
                var tools: [Int64: [String]] = [:]
                let calls = try Row.fetchCursor(db, sql: "SELECT attempt_id, tool FROM tool_calls ORDER BY attempt_id, position")
                while let row = try calls.next() {
                    let id: Int64 = row[0], tool: String = row[1]
                    if tools[id]?.contains(tool) != true { tools[id, default: []].append(tool) }
                }
                var runs: [Int64: AttemptRun] = [:]
                // `->` gives JSON text (a value of any type); `->>` gives SQL text (strings as they are).
                let rows = try Row.fetchCursor(db, sql: """
                    SELECT id, record ->> '$.runtime.status', record ->> '$.runtime.outcome',
                           record ->> '$.runtime.stdout', record ->> '$.runtime.stderr',
                           record -> '$.runtime.value', record ->> '$.runtime.value_repr',
                           record ->> '$.runtime.error.type', record ->> '$.runtime.error.message',
                           COALESCE(record ->> '$.runtime.expectation', record ->> '$.runtime.reason'),
                           record ->> '$.runtime.check.outcome', record -> '$.expect'
                    FROM attempts
                    """)
                while let row = try rows.next() {
                    let id: Int64 = row[0]
                    let errorType: String? = row[7], errorMessage: String? = row[8]
                    runs[id] = AttemptRun(
                        status: row[1], outcome: row[2], stdout: row[3], stderr: row[4], value: row[5] ?? row[6],
                        error: errorType.map { type in errorMessage.map { "\(type): \($0)" } ?? type }, reason: row[9],
                        checkOutcome: row[10], expect: row[11], tools: tools[id] ?? [])
                }
                return runs
            }
        } catch { throw Self.explain(error, doing: "reading the attempts' runs from", at: path) }
    }
}
