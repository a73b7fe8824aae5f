import Foundation

/// The threads of a JSON-RPC connection take turns reading its input (leader/follower): the
/// thread that reads a request passes the turn to an idle thread (or starts one) and answers
/// the request itself. A request is then handled on the thread that read it, with no other
/// thread to wake on its way; starting a thread per request, as the connection did before,
/// put a clone and the new thread's first run on every request's path (BENCHMARKS.md, issue
/// 22 item 4). Reading still never waits for a slow request: it has passed the turn on.
///
/// A thread about to send its answer says it is coming back (`comingBack`) before it sends:
/// the client's next request can arrive, be read and have its turn passed before that thread
/// is back in `take` (the woken client often runs on its core first), and a thread started
/// for each such turn, only to end when the other came back, was a thread started every few
/// dozen requests (BENCHMARKS.md, issue 22).
final class ReadingTurns: @unchecked Sendable {
    private let condition = NSCondition()
    private var someoneReads = false
    private var waiting = 0
    /// Threads that have finished a request and are on their way back to `take`.
    private var returning = 0
    private var ended = false

    /// Waits for the turn to read; false once the input has ended. `returning`: the caller
    /// said it was coming back (`comingBack`), and now is.
    func take(returning wasReturning: Bool = false) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if wasReturning { returning -= 1 }
        waiting += 1
        while someoneReads && !ended { condition.wait() }
        waiting -= 1
        if ended { return false }
        someoneReads = true
        return true
    }

    /// Gives the turn up: to a thread waiting for it, to one coming back for it, or to one
    /// `start` makes.
    func pass(start: () -> Void) {
        condition.lock()
        someoneReads = false
        let idle = waiting, coming = returning
        if idle > 0 { condition.signal() }
        condition.unlock()
        if idle == 0 && coming == 0 { start() }
    }

    /// Called by a thread that has handled its request, before it sends the answer: true when
    /// it should come back for another turn (then its next `take` says `returning: true`),
    /// false when it should end. One idle thread is enough; more would only pile up after a
    /// burst. A thread that must come back anyway (`run`'s) passes `always`.
    func comingBack(always: Bool = false) -> Bool {
        condition.withLock {
            guard always || (!ended && waiting + returning == 0) else { return false }
            returning += 1
            return true
        }
    }

    /// The input ended: every waiting thread's `take` returns false.
    func end() {
        condition.withLock {
            ended = true
            someoneReads = false
        }
        condition.broadcast()
    }
}
