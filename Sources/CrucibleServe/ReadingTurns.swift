import Foundation

/// The threads of a JSON-RPC connection take turns reading its input (leader/follower): the
/// thread that reads a request passes the turn to an idle thread (or starts one) and answers
/// the request itself. A request is then handled on the thread that read it, with no other
/// thread to wake on its way; starting a thread per request, as the connection did before,
/// put a clone and the new thread's first run on every request's path (BENCHMARKS.md, issue
/// 22 item 4). Reading still never waits for a slow request: it has passed the turn on.
final class ReadingTurns: @unchecked Sendable {
    private let condition = NSCondition()
    private var someoneReads = false
    private var waiting = 0
    private var ended = false

    /// Waits for the turn to read; false once the input has ended.
    func take() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        waiting += 1
        while someoneReads && !ended { condition.wait() }
        waiting -= 1
        if ended { return false }
        someoneReads = true
        return true
    }

    /// Gives the turn up: to a thread waiting for it, or to one `start` makes.
    func pass(start: () -> Void) {
        condition.lock()
        someoneReads = false
        let idle = waiting
        if idle > 0 { condition.signal() }
        condition.unlock()
        if idle == 0 { start() }
    }

    /// Whether a thread that has answered its request should wait for another turn: up to
    /// `idleKept` idle threads, more would only pile up after a burst. Two, not one: the
    /// client's next request often arrives (the woken client runs first on its core) and has
    /// its turn passed before the thread that answered is back waiting; with one idle thread
    /// kept, that turn started a thread and the returning one then ended, a thread started
    /// every few dozen requests (BENCHMARKS.md, issue 22). A reader never waits for a
    /// returning thread: one blocked sending to a client that does not read could hold the
    /// turn forever.
    var wanted: Bool { condition.withLock { !ended && waiting < Self.idleKept } }
    static let idleKept = 2

    /// The input ended: every waiting thread's `take` returns false.
    func end() {
        condition.withLock {
            ended = true
            someoneReads = false
        }
        condition.broadcast()
    }
}
