import Synchronization

/// A value shared between threads or tasks behind the standard library's `Mutex`, as a class so
/// that closures can hold it (a `Mutex` itself cannot be copied into one). The checked
/// replacement for a class with an `NSLock` and `@unchecked Sendable`.
package final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    package init(_ value: Value) { mutex = Mutex(value) }

    package func withLock<Result>(_ body: (inout sending Value) throws -> sending Result) rethrows -> sending Result {
        try mutex.withLock(body)
    }

    package var value: Value { mutex.withLock { $0 } }
}
