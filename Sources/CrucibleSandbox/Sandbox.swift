import CrucibleWire
import Foundation

/// Runs untrusted Python in confined CPython workers.
///
/// A `Sandbox` starts one zygote process and keeps `poolSize` confined workers forked
/// ahead of demand; each `execute` hands its code to a waiting worker, which runs it
/// and dies. Sessions keep one worker, and its variables, across cells.
///
/// ```swift
/// let sandbox = try Sandbox()
/// let result = sandbox.execute("sum(i * i for i in range(10))")
/// print(result.value?.text ?? "")  // 285
/// ```
public final class Sandbox: Sendable {
    let pool: WorkerPool
    let admission: ExecutionAdmission
    let running = RunningExecutions()
    public let configuration: SandboxConfiguration

    /// Starts the zygote and fills the pool. Throws when the sandbox cannot be built here.
    public init(configuration: SandboxConfiguration = SandboxConfiguration()) throws {
        self.configuration = configuration
        self.admission = ExecutionAdmission(
            maxRunning: configuration.maxRunningExecutions, maxWaiting: configuration.maxQueuedExecutions)
        self.pool = try WorkerPool(configuration: configuration)
    }

    /// Runs `code` in a fresh worker, on the calling thread, and returns how it ended.
    /// Blocks while `maxRunningExecutions` others run (outcome `busy` at once when
    /// `maxQueuedExecutions` already wait), then for at most the wall-clock limit.
    /// From async code call `run` instead: async tools (every tool that starts a program)
    /// need a cooperative thread, and blocking one here may leave them none.
    /// `io`: stdin and files to read (SandboxFusion's `run_code`).
    public func execute(
        _ code: String, inputs: [String: JSONValue] = [:], limits: ExecutionLimits? = nil, tools: (any ExecutionTools)? = nil,
        io: ExecutionIO? = nil
    ) -> ExecutionResult {
        let limits = limits ?? configuration.defaultLimits
        if let name = WorkerJob.invalidInputName(in: inputs) {
            return Self.failed(.sandboxFailure("\(SandboxError.invalidInput("\(name.debugDescription) is not a Python identifier"))"))
        }
        let tools = tools.flatMap { $0.isEmpty ? nil : $0 }
        var job = WorkerJob(
            code: code, filename: "<code>", inputs: inputs, keepAlive: false, stdoutLimit: limits.stdoutBytes,
            stderrLimit: limits.stderrBytes, valueLimit: limits.valueBytes, tools: tools?.definitions ?? [])
        job.filesLimit = limits.outputFileBytes
        if let io {
            job.stdin = io.stdin
            job.inputFiles = io.files
            job.relativeToOutput = io.relativeToOutput
        }
        do {
            guard try admission.enter() else { return Self.failed(.sandboxFailure("the sandbox was shut down")) }
        } catch { return Self.failed(.busy(error.description)) }
        defer { admission.leave() }
        let worker: Worker
        switch pool.acquire(limits: limits.workerLimits) {
        case .success(let acquired): worker = acquired
        case .failure(let failure): return Self.failed(.sandboxFailure(failure.message))
        }
        defer { pool.release(worker) }
        let dispatcher = tools?.makeCallHandler()
        let cancellation = Cancellation()
        running.add(cancellation, worker: worker)
        defer { running.remove(cancellation) }
        return WorkerExecution(worker: worker, pool: pool, limits: limits, tools: dispatcher, cancellation: cancellation)
            .run(job: job).0
    }

    /// `execute` for async callers: the blocking wait happens on a thread of its own, never
    /// on the cooperative pool.
    public func run(
        _ code: String, inputs: [String: JSONValue] = [:], limits: ExecutionLimits? = nil, tools: (any ExecutionTools)? = nil
    ) async -> ExecutionResult {
        await onOwnThread { self.execute(code, inputs: inputs, limits: limits, tools: tools) }
    }

    /// Opens a session: one worker whose variables persist from cell to cell.
    public func openSession(
        idleTimeout: Duration = .seconds(300), limits: ExecutionLimits? = nil, tools: (any ExecutionTools)? = nil
    ) throws -> SandboxSession {
        try SandboxSession(
            pool: pool, limits: limits ?? configuration.defaultLimits, idleTimeout: idleTimeout, tools: tools)
    }

    /// The Python API the code sees for `tools`, rendered by the sandbox's own Python from the
    /// same objects the code calls: the text to put in a model's prompt.
    public func describe(_ tools: any ExecutionTools) throws -> String {
        let code = "import crucible_sandbox.tools as _tools\n_tools.render_api(contracts)"
        let contracts = JSONValue.array(tools.definitions)
        let result = execute(code, inputs: ["contracts": contracts])
        guard result.outcome == .ok, case .string(let text)? = result.value?.json else {
            throw SandboxError.zygoteFailed(
                "rendering the tool API failed: \(result.outcome) \(result.error?.traceback ?? "")")
        }
        return text
    }

    /// What this machine's kernel let the zygote enforce.
    public var report: SandboxReport { pool.report }

    /// What code ran with, as each corpus attempt records it: the interpreter's version and
    /// the third-party packages installed (name -> version).
    public var environmentRecord: JSONValue {
        ["python": .string(report.pythonVersion),
         "packages": .object((configuration.packages?.resolved ?? [:]).mapValues { .string($0) })]
    }

    /// Confined workers forked and waiting right now.
    public var idleWorkers: Int { pool.idleCount }

    /// Idle workers that have finished warming up (the ones a job gets first).
    public var warmIdleWorkers: Int { pool.warmIdleCount }

    /// The zygote's pid, for tests that kill it to check recovery. Not part of the public API.
    package var zygoteProcessForTesting: pid_t? { pool.zygotePID }

    /// Tests: asks the zygote for a worker forked with `limits` and waits for it at most
    /// `timeout`; true when it came in time (it is released at once). Not part of the public API.
    package func requestWorkerForTesting(limits: ExecutionLimits, timeout: Duration) -> Bool {
        switch pool.acquire(limits: limits.workerLimits, timeout: timeout) {
        case .success(let worker):
            pool.release(worker)
            return true
        case .failure:
            return false
        }
    }

    /// Tests: workers that arrived after their requester had stopped waiting, and were killed.
    package var lateWorkersKilledForTesting: Int { pool.lateWorkersKilled }

    /// Stops every fresh execution running now (each ends `cancelled` with `reason`); sessions
    /// are their owners' to close. Later executions run as usual.
    public func cancelRunning(_ reason: String) { running.cancelAll(reason) }

    /// Ends the zygote and all workers. Later executions end in `.sandboxFailure`.
    public func shutdown() {
        admission.close()
        pool.shutdown()
    }

    /// Fresh executions running now, and waiting for a turn.
    public var executionCounts: (running: Int, waiting: Int) { admission.counts }

    static func failed(_ outcome: ExecutionOutcome) -> ExecutionResult {
        ExecutionResult(
            outcome: outcome, value: nil, stdout: "", stderr: "", stdoutTruncatedBytes: 0, stderrTruncatedBytes: 0,
            error: nil, duration: .zero, cpuTime: nil)
    }
}
