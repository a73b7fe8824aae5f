import CrucibleWire

/// Tool-calling conversations: the code travels as a `run_python` tool call and what running
/// it gave comes back as a `tool` message, the way an agent in code mode sees it. One
/// conversation per passing attempt: the system prompt and the task, then each failed attempt
/// before the pass (those whose pair with it survived the gates) as a call and its result with
/// the feedback it earned, and last the passing call. The conversation ends on that call: it is
/// what a trainer should learn (the failed calls stay as context), and nothing after it was
/// said by the model.
public enum ToolConversation {
    /// How each trainer spells a tool call.
    enum Dialect {
        /// OpenAI chat fine-tuning: `arguments` as a JSON string, no content beside the calls,
        /// `weight: 0` on failed calls so they are context only.
        case openAI
        /// Hugging Face chat templates (TRL): `arguments` as an object, content "" (templates
        /// read it as a string), tool messages naming their tool.
        case huggingFace
        /// mlx-lm: as Hugging Face, but `arguments` as a JSON string (what its docs show).
        case mlx
    }

    public static let toolName = "run_python"

    /// The definition every row carries in `tools` (JSON Schema function, OpenAI's shape).
    /// Typed tools are functions inside the code, not tools of the model: the system prompt
    /// describes them.
    public static let definition: JSONValue = [
        "type": "function",
        "function": [
            "name": .string(toolName),
            "description": "Check and run Python code in Crucible's sandbox. Returns whether it passed, the outcome, stdout, stderr, the value of the last expression and, when it failed, feedback naming what to fix. The typed tools described in the system prompt are in scope.",
            "parameters": [
                "type": "object",
                "properties": ["code": ["type": "string", "description": "The whole program."]],
                "required": ["code"],
            ],
        ],
    ]

    /// The conversations the gates leave: each kept positive, with the failures of its kept pairs.
    static func examples(from kept: [TrainingExample]) -> [TrainingExample] {
        var failures: [Int64: [CorpusAttempt]] = [:]
        for example in kept where example.role == .pair { failures[example.attempt.id, default: []].append(example.failure!) }
        return kept.filter { $0.role == .positive }.map { positive in
            var conversation = positive
            conversation.context = (failures[positive.attempt.id] ?? []).sorted { $0.attempt < $1.attempt }
            return conversation
        }
    }

    /// The messages: system, user, then call / result for each failure, then the passing call.
    static func messages(_ example: TrainingExample, runs: [Int64: AttemptRun], dialect: Dialect,
                         feedback texts: FeedbackTexts? = nil) -> [JSONValue] {
        let attempt = example.attempt
        var messages: [JSONValue] = [
            ["role": "system", "content": .string(attempt.systemPrompt ?? ExportFormat.fallbackSystemPrompt)],
            ["role": "user", "content": .string(attempt.task)],
        ]
        for failure in example.context {
            messages.append(call(failure, dialect: dialect, trained: false))
            var result: [String: JSONValue] = [
                "role": "tool", "tool_call_id": .string(callID(failure)), "content": .string(self.result(failure, run: runs[failure.id], feedback: texts)),
            ]
            if dialect != .openAI { result["name"] = .string(toolName) }
            messages.append(.object(result))
        }
        messages.append(call(attempt, dialect: dialect, trained: true))
        return messages
    }

    static func callID(_ attempt: CorpusAttempt) -> String { "call_\(attempt.id)" }

    static func call(_ attempt: CorpusAttempt, dialect: Dialect, trained: Bool) -> JSONValue {
        let code = JSONValue.object(["code": .string(attempt.code)])
        let call: JSONValue = [
            "id": .string(callID(attempt)), "type": "function",
            "function": ["name": .string(toolName), "arguments": dialect == .huggingFace ? code : .string(code.jsonText)],
        ]
        switch dialect {
        case .openAI: return ["role": "assistant", "tool_calls": [call], "weight": trained ? 1 : 0]
        case .huggingFace, .mlx: return ["role": "assistant", "content": "", "tool_calls": [call]]
        }
    }

    /// What `run_python` answered: the stored run and the feedback, as one JSON object.
    static func result(_ attempt: CorpusAttempt, run: AttemptRun?, feedback texts: FeedbackTexts? = nil) -> String {
        var fields: [String: JSONValue] = ["passed": .bool(attempt.passed)]
        func put(_ key: String, _ text: String?, limit: Int = 2_000) {
            guard let text, !text.isEmpty else { return }
            fields[key] = .string(text.count > limit ? String(text.prefix(limit)) + "\n[… \(text.count - limit) more characters]" : text)
        }
        put("status", run?.status)
        put("outcome", run?.outcome)
        put("stdout", run?.stdout)
        put("stderr", run?.stderr)
        put("value", run?.value)
        put("error", run?.error)
        put("reason", run?.reason)
        put("check", run?.checkOutcome)
        if !attempt.passed { put("feedback", ExportFormat.feedback(for: attempt, from: texts), limit: 8_000) }
        return JSONValue.object(fields).jsonText
    }
}
