import CrucibleTools
import CrucibleWire
import Foundation
import Synchronization

/// JSON-RPC 2.0 for `crucible serve`, over the shared line transport (`JSONRPCLines`). Both
/// sides may send requests: responses are routed to the requests this side sent, and requests
/// and notifications go to `handle`, each on a thread of its own so slow requests never hold
/// up others. (Handlers block: an execution waits on its worker. On Swift's cooperative pool,
/// one thread per core, a few of them would stall every other request.)
///
/// Every line gets an answer or a deliberate silence (a notification): a line that is not
/// UTF-8 or not JSON gets -32700, a malformed request -32600, and a request beyond
/// `maxInFlight` gets -32003 ("busy") at once instead of a thread.
final class JSONRPCConnection: Sendable {
    typealias Handler = @Sendable (_ method: String, _ params: JSONValue?) throws -> JSONValue

    private struct State {
        var pending: [String: CheckedContinuation<JSONValue, Error>] = [:]
        var nextID = 0
        var closed = false
        var inFlight = 0
    }

    private let lines: JSONRPCLines
    /// Requests (and batches) being handled at once; one more is answered "busy".
    let maxInFlight: Int
    private let state = Mutex(State())
    private let running = DispatchGroup()

    init(input: Int32, output: Int32, maxInFlight: Int = 1024) {
        lines = JSONRPCLines(input: input, output: output, role: .server)
        self.maxInFlight = max(1, maxInFlight)
    }

    /// Reads until the input ends, then waits for requests still running.
    func run(handle: @escaping Handler) {
        lines.receive { message, _ in receive(message, handle: handle) }
        let orphans = state.withLock { state in
            state.closed = true
            defer { state.pending.removeAll() }
            return Array(state.pending.values)
        }
        for continuation in orphans { continuation.resume(throwing: ToolFailure("the client closed the connection")) }
        running.wait()
    }

    /// Sends a request to the peer and waits for its answer (a JSON-RPC error becomes a `ToolFailure`).
    func request(_ method: String, params: JSONValue) async throws -> JSONValue {
        try await withCheckedThrowingContinuation { continuation in
            let id: String? = state.withLock { state in
                if state.closed { return nil }
                state.nextID += 1
                let id = "crucible-\(state.nextID)"
                state.pending[id] = continuation
                return id
            }
            guard let id else {
                continuation.resume(throwing: ToolFailure("the client closed the connection"))
                return
            }
            send(["jsonrpc": "2.0", "id": .string(id), "method": .string(method), "params": params])
        }
    }

    /// Writes one message; a client that has gone is noticed by the reader (end of input).
    func send(_ message: JSONValue) { lines.send(message) }

    private func receive(_ message: JSONValue, handle: @escaping Handler) {
        if case .object(let members) = message, members["method"] == nil, let id = members["id"],
            members["result"] != nil || members["error"] != nil
        {
            routeResponse(id: id, members: members)
            return
        }
        if case .array(let batch) = message, batch.isEmpty {
            send(JSONRPCError.invalidRequest("an empty batch").response(id: .null))
            return
        }
        guard admit() else {
            let busy = JSONRPCError.busy("\(maxInFlight) requests are in progress, the most this server takes at once; retry shortly")
            if case .array(let batch) = message {
                let replies = batch.compactMap { item -> JSONValue? in
                    guard let id = item["id"], JSONRPCLine.isValidID(id) else { return nil }
                    return busy.response(id: id)
                }
                if !replies.isEmpty { send(.array(replies)) }
            } else if let id = message["id"], JSONRPCLine.isValidID(id) {
                send(busy.response(id: id))
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
        let admitted = state.withLock { state in
            guard state.inFlight < maxInFlight else { return false }
            state.inFlight += 1
            return true
        }
        if admitted { running.enter() }
        return admitted
    }

    private func leave() {
        state.withLock { $0.inFlight -= 1 }
        running.leave()
    }

    private func routeResponse(id: JSONValue, members: [String: JSONValue]) {
        guard let key = id.stringValue, let continuation = state.withLock({ $0.pending.removeValue(forKey: key) }) else {
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
            return JSONRPCError.invalidRequest("a message must be an object").response(id: .null)
        }
        let id = members["id"]
        let validID = id.map(JSONRPCLine.isValidID) ?? true
        guard members["jsonrpc"] == "2.0", case .string(let method)? = members["method"], validID else {
            let problem = members["jsonrpc"] != "2.0" ? "\"jsonrpc\" must be \"2.0\""
                : validID ? "\"method\" must be a string" : "\"id\" must be a string, a number or null"
            return JSONRPCError.invalidRequest(problem).response(id: validID ? (id ?? .null) : .null)
        }
        let params = members["params"]
        if let params {
            switch params {
            case .object, .array: break
            default:
                return id.map { JSONRPCError.invalidParams("params must be an object").response(id: $0) }
            }
        }
        do {
            let result = try handle(method, params)
            return id.map { ["jsonrpc": "2.0", "id": $0, "result": result] }
        } catch let error as JSONRPCError {
            return id.map { error.response(id: $0) }
        } catch {
            return id.map { JSONRPCError.internalError("\(error)").response(id: $0) }
        }
    }
}
