/// Messages between the host and the zygote on their SOCK_SEQPACKET control socket.
/// Each is a sequence of little-endian u64 words, optionally followed by UTF-8 text;
/// descriptors travel beside them as SCM_RIGHTS.
public enum ControlMessage: Equatable, Sendable {
    /// Host to zygote: fork `count` workers with these limits and layers.
    case spawn(request: UInt64, count: UInt64, limits: WorkerLimits, layers: ConfinementLayers)
    /// Zygote to host: a worker; its channel and pidfd come as descriptors.
    case worker(request: UInt64, pid: Int32)
    /// Zygote to host: a worker ended (raw wait status, CPU time, peak RSS).
    case exited(pid: Int32, waitStatus: Int32, cpuMicroseconds: UInt64, maxRSSKiB: UInt64)
    /// Zygote to host: initialized; the text is a JSON report of the active layers.
    case ready(report: String)
    /// Zygote to host: a spawn request failed.
    case spawnFailed(request: UInt64, errno: Int32, reason: String)
    /// Zygote to host, instead of `ready`: a module the user asked to preload cannot be
    /// imported (the text: the module and the exception), and the zygote exits.
    case preloadFailed(reason: String)

    public static let maxSize = 65_536

    public func encode() -> [UInt8] {
        var words: [UInt64]
        var text = ""
        switch self {
        case .spawn(let request, let count, let limits, let layers):
            words = [1, request, count, limits.memoryBytes, limits.cpuSeconds,
                     limits.fileSizeBytes, limits.openFiles, layers.rawValue]
        case .worker(let request, let pid):
            words = [2, request, UInt64(UInt32(bitPattern: pid))]
        case .exited(let pid, let status, let cpu, let rss):
            words = [3, UInt64(UInt32(bitPattern: pid)), UInt64(UInt32(bitPattern: status)), cpu, rss]
        case .ready(let report):
            words = [4]
            text = report
        case .spawnFailed(let request, let errno, let reason):
            words = [5, request, UInt64(UInt32(bitPattern: errno))]
            text = reason
        case .preloadFailed(let reason):
            words = [6]
            text = reason
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(words.count * 8 + 8 + text.utf8.count)
        bytes.append(contentsOf: Self.word(UInt64(words.count)))
        for word in words { bytes.append(contentsOf: Self.word(word)) }
        bytes.append(contentsOf: text.utf8)
        return bytes
    }

    /// Decodes a message; nil when the bytes are not a message this version knows.
    public static func decode(_ bytes: ArraySlice<UInt8>) -> ControlMessage? {
        guard let count = readWord(bytes, at: 0), count >= 1, count <= 16,
            bytes.count >= Int(count + 1) * 8
        else { return nil }
        let words = (1...Int(count)).map { readWord(bytes, at: $0)! }
        let text = String(decoding: bytes.dropFirst(Int(count + 1) * 8), as: UTF8.self)
        func i32(_ w: UInt64) -> Int32 { Int32(bitPattern: UInt32(truncatingIfNeeded: w)) }
        switch (words[0], words.count) {
        case (1, 8):
            let limits = WorkerLimits(
                memoryBytes: words[3], cpuSeconds: words[4], fileSizeBytes: words[5], openFiles: words[6])
            return .spawn(request: words[1], count: words[2], limits: limits,
                          layers: ConfinementLayers(rawValue: words[7]))
        case (2, 3): return .worker(request: words[1], pid: i32(words[2]))
        case (3, 5):
            return .exited(pid: i32(words[1]), waitStatus: i32(words[2]), cpuMicroseconds: words[3], maxRSSKiB: words[4])
        case (4, 1): return .ready(report: text)
        case (5, 3): return .spawnFailed(request: words[1], errno: i32(words[2]), reason: text)
        case (6, 1): return .preloadFailed(reason: text)
        default: return nil
        }
    }

    private static func word(_ value: UInt64) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    private static func readWord(_ bytes: ArraySlice<UInt8>, at index: Int) -> UInt64? {
        let start = bytes.startIndex + index * 8
        guard start + 8 <= bytes.endIndex else { return nil }
        var value: UInt64 = 0
        for offset in 0..<8 { value |= UInt64(bytes[start + offset]) << (8 * offset) }
        return value
    }
}

/// The kernel-enforced limits a worker is forked with. Wall clock and output caps are
/// the host's and are not here.
public struct WorkerLimits: Equatable, Hashable, Sendable {
    /// Address space the code may map beyond the interpreter the worker inherits (RLIMIT_AS = inherited + this).
    public var memoryBytes: UInt64
    /// RLIMIT_CPU soft limit; the hard limit (SIGKILL) is one second later.
    public var cpuSeconds: UInt64
    /// RLIMIT_FSIZE.
    public var fileSizeBytes: UInt64
    /// RLIMIT_NOFILE.
    public var openFiles: UInt64

    public init(memoryBytes: UInt64, cpuSeconds: UInt64, fileSizeBytes: UInt64, openFiles: UInt64) {
        self.memoryBytes = memoryBytes
        self.cpuSeconds = cpuSeconds
        self.fileSizeBytes = fileSizeBytes
        self.openFiles = openFiles
    }
}
