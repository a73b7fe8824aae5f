import CSandboxKernel
import CSeccomp
import CrucibleWire
import Foundation

/// One job on one worker, driven from the calling thread. The worker is hostile: frames
/// are bounded, output is capped, the wall clock is the host's, and every way the worker
/// can end maps to exactly one `ExecutionOutcome`.
struct WorkerExecution {
    let worker: Worker
    let pool: WorkerPool
    let limits: ExecutionLimits
    var tools: ToolDispatcher? = nil
    /// Poll briefly for the worker's next frame after sending the job and each tool answer. Worth it for a warm
    /// session worker; not for a fresh one. Measured on a fresh worker (2 cores): one tool
    /// call took a job from 499 to 1,056 µs with the poll after the answer, three calls from
    /// 789 to 1,391 µs; the host's polling slows the cold worker more than it saves on waking.
    var spinForReplies = false

    /// The result, and whether the worker is still alive and answering (for sessions).
    func run(job: [UInt8]) -> (ExecutionResult, alive: Bool) {
        let started = ContinuousClock.now
        let deadline = started + limits.wallClock
        var stdout = CappedOutput(limit: limits.stdoutBytes)
        var stderr = CappedOutput(limit: limits.stderrBytes)
        var reader = FrameReader(maxFrame: 6 * limits.valueBytes + (1 << 20))
        var seccomp: (number: UInt32, arch: UInt32)?
        var confinementFailure: String?

        func finish(_ outcome: ExecutionOutcome, error: PythonError? = nil, value: PythonValue? = nil,
                    cpu: Duration? = nil, alive: Bool = false, reads: [(call: Int, path: String)] = []) -> (ExecutionResult, alive: Bool) {
            var result = ExecutionResult(
                outcome: outcome, value: value, stdout: stdout.text, stderr: stderr.text,
                stdoutTruncatedBytes: stdout.dropped, stderrTruncatedBytes: stderr.dropped, error: error,
                duration: ContinuousClock.now - started, cpuTime: cpu)
            if let tools { result.trace = tools.trace(reads: reads) }
            return (result, alive)
        }

        if !writeAll(WorkerFrame.encode(.job, job), deadline: deadline) {
            if ContinuousClock.now >= deadline {
                worker.kill()
                return finish(.timeout)
            }
            return classifyEnd(seccomp: nil, confinementFailure: nil, finish: { finish($0, error: $1, value: $2, cpu: $3, alive: $4) })
        }

        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        // After a timeout kill, output the worker sent before it died is still read (briefly).
        var killedAtDeadline = false
        var readUntil = deadline
        // Waking a thread blocked in poll() costs 25 µs to a millisecond here; a tool call that
        // follows its previous answer within `spinWindow` is picked up by polling without
        // blocking instead. Only in sessions (see `spinForReplies`).
        var spinUntil = ContinuousClock.now + (spinForReplies ? Self.spinWindow : .zero)
        while true {
            let remaining = readUntil - ContinuousClock.now
            if remaining <= .zero {
                if killedAtDeadline { return finish(.timeout) }
                worker.kill()
                killedAtDeadline = true
                readUntil = ContinuousClock.now + .milliseconds(200)
                continue
            }
            let count: Int
            if !killedAtDeadline && ContinuousClock.now < spinUntil {
                // Yield before each try, not after a failed one: a worker that shares this core
                // gets it at once, and its next frame is usually there when the try comes.
                sched_yield()
                count = recv(worker.channel, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if count < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            } else {
                var descriptor = pollfd(fd: worker.channel, events: Int16(POLLIN), revents: 0)
                let ready = poll(&descriptor, 1, Int32(min(max(1, remaining.seconds * 1000), 60_000)))
                if ready < 0 && errno != EINTR { break }
                if ready <= 0 { continue }
                count = read(worker.channel, &buffer, buffer.count)
            }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                break
            }
            if count == 0 { break }  // the worker's end closed: it died
            reader.append(buffer[0..<count])
            while true {
                let frame: (WorkerFrameKind?, ArraySlice<UInt8>)?
                do { frame = try reader.next() } catch {
                    worker.kill()
                    return finish(killedAtDeadline ? .timeout : .protocolViolation("\(error)"))
                }
                guard let (kind, payload) = frame else { break }
                switch kind {
                case .warm: continue
                case .stdout: stdout.append(payload)
                case .stderr: stderr.append(payload)
                case .outputDropped where payload.count == 9:
                    var count: UInt64 = 0
                    for (index, byte) in payload.dropFirst().enumerated() { count |= UInt64(byte) << (8 * UInt64(index)) }
                    let dropped = Int(clamping: count)
                    if payload.first == WorkerFrameKind.stdout.rawValue { stdout.droppedByWorker(dropped) }
                    else { stderr.droppedByWorker(dropped) }
                case _ where killedAtDeadline:
                    continue  // only output counts after the kill
                case .seccompViolation where payload.count == 8:
                    let words = payload.withUnsafeBytes { ($0.loadUnaligned(fromByteOffset: 0, as: UInt32.self),
                                                            $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) }
                    seccomp = (UInt32(littleEndian: words.0), UInt32(littleEndian: words.1))
                case .confinementFailed:
                    confinementFailure = String(decoding: payload, as: UTF8.self)
                case .result:
                    guard let wire = WireResult.decode(payload) else {
                        worker.kill()
                        return finish(.protocolViolation("the result frame is not the expected JSON"))
                    }
                    return finish(wire.outcome, error: wire.error, value: wire.value, alive: true, reads: wire.reads)
                case .toolCall:
                    let answer = tools?.answer(to: payload, deadline: deadline)
                        ?? Array("{\"ok\":false,\"error\":{\"type\":\"ToolError\",\"message\":\"no tools are available to this execution\"}}".utf8)
                    if !writeAll(WorkerFrame.encode(.toolAnswer, answer), deadline: deadline) {
                        if ContinuousClock.now >= deadline { continue }  // the loop kills it at the deadline
                        worker.kill()
                        return finish(.crashed(signal: nil, reason: "the worker stopped reading during a tool call"))
                    }
                    if spinForReplies { spinUntil = ContinuousClock.now + Self.spinWindow }
                default:
                    worker.kill()
                    return finish(.protocolViolation("unexpected frame kind \(kind.map { "\($0)" } ?? "unknown")"))
                }
            }
        }
        if killedAtDeadline { return finish(.timeout) }
        return classifyEnd(seccomp: seccomp, confinementFailure: confinementFailure, finish: { finish($0, error: $1, value: $2, cpu: $3, alive: $4) })
    }

