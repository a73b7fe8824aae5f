import Foundation

/// Waits for `body` at most `seconds`; a server that never answers its handshake must not
/// hang `crucible mcp` forever.
/// `onTimeout` must make `body` return (stopping the server fails its pending requests).
func withTimeout<T: Sendable>(
    seconds: Double, _ what: String, onTimeout: @escaping @Sendable () -> Void,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
            onTimeout()
            throw MCPToolSource.Failure(description: "\(what) did not finish within \(Int(seconds)) s")
        }
        let first = try await group.next()!
        group.cancelAll()
        return first
    }
}
