import CrucibleSandbox
import CrucibleWire
import Foundation

/// pytest_run: the real pytest, run inside a Crucible worker, never as a host process:
/// the tests are code the model may have written. The worker comes from a sandbox of its
/// own whose zygote preloads pytest and may read the workspace (read-only, like
/// everything else it reads); caches are off and nothing can be written.
final class PytestTool: @unchecked Sendable {
    let workspace: Workspace
    let toolsDirectory: String?
    let baseConfiguration: SandboxConfiguration
    let wallClock: Duration
    private let lock = NSLock()
    private var sandbox: Sandbox?
    /// A host-owned folder the confined pytest may read: where generated test modules are
    /// written for `runGenerated` (the workspace itself stays untouched).
    private var scratch: String?

    init(workspace: Workspace, toolsDirectory: String?, configuration: SandboxConfiguration, wallClock: Duration) {
        self.workspace = workspace
        self.toolsDirectory = toolsDirectory
        self.baseConfiguration = configuration
        self.wallClock = wallClock
    }

    static let outcomes: JSONValue = ["passed", "failed", "error", "skipped", "xfailed", "xpassed"]

    func tool() throws -> Tool {
        let contract = try ToolContract(
            name: "pytest_run",
            description: "Run the workspace's tests with pytest, confined: no network, no writes, no subprocesses.",
            inputSchema: Schema.input([
                "paths": Schema.paths,
                "keyword": ["type": ["string", "null"], "description": "Only tests matching this -k expression."],
            ]),
            outputSchema: Schema.object("TestResult", [
                "success": Schema.boolean("True when every collected test passed (or was skipped)."),
                "passed": Schema.integer, "failed": Schema.integer, "errors": Schema.integer, "skipped": Schema.integer,
                "duration": ["type": "number", "description": "Seconds."], "exit_code": Schema.integer,
                "tests": Schema.array(Schema.object("TestCase", [
                    "name": Schema.string("pytest node id."), "outcome": ["type": "string", "enum": Self.outcomes],
                    "duration": Schema.number, "message": Schema.optionalString,
                ])),
                "parse_error": Schema.optionalString,
            ]))
        return Tool(contract) { [self] arguments in try run(arguments) }
    }