    /// How long the host polls without blocking after it sends the worker something.
    static let spinWindow: Duration = .microseconds(300)

    /// The channel closed without a result: ask the zygote how the worker ended.
    private func classifyEnd(
        seccomp: (number: UInt32, arch: UInt32)?, confinementFailure: String?,
        finish: (ExecutionOutcome, PythonError?, PythonValue?, Duration?, Bool) -> (ExecutionResult, alive: Bool)
    ) -> (ExecutionResult, alive: Bool) {
        if let confinementFailure {
            return finish(.sandboxFailure("the worker could not confine itself: \(confinementFailure)"), nil, nil, nil, false)
        }
        let exit = pool.awaitExit(of: worker, timeout: .seconds(5))
        if let seccomp {
            return finish(.killedBySeccomp(syscall: syscallName(seccomp.number, arch: seccomp.arch)), nil, nil, nil, false)
        }
        switch exit {
        case .zygoteDied(let reason)?:
            return finish(.sandboxFailure(reason), nil, nil, nil, false)
        case nil:
            return finish(.crashed(signal: nil, reason: "the worker closed its channel and its end was not reported"),
                          nil, nil, nil, false)
        case .exited(let status, let cpuMicros, _)?:
            let cpu = Duration.microseconds(Int64(cpuMicros))
            let signal = status & 0x7f
            let cpuLimitMicros = UInt64(limits.effectiveCPUSeconds) * 1_000_000
            if signal == SIGXCPU || (signal == SIGKILL && cpuMicros + 50_000 >= cpuLimitMicros) {
                return finish(.cpuLimit, nil, nil, cpu, false)
            }
            if signal == SIGSYS {
                return finish(.killedBySeccomp(syscall: "unreported syscall"), nil, nil, cpu, false)
            }
            if signal != 0 {
                return finish(.crashed(signal: signal, reason: "killed by \(signalName(signal))"), nil, nil, cpu, false)
            }
            return finish(.crashed(signal: nil, reason: "the worker exited with status \((status >> 8) & 0xff) before answering"),
                          nil, nil, cpu, false)
        }
    }

