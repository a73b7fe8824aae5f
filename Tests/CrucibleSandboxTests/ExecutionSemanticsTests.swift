import Crucible
import CrucibleTesting
import Foundation
import Testing

@Suite("Execution semantics")
struct ExecutionSemanticsTests {
    let sandbox = TestSandboxes.confined

    @Test("The last expression's value comes back as JSON")
    func valueAsJSON() {
        let result = sandbox.execute("x = 1 + 2\nx * 10")
        #expect(result.outcome == .ok)
        #expect(result.json == .int(30))
        #expect(result.value?.pythonType == "int")
    }

    @Test("Values JSON cannot hold losslessly come back as repr", arguments: [
        ("{1, 2, 3}", "{1, 2, 3}", "set"),
        ("{1: 'a'}", "{1: 'a'}", "dict"),
        ("float('nan')", "nan", "float"),
        ("b'ab'", "b'ab'", "bytes"),
        ("class P:\n    def __repr__(self): return 'P()'\nP()", "P()", "P"),
    ])
    func valueAsRepr(code: String, repr: String, type: String) {
        let result = sandbox.execute(code)
        #expect(result.outcome == .ok)
        #expect(result.value == .repr(repr, type: type, truncated: 0))
    }

    @Test("Nested containers, strings and None")
    func nestedValues() {
        let result = sandbox.execute("{'a': [1, 2.5, None, True], 'b': {'c': 'é\\n'}}")
        #expect(result.json == .object([
            "a": .array([.int(1), .double(2.5), .null, .bool(true)]), "b": .object(["c": .string("é\n")]),
        ]))
    }

    @Test("No value when the code ends with a statement or with None")
    func noValue() {
        #expect(sandbox.execute("x = 5").value == nil)
        #expect(sandbox.execute("None").value == nil)
        #expect(sandbox.execute("print('hi')").value == nil)
    }

    @Test("Cells compile on CPython's C AST exactly as through the ast module")
    func cellCompilerMatchesAST() throws {
        // The worker compiles with the zygote's `_crucible_cells`; `_compile_cell_through_ast`
        // is what it replaced. Same bytecode, constants, names and line table, same errors.
        let cases = [
            "x = 1 + 2", "", "# a comment\n", "42", "x = 1\n42", "x = 1; x + 1", "def f(:\n  pass",
            "return 5", "x = (1,\n", "  x = 1", "'é' + 'ü'", "# -*- coding: latin-1 -*-\n'é'", "x = 1\u{0}",
            "await x", "yield 1", "for i in range(3):\n    i\n", "if True:\n    5\n", "f'{1+1}'", "nonlocal x",
            "import sys\nsys.version_info[0]", "1 +", "é = 3\né", "return 5\nawait x",
        ]
        let code = """
            import sys
            worker = sys.modules['crucible_sandbox.worker']
            def outcome(compile_cell, source):
                try:
                    body, last = compile_cell(source, '<cell>')
                except BaseException as e:
                    return (type(e).__name__, str(e), getattr(e, 'lineno', None), getattr(e, 'offset', None), getattr(e, 'text', None))
                def describe(code):
                    return None if code is None else (code.co_code, code.co_consts, code.co_names, list(code.co_lines()))
                return (describe(body), describe(last))
            [source for source in cases if outcome(worker.compile_cell, source) != outcome(worker._compile_cell_through_ast, source)], type(worker.compile_cell).__name__
            """
        let result = sandbox.execute(code, inputs: ["cases": .array(cases.map { .string($0) })])
        #expect(result.outcome == .ok, "\(result.error?.traceback ?? "")")
        // An image's zygote links the shared libpython, which does not export the parser's C
        // entry points: there the worker compiles through `ast` (the same code, compared above).
        let compiler = TestSandboxes.interpreter?.image == nil ? "builtin_function_or_method" : "function"
        #expect(result.json == .array([.array([]), .string(compiler)]))
    }

    @Test("The zygote's objects are immortal in a worker; what the worker makes is counted and freed as usual",
          .enabled(if: TestSandboxes.pythonVersion != "3.11", "3.11 has no immortal objects (PEP 683 is 3.12)"))
    func zygoteHeapIsImmortal() {
        // Immortal: the worker never writes their reference counts, so their pages stay
        // shared with the zygote (immortal_heap.c). The worker's own objects must still die.
        let code = """
            import sys, json, weakref
            class Made: pass
            made = Made(); gone = weakref.ref(made); del made
            kept = [1, 2]
            before = sys.getrefcount(kept); alias = kept
            # Used through the interpreter's stack (loads, copies, a list), a zygote object's
            # count must not move: 3.14 tags stack references by the object's immortal flag.
            def moves(obj):
                counted, seen = sys.getrefcount(obj), set()
                for _ in range(3):
                    x = {'k': obj}['k']; y = x; z = getattr(json, 'dumps'); w = [x, y, z]
                    seen.add(sys.getrefcount(x) - counted)
                return sorted(seen | {sys.getrefcount(obj) - counted})
            # Reached too, though no tp_traverse reports them: a code object's constants, and
            # the string keys of a dict (sys.modules: the zygote made every one of them).
            [sys._is_immortal(json), sys._is_immortal(json.dumps), sys._is_immortal(sys.modules),
             sys._is_immortal(sys.modules['crucible_sandbox.worker'].serve), sys._is_immortal(kept),
             gone() is None, sys.getrefcount(kept) - before, moves(json.dumps),
             sys._is_immortal(json.dumps.__code__.co_consts), [name for name in sys.modules if not sys._is_immortal(name)]]
            """
        let result = sandbox.execute(code)
        #expect(result.outcome == .ok, "\(result.error?.traceback ?? "")")
        #expect(result.json == .array([
            .bool(true), .bool(true), .bool(true), .bool(true), .bool(false), .bool(true), .int(1), .array([.int(0)]), .bool(true), .array([]),
        ]))
    }

    @Test("stdout and stderr are captured separately")
    func capturedOutput() {
        let result = sandbox.execute("import sys\nprint('out', 1)\nprint('err', file=sys.stderr)\nsys.stdout.buffer.write(b'raw\\n')")
        #expect(result.stdout == "out 1\nraw\n")
        #expect(result.stderr == "err\n")
    }

    @Test("An exception reports type, message, line, and a traceback of user code only")
    func exceptionTraceback() throws {
        let result = sandbox.execute("def inner(x):\n    return 1 / x\n\ndef outer():\n    return inner(0)\n\nouter()")
        #expect(result.outcome == .exception)
        let error = try #require(result.error)
        #expect(error.type == "ZeroDivisionError")
        #expect(error.message == "division by zero")
        #expect(error.line == 2)
        #expect(error.frames.map(\.line) == [7, 5, 2])
        #expect(error.frames.map(\.function) == ["<module>", "outer", "inner"])
        #expect(error.traceback.contains("File \"<code>\", line 2, in inner"))
        #expect(error.traceback.contains("return 1 / x"))
        #expect(!error.traceback.contains("crucible_sandbox"), "runtime frames must not leak into the traceback")
        #expect(error.traceback.hasSuffix("ZeroDivisionError: division by zero\n"))
    }

    @Test("Output printed before an exception is kept")
    func outputBeforeException() {
        let result = sandbox.execute("print('step 1')\nraise ValueError('bad input')")
        #expect(result.stdout == "step 1\n")
        #expect(result.error?.type == "ValueError")
        #expect(result.error?.message == "bad input")
    }

    @Test("User-defined exceptions keep their class name")
    func userException() {
        let result = sandbox.execute("class QuotaExceeded(Exception):\n    pass\nraise QuotaExceeded('over by 3')")
        #expect(result.error?.type == "QuotaExceeded")
        #expect(result.error?.message == "over by 3")
    }

    @Test("Syntax errors report line and column, and nothing runs")
    func syntaxError() throws {
        let result = sandbox.execute("print('never')\nx = (1,\ny = 2\nfor i in range(3) print(i)")
        #expect(result.outcome == .syntaxError)
        #expect(result.stdout == "")
        let error = try #require(result.error)
        #expect(error.type == "SyntaxError")
        #expect(error.line == 2)
        #expect(error.column == 5)
        #expect(error.message.contains("never closed"))
    }

    @Test("A compile-time error is reported at the first offending line, before anything runs")
    func compileErrorOrder() throws {
        // Both lines are rejected by the compiler, not the parser; the trailing expression is
        // compiled apart from the rest, and must not be checked (or reported) first.
        let result = sandbox.execute("print('never')\nreturn 5\nawait x")
        #expect(result.outcome == .syntaxError)
        #expect(result.stdout == "")
        let error = try #require(result.error)
        #expect(error.message == "'return' outside function")
        #expect(error.line == 2)
    }

    @Test("Indentation errors are syntax errors with a position")
    func indentationError() {
        let result = sandbox.execute("def f():\nreturn 1")
        #expect(result.outcome == .syntaxError)
        #expect(result.error?.type == "IndentationError")
        #expect(result.error?.line == 2)
    }

    @Test("Inputs are bound as variables from JSON")
    func inputs() {
        let result = sandbox.execute(
            "f'{name} has {len(items)} items, total {sum(items)}'",
            inputs: ["name": .string("cart"), "items": .array([.int(2), .int(3)])])
        #expect(result.json == .string("cart has 2 items, total 5"))
    }

    @Test("Code with multi-byte characters reaches the worker whole, and the inputs after it")
    func multiByteCodeWithInputs() {
        // The job frame carries the code's UTF-8 byte length, then the inputs' JSON: counting
        // characters instead of bytes would cut the code short and break the inputs.
        let result = sandbox.execute(
            "# ünïcødé 🚀\nf'{name}: {len(\"héllo🚀\")}'", inputs: ["name": .string("çà 🚀")])
        #expect(result.outcome == .ok, "\(result.outcome) \(result.error?.traceback ?? "")")
        #expect(result.json == .string("çà 🚀: 6"))
    }

    @Test("Input names must be identifiers")
    func invalidInputName() {
        let result = sandbox.execute("1", inputs: ["not valid": .int(1)])
        guard case .sandboxFailure(let message) = result.outcome else {
            Issue.record("expected a sandbox failure, got \(result.outcome)")
            return
        }
        #expect(message.contains("\"not valid\" is not a Python identifier"))
    }

    @Test("The whole language: inheritance, generators, dataclasses, async, stdlib")
    func wholeLanguage() {
        let code = """
            import asyncio, dataclasses, statistics, enum, contextlib, io, operator
            @dataclasses.dataclass
            class Base:
                x: int
                def total(self): return self.x
            class Child(Base):
                def total(self): return super().total() * 2
            def gen():
                yield from range(3)
            class Color(enum.Enum):
                RED = 1
            async def main():
                await asyncio.sleep(0)
                return 7
            {"child": Child(4).total(), "gen": list(gen()), "mean": statistics.mean([1, 2, 3]),
             "enum": Color.RED.name, "async": asyncio.run(main())}
            """
        let result = sandbox.execute(code)
        #expect(result.outcome == .ok, "\(result.error?.traceback ?? "")")
        #expect(result.json == .object([
            "child": .int(8), "gen": .array([.int(0), .int(1), .int(2)]), "mean": .int(2),
            "enum": .string("RED"), "async": .int(7),
        ]))
    }

    @Test("Each execution gets a fresh worker: nothing leaks between executions")
    func freshWorkers() {
        _ = sandbox.execute("import builtins\nbuiltins.LEAK = 'secret'\nleaked = 1")
        let result = sandbox.execute("import builtins\n(hasattr(builtins, 'LEAK'), 'leaked' in globals())")
        #expect(result.json == .array([.bool(false), .bool(false)]))
    }

    @Test("Very large values are truncated with a count, not dropped")
    func largeValue() {
        var limits = ExecutionLimits()
        limits.valueBytes = 1000
        let result = sandbox.execute("'x' * 5000", limits: limits)
        guard case .repr(let text, "str", let truncated)? = result.value else {
            Issue.record("expected a truncated repr, got \(String(describing: result.value))")
            return
        }
        #expect(text.count == 1000)
        #expect(truncated == 5002 - 1000)
    }
}

