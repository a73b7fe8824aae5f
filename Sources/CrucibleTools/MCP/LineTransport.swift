import CrucibleWire
import Foundation
import Logging
import MCP

/// MCP's stdio transport for the MCP SDK, over the shared line transport (`JSONRPCLines`): the
/// server's stdin and its private copy of stdout, or a child server's pipes. (The SDK's own
/// `StdioTransport` makes both descriptors non-blocking and polls every 10 ms: up to 10 ms on
/// every message, which a tool call from the sandbox to another MCP server pays twice.)
///
/// As a server it keeps JSON-RPC's promises where the SDK (0.12.1) does not, answering
/// itself, before the SDK sees the line: unreadable and over-long lines as `JSONRPCLines`
/// answers them; a request whose id is an object, a list or a boolean gets -32600 with id
/// null; a number id the SDK would rewrite (`1.0`, or beyond 64 bits) is answered exactly as
/// it was sent; a request beyond `maxInFlight` gets -32003 ("busy").
///
/// When the client closes its end (MCP's way to shut a stdio server down) the server has
/// `shutdownGrace` to answer what it is working on; then `onInputEnd` cancels the rest, and
/// whatever is still unanswered is answered with an error before the stream ends.
package actor LineTransport: Transport {
    package enum Role { case server, client }

    package nonisolated let logger: Logger
    private let lines: JSONRPCLines
    private let role: Role
    private let requests: ServerRequests
    private let messages: AsyncThrowingStream<Data, Error>
    private let continuation: AsyncThrowingStream<Data, Error>.Continuation
    private var connected = false
    private var handedOut = false
    private var afterEnd: AsyncThrowingStream<Data, Error>.Continuation?
    private nonisolated let onInputEnd = Locked<(@Sendable () -> Void)?>(nil)
    /// How long requests in progress may still finish once the client has closed its end;
    /// MCP clients wait about two seconds for the server to exit before they signal it.
    static let shutdownGrace: Duration = .seconds(1)
    /// How long cancelled work may take to report itself before the transport answers for it.
    static let cancelledAnswerLimit: Duration = .seconds(3)

    package init(input: Int32, output: Int32, label: String, role: Role, maxInFlight: Int = 2048) {
        lines = JSONRPCLines(input: input, output: output, role: role == .server ? .server : .client)
        self.role = role
        self.requests = ServerRequests(maxInFlight: maxInFlight)
        var logger = Logger(label: label) { _ in StreamLogHandler.standardError(label: label) }
        logger.logLevel = ProcessInfo.processInfo.environment["CRUCIBLE_MCP_DEBUG"] == nil ? .warning : .debug
        self.logger = logger
        (messages, continuation) = AsyncThrowingStream.makeStream()
    }

    /// What to run when the client closes its end and the grace period is over: stop the work
    /// still running (its requests are then answered as cancelled).
    package nonisolated func setInputEndHandler(_ handler: @escaping @Sendable () -> Void) { onInputEnd.withLock { $0 = handler } }

    package func connect() async throws {
        guard !connected else { return }
        connected = true
        let (lines, continuation, logger) = (self.lines, self.continuation, self.logger)
        let (server, requests, inputEnded) = (role == .server, self.requests, self.onInputEnd)
        // A thread of its own: the read blocks (see JSONRPCLines).
        let reader = Thread {
            lines.receive(unreadable: { logger.error("skipped a line from the server: \($0)") }) { message, bytes in
                guard server else {
                    continuation.yield(Data(bytes))
                    return
                }
                let arrival = requests.received(message)
                arrival.replies.forEach { lines.send($0) }
                switch arrival.forward {
                case .original: continuation.yield(Data(bytes))
                case .changed(let checked): continuation.yield(Data(checked.jsonText.utf8))
                case .nothing: break
                }
            }
            if server {
                // The client closed its end: a moment for what is nearly done, then cancel the
                // rest, and answer for anything that still has no answer.
                requests.waitUntilAnswered(limit: Self.shutdownGrace)
                if requests.unansweredCount > 0 {
                    inputEnded.value?()
                    requests.waitUntilAnswered(limit: Self.cancelledAnswerLimit)
                }
                for id in requests.closeAndTakeUnanswered() {
                    lines.send(JSONRPCError(code: -32000,
                        message: "Server shutting down: the client closed its input before this request finished; it was cancelled"
                    ).response(id: id))
                }
            }
            continuation.finish()
        }
        reader.name = logger.label
        reader.start()
    }

    package func disconnect() async {
        connected = false
        continuation.finish()
        afterEnd?.finish()
    }

    package func send(_ data: Data) async throws {
        var message = [UInt8](data)
        if role == .server, let sent = try? JSONValue(parsing: ArraySlice(message)) {
            switch requests.sending(sent) {
            case .drop: return  // answered already, by the transport at shutdown
            case .rewritten(let restored): message = Array(restored.jsonText.utf8)
            case .unchanged: break
            }
        }
        if !lines.send(encoded: message) { throw MCPError.connectionClosed }
    }

    /// The messages. The SDK's client asks again whenever the stream ends (0.12.1 loops on
    /// `receive()` until its task is cancelled), so a second request gets a stream that stays
    /// open until `disconnect`, instead of an ended one that would make it spin.
    package func receive() -> AsyncThrowingStream<Data, Error> {
        guard handedOut else {
            handedOut = true
            return messages
        }
        let (quiet, continuation) = AsyncThrowingStream<Data, Error>.makeStream()
        if connected { afterEnd = continuation } else { continuation.finish() }
        return quiet
    }
}

