import CSandboxKernel
import CSeccomp
import CrucibleWire
import Foundation

/// One job on one worker, driven from the calling thread. The worker is hostile: every frame
/// is checked against what may come at that point, every number in it is bounded, output is
/// capped, the wall clock is the host's, and how the execution ended is decided from what the
/// host observed (wait status, its own clock, CPU time), never from what the worker claims.
/// docs/worker-protocol.md lists which frame fields the host relies on, and why.
struct WorkerExecution {
    let worker: Worker
    let pool: WorkerPool
    let limits: ExecutionLimits
    var tools: (any ToolCallHandler)? = nil
    /// Poll briefly for the worker's next frame after sending the job and each tool answer.
    /// Worth it for a warm session worker, whose answer usually comes within the window; a
    /// fresh worker is slowed more by the host's polling than it gains (BENCHMARKS.md).
    var spinForReplies = false
    /// The worker's first job: its "warm" frame (or the report of a failed confinement) comes
    /// before anything else. A session's later cells start with the worker already warm.
    var firstJob = true
    /// Set by whoever stops this execution from outside (a closed session, a server shutting down).
    var cancellation: Cancellation? = nil

    /// Where the host is in the job, which decides what the worker may send next.
    private enum Phase {
        /// Before the worker's "warm" frame: only that, or a confinement failure, may come.
        case starting
        /// The job is running: output, tool calls, a seccomp report or the result.
        case running
        /// The worker reported a trapped syscall: nothing more may come, only its death.
        case seccompReported(syscall: UInt32, arch: UInt32)
        /// Confinement failed before any user code ran; the worker exits next.
        case confinementFailed(String)
    }

