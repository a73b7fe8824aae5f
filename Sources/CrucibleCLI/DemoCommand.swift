import ArgumentParser
import Crucible
import Foundation

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run sample code, including attacks the sandbox blocks, and print the outcomes.",
        discussion: """
            Then code mode: sandboxed code calls the typed standard tools on this repository \
            (read-only) and the trace shows the calls and the result fields it read; and the \
            validators check a model-style view with the typical mistakes, then the fixed one.
            """)

    static let samples: [(String, String)] = [
        ("a value", "sum(i * i for i in range(10))"),
        ("classes, generators, stdout", """
            class Shape:
                def area(self): raise NotImplementedError
            class Square(Shape):
                def __init__(self, side): self.side = side
                def area(self): return self.side ** 2
            def areas(shapes):
                yield from (s.area() for s in shapes)
            print("areas:", list(areas([Square(2), Square(3)])))
            {"total": sum(areas([Square(2), Square(3)]))}
            """),
        ("an exception with a traceback", "def f(x):\n    return 1 / x\nf(0)"),
        ("a syntax error", "def broken(:\n    pass"),
        ("attack: read /etc/passwd", "open('/etc/passwd').read()[:40]"),
        ("attack: spawn a shell", "import os; os.system('id')"),
        ("attack: ptrace via ctypes", "import ctypes; ctypes.CDLL(None).syscall(101, 0, 0, 0, 0)"),
        ("attack: connect out", "import socket; socket.create_connection(('127.0.0.1', 22), timeout=1)"),
        ("attack: infinite loop", "while True: pass"),
    ]

    func run() throws {
        var limits = ExecutionLimits()
        limits.wallClock = .seconds(2)
        let sandbox = try makeSandbox(limits: limits, poolSize: 2)
        defer { sandbox.shutdown() }
        let report = sandbox.report
        print("Crucible demo: Python \(report.pythonVersion), seccomp \(report.seccompRules) rules, "
              + "Landlock \(report.landlockABI.map { "ABI \($0)" } ?? "off"), "
              + "namespaces \(report.namespaces.isEmpty ? "none" : report.namespaces.joined(separator: "+"))\n")
        for (title, code) in Self.samples {
            let result = sandbox.execute(code)
            print("== \(title)")
            print(code.split(separator: "\n").map { "   | \($0)" }.joined(separator: "\n"))
            print("   outcome: \(result.outcome)  (\(String(format: "%.2f", result.duration.milliseconds)) ms)")
            if !result.stdout.isEmpty { print("   stdout:  \(result.stdout.trimmingCharacters(in: .newlines))") }
            if let value = result.value { print("   value:   \(value.text)") }
            if let error = result.error {
                print("   error:   \(error.type): \(error.message)" + (error.line.map { " (line \($0))" } ?? ""))
            }
            print()
        }
        try codeMode(sandbox: sandbox)
        try validation()
    }

    /// Typed tools on this checkout, read-only, with the trace of what the code used.
    private func codeMode(sandbox: Sandbox) throws {
        let root = FileManager.default.currentDirectoryPath
        let tools = try StandardTools(workspace: Workspace(root: root), sandbox: sandbox.configuration)
        defer { tools.shutdown() }
        let code = """
            log = git_log(max_count=3)
            lint = ruff_check(["Clients/python"])
            [(c.hash[:8], c.subject[:50]) for c in log.commits], lint.violation_count
            """
        var limits = ExecutionLimits()
        limits.wallClock = .seconds(30)
        let result = sandbox.execute(code, limits: limits, tools: tools.toolbox)
        print("== code mode: typed tools on this repository (read-only)")
        print(code.split(separator: "\n").map { "   | \($0)" }.joined(separator: "\n"))
        print("   outcome: \(result.outcome)  (\(String(format: "%.2f", result.duration.milliseconds)) ms)")
        if let value = result.value { print("   value:   \(value.text)") }
        if let error = result.error { print("   error:   \(error.type): \(error.message)") }
        for call in result.trace.toolCalls {
            print("   call:    \(call.tool)(\(call.arguments.jsonText)) -> \(call.outcome), \(call.resultBytes) bytes, "
                  + String(format: "%.1f ms", call.duration.milliseconds))
        }
        print("   read:    " + result.trace.fieldReads.map { "\($0.tool).\($0.path)" }.joined(separator: ", "))
        print()
    }

    /// The validators on a model-style view: first with the typical mistakes, then fixed.
    private func validation() throws {
        let validator = try Validator()
        defer { validator.shutdown() }
        let attempts = [
            ("a view with the typical mistakes", """
                def profile_view(user_id: int, user_service: UserService):
                    user = user_service.get(user_id)
                    return html(f"<div><h2>{user.name}</h2>")
                """),
            ("the fixed view", """
                @view
                def profile_view(user_id: int, *, user_service: UserService) -> Element:
                    user = user_service.get(user_id)
                    return html(t"<div><h2>{user.name}</h2></div>")
                """),
        ]
        for (title, source) in attempts {
            print("== validate: \(title)")
            print(source.split(separator: "\n").map { "   | \($0)" }.joined(separator: "\n"))
            let findings = try validator.validate(source: source, path: "view.py")
            if findings.isEmpty { print("   no findings") }
            for finding in findings {
                print("   \(finding.line):\(finding.column) \(finding.rule) \(finding.message)\n      hint: \(finding.hint)")
            }
            print()
        }
    }
}
