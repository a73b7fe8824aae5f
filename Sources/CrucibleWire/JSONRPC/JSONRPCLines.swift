import Foundation
import Synchronization

/// A JSON-RPC 2.0 error object, with the codes Crucible's servers answer with.
public struct JSONRPCError: Error, Equatable, Sendable {
    public var code: Int
    public var message: String
    public var data: JSONValue?

    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public static func parse(_ detail: String) -> JSONRPCError { JSONRPCError(code: -32700, message: "Parse error: \(detail)") }
    public static func invalidRequest(_ detail: String) -> JSONRPCError {
        JSONRPCError(code: -32600, message: "Invalid Request: \(detail)")
    }
    public static func methodNotFound(_ method: String) -> JSONRPCError {
        JSONRPCError(code: -32601, message: "Method not found: \(method)")
    }
    public static func invalidParams(_ detail: String) -> JSONRPCError { JSONRPCError(code: -32602, message: "Invalid params: \(detail)") }
    public static func internalError(_ detail: String) -> JSONRPCError { JSONRPCError(code: -32603, message: "Internal error: \(detail)") }
    /// The server is at capacity; the same request later may succeed.
    public static func busy(_ detail: String) -> JSONRPCError { JSONRPCError(code: -32003, message: "Server busy: \(detail)") }

    public var json: JSONValue {
        var object: [String: JSONValue] = ["code": .int(code), "message": .string(message)]
        if let data { object["data"] = data }
        return .object(object)
    }

    /// The response that carries this error for the request `id` (null when it could not be read).
    public func response(id: JSONValue) -> JSONValue { ["jsonrpc": "2.0", "id": id, "error": json] }
}

/// One end of a JSON-RPC 2.0 connection over two descriptors, one message per line: the line
/// transport of `crucible serve`, of `crucible mcp`, and of its client to `--tools-from` servers.
///
/// Reading blocks a thread in read(2) on purpose: a dedicated reader costs nothing per message,
/// where polling a non-blocking descriptor (the MCP SDK's stdio transport polls every 10 ms)
/// adds latency to each one and changes the flags of a stdin shared with the parent.
public final class JSONRPCLines: Sendable {
    public enum Role: Sendable { case server, client }

    /// Largest message accepted: a longer line is refused and skipped, never buffered whole.
    public static let maxMessageBytes = 64 << 20

    private let input: Int32
    private let output: Int32
    private let role: Role
    /// Whole lines only: replies written by the reader and by handlers never interleave.
    private let writing = Mutex<Void>(())

    public init(input: Int32, output: Int32, role: Role) {
        self.input = input
        self.output = output
        self.role = role
    }

    /// Writes `message` as one line; false when the peer has gone.
    @discardableResult
    public func send(_ message: JSONValue) -> Bool { send(encoded: Array(message.jsonText.utf8)) }

    /// Writes one message that is already JSON text (without its newline).
    @discardableResult
    public func send(encoded message: [UInt8]) -> Bool {
        var line = message
        line.append(UInt8(ascii: "\n"))
        return writing.withLock { _ in
            line.withUnsafeBytes { bytes -> Bool in
                var offset = 0
                while offset < bytes.count {
                    let count = write(output, bytes.baseAddress! + offset, bytes.count - offset)
                    if count < 0 && errno == EINTR { continue }
                    if count <= 0 { return false }
                    offset += count
                }
                return true
            }
        }
    }

    /// Reads until the input ends, on the calling thread, handing each message (and its line as
    /// received) to `body`. What is not a message never reaches `body`: a server answers a line
    /// that is not UTF-8 JSON with -32700 and one over `maxMessageBytes` with -32600, both under
    /// id null, and goes on; a client reports them to `unreadable` and skips them.
    public func receive(unreadable: (String) -> Void = { _ in }, _ body: (JSONValue, [UInt8]) -> Void) {
        let reader = makeReader()
        while let incoming = reader.next() {
            switch incoming {
            case .message(let message, let bytes): body(message, bytes)
            case .refused(let refusal):
                switch role {
                case .server: send(refusal.response(id: .null))
                case .client: unreadable(refusal.message)
                }
            }
        }
    }

    /// A reader of this connection's input for callers that read one message at a time (threads
    /// that take turns reading, as `crucible serve`'s do). Not thread-safe: one reader at a time.
    public func makeReader() -> Reader { Reader(input: input) }

    /// What the next line of input is.
    public enum Incoming {
        /// A message, and its line as received.
        case message(JSONValue, [UInt8])
        /// A line that is not a message: the error a server answers it with, under id null.
        case refused(JSONRPCError)
    }

    /// Unchecked: the threads that share one take turns (one reads at a time, under their own lock).
    public final class Reader: @unchecked Sendable {
        private var lines: LineReader

        init(input: Int32) { lines = LineReader(descriptor: input, maxLine: JSONRPCLines.maxMessageBytes) }

        /// The next message or refusal (blank lines are skipped); nil at the end of input. Blocks in read(2).
        public func next() -> Incoming? {
            while let event = lines.next() {
                switch event {
                case .tooLong:
                    return .refused(.invalidRequest("a message longer than \(JSONRPCLines.maxMessageBytes) bytes (the rest of the line is skipped)"))
                case .line(let bytes):
                    switch JSONRPCLine.parse(bytes) {
                    case .blank: continue
                    case .message(let message): return .message(message, bytes)
                    case .invalid(let message): return .refused(JSONRPCError(code: -32700, message: message))
                    }
                }
            }
            return nil
        }
    }
}
