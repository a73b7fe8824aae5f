import CSandboxKernel
import CrucibleWire
import Foundation

/// The running `crucible-zygote`: started with posix_spawn (the host never forks), an
/// empty environment and only the descriptors it needs; talked to over a SOCK_SEQPACKET pair.
final class ZygoteProcess: @unchecked Sendable {
    let pid: pid_t
    let control: Int32
    /// The zygote's JSON report of the layers it could set up (see `SandboxReport`).
    let report: String

    init(zygote: String, sandbox: String, configuration: SandboxConfiguration) throws {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw SandboxError.zygoteFailed("socketpair: \(errnoText())")
        }
        var argv = [zygote, "--runtime", sandbox + "/python", "--policy", sandbox + "/sandbox.policy"]
        if let image = configuration.interpreter?.image, let imageZygote = configuration.interpreter?.imageZygote {
            // This zygote, built for the host, enters the image and execs the one built for its Python.
            argv += ["--image", image.root, "--image-zygote", imageZygote]
            if let folder = configuration.imageWritableFolderForTesting { argv += ["--image-writable-for-testing", folder] }
        }
        if configuration.unconfinedZygoteForTesting { argv.append("--unconfined-for-testing") }
        if configuration.skipPathExposureForTesting { argv.append("--no-path-exposure-for-testing") }
        for path in configuration.readablePaths { argv += ["--read", path] }
        for path in configuration.importPaths + [configuration.packages?.site].compactMap({ $0 }) { argv += ["--import-path", path] }
        for module in configuration.preloadModules { argv += ["--preload", module] }
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        let pid = crucible_spawn_zygote(zygote, &cArguments, pair[1], configuration.logDescriptor)
        close(pair[1])
        guard pid > 0 else {
            close(pair[0])
            throw SandboxError.zygoteFailed("posix_spawn \(zygote): \(errnoText())")
        }
        self.pid = pid
        self.control = pair[0]

        // Wait for the ready report; a zygote that dies first gets its exit status reported.
        var fds = [pollfd(fd: control, events: Int16(POLLIN), revents: 0)]
        var ready: String?
        var preloadFailure: String?
        if poll(&fds, 1, 30_000) > 0, let (message, descriptors) = Self.receive(on: control) {
            descriptors.forEach { close($0) }
            switch message {
            case .ready(let text): ready = text
            case .preloadFailed(let reason): preloadFailure = reason
            default: break
            }
        }
        if let preloadFailure {
            close(control)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            throw SandboxError.preloadFailed(preloadFailure)
        }
        guard let ready else {
            close(control)
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            throw SandboxError.zygoteFailed(
                "it ended before it was ready (\(describeWaitStatus(status))); its log on stderr says why")
        }
        self.report = ready
    }

    func send(_ message: ControlMessage) -> Bool {
        let bytes = message.encode()
        return bytes.withUnsafeBytes { crucible_send_with_fds(control, $0.baseAddress, $0.count, nil, 0) } == bytes.count
    }

    /// The next message and its descriptors; nil when the zygote is gone.
    func receive() -> (ControlMessage?, [Int32])? { Self.receive(on: control) }

    private static func receive(on socket: Int32) -> (ControlMessage?, [Int32])? {
        var buffer = [UInt8](repeating: 0, count: ControlMessage.maxSize)
        var fds: [Int32] = [-1, -1, -1, -1]
        var count: Int32 = 0
        let received = buffer.withUnsafeMutableBytes {
            crucible_recv_with_fds(socket, $0.baseAddress, $0.count, &fds, 4, &count)
        }
        guard received > 0 else { return nil }
        return (ControlMessage.decode(buffer[0..<received]), Array(fds.prefix(Int(count))))
    }

    /// Ends the zygote (its workers die with it) and reaps it; returns how it ended.
    @discardableResult
    func terminate() -> String {
        shutdown(control, Int32(SHUT_RDWR))
        kill(pid, SIGKILL)
        return reap()
    }

    func reap() -> String {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return "already reaped" }
        }
        return describeWaitStatus(status)
    }

    deinit { close(control) }
}

func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

func describeWaitStatus(_ status: Int32) -> String {
    let signal = status & 0x7f
    if signal == 0 { return "exit status \((status >> 8) & 0xff)" }
    return "killed by signal \(signal) (\(signalName(signal)))"
}

func signalName(_ signal: Int32) -> String {
    let names: [Int32: String] = [
        SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE",
        SIGILL: "SIGILL", SIGSYS: "SIGSYS", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ", SIGTERM: "SIGTERM",
        SIGPIPE: "SIGPIPE", SIGINT: "SIGINT", SIGTRAP: "SIGTRAP", SIGUSR1: "SIGUSR1", SIGHUP: "SIGHUP",
    ]
    return names[signal] ?? "signal \(signal)"
}