    private func confinedSandbox() throws -> Sandbox {
        try lock.withLock {
            if let sandbox { return sandbox }
            guard let toolsDirectory, FileManager.default.fileExists(atPath: toolsDirectory + "/pytest") else {
                throw ToolFailure("pytest is not installed: run scripts/setup (it installs pytest into .crucible/tools)")
            }
            let folder = FileManager.default.temporaryDirectory
                .appendingPathComponent("crucible-generated-tests-\(UUID().uuidString.prefix(8))").path
            // 0755: the confined worker runs as an unmapped user in its own user namespace, so it
            // needs the "other" bits, and pytest lists the folder of the file it collects. The
            // folder only ever holds generated tests (model output), never anything of the host's.
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o755])
            scratch = folder
            var configuration = baseConfiguration
            configuration.poolSize = 1
            configuration.readablePaths = [workspace.root, folder]
            configuration.importPaths = [toolsDirectory]
            configuration.preloadModules = ["pytest"]
            configuration.defaultLimits.wallClock = wallClock
            configuration.defaultLimits.memoryBytes = 512 << 20
            configuration.defaultLimits.openFiles = 256
            do {
                let made = try Sandbox(configuration: configuration)
                sandbox = made
                return made
            } catch {
                throw ToolFailure("the confined pytest sandbox could not start: \(error)")
            }
        }
    }

    private func run(_ arguments: JSONValue) throws -> JSONValue {
        try run(paths: try workspace.relativePaths(arguments["paths"]), keyword: arguments["keyword"]?.stringValue)
    }

    /// Runs a generated test module (source text) confined, against the workspace: it is
    /// written to the scratch folder, never into the workspace, and imports the workspace's code.
    func runGenerated(_ source: String) throws -> JSONValue {
        _ = try confinedSandbox()
        guard let folder = lock.withLock({ scratch }) else { throw ToolFailure("no scratch folder for generated tests") }
        let path = folder + "/test_generated_\(UUID().uuidString.prefix(8).lowercased()).py"
        do {
            try source.write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        } catch {
            throw ToolFailure("cannot write the generated test to \(path): \(error)")
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try run(paths: [path], keyword: nil)
    }

    private func run(paths: [String], keyword: String?) throws -> JSONValue {
        var pytestArguments = [
            "-p", "no:cacheprovider", "-p", "no:faulthandler", "-p", "no:pastebin",
            // The logging plugin opens a log file (/dev/null) for writing, which the sandbox refuses.
            "-p", "no:logging", "--capture=sys", "-q",
            "--color=no", "--rootdir", workspace.root, "-o", "addopts=",
        ]
        if let keyword { pytestArguments += ["-k", keyword] }
        pytestArguments += ["--"] + paths
        let sandbox = try confinedSandbox()
        let result = sandbox.execute(
            Self.runner,
            inputs: ["ROOT": .string(workspace.root), "ARGS": .array(pytestArguments.map { .string($0) })])
        guard result.outcome == .ok, let report = result.value?.json else {
            let detail = result.error.map { "\($0.type): \($0.message)" } ?? "\(result.outcome)"
            throw ToolFailure("the confined test run ended without a report: \(detail)")
        }
        return Self.summarize(report)
    }

    static func summarize(_ report: JSONValue) -> JSONValue {
        let tests = report["tests"]?.arrayValue ?? []
        func count(_ outcome: String) -> Int { tests.filter { $0["outcome"]?.stringValue == outcome }.count }
        let exitCode = report["exit_code"]?.intValue ?? -1
        let failed = count("failed") + count("xpassed")
        let errors = count("error")
        // pytest exit codes: 0 all passed, 1 failures, 2 interrupted, 3 internal error, 4 usage, 5 none collected.
        let parseError: JSONValue = [2, 3, 4].contains(exitCode)
            ? .string("pytest stopped with exit code \(exitCode): \(report["output"]?.stringValue?.suffix(800) ?? "")") : .null
        return [
            "success": .bool(exitCode == 0 && failed == 0 && errors == 0), "passed": .int(count("passed")),
            "failed": .int(failed), "errors": .int(errors), "skipped": .int(count("skipped") + count("xfailed")),
            "duration": report["duration"] ?? 0.0, "exit_code": .int(exitCode), "tests": .array(tests),
            "parse_error": parseError,
        ]
    }

    /// Runs in the confined worker. The tests run in this same interpreter and could tamper
    /// with the collector: the report says what the tests said, the sandbox keeps them in.
    static let runner = """
        import io, os, sys, time
        import pytest

        os.chdir(ROOT)
        if ROOT not in sys.path:
            sys.path.insert(0, ROOT)

        class _Collector:
            def __init__(self):
                self.tests, self.errors = [], []

            def pytest_runtest_logreport(self, report):
                failed_outside_call = report.when != "call" and report.failed
                if report.when != "call" and not failed_outside_call and not (report.when == "setup" and report.skipped):
                    return
                outcome = "error" if failed_outside_call else report.outcome
                if hasattr(report, "wasxfail"):
                    outcome = "xfailed" if report.skipped else "xpassed"
                message = None
                if report.failed:
                    message = str(report.longrepr)[-2000:]
                elif report.skipped and isinstance(report.longrepr, tuple):
                    message = str(report.longrepr[-1])
                self.tests.append({"name": report.nodeid, "outcome": outcome,
                                   "duration": round(report.duration, 6), "message": message})

            def pytest_collectreport(self, report):
                if report.failed:
                    self.errors.append({"name": report.nodeid or ".", "outcome": "error", "duration": 0.0,
                                        "message": str(report.longrepr)[-2000:]})

        _collector = _Collector()
        _started = time.perf_counter()
        _output = io.StringIO()
        _stdout, sys.stdout = sys.stdout, _output
        try:
            _code = int(pytest.main(list(ARGS), plugins=[_collector]))
        finally:
            sys.stdout = _stdout
        {"exit_code": _code, "tests": _collector.errors + _collector.tests,
         "duration": round(time.perf_counter() - _started, 6), "output": _output.getvalue()[-4000:]}
        """

    func shutdown() {
        lock.withLock {
            sandbox?.shutdown()
            if let scratch { try? FileManager.default.removeItem(atPath: scratch) }
        }
    }
}
