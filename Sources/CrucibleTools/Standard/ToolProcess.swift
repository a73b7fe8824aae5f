import Foundation
import Subprocess
import SystemPackage

/// Runs a program for a tool with swift-subprocess: argv (never a shell), a scrubbed
/// environment, a working folder, a timeout and capped output. swift-subprocess spawns with
/// an empty signal mask and default dispositions, whichever thread asks, and kills the child
/// when the calling task is cancelled (a tool call past its per-call timeout).
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
    static func scrubbedEnvironment(home: String) -> [Environment.Key: String] {
        [
            "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "NO_COLOR": "1", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0",
            "GIT_OPTIONAL_LOCKS": "0",
        ]
    }

    /// Runs `executable` to its end, or kills it after `timeout`. Output past `outputLimit`
    /// bytes per stream is read and dropped, so a chatty program never blocks on a full pipe.
    static func run(
        _ executable: String, _ arguments: [String], in directory: String, timeout: Duration = .seconds(60),
        outputLimit: Int = 8 << 20
    ) async throws -> Output {
        let configuration = Configuration(
            executable: .path(FilePath(executable)), arguments: Arguments(arguments),
            environment: .custom(scrubbedEnvironment(home: NSTemporaryDirectory())),
            workingDirectory: FilePath(directory))
        return try await withThrowingTaskGroup(of: Output?.self) { group in
            group.addTask {
                let result: ExecutionResult<(stdout: [UInt8], stderr: [UInt8]), SequenceOutput, SequenceOutput>
                do {
                    result = try await Subprocess.run(configuration, input: .none, output: .sequence, error: .sequence) {
                        execution in
                        async let stdout = collect(execution.standardOutput, limit: outputLimit)
                        let stderr = try await collect(execution.standardError, limit: outputLimit)
                        return (try await stdout, stderr)
                    }
                } catch let error as SubprocessError {
                    throw ToolFailure("cannot start \(executable): \(error)")
                }
                let status: Int32
                switch result.terminationStatus {
                case .exited(let code): status = code
                case .signaled(let signal): status = 128 + signal
                }
                return Output(
                    status: status, stdout: String(decoding: result.closureResult.stdout, as: UTF8.self),
                    stderr: String(decoding: result.closureResult.stderr, as: UTF8.self), timedOut: false)
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil  // the timeout won: cancelling the run kills the program
            }
            let first = try await group.next()!
            group.cancelAll()
            return first ?? Output(status: 128 + SIGKILL, stdout: "", stderr: "", timedOut: true)
        }
    }

    /// The first `limit` bytes of a stream, reading (and dropping) the rest until it ends.
    private static func collect(_ stream: SubprocessOutputSequence, limit: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await buffer in stream where bytes.count < limit {
            buffer.withUnsafeBytes { bytes.append(contentsOf: $0.prefix(limit - bytes.count)) }
        }
        return bytes
    }
}
