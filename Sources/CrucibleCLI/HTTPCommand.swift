import ArgumentParser
import Crucible
import CrucibleHTTP
import Foundation

struct HTTPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http",
        abstract: "Serve the sandbox over HTTP: serve's methods as JSON, and SandboxFusion's /run_code.",
        discussion: """
            Routes (docs/http-api.md): POST /v1/execute, /v1/validate, /v1/sessions, \
            /v1/sessions/ID/execute, DELETE /v1/sessions/ID, POST /v1/feedback, GET /health \
            (no token), GET /metrics (Prometheus), and POST /run_code or \
            /sandbox-fusion/TOKEN/run_code (SandboxFusion's API: verl posts to its \
            reward.sandbox_fusion.url as given, so that is http://HOST:PORT/sandbox-fusion/TOKEN/run_code; \
            the sandbox-fusion client's endpoint is the same without /run_code). Every route but /health needs the token \
            (--token or $CRUCIBLE_HTTP_TOKEN) as `Authorization: Bearer TOKEN`; without one the \
            server refuses to start unless --no-auth. Prints `listening on http://HOST:PORT` on \
            stdout once it listens. SIGTERM or SIGINT: stops accepting, answers the requests in \
            progress, exits 0.
            """)

    @Option(help: "The address to listen on. Anything but loopback exposes the sandbox to the network: keep the token.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on; 0 lets the kernel pick a free one (printed on stdout).")
    var port = 8080

    @Option(help: "The bearer token requests must carry (default: $CRUCIBLE_HTTP_TOKEN).")
    var token: String?

    @Flag(help: "Accept requests without a token (loopback only, unless you mean it: a warning says so).")
    var noAuth = false

    @Option(help: "Request bodies beyond this many MiB are answered 413.")
    var maxBodyMb = 16

    @Option(help: "The longest wall clock a request may ask for, in seconds (native: over it is 400; /run_code: lowered to it).")
    var maxTimeout: Double = 300

    @Option(help: "The most memory a request may ask for, in MiB (native: over it is 400; /run_code: lowered to it).")
    var maxMemory = 4096

    @OptionGroup var tools: ToolOptions
    @OptionGroup var python: PythonOptions

    @Option(help: "Confined workers kept forked and waiting.")
    var poolSize: Int = 4

    @Option(help: "Sessions open at once; one more is answered 429. Default: what the open-file limit allows.")
    var maxSessions: Int?

    @OptionGroup var capacity: CapacityOptions

    @OptionGroup var recording: RecordingOptions

    func validate() throws {
        try SettingRange.poolSize.validate(poolSize, flag: "--pool-size")
        if let maxSessions { try SettingRange.sessions.validate(maxSessions, flag: "--max-sessions") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535 (0: any free port), not \(port)") }
        guard (1...1024).contains(maxBodyMb) else { throw ValidationError("--max-body-mb must be 1-1024, not \(maxBodyMb)") }
        try SettingRange.timeout.validate(maxTimeout, flag: "--max-timeout")
        try SettingRange.memoryMB.validate(maxMemory, flag: "--max-memory")
        if resolvedToken == nil && !noAuth {
            throw ValidationError("no token: pass --token TOKEN or set CRUCIBLE_HTTP_TOKEN (or --no-auth, to accept anyone who can connect)")
        }
        if resolvedToken?.isEmpty == true { throw ValidationError("the token is empty") }
    }

    /// --token, else the environment's; none with --no-auth.
    var resolvedToken: String? {
        noAuth ? nil : (token ?? ProcessInfo.processInfo.environment["CRUCIBLE_HTTP_TOKEN"])
    }

    func run() async throws {
        if noAuth && !["127.0.0.1", "::1", "localhost"].contains(host) {
            FileHandle.standardError.write(Data(
                "crucible http: warning: --no-auth on \(host): anyone who can reach this address can run code in the sandbox\n".utf8))
        }
        DescriptorBudget.raiseOpenFileLimit()
        try requireSandboxParts()
        let project = try tools.loadProject()
        let prepared = try await python.prepare(project: project)
        let sandbox = try makeSandbox(poolSize: poolSize, capacity: capacity, python: prepared)
        defer { sandbox.shutdown() }
        let (toolbox, standard) = try tools.makeToolbox(sandbox: sandbox, project: project)
        defer { standard?.shutdown() }
        let recorder = recording.recorder(source: "http")
        recorder?.describeWorkspace(at: tools.root)
        let others = InterpreterSandboxes(options: python, project: project) { [poolSize, capacity] prepared in
            try makeSandbox(poolSize: poolSize, capacity: capacity, python: prepared)
        }
        defer { others.shutdown() }
        let methods = ServeMethods(
            sandbox: sandbox, baseTools: toolbox, recorder: recorder, source: "http", maxSessions: maxSessions, kinds: project.kinds,
            makeValidator: { [validatorSandbox = prepared.validatorSandbox] in try Validator(sandbox: validatorSandbox) },
            interpreterSandboxes: { try others.sandbox(for: $0, packages: $1) }, randomSessionIDs: true)
        var configuration = HTTPConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.token = resolvedToken
        configuration.maxBodyBytes = maxBodyMb << 20
        configuration.maxTimeout = maxTimeout
        configuration.maxMemoryMB = maxMemory
        // As serve: what the sandbox runs and queues, plus room for quick requests.
        configuration.maxInFlight = capacity.maxRunning + capacity.maxQueued + 64
        let service = HTTPService(methods: methods, configuration: configuration)
        do {
            try await HTTPServer.run(service) { host, port in
                let shown = host.contains(":") ? "[\(host)]" : host
                // Written straight to fd 1: a script waiting for this line must get it now, not at exit.
                FileHandle.standardOutput.write(Data("crucible http: listening on http://\(shown):\(port)\n".utf8))
            }
        } catch {
            FileHandle.standardError.write(Data("crucible http: \(error)\n".utf8))
            methods.close()
            throw ExitCode(1)
        }
        methods.close()
        if let recorder { FileHandle.standardError.write(Data("crucible http: \(recorder.summary)\n".utf8)) }
    }
}
