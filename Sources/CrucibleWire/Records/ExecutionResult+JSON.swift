import Foundation

extension ExecutionResult {
    /// The stable JSON shape of a result, shared by `crucible run --json`, `crucible serve`
    /// and MCP: snake_case names, the outcome as a short name plus a sentence, the trace.
    public var jsonObject: JSONValue {
        var object: [String: JSONValue] = [
            "outcome": .string(outcome.name),
            "outcome_detail": .string(outcome.description),
            "stdout": .string(stdout),
            "stderr": .string(stderr),
            "stdout_truncated_bytes": .int(stdoutTruncatedBytes),
            "stderr_truncated_bytes": .int(stderrTruncatedBytes),
            "duration_ms": .double(duration.milliseconds),
            "trace": trace.jsonObject,
        ]
        if case .killedBySeccomp(let name) = outcome { object["syscall"] = .string(name) }
        if case .crashed(let signal?, _) = outcome { object["signal"] = .int(Int(signal)) }
        if let value {
            switch value {
            case .json(let text, let type):
                object["value"] = (try? JSONValue(parsing: text)) ?? .null
                object["value_type"] = .string(type)
            case .repr(let text, let type, let truncated):
                object["value_repr"] = .string(text)
                object["value_type"] = .string(type)
                if truncated > 0 { object["value_truncated_chars"] = .int(truncated) }
            }
        }
        if let error {
            var described: [String: JSONValue] = [
                "type": .string(error.type), "message": .string(error.message), "traceback": .string(error.traceback),
                "frames": .array(error.frames.map {
                    ["file": .string($0.file), "line": .int($0.line), "function": .string($0.function),
                     "text": .string($0.text)]
                }),
            ]
            if let line = error.line { described["line"] = .int(line) }
            if let column = error.column { described["column"] = .int(column) }
            if let line = error.endLine { described["end_line"] = .int(line) }
            if let column = error.endColumn { described["end_column"] = .int(column) }
            if let text = error.sourceLine { described["source_line"] = .string(text) }
            object["error"] = .object(described)
        }
        return .object(object)
    }
}

extension ExecutionTrace {
    public var jsonObject: JSONValue {
        [
            "tool_calls": .array(toolCalls.map { call in
                var entry: [String: JSONValue] = [
                    "index": .int(call.index), "tool": .string(call.tool), "arguments": call.arguments,
                    "duration_ms": .double(call.duration.milliseconds), "outcome": .string(call.outcome.name),
                    "result_bytes": .int(call.resultBytes),
                ]
                if call.outcome != .ok { entry["detail"] = .string(call.outcome.description) }
                return .object(entry)
            }),
            "field_reads": .array(fieldReads.map { ["call": .int($0.call), "tool": .string($0.tool), "path": .string($0.path)] }),
        ]
    }
}

extension Duration {
    public var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
