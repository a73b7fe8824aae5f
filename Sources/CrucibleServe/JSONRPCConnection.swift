import CrucibleTools
import CrucibleWire
import Foundation

/// JSON-RPC 2.0 over a pair of file descriptors, one message per line (newline-delimited
/// JSON, as MCP's stdio transport frames it). Both sides may send requests: the reader
/// routes responses to the requests this side sent, and hands requests and notifications
/// to `handle`, each on a thread of its own so slow requests never hold up others.
///
/// Every line gets an answer or a deliberate silence (a notification): a line that is not
/// UTF-8 or not JSON gets -32700, a malformed request -32600, and a request beyond
/// `maxInFlight` gets -32003 ("busy") at once instead of a thread.
final class JSONRPCConnection: @unchecked Sendable {
    struct RPCError: Error, Equatable {
        var code: Int
        var message: String
        var data: JSONValue? = nil

        static func parse(_ detail: String) -> RPCError { RPCError(code: -32700, message: "Parse error: \(detail)") }
        static func invalidRequest(_ detail: String) -> RPCError { RPCError(code: -32600, message: "Invalid Request: \(detail)") }
        static func methodNotFound(_ method: String) -> RPCError { RPCError(code: -32601, message: "Method not found: \(method)") }
        static func invalidParams(_ detail: String) -> RPCError { RPCError(code: -32602, message: "Invalid params: \(detail)") }
        static func internalError(_ detail: String) -> RPCError { RPCError(code: -32603, message: "Internal error: \(detail)") }
        /// The server is at capacity; the same request later may succeed.
        static func busy(_ detail: String) -> RPCError { RPCError(code: -32003, message: "Server busy: \(detail)") }

        var json: JSONValue {
            var object: [String: JSONValue] = ["code": .int(code), "message": .string(message)]
            if let data { object["data"] = data }
            return .object(object)
        }
    }

    typealias Handler = @Sendable (_ method: String, _ params: JSONValue?) throws -> JSONValue

    static let maxLine = 64 << 20

    private let input: Int32
    private let output: Int32
    /// Requests (and batches) being handled at once; one more is answered "busy".
    let maxInFlight: Int
    private let writeLock = NSLock()
    private let stateLock = NSLock()
    private var pending: [String: CheckedContinuation<JSONValue, Error>] = [:]
    private var nextID = 0
    private var closed = false
    private var inFlightCount = 0
    private let inFlight = DispatchGroup()

    init(input: Int32, output: Int32, maxInFlight: Int = 1024) {
        self.input = input
        self.output = output
        self.maxInFlight = max(1, maxInFlight)
    }

    /// Reads until the input ends, then waits for requests still running.
    func run(handle: @escaping Handler) {
        var reader = LineReader(descriptor: input, maxLine: Self.maxLine)
        while let event = reader.next() {
            switch event {
            case .line(let bytes): receive(bytes, handle: handle)
            case .tooLong:
                send(Self.errorReply(id: .null, .invalidRequest("a message longer than \(Self.maxLine) bytes (the rest of the line is skipped)")))
            }
        }
        stateLock.withLock {
            closed = true
            for continuation in pending.values {
                continuation.resume(throwing: ToolFailure("the client closed the connection"))
            }
            pending.removeAll()
        }
        inFlight.wait()
    }

    /// Sends a request to the peer and waits for its answer (a JSON-RPC error becomes a `ToolFailure`).
    func request(_ method: String, params: JSONValue) async throws -> JSONValue {
        try await withCheckedThrowingContinuation { continuation in
            let id: String? = stateLock.withLock {
                if closed { return nil }
                nextID += 1
                let id = "crucible-\(nextID)"
                pending[id] = continuation
                return id
            }
            guard let id else {
                continuation.resume(throwing: ToolFailure("the client closed the connection"))
                return
            }
            send(["jsonrpc": "2.0", "id": .string(id), "method": .string(method), "params": params])
        }
    }

