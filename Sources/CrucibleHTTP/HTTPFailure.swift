import CrucibleWire
import HTTPTypes

/// An error answer: a status and `{"error": {"code", "message"}}` (docs/http-api.md). The
/// serve methods' JSON-RPC errors map onto it one to one, so HTTP and serve refuse the same
/// requests for the same reasons.
struct HTTPFailure: Error {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    /// Sent with the answer: `Retry-After` on a 429, `Allow` on a 405.
    var headers: HTTPFields = [:]

    static func invalid(_ message: String) -> HTTPFailure { HTTPFailure(status: .badRequest, code: "invalid_params", message: message) }
    static let unauthorized = HTTPFailure(
        status: .unauthorized, code: "unauthorized",
        message: "a valid token is required: the header `Authorization: Bearer TOKEN`, or /sandbox-fusion/TOKEN/run_code")
    static func notFound(_ message: String) -> HTTPFailure { HTTPFailure(status: .notFound, code: "not_found", message: message) }
    static func methodNotAllowed(_ method: HTTPRequest.Method, _ path: String, allowed: [HTTPRequest.Method]) -> HTTPFailure {
        let names = allowed.map(\.rawValue).sorted().joined(separator: ", ")
        return HTTPFailure(
            status: .methodNotAllowed, code: "method_not_allowed", message: "\(path) takes \(names), not \(method) (docs/http-api.md)",
            headers: [.allow: names])
    }
    static func tooLarge(_ cap: Int) -> HTTPFailure {
        HTTPFailure(status: .contentTooLarge, code: "too_large", message: "the request body is over this server's \(cap)-byte cap (--max-body-mb)")
    }
    static func bodyTimeout(_ limit: Duration) -> HTTPFailure {
        // Connection: close, since the rest of the body will not be read.
        HTTPFailure(
            status: .requestTimeout, code: "timeout",
            message: "the request body did not arrive within \(limit) of its headers (--read-timeout)",
            headers: [.connection: "close"])
    }
    static func busy(_ message: String) -> HTTPFailure {
        HTTPFailure(status: .tooManyRequests, code: "busy", message: message, headers: [.retryAfter: "1"])
    }

    /// The HTTP form of a serve method's error.
    init(_ error: JSONRPCError) {
        switch error.code {
        case -32602: self = .invalid(error.message)
        case -32001: self = .notFound(Self.http(error.message))
        case -32003, -32004: self = .busy(Self.http(error.message))
        case -32002: self.init(status: .serviceUnavailable, code: "sandbox_failure", message: error.message)
        default: self.init(status: .internalServerError, code: "internal", message: error.message)
        }
    }

    init(status: HTTPResponse.Status, code: String, message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    var json: JSONValue { ["error": ["code": .string(code), "message": .string(message)]] }

    /// A serve or sandbox message as an HTTP client can act on it: they name remedies of their
    /// own APIs (`restart()`, `close_session`) that HTTP spells as routes, and serve's busy
    /// prefix repeats the sandbox's ("Server busy: busy: ...") where the code already says busy.
    static func http(_ message: String) -> String {
        var text = message
        if text.hasPrefix("Server busy: ") { text = "server busy: " + text.dropFirst("Server busy: ".count) }
        if text.hasPrefix("server busy: busy: ") { text = "server busy: " + text.dropFirst("server busy: busy: ".count) }
        for remedy in ["; call restart() for a fresh one", "; open another"] where text.hasSuffix(remedy) {
            text = String(text.dropLast(remedy.count)) + "; open a new session with POST /v1/sessions"
        }
        if text.hasSuffix("(closed, or never opened)") { text += "; open a new session with POST /v1/sessions" }
        if text.hasSuffix("; close one with close_session") {
            text = String(text.dropLast("close_session".count)) + "DELETE /v1/sessions/ID"
        }
        return text
    }
}
