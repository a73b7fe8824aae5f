import CSandboxKernel
import CrucibleWire
import Foundation

/// A confined worker handed to the host: its channel, its pidfd, and which zygote forked it.
struct Worker: Sendable {
    let pid: pid_t
    let channel: Int32
    let pidfd: Int32
    let generation: Int

    func kill() { _ = crucible_pidfd_send_signal(pidfd, SIGKILL) }
    /// Whether the worker has said it is warm: its channel has the "warm" frame to read.
    var isWarm: Bool {
        var descriptor = pollfd(fd: channel, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) == 1
    }
    func closeDescriptors() {
        close(channel)
        close(pidfd)
    }
}

/// How a worker ended, as its zygote saw it.
enum WorkerExit: Sendable {
    case exited(waitStatus: Int32, cpuMicroseconds: UInt64, maxRSSKiB: UInt64)
    case zygoteDied(String)
}

/// Keeps confined workers forked ahead of demand, restarts the zygote when it dies,
/// and routes each worker's exit report to whoever is waiting for it.
final class WorkerPool: @unchecked Sendable {
    private let configuration: SandboxConfiguration
    private let paths: (zygote: String, sandbox: String)
    private let state = MonotonicCondition()
    private let releases = DispatchQueue(label: "crucible.worker-release")
    private var zygote: ZygoteProcess?
    private var generation = 0
    private var idle: [Worker] = []
    private var pendingForPool = 0
    private var nextRequest: UInt64 = 1
    private var delivered: [UInt64: Result<Worker, SandboxFailure>] = [:]
    private var outstanding: Set<UInt64> = []
    /// Workers that arrived after their requester stopped waiting, and were killed (tests).
    private var lateWorkersKilledCount = 0
    private var exits: [WorkerKey: ExitSlot] = [:]
    private enum ExitSlot { case waiting, ended(WorkerExit) }
    private var lastPoolError: String?
    private var closed = false
    /// What the current zygote reported, decoded once per zygote: requests read it (the
    /// interpreter's version), and parsing its JSON on each was 12% of serve's CPU per fresh
    /// execution. A restart replaces it while requests run: under a lock of its own, not
    /// `state`, which a restart holds while the new zygote starts (a health check reading
    /// the report would wait seconds).
    private let reportLock = NSLock()
    private var currentReport = SandboxReport(json: "{}")
    var report: SandboxReport { reportLock.withLock { currentReport } }

    private static let poolRequest: UInt64 = 0

    struct WorkerKey: Hashable { let generation: Int, pid: pid_t }
    struct SandboxFailure: Error { let message: String }

    init(configuration: SandboxConfiguration) throws {
        self.configuration = configuration
        self.paths = try configuration.resolvedPaths()
        state.lock()
        defer { state.unlock() }
        try startZygoteLocked()
        refillLocked()
    }