@Suite("Limits")
struct LimitTests {
    let sandbox = TestSandboxes.confined

    @Test("The wall clock stops code that sleeps")
    func wallClock() {
        var limits = ExecutionLimits()
        limits.wallClock = .seconds(2)
        // The sleep would last 11 days: a timeout outcome is the wall clock's doing.
        let result = sandbox.execute("import time\nprint('before')\ntime.sleep(10**6)", limits: limits)
        #expect(result.outcome == .timeout)
        #expect(result.stdout == "before\n")
    }

    @Test("RLIMIT_CPU stops a busy loop before the wall clock")
    func cpuLimit() {
        var limits = ExecutionLimits()
        limits.wallClock = .seconds(20)
        limits.cpuSeconds = 1
        let result = sandbox.execute("while True: pass", limits: limits)
        #expect(result.outcome == .cpuLimit)
    }

    @Test("Ignoring SIGXCPU does not escape the CPU limit")
    func cpuLimitIgnoringSIGXCPU() {
        var limits = ExecutionLimits()
        limits.wallClock = .seconds(20)
        limits.cpuSeconds = 1
        let result = sandbox.execute(
            "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True: pass", limits: limits)
        #expect(result.outcome == .cpuLimit)
    }

    @Test("The memory limit ends a single huge allocation", arguments: [
        "x = bytearray(2**34)",
        "chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))",
    ])
    func memoryLimit(code: String) {
        var limits = ExecutionLimits()
        limits.memoryBytes = 128 << 20
        let result = sandbox.execute(code, limits: limits)
        #expect(result.outcome == .memoryLimit)
        #expect(result.error?.type == "MemoryError")
    }