/// A server's requests between arrival and answer: which are unanswered (by their id as the
/// client wrote it), which ids were swapped for ones the SDK keeps exact, and how many are in
/// progress at once.
final class ServerRequests: @unchecked Sendable {
    /// What becomes of a received message: the answers the transport writes itself, and what
    /// the SDK is handed.
    struct Arrival {
        enum Forward {
            case original
            /// The message with an id swapped, or a batch without its bad items.
            case changed(JSONValue)
            case nothing
        }
        var replies: [JSONValue] = []
        var forward: Forward = .original
    }

    enum Departure {
        case unchanged
        case rewritten(JSONValue)
        case drop
    }

    private let condition = MonotonicCondition()
    private let maxInFlight: Int
    /// Unanswered requests by the id's JSON text as the SDK sees it; the value is the id the client sent.
    private var unanswered: [String: JSONValue] = [:]
    /// Ids swapped in, to the ids the client sent (the SDK turns `1.0` into `1` and drops ids past 64 bits).
    private var swapped: [String: JSONValue] = [:]
    private var nextSwap = 0
    private var closed = false

    init(maxInFlight: Int) { self.maxInFlight = max(1, maxInFlight) }

    func received(_ message: JSONValue) -> Arrival {
        condition.lock()
        defer { condition.unlock() }
        guard case .array(let items) = message else { return arriveLocked(message) }
        // A batch: its bad items answered here, the good ones handed on together.
        var arrival = Arrival()
        var forwarded: [JSONValue] = []
        var changed = false
        for item in items {
            let one = arriveLocked(item)
            arrival.replies += one.replies
            switch one.forward {
            case .original: forwarded.append(item)
            case .changed(let checked):
                forwarded.append(checked)
                changed = true
            case .nothing: changed = true
            }
        }
        if forwarded.isEmpty { arrival.forward = .nothing } else if changed { arrival.forward = .changed(.array(forwarded)) }
        return arrival
    }

    private func arriveLocked(_ message: JSONValue) -> Arrival {
        guard case .object(var members) = message else { return Arrival() }
        if members["method"]?.stringValue == "notifications/cancelled", let requestID = members["params"]?["requestId"] {
            // Refer to a swapped id by the id the SDK knows it under.
            if let known = swapped.first(where: { $0.value == requestID })?.key,
                case .object(var params) = members["params"]!
            {
                params["requestId"] = .string(known)
                members["params"] = .object(params)
                return Arrival(forward: .changed(.object(members)))
            }
            return Arrival()
        }
        guard members["method"] != nil, let id = members["id"] else { return Arrival() }
        guard JSONRPCLine.isValidID(id), id != .null else {
            return Arrival(replies: [JSONRPCError.invalidRequest(
                "\"id\" must be a string or a number (an object, a list, a boolean or null is not an id)").response(id: .null)],
                forward: .nothing)
        }
        guard unanswered.count < maxInFlight else {
            return Arrival(replies: [JSONRPCError.busy(
                "\(maxInFlight) requests are in progress, the most this server takes at once; retry shortly").response(id: id)],
                forward: .nothing)
        }
        switch id {
        case .double, .bigInteger:
            nextSwap += 1
            let stand = "crucible-id-\(nextSwap)"
            swapped[stand] = id
            unanswered[JSONValue.string(stand).jsonText] = id
            members["id"] = .string(stand)
            return Arrival(forward: .changed(.object(members)))
        default:
            unanswered[id.jsonText] = id
            return Arrival()
        }
    }

    func sending(_ message: JSONValue) -> Departure {
        condition.lock()
        defer { condition.unlock() }
        guard case .object(var members) = message, members["method"] == nil, let id = members["id"] else {
            return .unchanged
        }
        let key = id.jsonText
        guard unanswered.removeValue(forKey: key) != nil else { return closed ? .drop : .unchanged }
        condition.broadcast()
        if let stand = id.stringValue, let original = swapped.removeValue(forKey: stand) {
            members["id"] = original
            return .rewritten(.object(members))
        }
        return .unchanged
    }

    var unansweredCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return unanswered.count
    }

    /// Blocks the calling thread (the reader's, at end of input) until every request is answered or `limit` passes.
    func waitUntilAnswered(limit: Duration) {
        let deadline = MonotonicCondition.Deadline.after(limit)
        condition.lock()
        defer { condition.unlock() }
        while !unanswered.isEmpty {
            if !condition.wait(until: deadline) { return }
        }
    }

    /// The ids still unanswered (as the client sent them); later answers to them are dropped.
    func closeAndTakeUnanswered() -> [JSONValue] {
        condition.lock()
        defer { condition.unlock() }
        closed = true
        let ids = Array(unanswered.values)
        unanswered.removeAll()
        swapped.removeAll()
        return ids
    }
}

