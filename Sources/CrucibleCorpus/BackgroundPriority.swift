import Foundation
import Synchronization

/// The corpus writer's scheduling: in the background (SCHED_IDLE) while it only keeps up,
/// at normal priority when it must catch up or a reader waits on it (`LaterRecords`).
///
/// SCHED_IDLE rather than a nice value because of what it does on a wake-up: a request's
/// thread that wakes on the writer's core takes it at once, where a nice-19 writer keeps it
/// for the rest of its slice. On two cores shared by the client, the host and the worker,
/// that was the difference between a recorded session cell at 100-110 µs and 70-80 µs
/// (BENCHMARKS.md, issue 22).
///
/// A thread may always lower its own priority, but going back from SCHED_IDLE needs
/// CAP_SYS_NICE in the initial user namespace or an RLIMIT_NICE that allows the thread's nice
/// value (sched(7)). Without either, a writer once in the background could be starved for good
/// on a busy machine while its backlog grows, so the writer then stays at normal priority (and
/// still yields). Whether this process may come back is found by trying it on a thread of its
/// own: in a user namespace (rootless containers, `unshare -r`) CapEff shows CAP_SYS_NICE while
/// the kernel refuses the return.
enum BackgroundPriority {
    /// Whether a thread of this process, once at SCHED_IDLE, may return to normal scheduling.
    static let canReturn: Bool = {
        let result = Mutex(false)
        let done = DispatchSemaphore(value: 0)
        Thread {
            if set(background: true) { result.withLock { $0 = set(background: false) } }
            done.signal()
        }.start()
        done.wait()
        return result.withLock { $0 }
    }()

    /// Runs `body` at normal priority when the calling thread is in the background, and puts it
    /// back after: what the writer starts (git, for the workspace) must not inherit SCHED_IDLE.
    static func atNormalPriority<T>(_ body: () throws -> T) rethrows -> T {
        guard isBackground, set(background: false) else { return try body() }
        defer { set(background: true) }
        return try body()
    }

    /// Moves the calling thread into (`true`) or out of (`false`) the background; false when the
    /// kernel refused.
    @discardableResult
    static func set(background: Bool) -> Bool {
        var parameters = sched_param(sched_priority: 0)
        // Linux applies sched_setscheduler(0, ...) to the calling thread, not the whole process.
        return sched_setscheduler(0, background ? 5 /* SCHED_IDLE */ : SCHED_OTHER, &parameters) == 0
    }

    /// Whether the calling thread is at SCHED_IDLE.
    static var isBackground: Bool { sched_getscheduler(0) == 5 }
}