    /// A worker forked with these limits; from the warm pool when they are the defaults.
    /// `keptLong`: the worker serves a session, so no `release` will top the pool up soon.
    func acquire(limits: WorkerLimits, keptLong: Bool = false, timeout: Duration = .seconds(30)) -> Result<Worker, SandboxFailure> {
        let layers = configuration.workerLayers
        let deadline = MonotonicCondition.Deadline.after(timeout)
        state.lock()
        defer { state.unlock() }
        if closed { return .failure(SandboxFailure(message: "the sandbox was shut down")) }
        if zygote == nil {
            do { try startZygoteLocked() } catch { return .failure(SandboxFailure(message: "\(error)")) }
        }
        if limits == configuration.defaultLimits.workerLimits && configuration.poolSize > 0 {
            while idle.isEmpty {
                refillLocked()
                if let error = lastPoolError {
                    lastPoolError = nil
                    return .failure(SandboxFailure(message: "the zygote could not fork a worker: \(error)"))
                }
                if zygote == nil {
                    return .failure(SandboxFailure(message: "the zygote died while forking workers"))
                }
                if !state.wait(until: deadline) {
                    return .failure(SandboxFailure(message: "no worker arrived within \(timeout)"))
                }
            }
            // The newest warm worker (last in, first out, as thread pools do): what its warm-up
            // touched is likeliest to be in the caches still; the oldest has slept longest and
            // wakes slower (BENCHMARKS.md, "Design measurements": pool order). One still
            // warming up would run the job on a cold cache while its warm-up competes for the CPU.
            let worker = idle.remove(at: idle.lastIndex(where: \.isWarm) ?? 0)
            exits[WorkerKey(generation: worker.generation, pid: worker.pid)] = .waiting
            // Refill only when the pool runs low: a fork now would compete with this job for
            // the CPU (2 cores here). `release` tops the pool up once the job is done; a session
            // may hold its worker for minutes, so its place is filled at once.
            if idle.isEmpty || keptLong { refillLocked() }
            return .success(worker)
        }
        let request = nextRequest
        nextRequest += 1
        outstanding.insert(request)
        defer { outstanding.remove(request) }
        guard sendUnlocked(.spawn(request: request, count: 1, limits: limits, layers: layers)) else {
            return .failure(SandboxFailure(message: "the zygote is not answering"))
        }
        while delivered[request] == nil {
            // A worker delivered as the wait timed out is still taken: once this request is no
            // longer outstanding, a late worker is killed (readControl), never kept.
            if !state.wait(until: deadline), delivered[request] == nil {
                return .failure(SandboxFailure(message: "no worker arrived within \(timeout)"))
            }
        }
        let result = delivered.removeValue(forKey: request)!
        if case .success(let worker) = result {
            exits[WorkerKey(generation: worker.generation, pid: worker.pid)] = .waiting
        }
        return result
    }

    /// Waits for the zygote's report of how the worker ended.
    func awaitExit(of worker: Worker, timeout: Duration) -> WorkerExit? {
        let key = WorkerKey(generation: worker.generation, pid: worker.pid)
        let deadline = MonotonicCondition.Deadline.after(timeout)
        state.lock()
        defer { state.unlock() }
        while case .waiting? = exits[key] {
            if !state.wait(until: deadline) { break }
        }
        if case .ended(let exit)? = exits[key] { return exit }
        return nil
    }

    /// The host is done with this worker: it is killed, its descriptors closed, its exit forgotten.
    /// On a queue of its own, after the caller has its result: the kill, two closes and the
    /// refill request to the zygote are not on the fresh path's clock (BENCHMARKS.md, "Design
    /// measurements": release).
    func release(_ worker: Worker) {
        releases.async { [self] in
            worker.kill()
            worker.closeDescriptors()
            state.lock()
            exits.removeValue(forKey: WorkerKey(generation: worker.generation, pid: worker.pid))
            refillLocked()
            state.unlock()
        }
    }

    /// Waits until every worker released so far is killed and its descriptors closed.
    func waitForReleases() { releases.sync {} }

    /// Ends the zygote and every worker; later acquisitions fail.
    func shutdown() {
        waitForReleases()
        state.lock()
        closed = true
        let current = zygote
        zygote = nil
        let waiting = idle
        idle = []
        state.broadcast()
        state.unlock()
        waiting.forEach { $0.closeDescriptors() }
        current?.terminate()
    }

    /// Test hook: the zygote's pid, so a test can kill it and watch the host recover.
    var zygotePID: pid_t? {
        state.lock()
        defer { state.unlock() }
        return zygote?.pid
    }

    var idleCount: Int {
        state.lock()
        defer { state.unlock() }
        return idle.count
    }

    var lateWorkersKilled: Int { state.withLock { lateWorkersKilledCount } }

    /// Idle workers that finished their warm-up (their "warm" frame is waiting to be read).
    var warmIdleCount: Int {
        state.lock()
        defer { state.unlock() }
        return idle.filter(\.isWarm).count
    }

    // MARK: - Zygote life cycle

