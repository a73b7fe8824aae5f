@testable import CrucibleWire
import Foundation
import Testing

/// The condition behind the pool's waits for workers, the corpus writer's batch window and the
/// MCP transport's wait for answers: its timed waits must run on the monotonic clock, so that
/// setting the wall clock (NTP, a resumed VM) neither stretches nor cuts them. The tests cannot
/// set the machine's clock; they pin what makes a wall-clock wait impossible: a deadline is an
/// instant of CLOCK_MONOTONIC, and a wait really waits until it (a condition on the wall clock,
/// handed a monotonic instant, would see a deadline in 1970 and return at once: the two wait
/// tests fail without the condition's clock attribute).
struct MonotonicConditionTests {
    func clock(_ id: clockid_t) -> Int64 {
        var time = timespec()
        clock_gettime(id, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    @Test func aDeadlineIsAnInstantOfTheMonotonicClockNotOfTheWallClock() {
        let before = clock(CLOCK_MONOTONIC)
        let deadline = MonotonicCondition.Deadline.after(.seconds(2))
        let after = clock(CLOCK_MONOTONIC)
        #expect(deadline.nanoseconds >= before + 2_000_000_000 && deadline.nanoseconds <= after + 2_000_000_000)
    }

    @Test func aTimedWaitNobodySignalsLastsUntilItsDeadline() {
        let condition = MonotonicCondition()
        let started = clock(CLOCK_MONOTONIC)
        let deadline = MonotonicCondition.Deadline.after(.milliseconds(50))
        condition.lock()
        // Until the wait says it timed out (a spurious wake-up may come first): it must not
        // say so before the deadline.
        while condition.wait(until: deadline) {}
        condition.unlock()
        #expect(clock(CLOCK_MONOTONIC) - started >= 50_000_000)
    }

    /// What the waiter waits for, guarded by the condition's lock.
    final class Flag: @unchecked Sendable { var raised = false }

    @Test func aSignalWakesAWaiterLongBeforeItsDeadline() {
        let condition = MonotonicCondition()
        let flag = Flag()
        let signaller = Thread {
            Thread.sleep(forTimeInterval: 0.02)
            condition.withLock { flag.raised = true }
            condition.signal()
        }
        let deadline = MonotonicCondition.Deadline.after(.seconds(120))
        condition.lock()
        // Started holding the lock: the flag cannot be raised before the first wait.
        signaller.start()
        var waits = 0
        while !flag.raised {
            waits += 1
            #expect(condition.wait(until: deadline), "woken by the signal, not by the deadline")
        }
        condition.unlock()
        #expect(waits >= 1)
    }

    @Test func absurdDurationsSaturateInsteadOfOverflowing() {
        #expect(MonotonicCondition.Deadline.after(.seconds(Int64.max)).nanoseconds == Int64.max)
        #expect(MonotonicCondition.Deadline.after(.seconds(-5)).hasPassed)
        #expect(MonotonicCondition.Deadline.after(.seconds(Int64.min)).hasPassed)
        #expect(MonotonicCondition.Deadline.after(.seconds(-10_000_000_000)).hasPassed)
        #expect(MonotonicCondition.Deadline.after(.seconds(9_223_372_036) + .milliseconds(900)).nanoseconds == Int64.max)
    }
}
