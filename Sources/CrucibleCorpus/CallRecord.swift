import CrucibleWire
import Foundation

/// One call from an agent (`crucible serve`'s execute and validate, `crucible mcp`'s
/// run_python and validate_code) as a corpus attempt. Calls that are attempts at one artifact
/// share a `Link.session`, so the failures before a passing call pair with it on export.
public enum CallRecord {
    /// Which corpus session a call joins, and what the task was.
    public struct Link: Sendable, Equatable {
        public var session: String
        public var task: String
        public var taskID: String?
        public var kind: String
        public var model: String?

        public init(session: String, task: String = "", taskID: String? = nil, kind: String = "", model: String? = nil) {
            self.session = session
            self.task = task
            self.taskID = taskID
            self.kind = kind
            self.model = model
        }
    }

    /// The record for a call, in the shape `CorpusStore.record` reads.
    public static func make(
        _ link: Link, source: String, code: String, passed: Bool, diagnostics: [Diagnostic], runtime: JSONValue,
        feedback: String?, started: Date, extra: [String: JSONValue] = [:]
    ) -> JSONValue {
        var record: [String: JSONValue] = [
            "session_id": .string(link.session), "task": .string(link.task), "kind": .string(link.kind),
            "code": .string(code), "passed": .bool(passed), "diagnostics": .array(diagnostics.map(\.json)),
            "runtime": runtime, "started_at": .string(Timestamp.iso8601(started)),
            "latency_ms": .double(Date().timeIntervalSince(started) * 1000), "source": .string(source),
        ]
        if let taskID = link.taskID { record["task_id"] = .string(taskID) }
        if let model = link.model { record["model"] = .string(model) }
        if let feedback { record["feedback"] = .string(feedback) }
        record.merge(extra) { _, new in new }
        return .object(record)
    }

    /// An execution as the `runtime` of a record: the result, marked as run.
    public static func runtime(of result: ExecutionResult) -> JSONValue {
        guard case .object(var members) = result.jsonObject else { return result.jsonObject }
        members["status"] = "ran"
        return .object(members)
    }
}

extension CorpusRecorder {
    /// Records in call order on a serial queue, off the caller's path (an agent's answer never
    /// waits on the disk). A store failure is reported and spilled by the recorder.
    public func recordLater(_ record: JSONValue) {
        background.async { _ = try? self.record(record) }
    }

    /// Waits until every `recordLater` record is written (at exit).
    public func drain() { background.sync {} }
}
