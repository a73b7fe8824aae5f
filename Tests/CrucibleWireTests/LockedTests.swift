import CrucibleWire
import Foundation
import Testing

@Suite("Locked")
struct LockedTests {
    struct Refused: Error {}

    @Test("a count kept behind Locked reads back what was added, from several threads, through a throwing body")
    func countsFromThreads() throws {
        let count = Locked(0)
        DispatchQueue.concurrentPerform(iterations: 38) { _ in
            try? count.withLock { value in
                if value < 0 { throw Refused() }
                value += 1
            }
        }
        #expect(count.value == 38)
        #expect(throws: Refused.self) { try count.withLock { _ in throw Refused() } }
        #expect(count.value == 38)
    }
}

