import CrucibleWire
import Foundation

/// The fresh executions a sandbox is running, so that a server going away can stop them all
/// at once (each ends `cancelled`) instead of waiting out their wall clocks.
final class RunningExecutions: Sendable {
    private let running = Locked<[ObjectIdentifier: (cancellation: Cancellation, worker: Worker)]>([:])

    func add(_ cancellation: Cancellation, worker: Worker) {
        running.withLock { $0[ObjectIdentifier(cancellation)] = (cancellation, worker) }
    }

    func remove(_ cancellation: Cancellation) {
        running.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(cancellation)) }
    }

    /// Kills every running execution's worker; each reports `cancelled` with `reason`.
    func cancelAll(_ reason: String) {
        for (cancellation, worker) in running.value.values {
            cancellation.cancel(reason) { worker.kill() }
        }
    }
}
