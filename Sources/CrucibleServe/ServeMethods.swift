import CrucibleConfiguration
import CrucibleCorpus
import CrucibleSandbox
import CrucibleTools
import CrucibleValidation
import CrucibleWire
import Foundation

/// The methods of `crucible serve` (docs/serve-protocol.md), apart from any transport:
/// `ServeServer` answers them over JSON-RPC on stdio, and `crucible http` over HTTP
/// (CrucibleHTTP), so both answer an `execute`, `validate` or `feedback` the same way.
/// Errors are `JSONRPCError`s with serve's codes; a transport maps them to its own.
public final class ServeMethods: @unchecked Sendable {
    public static let protocolVersion = 1

    public let sandbox: Sandbox
    /// Tools every session gets (the standard toolset and configured command tools).
    let baseTools: Toolbox
    private let lock = NSLock()
    private var sessions: [String: ServeSession] = [:]
    private var sessionCounter = 0
    private var openingSessions = 0
    private var describeCache: [String: JSONValue] = [:]
    /// `environment(of:)`, by sandbox (the server's own and those `interpreterSandboxes` made, all kept for its life).
    private var environments: [ObjectIdentifier: JSONValue] = [:]
    /// Where executions and validations are recorded (nil: not recorded).
    public let recorder: CorpusRecorder?
    /// Started on the first `validate` (a second zygote most agents never need).
    private let validator: LazyValidator?
    /// The corpus source and episode prefix of what these methods record ("serve", "http").
    let source: String

    final class ServeSession: @unchecked Sendable {
        let id: String
        let label: String?
        let toolbox: Toolbox
        let persistent: SandboxSession?
        /// The sandbox of the session's interpreter and packages (`open_session {python, packages}`).
        let sandbox: Sandbox
        /// A session without a worker of its own (not persistent) holds only a place under
        /// `maxSessions`: it ends once unused for this long, as a persistent one's worker does,
        /// so that clients that never close theirs cannot use the places up.
        let idleTimeout: Duration
        /// When it was opened or last named by a request; under the methods' lock.
        var lastUsed = ContinuousClock.now
        init(id: String, label: String?, toolbox: Toolbox, persistent: SandboxSession?, sandbox: Sandbox, idleTimeout: Duration) {
            self.id = id
            self.label = label
            self.toolbox = toolbox
            self.persistent = persistent
            self.sandbox = sandbox
            self.idleTimeout = idleTimeout
        }

        /// Why it is over, or nil while it lasts: its worker's reason, or its idle time.
        func closedBecause(at now: ContinuousClock.Instant) -> String? {
            if let persistent { return persistent.closedBecause }
            return now - lastUsed > idleTimeout
                ? "idle for longer than \(idleTimeout)" : nil
        }
    }

    /// The sandbox for another interpreter or more packages than the server's: `python` a
    /// version such as "3.14" (nil: the server's own), `packages` requirements added to the
    /// server's. Started on the first request that asks for it; throws when it cannot be had.
    public typealias InterpreterSandboxes = @Sendable (_ python: String?, _ packages: [String]) throws -> Sandbox
    private let interpreterSandboxes: InterpreterSandboxes?

    /// Asks the client something (serve's `call_tool`) and blocks until it answers or `timeout`
    /// passes (nil): how a client-declared tool is called. nil where the transport cannot call
    /// back (HTTP): sessions then take no `tools`.
    public typealias ClientRequest = @Sendable (_ method: String, _ params: JSONValue, _ timeout: Duration) throws -> JSONValue?
    private let clientRequest: ClientRequest?

    /// Sessions open at once (each persistent one holds a worker and two descriptors); one
    /// more is refused with error -32004 until one closes.
    public let maxSessions: Int
    /// Session ids that cannot be guessed (128 random bits) instead of `session-N`: where
    /// clients that do not trust each other share a server (HTTP), one cannot reach another's.
    private let randomSessionIDs: Bool

