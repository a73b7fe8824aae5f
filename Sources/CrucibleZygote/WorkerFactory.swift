import CPython
import CSandboxKernel
import CrucibleWire
import Foundation

/// Forks confined workers from the initialized interpreter and hands each one's
/// channel and pidfd to the host.
struct WorkerFactory {
    let python: EmbeddedPython
    let seccomp: SeccompProgram?
    let landlock: LandlockRuleset?
    let controlSocket: Int32
    /// The zygote's own address space, measured once: RLIMIT_AS is this plus the job's memory.
    let baseAddressSpace: UInt64
    /// The policy's `threads` bound; nil: none.
    let maxThreads: Int?

    /// Forks one worker; returns its pid (the host gets its descriptors), or throws.
    func spawn(request: UInt64, limits: WorkerLimits, layers: ConfinementLayers) throws -> pid_t {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw "socketpair: \(String(cString: strerror(errno)))"
        }
        let zygote = getpid()
        PyOS_BeforeFork()
        let pid = fork()
        if pid == 0 {
            PyOS_AfterFork_Child()
            // Never keep the host's end, whatever the layers: the worker must see EOF when the host goes.
            close(pair[0])
            runWorker(channel: pair[1], limits: limits, layers: layers, zygote: zygote)
        }
        PyOS_AfterFork_Parent()
        close(pair[1])
        defer { close(pair[0]) }
        guard pid > 0 else { throw "fork: \(String(cString: strerror(errno)))" }
        let pidfd = crucible_pidfd_open(pid)
        guard pidfd >= 0 else {
            kill(pid, SIGKILL)
            throw "pidfd_open: \(String(cString: strerror(errno)))"
        }
        defer { close(pidfd) }
        let message = ControlMessage.worker(request: request, pid: pid).encode()
        let fds = [pair[0], pidfd]
        let sent = message.withUnsafeBytes { crucible_send_with_fds(controlSocket, $0.baseAddress, $0.count, fds, 2) }
        guard sent == message.count else {
            kill(pid, SIGKILL)
            throw "sending the worker to the host: \(String(cString: strerror(errno)))"
        }
        return pid
    }

    /// In the child: confine in the documented order, then run the Python worker loop. Never returns.
    private func runWorker(channel: Int32, limits: WorkerLimits, layers: ConfinementLayers, zygote: pid_t) -> Never {
        var empty = sigset_t()
        sigemptyset(&empty)
        sigprocmask(SIG_SETMASK, &empty, nil)
        signal(SIGCHLD, SIG_DFL)

        var error = [CChar](repeating: 0, count: 256)
        let rc: Int32 = withBPF(layers.contains(.seccomp)) { bpf, count in
            var confinement = crucible_confinement(
                channel_fd: channel,
                close_other_fds: layers.contains(.closeDescriptors) ? 1 : 0,
                landlock_ruleset_fd: layers.contains(.landlock) ? (landlock?.descriptor ?? -1) : -1,
                apply_rlimits: layers.contains(.resourceLimits) ? 1 : 0,
                cpu_seconds: limits.cpuSeconds,
                address_space_bytes: baseAddressSpace + limits.memoryBytes,
                file_size_bytes: limits.fileSizeBytes,
                open_files: limits.openFiles,
                max_tasks: maxThreads.map { UInt64($0) + 1 } ?? 0,
                apply_prctl: layers.contains(.processControls) ? 1 : 0,
                expected_parent: zygote,
                bpf: bpf,
                bpf_instructions: count,
                self_pid_placeholder: UInt32(SandboxPolicy.selfPlaceholder))
            return crucible_confine_worker(&confinement, &error, error.count)
        }
        if rc != 0 {
            let reason = error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            let frame = WorkerFrame.encode(.confinementFailed, reason)
            _ = frame.withUnsafeBytes { write(3, $0.baseAddress, $0.count) }
            _exit(3)
        }
        python.serveWorker(channel: 3)
        _exit(0)
    }

    private func withBPF<R>(_ enabled: Bool, _ body: (UnsafeRawPointer?, Int) -> R) -> R {
        guard enabled, let seccomp else { return body(nil, 0) }
        return seccomp.instructions.withUnsafeBytes { body($0.baseAddress, seccomp.instructions.count) }
    }

    /// Whether a child of this zygote can enter a user namespace of its own (then the thread
    /// bound is per worker; otherwise workers get no threads). Probed once, in a forked child.
    static func canEnterUserNamespace() -> Bool {
        let child = fork()
        if child == 0 { _exit(crucible_unshare(0x1000_0000 /* CLONE_NEWUSER */) == 0 ? 0 : 1) }
        guard child > 0 else { return false }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        return status == 0
    }

    /// VmSize of this process, from /proc.
    static func currentAddressSpace() -> UInt64 {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmSize:") }),
            let kib = UInt64(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kib * 1024
    }
}
