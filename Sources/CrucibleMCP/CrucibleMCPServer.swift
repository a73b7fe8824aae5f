import CrucibleConfiguration
import CrucibleCorpus
import CrucibleGeneration
import CrucibleSandbox
import CrucibleTools
import CrucibleValidation
import CrucibleWire
import Foundation
import MCP

/// `crucible mcp`: Crucible as an MCP server. Tools (MCPToolCatalog): run_python (code mode:
/// sandboxed CPython that calls the configured tools), close_session, validate_code,
/// describe_tools, and generate_artifact when a model is configured.
///
/// Errors a model can fix (an exception in its code, findings in its view, a bad argument)
/// are tool results with `isError` and plain-text feedback written for the model, as
/// pydantic-ai's ModelRetry sends them; a server fault (the sandbox cannot start, the server is
/// busy) is a protocol error. Every run_python, validate_code and generate_artifact call is
/// recorded in the corpus.
public final class CrucibleMCPServer: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var sandbox: Sandbox
        public var validator: LazyValidator
        /// Artifact kinds by name (Corpus/kinds and the project's own).
        public var kinds: [String: ArtifactKind]
        public var recorder: CorpusRecorder?
        public var writesAllowed = false
        /// A run_python session closes after this long without a call.
        public var sessionIdleTimeout: Duration = .seconds(600)
        /// Sessions open at once: each holds a worker process, so a model cannot open them
        /// without bound. One more is refused (a tool error that says how to free one).
        public var maxSessions = 8

        public init(sandbox: Sandbox, validator: LazyValidator, kinds: [String: ArtifactKind], recorder: CorpusRecorder?) {
            self.sandbox = sandbox
            self.validator = validator
            self.kinds = kinds
            self.recorder = recorder
        }
    }

    /// What the server offers once its tool sources are connected (other MCP servers may take
    /// a while to start, and `initialize` must not wait for them).
    public struct Tools: Sendable {
        /// The functions sandboxed code may call (standard, configured and other servers' tools).
        public var toolbox: Toolbox
        /// The retry loop behind generate_artifact; nil: the tool is not offered.
        public var generator: RetryLoop?

        public init(toolbox: Toolbox, generator: RetryLoop? = nil) {
            self.toolbox = toolbox
            self.generator = generator
        }
    }

    /// The tools and their catalog, once ready.
    struct Ready: Sendable {
        var toolbox: Toolbox
        var generator: RetryLoop?
        var pythonAPI: String
        var catalog: [MCP.Tool]
    }

    let configuration: Configuration
    private let ready: Task<Ready, Error>
    private let chains = AttemptChains()
    private let sessions: SessionHandles

    /// Starts preparing `tools` at once; calls wait for them, `initialize` does not.
    public init(_ configuration: Configuration, tools: @escaping @Sendable () async throws -> Tools) {
        self.configuration = configuration
        sessions = SessionHandles(limit: configuration.maxSessions)
        let sandbox = configuration.sandbox
        let (kinds, writesAllowed, idle) = (configuration.kinds, configuration.writesAllowed, configuration.sessionIdleTimeout)
        let recordsCorpus = configuration.recorder != nil
        ready = Task {
            let offered = try await tools()
            let toolbox = offered.toolbox
            let api = toolbox.isEmpty ? "" : try await onOwnThread { try sandbox.describe(toolbox) }
            let catalog = MCPToolCatalog.tools(.init(
                pythonAPI: api, toolNames: toolbox.contracts.map(\.name), kinds: Array(kinds.values),
                canGenerate: offered.generator != nil, writesAllowed: writesAllowed,
                defaultTimeout: sandbox.configuration.defaultLimits.wallClock.seconds,
                sessionIdleMinutes: Int(idle.seconds / 60), recordsCorpus: recordsCorpus,
                pythonVersion: sandbox.report.pythonVersion, packages: sandbox.configuration.packages?.resolved ?? [:]))
            return Ready(toolbox: toolbox, generator: offered.generator, pythonAPI: api, catalog: catalog)
        }
    }

    /// A server whose tools are known now.
    public convenience init(_ configuration: Configuration, toolbox: Toolbox, generator: RetryLoop? = nil) {
        self.init(configuration) { Tools(toolbox: toolbox, generator: generator) }
    }

    /// The tool definitions, once the tools are ready (throws what preparing them threw).
    public func catalog() async throws -> [MCP.Tool] { try await ready.value.catalog }

    /// Serves one client over a pair of descriptors until it closes its end. Throws when the
    /// tools could not be prepared (a --tools-from server that did not start).
    public func serve(input: Int32, output: Int32, version: String) async throws {
        let server = Server(
            name: "crucible", version: version, title: "Crucible",
            instructions: """
                Crucible runs Python in a kernel-confined CPython sandbox. Use run_python for anything that \
                needs the tools listed in its description (one call with a whole program beats many small \
                calls), validate_code to check views, components, services and middleware before you \
                hand them over.
                """,
            capabilities: .init(tools: .init(listChanged: false)))
        await server.withMethodHandler(ListTools.self) { [self] _ in ListTools.Result(tools: try await catalog()) }
        await server.withMethodHandler(CallTool.self) { [self] params in
            try await call(params.name, arguments: params.arguments ?? [:])
        }
        let transport = LineTransport(input: input, output: output, label: "crucible.mcp", role: .server)
        // When the client closes its end, stop what still runs: MCP clients wait about two
        // seconds for a stdio server to exit, then kill it.
        transport.setInputEndHandler { [self] in cancelAll("the client closed its input") }
        try await server.start(transport: transport)
        // A tool source that fails ends the server: the client sees it go, the log says why.
        let watcher = Task { [ready] in
            if case .failure = await ready.result { await server.stop() }
        }
        await server.waitUntilCompleted()
        watcher.cancel()
        await server.stop()
        close()
        _ = try await ready.value
    }

    /// Stops the sandbox work in progress: fresh executions and running session cells end
    /// `cancelled`, and every session closes.
    func cancelAll(_ reason: String) {
        configuration.sandbox.cancelRunning(reason)
        sessions.closeAll(reason: reason)
    }

    /// Closes every session and waits for the corpus records to be written.
    public func close() {
        sessions.closeAll(reason: "the server is shutting down")
        configuration.recorder?.drain()
    }

    /// One `tools/call`. Throws only for protocol errors (an unknown tool, a server fault).
    func call(_ name: String, arguments: [String: MCP.Value]) async throws -> CallTool.Result {
        let ready: Ready
        do { ready = try await self.ready.value } catch {
            throw MCPError.internalError("Crucible's tools could not be prepared: \(error)")
        }
        guard let tool = ready.catalog.first(where: { $0.name == name }) else {
            throw MCPError.invalidParams("Unknown tool: \(name). Tools: \(ready.catalog.map(\.name).joined(separator: ", "))")
        }
        let given = JSONValue.object(arguments.mapValues(JSONValue.init(mcp:)))
        let problems = JSONSchema.violations(of: given, against: JSONValue(mcp: tool.inputSchema), path: "arguments")
        if !problems.isEmpty {
            return Self.modelError(
                "The arguments to \(name) do not fit its input schema:\n"
                    + problems.map { "- \($0)" }.joined(separator: "\n") + "\nFix the arguments and call \(name) again.")
        }
        switch name {
        case MCPToolCatalog.runPython: return try await runPython(given, ready: ready)
        case MCPToolCatalog.closeSession: return closeSession(given)
        case MCPToolCatalog.validateCode: return try await validateCode(given)
        case MCPToolCatalog.describeTools: return describeTools(ready)
        case MCPToolCatalog.generateArtifact: return try await generateArtifact(given, ready: ready)
        case MCPToolCatalog.feedback: return try await feedback(given)
        default: throw MCPError.internalError("\(name) is listed but has no handler")
        }
    }

    // MARK: run_python

    private func runPython(_ arguments: JSONValue, ready: Ready) async throws -> CallTool.Result {
        let code = arguments["code"]!.stringValue!
        var limits = configuration.sandbox.configuration.defaultLimits
        var timeout: Duration?
        if let seconds = arguments["timeout"] {
            do { timeout = try SettingRange.timeout.seconds(SettingRange.timeout.check(json: seconds)) } catch {
                return Self.modelError("run_python: \(error). Call run_python again with another timeout.")
            }
            limits.wallClock = timeout!
        }
        var inputs: [String: JSONValue] = [:]
        if case .object(let members)? = arguments["inputs"] { inputs = members }
        let wantsTrace = arguments["trace"]?.boolValue == true

        var session: SandboxSession?
        var handle: String?
        if let requested = arguments["session"]?.stringValue {
            do {
                (handle, session) = try requested == MCPToolCatalog.newSession
                    ? sessions.open {
                        try self.configuration.sandbox.openSession(
                            idleTimeout: self.configuration.sessionIdleTimeout, tools: ready.toolbox)
                    }
                    : (requested, sessions.find(requested))
                if arguments["restart"]?.boolValue == true { try session?.restart() }
            } catch let problem as SessionHandles.Problem {
                return Self.modelError("run_python: \(problem.message)")
            } catch {
                throw MCPError.internalError("The sandbox cannot open a session: \(error)")
            }
        }
        let key = AttemptChains.key(tool: MCPToolCatalog.runPython, kind: nil, artifact: arguments["artifact"]?.stringValue,
                                    path: nil, session: handle, code: code)
        let started = CallRecord.Start()
        let result: ExecutionResult
        let (runInputs, cellTimeout) = (inputs, timeout)
        if let session, let handle {
            do {
                result = try await onOwnThread { try session.execute(code, inputs: runInputs, timeout: cellTimeout) }
            } catch {
                sessions.forget(handle)
                return Self.modelError("run_python: session \(handle) has ended (\(error)); its variables are gone. "
                    + "Pass session: \"new\" to start another, or omit session for a fresh interpreter.")
            }
            if session.closedBecause != nil { sessions.forget(handle) }
        } else {
            let (sandbox, toolbox, runLimits) = (configuration.sandbox, ready.toolbox, limits)
            result = await onOwnThread { sandbox.execute(code, inputs: runInputs, limits: runLimits, tools: toolbox) }
        }
        switch result.outcome {
        case .sandboxFailure(let detail) where detail.hasPrefix("invalid input"):
            return Self.modelError("run_python: the inputs cannot be passed to Python: \(detail)")
        case .sandboxFailure(let detail):
            throw MCPError.internalError("The sandbox failed: \(detail). The server restarts its zygote; retry the call.")
        case .busy(let detail):
            throw MCPError.serverError(code: -32003, message: "Server busy: \(detail)")
        default: break
        }

        let feedback = Feedback.forToolCall(result, code: code, tool: MCPToolCatalog.runPython)
        let attemptID = record(key, code: code, passed: result.outcome == .ok, diagnostics: [], runtime: CallRecord.runtime(of: result),
                               feedback: feedback, started: started, task: nil)
        if let feedback {
            // Plain text only: a client that turns structured content into the model's retry
            // text (pydantic-ai does) would otherwise send it escaped JSON instead of a traceback.
            return Self.modelError(feedback + Self.outputTail(result) + Self.sessionNote(handle, session))
        }
        let answer = Self.result(
            CallRecord.withAttempt(Self.runPythonResult(result, session: handle, trace: wantsTrace), attemptID), isError: false)
        return CallTool.Result(content: answer.content + Self.fileContents(result.files),
                               structuredContent: answer.structuredContent, isError: nil, _meta: nil)
    }

    /// What the code wrote under /output, as MCP content: images (PNG, JPEG, GIF, SVG) as
    /// image content a client can show, everything else as an embedded resource.
    static func fileContents(_ files: [OutputFile]) -> [MCP.Tool.Content] {
        files.map { file in
            switch file.mediaType {
            case "image/png", "image/jpeg", "image/gif", "image/svg+xml":
                return .image(data: Data(file.data).base64EncodedString(), mimeType: file.mediaType, annotations: nil, _meta: nil)
            default:
                let path = file.name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? file.name
                let uri = "file:///output/" + path
                if file.mediaType.hasPrefix("text/") || file.mediaType == "application/json" {
                    return .resource(resource: .text(String(decoding: file.data, as: UTF8.self), uri: uri, mimeType: file.mediaType))
                }
                return .resource(resource: .binary(Data(file.data), uri: uri, mimeType: file.mediaType))
            }
        }
    }

    /// What a successful run returns: the value and output, the session handle, how many tool
    /// calls were made, and the whole trace only when asked for (it makes a result 2-3x larger).
    static func runPythonResult(_ result: ExecutionResult, session: String?, trace: Bool) -> JSONValue {
        guard case .object(var members) = result.jsonObject else { return result.jsonObject }
        members["ok"] = .bool(result.outcome == .ok)
        members["session"] = session.map { .string($0) } ?? .null
        members["tool_calls"] = .int(result.trace.toolCalls.count)
        members.removeValue(forKey: "outcome_detail")
        if !trace { members.removeValue(forKey: "trace") }
        // The bytes travel as content blocks; the structured result lists the files.
        if !result.files.isEmpty {
            members["files"] = result.files.summary
        }
        return .object(members)
    }

    /// The end of what the code printed, for a model reading why it failed.
    static func outputTail(_ result: ExecutionResult) -> String {
        guard !result.stdout.isEmpty else { return "" }
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).suffix(20)
        return "\nstdout (last lines):\n" + lines.joined(separator: "\n").prefix(4000)
    }

    static func sessionNote(_ handle: String?, _ session: SandboxSession?) -> String {
        guard let handle, let session else { return "" }
        if let reason = session.closedBecause {
            return "\nSession \(handle) has ended (\(reason)); pass session: \"new\" for another."
        }
        return "\nSession \(handle) is still open: its variables are kept."
    }

    // MARK: close_session

    private func closeSession(_ arguments: JSONValue) -> CallTool.Result {
        let handle = arguments["session"]!.stringValue!
        guard sessions.close(handle) else {
            return Self.modelError("close_session: no open session \(handle) (it may have closed after being unused).")
        }
        return Self.result(["closed": .bool(true), "session": .string(handle)], isError: false)
    }

    // MARK: validate_code

    private func validateCode(_ arguments: JSONValue) async throws -> CallTool.Result {
        let code = arguments["code"]!.stringValue!
        let kind = arguments["kind"]?.stringValue
        let path = arguments["path"]?.stringValue
        let key = AttemptChains.key(tool: MCPToolCatalog.validateCode, kind: kind, artifact: arguments["artifact"]?.stringValue,
                                    path: path, session: nil, code: code)
        let started = CallRecord.Start()
        let validator = configuration.validator
        let rulesets = arguments["rulesets"]?.arrayValue?.compactMap(\.stringValue)
        let check: LazyValidator.Check
        do {
            check = try await onOwnThread {
                try validator.check(code, kind: kind, rulesets: rulesets, path: path ?? "<code>", tool: MCPToolCatalog.validateCode)
            }
        } catch let problem as LazyValidator.Problem {
            switch problem {
            case .unknownKind, .unknownRulesets:
                // A bad argument the model can fix: a tool error, as MCP 2025-11-25 asks for
                // input validation errors (SEP-1303), naming what is known.
                return Self.modelError("validate_code: \(problem). Call validate_code again with known names.")
            case .unavailable: throw MCPError.internalError("\(problem)")
            }
        }
        let attemptID = record(key, code: code, passed: check.passed, diagnostics: check.diagnostics,
                               runtime: ["status": "not_run", "reason": "validation only"], feedback: check.feedback,
                               started: started, task: nil)
        if let feedback = check.feedback, !check.passed { return Self.modelError(feedback) }
        return Self.result(CallRecord.withAttempt([
            "passed": .bool(check.passed), "diagnostics": .array(check.diagnostics.map(\.json)), "feedback": .null,
        ], attemptID), isError: false)
    }

    // MARK: describe_tools

    private func describeTools(_ ready: Ready) -> CallTool.Result {
        let structured: JSONValue = [
            "python_api": .string(ready.pythonAPI),
            "prompt": .string(ready.pythonAPI.isEmpty ? "" : ToolPrompt.render(
                api: ready.pythonAPI, packages: configuration.sandbox.configuration.packages?.resolved ?? [:],
                python: configuration.sandbox.report.pythonVersion)),
            "tools": .array(ready.toolbox.contracts.map {
                ["name": .string($0.name), "description": .string($0.description)]
            }),
        ]
        return Self.result(structured, isError: false)
    }

    // MARK: generate_artifact

    private func generateArtifact(_ arguments: JSONValue, ready: Ready) async throws -> CallTool.Result {
        guard let generator = ready.generator else { throw MCPError.methodNotFound("generate_artifact") }
        let text = arguments["task"]!.stringValue!
        let kindName = arguments["kind"]!.stringValue!
        guard let kind = configuration.kinds[kindName] else {
            return Self.modelError("Unknown kind \(kindName.debugDescription); kinds: \(configuration.kinds.keys.sorted().joined(separator: ", "))")
        }
        let loop = arguments["max_retries"]?.intValue.map { generator.withMaxRetries($0) } ?? generator
        let outcome = await loop.run(GenerationTask(id: "mcp-" + UUID().uuidString.lowercased(), text: text), kind: kind)
        if let failure = outcome.modelFailure {
            throw MCPError.internalError("Crucible's model could not be reached: \(failure.message)")
        }
        let lastCode = outcome.attempts.last?.code
        if !outcome.passed {
            let why = outcome.attempts.last?.feedback ?? outcome.finalError ?? "the last attempt failed"
            return Self.modelError("generate_artifact: no attempt passed within the budget (\(outcome.attempts.count) attempts).\n"
                + why + (lastCode.map { "\nThe last attempt:\n```python\n\($0)\n```" } ?? ""))
        }
        let attempts: [JSONValue] = outcome.attempts.map { attempt in
            ["attempt": .int(attempt.attempt ?? 0), "passed": .bool(attempt.passed),
             "diagnostics": .array(attempt.diagnostics.map(\.json)), "feedback": attempt.feedback.map { .string($0) } ?? .null]
        }
        return Self.result([
            "passed": .bool(outcome.passed), "code": lastCode.map { .string($0) } ?? .null, "kind": .string(kind.name),
            "attempts": .array(attempts), "final_error": outcome.finalError.map { .string($0) } ?? .null,
        ], isError: false)
    }

    // MARK: Results and records

    /// Queues the call's record; returns its attempt id (a passing result carries it, for `feedback`).
    @discardableResult
    private func record(_ key: AttemptChains.Key, code: String, passed: Bool, diagnostics: [Diagnostic], runtime: JSONValue,
                        feedback: String?, started: CallRecord.Start, task: String?) -> String? {
        guard let recorder = configuration.recorder else { return nil }
        let link = chains.link(key, task: task)
        // The id and the end here; the record itself is made on the corpus writer (LaterRecords).
        let attemptID = RecordUUID.next(), finished = ContinuousClock.now
        let sandbox = configuration.sandbox
        recorder.recordLater {
            CallRecord.make(
                link, source: "mcp", code: code, passed: passed, diagnostics: diagnostics, runtime: runtime,
                feedback: feedback, started: started,
                extra: ["mcp_tool": .string(key.tool), "environment": sandbox.environmentRecord],
                attemptID: attemptID, finished: finished)
        }
        chains.finished(key, passed: passed)
        return attemptID
    }

    // MARK: feedback

    private func feedback(_ arguments: JSONValue) async throws -> CallTool.Result {
        guard let recorder = configuration.recorder else {
            return Self.modelError("feedback: this server records no corpus (started with --no-corpus), so it keeps no feedback.")
        }
        do {
            let feedback = try AttemptFeedback(json: arguments)
            let stored = try await onOwnThread { () throws(FeedbackError) -> CorpusStore.FeedbackStored in try recorder.feedback(feedback) }
            var answer: [String: JSONValue] = ["attempt": .string(feedback.attempt), "verdict": .string(feedback.verdict.rawValue)]
            answer["recorded_fix"] = .bool(stored.fixAttemptID != nil)
            return Self.result(.object(answer), isError: false)
        } catch let error as FeedbackError {
            if case .store = error { throw MCPError.internalError("feedback: \(error)") }
            return Self.modelError("feedback: \(error)")
        }
    }

    /// A structured result. MCP asks for the JSON in a text block too, for clients that read only text.
    static func result(_ structured: JSONValue, isError: Bool) -> CallTool.Result {
        let value: MCP.Value? = structured.mcpValue
        return CallTool.Result(
            content: [.text(text: structured.jsonText, annotations: nil, _meta: nil)],
            structuredContent: value, isError: isError ? true : nil, _meta: nil)
    }

    /// A failure the model should fix: one plain-text block, no structured content.
    static func modelError(_ message: String) -> CallTool.Result {
        CallTool.Result(content: [.text(text: message, annotations: nil, _meta: nil)], isError: true)
    }
}

