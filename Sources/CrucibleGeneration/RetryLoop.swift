import CrucibleConfiguration
import CrucibleSandbox
import CrucibleTools
import CrucibleValidation
import CrucibleWire
import Foundation

/// Generate, extract, validate, run; on failure send ModelRetry feedback and ask again,
/// within a budget. Every attempt is recorded in full.
///
/// `maxRetries` counts retries *after* the first attempt: 3 means at most 4 model calls
/// (pydantic-ai's meaning; instructor's has changed between versions).
public final class RetryLoop: Sendable {
    public struct Settings: Sendable {
        public var maxRetries = 3
        public var parameters = SamplingParameters()
        /// Python run after an artifact that ran cleanly, in the same worker session (so the
        /// artifact's names are in scope): an exception or a failed assert fails the attempt
        /// and becomes the model's feedback. Overrides the kind's own `check`.
        public var check: RuntimeCheck?
        public init() {}
    }

    /// A check's file name (shown to the model) and its source.
    public struct RuntimeCheck: Sendable {
        public var name: String
        public var source: String
        /// Run before the artifact (the kind's stand-ins for names its convention imports).
        public var prelude: String?
        public init(name: String, source: String, prelude: String? = nil) {
            self.name = name
            self.source = source
            self.prelude = prelude
        }
    }

    public struct Outcome: Sendable {
        public var task: GenerationTask
        public var kind: String
        public var passed: Bool
        public var attempts: [AttemptRecord]
        /// Why the task ended without a pass: what still fails, or the model failure.
        public var finalError: String?
        /// A transport failure (server down, HTTP errors past their retries): not the model's fault.
        public var modelFailure: ModelFailure?
        /// The rules that failed, over all attempts (for the batch summary).
        public var failedRules: [String]
        public var attemptCount: Int { attempts.count }
    }

    let model: ChatModel
    let validator: Validator
    let sandbox: Sandbox
    let tools: Toolbox
    let toolAPI: String?
    let runTest: (@Sendable (String) throws -> JSONValue)?
    let settings: Settings
    let validatorConfiguration: Validator.Configuration
    let recorders: [any AttemptRecorder]
    let logProblem: @Sendable (String) -> Void

