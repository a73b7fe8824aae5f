/// One attempt at a task, as every front end records it (`generate`'s retry loop, `serve`'s
/// execute and validate, `mcp`'s tools) and as the corpus stores, exports and imports it:
/// one type, encoded once where it leaves (the store, `--records`, a spill file) and decoded
/// once where it enters (`crucible corpus import`). Its JSON is the `--records` format.
///
/// Fields this version does not know (a newer writer's, a front end's own such as
/// `mcp_tool`) are kept in `extra` and written back as they came.
public struct AttemptRecord: Sendable, Equatable {
    /// The episode: the attempts at one task (a retry loop run, or one agent conversation
    /// through serve/MCP). Stored and exported as `session_id`, the name existing corpora use.
    public var episodeID: String
    /// The id a front end hands out with the call's result (serve, MCP), for `feedback` to
    /// name the attempt by; nil where nobody can name it (generate, imports of old records).
    public var attemptID: String?
    public var taskID: String?
    public var task: String = ""
    /// The artifact kind (its rulesets gated the attempt).
    public var kind: String = ""
    /// 1-based; nil asks the store for the session's next number.
    public var attempt: Int?
    /// The retry loop's budget: retries plus one.
    public var maxAttempts: Int?
    public var model: String?
    /// The system prompt, when the record has no `messages` to carry it.
    public var systemPrompt: String?
    /// The chat messages sent to the model for this attempt.
    public var messages: [JSONValue]?
    /// The sampling parameters actually sent.
    public var parameters: JSONValue?
    public var reply: Reply?
    public var usage: JSONValue?
    public var latencyMS: Double?
    public var httpAttempts: Int?
    /// Set when the model server could not be reached: the attempt has no code.
    public var modelError: ModelError?
    public var code: String = ""
    /// How the code was taken from the reply (a fenced block, the whole reply, …).
    public var extraction: String?
    public var diagnostics: [Diagnostic] = []
    /// What running the code gave: the execution result with `"status": "ran"`, or
    /// `{"status": "not_run" | "skipped" | "error", "reason"}`, or a pytest report.
    public var runtime: JSONValue?
    public var passed: Bool
    /// The retry text sent after a failure, as rendered then.
    public var feedback: String?
    /// The loop's own time (validation, the run) beside the model's.
    public var overheadMS: Double?
    public var startedAt: String?
    /// Which front end made it (`generate`, `serve`, `mcp`, `import`).
    public var source: String?
    public var extra: [String: JSONValue] = [:]

    public struct Reply: Codable, Sendable, Equatable {
        public var content: String
        public var reasoning: String?
        public var finishReason: String?

        public init(content: String, reasoning: String? = nil, finishReason: String? = nil) {
            self.content = content
            self.reasoning = reasoning
            self.finishReason = finishReason
        }

        enum CodingKeys: String, CodingKey {
            case content, reasoning, finishReason = "finish_reason"
        }
    }

    public struct ModelError: Codable, Sendable, Equatable {
        public var kind: String
        public var message: String

        public init(kind: String, message: String) {
            self.kind = kind
            self.message = message
        }
    }

    public init(episodeID: String, passed: Bool) {
        self.episodeID = episodeID
        self.passed = passed
    }

    /// The system prompt: given, or the first system message sent.
    public var effectiveSystemPrompt: String? {
        systemPrompt ?? messages?.first(where: { $0["role"]?.stringValue == "system" })?["content"]?.stringValue
    }

    /// The record's JSON (the `--records` line): what `encode(to:)` writes, built directly
    /// (through the Encoder it was 5-11% of the host's CPU on a recorded serve call).
    public var json: JSONValue {
        // Known fields over `extra`, as the encoder writes them.
        var members = extra
        members["session_id"] = .string(episodeID)
        if let attemptID { members["attempt_id"] = .string(attemptID) }
        if let taskID { members["task_id"] = .string(taskID) }
        members["task"] = .string(task)
        members["kind"] = .string(kind)
        if let attempt { members["attempt"] = .int(attempt) }
        if let maxAttempts { members["max_attempts"] = .int(maxAttempts) }
        if let model { members["model"] = .string(model) }
        if let systemPrompt { members["system_prompt"] = .string(systemPrompt) }
        if let messages { members["messages"] = .array(messages) }
        if let parameters { members["parameters"] = parameters }
        if let reply {
            var fields: [String: JSONValue] = ["content": .string(reply.content)]
            if let reasoning = reply.reasoning { fields["reasoning"] = .string(reasoning) }
            if let finishReason = reply.finishReason { fields["finish_reason"] = .string(finishReason) }
            members["reply"] = .object(fields)
        }
        if let usage { members["usage"] = usage }
        if let latencyMS { members["latency_ms"] = .double(latencyMS) }
        if let httpAttempts { members["http_attempts"] = .int(httpAttempts) }
        if let modelError { members["model_error"] = ["kind": .string(modelError.kind), "message": .string(modelError.message)] }
        members["code"] = .string(code)
        if let extraction { members["extraction"] = .string(extraction) }
        members["diagnostics"] = diagnostics.isEmpty ? .array([]) : (try? JSONValueEncoder().encode(diagnostics)) ?? .null
        if let runtime { members["runtime"] = runtime }
        members["passed"] = .bool(passed)
        if let feedback { members["feedback"] = .string(feedback) }
        if let overheadMS { members["overhead_ms"] = .double(overheadMS) }
        if let startedAt { members["started_at"] = .string(startedAt) }
        if let source { members["source"] = .string(source) }
        return .object(members)
    }

    /// A record from its JSON; the error names the field that is missing or wrong.
    public init(json: JSONValue) throws {
        self = try JSONValueDecoder().decode(AttemptRecord.self, from: json)
    }
}

