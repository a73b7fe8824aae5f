import CrucibleWire
import Foundation

/// A model that replays replies from a file: for tests, the demo and the benchmark.
///
/// The file is JSON Lines, one script per line: `{"task": TEXT or "*", "replies": [TEXT, ...]}`.
/// The Nth request for a task gets its Nth reply (the task is the first user message); past
/// the end, the last reply repeats. A `"*"` script serves tasks without one of their own.
/// A reply may be `{"error": "connection"}` to play a failing server.
public final class ScriptedModel: ChatModel, Sendable {
    public let name: String
    private let scripts: [String: [JSONValue]]
    /// Replies served so far, per task.
    private let served = Locked<[String: Int]>([:])

    public init(path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ModelFailure(kind: .client, message: "cannot read the scripted model's file \(path)", retryable: false)
        }
        name = "scripted:" + URL(fileURLWithPath: path).lastPathComponent
        var scripts: [String: [JSONValue]] = [:]
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let script = try? JSONValue(parsing: trimmed), let task = script["task"]?.stringValue,
                let replies = script["replies"]?.arrayValue, !replies.isEmpty
            else {
                throw ModelFailure(kind: .client, message: "\(path):\(index + 1): expected {\"task\": ..., \"replies\": [...]}",
                                   retryable: false)
            }
            scripts[task] = replies
        }
        self.scripts = scripts
    }

    public func complete(_ messages: [ChatMessage], parameters: SamplingParameters) async throws -> ModelReply {
        let task = messages.first { $0.role == "user" }?.content ?? ""
        let reply: JSONValue = try served.withLock { served in
            guard let replies = scripts[task] ?? scripts["*"] else {
                throw ModelFailure(kind: .client, message: "the scripted model has no replies for the task "
                    + task.prefix(80).debugDescription, retryable: false)
            }
            let index = served[task, default: 0]
            served[task] = index + 1
            return replies[min(index, replies.count - 1)]
        }
        if let error = reply["error"]?.stringValue {
            throw ModelFailure(kind: .connection, message: "scripted failure: \(error)", retryable: false)
        }
        let content = reply.stringValue ?? reply["content"]?.stringValue ?? ""
        return ModelReply(content: content, reasoning: reply["reasoning"]?.stringValue, finishReason: "stop",
                          usage: nil, model: name, parametersSent: parameters.json, latency: .zero, httpAttempts: 1)
    }
}
