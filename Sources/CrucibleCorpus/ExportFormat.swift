import CrucibleConfiguration
import CrucibleValidation
import CrucibleWire
/// The training formats `crucible corpus export` writes, one JSON object per line, each as
/// its trainer documents it. Assistant turns are the attempt's code in one ```python block
/// (the prose around it in the reply is not trained on), or a `run_python` tool call in the
/// tool-calling formats; feedback turns are rendered again from the stored findings.
public enum ExportFormat: String, CaseIterable, Sendable {
    /// mlx-lm `{"messages"}`: positives single-turn, pairs as repair conversations ending in
    /// the fix (train those with `--mask-prompt` so only the fix is learned).
    case mlxChat = "mlx-chat"
    /// mlx-lm `{"prompt", "completion"}`: the failed code and feedback are part of a pair's prompt.
    case mlxCompletions = "mlx-completions"
    /// OpenAI chat fine-tuning: a pair's failed attempt stays in context with `weight: 0`.
    case openAISFT = "openai-sft"
    /// OpenAI preference fine-tuning: `{"input", "preferred_output", "non_preferred_output"}`.
    case openAIDPO = "openai-dpo"
    /// TRL SFT prompt/completion (conversational): completion-only loss by default.
    case trlSFT = "trl-sft"
    /// TRL DPO `{"prompt", "chosen", "rejected"}`: chosen = the fix, rejected = the failure.
    case trlDPO = "trl-dpo"
    /// TRL KTO unpaired `{"prompt", "completion", "label"}`: passes true, failures false.
    case kto
    /// ShareGPT `{"conversations": [{"from", "value"}]}`.
    case shareGPT = "sharegpt"
    /// OpenAI chat fine-tuning with tools `{"messages", "tools"}`: failed `run_python` calls
    /// (weight 0) and their results, then the passing call (weight 1). ToolConversation.swift.
    case openAITools = "openai-tools"
    /// TRL SFT, conversational prompt/completion with a `tools` column: the failed calls and
    /// results are the prompt, the passing call the completion (the only part trained).
    case trlTools = "trl-tools"
    /// mlx-lm `{"messages", "tools"}`: ends on the passing call (train with --mask-prompt).
    case mlxTools = "mlx-tools"
    /// Prompt-only rows for RL with what a reward function needs, one per task. RLTask.swift.
    case rl
    /// A Hugging Face datasets folder: Parquet under data/ (the trl-tools rows as the default
    /// config, the rl rows as config `rl`) and a README.md dataset card. HuggingFaceDataset.swift.
    case hf

    /// Which derived examples the format carries.
    public var roles: Set<TrainingExample.Role> {
        switch self {
        case .mlxChat, .mlxCompletions, .openAISFT, .trlSFT, .shareGPT: [.positive, .pair]
        case .openAIDPO, .trlDPO: [.pair]
        case .kto: [.positive, .negative]
        case .openAITools, .trlTools, .mlxTools: [.positive, .pair]
        case .rl, .hf: [.positive, .pair, .negative]
        }
    }

    /// Whether the lines need what each attempt's run gave (`CorpusStore.attemptRuns`).
    public var needsRuns: Bool {
        switch self {
        case .openAITools, .trlTools, .mlxTools, .rl, .hf: true
        default: false
        }
    }

    /// The records the format writes, from what the gates kept: one per example, or one per
    /// conversation (tool formats), or one per task (rl). The agent formats leave out attempts
    /// recorded without a task (a serve or MCP call not linked to one): a conversation needs
    /// the user's request, and a reward function the task it judges.
    func records(from kept: [TrainingExample]) -> [TrainingExample] {
        let asked = kept.filter { !$0.attempt.task.isEmpty }
        switch self {
        case .openAITools, .trlTools, .mlxTools: return ToolConversation.examples(from: asked)
        case .rl: return RLTask.examples(from: asked)
        default: return kept.filter { roles.contains($0.role) }
        }
    }

    static let fallbackSystemPrompt = "You write Python code. Reply with the whole code in one ```python block."

    static func fenced(_ code: String) -> String {
        "```python\n" + trimmingNewlines(code) + "\n```"
    }

