import Foundation

/// Runs blocking work from async code on a thread of its own: a sandbox execution waits on
/// its worker (and on the tool calls the code makes), a validation on the validators' worker,
/// a confined pytest run on its process. Not on Dispatch's global queue: on Linux Swift's
/// cooperative pool is that queue, as wide as the cores, so two blocked executions would
/// starve the tasks that answer their tool calls (in `crucible mcp` a slow call held up every
/// quick one sent after it, until this; Tests/python/test_mcp.py checks it).
public func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}

/// The same for work that cannot fail.
public func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}
