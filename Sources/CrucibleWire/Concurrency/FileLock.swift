import Foundation

/// An exclusive `flock` on a lock file, held while `body` runs: how processes that share a
/// cache or a database agree on who sets it up (NSFileCoordinator does not exist on Linux).
/// The lock file is separate from what it guards, so closing it never drops a lock the guarded
/// file holds (SQLite's POSIX locks). When it cannot be made (a read-only folder), `body` runs
/// unlocked and reports the real problem itself.
package enum FileLock {
    package static func whileHolding<T>(_ lockFile: String, _ body: () throws -> T) throws -> T {
        let descriptor = open(lockFile, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return try body() }
        defer { close(descriptor) }  // closing releases the lock
        while flock(descriptor, LOCK_EX) != 0 && errno == EINTR {}
        return try body()
    }

    /// The same for async work that may take minutes (building an image): the lock is polled
    /// without blocking, so no thread of the cooperative pool waits on another process.
    package static func whileHolding<T>(_ lockFile: String, _ body: () async throws -> T) async throws -> T {
        let descriptor = open(lockFile, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return try await body() }
        defer { close(descriptor) }
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await body()
    }
}
