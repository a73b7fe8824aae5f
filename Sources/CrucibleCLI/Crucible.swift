import ArgumentParser
import Crucible
import Foundation

@main
struct CrucibleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crucible",
        abstract: "Run model-written Python in kernel-confined CPython workers.",
        discussion: """
            Exit codes: 0 success; 1 the code failed (exception, limit, seccomp kill); \
            2 usage error; 3 the sandbox could not be built on this machine.
            """,
        subcommands: [RunCommand.self, ValidateCommand.self, GenerateCommand.self, ServeCommand.self, HTTPCommand.self, McpCommand.self, CorpusCommand.self, ToolsCommand.self, DoctorCommand.self, PythonCommand.self, DemoCommand.self])

    static let version = "0.7.0"

    /// ArgumentParser exits 64 (EX_USAGE) on a usage error; Crucible promises 2, like ruff.
    static func main() async {
        var command: ParsableCommand
        do { command = try parseAsRoot() } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(ExitCode32.usage.rawValue)
            }
            exit(withError: error)
        }
        do {
            if var async = command as? AsyncParsableCommand { try await async.run() } else { try command.run() }
        } catch let usage as ValidationError {
            // Found while running (an unknown ruleset, a bad config file): no usage text, which
            // would only repeat the command line that was already right.
            let name = type(of: command).configuration.commandName ?? "crucible"
            FileHandle.standardError.write(Data("crucible \(name): \(usage.message)\n".utf8))
            Foundation.exit(ExitCode32.usage.rawValue)
        } catch {
            exit(withError: error)
        }
    }
}

/// Exit codes shared by every command.
enum ExitCode32: Int32 {
    case success = 0, codeFailed = 1, usage = 2, sandboxUnavailable = 3
}

func makeSandbox(
    limits: ExecutionLimits = ExecutionLimits(), poolSize: Int = 1, capacity: CapacityOptions? = nil,
    python: PythonOptions.Prepared? = nil, importPaths: [String] = []
) throws -> Sandbox {
    var configuration = SandboxConfiguration()
    // Read-only on sys.path (Landlock allows reading, nothing allows writing).
    configuration.importPaths += importPaths
    configuration.defaultLimits = limits
    configuration.poolSize = poolSize
    if let python {
        configuration.interpreter = python.interpreter
        configuration.packages = python.packages
        configuration.preloadModules += python.preload
    }
    if let capacity {
        configuration.maxRunningExecutions = capacity.maxRunning
        configuration.maxQueuedExecutions = capacity.maxQueued
    }
    do {
        return try Sandbox(configuration: configuration)
    } catch {
        throw sandboxUnavailable(error)
    }
}

/// Checks that the sandbox's parts (zygote, Sandbox/) are where this binary looks, before a
/// command spends time on the project or on packages: a lone copied binary exits 3 and names
/// what it looked for, whatever else is missing too.
func requireSandboxParts() throws {
    do {
        _ = try SandboxConfiguration().resolvedPaths()
    } catch {
        throw sandboxUnavailable(error)
    }
}

/// The message for a sandbox that cannot start, on stderr, and exit code 3; 2 when the
/// user's configuration is at fault (a module to preload that cannot be imported).
func sandboxUnavailable(_ error: Error) -> ExitCode {
    if case SandboxError.preloadFailed = error {
        FileHandle.standardError.write(Data("crucible: \(error)\n".utf8))
        return ExitCode(ExitCode32.usage.rawValue)
    }
    // A missing part already says where it was looked for and what to run; doctor would
    // only fail the same way.
    var message = "crucible: \(error)\n"
    if case SandboxError.notInstalled = error {} else { message += "Run `crucible doctor` to see which layer is missing.\n" }
    FileHandle.standardError.write(Data(message.utf8))
    return ExitCode(ExitCode32.sandboxUnavailable.rawValue)
}

/// A stdio protocol server's stdout: only protocol may reach it. Keeps a private copy of fd 1
/// for the protocol and points fd 1 at stderr, so nothing else this process (or a library,
/// or a child it starts) prints can corrupt the stream. Returns the private copy.
func takeStdoutForProtocol() throws -> Int32 {
    let protocolOutput = dup(STDOUT_FILENO)
    guard protocolOutput >= 0, dup2(STDERR_FILENO, STDOUT_FILENO) >= 0 else {
        throw ValidationError("cannot set up stdout: \(String(cString: strerror(errno)))")
    }
    _ = fcntl(protocolOutput, F_SETFD, FD_CLOEXEC)
    signal(SIGPIPE, SIG_IGN)
    return protocolOutput
}