    /// The result, and whether the worker is still alive and answering (for sessions).
    func run(job: WorkerJob) -> (ExecutionResult, alive: Bool) {
        var job = job
        // Ties the result frame to this job: a frame left over from an earlier cell of a
        // session (which that cell's code could write) carries another token.
        job.token = UInt64.random(in: 1...UInt64.max)
        let started = ContinuousClock.now
        let deadline = started + limits.wallClock
        var stdout = CappedOutput(limit: limits.stdoutBytes)
        var stderr = CappedOutput(limit: limits.stderrBytes)
        var reader = WorkerFrameReader(maxFrame: Self.maxFrame(limits))
        var phase: Phase = firstJob ? .starting : .running

        func finish(_ outcome: ExecutionOutcome, error: PythonError? = nil, value: PythonValue? = nil,
                    cpu: Duration? = nil, alive: Bool = false, reads: [(call: Int, path: String)] = [],
                    flows: [ReportedFlow] = [], files: [OutputFile] = []) -> (ExecutionResult, alive: Bool) {
            var result = ExecutionResult(
                outcome: outcome, value: value, stdout: stdout.text, stderr: stderr.text,
                stdoutTruncatedBytes: stdout.dropped, stderrTruncatedBytes: stderr.dropped, error: error,
                duration: ContinuousClock.now - started, cpuTime: cpu)
            result.files = files
            if let tools { result.trace = tools.trace(reads: reads, flows: flows) }
            return (result, alive)
        }
        func violation(_ detail: String) -> (ExecutionResult, alive: Bool) {
            worker.kill()
            return finish(.protocolViolation(detail))
        }

        if !writeAll(WorkerFrame.encode(.job, job.encoded()), deadline: deadline) {
            if ContinuousClock.now >= deadline {
                worker.kill()
                return finish(.timeout)
            }
            return finish(classifyEnd(phase: phase))
        }

        // Not zero-filled: read(2) writes what is used, and filling 256 KiB cost every job,
        // a session's cells included, a few microseconds of memory writes.
        var buffer = [UInt8](unsafeUninitializedCapacity: 256 * 1024) { _, count in count = 256 * 1024 }
        // After a timeout kill, output the worker sent before it died is still read (briefly).
        var killedAtDeadline = false
        var readUntil = deadline
        // Waking a thread blocked in poll() is slow; a tool call that follows its previous
        // answer within `spinWindow` is picked up by polling without blocking instead. Only in
        // sessions (see `spinForReplies`).
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
                let message: WorkerMessage
                do {
                    guard let (kind, payload) = try reader.next() else { break }
                    message = try WorkerMessage(kind: kind, payload: payload)
                } catch {
                    if killedAtDeadline { return finish(.timeout) }
                    return violation(error.description)
                }
                // Only output counts after the kill; the rest of what a dying worker sent is moot.
                switch message {
                case .stdout(let bytes): stdout.append(bytes); continue
                case .stderr(let bytes): stderr.append(bytes); continue
                case .outputDropped(let fromStderr, let bytes):
                    if fromStderr { stderr.droppedByWorker(bytes) } else { stdout.droppedByWorker(bytes) }
                    continue
                default: if killedAtDeadline { continue }
                }
                switch (phase, message) {
                case (.starting, .warm): phase = .running
                case (.starting, .confinementFailed(let reason)): phase = .confinementFailed(reason)
                case (.starting, _):
                    return violation("\(message.kindName) before the worker said it was ready")
                case (.running, .seccompViolation(let number, let arch)):
                    phase = .seccompReported(syscall: number, arch: arch)
                case (.running, .result(let token, let json)):
                    guard token == job.token else { return violation("a result frame that belongs to another job") }
                    // The runtime sends nothing after its result; bytes already here came from the code.
                    guard reader.bufferedBytes == 0 else { return violation("frames after the result frame") }
                    let wire: WireResult
                    do { wire = try WireResult.decode(json, filesLimit: job.filesLimit) } catch { return violation(error.description) }
                    return finish(wire.outcome, error: wire.error, value: wire.value, alive: true, reads: wire.reads, flows: wire.flows, files: wire.files)
                case (.running, .toolCall(let json)):
                    let answer: [UInt8]
                    do {
                        if let tools {
                            answer = try tools.answer(to: json, deadline: deadline)
                        } else {
                            _ = try ToolCallFrame(json)
                            answer = Array(#"{"ok":false,"error":{"type":"ToolError","message":"no tools are available to this execution"}}"#.utf8)
                        }
                    } catch { return violation(error.description) }
                    if !writeAll(WorkerFrame.encode(.toolAnswer, answer), deadline: deadline) {
                        if ContinuousClock.now >= deadline { continue }  // the loop kills it at the deadline
                        worker.kill()
                        return finish(.crashed(signal: nil, reason: "the worker stopped reading during a tool call"))
                    }
                    if spinForReplies { spinUntil = ContinuousClock.now + Self.spinWindow }
                case (.running, _):
                    return violation("\(message.kindName) while the job was running")
                case (.seccompReported, _):
                    return violation("\(message.kindName) after the worker reported a trapped syscall")
                case (.confinementFailed, _):
                    return violation("\(message.kindName) after the worker reported a failed confinement")
                }
            }
        }
        if killedAtDeadline { return finish(.timeout) }
        return finishFromExit(phase: phase) { finish($0, error: $1, value: $2, cpu: $3, alive: $4, reads: $5) }
    }

    /// The largest frame a worker may send for these limits: a result holds the value (JSON
    /// escapes can make a character up to six bytes) plus its error and field reads.
    static func maxFrame(_ limits: ExecutionLimits) -> Int {
        let value = min(limits.valueBytes, 256 << 20)
        let files = min(limits.outputFileBytes, 256 << 20)
        // Files come as base64 (4 bytes per 3) in JSON, with their names.
        return 6 * value + files / 3 * 4 + 4 + OutputFile.maxCount * 1024 + (1 << 20)
    }

    /// How long the host polls without blocking after it sends the worker something.
    static let spinWindow: Duration = .microseconds(300)

    /// The channel closed without a result: how the worker ended, as the zygote saw it.
    private func finishFromExit(
        phase: Phase, finish: (ExecutionOutcome, PythonError?, PythonValue?, Duration?, Bool, [(call: Int, path: String)])
            -> (ExecutionResult, alive: Bool)
    ) -> (ExecutionResult, alive: Bool) {
        let exit = pool.awaitExit(of: worker, timeout: .seconds(5))
        var cpu: Duration?
        if case .exited(_, let micros, _)? = exit { cpu = .microseconds(Int64(clamping: micros)) }
        return finish(classifyEnd(phase: phase, exit: exit), nil, nil, cpu, false, [])
    }

    private func classifyEnd(phase: Phase) -> ExecutionOutcome {
        classifyEnd(phase: phase, exit: pool.awaitExit(of: worker, timeout: .seconds(5)))
    }

    /// The outcome of a worker that ended without a result. What the worker claimed (a trapped
    /// syscall's name, a failed confinement) is used only where its death agrees with it.
    private func classifyEnd(phase: Phase, exit: WorkerExit?) -> ExecutionOutcome {
        if let reason = cancellation?.reason { return .cancelled(reason) }
        guard let exit else {
            return .crashed(signal: nil, reason: "the worker closed its channel and its end was not reported")
        }
        guard case .exited(let status, let cpuMicros, _) = exit else {
            if case .zygoteDied(let reason) = exit { return .sandboxFailure(reason) }
            return .crashed(signal: nil, reason: "unknown end")
        }
        let signal = status & 0x7f
        let exitStatus = (status >> 8) & 0xff
        if case .confinementFailed(let reason) = phase {
            // Reported before any user code ran, so the report is the zygote's own code speaking.
            return .sandboxFailure("the worker could not confine itself: \(reason)")
        }
        // SIGSYS reaches a worker only from seccomp: the policy refuses kill/tgkill of SIGSYS.
        if signal == SIGSYS {
            if case .seccompReported(let number, let arch) = phase {
                return .killedBySeccomp(syscall: syscallName(number, arch: arch))
            }
            return .killedBySeccomp(syscall: "unreported syscall")
        }
        if case .seccompReported = phase {
            return .protocolViolation("the worker reported a trapped syscall but then \(describeWaitStatus(status))")
        }
        // The CPU limit counts only when the CPU time the kernel measured came near it: the code
        // can send itself SIGXCPU or SIGKILL. Near, not at: the kernel signals at the limit, but
        // the rusage it then reports is rounded from scheduler ticks (seen 0.93-0.99 s for 1 s).
        let cpuLimitMicros = UInt64(limits.effectiveCPUSeconds) * 1_000_000
        if (signal == SIGXCPU || signal == SIGKILL) && cpuMicros * 10 >= cpuLimitMicros * 8 {
            return .cpuLimit
        }
        if signal != 0 {
            return .crashed(signal: signal, reason: "killed by \(signalName(signal))")
        }
        return .crashed(signal: nil, reason: "the worker exited with status \(exitStatus) before answering")
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

/// A way to stop an execution from another thread: the reason is kept, and the worker killed.
final class Cancellation: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: String?

    /// Why the execution was stopped; nil while it was not.
    var reason: String? { lock.withLock { stored } }

    /// Records the reason (the first one wins) and runs `stop`, which kills the worker.
    func cancel(_ reason: String, stop: () -> Void) {
        lock.withLock { if stored == nil { stored = reason } }
        stop()
    }
}

