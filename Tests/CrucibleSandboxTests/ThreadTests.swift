import Crucible
import CrucibleTesting
import Foundation
import Testing

/// Threads run in the sandbox (issue: real Python environments, item 4): the policy admits
/// exactly the clone glibc's pthread_create makes, and RLIMIT_NPROC in a user namespace of
/// the worker's own bounds how many. The attacks on the same layer are in ConfinementTests.
@Suite("Threads")
struct ThreadTests {
    let sandbox = TestSandboxes.confined

    @Test("ThreadPoolExecutor maps work over threads other than the main one and returns every result")
    func threadPool() {
        let result = sandbox.execute("""
            from concurrent.futures import ThreadPoolExecutor
            import threading
            seen = set()
            def square(x):
                seen.add(threading.get_ident())
                return x * x
            with ThreadPoolExecutor(4) as pool:
                squares = list(pool.map(square, range(20)))
            [squares, len(seen - {threading.get_ident()}) >= 1, threading.active_count()]
            """)
        #expect(result.outcome == .ok, "\(result.error?.traceback ?? "")")
        #expect(result.json == .array([.array((0..<20).map { .int($0 * $0) }), .bool(true), .int(1)]))
    }

    @Test("Threads that print and call tools at once: every line and every answer arrives whole")
    func printsAndToolCallsFromThreads() throws {
        let echo = Tool(try ToolContract(
            name: "echo", description: "Returns its argument.",
            inputSchema: ["type": "object", "properties": ["x": ["type": "integer"]], "required": ["x"]]),
            immediate: { arguments in arguments["x"] ?? .null })
        let result = sandbox.execute("""
            import threading
            answers = {}
            def work(n):
                for i in range(25):
                    print("thread %d line %d " % (n, i) + "x" * 200)
                    answers[(n, i)] = echo(x=n * 100 + i)
            threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
            for t in threads: t.start()
            for t in threads: t.join()
            sorted(v for v in answers.values())
            """, tools: try Toolbox([echo]))
        #expect(result.outcome == .ok, "\(result.error?.traceback ?? "") \(result.outcome)")
        #expect(result.json == .array((0..<4).flatMap { n in (0..<25).map { JSONValue.int(n * 100 + $0) } }))
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 100)
        #expect(lines.allSatisfy { $0.hasPrefix("thread ") && $0.hasSuffix(String(repeating: "x", count: 200)) })
        #expect(result.trace.toolCalls.count == 100)
    }

    @Test("Threads are bounded by the policy, and doctor's report says how")
    func boundedByPolicy() throws {
        let report = sandbox.report
        let bound = try #require(report.maxThreads, "Sandbox/sandbox.policy sets `threads`")
        #expect(report.threadsPerWorker, "workers enter a user namespace of their own on this machine")
        let result = sandbox.execute("""
            import threading
            go = threading.Event()
            started = 0
            try:
                while started < \(bound + 50):
                    threading.Thread(target=go.wait).start()
                    started += 1
            except RuntimeError:
                pass
            go.set()
            started
            """)
        #expect(result.json == .int(bound))
        // The bound is per worker: the next execution starts its own threads again.
        #expect(sandbox.execute("import threading\nt = threading.Thread(target=print)\nt.start(); t.join()\n1").json == .int(1))
    }
}