    @Test("Code within the memory limit runs")
    func memoryWithinLimit() {
        var limits = ExecutionLimits()
        limits.memoryBytes = 128 << 20
        #expect(sandbox.execute("len(bytearray(64 * 2**20))", limits: limits).json == .int(64 << 20))
    }

    @Test("stdout beyond the cap is dropped, counted and marked")
    func outputCap() {
        var limits = ExecutionLimits()
        limits.stdoutBytes = 10_000
        let result = sandbox.execute("for i in range(5000):\n    print('0123456789' * 10)\n'done'", limits: limits)
        #expect(result.outcome == .ok)
        #expect(result.json == .string("done"))
        #expect(result.stdoutTruncatedBytes == 5000 * 101 - 10_000)
        #expect(result.stdout.hasSuffix(ExecutionResult.truncationMarker(droppedBytes: 5000 * 101 - 10_000)))
        #expect(result.stdout.utf8.count == 10_000 + ExecutionResult.truncationMarker(droppedBytes: 5000 * 101 - 10_000).utf8.count)
    }

    @Test("A stderr flood that never ends meets the wall clock with output capped")
    func endlessFlood() {
        var limits = ExecutionLimits()
        limits.wallClock = .seconds(1)
        limits.stderrBytes = 4096
        let result = sandbox.execute("import sys\nwhile True:\n    sys.stderr.write('x' * 65536)", limits: limits)
        #expect(result.outcome == .timeout)
        #expect(result.stderr.hasPrefix(String(repeating: "x", count: 4096)))
        #expect(result.stderrTruncatedBytes > 0)
    }
}