extension WorkerMessage {
    /// How a violation message names the frame.
    var kindName: String {
        switch self {
        case .warm: "a 'warm' frame"
        case .confinementFailed: "a confinement-failure frame"
        case .stdout: "stdout"
        case .stderr: "stderr"
        case .outputDropped: "an 'output dropped' frame"
        case .seccompViolation: "a seccomp report"
        case .toolCall: "a tool call"
        case .result: "a result frame"
        }
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

/// Captured output up to a byte limit; what is beyond is counted, not kept. The count
/// saturates: the worker reports part of it, and no report can overflow it.
struct CappedOutput {
    let limit: Int
    private var bytes: [UInt8] = []
    private(set) var dropped = 0

    /// Where the dropped count stops: exact in a JSON number (2^53), far beyond any real output.
    static let maxDropped = 1 << 53

    init(limit: Int) { self.limit = max(0, limit) }

    mutating func append(_ chunk: ArraySlice<UInt8>) {
        let room = max(0, limit - bytes.count)
        bytes.append(contentsOf: chunk.prefix(room))
        addDropped(chunk.count - min(room, chunk.count))
    }

    mutating func droppedByWorker(_ count: UInt64) { addDropped(Int(clamping: min(count, UInt64(Self.maxDropped)))) }

    private mutating func addDropped(_ count: Int) {
        dropped = min(Self.maxDropped, dropped + max(0, count))
    }

    var text: String {
        let kept = String(decoding: bytes, as: UTF8.self)
        return dropped > 0 ? kept + ExecutionResult.truncationMarker(droppedBytes: dropped) : kept
    }
}
