import Foundation

/// Newline-delimited messages from a descriptor (JSON-RPC over stdio, as `crucible serve` and
/// MCP's stdio transport frame them). Each read is scanned once; a line longer than `maxLine`
/// is refused as soon as it passes the limit and the rest of it is skipped, never buffered.
public struct LineReader {
    public enum Event: Equatable, Sendable {
        /// A line's bytes, without its newline.
        case line([UInt8])
        /// A line over the limit (reported once, when it passes it); its bytes are dropped up to
        /// its newline.
        case tooLong
    }

    public let maxLine: Int
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    /// Where the unread part of `buffer` begins, and how far it was searched for a newline.
    private var start = 0
    private var scanned = 0
    private var discarding = false
    private var ended = false
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)

    public init(descriptor: Int32, maxLine: Int) {
        self.descriptor = descriptor
        self.maxLine = maxLine
    }

    /// The next line or refusal; nil at the end of input. Blocks in read(2).
    public mutating func next() -> Event? {
        while true {
            if let newline = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                scanned = start
                compact()
                if discarding {
                    discarding = false
                    continue
                }
                return .line(line)
            }
            scanned = buffer.count
            if discarding {
                buffer.removeAll(keepingCapacity: true)
                start = 0
                scanned = 0
            } else if buffer.count - start > maxLine {
                discarding = true
                buffer.removeAll(keepingCapacity: true)
                start = 0
                scanned = 0
                return .tooLong
            }
            if ended {
                guard !discarding, start < buffer.count else { return nil }
                let last = Array(buffer[start...])
                buffer.removeAll()
                start = 0
                scanned = 0
                return .line(last)
            }
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 {
                ended = true
                continue
            }
            buffer.append(contentsOf: chunk[0..<count])
        }
    }

    /// Drops consumed bytes once they are most of the buffer (amortized: no copy per line).
    private mutating func compact() {
        if start > 0 && start * 2 >= buffer.count {
            buffer.removeFirst(start)
            scanned -= start
            start = 0
        }
    }
}
