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
/// body's size (413), arrival (408) and shape (400), the capacity (429); then the method runs
/// on a thread of its own (it blocks while the code runs; Swift's cooperative pool has one
/// thread per core).
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

        /// The routes at a path, by method: empty when nothing is there, so a known path asked
        /// with another method is a 405 naming the ones it takes, not a 404.
        static func at(_ path: String) -> [HTTPRequest.Method: Route] {
            let parts = path.split(separator: "/", omittingEmptySubsequences: true)
            switch parts.count {
            case 1 where parts[0] == "health": return [.get: .health, .head: .health]
            case 1 where parts[0] == "metrics": return [.get: .metrics]
            case 1 where parts[0] == "run_code": return [.post: .runCode(pathToken: nil)]
            case 3 where parts[0] == "sandbox-fusion" && parts[2] == "run_code": return [.post: .runCode(pathToken: parts[1])]
            case 2 where parts[0] == "v1":
                switch parts[1] {
                case "execute": return [.post: .execute]
                case "validate": return [.post: .validate]
                case "sessions": return [.post: .openSession]
                case "feedback": return [.post: .feedback]
                default: return [:]
                }
            case 4 where parts[0] == "v1" && parts[1] == "sessions" && parts[3] == "execute":
                return [.post: .sessionExecute(String(parts[2]))]
            case 3 where parts[0] == "v1" && parts[1] == "sessions": return [.delete: .closeSession(String(parts[2]))]
            default: return [:]
            }
        }

        /// The token a path carries (SandboxFusion's), whatever the method.
        static func pathToken(in routes: [HTTPRequest.Method: Route]) -> Substring? {
            for case .runCode(let token?) in routes.values { return token }
            return nil
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
        let routes = Route.at(request.uri.path)
        let route = routes[request.method]
        if case .health? = route {
            // HEAD: what a load balancer's check sends; the status is the answer.
            if request.method == .head { return Response(status: .ok, headers: [.contentType: "application/json"]) }
            return Self.json(["status": "ok", "python": .string(methods.sandbox.report.pythonVersion), "server": "crucible"])
        }
        // The token before anything else: without it, not even whether a route exists is told.
        let authorized: Bool
        if let pathToken = Route.pathToken(in: routes) {
            authorized = tokens.admits(pathToken)
        } else {
            authorized = tokens.admits(authorization: request.headers[.authorization])
        }
        guard authorized else {
            metrics.rejected("unauthorized")
            throw HTTPFailure.unauthorized
        }
        guard let route else {
            if !routes.isEmpty { throw HTTPFailure.methodNotAllowed(request.method, request.uri.path, allowed: Array(routes.keys)) }
            throw HTTPFailure.notFound("no route \(request.method) \(request.uri.path) (docs/http-api.md)")
        }
        if case .metrics = route {
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.render(inFlight: inFlight.withLock { $0 }))))
        }
        let body = try await readBody(request, empty: route.takesNoBody)
        // Counted only once its body is in: a client that never finishes sending one must not
        // hold a place that real requests need (the read timeout ends such a connection).
        let admitted = inFlight.withLock { count in
            guard count < configuration.maxInFlight else { return false }
            count += 1
            return true
        }
        guard admitted else {
            metrics.rejected("busy")
            throw HTTPFailure.busy("\(configuration.maxInFlight) requests are in progress, the most this server takes; retry shortly")
        }
        defer { inFlight.withLock { $0 -= 1 } }
        do {
            return try await run(route, body)
        } catch let failure as HTTPFailure {
            if failure.status == .tooManyRequests { metrics.rejected("busy") }
            if failure.status == .badRequest { metrics.rejected("invalid_params") }
            throw failure
        }
    }

    /// The body as a JSON object (`{}` when empty); 413 past the cap, 408 when it is not all
    /// in within the read timeout, 400 when not JSON.
    private func readBody(_ request: Request, empty: Bool) async throws -> JSONValue {
        let cap = configuration.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > cap {
            metrics.rejected("too_large")
            throw HTTPFailure.tooLarge(cap)
        }
        let buffer: ByteBuffer
        do { buffer = try await collect(request, upTo: cap) } catch is NIOTooManyBytesError {
            metrics.rejected("too_large")
            throw HTTPFailure.tooLarge(cap)
        } catch let failure as HTTPFailure {
            metrics.rejected("timeout")
            throw failure
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

    /// The body, racing the read timeout: the connection's idle timeout ends a body that stops,
    /// but not one sent a byte at a time, each byte counting as activity.
    private func collect(_ request: Request, upTo cap: Int) async throws -> ByteBuffer {
        let limit = configuration.readTimeout
        return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask {
                var request = request
                return try await request.collectBody(upTo: cap)
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let buffer = try await group.next() ?? nil else { throw HTTPFailure.bodyTimeout(limit) }
            return buffer
        }
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
        json(failure.json, status: failure.status, headers: failure.headers)
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
