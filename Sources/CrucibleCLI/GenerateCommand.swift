import ArgumentParser
import Crucible
import Foundation

struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Ask a model for an artifact; validate it, run it, feed errors back, retry within a budget.",
        discussion: """
            Every attempt (messages sent, reply, code, findings, run, trace, model, sampling \
            parameters sent, latency, tokens) is stored in the corpus (--corpus, default \
            $CRUCIBLE_CORPUS or .crucible/corpus.sqlite), and appended to --records as one JSON \
            line when given. If the corpus cannot be written the run goes on and the attempts \
            go to a spill file it names, for `crucible corpus import`.
            Kinds: Corpus/kinds/*.toml, plus [tool.crucible.kinds.NAME] in pyproject.toml.
            Model: --model URL/NAME (e.g. http://127.0.0.1:11434/v1/qwen2.5-coder) or NAME with \
            OPENAI_BASE_URL; the key comes from OPENAI_API_KEY. --scripted FILE replays replies.
            Exit codes: 0 every task passed; 1 some task still failed when its budget ran out; \
            2 usage error; 3 the sandbox could not be built; 4 the model server could not be \
            reached (after HTTP retries); 130 interrupted (records so far are kept).
            """)

    @Option(help: "The artifact kind: script, view, component, service, middleware, test, or one of your own.")
    var kind: String?

    @Option(help: "The request, for one task.")
    var task: String?

    @Option(help: "A file of tasks: JSON Lines {\"id\", \"task\", \"kind\", \"expect\"} or one task per line.")
    var tasks: String?

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Tasks worked on at once.")
    var concurrency: Int = 1

    @OptionGroup var recording: RecordingOptions

    @Option(help: "Also append every attempt to this JSON Lines file.")
    var records: String?

    @Flag(help: "Print the outcome as one JSON object on stdout.")
    var json = false

    @Option(help: "Python run after each artifact that ran, with its names in scope (kinds that run, e.g. script); an exception or failed assert is fed back to the model.")
    var check: String?

    @OptionGroup var toolOptions: ToolOptions
    @OptionGroup var python: PythonOptions

    func validate() throws {
        guard (task == nil) != (tasks == nil) else { throw ValidationError("give exactly one of --task and --tasks") }
        guard modelOptions.isConfigured else { throw ValidationError("give exactly one of --model and --scripted") }
        try SettingRange.concurrency.validate(concurrency, flag: "--concurrency")
        if task != nil && kind == nil { throw ValidationError("--task needs --kind") }
    }

    func run() async throws {
        let code = try await generate()
        if code != 0 { throw ExitCode(code) }
    }

    private func generate() async throws -> Int32 {
        let work: [GenerationTask]
        do {
            work = try tasks.map { try GenerationTask.load(path: $0) } ?? [GenerationTask(id: "task-1", text: task!)]
        } catch { throw ValidationError("\(error)") }
        guard !work.isEmpty else { throw ValidationError("\(tasks ?? "the tasks file") holds no tasks") }
        let chatModel = try modelOptions.makeModel(showStream: work.count == 1)!

        try requireSandboxParts()
        let prepared = try await python.prepare(project: try toolOptions.loadProject())
        let sandbox = try makeSandbox(
            limits: ExecutionLimits(), poolSize: min(concurrency, 4) + 1, python: prepared,
            // The artifact may import the project it is written for (`from app.services import ...`).
            importPaths: toolOptions.workspace.map { [URL(fileURLWithPath: $0).standardizedFileURL.path] } ?? [])
        defer { sandbox.shutdown() }
        let validator: Validator
        do { validator = try Validator(sandbox: prepared.validatorSandbox) } catch {
            FileHandle.standardError.write(Data("crucible: the validators cannot start: \(error)\n".utf8))
            throw ExitCode(ExitCode32.sandboxUnavailable.rawValue)
        }
        defer { validator.shutdown() }
        let project = try toolOptions.loadProject()
        let (toolbox, standard) = try toolOptions.makeToolbox(sandbox: sandbox, project: project)
        defer { standard?.shutdown() }
        let root = toolOptions.root
        let kinds = project.kinds
        for item in work {
            let name = item.kind ?? kind
            guard let name, kinds[name] != nil else {
                throw ValidationError("\(item.id): unknown kind \((item.kind ?? kind ?? "(none)").debugDescription); "
                    + "known: \(kinds.keys.sorted().joined(separator: ", "))")
            }
        }
        let toolAPI = toolbox.isEmpty ? nil : try sandbox.describe(toolbox)
        var recorders: [any AttemptRecorder] = []
        var log: AttemptLog?
        if let records {
            do { log = try AttemptLog(path: records) } catch { throw ValidationError("\(error)") }
            recorders.append(log!)
        }
        let corpusRecorder = recording.recorder(source: "generate")
        if let corpusRecorder {
            if let workspace = toolOptions.workspace { corpusRecorder.describeWorkspace(at: workspace) }
            recorders.append(corpusRecorder)
        }
        var settings = modelOptions.settings
        if let check {
            guard let source = try? String(contentsOfFile: check, encoding: .utf8) else {
                throw ValidationError("--check \(check): cannot read it (no such file, or not UTF-8 text)")
            }
            settings.check = RetryLoop.RuntimeCheck(name: URL(fileURLWithPath: check).lastPathComponent, source: source)
        }
        let validatorConfiguration: Validator.Configuration
        do { validatorConfiguration = try Validator.Configuration(project: project) } catch { throw ValidationError("\(error)") }
        var runTest: (@Sendable (String) throws -> JSONValue)?
        if let standard { runTest = { source in try standard.runGeneratedTest(source) } }
        let loop = RetryLoop(
            model: chatModel, validator: validator, sandbox: sandbox, tools: toolbox, toolAPI: toolAPI,
            runTest: runTest, settings: settings, validatorConfiguration: validatorConfiguration, recorders: recorders)

        let interrupt = Interrupt()
        let progress = Progress(total: work.count, quiet: work.count == 1)  // stderr: never in the way of --json
        var outcomes = [RetryLoop.Outcome?](repeating: nil, count: work.count)
        await withTaskGroup(of: (Int, RetryLoop.Outcome).self) { group in
            var next = 0
            func startNext() {
                guard next < work.count, !interrupt.requested else { return }
                let index = next
                next += 1
                let item = work[index]
                let itemKind = kinds[item.kind ?? kind!]!
                group.addTask { (index, await loop.run(item, kind: itemKind, isCancelled: { interrupt.requested })) }
            }
            for _ in 0..<concurrency { startNext() }
            for await (index, outcome) in group {
                outcomes[index] = outcome
                progress.finished(outcome)
                startNext()
            }
        }
        progress.clear()
        let finished = outcomes.compactMap { $0 }
        let summary = Summary(finished, total: work.count, records: log, corpus: corpusRecorder)
        if json {
            print(JSONValue.object([
                "summary": summary.json,
                "tasks": .array(finished.map { outcome in
                    ["id": .string(outcome.task.id), "kind": .string(outcome.kind), "passed": .bool(outcome.passed),
                     "attempts": .array(outcome.attempts.map(\.json)),
                     "final_error": outcome.finalError.map { .string($0) } ?? .null]
                }),
            ]).jsonText)
        } else {
            if work.count == 1, let only = finished.first { printAttempts(only) }
            print(summary.text)
        }
        if interrupt.requested { return 130 }
        if finished.contains(where: { $0.modelFailure != nil }) { return 4 }
        return finished.allSatisfy(\.passed) ? 0 : 1
    }

    private func printAttempts(_ outcome: RetryLoop.Outcome) {
        for attempt in outcome.attempts {
            print("== attempt \(attempt.attempt ?? 0): \(attempt.passed ? "passed" : "failed")")
            if let error = attempt.modelError { print("   model error: \(error.message)"); continue }
            print(attempt.code.trimmingCharacters(in: .newlines).split(separator: "\n", omittingEmptySubsequences: false)
                .map { "   | \($0)" }.joined(separator: "\n"))
            for diagnostic in attempt.diagnostics {
                print("   \(diagnostic.rule) line \(diagnostic.line): \(diagnostic.message)")
            }
            if let runtime = attempt.runtime {
                let status = runtime["status"]?.stringValue ?? "?"
                let detail = runtime["reason"]?.stringValue ?? runtime["expectation"]?.stringValue
                    ?? runtime["outcome_detail"]?.stringValue ?? ""
                print("   runtime: \(status)\(detail.isEmpty ? "" : " (\(detail))")")
                if let check = runtime["check"], let outcome = check["outcome"]?.stringValue {
                    let last = check["error"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines)
                        .split(separator: "\n").last.map(String.init)
                    print("   check: \(outcome)\(last.map { " (\($0))" } ?? "")")
                }
            }
            let usage = attempt.usage.flatMap { $0 == .null ? nil : $0["total_tokens"]?.intValue }
            print("   recorded: \(attempt.messages?.count ?? 0) messages sent, the reply, the code, "
                  + "\(attempt.diagnostics.count) findings, the run, model "
                  + "\(attempt.model ?? "?"), parameters \(attempt.parameters?.jsonText ?? "{}"), "
                  + "latency \(String(format: "%.1f", attempt.latencyMS ?? 0)) ms, "
                  + "tokens \(usage.map(String.init) ?? "not reported")")
            if attempt.feedback != nil {
                print(attempt.diagnostics.isEmpty
                      ? "   feedback for the next attempt: the runtime failure above, with its traceback"
                      : "   feedback for the next attempt: the findings above, with the offending lines and hints")
            }
        }
        if let error = outcome.finalError { print("final: \(error)") }
    }
}

