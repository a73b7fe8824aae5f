import CSandboxKernel
import Foundation
import Subprocess
import CrucibleWire
import SystemPackage

/// A `--tools-from` server's process, started by swift-subprocess and talked to over two pipes
/// whose far ends it hands to the child.
///
/// swift-subprocess starts the child with an empty signal mask and every signal at its default,
/// whichever thread spawns it. (Foundation's `Process` lets the child inherit the spawning
/// thread's mask: from Swift's cooperative threads nearly every signal is blocked, SIGTERM
/// included, and a server started that way outlived its handshake timeout.)
final class ChildProcess: Sendable {
    let pid: pid_t
    /// Our end of the child's stdin and of its stdout.
    let input: Int32
    let output: Int32
    private let termination: Locked<TerminationStatus?>

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Runs `command` (its first word looked up on PATH) with our environment and stderr;
    /// `onExit` runs once, when the child has ended.
    init(_ command: [String], onExit: @escaping @Sendable () -> Void) async throws {
        guard let program = command.first else { throw Failure(description: "an empty command") }
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0]
        guard crucible_pipe_cloexec(&toChild) == 0 else { throw Failure(description: "pipe: \(String(cString: strerror(errno)))") }
        guard crucible_pipe_cloexec(&fromChild) == 0 else {
            close(toChild[0]); close(toChild[1])
            throw Failure(description: "pipe: \(String(cString: strerror(errno)))")
        }
        let executable: Executable = program.contains("/") ? .path(FilePath(program)) : .name(program)
        let configuration = Configuration(executable: executable, arguments: Arguments(Array(command.dropFirst())))
        let (childInput, childOutput) = (toChild[0], fromChild[1])
        let termination = Locked<TerminationStatus?>(nil)
        // The run lasts as long as the child: its body hands back the pid and returns, and the
        // run then waits for the exit.
        let started: Result<pid_t, Error> = await withCheckedContinuation { continuation in
            let once = Locked<CheckedContinuation<Result<pid_t, Error>, Never>?>(continuation)
            Task.detached {
                do {
                    let result = try await Subprocess.run(
                        configuration, input: .fileDescriptor(FileDescriptor(rawValue: childInput), closeAfterSpawningProcess: false),
                        output: .fileDescriptor(FileDescriptor(rawValue: childOutput), closeAfterSpawningProcess: false),
                        error: .currentStandardError
                    ) { execution in
                        // The child has its copies; ours close here, once, whatever happens later.
                        close(childInput); close(childOutput)
                        once.withLock { $0.take() }?.resume(returning: .success(execution.processIdentifier.value))
                    }
                    termination.withLock { $0 = result.terminationStatus }
                    onExit()
                } catch {
                    // Not started: the child's ends are still ours to close.
                    if let continuation = once.withLock({ $0.take() }) {
                        close(childInput); close(childOutput)
                        continuation.resume(returning: .failure(error))
                    }
                }
            }
        }
        switch started {
        case .success(let pid): self.pid = pid
        case .failure(let error):
            close(toChild[1]); close(fromChild[0])
            throw Failure(description: "\(error)")
        }
        input = toChild[1]
        output = fromChild[0]
        self.termination = termination
    }

    var isRunning: Bool { termination.value == nil }

    /// How it ended, in words ("exited with status 3", "was killed by signal 9"); nil while running.
    var ending: String? {
        switch termination.value {
        case nil: nil
        case .exited(let code): "exited with status \(code)"
        case .signaled(let signal): "was killed by signal \(signal)"
        }
    }

    func send(_ signal: Int32) { if isRunning { kill(pid, signal) } }

    /// Closes its stdin (a well-behaved server exits at end of input), then SIGTERM after
    /// `grace`, then SIGKILL after as long again. `output` stays open: the transport's reader
    /// may still be blocked reading it (a grandchild can hold the pipe), and closing a
    /// descriptor under a blocked read lets its number be reused under that reader.
    func stop(grace: Duration = .seconds(1)) async {
        close(input)
        for escalation in [SIGTERM, SIGKILL] {
            let deadline = ContinuousClock.now + grace
            while isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
            guard isRunning else { break }
            send(escalation)
        }
    }
}
