import Foundation

/// Bounds how many fresh executions a sandbox runs at once and how many may wait their turn.
/// Each running execution holds a worker process and two descriptors; without a bound, a
/// flood of requests (an agent's burst, an RL batch) forks until memory or descriptors run
/// out. Waiting requests are admitted in arrival order; one beyond the queue is refused at
/// once with `Busy`, so every request gets an answer.
final class ExecutionAdmission: @unchecked Sendable {
    let maxRunning: Int
    let maxWaiting: Int
    private let condition = NSCondition()
    private var running = 0
    private var waiting = 0
    /// Tickets, so waiters are admitted first come, first served.
    private var nextTicket: UInt64 = 0
    private var nowServing: UInt64 = 0
    private var closed = false

    struct Busy: Error, CustomStringConvertible {
        let running: Int
        let waiting: Int
        var description: String {
            "busy: \(running) execution\(running == 1 ? " is" : "s are") running and \(waiting) waiting, the most this sandbox queues; retry shortly"
        }
    }

    init(maxRunning: Int, maxWaiting: Int) {
        self.maxRunning = max(1, maxRunning)
        self.maxWaiting = max(0, maxWaiting)
    }

    /// Waits for a turn; throws `Busy` when the queue is full. Returns false after `close()`.
    func enter() throws(Busy) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if closed { return false }
        if running < maxRunning && waiting == 0 {
            running += 1
            return true
        }
        guard waiting < maxWaiting else { throw Busy(running: running, waiting: waiting) }
        let ticket = nextTicket
        nextTicket &+= 1
        waiting += 1
        defer { waiting -= 1 }
        while !closed && !(ticket == nowServing && running < maxRunning) {
            condition.wait()
        }
        if closed { return false }
        nowServing &+= 1
        running += 1
        condition.broadcast()  // the next ticket may be admitted too
        return true
    }

    /// Ends a turn that `enter` granted.
    func leave() {
        condition.lock()
        running -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Wakes every waiter, which then gets `false`; later calls get `false` at once.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    var counts: (running: Int, waiting: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (running, waiting)
    }
}