    public init(
        model: ChatModel, validator: Validator, sandbox: Sandbox, tools: Toolbox = Toolbox(), toolAPI: String? = nil,
        runTest: (@Sendable (String) throws -> JSONValue)? = nil, settings: Settings = Settings(),
        validatorConfiguration: Validator.Configuration = Validator.Configuration(), recorders: [any AttemptRecorder] = [],
        logProblem: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data("crucible: \($0)\n".utf8)) }
    ) {
        self.model = model
        self.validator = validator
        self.sandbox = sandbox
        self.tools = tools
        self.toolAPI = toolAPI
        self.runTest = runTest
        self.settings = settings
        self.validatorConfiguration = validatorConfiguration
        self.recorders = recorders
        self.logProblem = logProblem
    }

    /// The same loop with another retry budget (a caller's per-task choice).
    public func withMaxRetries(_ maxRetries: Int) -> RetryLoop {
        var changed = settings
        changed.maxRetries = maxRetries
        return RetryLoop(
            model: model, validator: validator, sandbox: sandbox, tools: tools, toolAPI: toolAPI, runTest: runTest,
            settings: changed, validatorConfiguration: validatorConfiguration, recorders: recorders, logProblem: logProblem)
    }

    public func systemPrompt(for kind: ArtifactKind) -> String {
        var prompt = kind.prompt
        if let packages = sandbox.configuration.packages?.resolved, !packages.isEmpty {
            prompt += "\n\n" + ToolPrompt.packagesSentence(packages).trimmingCharacters(in: .whitespaces)
        }
        guard kind.toolsInPrompt, let toolAPI, !toolAPI.isEmpty else { return prompt }
        return prompt + "\n\nTools (already in scope; `from tools import ...` also works):\n\n```python\n"
            + toolAPI.trimmingCharacters(in: .newlines) + "\n```"
    }

    public func run(_ task: GenerationTask, kind: ArtifactKind, isCancelled: @Sendable () -> Bool = { false }) async -> Outcome {
        let maxAttempts = settings.maxRetries + 1
        let episodeID = RecordUUID.next()
        var messages: [ChatMessage] = [.system(systemPrompt(for: kind)), .user(task.text)]
        var outcome = Outcome(task: task, kind: kind.name, passed: false, attempts: [], finalError: nil,
                              modelFailure: nil, failedRules: [])
        for attempt in 1...maxAttempts {
            if isCancelled() {
                outcome.finalError = outcome.finalError ?? "stopped before attempt \(attempt) (interrupted)"
                break
            }
            let started = ContinuousClock.now
            let startedAt = Date()
            var record = AttemptRecord(episodeID: episodeID, passed: false)
            record.taskID = task.id
            record.task = task.text
            record.kind = kind.name
            record.attempt = attempt
            record.maxAttempts = maxAttempts
            record.model = model.name
            record.messages = messages.map(\.json)
            record.startedAt = Timestamp.iso8601(startedAt)
            record.extra["environment"] = sandbox.environmentRecord
            // What a correct run must show: the RL export hands it to reward functions.
            if let expectation = task.expectation { record.extra["expect"] = expectation }
            let reply: ModelReply
            do {
                reply = try await model.complete(messages, parameters: settings.parameters)
            } catch {
                let failure = (error as? ModelFailure)
                    ?? ModelFailure(kind: .connection, message: "\(error)", retryable: false)
                record.modelError = AttemptRecord.ModelError(kind: failure.kind.rawValue, message: failure.message)
                record.parameters = .object(settings.parameters.json)
                record.latencyMS = (ContinuousClock.now - started).milliseconds
                keep(record, in: &outcome)
                outcome.modelFailure = failure
                outcome.finalError = "the model could not be reached: \(failure.message)"
                break
            }
            let afterModel = ContinuousClock.now
            record.model = reply.model
            record.parameters = .object(reply.parametersSent)
            record.reply = AttemptRecord.Reply(content: reply.content, reasoning: reply.reasoning, finishReason: reply.finishReason)
            record.usage = reply.usage?.json ?? .null
            record.latencyMS = reply.latency.milliseconds
            record.httpAttempts = reply.httpAttempts

            let extracted = CodeExtraction.extract(from: reply.content)
            record.code = extracted.code
            record.extraction = extracted.note
            let check = await check(extracted.code, task: task, kind: kind, attempt: attempt)
            record.diagnostics = check.diagnostics
            record.runtime = check.runtime
            record.passed = check.passed
            outcome.failedRules += check.diagnostics.filter { $0.severity == "error" }.map(\.rule)
            var feedback: String?
            if !check.passed {
                feedback = Feedback.render(
                    diagnostics: check.diagnostics.filter { $0.severity == "error" }, runtimeFailure: check.runtimeFailure,
                    code: extracted.code, attempt: attempt, maxAttempts: maxAttempts)
                record.feedback = feedback
            }
            record.overheadMS = (ContinuousClock.now - afterModel).milliseconds
            keep(record, in: &outcome)
            if check.passed {
                outcome.passed = true
                outcome.finalError = nil
                break
            }
            outcome.finalError = Self.summary(check)
            messages.append(.assistant(reply.content))
            messages.append(.user(feedback!))
        }
        if !outcome.passed, outcome.modelFailure == nil, let error = outcome.finalError {
            outcome.finalError = "no passing attempt in \(outcome.attempts.count) of \(maxAttempts); still failing: \(error)"
        }
        return outcome
    }

    private func keep(_ record: AttemptRecord, in outcome: inout Outcome) {
        outcome.attempts.append(record)
        for recorder in recorders {
            do { try recorder.append(record) } catch {
                // Said loudly, every time: the run goes on, and the record is still in the outcome.
                logProblem("\(error) (the attempt is kept in memory and in --json output)")
            }
        }
    }

    struct Check {
        var diagnostics: [Diagnostic]
        var runtime: JSONValue
        var runtimeFailure: String?
        var passed: Bool
    }

    func check(_ code: String, task: GenerationTask, kind: ArtifactKind, attempt: Int) async -> Check {
        var configuration = validatorConfiguration
        // No rulesets named: parse errors (and t-string mixing) only, not every ruleset.
        configuration.rulesets = kind.rulesets.isEmpty ? ["core"] : kind.rulesets
        let diagnostics: [Diagnostic]
        do {
            diagnostics = try await onOwnThread { [validator, configuration] in
                try validator.validate(source: code, path: "<attempt \(attempt)>", configuration: configuration)
            }
        } catch {
            return Check(diagnostics: [], runtime: ["status": "error", "reason": .string("\(error)")],
                         runtimeFailure: "the validators failed internally: \(error)", passed: false)
        }
        let blocking = diagnostics.filter { $0.severity == "error" }
        guard blocking.isEmpty else {
            return Check(diagnostics: diagnostics, runtime: ["status": "not_run", "reason": "the static checks failed"],
                         runtimeFailure: nil, passed: false)
        }
        let check = settings.check ?? kind.check.map {
            RuntimeCheck(name: "the \(kind.name) check (\(kind.source))", source: $0, prelude: kind.checkPrelude)
        }
        switch kind.runtime {
        case .staticOnly:
            // A static kind whose code this interpreter can run (t-strings on 3.14) is run and
            // checked too: a static pass that fails at runtime is not a pass.
            if let check, let oldest = kind.checkPython.flatMap(PythonVersion.init),
                let running = PythonVersion(sandbox.report.pythonVersion), running >= oldest {
                var runtime: [String: JSONValue] = ["status": "checked", "python": .string(sandbox.report.pythonVersion)]
                let checked = await runCheck(check, after: code)
                runtime["check"] = checked.record
                return Check(diagnostics: diagnostics, runtime: .object(runtime), runtimeFailure: checked.failure,
                             passed: checked.failure == nil)
            }
            var runtime: [String: JSONValue] = ["status": "skipped", "reason": .string(kind.staticReason ?? "static kind")]
            if let check {
                let reason = kind.checkPython.map { "kind \(kind.name) runs on Python \($0) or later; the sandbox runs \(sandbox.report.pythonVersion) (--python \($0))" }
                    ?? "kind \(kind.name) does not run in the sandbox"
                runtime["check"] = ["name": .string(check.name), "outcome": "not_run", "reason": .string(reason)]
            }
            return Check(diagnostics: diagnostics, runtime: .object(runtime), runtimeFailure: nil, passed: true)
        case .sandbox:
            let result = await sandbox.run(code, tools: tools)
            guard case .object(var runtime) = result.jsonObject else { preconditionFailure("an execution is an object") }
            runtime["status"] = "ran"
            if !result.files.isEmpty { runtime["files"] = result.files.summary }  // the record keeps no bytes
            guard result.outcome == .ok else {
                return Check(diagnostics: diagnostics, runtime: .object(runtime),
                             runtimeFailure: Feedback.describe(result, expectation: nil), passed: false)
            }
            if let unmet = Self.unmetExpectation(task.expectation, result: result) {
                runtime["expectation"] = .string(unmet)
                return Check(diagnostics: diagnostics, runtime: .object(runtime),
                             runtimeFailure: Feedback.describe(result, expectation: unmet), passed: false)
            }
            if let check {
                let checked = await runCheck(check, after: code)
                runtime["check"] = checked.record
                if let failure = checked.failure {
                    return Check(diagnostics: diagnostics, runtime: .object(runtime), runtimeFailure: failure, passed: false)
                }
            }
            return Check(diagnostics: diagnostics, runtime: .object(runtime), runtimeFailure: nil, passed: true)
        case .pytest:
            guard let runTest else {
                return Check(diagnostics: diagnostics,
                             runtime: ["status": "error", "reason": "no confined pytest is configured (standard tools are off)"],
                             runtimeFailure: "the tests could not be run here", passed: false)
            }
            do {
                let report = try await onOwnThread { try runTest(code) }
                var runtime: [String: JSONValue] = ["status": "ran", "tests": report]
                let passed = report["success"]?.boolValue == true && (report["passed"]?.intValue ?? 0) > 0
                if !passed { runtime["reason"] = "the tests did not all pass (or none was collected)" }
                return Check(diagnostics: diagnostics, runtime: .object(runtime),
                             runtimeFailure: passed ? nil : Self.describeTests(report), passed: passed)
            } catch {
                return Check(diagnostics: diagnostics, runtime: ["status": "error", "reason": .string("\(error)")],
                             runtimeFailure: "the confined test run failed: \(error)", passed: false)
            }
        }
    }

    /// Runs the artifact as cell 1 of a fresh worker session and the check as cell 2; the
    /// failure text names both cells so the model finds the line in each.
    private func runCheck(_ check: RuntimeCheck, after code: String) async -> (record: JSONValue, failure: String?) {
        let sandbox = self.sandbox, tools = self.tools
        do {
            return try await onOwnThread {
                let session = try sandbox.openSession(tools: tools)
                defer { session.close() }
                if let prelude = check.prelude {
                    let ran = try session.execute(prelude)
                    guard ran.outcome == .ok else {
                        return (["name": .string(check.name), "outcome": "error", "error": .string("the prelude failed: \(ran.outcome)")],
                                "the check \(check.name) could not run: its prelude failed (\(ran.outcome))")
                    }
                }
                // The artifact first: an error there is its own, not the check's.
                let artifact = try session.execute(code)
                guard artifact.outcome == .ok else {
                    let record: JSONValue = ["name": .string(check.name), "outcome": "not_run",
                                             "artifact": .string(artifact.outcome.name),
                                             "error": artifact.error.map { .string($0.traceback) } ?? .null]
                    return (record, "The code failed when it ran on Python \(sandbox.report.pythonVersion), before the check \(check.name):\n"
                        + Feedback.describe(artifact, expectation: nil))
                }
                let result = try session.execute(check.source)
                let record: JSONValue = ["name": .string(check.name), "outcome": .string(result.outcome.name),
                                         "stdout": .string(result.stdout), "value": result.value?.json ?? .null,
                                         "error": result.error.map { .string($0.traceback) } ?? .null]
                guard result.outcome == .ok else {
                    return (record, "The code ran, but the check \(check.name) failed on it (in the traceback, <cell 1> is your "
                        + "code and <cell 2> is the check):\n" + Feedback.describe(result, expectation: nil))
                }
                return (record, nil)
            }
        } catch {
            return (["name": .string(check.name), "outcome": "error", "error": .string("\(error)")],
                    "the check \(check.name) could not run: \(error)")
        }
    }

    static func unmetExpectation(_ expectation: JSONValue?, result: ExecutionResult) -> String? {
        guard let expectation else { return nil }
        if let wanted = expectation["value"] {
            let got = result.jsonObject["value"] ?? .null
            if got != wanted {
                return "The code ran, but its last expression is \(got.jsonText), and the task expects \(wanted.jsonText)."
            }
        }
        if let needle = expectation["stdout_contains"]?.stringValue, !result.stdout.contains(needle) {
            return "The code ran, but its output does not contain \(needle.debugDescription)."
        }
        return nil
    }

    static func describeTests(_ report: JSONValue) -> String {
        var text = "pytest: \(report["passed"]?.intValue ?? 0) passed, \(report["failed"]?.intValue ?? 0) failed, "
            + "\(report["errors"]?.intValue ?? 0) errors\n"
        if let problem = report["parse_error"]?.stringValue { text += problem + "\n" }
        for test in report["tests"]?.arrayValue ?? [] where test["outcome"]?.stringValue != "passed" {
            text += "\(test["name"]?.stringValue ?? "?"): \(test["outcome"]?.stringValue ?? "?")\n"
            if let message = test["message"]?.stringValue { text += message.split(separator: "\n").suffix(10).joined(separator: "\n") + "\n" }
        }
        return text
    }

    static func summary(_ check: Check) -> String {
        let rules = check.diagnostics.filter { $0.severity == "error" }
        if !rules.isEmpty {
            return rules.map { "\($0.rule) line \($0.line): \($0.message)" }.joined(separator: "; ")
        }
        return check.runtimeFailure?.split(separator: "\n").first.map(String.init) ?? "the run failed"
    }
}
