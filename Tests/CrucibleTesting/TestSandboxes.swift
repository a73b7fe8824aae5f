import Crucible
import CrucibleWire
import Foundation

/// Sandboxes shared by the suites: starting a zygote costs tens of milliseconds, so each
/// configuration is built once per test process.
package enum TestSandboxes {
    /// The interpreter the suites run on: the system's, or the one `CRUCIBLE_TEST_PYTHON`
    /// names (e.g. 3.14; installed on first use), so that CI runs the same attacks and checks
    /// on every interpreter.
    package static let interpreter: PythonInterpreter? = {
        guard let version = ProcessInfo.processInfo.environment["CRUCIBLE_TEST_PYTHON"], !version.isEmpty else { return nil }
        // Prepared once, before any test runs a sandbox (the semaphore orders the write and the read).
        final class Outcome: @unchecked Sendable { var result: Result<PythonInterpreter, Error>? }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do {
                let sandbox = try SandboxConfiguration().resolvedPaths().sandbox
                outcome.result = .success(try await PythonInterpreter.prepare(version, sandboxDirectory: sandbox) { print("test setup: \($0)") })
            } catch {
                outcome.result = .failure(error)
            }
            done.signal()
        }
        done.wait()
        return try! outcome.result!.get()
    }()

    /// "3.11", "3.14": the version of `interpreter` (the system's when it is nil).
    package static var pythonVersion: String { interpreter?.version ?? systemPythonVersion }
    private static let systemPythonVersion: String = {
        confined.report.pythonVersion.split(separator: ".").prefix(2).joined(separator: ".")
    }()

    /// A configuration on the suites' interpreter.
    package static func configuration() -> SandboxConfiguration {
        var configuration = SandboxConfiguration()
        configuration.interpreter = interpreter
        configuration.imageWritableFolderForTesting = scratchRoot
        return configuration
    }

    /// Where every `Scratch` folder is made: an image shows it to its workers (writable, for
    /// control runs; Landlock still refuses confined ones).
    package static let scratchRoot: String = {
        let path = scratchRootPath()
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, 0o777)
        // Gone with the test process (each `Scratch` removes its own folder; this is the parent).
        atexit { try? FileManager.default.removeItem(atPath: TestSandboxes.scratchRootPath()) }
        return path
    }()
    private static func scratchRootPath() -> String { NSTemporaryDirectory() + "crucible-tests-\(getpid())" }

    /// The default, fully confined sandbox.
    package static let confined: Sandbox = {
        var configuration = TestSandboxes.configuration()
        configuration.poolSize = 4
        return try! Sandbox(configuration: configuration)
    }()

    /// Control: every worker layer off and no zygote isolation, so an attack that the
    /// confined sandbox blocks can be shown to succeed. Test-only (`package` switches).
    package static let unconfined: Sandbox = {
        var configuration = TestSandboxes.configuration()
        configuration.poolSize = 2
        configuration.disabledLayersForTesting = .all
        configuration.unconfinedZygoteForTesting = true
        return try! Sandbox(configuration: configuration)
    }()

    /// A sandbox of its own, for tests that kill the zygote or count resources.
    package static func isolated(poolSize: Int = 2, limits: ExecutionLimits = ExecutionLimits()) throws -> Sandbox {
        var configuration = TestSandboxes.configuration()
        configuration.poolSize = poolSize
        configuration.defaultLimits = limits
        return try Sandbox(configuration: configuration)
    }
}

/// A scratch folder for side effects that a control run makes and a confined run must not.
package struct Scratch {
    package let path: String

    package init() {
        path = TestSandboxes.scratchRoot + "/" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // World-writable, so a control worker running as any uid can leave its mark.
        chmod(path, 0o777)
    }

    package func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path + "/" + name) }

    package func write(_ name: String, _ text: String, mode: mode_t = 0o600) {
        FileManager.default.createFile(atPath: path + "/" + name, contents: Data(text.utf8))
        chmod(path + "/" + name, mode)
    }
}

/// A loopback listener that counts what reaches it (TCP connections or UDP datagrams).
package final class LoopbackListener: @unchecked Sendable {
    package let port: UInt16
    private let socketFD: Int32
    private let lock = NSLock()
    private var hits = 0

    package init(udp: Bool = false) {
        let socketFD = socket(AF_INET, Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
        self.socketFD = socketFD
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = bind(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if !udp { listen(socketFD, 16) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(socketFD, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        start(udp: udp)
    }

    private func start(udp: Bool) {
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 512)
            while true {
                if udp {
                    if recv(socketFD, &buffer, buffer.count, 0) < 0 { return }
                } else {
                    let client = accept(socketFD, nil, nil)
                    if client < 0 { return }
                    close(client)
                }
                lock.withLock { hits += 1 }
            }
        }
        thread.start()
    }

    package var count: Int { lock.withLock { hits } }

    deinit {
        shutdown(socketFD, Int32(SHUT_RDWR))  // wakes the accept/recv thread, which then returns
        close(socketFD)
    }

    /// Waits briefly for a hit that may still be in flight.
    package func sawHit(within seconds: Double = 2) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if count > 0 { return true }
            usleep(10_000)
        }
        return count > 0
    }
}

extension ExecutionResult {
    /// The decoded value, for assertions.
    package var json: JSONValue? { value?.json }
}

/// pidfds open in this (test) process. Only Crucible creates them (one per live worker it
/// holds), so other suites' sockets and files do not blur a leak.
package func openPidfdCount() -> Int {
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return fds.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == "anon_inode:[pidfd]" }.count
}

/// Processes whose parent is `pid` (from /proc), to find leaked workers.
package func childProcesses(of pid: pid_t) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> pid_t? in
        guard let candidate = pid_t(entry),
            let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        return fields.count > 1 && pid_t(fields[1]) == pid ? candidate : nil
    }
}

/// Waits for `condition` to hold, checking every 10 ms, for at most `limit`: a bounded wait on
/// an event the test cannot be told about (a process reaped, a session closing itself).
/// Returns whether it held.
@discardableResult
package func eventually(within limit: Duration = .seconds(20), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + limit
    while !condition() {
        if ContinuousClock.now >= deadline { return false }
        usleep(10_000)
    }
    return true
}
