import Foundation

/// One received line of JSON-RPC, checked before anything acts on it (shared by `serve` and
/// the MCP transport).
public enum JSONRPCLine: Sendable {
    /// Only whitespace: not a message, no answer.
    case blank
    /// Not UTF-8, or not JSON: the parse error (-32700) to answer with, under id null.
    case invalid(message: String)
    case message(JSONValue)

    public static func parse(_ bytes: [UInt8]) -> JSONRPCLine {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { return .blank }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            return .invalid(message: "Parse error: the line is not valid UTF-8 (one JSON-RPC message per line, in UTF-8)")
        }
        do { return .message(try JSONValue(parsing: ArraySlice(bytes))) } catch {
            return .invalid(message: "Parse error: the line is not JSON (one JSON-RPC message per line): \(error)")
        }
    }

    /// JSON-RPC 2.0 allows a string, a number or null as an id (never an object, a list or a bool).
    public static func isValidID(_ id: JSONValue) -> Bool {
        switch id {
        case .string, .int, .bigInteger, .double, .null: true
        default: false
        }
    }
}
