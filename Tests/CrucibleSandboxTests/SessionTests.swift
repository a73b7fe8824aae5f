import Crucible
import CrucibleTesting
import Foundation
import Testing

@Suite("Sessions")
struct SessionTests {
    let sandbox = TestSandboxes.confined

    @Test("State persists from cell to cell")
    func statePersists() throws {
        let session = try sandbox.openSession()
        defer { session.close() }
        #expect(try session.execute("import math\ncount = 1\ndef bump(n): return n + count").outcome == .ok)
        #expect(try session.execute("count += 41").outcome == .ok)
        #expect(try session.execute("bump(0), math.pi > 3").json == .array([.int(42), .bool(true)]))
        #expect(session.cellCount == 3)
    }

    @Test("A traceback through an earlier cell names that cell")
    func tracebackAcrossCells() throws {
        let session = try sandbox.openSession()
        defer { session.close() }
        _ = try session.execute("def fail():\n    raise KeyError('k')")
        let result = try session.execute("fail()")
        #expect(result.error?.frames.map(\.file) == ["<cell 2>", "<cell 1>"])
        #expect(result.error?.traceback.contains("raise KeyError('k')") == true)
    }

    @Test("An exception does not end the session")
    func exceptionKeepsSession() throws {
        let session = try sandbox.openSession()
        defer { session.close() }
        _ = try session.execute("x = 10")
        #expect(try session.execute("1 / 0").outcome == .exception)
        #expect(try session.execute("x").json == .int(10))
    }

    @Test("Each cell has its own inputs and output")
    func cellInputs() throws {
        let session = try sandbox.openSession()
        defer { session.close() }
        let first = try session.execute("print(a)\ntotal = a", inputs: ["a": .int(5)])
        let second = try session.execute("print(b)\ntotal + b", inputs: ["b": .int(7)])
        #expect(first.stdout == "5\n")
        #expect(second.stdout == "7\n")
        #expect(second.json == .int(12))
    }

    @Test("A cell that kills its worker closes the session; restart gives a fresh one")
    func restartAfterCrash() throws {
        var limits = ExecutionLimits()
        limits.wallClock = .seconds(2)
        let session = try sandbox.openSession(limits: limits)
        defer { session.close() }
        _ = try session.execute("x = 1")
        #expect(try session.execute("while True: pass").outcome == .timeout)
        #expect(throws: SandboxError.self) { try session.execute("x") }
        #expect(session.closedBecause?.contains("cell 2: timeout") == true)
        try session.restart()
        #expect(session.cellCount == 0)
        let fresh = try session.execute("'x' in globals()")
        #expect(fresh.json == .bool(false))
    }

    @Test("An idle session closes after its idle timeout")
    func idleTimeout() throws {
        let session = try sandbox.openSession(idleTimeout: .milliseconds(200))
        _ = try session.execute("x = 1")
        #expect(eventually { session.closedBecause != nil }, "still open long after its idle timeout")
        #expect(throws: SandboxError.self) { try session.execute("x") }
        #expect(session.closedBecause?.contains("idle") == true)
    }

    @Test("restart() on request discards state")
    func restartOnRequest() throws {
        let session = try sandbox.openSession()
        defer { session.close() }
        _ = try session.execute("secret = 'abc'")
        try session.restart()
        #expect(try session.execute("'secret' in globals()").json == .bool(false))
    }

    @Test("Opening a session refills the pool it took the worker from")
    func sessionRefillsPool() throws {
        let sandbox = try TestSandboxes.isolated(poolSize: 2)
        defer { sandbox.shutdown() }
        #expect(eventually { sandbox.idleWorkers == 2 })
        let session = try sandbox.openSession()
        defer { session.close() }
        #expect(try session.execute("1 + 1").json == .int(2))
        // No release will come while the session lives: its place in the pool is forked at once.
        #expect(eventually { sandbox.idleWorkers == 2 }, "the pool has \(sandbox.idleWorkers) idle workers")
    }
}
