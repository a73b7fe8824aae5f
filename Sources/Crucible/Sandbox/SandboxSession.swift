import Dispatch
import Foundation

/// One confined worker kept alive across cells, like a notebook kernel: variables,
/// imports and functions defined in one cell are there in the next.
///
/// Cells run one at a time. A cell that kills its worker (timeout, crash, seccomp) closes
/// the session; so does `idleTimeout` without a cell. `restart()` starts over with an
/// empty namespace.
public final class SandboxSession: @unchecked Sendable {
    private let pool: WorkerPool
    private let limits: ExecutionLimits
    public let idleTimeout: Duration
    public let tools: Toolbox
    /// One dispatcher for the worker's life: call numbers run on across cells.
    private var dispatcher: ToolDispatcher?
    private let lock = NSLock()
    private var worker: Worker?
    private var closedReason: String?
    private var cells = 0
    private var lastUsed = ContinuousClock.now
    private var idleTimer: DispatchSourceTimer?

    init(pool: WorkerPool, limits: ExecutionLimits, idleTimeout: Duration, tools: Toolbox = Toolbox()) throws {
        self.pool = pool
        self.tools = tools
        self.limits = limits
        self.idleTimeout = idleTimeout
        try start()
    }

    /// Cells run so far since the session (re)started.
    public var cellCount: Int { lock.withLock { cells } }

    /// Whether the session still has a live worker; nil reason means open.
    public var closedBecause: String? { lock.withLock { closedReason } }

    /// Runs the next cell. Throws `SandboxError.sessionClosed` once the session has closed.
    public func execute(_ code: String, inputs: [String: JSONValue] = [:]) throws -> ExecutionResult {
        try WorkerJob.validate(inputs: inputs)
        lock.lock()
        defer { lock.unlock() }
        // The timer frees an idle worker early; this check makes the timeout exact even when
        // the timer runs late on a busy machine.
        if closedReason == nil && ContinuousClock.now - lastUsed >= idleTimeout {
            closeLocked(reason: "idle for longer than \(idleTimeout)")
        }
        guard let worker, closedReason == nil else {
            throw SandboxError.sessionClosed(closedReason ?? "closed")
        }
        cells += 1
        let job = WorkerJob(
            code: code, filename: "<cell \(cells)>", inputs: inputs, keepAlive: true, limits: limits,
            // The worker keeps the tool functions it built in cell 1 (in scope and in `tools`).
            tools: cells == 1 ? tools.contracts : [], cell: cells)
        let (result, alive) = WorkerExecution(
            worker: worker, pool: pool, limits: limits, tools: dispatcher, spinForReplies: true
        ).run(job: job.encoded())
        lastUsed = .now
        if !alive {
            closeLocked(reason: "its worker ended in cell \(cells): \(result.outcome)")
        }
        return result
    }

    /// Replaces the worker with a fresh one: all state is gone, cell numbers start at 1.
    public func restart() throws {
        lock.lock()
        defer { lock.unlock() }
        closeLocked(reason: "restarted")
        try startLocked()
    }

    /// Kills the worker. Later cells throw `sessionClosed`.
    public func close() {
        lock.withLock { closeLocked(reason: "closed by the host") }
    }

    deinit {
        idleTimer?.cancel()
        if let worker { pool.release(worker) }
    }

    private func start() throws {
        lock.lock()
        defer { lock.unlock() }
        try startLocked()
    }

    private func startLocked() throws {
        switch pool.acquire(limits: limits.workerLimits, keptLong: true) {
        case .success(let acquired): worker = acquired
        case .failure(let failure): throw SandboxError.zygoteFailed(failure.message)
        }
        closedReason = nil
        dispatcher = tools.isEmpty ? nil : ToolDispatcher(toolbox: tools)
        cells = 0
        lastUsed = .now
        let timer = DispatchSource.makeTimerSource(queue: .global())
        let interval = max(0.05, min(idleTimeout.seconds / 4, 1.0))
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [weak self] in self?.closeIfIdle() }
        timer.resume()
        idleTimer = timer
    }

    private func closeIfIdle() {
        guard lock.try() else { return }  // a cell is running: not idle
        defer { lock.unlock() }
        if closedReason == nil && ContinuousClock.now - lastUsed >= idleTimeout {
            closeLocked(reason: "idle for longer than \(idleTimeout)")
        }
    }

    private func closeLocked(reason: String) {
        idleTimer?.cancel()
        idleTimer = nil
        if let worker {
            pool.release(worker)
            self.worker = nil
        }
        if closedReason == nil { closedReason = reason }
    }
}
