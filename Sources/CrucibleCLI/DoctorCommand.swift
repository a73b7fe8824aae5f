import ArgumentParser
import Crucible
import Foundation

struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Report which confinement layers this machine enforces, for each interpreter.",
        discussion: """
            Starts the sandbox on the system's Python and on each installed interpreter image \
            (`crucible python list`), runs probes in a worker of each, and lists seccomp, Landlock, \
            namespaces, privilege drop, threads, whether workers can read Crucible's own files, and \
            the Python version. --python checks one interpreter only. Exits 0 when the system's \
            Python and every image that could be started work with seccomp on, 3 when one of them \
            does not or its workers cannot read Crucible's files (an installed image this crucible \
            cannot start is listed with the reason, and fails the check only when named by --python).
            """)

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Check only this interpreter (e.g. 3.14; the system's by default when given as its version).")
    var python: String?

    func run() async throws {
        try requireSandboxParts()
        let sandboxDirectory = try SandboxConfiguration().resolvedPaths().sandbox
        let progress: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("crucible: \($0)\n".utf8)) }
        var interpreters: [PythonInterpreter] = []
        // Installed images this crucible cannot start (its zygote cannot be built here): listed
        // with the reason; they fail the check only when asked for with --python.
        var unavailable: [(String, String)] = []
        do {
            if let python {
                interpreters = [try await PythonInterpreter.prepare(python, sandboxDirectory: sandboxDirectory, progress: progress)]
            } else {
                interpreters = [try await PythonInterpreter.system()]
                for image in InterpreterStore.installed() where image.isCurrent {
                    do {
                        interpreters.append(try await PythonInterpreter.prepare(image.version, sandboxDirectory: sandboxDirectory, progress: progress))
                    } catch {
                        unavailable.append((image.version, "\(error)"))
                    }
                }
            }
        } catch {
            FileHandle.standardError.write(Data("crucible: \(error)\n".utf8))
            throw ExitCode(ExitCode32.sandboxUnavailable.rawValue)
        }
        var allWork = true
        var reports: [String] = []
        for (index, interpreter) in interpreters.enumerated() {
            if !json && index > 0 { print("") }
            let sandbox: Sandbox
            do {
                var configuration = SandboxConfiguration()
                configuration.interpreter = interpreter
                configuration.poolSize = 1
                sandbox = try Sandbox(configuration: configuration)
            } catch {
                // The system's sandbox not starting is this command's answer; an image's is one line of it.
                if interpreter.isSystem { throw sandboxUnavailable(error) }
                allWork = false
                if !json { print("Python \(interpreter.version): [off] the sandbox cannot start: \(error)") }
                reports.append("{\"python\":\(JSONValue.string(interpreter.version).jsonText),\"works\":false,\"error\":\(JSONValue.string("\(error)").jsonText)}")
                continue
            }
            defer { sandbox.shutdown() }
            let (works, report) = check(sandbox, interpreter: interpreter)
            allWork = allWork && works
            reports.append(report)
        }
        if json {
            // The first interpreter's report at the top (as before images existed), every one under "interpreters".
            let first = reports[0].dropLast()
            let cannot = unavailable.map { "{\"python\":\(JSONValue.string($0.0).jsonText),\"works\":false,\"error\":\(JSONValue.string($0.1).jsonText)}" }
            print(first + ",\"interpreters\":[" + (reports + cannot).joined(separator: ",") + "]}")
        } else {
            for (version, error) in unavailable {
                print("\nPython \(version): installed, but this crucible cannot start it: \(error)")
            }
            let stale = InterpreterStore.installed().filter { !$0.isCurrent }
            for image in stale where python == nil {
                print("\nPython \(image.pythonVersion) in \(image.root): its recipe changed; `crucible python install \(image.version)` rebuilds it")
            }
        }
        if !allWork { throw ExitCode(ExitCode32.sandboxUnavailable.rawValue) }
    }

    /// Probes one interpreter's sandbox; prints its lines unless --json, returns its JSON report.
    private func check(_ sandbox: Sandbox, interpreter: PythonInterpreter) -> (Bool, String) {
        let report = sandbox.report
        // A worker must run, and a forbidden call must be refused, for the sandbox to count as working.
        let probe = sandbox.execute("1 + 1")
        let blocked = sandbox.execute("import ctypes; ctypes.CDLL(None).syscall(101, 0, 0, 0, 0)")  // ptrace
        let files = OwnFilesProbe(sandbox.execute(OwnFilesProbe.code), report: report)
        let works = probe.outcome == .ok && blocked.outcome == .killedBySeccomp(syscall: "ptrace") && files.readable
        let where_ = interpreter.image.map { "image \($0.root), Debian \($0.suite)" } ?? "the system's"
        let text = "{\"python\":\"\(interpreter.version)\",\"interpreter\":\(JSONValue.string(where_).jsonText),\"works\":\(works),"
            + "\"probe\":\"\(probe.outcome.name)\",\"ptrace\":\"\(blocked.outcome.name)\",\"own_files\":\(files.json.jsonText),\"report\":\(report.json)}"
        if json { return (works, text) }
        func line(_ name: String, _ ok: Bool, _ detail: String) {
            print("\(ok ? "[ok]  " : "[off] ") \(name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(detail)")
        }
        print("Python \(interpreter.version) (\(where_))")
        line("python", probe.outcome == .ok, report.pythonVersion + " (embedded, isolated config"
            + (interpreter.image == nil ? ")" : "; the image is the worker's read-only root)"))
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
        return (works, text)
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
