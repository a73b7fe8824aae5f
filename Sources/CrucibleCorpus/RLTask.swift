import CrucibleConfiguration
import CrucibleWire

/// Prompt-only rows for reinforcement learning (GRPO and the like): one per task, with what a
/// reward function needs to judge a completion the way Crucible judged the recorded attempts:
/// the kind, its rulesets and how it runs, its check code, the task's expected output, and the
/// typed tools the code called. TRL hands every column besides `prompt` to the reward
/// functions as keyword arguments, so the columns are flat.
public enum RLTask {
    /// One per task (kind and task id, else kind and text) that the gates left an example of;
    /// it carries every kept attempt at the task so the splits keep them with it.
    static func examples(from kept: [TrainingExample]) -> [TrainingExample] {
        var order: [String] = []
        var tasks: [String: TrainingExample] = [:]
        for example in kept {
            let attempt = example.attempt
            let key = attempt.kind + "\u{0}" + (attempt.taskID.isEmpty ? "text:" + attempt.task : attempt.taskID)
            if tasks[key] == nil {
                order.append(key)
                tasks[key] = example
            }
            tasks[key]!.context += [attempt] + (example.failure.map { [$0] } ?? [])
        }
        return order.map { tasks[$0]! }
    }

    static func line(_ example: TrainingExample, runs: [Int64: AttemptRun], kinds: [String: ArtifactKind],
                     rulesets: [String]) -> JSONValue {
        let attempt = example.attempt
        let kind = kinds[attempt.kind]
        var tools: [String] = []
        var expected: String?
        for seen in example.context {
            for tool in runs[seen.id]?.tools ?? [] where !tools.contains(tool) { tools.append(tool) }
            expected = expected ?? runs[seen.id]?.expect
        }
        func text(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
        return [
            "prompt": [
                ["role": "system", "content": .string(attempt.systemPrompt ?? ExportFormat.fallbackSystemPrompt)],
                ["role": "user", "content": .string(attempt.task)],
            ],
            "task_id": .string(attempt.taskID),
            "kind": .string(attempt.kind),
            "rulesets": .array(rulesets.map { .string($0) }),
            // sandbox: it must run without error (and meet `expected`); pytest: its tests must
            // pass; static: the rulesets alone judge it (and `check` on `check_python` or later).
            "runtime": text(kind?.runtime.rawValue),
            "check": text(kind?.check),
            "check_prelude": text(kind?.checkPrelude),
            "check_python": text(kind?.checkPython),
            // JSON text: `{"value": X}` and/or `{"stdout_contains": T}`, as the task gave it.
            "expected": text(expected),
            "tools": .array(tools.map { .string($0) }),
        ]
    }
}
