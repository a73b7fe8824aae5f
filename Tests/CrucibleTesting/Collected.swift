import Crucible
import Foundation

/// Results gathered from many threads.
package final class ResultList: @unchecked Sendable {
    package init() {}
    private let lock = NSLock()
    private var stored: [JSONValue?] = []
    package func append(_ value: JSONValue?) { lock.withLock { stored.append(value) } }
    package var values: [JSONValue?] { lock.withLock { stored } }
    package var count: Int { values.count }
}

/// A count shared by threads.
package final class Counter: @unchecked Sendable {
    package init() {}
    private let lock = NSLock()
    private var count = 0
    package func increment() { lock.withLock { count += 1 } }
    package var value: Int { lock.withLock { count } }
}
