import CrucibleWire
import Foundation

/// One call from an agent (`crucible serve`'s execute and validate, `crucible mcp`'s
/// run_python and validate_code) as a corpus attempt. Calls that are attempts at one artifact
/// share a `Link.episode` (one corpus episode, stored as `session_id`), so the failures before a passing call pair with it on export.
public enum CallRecord {
    /// Which corpus episode a call joins, and what the task was.
    public struct Link: Sendable, Equatable {
        /// nil: the call is an episode of its own, named after its attempt (`SOURCE:ATTEMPT-ID`).
        public var episode: String?
        public var task: String
        public var taskID: String?
        public var kind: String
        public var model: String?

        public init(episode: String?, task: String = "", taskID: String? = nil, kind: String = "", model: String? = nil) {
            self.episode = episode
            self.task = task
            self.taskID = taskID
            self.kind = kind
            self.model = model
        }
    }

    /// When a call began: the wall-clock time its record shows, and the monotonic instant its
    /// latency is measured from (a clock set during the call must not make it negative or huge).
    public struct Start: Sendable {
        public let date = Date()
        public let instant = ContinuousClock.now
        public init() {}
    }

    /// The record for a call that ended at `finished`. A front end that makes it on the corpus
    /// writer (`recordLater(making:)`) takes the attempt id and the end first, on the request.
    public static func make(
        _ link: Link, source: String, code: String, passed: Bool, diagnostics: [Diagnostic], runtime: JSONValue,
        feedback: String?, started: Start, extra: [String: JSONValue] = [:],
        attemptID: String = RecordUUID.next(), finished: ContinuousClock.Instant = .now
    ) -> AttemptRecord {
        var record = AttemptRecord(episodeID: link.episode ?? "\(source):\(attemptID)", passed: passed)
        record.attemptID = attemptID
        record.task = link.task
        record.kind = link.kind
        record.taskID = link.taskID
        record.model = link.model
        record.code = code
        record.diagnostics = diagnostics
        record.runtime = runtime
        record.feedback = feedback
        record.startedAt = Timestamp.iso8601(started.date)
        record.latencyMS = (finished - started.instant).milliseconds
        record.source = source
        record.extra = extra
        return record
    }

    /// A call's result with the recorded attempt's id added as `attempt` (what `feedback` takes).
    public static func withAttempt(_ result: JSONValue, _ attemptID: String?) -> JSONValue {
        guard let attemptID, case .object(var members) = result else { return result }
        members["attempt"] = .string(attemptID)
        return .object(members)
    }

    /// An execution as the `runtime` of a record: the result, marked as run.
    public static func runtime(of result: ExecutionResult) -> JSONValue { runtime(of: result, encoded: result.jsonObject) }

    /// The same, from the result's `jsonObject` already made (for the caller's answer: encoding
    /// a result is a good part of the host's work on a session cell).
    public static func runtime(of result: ExecutionResult, encoded: JSONValue) -> JSONValue {
        guard case .object(var members) = encoded else { return encoded }
        members["status"] = "ran"
        // The corpus keeps what was written, not the bytes.
        if !result.files.isEmpty {
            members["files"] = result.files.summary
        }
        return .object(members)
    }
}
