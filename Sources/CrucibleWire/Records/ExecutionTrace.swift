import Foundation

/// What an execution did with its tools: every call in order, and every result field the
/// code read. Calls are recorded by the host (the code cannot forge them); field reads
/// are reported by the worker's result objects and tied to the host's calls by index.
public struct ExecutionTrace: Equatable, Sendable {
    public var toolCalls: [ToolCallRecord] = []
    public var fieldReads: [FieldRead] = []
    /// Result values passed on into later calls' arguments (checked by the host).
    public var dataFlows: [DataFlow] = []

    public init(toolCalls: [ToolCallRecord] = [], fieldReads: [FieldRead] = [], dataFlows: [DataFlow] = []) {
        self.toolCalls = toolCalls
        self.fieldReads = fieldReads
        self.dataFlows = dataFlows
    }

    public var isEmpty: Bool { toolCalls.isEmpty && fieldReads.isEmpty && dataFlows.isEmpty }

    /// Field paths read from the results of calls to `tool` (`commits[].author`).
    public func fieldsRead(from tool: String) -> [String] {
        fieldReads.filter { $0.tool == tool }.map(\.path)
    }
}

/// One tool call as the host saw it.
public struct ToolCallRecord: Equatable, Sendable {
    public enum Outcome: Equatable, Sendable, CustomStringConvertible {
        case ok
        /// The tool itself reported a failure (`ToolError` in the code).
        case toolError(String)
        /// The arguments broke the inputSchema, or the tool is unknown (`ToolArgumentError`).
        case argumentError(path: String, message: String)
        /// The result broke the outputSchema (`ToolContractError`); the code got no result.
        case contractError(path: String, message: String)
        /// The per-call timeout passed (`ToolTimeoutError`).
        case timeout
        /// Too many calls, or a result over the size limit (`ToolLimitError`).
        case limitExceeded(String)

        public var name: String {
            switch self {
            case .ok: "ok"
            case .toolError: "tool_error"
            case .argumentError: "argument_error"
            case .contractError: "contract_error"
            case .timeout: "timeout"
            case .limitExceeded: "limit_exceeded"
            }
        }

        public var description: String {
            switch self {
            case .ok: "ok"
            case .toolError(let message): "tool error: \(message)"
            case .argumentError(let path, let message): "argument error at \(path): \(message)"
            case .contractError(let path, let message): "contract error at \(path): \(message)"
            case .timeout: "timeout"
            case .limitExceeded(let message): "limit exceeded: \(message)"
            }
        }
    }

    public var index: Int
    public var tool: String
    public var arguments: JSONValue
    public var duration: Duration
    public var outcome: Outcome
    /// The result's size as JSON bytes (0 when there was no result).
    public var resultBytes: Int
    /// The result's field paths, how often each occurred and was null (empty without a result).
    public var resultFields: [String: FieldTally]

    public init(index: Int, tool: String, arguments: JSONValue, duration: Duration, outcome: Outcome, resultBytes: Int,
                resultFields: [String: FieldTally] = [:]) {
        self.index = index
        self.tool = tool
        self.arguments = arguments
        self.duration = duration
        self.outcome = outcome
        self.resultBytes = resultBytes
        self.resultFields = resultFields
    }
}

/// One result field the code read: from which call, at which path.
public struct FieldRead: Equatable, Sendable {
    /// Index into `ExecutionTrace.toolCalls`.
    public var call: Int
    public var tool: String
    /// Dotted path with list indexes folded to `[]`; `*` when the whole object was read (repr, to_dict).
    public var path: String

    public init(call: Int, tool: String, path: String) {
        self.call = call
        self.tool = tool
        self.path = path
    }
}

extension ExecutionTrace: Encodable {
    enum CodingKeys: String, CodingKey {
        case toolCalls = "tool_calls", fieldReads = "field_reads", dataFlows = "data_flows"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(toolCalls, forKey: .toolCalls)
        try container.encode(fieldReads, forKey: .fieldReads)
        if !dataFlows.isEmpty { try container.encode(dataFlows, forKey: .dataFlows) }
    }

    /// The trace in its JSON shape (most executions call no tool: that one is a constant).
    public var jsonObject: JSONValue {
        if toolCalls.isEmpty && fieldReads.isEmpty && dataFlows.isEmpty { return ["tool_calls": [], "field_reads": []] }
        return (try? JSONValueEncoder().encode(self)) ?? .null
    }
}

extension ToolCallRecord: Encodable {
    enum CodingKeys: String, CodingKey {
        case index, tool, arguments, durationMS = "duration_ms", outcome, resultBytes = "result_bytes", detail
        case resultFields = "result_fields"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(index, forKey: .index)
        try container.encode(tool, forKey: .tool)
        try container.encode(arguments, forKey: .arguments)
        try container.encode(duration.milliseconds, forKey: .durationMS)
        try container.encode(outcome.name, forKey: .outcome)
        try container.encode(resultBytes, forKey: .resultBytes)
        if outcome != .ok { try container.encode(outcome.description, forKey: .detail) }
        // {path: [occurrences, nulls]}: compact, since every recorded call carries it.
        if !resultFields.isEmpty {
            try container.encode(resultFields.mapValues { [$0.occurrences, $0.nulls] }, forKey: .resultFields)
        }
    }
}

extension FieldRead: Encodable {}
