import Foundation

/// How many long-lived things (persistent sessions, each holding a worker's channel and
/// pidfd) this process can keep open before it runs out of file descriptors.
public enum DescriptorBudget {
    /// Descriptors kept for everything else: the pool, running executions, the corpus,
    /// tool subprocesses, the protocol streams.
    static let reserved = 256
    /// A persistent session holds a worker's channel and pidfd.
    static let perSession = 2

    /// Raises the soft RLIMIT_NOFILE to the hard limit, as servers do at start; returns the soft limit now.
    @discardableResult
    public static func raiseOpenFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// Sessions that fit in the open-file limit beside `runningExecutions` fresh executions
    /// (two descriptors each too), at least 1 and at most 10,000.
    public static func sessions(runningExecutions: Int) -> Int {
        var limit = rlimit()
        let soft = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Int(clamping: limit.rlim_cur) : 1024
        let free = soft - reserved - perSession * runningExecutions
        return min(10_000, max(1, free / perSession))
    }
}