    func send(_ message: JSONValue) {
        var line = Array(message.jsonText.utf8)
        line.append(UInt8(ascii: "\n"))
        writeLock.withLock {
            var offset = 0
            while offset < line.count {
                let written = line[offset...].withUnsafeBytes { write(output, $0.baseAddress, $0.count) }
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }  // the client is gone; the reader will see EOF
                offset += written
            }
        }
    }

    private func receive(_ bytes: [UInt8], handle: @escaping Handler) {
        let message: JSONValue
        switch JSONRPCLine.parse(bytes) {
        case .blank: return
        case .invalid(let message):
            send(Self.errorReply(id: .null, RPCError(code: -32700, message: message)))
            return
        case .message(let parsed): message = parsed
        }
        if case .object(let members) = message, members["method"] == nil, let id = members["id"],
            members["result"] != nil || members["error"] != nil
        {
            routeResponse(id: id, members: members)
            return
        }
        if case .array(let batch) = message, batch.isEmpty {
            send(Self.errorReply(id: .null, .invalidRequest("an empty batch")))
            return
        }
        guard admit() else {
            let busy = RPCError.busy("\(maxInFlight) requests are in progress, the most this server takes at once; retry shortly")
            if case .array(let batch) = message {
                let replies = batch.compactMap { item -> JSONValue? in
                    guard let id = item["id"], JSONRPCLine.isValidID(id) else { return nil }
                    return Self.errorReply(id: id, busy)
                }
                if !replies.isEmpty { send(.array(replies)) }
            } else if let id = message["id"], JSONRPCLine.isValidID(id) {
                send(Self.errorReply(id: id, busy))
            }
            return
        }
        Thread { [self] in
            defer { leave() }
            if case .array(let batch) = message {
                let replies = batch.compactMap { dispatch($0, handle: handle) }
                if !replies.isEmpty { send(.array(replies)) }
            } else if let reply = dispatch(message, handle: handle) {
                send(reply)
            }
        }.start()
    }

    private func admit() -> Bool {
        stateLock.withLock {
            guard inFlightCount < maxInFlight else { return false }
            inFlightCount += 1
            inFlight.enter()
            return true
        }
    }

    private func leave() {
        stateLock.withLock { inFlightCount -= 1 }
        inFlight.leave()
    }

    private func routeResponse(id: JSONValue, members: [String: JSONValue]) {
        guard let key = id.stringValue, let continuation = stateLock.withLock({ pending.removeValue(forKey: key) }) else {
            return  // an answer to nothing we asked: ignored
        }
        if let error = members["error"] {
            let message = error["message"]?.stringValue ?? error.jsonText
            continuation.resume(throwing: ToolFailure(message))
        } else {
            continuation.resume(returning: members["result"] ?? .null)
        }
    }

    static func errorReply(id: JSONValue, _ error: RPCError) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "error": error.json]
    }

    /// The reply to one request, or nil for a notification.
    private func dispatch(_ message: JSONValue, handle: Handler) -> JSONValue? {
        guard case .object(let members) = message else {
            return Self.errorReply(id: .null, .invalidRequest("a message must be an object"))
        }
        let id = members["id"]
        let validID = id.map(JSONRPCLine.isValidID) ?? true
        guard members["jsonrpc"] == "2.0", case .string(let method)? = members["method"], validID else {
            let problem = members["jsonrpc"] != "2.0" ? "\"jsonrpc\" must be \"2.0\""
                : validID ? "\"method\" must be a string" : "\"id\" must be a string, a number or null"
            return Self.errorReply(id: validID ? (id ?? .null) : .null, .invalidRequest(problem))
        }
        let params = members["params"]
        if let params {
            switch params {
            case .object, .array: break
            default:
                return id.map { Self.errorReply(id: $0, .invalidParams("params must be an object")) }
            }
        }
        do {
            let result = try handle(method, params)
            return id.map { ["jsonrpc": "2.0", "id": $0, "result": result] }
        } catch let error as RPCError {
            return id.map { Self.errorReply(id: $0, error) }
        } catch {
            return id.map { Self.errorReply(id: $0, .internalError("\(error)")) }
        }
    }
}
