import CrucibleSandbox
import CrucibleServe
import CrucibleWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// The routes of `crucible http` (docs/http-api.md): serve's methods as JSON over HTTP, plus
/// SandboxFusion's `/run_code`. Every request is checked in this order: the token (401), the
/// capacity (429), the body's size (413) and shape (400); then the method runs on a thread of
/// its own (it blocks while the code runs; Swift's cooperative pool has one thread per core).
public final class HTTPService: Sendable {
    let methods: ServeMethods
    let configuration: HTTPConfiguration
    let metrics: HTTPMetrics
    private let tokens: TokenCheck
    private let inFlight = Mutex(0)

    public init(methods: ServeMethods, configuration: HTTPConfiguration) {
        self.methods = methods
        self.configuration = configuration
        self.tokens = TokenCheck(token: configuration.token)
        self.metrics = HTTPMetrics(sandbox: methods.sandbox)
    }

    /// What a request asks for, read from its method and path alone.
    enum Route {
        case health, metrics, execute, validate, openSession, feedback
        case sessionExecute(String), closeSession(String)
        /// `pathToken`: the token in `/sandbox-fusion/TOKEN/run_code` (the official client sends no headers).
        case runCode(pathToken: Substring?)

        init?(_ method: HTTPRequest.Method, _ path: String) {
            let parts = path.split(separator: "/", omittingEmptySubsequences: true)
            switch (method, parts.count) {
            case (.get, 1) where parts[0] == "health": self = .health
            case (.get, 1) where parts[0] == "metrics": self = .metrics
            case (.post, 1) where parts[0] == "run_code": self = .runCode(pathToken: nil)
            case (.post, 3) where parts[0] == "sandbox-fusion" && parts[2] == "run_code": self = .runCode(pathToken: parts[1])
            case (.post, 2) where parts[0] == "v1":
                switch parts[1] {
                case "execute": self = .execute
                case "validate": self = .validate
                case "sessions": self = .openSession
                case "feedback": self = .feedback
                default: return nil
                }
            case (.post, 4) where parts[0] == "v1" && parts[1] == "sessions" && parts[3] == "execute":
                self = .sessionExecute(String(parts[2]))
            case (.delete, 3) where parts[0] == "v1" && parts[1] == "sessions": self = .closeSession(String(parts[2]))
            default: return nil
            }
        }
    }

    /// Answers one request; never throws (every failure is a JSON error answer).
    @Sendable public func respond(to request: Request, context: BasicRequestContext) async -> Response {
        do {
            return try await answer(request)
        } catch let failure as HTTPFailure {
            return Self.failure(failure)
        } catch {
            return Self.failure(HTTPFailure(status: .internalServerError, code: "internal", message: "\(error)"))
        }
    }