    public init(sandbox: Sandbox, baseTools: Toolbox, recorder: CorpusRecorder? = nil, source: String = "serve",
                maxSessions: Int? = nil, kinds: [String: ArtifactKind] = [:],
                makeValidator: (@Sendable () throws -> Validator)? = nil, interpreterSandboxes: InterpreterSandboxes? = nil,
                clientRequest: ClientRequest? = nil, randomSessionIDs: Bool = false) {
        self.sandbox = sandbox
        self.interpreterSandboxes = interpreterSandboxes
        self.baseTools = baseTools
        self.maxSessions = maxSessions
            ?? DescriptorBudget.sessions(runningExecutions: sandbox.configuration.maxRunningExecutions)
        self.recorder = recorder
        self.source = source
        self.validator = makeValidator.map { LazyValidator(kinds: kinds, start: $0) }
        self.clientRequest = clientRequest
        self.randomSessionIDs = randomSessionIDs
    }

    /// Closes every session and the validator, and waits for the corpus records to be written.
    public func close() {
        lock.withLock {
            for session in sessions.values { session.persistent?.close() }
            sessions.removeAll()
        }
        recorder?.drain()
        validator?.shutdown()
    }

    /// Sessions open now.
    public var sessionCount: Int { lock.withLock { sessions.count } }

    /// Answers one method; blocks while an execution runs (call it from a thread of its own).
    public func handle(_ method: String, _ params: JSONValue) throws -> JSONValue {
        guard case .object = params else { throw JSONRPCError.invalidParams("params must be an object, not a list") }
        switch method {
        case "initialize":
            return [
                "server": "crucible", "protocol_version": .int(Self.protocolVersion),
                "methods": ["initialize", "open_session", "close_session", "execute", "validate", "feedback", "list_tools", "describe_tools"],
                "server_requests": ["call_tool"],
                "python": .string(sandbox.report.pythonVersion),
                "corpus": recorder.map { .string($0.path) } ?? .null,
            ]
        case "open_session": return try openSession(params)
        case "close_session":
            let session = try session(params, required: true)!
            lock.withLock {
                _ = sessions.removeValue(forKey: session.id)
                _ = describeCache.removeValue(forKey: session.id)
            }
            session.persistent?.close()
            // The session's records are in the corpus once the client hears it closed.
            recorder?.drain()
            return ["closed": true]
        case "execute": return try execute(params)
        case "validate": return try validate(params)
        case "feedback": return try feedback(params)
        case "list_tools":
            let toolbox = try session(params, required: false)?.toolbox ?? baseTools
            return ["tools": .array(toolbox.contracts.map(\.mcpDefinition))]
        case "describe_tools": return try describe(params)
        default: throw JSONRPCError.methodNotFound(method)
        }
    }

    private func session(_ params: JSONValue, required: Bool) throws -> ServeSession? {
        guard let id = params["session"] else {
            if required { throw JSONRPCError.invalidParams("\"session\" is required") }
            return nil
        }
        guard let key = id.stringValue else { throw JSONRPCError.invalidParams("\"session\" must be a string") }
        let found: Result<ServeSession, JSONRPCError> = lock.withLock {
            guard let session = sessions[key] else {
                return .failure(JSONRPCError(code: -32001, message: "Unknown session: \(key) (closed, or never opened)"))
            }
            let now = ContinuousClock.now
            if session.persistent == nil, let reason = session.closedBecause(at: now) {
                sessions.removeValue(forKey: key)
                describeCache.removeValue(forKey: key)
                return .failure(JSONRPCError(code: -32001, message: "The session \(key) is closed (\(reason)); open another"))
            }
            session.lastUsed = now
            return .success(session)
        }
        return try found.get()
    }

