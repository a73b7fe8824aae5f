/// The framing on a worker's channel: `u32 little-endian length`, then `length` bytes
/// of which the first is the frame kind. The Python runtime (`Sandbox/python/crucible_sandbox/wire.py`,
/// held to this file by WireAgreementTests) and the SIGSYS reporter in `CSandboxKernel` write
/// the same format; docs/worker-protocol.md says
/// which frames may come when, and which of their fields the host trusts.
public enum WorkerFrameKind: UInt8, CaseIterable, Sendable {
    /// Host to worker: a job (binary header, filename, code, JSON extras; see `WorkerJob`).
    case job = 0x4A  // "J"
    /// Worker to host: a chunk of captured stdout.
    case stdout = 0x4F  // "O"
    /// Worker to host: a chunk of captured stderr.
    case stderr = 0x45  // "E"
    /// Worker to host: bytes of captured output dropped over the cap (u8 stream kind, u64 count).
    case outputDropped = 0x44  // "D"
    /// Worker to host: the job's result: the job's u64 token, then JSON.
    case result = 0x52  // "R"
    /// Worker to host: seccomp trapped a syscall (u32 number, u32 audit arch); the worker dies next.
    case seccompViolation = 0x53  // "S"
    /// Worker to host: warm-up done, ready for a job (empty payload); once, before the first job.
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

    /// The most output one "D" frame may report dropped. A single write is bounded by the
    /// worker's memory (at most 64 GiB here), so anything near 2^64 is forged.
    public static let maxDroppedPerFrame: UInt64 = 1 << 40
}

/// A frame from a worker whose layout was checked. Its contents are still the worker's
/// claims: docs/worker-protocol.md says which of them the host relies on.
public enum WorkerMessage: Sendable {
    case warm
    case confinementFailed(reason: String)
    case stdout(ArraySlice<UInt8>)
    case stderr(ArraySlice<UInt8>)
    case outputDropped(stderr: Bool, bytes: UInt64)
    case seccompViolation(syscall: UInt32, arch: UInt32)
    case toolCall(json: ArraySlice<UInt8>)
    case result(token: UInt64, json: ArraySlice<UInt8>)

    /// Decodes one worker-to-host frame; throws for a kind a worker never sends or a payload
    /// of the wrong shape.
    public init(kind: UInt8, payload: ArraySlice<UInt8>) throws(WorkerProtocolViolation) {
        switch WorkerFrameKind(rawValue: kind) {
        case .warm?:
            guard payload.isEmpty else { throw WorkerProtocolViolation("a 'warm' frame with a payload") }
            self = .warm
        case .confinementFailed?: self = .confinementFailed(reason: String(decoding: payload, as: UTF8.self))
        case .stdout?: self = .stdout(payload)
        case .stderr?: self = .stderr(payload)
        case .outputDropped?:
            guard payload.count == 9,
                let stream = payload.first, stream == WorkerFrameKind.stdout.rawValue || stream == WorkerFrameKind.stderr.rawValue
            else { throw WorkerProtocolViolation("a malformed 'output dropped' frame") }
            let count = Self.word64(payload, at: 1)
            guard count <= WorkerFrame.maxDroppedPerFrame else {
                throw WorkerProtocolViolation("an 'output dropped' frame claiming \(count) bytes, over \(WorkerFrame.maxDroppedPerFrame)")
            }
            self = .outputDropped(stderr: stream == WorkerFrameKind.stderr.rawValue, bytes: count)
        case .seccompViolation?:
            guard payload.count == 8 else { throw WorkerProtocolViolation("a malformed seccomp report") }
            self = .seccompViolation(
                syscall: UInt32(truncatingIfNeeded: Self.word64(payload, at: 0)),
                arch: UInt32(truncatingIfNeeded: Self.word64(payload, at: 4)))
        case .toolCall?: self = .toolCall(json: payload)
        case .result?:
            guard payload.count >= 8 else { throw WorkerProtocolViolation("a result frame without its job token") }
            self = .result(token: Self.word64(payload, at: 0), json: payload.dropFirst(8))
        case .job?, .toolAnswer?:
            throw WorkerProtocolViolation("a host-to-worker frame kind (\(UnicodeScalar(kind))) from the worker")
        case nil:
            throw WorkerProtocolViolation("unknown frame kind 0x\(String(kind, radix: 16))")
        }
    }

    /// Little-endian bytes from `offset`, up to 8 of them (fewer where the payload ends).
    private static func word64(_ bytes: ArraySlice<UInt8>, at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        let start = bytes.startIndex + offset
        for index in 0..<8 where start + index < bytes.endIndex {
            value |= UInt64(bytes[start + index]) << (8 * UInt64(index))
        }
        return value
    }
}

/// Something a worker sent that the protocol does not allow: the execution ends with
/// outcome `protocol_violation`, and the worker is killed.
public struct WorkerProtocolViolation: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Splits a worker's byte stream into frames, refusing any frame larger than `maxFrame`.
public struct WorkerFrameReader: Sendable {
    public let maxFrame: Int
    private var bytes: [UInt8] = []
    private var start = 0

    public init(maxFrame: Int) { self.maxFrame = maxFrame }

    /// Bytes read but not yet returned as frames.
    public var bufferedBytes: Int { bytes.count - start }

    public mutating func append(_ chunk: ArraySlice<UInt8>) {
        if start > 0 && start == bytes.count {
            bytes.removeAll(keepingCapacity: true)
            start = 0
        }
        bytes.append(contentsOf: chunk)
    }

    /// The next complete frame (kind byte, payload), or nil when more bytes are needed.
    public mutating func next() throws(WorkerProtocolViolation) -> (kind: UInt8, payload: ArraySlice<UInt8>)? {
        guard bytes.count - start >= 4 else { return nil }
        let length = Int(bytes[start]) | Int(bytes[start + 1]) << 8 | Int(bytes[start + 2]) << 16 | Int(bytes[start + 3]) << 24
        guard length >= 1 else { throw WorkerProtocolViolation("an empty frame") }
        guard length <= maxFrame else {
            throw WorkerProtocolViolation("a frame of \(length) bytes, over the \(maxFrame)-byte limit")
        }
        guard bytes.count - start >= 4 + length else { return nil }
        let kind = bytes[start + 4]
        let payload = bytes[(start + 5)..<(start + 4 + length)]
        start += 4 + length
        if start > 1 << 20 {
            bytes.removeFirst(start)
            start = 0
            return (kind, ArraySlice(Array(payload)))
        }
        return (kind, payload)
    }
}
