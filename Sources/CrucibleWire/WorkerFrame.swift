/// The framing on a worker's channel: `u32 little-endian length`, then `length` bytes
/// of which the first is the frame kind. The Python runtime in `Sandbox/python` and the
/// SIGSYS reporter in `CSandboxKernel` write the same format.
public enum WorkerFrameKind: UInt8, Sendable {
    /// Host to worker: a job (binary header, filename, code, JSON extras; see `WorkerJob`).
    case job = 0x4A  // "J"
    /// Worker to host: a chunk of captured stdout.
    case stdout = 0x4F  // "O"
    /// Worker to host: a chunk of captured stderr.
    case stderr = 0x45  // "E"
    /// Worker to host: bytes of captured output dropped over the cap (u8 stream kind, u64 count).
    case outputDropped = 0x44  // "D"
    /// Worker to host: the job's result, as JSON.
    case result = 0x52  // "R"
    /// Worker to host: seccomp trapped a syscall (u32 number, u32 audit arch); the worker dies next.
    case seccompViolation = 0x53  // "S"
    /// Worker to host: warm-up done, ready for a job (empty payload; the host skips it).
    case warm = 0x57  // "W"
    /// Worker to host: a tool call, as JSON `{"name", "arguments"}`; the worker blocks for the answer.
    case toolCall = 0x43  // "C"
    /// Host to worker: the answer to a tool call, as JSON `{"ok", "result"}` or `{"ok": false, "error"}`.
    case toolAnswer = 0x41  // "A"
    /// Worker to host: confinement failed before any user code ran (UTF-8 reason).
    case confinementFailed = 0x46  // "F"
}

public enum WorkerFrame {
    public static let headerSize = 4

    /// Encodes one frame.
    public static func encode(_ kind: WorkerFrameKind, _ payload: some Collection<UInt8>) -> [UInt8] {
        let length = UInt32(payload.count + 1)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(payload.count + 5)
        withUnsafeBytes(of: length.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(kind.rawValue)
        bytes.append(contentsOf: payload)
        return bytes
    }
}

/// Confinement layers a worker applies; all are on unless a test turns one off.
public struct ConfinementLayers: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let closeDescriptors = ConfinementLayers(rawValue: 1 << 0)
    public static let resourceLimits = ConfinementLayers(rawValue: 1 << 1)
    public static let processControls = ConfinementLayers(rawValue: 1 << 2)
    public static let landlock = ConfinementLayers(rawValue: 1 << 3)
    public static let seccomp = ConfinementLayers(rawValue: 1 << 4)

    public static let all: ConfinementLayers = [
        .closeDescriptors, .resourceLimits, .processControls, .landlock, .seccomp,
    ]
}