    /// `text.trimmingCharacters(in: .newlines)` without Foundation, whose trimming goes through
    /// UTF-16 on Linux: it was half the host's CPU in an export of every format (each format
    /// fences every example's code again). Same characters: CharacterSet.newlines is U+000A to
    /// U+000D, U+0085, U+2028 and U+2029, each one UTF-16 unit, so trimming unicode scalars
    /// trims what Foundation trims.
    static func trimmingNewlines(_ text: String) -> String {
        func isNewline(_ scalar: Unicode.Scalar) -> Bool {
            (0x0A...0x0D).contains(scalar.value) || scalar.value == 0x85 || scalar.value == 0x2028 || scalar.value == 0x2029
        }
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isNewline($0) }), let last = scalars.lastIndex(where: { !isNewline($0) })
        else { return "" }
        if first == scalars.startIndex && last == scalars.index(before: scalars.endIndex) { return text }
        return String(scalars[first...last])
    }

    /// The feedback a failed attempt earned, rendered again from its stored findings; the
    /// text rendered at run time when the failure was at run time (no findings to render).
    static func feedback(for failure: CorpusAttempt) -> String {
        let errors = failure.findings.filter { $0.severity == "error" }
        if !errors.isEmpty {
            let diagnostics = errors.compactMap { finding in
                Diagnostic(json: [
                    "rule": .string(finding.rule), "severity": .string(finding.severity), "message": .string(finding.message),
                    "hint": .string(finding.hint), "path": "<attempt>", "line": .int(finding.line), "column": .int(finding.column),
                ])
            }
            return Feedback.render(diagnostics: diagnostics, runtimeFailure: nil, code: failure.code,
                                        attempt: failure.attempt, maxAttempts: failure.budget ?? failure.attempt + 1)
        }
        if let stored = failure.feedback, !stored.isEmpty { return stored }
        return Feedback.render(diagnostics: [], runtimeFailure: "The code failed when it was run.", code: failure.code,
                                    attempt: failure.attempt, maxAttempts: failure.budget ?? failure.attempt + 1)
    }

    /// `feedback(for:)` from `texts` where an export shares them.
    static func feedback(for failure: CorpusAttempt, from texts: FeedbackTexts?) -> String {
        texts?.text(for: failure) ?? feedback(for: failure)
    }

    /// The line for one example, or nil when the format does not carry its role (or is not
    /// written line by line: hf). `runs` and `kinds` serve the tool and RL formats; `feedback`
    /// holds the feedback texts rendered so far (shared by the formats of one export).
    public func line(for example: TrainingExample, runs: [Int64: AttemptRun] = [:], kinds: [String: ArtifactKind] = [:],
                     rulesets: [String: [String]] = [:], feedback texts: FeedbackTexts? = nil) -> JSONValue? {
        guard roles.contains(example.role) else { return nil }
        let attempt = example.attempt
        let system = attempt.systemPrompt ?? Self.fallbackSystemPrompt
        let prompt: [JSONValue] = [["role": "system", "content": .string(system)], ["role": "user", "content": .string(attempt.task)]]
        let answer = Self.fenced(attempt.code)
        let assistant: JSONValue = ["role": "assistant", "content": .string(answer)]
        var repair: [JSONValue] = []  // the failed turn and its feedback, for pairs
        if let failure = example.failure {
            repair = [["role": "assistant", "content": .string(Self.fenced(failure.code))],
                      ["role": "user", "content": .string(Self.feedback(for: failure, from: texts))]]
        }
        switch self {
        case .mlxChat:
            return ["messages": .array(prompt + repair + [assistant])]
        case .mlxCompletions:
            var text = system + "\n\n" + attempt.task
            if let failure = example.failure {
                text += "\n\nPrevious attempt:\n" + Self.fenced(failure.code) + "\n\n" + Self.feedback(for: failure, from: texts)
            }
            return ["prompt": .string(text + "\n\n"), "completion": .string(answer)]
        case .openAISFT:
            var messages = prompt
            if let failure = example.failure {
                messages.append(["role": "assistant", "content": .string(Self.fenced(failure.code)), "weight": 0])
                messages.append(["role": "user", "content": .string(Self.feedback(for: failure, from: texts))])
            }
            messages.append(["role": "assistant", "content": .string(answer), "weight": 1])
            return ["messages": .array(messages)]
        case .openAIDPO:
            return [
                "input": ["messages": .array(prompt)], "preferred_output": [assistant],
                "non_preferred_output": [["role": "assistant", "content": .string(Self.fenced(example.failure!.code))]],
            ]
        case .trlSFT:
            return ["prompt": .array(prompt + repair), "completion": [assistant]]
        case .trlDPO:
            return [
                "prompt": .array(prompt), "chosen": [assistant],
                "rejected": [["role": "assistant", "content": .string(Self.fenced(example.failure!.code))]],
            ]
        case .kto:
            return ["prompt": .array(prompt), "completion": [assistant], "label": .bool(example.role == .positive)]
        case .shareGPT:
            var turns: [JSONValue] = [["from": "system", "value": .string(system)], ["from": "human", "value": .string(attempt.task)]]
            if let failure = example.failure {
                turns.append(["from": "gpt", "value": .string(Self.fenced(failure.code))])
                turns.append(["from": "human", "value": .string(Self.feedback(for: failure, from: texts))])
            }
            turns.append(["from": "gpt", "value": .string(answer)])
            return ["conversations": .array(turns)]
        case .openAITools:
            return ["messages": .array(ToolConversation.messages(example, runs: runs, dialect: .openAI, feedback: texts)),
                    "tools": [ToolConversation.definition]]
        case .trlTools:
            let messages = ToolConversation.messages(example, runs: runs, dialect: .huggingFace, feedback: texts)
            return ["prompt": .array(Array(messages.dropLast())), "completion": [messages.last!],
                    "tools": [ToolConversation.definition]]
        case .mlxTools:
            return ["messages": .array(ToolConversation.messages(example, runs: runs, dialect: .mlx, feedback: texts)),
                    "tools": [ToolConversation.definition]]
        case .rl:
            let sets = rulesets[attempt.kind].flatMap { $0.isEmpty ? nil : $0 } ?? ["core"]
            return RLTask.line(example, runs: runs, kinds: kinds, rulesets: sets)
        case .hf:
            return nil
        }
    }
}
