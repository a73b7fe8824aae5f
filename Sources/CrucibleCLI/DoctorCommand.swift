import ArgumentParser
import Crucible
import Foundation

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Report which confinement layers this machine enforces.",
        discussion: """
            Starts the sandbox, runs a probe in a worker, and lists seccomp, Landlock, namespaces, \
            privilege drop and the Python version. Exits 0 when the sandbox works with seccomp on, \
            3 when it cannot be built.
            """)

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        let sandbox = try makeSandbox()
        defer { sandbox.shutdown() }
        let report = sandbox.report
        // A worker must run, and a forbidden call must be refused, for the sandbox to count as working.
        let probe = sandbox.execute("1 + 1")
        let blocked = sandbox.execute("import ctypes; ctypes.CDLL(None).syscall(101, 0, 0, 0, 0)")  // ptrace
        let works = probe.outcome == .ok && blocked.outcome == .killedBySeccomp(syscall: "ptrace")
        if json {
            print("{\"works\":\(works),\"probe\":\"\(probe.outcome.name)\",\"ptrace\":\"\(blocked.outcome.name)\",\"report\":\(report.json)}")
        } else {
            func line(_ name: String, _ ok: Bool, _ detail: String) {
                print("\(ok ? "[ok]  " : "[off] ") \(name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(detail)")
            }
            line("python", true, report.pythonVersion + " (embedded, isolated config)")
            line("seccomp", blocked.outcome == .killedBySeccomp(syscall: "ptrace"),
                 "\(report.seccompRules) rules, \(report.seccompInstructions) BPF instructions; ptrace probe: \(blocked.outcome)")
            line("landlock", report.landlockABI != nil,
                 report.landlockABI.map { "ABI \($0), \(report.landlockReadablePaths.count) read-only paths" }
                    ?? (report.landlockError ?? "not available in this kernel"))
            line("namespaces", !report.namespaces.isEmpty,
                 report.namespaces.isEmpty ? (report.namespaceError ?? "none") : report.namespaces.joined(separator: ", "))
            line("privilege drop", report.privilegesDropped || getuid() != 0,
                 report.privilegesDropped ? "root -> nobody (65534)" : (getuid() == 0 ? "failed" : "not needed (not root)"))
            line("rlimits", true, "CPU, address space, file size, open files, no core")
            line("worker", probe.outcome == .ok, "probe: \(probe.outcome)")
            print(works ? "The sandbox works on this machine." : "The sandbox is NOT working on this machine.")
        }
        if !works { throw ExitCode(ExitCode32.sandboxUnavailable.rawValue) }
    }
}
