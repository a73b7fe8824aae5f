import Foundation

/// Runs a program for a tool: argv (never a shell), a scrubbed environment, a working
/// folder, a timeout and capped output. The host never forks: Foundation's Process uses
/// posix_spawn.
struct ToolProcess {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var timedOut: Bool
    }

    /// Finds `name` in the project-local tools folder, then on PATH; throws a `ToolFailure`
    /// that says how to install it when it is nowhere.
    static func locate(_ name: String, in toolsDirectory: String?) throws -> String {
        var candidates: [String] = []
        if let toolsDirectory { candidates.append(toolsDirectory + "/bin/" + name) }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            candidates.append("\(directory)/\(name)")
        }
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
        throw ToolFailure(
            "\(name) is not installed: run scripts/setup (it installs \(name) into .crucible/tools) or put \(name) on PATH")
    }

    /// The environment tools run with: no secrets from the host, only what the programs need.
    static func scrubbedEnvironment(home: String) -> [String: String] {
        [
            "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "NO_COLOR": "1", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0",
            "GIT_OPTIONAL_LOCKS": "0",
        ]
    }

    static func run(
        _ executable: String, _ arguments: [String], in directory: String, timeout: Duration = .seconds(60),
        outputLimit: Int = 8 << 20
    ) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = scrubbedEnvironment(home: NSTemporaryDirectory())
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        let outBox = DataBox(), errBox = DataBox()
        let group = DispatchGroup()
        for (pipe, box) in [(stdout, outBox), (stderr, errBox)] {
            group.enter()
            DispatchQueue.global().async {
                box.data = Self.readCapped(pipe.fileHandleForReading, limit: outputLimit)
                group.leave()
            }
        }
        // Set before run(): a handler set after a fast exit is never called.
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do { try process.run() } catch {
            throw ToolFailure("cannot start \(executable): \(error.localizedDescription)")
        }
        var timedOut = false
        if finished.wait(timeout: .now() + .milliseconds(Int(timeout.seconds * 1000))) == .timedOut {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
        }
        group.wait()
        return Output(
            status: process.terminationStatus, stdout: String(decoding: outBox.data, as: UTF8.self),
            stderr: String(decoding: errBox.data, as: UTF8.self), timedOut: timedOut)
    }

    private static func readCapped(_ handle: FileHandle, limit: Int) -> Data {
        var data = Data()
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            if data.count < limit { data.append(chunk.prefix(limit - data.count)) }
        }
        return data
    }
}

private final class DataBox: @unchecked Sendable {
    var data = Data()
}
