import Foundation

/// `crucible serve`: the sandbox for agents in any language, over JSON-RPC 2.0 on stdio.
/// The protocol is documented in docs/serve-protocol.md; the stdlib-only Python client is
/// Clients/python/crucible_client.py.
public final class ServeServer: @unchecked Sendable {
    public static let protocolVersion = 1

    let sandbox: Sandbox
    /// Tools every session gets (the standard toolset and configured command tools).
    let baseTools: Toolbox
    private let connection: JSONRPCConnection
    private let lock = NSLock()
    private var sessions: [String: ServeSession] = [:]
    private var sessionCounter = 0
    private var describeCache: [String: JSONValue] = [:]

    final class ServeSession: @unchecked Sendable {
        let id: String
        let label: String?
        let toolbox: Toolbox
        let persistent: SandboxSession?
        init(id: String, label: String?, toolbox: Toolbox, persistent: SandboxSession?) {
            self.id = id
            self.label = label
            self.toolbox = toolbox
            self.persistent = persistent
        }
    }

    public init(sandbox: Sandbox, baseTools: Toolbox, input: Int32, output: Int32) {
        self.sandbox = sandbox
        self.baseTools = baseTools
        self.connection = JSONRPCConnection(input: input, output: output)
    }

    /// Serves until the client closes its end, then closes every session.
    public func run() {
        connection.run { [self] method, params in try handle(method, params ?? [:]) }
        lock.withLock {
            for session in sessions.values { session.persistent?.close() }
            sessions.removeAll()
        }
    }

    typealias RPCError = JSONRPCConnection.RPCError

    func handle(_ method: String, _ params: JSONValue) throws -> JSONValue {
        guard case .object = params else { throw RPCError.invalidParams("params must be an object, not a list") }
        switch method {
        case "initialize":
            return [
                "server": "crucible", "protocol_version": .int(Self.protocolVersion),
                "methods": ["initialize", "open_session", "close_session", "execute", "list_tools", "describe_tools"],
                "server_requests": ["call_tool"],
                "python": .string(sandbox.report.pythonVersion),
            ]
        case "open_session": return try openSession(params)
        case "close_session":
            let session = try session(params, required: true)!
            lock.withLock {
                _ = sessions.removeValue(forKey: session.id)
                _ = describeCache.removeValue(forKey: session.id)
            }
            session.persistent?.close()
            return ["closed": true]
        case "execute": return try execute(params)
        case "list_tools":
            let toolbox = try session(params, required: false)?.toolbox ?? baseTools
            return ["tools": .array(toolbox.contracts.map(\.mcpDefinition))]
        case "describe_tools": return try describe(params)
        default: throw RPCError.methodNotFound(method)
        }
    }

    private func session(_ params: JSONValue, required: Bool) throws -> ServeSession? {
        guard let id = params["session"] else {
            if required { throw RPCError.invalidParams("\"session\" is required") }
            return nil
        }
        guard let key = id.stringValue else { throw RPCError.invalidParams("\"session\" must be a string") }
        guard let session = lock.withLock({ sessions[key] }) else {
            throw RPCError(code: -32001, message: "Unknown session: \(key) (closed, or never opened)")
        }
        return session
    }

