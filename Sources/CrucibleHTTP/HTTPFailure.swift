import CrucibleWire
import HTTPTypes

/// An error answer: a status and `{"error": {"code", "message"}}` (docs/http-api.md). The
/// serve methods' JSON-RPC errors map onto it one to one, so HTTP and serve refuse the same
/// requests for the same reasons.
struct HTTPFailure: Error {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    /// Seconds a client should wait before retrying (429: the `Retry-After` header).
    var retryAfter: Int?

    static func invalid(_ message: String) -> HTTPFailure { HTTPFailure(status: .badRequest, code: "invalid_params", message: message) }
    static let unauthorized = HTTPFailure(
        status: .unauthorized, code: "unauthorized",
        message: "a valid token is required: the header `Authorization: Bearer TOKEN`, or /sandbox-fusion/TOKEN/run_code")
    static func notFound(_ message: String) -> HTTPFailure { HTTPFailure(status: .notFound, code: "not_found", message: message) }
    static func tooLarge(_ cap: Int) -> HTTPFailure {
        HTTPFailure(status: .contentTooLarge, code: "too_large", message: "the request body is over this server's \(cap)-byte cap (--max-body-mb)")
    }
    static func busy(_ message: String) -> HTTPFailure {
        HTTPFailure(status: .tooManyRequests, code: "busy", message: message, retryAfter: 1)
    }

    /// The HTTP form of a serve method's error.
    init(_ error: JSONRPCError) {
        switch error.code {
        case -32602: self = .invalid(error.message)
        case -32001: self = .notFound(error.message)
        case -32003, -32004: self = .busy(error.message)
        case -32002: self.init(status: .serviceUnavailable, code: "sandbox_failure", message: error.message)
        default: self.init(status: .internalServerError, code: "internal", message: error.message)
        }
    }

    init(status: HTTPResponse.Status, code: String, message: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    var json: JSONValue { ["error": ["code": .string(code), "message": .string(message)]] }
}
