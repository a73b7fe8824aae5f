import Crucible
import Foundation
import Logging
import MCP

/// MCP's stdio transport (one JSON message per line) over a pair of file descriptors: the
/// server's stdin and its private copy of stdout, or a child server's pipes.
///
/// The SDK's own `StdioTransport` makes both descriptors non-blocking and polls every 10 ms.
/// That changes the flags of a stdin shared with the parent (a terminal left non-blocking)
/// and adds up to 10 ms to every message, which a tool call from the sandbox to another MCP
/// server pays twice. This one reads on a thread of its own with blocking reads.
///
/// As a server it also keeps two promises the SDK (0.12.1) does not: a line that is not JSON
/// gets JSON-RPC's parse error with `"id": null` (the SDK invents an id), and when the client
/// closes its end, the requests already received are answered before the stream ends (the
/// SDK stops at end of input and drops answers still being worked on).
actor LineTransport: Transport {
    enum Role { case server, client }

    nonisolated let logger: Logger
    private let input: Int32
    private let output: Int32
    /// Serializes writes: the reader thread answers unparsable lines itself (server side).
    private let writeLock = NSLock()
    private let role: Role
    private let unanswered = UnansweredRequests()
    private let messages: AsyncThrowingStream<Data, Error>
    private let continuation: AsyncThrowingStream<Data, Error>.Continuation
    private var connected = false
    private var handedOut = false
    private var afterEnd: AsyncThrowingStream<Data, Error>.Continuation?
    /// Largest message accepted: a peer that sends an endless line is cut off, not buffered.
    static let maxMessageBytes = 64 << 20

    /// Longest wait at end of input for answers still being worked on (a run_python may take 600 s).
    static let drainLimit: Duration = .seconds(660)

    init(input: Int32, output: Int32, label: String, role: Role) {
        self.input = input
        self.output = output
        self.role = role
        var logger = Logger(label: label) { _ in StreamLogHandler.standardError(label: label) }
        logger.logLevel = ProcessInfo.processInfo.environment["CRUCIBLE_MCP_DEBUG"] == nil ? .warning : .debug
        self.logger = logger
        (messages, continuation) = AsyncThrowingStream.makeStream()
    }

    func connect() async throws {
        guard !connected else { return }
        connected = true
        let (input, output, continuation, logger) = (self.input, self.output, self.continuation, self.logger)
        let (server, writeLock, unanswered) = (role == .server, self.writeLock, self.unanswered)
        let reader = Thread {
            var pending = Data()
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                pending.append(contentsOf: buffer[..<count])
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = pending[pending.startIndex..<newline]
                    if line.allSatisfy({ $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: " ") }) {
                        // A blank line between messages is not a message.
                    } else if !server {
                        continuation.yield(Data(line))
                    } else if let message = try? JSONValue(parsing: ArraySlice(line)) {
                        unanswered.received(message)
                        continuation.yield(Data(line))
                    } else {
                        let answer = #"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: "#
                            + #"the line is not JSON (one JSON-RPC message per line, UTF-8)"}}"# + "\n"
                        _ = writeLock.withLock { Self.writeAll(output, Data(answer.utf8)) }
                    }
                    pending.removeSubrange(pending.startIndex...newline)
                }
                if pending.count > Self.maxMessageBytes {
                    logger.error("a message longer than \(Self.maxMessageBytes) bytes; closing the connection")
                    break
                }
            }
            if server { unanswered.waitUntilAnswered(limit: Self.drainLimit) }
            continuation.finish()
        }
        reader.name = logger.label
        reader.start()
    }

    func disconnect() async {
        connected = false
        continuation.finish()
        afterEnd?.finish()
    }

    func send(_ data: Data) async throws {
        var message = data
        message.append(UInt8(ascii: "\n"))
        let written = writeLock.withLock { Self.writeAll(output, message) }
        if role == .server, let sent = try? JSONValue(parsing: ArraySlice(data)) { unanswered.sent(sent) }
        if !written { throw MCPError.connectionClosed }
    }

    private static func writeAll(_ descriptor: Int32, _ data: Data) -> Bool {
        data.withUnsafeBytes { bytes -> Bool in
            var offset = 0
            while offset < bytes.count {
                let count = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { return false }
                offset += count
            }
            return true
        }
    }

    /// The messages. The SDK's client asks again whenever the stream ends (0.12.1 loops on
    /// `receive()` until its task is cancelled), so a second request gets a stream that stays
    /// open until `disconnect`, instead of an ended one that would make it spin.
    func receive() -> AsyncThrowingStream<Data, Error> {
        guard handedOut else {
            handedOut = true
            return messages
        }
        let (quiet, continuation) = AsyncThrowingStream<Data, Error>.makeStream()
        if connected { afterEnd = continuation } else { continuation.finish() }
        return quiet
    }
}

/// The requests a server has received and not yet answered, by id.
final class UnansweredRequests: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: Set<String> = []

    func received(_ message: JSONValue) {
        for item in message.arrayValue ?? [message] {
            if item["method"] != nil, let id = item["id"] {
                lock.withLock { _ = ids.insert(id.jsonText) }
            } else if item["method"]?.stringValue == "notifications/cancelled", let id = item["params"]?["requestId"] {
                lock.withLock { _ = ids.remove(id.jsonText) }  // the SDK sends no answer to a cancelled request
            }
        }
    }

    func sent(_ message: JSONValue) {
        for item in message.arrayValue ?? [message] where item["method"] == nil {
            if let id = item["id"] { lock.withLock { _ = ids.remove(id.jsonText) } }
        }
    }

    /// Blocks the calling thread (the reader's, at end of input) until every request is answered.
    func waitUntilAnswered(limit: Duration) {
        let deadline = ContinuousClock.now + limit
        while lock.withLock({ !ids.isEmpty }) && ContinuousClock.now < deadline { usleep(5_000) }
    }
}
