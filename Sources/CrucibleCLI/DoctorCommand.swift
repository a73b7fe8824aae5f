import ArgumentParser
import Crucible
import Foundation

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Report which confinement layers this machine enforces.",
        discussion: """
            Starts the sandbox, runs a probe in a worker, and lists seccomp, Landlock, namespaces, \
            privilege drop, whether workers can read Crucible's own files, and the Python version. \
            Exits 0 when the sandbox works with seccomp on, 3 when it cannot be built or workers \
            cannot read Crucible's files.
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
        let files = OwnFilesProbe(sandbox.execute(OwnFilesProbe.code), report: report)
        let works = probe.outcome == .ok && blocked.outcome == .killedBySeccomp(syscall: "ptrace") && files.readable
        if json {
            print("{\"works\":\(works),\"probe\":\"\(probe.outcome.name)\",\"ptrace\":\"\(blocked.outcome.name)\",\"own_files\":\(files.json.jsonText),\"report\":\(report.json)}")
        } else {
            func line(_ name: String, _ ok: Bool, _ detail: String) {
                print("\(ok ? "[ok]  " : "[off] ") \(name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(detail)")
            }
            line("python", true, report.pythonVersion + " (embedded, isolated config)")
            let images = InterpreterStore.installed()
            line("images", true, images.isEmpty ? "none (`crucible python install 3.14` builds one)"
                : images.map { "Python \($0.pythonVersion) (\($0.isCurrent ? "current" : "recipe changed"), not yet used by the sandbox)" }.joined(separator: ", "))
            line("seccomp", blocked.outcome == .killedBySeccomp(syscall: "ptrace"),
                 "\(report.seccompRules) rules, \(report.seccompInstructions) BPF instructions; ptrace probe: \(blocked.outcome)")
            line("landlock", report.landlockABI != nil,
                 report.landlockABI.map { "ABI \($0), \(report.landlockReadablePaths.count) read-only paths" }
                    ?? (report.landlockError ?? "not available in this kernel"))
            line("namespaces", !report.namespaces.isEmpty,
                 report.namespaces.isEmpty ? (report.namespaceError ?? "none") : report.namespaces.joined(separator: ", "))
            line("threads", report.maxThreads != nil && report.threadsPerWorker,
                 report.maxThreads.map { report.threadsPerWorker ? "up to \($0) per worker (RLIMIT_NPROC in a user namespace per worker)" : "refused: workers cannot enter a user namespace here, so the bound could not be per worker" }
                    ?? "unbounded: the policy has no `threads` line")
            line("privilege drop", report.privilegesDropped || getuid() != 0,
                 report.privilegesDropped ? "root -> nobody (65534)" : (getuid() == 0 ? "failed" : "not needed (not root)"))
            line("rlimits", true, "CPU, address space, file size, open files, no core")
            line("worker", probe.outcome == .ok, "probe: \(probe.outcome)")
            line("own files", files.readable, files.detail)
            print(works ? "The sandbox works on this machine." : "The sandbox is NOT working on this machine.")
        }
        if !works { throw ExitCode(ExitCode32.sandboxUnavailable.rawValue) }
    }
}

/// Whether a worker (nobody, confined) can read Crucible's own runtime files. The zygote
/// imports its modules as root, so a worker that cannot reach the runtime folder still runs
/// `1 + 1`; it fails only on what it reads later (a lazily imported module, a validator).
/// So this probe reads a file of the runtime and lists its folder, from inside a worker.
struct OwnFilesProbe {
    static let code = """
        import os, crucible_sandbox
        folder = os.path.dirname(crucible_sandbox.__file__)
        try:
            with open(os.path.join(folder, "worker.py"), "rb") as handle:
                size = len(handle.read())
            result = {"readable": size > 0 and "worker.py" in os.listdir(folder), "folder": folder}
        except OSError as error:
            result = {"readable": False, "folder": folder, "error": f"{type(error).__name__}: {error}"}
        result
        """

    let readable: Bool
    let folder: String
    let error: String?
    let detail: String
    let json: JSONValue

    init(_ result: ExecutionResult, report: SandboxReport) {
        let value = result.value?.json
        readable = result.outcome == .ok && value?["readable"] == .bool(true)
        folder = value?["folder"]?.stringValue ?? "the runtime folder"
        error = value?["error"]?.stringValue ?? (result.outcome == .ok ? nil : "probe: \(result.outcome)")
        var exposure = "path exposure: \(report.pathExposureStatus)"
        if let reason = report.pathExposureReason { exposure += " (\(reason))" }
        if readable {
            detail = report.privateParents.isEmpty
                ? "workers read \(folder)"
                : "workers read \(folder), exposed through the private folder(s) \(report.privateParents.joined(separator: ", "))"
        } else {
            // Root's zygote drops to nobody and exposes the files itself unless the kernel refuses
            // (no CAP_SYS_ADMIN); any other user's workers keep that user's uid.
            let fix = getuid() == 0
                ? "allow the zygote a mount namespace (CAP_SYS_ADMIN), or"
                : "check that this user may read them, or"
            detail = "workers cannot read \(folder): \(error ?? "not readable"); \(exposure). Workers run as nobody "
                + "(65534) when crucible runs as root, and a folder above Crucible's files that others may not search "
                + "(0700) shuts them out. Fix: \(fix) make every folder above them searchable (chmod o+x), or install "
                + "Crucible outside the private folder (scripts/install --prefix DIR)"
        }
        var object: [String: JSONValue] = [
            "readable": .bool(readable), "folder": .string(folder), "path_exposure": .string(report.pathExposureStatus),
        ]
        if let error { object["error"] = .string(error) }
        if let reason = report.pathExposureReason { object["path_exposure_reason"] = .string(reason) }
        json = .object(object)
    }
}
