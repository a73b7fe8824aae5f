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
actor LineTransport: Transport {
    nonisolated let logger: Logger
    private let input: Int32
    private let output: Int32
    private let messages: AsyncThrowingStream<Data, Error>
    private let continuation: AsyncThrowingStream<Data, Error>.Continuation
    private var connected = false
    private var handedOut = false
    private var afterEnd: AsyncThrowingStream<Data, Error>.Continuation?
    /// Largest message accepted: a peer that sends an endless line is cut off, not buffered.
    static let maxMessageBytes = 64 << 20

    init(input: Int32, output: Int32, label: String) {
        self.input = input
        self.output = output
        var logger = Logger(label: label) { _ in StreamLogHandler.standardError(label: label) }
        logger.logLevel = ProcessInfo.processInfo.environment["CRUCIBLE_MCP_DEBUG"] == nil ? .warning : .debug
        self.logger = logger
        (messages, continuation) = AsyncThrowingStream.makeStream()
    }

    func connect() async throws {
        guard !connected else { return }
        connected = true
        let (input, continuation, logger) = (self.input, self.continuation, self.logger)
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
                    if !line.allSatisfy({ $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: " ") }) {
                        continuation.yield(Data(line))
                    }
                    pending.removeSubrange(pending.startIndex...newline)
                }
                if pending.count > Self.maxMessageBytes {
                    logger.error("a message longer than \(Self.maxMessageBytes) bytes; closing the connection")
                    break
                }
            }
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
        let written = message.withUnsafeBytes { bytes -> Bool in
            var offset = 0
            while offset < bytes.count {
                let count = write(output, bytes.baseAddress! + offset, bytes.count - offset)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { return false }
                offset += count
            }
            return true
        }
        if !written { throw MCPError.connectionClosed }
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
