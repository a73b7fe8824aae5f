import Crucible
import Foundation
import MCP

/// `crucible mcp`: Crucible as an MCP server. Four tools (MCPToolCatalog): run_python (code
/// mode: sandboxed CPython that calls the configured tools), validate_code, describe_tools,
/// and generate_artifact when a model is configured.
///
/// Errors a model can fix (an exception in its code, findings in its view, a bad argument)
/// are tool results with `isError` and feedback written for the model, as pydantic-ai's
/// ModelRetry sends them; a server fault (the sandbox cannot start) is a protocol error.
/// Every run_python, validate_code and generate_artifact call is recorded in the corpus.
public final class CrucibleMCPServer: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var sandbox: Sandbox
        /// The functions sandboxed code may call (standard, configured and other servers' tools).
        public var toolbox: Toolbox
        public var validator: LazyValidator
        /// Artifact kinds by name (Corpus/kinds and the project's own).
        public var kinds: [String: ArtifactKind]
        public var recorder: CorpusRecorder?
        /// The retry loop behind generate_artifact; nil: the tool is not offered.
        public var generator: RetryLoop?
        public var writesAllowed = false
        /// A named run_python session closes after this long without a call.
        public var sessionIdleTimeout: Duration = .seconds(600)
        /// Named sessions open at once: each holds a worker process, so a model cannot open
        /// them without bound. One more is refused (a tool error that lists the open ones).
        public var maxSessions = 8

        public init(sandbox: Sandbox, toolbox: Toolbox, validator: LazyValidator, kinds: [String: ArtifactKind],
                    recorder: CorpusRecorder?, generator: RetryLoop?) {
            self.sandbox = sandbox
            self.toolbox = toolbox
            self.validator = validator
            self.kinds = kinds
            self.recorder = recorder
            self.generator = generator
        }
    }

    let configuration: Configuration
    let pythonAPI: String
    let tools: [MCP.Tool]
    private let chains = AttemptChains()
    private let lock = NSLock()
    private var sessions: [String: SandboxSession] = [:]

    public init(_ configuration: Configuration) throws {
        self.configuration = configuration
        pythonAPI = configuration.toolbox.isEmpty ? "" : try configuration.sandbox.describe(configuration.toolbox)
        tools = MCPToolCatalog.tools(.init(
            pythonAPI: pythonAPI, toolNames: configuration.toolbox.contracts.map(\.name),
            kinds: Array(configuration.kinds.values), canGenerate: configuration.generator != nil,
            writesAllowed: configuration.writesAllowed,
            defaultTimeout: Double(configuration.sandbox.configuration.defaultLimits.wallClock.components.seconds)))
    }

    /// Serves one client over a pair of descriptors until it closes its end.
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
        await server.withMethodHandler(ListTools.self) { [tools] _ in ListTools.Result(tools: tools) }
        await server.withMethodHandler(CallTool.self) { [self] params in
            try await call(params.name, arguments: params.arguments ?? [:])
        }
        try await server.start(transport: LineTransport(input: input, output: output, label: "crucible.mcp", role: .server))
        await server.waitUntilCompleted()
        await server.stop()
        close()
    }

    /// Closes every named session and waits for the corpus records to be written.
    public func close() {
        let open = lock.withLock { () -> [SandboxSession] in
            defer { sessions.removeAll() }
            return Array(sessions.values)
        }
        for session in open { session.close() }
        configuration.recorder?.drain()
    }

    /// One `tools/call`. Throws only for protocol errors (an unknown tool, a server fault).
    func call(_ name: String, arguments: [String: MCP.Value]) async throws -> CallTool.Result {
        guard let tool = tools.first(where: { $0.name == name }) else {
            throw MCPError.invalidParams("Unknown tool: \(name). Tools: \(tools.map(\.name).joined(separator: ", "))")
        }
        let given = JSONValue.object(arguments.mapValues(JSONValue.init(mcp:)))
        let problems = JSONSchema.violations(of: given, against: JSONValue(mcp: tool.inputSchema), path: "arguments")
        if !problems.isEmpty {
            return Self.modelError(
                "The arguments to \(name) do not fit its input schema:\n"
                    + problems.map { "- \($0)" }.joined(separator: "\n") + "\nFix the arguments and call \(name) again.")
        }
        switch name {
        case MCPToolCatalog.runPython: return try await runPython(given)
        case MCPToolCatalog.validateCode: return try await validateCode(given)
        case MCPToolCatalog.describeTools: return describeTools()
        case MCPToolCatalog.generateArtifact: return try await generateArtifact(given)
        default: throw MCPError.internalError("\(name) is listed but has no handler")
        }
    }

    // MARK: run_python

    private func runPython(_ arguments: JSONValue) async throws -> CallTool.Result {
        let code = arguments["code"]!.stringValue!
        let sessionName = arguments["session"]?.stringValue
        var limits = configuration.sandbox.configuration.defaultLimits
        if let seconds = arguments["timeout"]?.numberValue { limits.wallClock = .milliseconds(Int64(seconds * 1000)) }
        var inputs: [String: JSONValue] = [:]
        if case .object(let members)? = arguments["inputs"] { inputs = members }
        let key = AttemptChains.key(tool: MCPToolCatalog.runPython, kind: nil, artifact: arguments["artifact"]?.stringValue,
                                    path: nil, session: sessionName, code: code)
        let started = Date()
        let (runLimits, runInputs) = (limits, inputs)
        let result: ExecutionResult
        if let sessionName {
            let session: SandboxSession
            do {
                session = try namedSession(sessionName, limits: limits, restart: arguments["restart"]?.boolValue == true)
            } catch let full as SessionsFull { return Self.modelError(full.message) }
            do {
                result = try await onOwnThread { try session.execute(code, inputs: runInputs) }
            } catch {
                // The session's worker is gone (idle timeout, or killed with its last cell): say so, and forget it.
                lock.withLock { _ = sessions.removeValue(forKey: sessionName) }
                return Self.modelError("Session \(sessionName.debugDescription) ended (\(error)); its variables are gone. "
                    + "Call run_python again: the session starts afresh.")
            }
        } else {
            let (sandbox, toolbox) = (configuration.sandbox, configuration.toolbox)
            result = try await onOwnThread { sandbox.execute(code, inputs: runInputs, limits: runLimits, tools: toolbox) }
        }
        if case .sandboxFailure(let detail) = result.outcome {
            if detail.hasPrefix("invalid input") { return Self.modelError("The inputs cannot be passed to Python: \(detail)") }
            throw MCPError.internalError("The sandbox failed: \(detail). The server restarts its zygote; retry the call.")
        }

        var structured = result.jsonObject
        if case .object(var members) = structured {
            members["ok"] = .bool(result.outcome == .ok)
            members["session"] = sessionName.map { .string($0) } ?? .null
            if members["error"] == nil { members["error"] = .null }
            structured = .object(members)
        }
        let feedback = CallRecord.feedback(for: result, code: code, tool: MCPToolCatalog.runPython)
        record(key, code: code, passed: result.outcome == .ok, diagnostics: [], runtime: CallRecord.runtime(of: result),
               feedback: feedback, started: started, task: nil)
        return Self.result(structured, isError: feedback != nil, text: feedback)
    }

    struct SessionsFull: Error { let message: String }

    /// The session named `name`, opened on first use. Its limits are those of the call that opened it.
    private func namedSession(_ name: String, limits: ExecutionLimits, restart: Bool) throws -> SandboxSession {
        try lock.withLock {
            if let existing = sessions[name], existing.closedBecause == nil {
                if restart { try existing.restart() }
                return existing
            }
            sessions = sessions.filter { $0.value.closedBecause == nil }  // idle ones that closed themselves
            if sessions.count >= configuration.maxSessions {
                throw SessionsFull(message: "\(sessions.count) sessions are open (\(sessions.keys.sorted().joined(separator: ", "))), "
                    + "the most this server allows. Reuse one of them (restart: true clears its variables), or "
                    + "omit session for a fresh interpreter; an unused session closes after "
                    + "\(configuration.sessionIdleTimeout.components.seconds) s.")
            }
            do {
                let session = try configuration.sandbox.openSession(
                    idleTimeout: configuration.sessionIdleTimeout, limits: limits, tools: configuration.toolbox)
                sessions[name] = session
                return session
            } catch {
                throw MCPError.internalError("The sandbox cannot open a session: \(error)")
            }
        }
    }

    // MARK: validate_code

    private func validateCode(_ arguments: JSONValue) async throws -> CallTool.Result {
        let code = arguments["code"]!.stringValue!
        let kind = arguments["kind"]?.stringValue
        let path = arguments["path"]?.stringValue
        let key = AttemptChains.key(tool: MCPToolCatalog.validateCode, kind: kind, artifact: arguments["artifact"]?.stringValue,
                                    path: path, session: nil, code: code)
        let started = Date()
        let validator = configuration.validator
        let rulesets = arguments["rulesets"]?.arrayValue?.compactMap(\.stringValue)
        let check: LazyValidator.Check
        do {
            check = try await onOwnThread {
                try validator.check(code, kind: kind, rulesets: rulesets, path: path ?? "<code>", tool: MCPToolCatalog.validateCode)
            }
        } catch let problem as LazyValidator.Problem {
            if case .unknownKind = problem { return Self.modelError("\(problem)") }
            throw MCPError.internalError("\(problem)")
        }
        let structured: JSONValue = [
            "passed": .bool(check.passed), "diagnostics": .array(check.diagnostics.map(\.json)),
            "feedback": check.feedback.map { .string($0) } ?? .null,
        ]
        record(key, code: code, passed: check.passed, diagnostics: check.diagnostics,
               runtime: ["status": "not_run", "reason": "validation only"], feedback: check.feedback, started: started,
               task: nil)
        return Self.result(structured, isError: !check.passed, text: check.feedback)
    }

    // MARK: describe_tools

    private func describeTools() -> CallTool.Result {
        let structured: JSONValue = [
            "python_api": .string(pythonAPI),
            "prompt": .string(pythonAPI.isEmpty ? "" : ToolPrompt.render(api: pythonAPI)),
            "tools": .array(configuration.toolbox.contracts.map {
                ["name": .string($0.name), "description": .string($0.description)]
            }),
        ]
        return Self.result(structured, isError: false, text: nil)
    }

    // MARK: generate_artifact

    private func generateArtifact(_ arguments: JSONValue) async throws -> CallTool.Result {
        guard let generator = configuration.generator else { throw MCPError.methodNotFound("generate_artifact") }
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
        let attempts: [JSONValue] = outcome.attempts.map { attempt in
            ["attempt": attempt["attempt"] ?? .int(0), "passed": attempt["passed"] ?? .bool(false),
             "diagnostics": attempt["diagnostics"] ?? .array([]), "feedback": attempt["feedback"] ?? .null]
        }
        let structured: JSONValue = [
            "passed": .bool(outcome.passed), "code": outcome.attempts.last?["code"] ?? .null, "kind": .string(kind.name),
            "attempts": .array(attempts), "final_error": outcome.finalError.map { .string($0) } ?? .null,
        ]
        let failure = outcome.passed ? nil : (outcome.attempts.last?["feedback"]?.stringValue ?? outcome.finalError)
        return Self.result(structured, isError: !outcome.passed, text: failure)
    }

    // MARK: Results and records

    private func record(_ key: AttemptChains.Key, code: String, passed: Bool, diagnostics: [Diagnostic], runtime: JSONValue,
                        feedback: String?, started: Date, task: String?) {
        guard let recorder = configuration.recorder else { return }
        let link = chains.link(key, task: task)
        recorder.recordLater(CallRecord.make(
            link, source: "mcp", code: code, passed: passed, diagnostics: diagnostics, runtime: runtime,
            feedback: feedback, started: started, extra: ["mcp_tool": .string(key.tool)]))
        chains.finished(key, passed: passed)
    }

    /// A structured result. MCP asks for the JSON in a text block too (for clients that read
    /// only text); a failing result leads with the feedback a model acts on.
    static func result(_ structured: JSONValue, isError: Bool, text: String?) -> CallTool.Result {
        var content: [MCP.Tool.Content] = []
        if let text { content.append(.text(text: text, annotations: nil, _meta: nil)) }
        content.append(.text(text: structured.jsonText, annotations: nil, _meta: nil))
        let value: MCP.Value? = structured.mcpValue
        return CallTool.Result(content: content, structuredContent: value, isError: isError ? true : nil, _meta: nil)
    }

    /// A failure the model should fix, with no structured result (the arguments never ran).
    static func modelError(_ message: String) -> CallTool.Result {
        CallTool.Result(content: [.text(text: message, annotations: nil, _meta: nil)], isError: true)
    }
}