    private func openSession(_ params: JSONValue) throws -> JSONValue {
        if let tools = params["tools"], tools.arrayValue == nil {
            throw JSONRPCError.invalidParams("\"tools\" must be a list of MCP tool definitions")
        }
        var toolbox = baseTools
        // Reserved now, so concurrent opens cannot pass the cap together; released on failure.
        let id: String = try lock.withLock {
            if sessions.count + openingSessions >= maxSessions {
                // Persistent sessions that closed themselves (idle, or their worker died) no
                // longer hold anything: at the cap they make room, so clients that vanished
                // without closing theirs cannot lock the server out.
                let now = ContinuousClock.now
                sessions = sessions.filter { $0.value.closedBecause(at: now) == nil }
            }
            guard sessions.count + openingSessions < maxSessions else {
                throw JSONRPCError(
                    code: -32004,
                    message: "Too many sessions: \(sessions.count) are open, the most this server allows (--max-sessions \(maxSessions)); close one with close_session")
            }
            openingSessions += 1
            sessionCounter += 1
            return randomSessionIDs ? "session-" + randomHex(16) : "session-\(sessionCounter)"
        }
        defer { lock.withLock { openingSessions -= 1 } }
        let declared = params["tools"]?.arrayValue ?? []
        if !declared.isEmpty && clientRequest == nil {
            throw JSONRPCError.invalidParams("\"tools\": this server cannot call a client back, so sessions have the server's tools only")
        }
        for (index, definition) in declared.enumerated() {
            // A client-declared tool: calls from the sandbox are forwarded to the client.
            guard let clientRequest else { break }
            do {
                let contract = try ToolContract(mcpDefinition: definition)
                try toolbox.add(Tool(contract, waiting: { arguments, timeout in
                    try clientRequest(
                        "call_tool", ["session": .string(id), "name": .string(contract.name), "arguments": arguments], timeout)
                }))
            } catch { throw JSONRPCError.invalidParams("tools[\(index)]: \(error)") }
        }
        do {
            if let limits = params["limits"] {
                guard case .object = limits else { throw JSONRPCError.invalidParams("\"limits\" must be an object") }
                if let calls = limits["calls_per_execution"] {
                    toolbox.limits.callsPerExecution = try SettingRange.toolCalls.checkInt(json: calls, as: "limits.calls_per_execution")
                }
                if let seconds = limits["tool_timeout"] {
                    toolbox.limits.perCallTimeout = try SettingRange.toolTimeout.seconds(
                        SettingRange.toolTimeout.check(json: seconds, as: "limits.tool_timeout"), as: "limits.tool_timeout")
                }
                if let bytes = limits["result_bytes"] {
                    toolbox.limits.resultBytes = try SettingRange.resultBytes.checkInt(json: bytes, as: "limits.result_bytes")
                }
            }
        } catch let range as SettingRange.OutOfRange { throw JSONRPCError.invalidParams(range.description) }
        let sessionSandbox = try sandbox(python: params["python"], packages: params["packages"])
        var persistent: SandboxSession?
        if let flag = params["persistent"], flag.boolValue == nil {
            throw JSONRPCError.invalidParams("\"persistent\" must be true or false")
        }
        var idle: Duration = .seconds(300)
        if let given = params["idle_timeout"] {
            do { idle = try SettingRange.idleTimeout.seconds(SettingRange.idleTimeout.check(json: given)) } catch {
                throw JSONRPCError.invalidParams(error.description)
            }
        }
        if params["persistent"]?.boolValue == true {
            let sessionLimits = try limits(params)
            do {
                persistent = try sessionSandbox.openSession(idleTimeout: idle, limits: sessionLimits, tools: toolbox)
            } catch {
                throw JSONRPCError(code: -32002, message: "Sandbox failure: \(error)")
            }
        }
        let session = ServeSession(id: id, label: params["label"]?.stringValue, toolbox: toolbox, persistent: persistent,
                                   sandbox: sessionSandbox, idleTimeout: idle)
        lock.withLock { sessions[id] = session }
        return ["session": .string(id), "tools": .array(toolbox.contracts.map { .string($0.name) }),
                "persistent": .bool(persistent != nil), "python": .string(sessionSandbox.report.pythonVersion)]
    }

