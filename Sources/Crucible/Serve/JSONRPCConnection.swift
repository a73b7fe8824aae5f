import Foundation

/// JSON-RPC 2.0 over a pair of file descriptors, one message per line (newline-delimited
/// JSON, as MCP's stdio transport frames it). Both sides may send requests: the reader
/// routes responses to the requests this side sent, and hands requests and notifications
/// to `handle`, each on a thread of its own so slow requests never hold up others.
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
    private let writeLock = NSLock()
    private let stateLock = NSLock()
    private var pending: [String: CheckedContinuation<JSONValue, Error>] = [:]
    private var nextID = 0
    private var closed = false
    private let inFlight = DispatchGroup()

    init(input: Int32, output: Int32) {
        self.input = input
        self.output = output
    }

    /// Reads until the input ends, then waits for requests still running.
    func run(handle: @escaping Handler) {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var discarding = false
        while true {
            let count = read(input, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            var start = 0
            for index in 0..<count where chunk[index] == UInt8(ascii: "\n") {
                if !discarding { buffer.append(contentsOf: chunk[start..<index]) }
                if !discarding { receive(buffer, handle: handle) }
                buffer.removeAll(keepingCapacity: true)
                discarding = false
                start = index + 1
            }
            if !discarding { buffer.append(contentsOf: chunk[start..<count]) }
            if buffer.count > Self.maxLine {
                send(["jsonrpc": "2.0", "id": nil, "error": RPCError.invalidRequest("a message longer than \(Self.maxLine) bytes").json])
                buffer.removeAll()
                discarding = true
            }
        }
        if !buffer.isEmpty && !discarding { receive(buffer, handle: handle) }
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
        if bytes.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") }) { return }
        let message: JSONValue
        do { message = try JSONValue(parsing: String(decoding: bytes, as: UTF8.self)) } catch {
            send(["jsonrpc": "2.0", "id": nil, "error": RPCError.parse("the line is not JSON").json])
            return
        }
        if case .array(let batch) = message {
            guard !batch.isEmpty else {
                send(["jsonrpc": "2.0", "id": nil, "error": RPCError.invalidRequest("an empty batch").json])
                return
            }
            inFlight.enter()
            Thread { [self] in
                defer { inFlight.leave() }
                let replies = batch.compactMap { dispatch($0, handle: handle) }
                if !replies.isEmpty { send(.array(replies)) }
            }.start()
            return
        }
        if case .object(let members) = message, members["method"] == nil, let id = members["id"],
            members["result"] != nil || members["error"] != nil
        {
            routeResponse(id: id, members: members)
            return
        }
        inFlight.enter()
        Thread { [self] in
            defer { inFlight.leave() }
            if let reply = dispatch(message, handle: handle) { send(reply) }
        }.start()
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

    /// The reply to one request, or nil for a notification.
    private func dispatch(_ message: JSONValue, handle: Handler) -> JSONValue? {
        guard case .object(let members) = message else {
            return ["jsonrpc": "2.0", "id": nil, "error": RPCError.invalidRequest("a message must be an object").json]
        }
        let id = members["id"]
        let validID: Bool
        switch id {
        case nil, .string?, .int?, .null?: validID = true
        default: validID = false
        }
        guard members["jsonrpc"] == "2.0", case .string(let method)? = members["method"], validID else {
            let problem = members["jsonrpc"] != "2.0" ? "\"jsonrpc\" must be \"2.0\""
                : validID ? "\"method\" must be a string" : "\"id\" must be a string, a number or null"
            return ["jsonrpc": "2.0", "id": validID ? (id ?? .null) : .null, "error": RPCError.invalidRequest(problem).json]
        }
        let params = members["params"]
        if let params {
            switch params {
            case .object, .array: break
            default:
                return id == nil ? nil : ["jsonrpc": "2.0", "id": id!, "error": RPCError.invalidParams("params must be an object").json]
            }
        }
        do {
            let result = try handle(method, params)
            return id.map { ["jsonrpc": "2.0", "id": $0, "result": result] }
        } catch let error as RPCError {
            return id.map { ["jsonrpc": "2.0", "id": $0, "error": error.json] }
        } catch {
            return id.map { ["jsonrpc": "2.0", "id": $0, "error": RPCError.internalError("\(error)").json] }
        }
    }
}