    private func openSession(_ params: JSONValue) throws -> JSONValue {
        if let tools = params["tools"], tools.arrayValue == nil {
            throw RPCError.invalidParams("\"tools\" must be a list of MCP tool definitions")
        }
        let id = lock.withLock { () -> String in sessionCounter += 1; return "session-\(sessionCounter)" }
        var toolbox = baseTools
        for (index, definition) in (params["tools"]?.arrayValue ?? []).enumerated() {
            // A client-declared tool: calls from the sandbox are forwarded to the client.
            let connection = self.connection
            do {
                let contract = try ToolContract(mcpDefinition: definition)
                try toolbox.add(Tool(contract) { arguments in
                    try await connection.request(
                        "call_tool", params: ["session": .string(id), "name": .string(contract.name), "arguments": arguments])
                })
            } catch { throw RPCError.invalidParams("tools[\(index)]: \(error)") }
        }
        if let limits = params["limits"] {
            if let calls = limits["calls_per_execution"]?.intValue, calls > 0 { toolbox.limits.callsPerExecution = calls }
            if let seconds = limits["tool_timeout"]?.numberValue, seconds > 0 {
                toolbox.limits.perCallTimeout = .milliseconds(Int64(seconds * 1000))
            }
            if let bytes = limits["result_bytes"]?.intValue, bytes > 0 { toolbox.limits.resultBytes = bytes }
        }
        var persistent: SandboxSession?
        if params["persistent"]?.boolValue == true {
            let idle = params["idle_timeout"]?.numberValue ?? 300
            do {
                persistent = try sandbox.openSession(
                    idleTimeout: .milliseconds(Int64(max(0.05, idle) * 1000)), limits: try limits(params), tools: toolbox)
            } catch {
                throw RPCError(code: -32002, message: "Sandbox failure: \(error)")
            }
        }
        let session = ServeSession(id: id, label: params["label"]?.stringValue, toolbox: toolbox, persistent: persistent)
        lock.withLock { sessions[id] = session }
        return ["session": .string(id), "tools": .array(toolbox.contracts.map { .string($0.name) }),
                "persistent": .bool(persistent != nil)]
    }

    private func limits(_ params: JSONValue) throws -> ExecutionLimits {
        var limits = sandbox.configuration.defaultLimits
        if let timeout = params["timeout"] {
            guard let seconds = timeout.numberValue, seconds > 0, seconds <= 3600 else {
                throw RPCError.invalidParams("\"timeout\" must be seconds between 0 and 3600")
            }
            limits.wallClock = .milliseconds(Int64(seconds * 1000))
        }
        if let memory = params["memory_mb"] {
            guard let megabytes = memory.intValue, megabytes >= 16, megabytes <= 65536 else {
                throw RPCError.invalidParams("\"memory_mb\" must be an integer between 16 and 65536")
            }
            limits.memoryBytes = megabytes << 20
        }
        return limits
    }

    private func execute(_ params: JSONValue) throws -> JSONValue {
        guard let code = params["code"]?.stringValue else { throw RPCError.invalidParams("\"code\" must be a string") }
        var inputs: [String: JSONValue] = [:]
        if let given = params["inputs"] {
            guard case .object(let members) = given else { throw RPCError.invalidParams("\"inputs\" must be an object") }
            inputs = members
        }
        let session = try session(params, required: false)
        if let persistent = session?.persistent {
            do { return try persistent.execute(code, inputs: inputs).jsonObject } catch let error as SandboxError {
                if case .sessionClosed = error { throw RPCError(code: -32001, message: "\(error)") }
                throw RPCError.invalidParams("\(error)")
            }
        }
        let limits = try limits(params)
        let result = sandbox.execute(code, inputs: inputs, limits: limits, tools: session?.toolbox ?? baseTools)
        if case .sandboxFailure(let detail) = result.outcome, detail.hasPrefix("invalid input") {
            throw RPCError.invalidParams(detail)
        }
        return result.jsonObject
    }

    private func describe(_ params: JSONValue) throws -> JSONValue {
        let session = try session(params, required: false)
        let key = session?.id ?? ""
        if let cached = lock.withLock({ describeCache[key] }) { return cached }
        let toolbox = session?.toolbox ?? baseTools
        let api: String
        do { api = try sandbox.describe(toolbox) } catch { throw RPCError(code: -32002, message: "Sandbox failure: \(error)") }
        let described: JSONValue = ["python_api": .string(api), "prompt": .string(ToolPrompt.render(api: api))]
        lock.withLock { describeCache[key] = described }
        return described
    }
}
