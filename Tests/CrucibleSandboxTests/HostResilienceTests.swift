import Crucible
import CrucibleTesting
import Foundation
import Testing

@Suite("Host resilience", .serialized)
struct HostResilienceTests {
    /// Hostile programs that end their worker in every way a worker can end.
    static let hostile: [(code: String, accepts: @Sendable (ExecutionOutcome) -> Bool)] = [
        ("import ctypes\nctypes.string_at(0)", { if case .crashed = $0 { true } else { false } }),
        ("import os\nos.kill(os.getpid(), 9)", { if case .crashed = $0 { true } else { false } }),
        ("import ctypes\nctypes.CDLL(None).syscall(101, 0, 0, 0)", { $0 == .killedBySeccomp(syscall: "ptrace") }),
        ("import os\nos.write(3, b'\\xff\\xff\\xff\\x7fgarbage')", { if case .protocolViolation = $0 { true } else { false } }),
        ("import os\nos.write(3, b'\\x05\\x00\\x00\\x00R{{{{')", { if case .protocolViolation = $0 { true } else { false } }),
        ("import os\nos.write(3, b'\\x02\\x00\\x00\\x00Zx')", { if case .protocolViolation = $0 { true } else { false } }),
        ("import os\nos._exit(3)", { if case .crashed(nil, let reason) = $0 { reason.contains("status 3") } else { false } }),
        ("import sys\nsys.stdout.write('y' * 3_000_000)", { $0 == .ok }),
        ("x = bytearray(2**34)", { $0 == .memoryLimit }),
        ("raise SystemExit(4)", { $0 == .exception }),
        ("while True: pass", { $0 == .timeout }),
    ]

    @Test("1,000 consecutive hostile executions leak no process and no descriptor")
    func thousandHostileExecutions() throws {
        var limits = ExecutionLimits()
        limits.wallClock = .seconds(30)
        limits.memoryBytes = 128 << 20
        // Only the endless loop meets the wall clock, and it gets a short one; the others
        // finish on their own, however slow the machine is.
        var looping = limits
        looping.wallClock = .milliseconds(300)
        let sandbox = try TestSandboxes.isolated(poolSize: 2, limits: limits)
        defer { sandbox.shutdown() }
        _ = sandbox.execute("1")
        let pidfdsBefore = openPidfdCount()
        var unexpected: [String] = []
        for index in 0..<1_000 {
            let attack = Self.hostile[index % Self.hostile.count]
            let result = sandbox.execute(attack.code, limits: attack.code.hasPrefix("while True") ? looping : limits)
            if !attack.accepts(result.outcome) { unexpected.append("#\(index) \(attack.code.prefix(40)): \(result.outcome)") }
        }
        #expect(unexpected.isEmpty, "\(unexpected.prefix(5))")
        // The host still works, and holds what it held before (the pool's waiting workers aside).
        #expect(sandbox.execute("'still fine'").json == .string("still fine"))
        // The last workers are reaped as their executions end; give that a bounded moment.
        // Other suites' pools come and go in parallel; a leak here would be hundreds.
        #expect(eventually { openPidfdCount() <= pidfdsBefore + 10 }, "pidfds: \(pidfdsBefore) -> \(openPidfdCount())")
        let zygote = try #require(sandbox.zygoteProcessForTesting)
        // The zygote keeps only the pool's idle workers (and the PID-namespace init, if any).
        func descendants() -> [pid_t] { childProcesses(of: zygote).flatMap { [$0] + childProcesses(of: $0) } }
        #expect(eventually { descendants().count <= 2 + 1 }, "live workers after the run: \(descendants())")
    }

    @Test("A dead zygote is restarted: the failing execution says so, the next one succeeds")
    func zygoteRestart() throws {
        let sandbox = try TestSandboxes.isolated(poolSize: 1)
        defer { sandbox.shutdown() }
        let first = try #require(sandbox.zygoteProcessForTesting)
        // Kill the zygote while a job is running in one of its workers: the job itself says
        // when, through a tool whose handler kills it.
        let killZygote = Tool(try ToolContract(name: "kill_zygote", description: "Kills the zygote.", inputSchema: ["type": "object"]),
                              immediate: { _ in
                                  kill(first, SIGKILL)
                                  return .null
                              })
        let failing = sandbox.execute("kill_zygote()\nimport time\ntime.sleep(5)", tools: try Toolbox([killZygote]))
        guard case .sandboxFailure(let message) = failing.outcome else {
            Issue.record("expected a sandbox failure, got \(failing.outcome)")
            return
        }
        #expect(message.contains("zygote died"))
        let next = sandbox.execute("'recovered'")
        #expect(next.json == .string("recovered"))
        #expect(sandbox.zygoteProcessForTesting != first)
    }