    /// The server's sandbox, or the one for the interpreter `python` names ("3.14") with the
    /// server's packages plus `packages` (["attrs==25.1.0"]).
    private func sandbox(python: JSONValue?, packages: JSONValue?) throws -> Sandbox {
        var version: String?
        if let python {
            guard let given = python.stringValue, !given.isEmpty else {
                throw JSONRPCError.invalidParams("\"python\" must be a version such as \"3.14\"")
            }
            version = given
        }
        var wanted: [String] = []
        if let packages {
            guard let list = packages.arrayValue?.compactMap(\.stringValue), list.count == packages.arrayValue?.count,
                list.allSatisfy({ !$0.trimmingCharacters(in: .whitespaces).isEmpty })
            else { throw JSONRPCError.invalidParams("\"packages\" must be a list of requirements such as \"attrs==25.1.0\"") }
            wanted = list
        }
        let running = sandbox.report.pythonVersion
        // The server's own interpreter, however the request names it: nil to the factory.
        if let given = version, running == given || running.hasPrefix(given + ".") { version = nil }
        if version == nil && wanted.isEmpty { return sandbox }
        guard let interpreterSandboxes else {
            throw JSONRPCError.invalidParams(
                wanted.isEmpty ? "this server runs Python \(running) only" : "this server takes no per-request packages")
        }
        do { return try interpreterSandboxes(version, wanted) } catch {
            let what = ["Python \(version ?? running)"] + (wanted.isEmpty ? [] : ["packages " + wanted.joined(separator: " ")])
            throw JSONRPCError.invalidParams("\(what.joined(separator: " with ")): \(error)")
        }
    }

    private func limits(_ params: JSONValue, base: ExecutionLimits? = nil) throws -> ExecutionLimits {
        var limits = base ?? sandbox.configuration.defaultLimits
        do {
            if let timeout = params["timeout"] {
                limits.wallClock = try SettingRange.timeout.seconds(SettingRange.timeout.check(json: timeout))
            }
            if let memory = params["memory_mb"] {
                limits.memoryBytes = try SettingRange.memoryMB.checkInt(json: memory) << 20
            }
        } catch { throw JSONRPCError.invalidParams(error.description) }
        return limits
    }

    private func execute(_ params: JSONValue) throws -> JSONValue {
        let (_, encoded, attemptID) = try executeEncoded(params, io: nil)
        return CallRecord.withAttempt(encoded, attemptID)
    }

    /// `execute`, its result as a record and its attempt id (nil: not recorded), for a
    /// transport that reshapes it (SandboxFusion's `run_code`); `io` brings stdin and files.
    public func executeResult(_ params: JSONValue, io: ExecutionIO? = nil) throws -> (ExecutionResult, attempt: String?) {
        let (result, _, attemptID) = try executeEncoded(params, io: io)
        return (result, attemptID)
    }

    /// The result, its `jsonObject` (made once, for the answer and the corpus record), and its attempt id.
    private func executeEncoded(_ params: JSONValue, io: ExecutionIO?) throws -> (ExecutionResult, JSONValue, attempt: String?) {
        guard case .object = params else { throw JSONRPCError.invalidParams("params must be an object, not a list") }
        guard let code = params["code"]?.stringValue else { throw JSONRPCError.invalidParams("\"code\" must be a string") }
        let link = try corpusLink(params)
        let started = CallRecord.Start()
        let (result, ranOn) = try executeUnrecorded(params, code: code, io: io)
        let encoded = result.jsonObject
        var attemptID: String?
        if let link {
            // What the record needs, without the files' bytes (up to the files cap, twice in
            // `encoded` as base64): a queued record must not hold them until the writer runs.
            let recorded = { var slim = result; slim.files = []; return slim }()
            let runtime: @Sendable () -> JSONValue
            if result.files.isEmpty {
                runtime = { CallRecord.runtime(of: recorded, encoded: encoded) }
            } else {
                let made = CallRecord.runtime(of: result, encoded: encoded)  // the files' summary, not their bytes
                runtime = { made }
            }
            attemptID = record(link, code: code, passed: result.outcome == .ok, diagnostics: [], environment: environment(of: ranOn),
                               started: started, runtime: runtime, feedback: { Feedback.forToolCall(recorded, code: code, tool: "execute") })
        }
        return (result, encoded, attemptID)
    }

    /// A sandbox's `environmentRecord`, made once per sandbox: making it parses the zygote's
    /// report, which was a tenth of the host's CPU per recorded session cell (BENCHMARKS.md,
    /// issue 22 item 4). A sandbox's interpreter and packages never change.
    private func environment(of sandbox: Sandbox) -> JSONValue {
        let key = ObjectIdentifier(sandbox)
        if let known = lock.withLock({ environments[key] }) { return known }
        let made = sandbox.environmentRecord
        lock.withLock { environments[key] = made }
        return made
    }