extension AttemptRecord: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case episodeID = "session_id", attemptID = "attempt_id", taskID = "task_id", task, kind, attempt, maxAttempts = "max_attempts", model
        case systemPrompt = "system_prompt", messages, parameters, reply, usage, latencyMS = "latency_ms"
        case httpAttempts = "http_attempts", modelError = "model_error", code, extraction, diagnostics, runtime, passed
        case feedback, overheadMS = "overhead_ms", startedAt = "started_at", source
    }

    /// Any key, for the fields this version does not know.
    struct OtherKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { return nil }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        episodeID = try container.decode(String.self, forKey: .episodeID)
        guard !episodeID.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .episodeID, in: container, debugDescription: "session_id is empty")
        }
        passed = try container.decode(Bool.self, forKey: .passed)
        attemptID = try container.decodeIfPresent(String.self, forKey: .attemptID)
        taskID = try container.decodeIfPresent(String.self, forKey: .taskID)
        task = try container.decodeIfPresent(String.self, forKey: .task) ?? ""
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? ""
        attempt = try container.decodeIfPresent(Int.self, forKey: .attempt)
        if let attempt, attempt < 1 {
            throw DecodingError.dataCorruptedError(forKey: .attempt, in: container, debugDescription: "attempt must be from 1")
        }
        maxAttempts = try container.decodeIfPresent(Int.self, forKey: .maxAttempts)
        model = try container.decodeIfPresent(String.self, forKey: .model)
        systemPrompt = try container.decodeIfPresent(String.self, forKey: .systemPrompt)
        messages = try container.decodeIfPresent([JSONValue].self, forKey: .messages)
        parameters = try container.decodeIfPresent(JSONValue.self, forKey: .parameters)
        reply = try container.decodeIfPresent(Reply.self, forKey: .reply)
        usage = try container.decodeIfPresent(JSONValue.self, forKey: .usage)
        latencyMS = try container.decodeIfPresent(Double.self, forKey: .latencyMS)
        httpAttempts = try container.decodeIfPresent(Int.self, forKey: .httpAttempts)
        modelError = try container.decodeIfPresent(ModelError.self, forKey: .modelError)
        code = try container.decodeIfPresent(String.self, forKey: .code) ?? ""
        extraction = try container.decodeIfPresent(String.self, forKey: .extraction)
        diagnostics = try container.decodeIfPresent([Diagnostic].self, forKey: .diagnostics) ?? []
        runtime = try container.decodeIfPresent(JSONValue.self, forKey: .runtime)
        feedback = try container.decodeIfPresent(String.self, forKey: .feedback)
        overheadMS = try container.decodeIfPresent(Double.self, forKey: .overheadMS)
        startedAt = try container.decodeIfPresent(String.self, forKey: .startedAt)
        source = try container.decodeIfPresent(String.self, forKey: .source)
        let known = Set(CodingKeys.allCases.map(\.stringValue))
        let others = try decoder.container(keyedBy: OtherKey.self)
        for key in others.allKeys where !known.contains(key.stringValue) {
            extra[key.stringValue] = try others.decode(JSONValue.self, forKey: key)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var others = encoder.container(keyedBy: OtherKey.self)
        for (key, value) in extra { try others.encode(value, forKey: OtherKey(stringValue: key)) }
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(episodeID, forKey: .episodeID)
        try container.encodeIfPresent(attemptID, forKey: .attemptID)
        try container.encodeIfPresent(taskID, forKey: .taskID)
        try container.encode(task, forKey: .task)
        try container.encode(kind, forKey: .kind)
        try container.encodeIfPresent(attempt, forKey: .attempt)
        try container.encodeIfPresent(maxAttempts, forKey: .maxAttempts)
        try container.encodeIfPresent(model, forKey: .model)
        try container.encodeIfPresent(systemPrompt, forKey: .systemPrompt)
        try container.encodeIfPresent(messages, forKey: .messages)
        try container.encodeIfPresent(parameters, forKey: .parameters)
        try container.encodeIfPresent(reply, forKey: .reply)
        try container.encodeIfPresent(usage, forKey: .usage)
        try container.encodeIfPresent(latencyMS, forKey: .latencyMS)
        try container.encodeIfPresent(httpAttempts, forKey: .httpAttempts)
        try container.encodeIfPresent(modelError, forKey: .modelError)
        try container.encode(code, forKey: .code)
        try container.encodeIfPresent(extraction, forKey: .extraction)
        try container.encode(diagnostics, forKey: .diagnostics)
        try container.encodeIfPresent(runtime, forKey: .runtime)
        try container.encode(passed, forKey: .passed)
        try container.encodeIfPresent(feedback, forKey: .feedback)
        try container.encodeIfPresent(overheadMS, forKey: .overheadMS)
        try container.encodeIfPresent(startedAt, forKey: .startedAt)
        try container.encodeIfPresent(source, forKey: .source)
    }
}

extension AttemptRecord {
    /// A decoding error as one line for a person: which field, and what was wrong with it.
    public static func explain(_ error: any Error) -> String {
        func field(_ path: [any CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }
        switch error as? DecodingError {
        case .keyNotFound(let key, let context)?:
            let inside = field(context.codingPath)
            return "\"\(inside.isEmpty ? "" : inside + ".")\(key.stringValue)\" is missing"
        case .typeMismatch(let type, let context)?:
            return "\"\(field(context.codingPath))\" must be \(type == String.self ? "a string" : type == Bool.self ? "true or false" : "\(type)"), \(context.debugDescription)"
        case .dataCorrupted(let context)?, .valueNotFound(_, let context)?:
            return "\"\(field(context.codingPath))\": \(context.debugDescription)"
        default: return "\(error)"
        }
    }
}
