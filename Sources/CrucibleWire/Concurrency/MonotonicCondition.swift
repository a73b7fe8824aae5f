import Glibc

/// A lock and condition, as Foundation's `NSCondition`, whose timed waits run on
/// CLOCK_MONOTONIC. `NSCondition.wait(until: Date)` waits on the wall clock
/// (`pthread_cond_timedwait` with CLOCK_REALTIME): with the wall clock set back by an hour (NTP,
/// a VM's clock resynced after a pause), a 5 ms corpus batch would wait an hour for its commit,
/// and set forward, a 30 s wait for a worker would give up at once. Deadlines here are
/// `MonotonicCondition.Deadline`s: instants of the monotonic clock, which no one sets.
public final class MonotonicCondition: @unchecked Sendable {
    /// An instant of CLOCK_MONOTONIC.
    public struct Deadline: Sendable, Comparable {
        let nanoseconds: Int64

        public static func < (left: Deadline, right: Deadline) -> Bool { left.nanoseconds < right.nanoseconds }

        /// Now, on the monotonic clock.
        public static var now: Deadline {
            var time = timespec()
            clock_gettime(CLOCK_MONOTONIC, &time)
            return Deadline(nanoseconds: Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec))
        }

        /// `duration` from now; a negative duration is now, an enormous one saturates.
        public static func after(_ duration: Duration) -> Deadline {
            let (seconds, attoseconds) = duration.components  // both of the duration's sign
            guard seconds > 0 || attoseconds > 0 else { return now }
            let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
            let (span, overflowToo) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
            let (sum, overflowAtNow) = now.nanoseconds.addingReportingOverflow(span)
            return Deadline(nanoseconds: overflow || overflowToo || overflowAtNow ? Int64.max : sum)
        }

        public var hasPassed: Bool { Deadline.now >= self }
    }

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Waits (holding the lock) until signalled, or spuriously: call it in a loop on the state.
    public func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits (holding the lock) until signalled or `deadline`; false once the deadline has
    /// passed. May return true spuriously, as any condition: call it in a loop on the state.
    public func wait(until deadline: Deadline) -> Bool {
        guard deadline.nanoseconds < Int64.max else {
            wait()
            return true
        }
        var time = timespec(tv_sec: Int(deadline.nanoseconds / 1_000_000_000), tv_nsec: Int(deadline.nanoseconds % 1_000_000_000))
        return pthread_cond_timedwait(condition, mutex, &time) != ETIMEDOUT
    }

    public func signal() { pthread_cond_signal(condition) }
    public func broadcast() { pthread_cond_broadcast(condition) }
}
