import ArgumentParser
import Crucible
import Foundation

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run sample code, including attacks the sandbox blocks, and print the outcomes.")

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
    }
}
