import CrucibleWire
import Foundation

/// One thing to generate: the request, its kind, and what a correct run must show.
public struct GenerationTask: Sendable {
    public var id: String
    public var text: String
    /// nil: the command's --kind.
    public var kind: String?
    /// For runnable kinds: `{"value": X}` (the last expression's value must equal X) and/or
    /// `{"stdout_contains": "text"}`.
    public var expectation: JSONValue?

    public init(id: String, text: String, kind: String? = nil, expectation: JSONValue? = nil) {
        self.id = id
        self.text = text
        self.kind = kind
        self.expectation = expectation
    }

    /// A tasks file: JSON Lines of `{"id"?, "task", "kind"?, "expect"?}`, or plain lines of text.
    public static func load(path: String) throws -> [GenerationTask] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ModelFailure(kind: .client, message: "cannot read the tasks file \(path)", retryable: false)
        }
        var tasks: [GenerationTask] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("{") {
                guard let object = try? JSONValue(parsing: line), let task = object["task"]?.stringValue else {
                    throw ModelFailure(kind: .client, message: "\(path):\(index + 1): expected {\"task\": TEXT, ...}",
                                       retryable: false)
                }
                tasks.append(GenerationTask(
                    id: object["id"]?.stringValue ?? "task-\(tasks.count + 1)", text: task,
                    kind: object["kind"]?.stringValue, expectation: object["expect"]))
            } else {
                tasks.append(GenerationTask(id: "task-\(tasks.count + 1)", text: line))
            }
        }
        return tasks
    }
}