    private func startZygoteLocked() throws {
        let process = try ZygoteProcess(zygote: paths.zygote, sandbox: paths.sandbox, configuration: configuration)
        generation += 1
        zygote = process
        let decoded = SandboxReport(json: process.report)
        reportLock.withLock { currentReport = decoded }
        pendingForPool = 0
        let generation = self.generation
        let thread = Thread { [weak self] in self?.readControl(from: process, generation: generation) }
        thread.name = "crucible-zygote-control"
        thread.start()
    }

    /// Asks the zygote for the workers the pool lacks. Called with `state` held.
    private func refillLocked() {
        guard zygote != nil, configuration.poolSize > 0 else { return }
        let missing = configuration.poolSize - idle.count - pendingForPool
        guard missing > 0 else { return }
        pendingForPool += missing
        let spawn = ControlMessage.spawn(
            request: Self.poolRequest, count: UInt64(missing),
            limits: configuration.defaultLimits.workerLimits, layers: configuration.workerLayers)
        let generation = self.generation
        if !sendUnlocked(spawn) && self.generation == generation { pendingForPool = max(0, pendingForPool - missing) }
    }

    /// Sends to the zygote with `state` released for the send, and held again after. The send
    /// can block until the zygote reads, and the zygote may itself be blocked handing workers
    /// to `readControl`, which needs `state`: holding it here deadlocked a flood of requests.
    private func sendUnlocked(_ message: ControlMessage) -> Bool {
        guard let zygote else { return false }
        state.unlock()
        let sent = zygote.send(message)
        state.lock()
        return sent
    }

    /// Runs on its own thread for each zygote: deliveries, exits and the zygote's death.
    private func readControl(from process: ZygoteProcess, generation: Int) {
        while let (message, fds) = process.receive() {
            state.lock()
            switch message {
            case .worker(let request, let pid) where fds.count == 2:
                let worker = Worker(pid: pid, channel: fds[0], pidfd: fds[1], generation: generation)
                if request == Self.poolRequest {
                    pendingForPool = max(0, pendingForPool - 1)
                    if self.generation == generation && !closed { idle.append(worker) } else {
                        worker.kill()
                        worker.closeDescriptors()
                    }
                } else if outstanding.contains(request) {
                    delivered[request] = .success(worker)
                } else {
                    // Its requester stopped waiting (a timeout): nobody will use or release it.
                    worker.kill()
                    worker.closeDescriptors()
                    lateWorkersKilledCount += 1
                }
            case .exited(let pid, let status, let cpu, let rss):
                let key = WorkerKey(generation: generation, pid: pid)
                if exits[key] != nil {
                    exits[key] = .ended(.exited(waitStatus: status, cpuMicroseconds: cpu, maxRSSKiB: rss))
                } else if let index = idle.firstIndex(where: { $0.pid == pid && $0.generation == generation }) {
                    idle.remove(at: index).closeDescriptors()  // died while waiting: never hand it out
                }
            case .spawnFailed(let request, _, let reason):
                if request == Self.poolRequest {
                    pendingForPool = 0
                    lastPoolError = reason
                } else if outstanding.contains(request) {
                    delivered[request] = .failure(SandboxFailure(message: "the zygote could not fork a worker: \(reason)"))
                }
            default:
                fds.forEach { close($0) }
            }
            state.broadcast()
            state.unlock()
        }
        let ending = process.reap()
        state.lock()
        if self.generation == generation {
            zygote = nil
            let dead = idle
            idle = []
            pendingForPool = 0
            dead.forEach { $0.closeDescriptors() }
            for request in outstanding where delivered[request] == nil {
                delivered[request] = .failure(SandboxFailure(message: "the sandbox zygote died (\(ending))"))
            }
            for (key, value) in exits where key.generation == generation {
                if case .waiting = value { exits[key] = .ended(.zygoteDied("the sandbox zygote died (\(ending))")) }
            }
        }
        state.broadcast()
        state.unlock()
    }
}
