import Foundation

/// The fresh executions a sandbox is running, so that a server going away can stop them all
/// at once (each ends `cancelled`) instead of waiting out their wall clocks.
final class RunningExecutions: @unchecked Sendable {
    private let lock = NSLock()
    private var running: [ObjectIdentifier: (cancellation: Cancellation, worker: Worker)] = [:]

    func add(_ cancellation: Cancellation, worker: Worker) {
        lock.withLock { running[ObjectIdentifier(cancellation)] = (cancellation, worker) }
    }

    func remove(_ cancellation: Cancellation) {
        lock.withLock { _ = running.removeValue(forKey: ObjectIdentifier(cancellation)) }
    }

    /// Kills every running execution's worker; each reports `cancelled` with `reason`.
    func cancelAll(_ reason: String) {
        for (cancellation, worker) in lock.withLock({ Array(running.values) }) {
            cancellation.cancel(reason) { worker.kill() }
        }
    }
}