    private func answer(_ request: Request) async throws -> Response {
        let route = Route(request.method, request.uri.path)
        if case .health? = route {
            return Self.json(["status": "ok", "python": .string(methods.sandbox.report.pythonVersion), "server": "crucible"])
        }
        // The token before anything else: without it, not even whether a route exists is told.
        let authorized: Bool
        if case .runCode(let pathToken?)? = route {
            authorized = tokens.admits(pathToken)
        } else {
            authorized = tokens.admits(authorization: request.headers[.authorization])
        }
        guard authorized else {
            metrics.rejected("unauthorized")
            throw HTTPFailure.unauthorized
        }
        guard let route else { throw HTTPFailure.notFound("no route \(request.method) \(request.uri.path) (docs/http-api.md)") }
        if case .metrics = route {
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.render(inFlight: inFlight.withLock { $0 }))))
        }
        // Capacity before the body is read: a flood costs a counter, not a buffer and a thread.
        let admitted = inFlight.withLock { count in
            guard count < configuration.maxInFlight else { return false }
            count += 1
            return true
        }
        guard admitted else {
            metrics.rejected("busy")
            throw HTTPFailure.busy("busy: \(configuration.maxInFlight) requests are in progress, the most this server takes; retry shortly")
        }
        defer { inFlight.withLock { $0 -= 1 } }
        var request = request
        let body = try await readBody(&request, empty: route.takesNoBody)
        do {
            return try await run(route, body)
        } catch let failure as HTTPFailure {
            if failure.status == .tooManyRequests { metrics.rejected("busy") }
            if failure.status == .badRequest { metrics.rejected("invalid_params") }
            throw failure
        }
    }

    /// The body as a JSON object (`{}` when empty); 413 past the cap, 400 when not JSON.
    private func readBody(_ request: inout Request, empty: Bool) async throws -> JSONValue {
        let cap = configuration.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > cap {
            metrics.rejected("too_large")
            throw HTTPFailure.tooLarge(cap)
        }
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: cap) } catch is NIOTooManyBytesError {
            metrics.rejected("too_large")
            throw HTTPFailure.tooLarge(cap)
        }
        if buffer.readableBytes == 0 { return [:] }
        if empty { return [:] }
        let json: JSONValue
        do { json = try JSONValue(parsing: ArraySlice(buffer.readableBytesView)) } catch {
            metrics.rejected("invalid_params")
            throw HTTPFailure.invalid("the body is not JSON: \(error)")
        }
        guard case .object = json else {
            metrics.rejected("invalid_params")
            throw HTTPFailure.invalid("the body must be a JSON object")
        }
        return json
    }

    private func run(_ route: Route, _ body: JSONValue) async throws -> Response {
        switch route {
        case .execute:
            try checkLimits(body)
            return try await execution(call("execute", body))
        case .sessionExecute(let id):
            try checkLimits(body)
            return try await execution(call("execute", body.setting("session", .string(id))))
        case .openSession:
            try checkLimits(body)
            // HTTP sessions keep their variables unless told otherwise: that is what one is for here.
            let params = body["persistent"] == nil ? body.setting("persistent", true) : body
            return Self.json(try await call("open_session", params))
        case .closeSession(let id):
            return Self.json(try await call("close_session", ["session": .string(id)]))
        case .validate: return Self.json(try await call("validate", body))
        case .feedback: return Self.json(try await call("feedback", body))
        case .runCode: return try await runCode(body)
        case .health, .metrics: throw HTTPFailure.notFound("unreachable")
        }
    }

    /// A serve method on a thread of its own; its JSON-RPC errors become HTTP failures.
    private func call(_ method: String, _ params: JSONValue) async throws -> JSONValue {
        do {
            return try await onOwnThread { [methods] in try methods.handle(method, params) }
        } catch let error as JSONRPCError {
            throw HTTPFailure(error)
        }
    }

    /// An execution result's answer, counted in the metrics.
    private func execution(_ result: JSONValue) -> Response {
        if let outcome = result["outcome"]?.stringValue {
            metrics.executed(outcome: outcome, duration: .milliseconds(result["duration_ms"]?.numberValue ?? 0))
        }
        return Self.json(result)
    }

    /// The server's maxima: a native request over them is refused, naming the maximum.
    private func checkLimits(_ body: JSONValue) throws {
        if let timeout = body["timeout"]?.numberValue, timeout > configuration.maxTimeout {
            throw HTTPFailure.invalid("\"timeout\" \(timeout) s is over this server's maximum, \(configuration.maxTimeout) s (--max-timeout)")
        }
        if let memory = body["memory_mb"]?.numberValue, memory > Double(configuration.maxMemoryMB) {
            throw HTTPFailure.invalid("\"memory_mb\" \(memory) is over this server's maximum, \(configuration.maxMemoryMB) (--max-memory)")
        }
    }

    private func runCode(_ body: JSONValue) async throws -> Response {
        let request = try SandboxFusion.Request(json: body, maxTimeout: configuration.maxTimeout, maxMemoryMB: configuration.maxMemoryMB)
        guard request.language == "python" else { return Self.json(SandboxFusion.unsupported(request.language)) }
        var params: JSONValue = ["code": .string(request.code), "timeout": .double(request.timeout)]
        if let memory = request.memoryMB { params = params.setting("memory_mb", .int(memory)) }
        let (result, _): (ExecutionResult, String?)
        do {
            (result, _) = try await onOwnThread { [methods, params, io = request.io] in try methods.executeResult(params, io: io) }
        } catch let error as JSONRPCError {
            throw HTTPFailure(error)
        }
        metrics.executed(outcome: result.outcome.name, duration: result.duration)
        return Self.json(SandboxFusion.response(result, request: request))
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: value.jsonText)))
    }

    static func failure(_ failure: HTTPFailure) -> Response {
        var headers: HTTPFields = [:]
        if let seconds = failure.retryAfter { headers[.retryAfter] = String(seconds) }
        return json(failure.json, status: failure.status, headers: headers)
    }
}

extension HTTPService.Route {
    /// Routes whose body is ignored (DELETE).
    var takesNoBody: Bool {
        if case .closeSession = self { return true }
        return false
    }
}

extension JSONValue {
    /// The object with `key` set to `value`.
    func setting(_ key: String, _ value: JSONValue) -> JSONValue {
        guard case .object(var members) = self else { return self }
        members[key] = value
        return .object(members)
    }
}
