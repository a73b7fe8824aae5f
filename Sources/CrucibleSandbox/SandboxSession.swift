import CrucibleWire
import Dispatch
import Foundation

/// One confined worker kept alive across cells, like a notebook kernel: variables,
/// imports and functions defined in one cell are there in the next.
///
/// Cells run one at a time. A cell that kills its worker (timeout, crash, seccomp) closes
/// the session; so does `idleTimeout` without a cell, and `close()`, which also stops a
/// cell that is running. `restart()` starts over with an empty namespace.
public final class SandboxSession: @unchecked Sendable {
    private let pool: WorkerPool
    /// The limits the worker was forked with; a cell may shorten or lengthen only the wall clock.
    public let limits: ExecutionLimits
    public let idleTimeout: Duration
    /// The tools every cell may call.
    public let tools: (any ExecutionTools)?
    /// Serializes cells (and restarts); held for as long as a cell runs.
    private let cellLock = NSLock()
    /// Guards the fields below; never held across a cell, so `close()` can reach a running one.
    private let stateLock = NSLock()
    /// One call handler for the worker's life: call numbers run on across cells.
    private var dispatcher: (any ToolCallHandler)?
    private var worker: Worker?
    private var running: Cancellation?
    private var closedReason: String?
    private var cells = 0
    private var lastUsed = ContinuousClock.now
    private var idleTimer: DispatchSourceTimer?

    init(pool: WorkerPool, limits: ExecutionLimits, idleTimeout: Duration, tools: (any ExecutionTools)? = nil) throws {
        self.pool = pool
        self.tools = tools.flatMap { $0.isEmpty ? nil : $0 }
        self.limits = limits
        self.idleTimeout = idleTimeout
        try start()
    }

    /// Cells run so far since the session (re)started.
    public var cellCount: Int { stateLock.withLock { cells } }

    /// Whether the session still has a live worker; nil reason means open.
    public var closedBecause: String? { stateLock.withLock { closedReason } }

    /// Runs the next cell, with the session's wall clock unless `timeout` gives another.
    /// Throws `SandboxError.sessionClosed` once the session has closed.
    public func execute(_ code: String, inputs: [String: JSONValue] = [:], timeout: Duration? = nil) throws
        -> ExecutionResult
    {
        if let name = WorkerJob.invalidInputName(in: inputs) {
            throw SandboxError.invalidInput("\(name.debugDescription) is not a Python identifier")
        }
        cellLock.lock()
        defer { cellLock.unlock() }
        let cancellation = Cancellation()
        let (cellWorker, cellDispatcher, cell): (Worker, (any ToolCallHandler)?, Int) = try stateLock.withLock {
            // The timer frees an idle worker early; this check makes the timeout exact even when
            // the timer runs late on a busy machine.
            if closedReason == nil && ContinuousClock.now - lastUsed >= idleTimeout {
                closeLocked(reason: "idle for longer than \(idleTimeout)")
            }
            guard let current = worker, closedReason == nil else {
                throw SandboxError.sessionClosed(closedReason ?? "closed")
            }
            cells += 1
            running = cancellation
            return (current, dispatcher, cells)
        }
        var cellLimits = limits
        if let timeout { cellLimits.wallClock = timeout }
        var job = WorkerJob(
            code: code, filename: "<cell \(cell)>", inputs: inputs, keepAlive: true, stdoutLimit: cellLimits.stdoutBytes,
            stderrLimit: cellLimits.stderrBytes, valueLimit: cellLimits.valueBytes,
            // The worker keeps the tool functions it built in cell 1 (in scope and in `tools`).
            tools: cell == 1 ? tools?.definitions ?? [] : [], cell: cell)
        job.filesLimit = cellLimits.outputFileBytes
        let (result, alive) = WorkerExecution(
            worker: cellWorker, pool: pool, limits: cellLimits, tools: cellDispatcher, spinForReplies: true,
            firstJob: cell == 1, cancellation: cancellation
        ).run(job: job)
        stateLock.withLock {
            running = nil
            lastUsed = .now
            if !alive || closedReason != nil {
                closeLocked(reason: cancellation.reason ?? "its worker ended in cell \(cell): \(result.outcome)")
            }
        }
        return result
    }

    /// Replaces the worker with a fresh one: all state is gone, cell numbers start at 1.
    public func restart() throws {
        cellLock.lock()
        defer { cellLock.unlock() }
        try stateLock.withLock {
            closeLocked(reason: "restarted")
            try startLocked()
        }
    }

    /// Kills the worker, stopping a running cell (which ends `cancelled`). Later cells throw
    /// `sessionClosed`.
    public func close(reason: String = "closed by the host") {
        stateLock.withLock { closeLocked(reason: reason) }
    }

    deinit {
        idleTimer?.cancel()
        if let worker { pool.release(worker) }
    }

    private func start() throws {
        try stateLock.withLock { try startLocked() }
    }

    private func startLocked() throws {
        switch pool.acquire(limits: limits.workerLimits, keptLong: true) {
        case .success(let acquired): worker = acquired
        case .failure(let failure): throw SandboxError.zygoteFailed(failure.message)
        }
        closedReason = nil
        dispatcher = tools?.makeCallHandler()
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
        stateLock.withLock {
            guard running == nil else { return }  // a cell is running: not idle
            if closedReason == nil && ContinuousClock.now - lastUsed >= idleTimeout {
                closeLocked(reason: "idle for longer than \(idleTimeout)")
            }
        }
    }

    private func closeLocked(reason: String) {
        idleTimer?.cancel()
        idleTimer = nil
        if closedReason == nil { closedReason = reason }
        guard let worker else { return }
        if let running {
            // The running cell's thread sees its worker die, reports `cancelled`, and releases
            // it then: its descriptors must stay open while that thread still reads them.
            running.cancel(reason) { worker.kill() }
            return
        }
        self.worker = nil
        pool.release(worker)
    }
}