    @Test("After shutdown, executions fail with a clear message")
    func afterShutdown() throws {
        let sandbox = try TestSandboxes.isolated(poolSize: 1)
        sandbox.shutdown()
        #expect(sandbox.execute("1").outcome == .sandboxFailure("the sandbox was shut down"))
    }

    /// A worker forked for its own limits that arrives after its requester gave up (a spawn slower
    /// than the 30 s the pool waits) used to stay in the pool's table of deliveries: a confined
    /// process and two descriptors nobody would ever release.
    @Test("A worker that arrives after its request timed out is killed, not kept")
    func lateWorkerIsKilled() throws {
        let sandbox = try TestSandboxes.isolated(poolSize: 1)
        defer { sandbox.shutdown() }
        _ = sandbox.execute("1")
        let zygote = try #require(sandbox.zygoteProcessForTesting)
        func descendants() -> [pid_t] { childProcesses(of: zygote).flatMap { [$0] + childProcesses(of: $0) } }
        // The pool's one worker (and the PID-namespace init), counted once the pool is full again.
        #expect(eventually { sandbox.idleWorkers == 1 && descendants().count <= 1 + 1 })
        let before = descendants().count
        // Not the pool's limits: the zygote forks a worker for this request, which gives up at once.
        var limits = ExecutionLimits()
        limits.memoryBytes = 200 << 20
        // (A worker delivered while the request's wait returns is still taken, and released: try again.)
        var gaveUp = false
        for _ in 0..<20 where !gaveUp {
            gaveUp = !sandbox.requestWorkerForTesting(limits: limits, timeout: .zero)
        }
        #expect(gaveUp)
        #expect(eventually { sandbox.lateWorkersKilledForTesting == 1 }, "the late worker was killed when it arrived")
        #expect(eventually { descendants().count <= before }, "live: \(descendants()) against \(before) before")
        // The pool still serves requests that wait.
        #expect(sandbox.requestWorkerForTesting(limits: limits, timeout: .seconds(30)))
        #expect(sandbox.execute("6 * 7").json == .int(42))
    }

    /// More spawn requests than the zygote's socket queues (512): with a lock held across the
    /// send, the pool deadlocked here (118 of 700 answered in 240 s).
    @Test("700 concurrent executions with their own limits are all answered (no lock held across a send to the zygote)")
    func floodOfOnDemandWorkers() throws {
        DescriptorBudget.raiseOpenFileLimit()
        var configuration = SandboxConfiguration()
        configuration.poolSize = 1
        configuration.maxRunningExecutions = 700  // admission wide open: this is the pool's own test
        let sandbox = try Sandbox(configuration: configuration)
        defer { sandbox.shutdown() }
        // Not the pool's limits: each execution forks its own worker.
        let limits = ExecutionLimits(wallClock: .seconds(60))
        let answers = ResultList()
        // One thread each (concurrentPerform would run only as many at once as there are cores).
        let done = DispatchGroup()
        for index in 0..<700 {
            done.enter()
            Thread {
                answers.append(sandbox.execute("import time\ntime.sleep(0.5)\n\(index)", limits: limits).json)
                done.leave()
            }.start()
        }
        #expect(done.wait(timeout: .now() + 240) == .success, "answers so far: \(answers.count)")
        #expect(answers.count == 700)
        let missing = Set((0..<700).map { JSONValue.int($0) }).subtracting(answers.values.compactMap(\.self))
        #expect(missing.isEmpty, "\(missing.count) executions did not return their own value")
    }

    @Test("Concurrent executions from many threads all get their own answer")
    func concurrentExecutions() async throws {
        let sandbox = TestSandboxes.confined
        let results = await withTaskGroup(of: (Int, JSONValue?).self) { group in
            for index in 0..<40 {
                group.addTask { (index, await sandbox.run("n * n", inputs: ["n": .int(index)]).json) }
            }
            var collected: [Int: JSONValue?] = [:]
            for await (index, value) in group { collected[index] = value }
            return collected
        }
        for index in 0..<40 { #expect(results[index] == .int(index * index)) }
    }
}

