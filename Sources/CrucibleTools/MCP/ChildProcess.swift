import CSandboxKernel
import Foundation

/// A `--tools-from` server's process, spawned with a clean signal state, talked to over two pipes.
///
/// Foundation's `Process` spawns from whichever thread calls it, and the child inherits that
/// thread's signal mask: from Swift's cooperative threads (Dispatch workers) nearly every signal
/// is blocked, SIGTERM included, and SIGPIPE is ignored (`crucible mcp` ignores it). A server
/// started that way could not be stopped by SIGTERM (seen: `sleep 600` outlived its
/// handshake timeout and held crucible's stderr open). Here the child starts with an empty
/// mask and every signal at its default.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    /// Our end of the child's stdin and of its stdout.
    let input: Int32
    let output: Int32
    private let lock = NSLock()
    private var waitStatus: Int32?

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Runs `command` through `/usr/bin/env` (so it is looked up on PATH) with our environment
    /// and stderr; `onExit` runs once, on a thread of its own, when the child has ended.
    init(_ command: [String], onExit: @escaping @Sendable () -> Void) throws {
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0]
        guard crucible_pipe_cloexec(&toChild) == 0 else { throw Failure(description: "pipe: \(String(cString: strerror(errno)))") }
        guard crucible_pipe_cloexec(&fromChild) == 0 else {
            close(toChild[0]); close(toChild[1])
            throw Failure(description: "pipe: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = (["/usr/bin/env"] + command).map { strdup($0) } + [nil]
        var spawned: pid_t = 0
        let rc = posix_spawn(&spawned, "/usr/bin/env", &actions, &attributes, argv, environ)
        argv.forEach { free($0) }
        posix_spawn_file_actions_destroy(&actions)
        posix_spawnattr_destroy(&attributes)
        close(toChild[0])
        close(fromChild[1])
        guard rc == 0 else {
            close(toChild[1]); close(fromChild[0])
            throw Failure(description: "posix_spawn: \(String(cString: strerror(rc)))")
        }
        pid = spawned
        input = toChild[1]
        output = fromChild[0]
        Thread { [self, pid] in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            lock.withLock { waitStatus = status }
            onExit()
        }.start()
    }

    var isRunning: Bool { lock.withLock { waitStatus == nil } }

    /// How it ended, in words ("exited with status 3", "was killed by signal 9"); nil while running.
    var ending: String? {
        guard let status = lock.withLock({ waitStatus }) else { return nil }
        let signal = status & 0x7f
        return signal == 0 ? "exited with status \((status >> 8) & 0xff)" : "was killed by signal \(signal)"
    }

    func send(_ signal: Int32) { if isRunning { kill(pid, signal) } }

    /// Closes its stdin (a well-behaved server exits at end of input), then SIGTERM after
    /// `grace`, then SIGKILL after as long again. `output` stays open: the transport's reader
    /// thread may still be blocked reading it (a grandchild can hold the pipe), and closing a
    /// descriptor under a blocked read lets its number be reused under that thread.
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