    /// The result and the sandbox that ran it (its interpreter and packages are recorded).
    private func executeUnrecorded(_ params: JSONValue, code: String, io: ExecutionIO?) throws -> (ExecutionResult, Sandbox) {
        var inputs: [String: JSONValue] = [:]
        if let given = params["inputs"] {
            guard case .object(let members) = given else { throw JSONRPCError.invalidParams("\"inputs\" must be an object") }
            inputs = members
        }
        let session = try session(params, required: false)
        if session != nil && (params["python"] != nil || params["packages"] != nil) {
            throw JSONRPCError.invalidParams("\"python\" and \"packages\" belong to the session: open one with them")
        }
        if let persistent = session?.persistent {
            // The worker was forked with the session's memory limit; only the wall clock can change per cell.
            let cell = try limits(params, base: persistent.limits)
            if cell.memoryBytes != persistent.limits.memoryBytes {
                throw JSONRPCError.invalidParams(
                    "\"memory_mb\" is fixed when a persistent session opens (this one has \(persistent.limits.memoryBytes >> 20) MiB); open another session for another limit")
            }
            if io != nil { throw JSONRPCError.invalidParams("stdin and files are for fresh executions, not session cells") }
            do {
                return (try persistent.execute(code, inputs: inputs, timeout: params["timeout"] == nil ? nil : cell.wallClock),
                        session!.sandbox)
            } catch let error as SandboxError {
                if case .sessionClosed = error { throw JSONRPCError(code: -32001, message: "\(error)") }
                throw JSONRPCError.invalidParams("\(error)")
            }
        }
        let limits = try limits(params)
        let target = try session?.sandbox ?? sandbox(python: params["python"], packages: params["packages"])
        let result = target.execute(code, inputs: inputs, limits: limits, tools: session?.toolbox ?? baseTools, io: io)
        if case .sandboxFailure(let detail) = result.outcome, detail.hasPrefix("invalid input") {
            throw JSONRPCError.invalidParams(detail)
        }
        if case .busy(let detail) = result.outcome {
            // The sandbox's text starts "busy: ", and JSON-RPC's "Server busy: " says it already.
            throw JSONRPCError.busy(detail.hasPrefix("busy: ") ? String(detail.dropFirst("busy: ".count)) : detail)
        }
        return (result, target)
    }

    /// `validate`: the validators on one piece of code, by kind (its rulesets) or by rulesets.
    private func validate(_ params: JSONValue) throws -> JSONValue {
        guard let code = params["code"]?.stringValue else { throw JSONRPCError.invalidParams("\"code\" must be a string") }
        if let given = params["rulesets"], given.arrayValue?.allSatisfy({ $0.stringValue != nil }) != true {
            throw JSONRPCError.invalidParams("\"rulesets\" must be a list of ruleset names")
        }
        let link = try corpusLink(params)
        let started = CallRecord.Start()
        guard let validator else { throw JSONRPCError(code: -32002, message: "Sandbox failure: this server has no validators") }
        let check: LazyValidator.Check
        do {
            check = try validator.check(
                code, kind: params["kind"]?.stringValue ?? link.map(\.kind),
                rulesets: params["rulesets"]?.arrayValue?.compactMap(\.stringValue),
                path: params["path"]?.stringValue ?? "<code>")
        } catch LazyValidator.Problem.unknownKind(let kind, let known) {
            throw JSONRPCError.invalidParams("unknown kind \(kind.debugDescription); known: \(known.joined(separator: ", "))")
        } catch LazyValidator.Problem.unknownRulesets(let problem) {
            throw JSONRPCError.invalidParams("\(problem)")
        } catch { throw JSONRPCError(code: -32002, message: "Sandbox failure: \(error)") }
        var attemptID: String?
        if let link {
            let feedback = check.feedback
            attemptID = record(link, code: code, passed: check.passed, diagnostics: check.diagnostics, started: started,
                               runtime: { ["status": "not_run", "reason": "validation only"] }, feedback: { feedback })
        }
        return CallRecord.withAttempt(
            ["passed": .bool(check.passed), "diagnostics": .array(check.diagnostics.map(\.json)),
             "feedback": check.feedback.map { .string($0) } ?? .null], attemptID)
    }