/// The batch's figures: pass at first attempt, pass within budget, mean attempts, the rules
/// that failed most.
struct Summary {
    var json: JSONValue
    var text: String

    init(_ outcomes: [RetryLoop.Outcome], total: Int, records: AttemptLog?, corpus: CorpusRecorder?) {
        let passedFirst = outcomes.filter { $0.passed && $0.attemptCount == 1 }.count
        let passed = outcomes.filter(\.passed).count
        let attempts = outcomes.reduce(0) { $0 + $1.attemptCount }
        let mean = outcomes.isEmpty ? 0 : Double(attempts) / Double(outcomes.count)
        var counts: [String: Int] = [:]
        for outcome in outcomes { for rule in outcome.failedRules { counts[rule, default: 0] += 1 } }
        let top = counts.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.prefix(5)
        let modelFailures = outcomes.filter { $0.modelFailure != nil }.count
        json = [
            "tasks": .int(total), "finished": .int(outcomes.count), "passed_first_attempt": .int(passedFirst),
            "passed_within_budget": .int(passed), "failed": .int(outcomes.count - passed),
            "model_failures": .int(modelFailures), "attempts": .int(attempts),
            "mean_attempts": .double((mean * 100).rounded() / 100),
            "top_failed_rules": .array(top.map { ["rule": .string($0.key), "count": .int($0.value)] }),
            "records": records.map { .string($0.path) } ?? .null, "records_written": .int(records?.written ?? 0),
            "corpus": corpus?.summaryJSON ?? .null,
        ]
        var lines = [
            "tasks: \(outcomes.count) of \(total) finished; passed at first attempt: \(passedFirst); "
                + "passed within budget: \(passed); failed: \(outcomes.count - passed)"
                + (modelFailures > 0 ? " (\(modelFailures) could not reach the model)" : ""),
            "mean attempts: \(String(format: "%.2f", mean))",
        ]
        if !top.isEmpty { lines.append("most failed rules: " + top.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")) }
        if let records { lines.append("records: \(records.written) attempts appended to \(records.path)") }
        if let corpus { lines.append(corpus.summary) }
        text = lines.joined(separator: "\n")
    }
}

/// A progress line on a terminal; one line per finished task otherwise (logs to stderr).
final class Progress: @unchecked Sendable {
    let total: Int
    let quiet: Bool
    let terminal = isatty(STDERR_FILENO) == 1
    private var done = 0, passed = 0
    init(total: Int, quiet: Bool) {
        self.total = total
        self.quiet = quiet
    }
    func finished(_ outcome: RetryLoop.Outcome) {
        done += 1
        if outcome.passed { passed += 1 }
        guard !quiet else { return }
        if terminal {
            let width = 30
            let filled = width * done / max(total, 1)
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            FileHandle.standardError.write(Data("\r[\(bar)] \(done)/\(total) tasks, \(passed) passed".utf8))
        } else {
            FileHandle.standardError.write(Data(("generate: \(done)/\(total) \(outcome.task.id) "
                + "\(outcome.passed ? "passed" : "failed") after \(outcome.attemptCount) attempts\n").utf8))
        }
    }
    func clear() { if terminal && !quiet { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
}

/// Ctrl-C: the first stops starting attempts and lets those in flight finish (their records
/// are written); a second exits at once. Records already written are whole lines either way.
final class Interrupt: Sendable {
    private let flag = Locked(false)
    // Only kept alive here; Dispatch sources are safe to use from any thread.
    private nonisolated(unsafe) let source: DispatchSourceSignal
    var requested: Bool { flag.value }

    init() {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [unowned self] in
            let second = flag.withLock { requested in
                defer { requested = true }
                return requested
            }
            if second { Foundation.exit(130) }
            FileHandle.standardError.write(Data(
                "\ncrucible: interrupted; finishing the attempts in flight (Ctrl-C again to quit now)\n".utf8))
        }
        source.resume()
    }
}
