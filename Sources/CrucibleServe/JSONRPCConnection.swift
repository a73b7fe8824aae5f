import CrucibleTools
import CrucibleWire
import Foundation
import Synchronization

/// JSON-RPC 2.0 for `crucible serve`, over the shared line transport (`JSONRPCLines`). Both
/// sides may send requests: responses are routed to the requests this side sent, and requests
/// and notifications go to `handle`. Threads take turns reading (`ReadingTurns`): the one that
/// reads a request passes the turn on and handles it, so slow requests never hold up others.
/// (Handlers block: an execution waits on its worker. On Swift's cooperative pool, one thread
/// per core, a few of them would stall every other request.)
///
/// Every line gets an answer or a deliberate silence (a notification): a line that is not
/// UTF-8 or not JSON gets -32700, a malformed request -32600, and a request beyond
/// `maxInFlight` gets -32003 ("busy") at once, from the reading thread.
final class JSONRPCConnection: Sendable {
    typealias Handler = @Sendable (_ method: String, _ params: JSONValue?) throws -> JSONValue

    private struct State {
        /// Threads waiting in `requestWaiting`, by request id.
        var pending: [String: ReplySlot] = [:]
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

    /// Reads until the input ends, then waits for requests still running. The calling thread
    /// takes its turns at reading and handling with the threads the connection starts.
    func run(handle: @escaping Handler) {
        takeTurns(reader: lines.makeReader(), turns: ReadingTurns(), handle: handle, untilEnd: true)
        running.wait()
    }

    /// One thread's life: read when it is this thread's turn, handle the request read, again.
    /// A thread other than `run`'s ends when enough others wait for the turn.
    private func takeTurns(reader: JSONRPCLines.Reader, turns: ReadingTurns, handle: @escaping Handler, untilEnd: Bool) {
        while turns.take() {
            guard let request = nextRequest(reader) else {
                inputEnded(turns)
                return
            }
            turns.pass {
                Thread { [self] in takeTurns(reader: reader, turns: turns, handle: handle, untilEnd: false) }.start()
            }
            answer(request, handle: handle)
            if !untilEnd && !turns.wanted { return }
        }
    }

    /// Reads until a request to handle arrives (and is admitted); nil at the end of input.
    /// Responses, unreadable lines and refusals are dealt with here, by the reading thread.
    private func nextRequest(_ reader: JSONRPCLines.Reader) -> JSONValue? {
        while let incoming = reader.next() {
            switch incoming {
            case .refused(let refusal): send(refusal.response(id: .null))
            case .message(let message, _):
                if admitted(message) { return message }
            }
        }
        return nil
    }

    private func inputEnded(_ turns: ReadingTurns) {
        turns.end()
        let orphans = state.withLock { state in
            state.closed = true
            defer { state.pending.removeAll() }
            return Array(state.pending.values)
        }
        for waiter in orphans { waiter.fill(.failure(ToolFailure("the client closed the connection"))) }
    }

    /// Sends a request to the peer and blocks the calling thread until its answer (a JSON-RPC
    /// error becomes a `ToolFailure`), or `timeout` (nil). The reading thread wakes this one
    /// directly: no task, and none of the cooperative pool's threads to wake on the way.
    func requestWaiting(_ method: String, params: JSONValue, timeout: Duration) throws -> JSONValue? {
        let slot = ReplySlot()
        guard let id = register(slot) else { throw ToolFailure("the client closed the connection") }
        send(["jsonrpc": "2.0", "id": .string(id), "method": .string(method), "params": params])
        if let reply = slot.wait(timeout: timeout) { return try reply.get() }
        // No answer in time: a late one is ignored.
        _ = state.withLock { $0.pending.removeValue(forKey: id) }
        return try slot.take().map { try $0.get() }
    }

    /// The id of a new request, its waiter registered; nil once the connection closed.
    private func register(_ waiter: ReplySlot) -> String? {
        state.withLock { state in
            if state.closed { return nil }
            state.nextID += 1
            let id = "crucible-\(state.nextID)"
            state.pending[id] = waiter
            return id
        }
    }

    /// Writes one message; a client that has gone is noticed by the reader (end of input).
    func send(_ message: JSONValue) { lines.send(message) }

    /// Whether `message` is a request (or batch) to handle now. What is not is dealt with here:
    /// a response goes to its waiter, an empty batch and a request over `maxInFlight` are refused.
    private func admitted(_ message: JSONValue) -> Bool {
        if case .object(let members) = message, members["method"] == nil, let id = members["id"],
            members["result"] != nil || members["error"] != nil
        {
            routeResponse(id: id, members: members)
            return false
        }
        if case .array(let batch) = message, batch.isEmpty {
            send(JSONRPCError.invalidRequest("an empty batch").response(id: .null))
            return false
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
            return false
        }
        return true
    }

    /// Handles an admitted request (or batch) and sends its reply.
    private func answer(_ message: JSONValue, handle: Handler) {
        defer { leave() }
        if case .array(let batch) = message {
            let replies = batch.compactMap { dispatch($0, handle: handle) }
            if !replies.isEmpty { send(.array(replies)) }
        } else if let reply = dispatch(message, handle: handle) {
            send(reply)
        }
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
        guard let key = id.stringValue, let waiter = state.withLock({ $0.pending.removeValue(forKey: key) }) else {
            return  // an answer to nothing we asked: ignored
        }
        if let error = members["error"] {
            waiter.fill(.failure(ToolFailure(error["message"]?.stringValue ?? error.jsonText)))
        } else {
            waiter.fill(.success(members["result"] ?? .null))
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

/// Where the reading thread leaves the answer for a thread blocked in `requestWaiting`.
final class ReplySlot: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private let stored = Mutex<Result<JSONValue, Error>?>(nil)

    func fill(_ reply: Result<JSONValue, Error>) {
        stored.withLock { $0 = reply }
        semaphore.signal()
    }

    /// The answer, or nil when none came within `timeout`.
    func wait(timeout: Duration) -> Result<JSONValue, Error>? {
        let nanoseconds = Int(min(max(0, timeout.seconds), 86_400) * 1e9)
        guard semaphore.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success else { return nil }
        return take()
    }

    /// The answer if one is there (one that came just as the wait timed out).
    func take() -> Result<JSONValue, Error>? { stored.withLock { $0 } }
}