    private func writeAll(_ bytes: [UInt8], deadline: ContinuousClock.Instant) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes {
                send(worker.channel, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            }
            if written > 0 {
                offset += written
                continue
            }
            guard written < 0, errno == EAGAIN || errno == EINTR else { return false }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero { return false }
            var descriptor = pollfd(fd: worker.channel, events: Int16(POLLOUT), revents: 0)
            _ = poll(&descriptor, 1, Int32(min(max(1, remaining.seconds * 1000), 60_000)))
        }
        return true
    }
}

/// The seccomp trap names the call by number; libseccomp turns it back into a name.
func syscallName(_ number: UInt32, arch: UInt32) -> String {
    let x32Bit: UInt32 = 0x4000_0000
    if number & x32Bit != 0 {
        return "x32 syscall \(number & ~x32Bit)"
    }
    if let name = seccomp_syscall_resolve_num_arch(arch, Int32(bitPattern: number)) {
        defer { free(name) }
        return String(cString: name)
    }
    return "syscall \(number) (arch 0x\(String(arch, radix: 16)))"
}

/// Splits the byte stream into frames, refusing any frame larger than `maxFrame`.
struct FrameReader {
    let maxFrame: Int
    private var bytes: [UInt8] = []
    private var start = 0

    init(maxFrame: Int) { self.maxFrame = maxFrame }

    mutating func append(_ chunk: ArraySlice<UInt8>) {
        if start > 0 && start == bytes.count {
            bytes.removeAll(keepingCapacity: true)
            start = 0
        }
        bytes.append(contentsOf: chunk)
    }

    struct Violation: Error, CustomStringConvertible {
        let description: String
    }

    /// The next complete frame, or nil when more bytes are needed.
    mutating func next() throws -> (WorkerFrameKind?, ArraySlice<UInt8>)? {
        guard bytes.count - start >= 4 else { return nil }
        let length = Int(bytes[start]) | Int(bytes[start + 1]) << 8 | Int(bytes[start + 2]) << 16 | Int(bytes[start + 3]) << 24
        guard length >= 1 else { throw Violation(description: "an empty frame") }
        guard length <= maxFrame else {
            throw Violation(description: "a frame of \(length) bytes, over the \(maxFrame)-byte limit")
        }
        guard bytes.count - start >= 4 + length else { return nil }
        let kind = WorkerFrameKind(rawValue: bytes[start + 4])
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

/// Captured output up to a byte limit; what is beyond is counted, not kept.
struct CappedOutput {
    let limit: Int
    private var bytes: [UInt8] = []
    private(set) var dropped = 0

    init(limit: Int) { self.limit = limit }

    mutating func append(_ chunk: ArraySlice<UInt8>) {
        let room = max(0, limit - bytes.count)
        bytes.append(contentsOf: chunk.prefix(room))
        dropped += max(0, chunk.count - room)
    }

    mutating func droppedByWorker(_ count: Int) { dropped += max(0, count) }

    var text: String {
        let kept = String(decoding: bytes, as: UTF8.self)
        return dropped > 0 ? kept + ExecutionResult.truncationMarker(droppedBytes: dropped) : kept
    }
}
