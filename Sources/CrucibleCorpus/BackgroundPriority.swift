import Foundation

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
/// CAP_SYS_NICE or an RLIMIT_NICE of 20 (sched(7)). Without either, a writer once in the
/// background could be starved for good on a busy machine while its backlog grows, so the
/// writer then stays at normal priority (and still waits for requests to finish).
enum BackgroundPriority {
    /// Whether this process may return a thread from SCHED_IDLE to normal scheduling.
    static let canReturn: Bool = {
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(__RLIMIT_NICE.rawValue), &limit) == 0, limit.rlim_cur >= 20 { return true }
        return effectiveCapabilities.map { $0 & (1 << 23) != 0 } ?? false  // CAP_SYS_NICE
    }()

    /// Moves the calling thread into (`true`) or out of (`false`) the background; false when the
    /// kernel refused.
    @discardableResult
    static func set(background: Bool) -> Bool {
        var parameters = sched_param(sched_priority: 0)
        // Linux applies sched_setscheduler(0, ...) to the calling thread, not the whole process.
        return sched_setscheduler(0, background ? 5 /* SCHED_IDLE */ : SCHED_OTHER, &parameters) == 0
    }

    /// The calling thread's policy (tests): true when it is SCHED_IDLE.
    static var isBackground: Bool { sched_getscheduler(0) == 5 }

    /// CapEff from /proc/self/status.
    private static var effectiveCapabilities: UInt64? {
        guard let file = fopen("/proc/self/status", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(cString: line)
            if text.hasPrefix("CapEff:") {
                return UInt64(text.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespacesAndNewlines), radix: 16)
            }
        }
        return nil
    }
}
