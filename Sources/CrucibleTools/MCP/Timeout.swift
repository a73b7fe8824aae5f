import Foundation
import Synchronization

/// Waits for `body` at most `seconds`; a server that never answers its handshake must not
/// hang `crucible mcp` forever.
/// `onTimeout` must make `body` return (stopping the server fails its pending requests).
/// Once the time is up the timeout is the error, whatever `body` throws as it unwinds: killing
/// the server makes `body` fail too, and that failure could otherwise reach the caller first.
func withTimeout<T: Sendable>(
    seconds: Double, _ what: String, onTimeout: @escaping @Sendable () -> Void,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let timedOut = Flag()
    let expired = MCPToolSource.Failure(description: "\(what) did not finish within \(Int(seconds)) s")
    return try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
            timedOut.value.store(true, ordering: .sequentiallyConsistent)
            onTimeout()
            throw expired
        }
        do {
            let first = try await group.next()!
            group.cancelAll()
            return first
        } catch {
            group.cancelAll()
            throw timedOut.value.load(ordering: .sequentiallyConsistent) ? expired : error
        }
    }
}

private final class Flag: Sendable {
    let value = Atomic<Bool>(false)
}