    /// How a call joins the corpus: the client's `corpus` object links calls that are attempts
    /// at one artifact into one session (`{"session": ID, "task": ..., "kind": ...}`);
    /// without one each call is a session of its own; `"corpus": false` records nothing.
    private func corpusLink(_ params: JSONValue) throws -> CallRecord.Link? {
        guard recorder != nil else { return nil }
        // Without a link, the call is an episode of its own, named after its attempt id.
        guard let given = params["corpus"] else { return CallRecord.Link(episode: nil) }
        if given == .bool(false) { return nil }
        guard case .object = given else {
            throw JSONRPCError.invalidParams("\"corpus\" must be an object {session?, task_id?, task?, kind?, model?} or false")
        }
        for key in ["session", "task_id", "task", "kind", "model"] {
            if let value = given[key], value.stringValue == nil {
                throw JSONRPCError.invalidParams("\"corpus.\(key)\" must be a string")
            }
        }
        let id = given["session"]?.stringValue ?? given["task_id"]?.stringValue
        return CallRecord.Link(
            episode: id.map { source + ":" + $0 }, task: given["task"]?.stringValue ?? "",
            taskID: given["task_id"]?.stringValue ?? id, kind: given["kind"]?.stringValue ?? "",
            model: given["model"]?.stringValue)
    }

    /// Queues the call's record; returns its attempt id (the result carries it, for `feedback`).
    /// Only the id and the call's end are taken here: the record, its runtime and its feedback
    /// text are made on the corpus writer, off the path of the answer (`recordLater(making:)`).
    private func record(_ link: CallRecord.Link, code: String, passed: Bool, diagnostics: [Diagnostic],
                        environment: JSONValue? = nil, started: CallRecord.Start,
                        runtime: @escaping @Sendable () -> JSONValue, feedback: @escaping @Sendable () -> String?) -> String? {
        guard let recorder else { return nil }
        let attemptID = RecordUUID.next(), finished = ContinuousClock.now
        let environment = environment ?? self.environment(of: sandbox)
        let source = source
        recorder.recordLater {
            CallRecord.make(link, source: source, code: code, passed: passed, diagnostics: diagnostics, runtime: runtime(),
                            feedback: feedback(), started: started, extra: ["environment": environment],
                            attemptID: attemptID, finished: finished)
        }
        return attemptID
    }

    /// `feedback`: the user's verdict on an attempt a result named (`{attempt, verdict, edited_code?, note?}`).
    private func feedback(_ params: JSONValue) throws -> JSONValue {
        guard let recorder else {
            throw JSONRPCError(code: -32002, message: "this server records no corpus (--no-corpus), so it takes no feedback")
        }
        do {
            let feedback = try AttemptFeedback(json: params)
            let stored = try recorder.feedback(feedback)
            var answer: [String: JSONValue] = ["attempt": .string(feedback.attempt), "verdict": .string(feedback.verdict.rawValue)]
            if stored.fixAttemptID != nil { answer["recorded_fix"] = true }
            return .object(answer)
        } catch .invalid(let message) {
            throw JSONRPCError.invalidParams(message)
        } catch .unknownAttempt(let id) {
            throw JSONRPCError.invalidParams(FeedbackError.unknownAttempt(id).description)
        } catch {
            throw JSONRPCError(code: -32002, message: "Sandbox failure: \(error)")
        }
    }

    private func describe(_ params: JSONValue) throws -> JSONValue {
        let session = try session(params, required: false)
        let key = session?.id ?? ""
        if let cached = lock.withLock({ describeCache[key] }) { return cached }
        let toolbox = session?.toolbox ?? baseTools
        let api: String
        do { api = try sandbox.describe(toolbox) } catch { throw JSONRPCError(code: -32002, message: "Sandbox failure: \(error)") }
        // The session's own interpreter and packages (open_session {python, packages}), not the server's.
        let target = session?.sandbox ?? sandbox
        let described: JSONValue = ["python_api": .string(api), "prompt": .string(ToolPrompt.render(
            api: api, packages: target.configuration.packages?.resolved ?? [:], python: target.report.pythonVersion))]
        lock.withLock { describeCache[key] = described }
        return described
    }
}

/// `count` random bytes as hex: unguessable ids.
func randomHex(_ count: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
}
