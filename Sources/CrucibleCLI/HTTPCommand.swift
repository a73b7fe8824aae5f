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
            stdout once it listens; exits 2 if it cannot (the address is taken or not on this \
            machine). SIGTERM or SIGINT: stops accepting, answers the requests in progress, exits 0.
            """)

    @Option(help: "The address to listen on (an IPv6 one bare or in brackets). Anything but loopback exposes the sandbox to the network: keep the token.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on; 0 lets the kernel pick a free one (printed on stdout).")
    var port = 8080

    @Option(help: "The bearer token requests must carry (default: $CRUCIBLE_HTTP_TOKEN): printable ASCII without / ? # %, since it also goes in a URL path.")
    var token: String?

    @Flag(help: "Accept requests without a token (loopback only, unless you mean it: a warning says so). Not with --token.")
    var noAuth = false

    @Option(help: "Request bodies beyond this many MiB are answered 413.")
    var maxBodyMb = 16

    @Option(help: "The longest wall clock a request may ask for, in seconds (native: over it is 400; /run_code: lowered to it).")
    var maxTimeout: Double = 300

    @Option(help: "The most memory a request may ask for, in MiB (native: over it is 400; /run_code: lowered to it).")
    var maxMemory = 4096

    @OptionGroup var tools: ToolOptions
    @OptionGroup var python: PythonOptions

    @Option(help: "Seconds a connection may send nothing (before or inside a request) before it is closed, and a request body may take to arrive (then 408).")
    var readTimeout: Double = 60

    @Option(help: "Confined workers kept forked and waiting (0: each execution forks one when it starts).")
    var poolSize: Int = 4

    @Option(help: "Sessions open at once; one more is answered 429. Default: what the open-file limit allows.")
    var maxSessions: Int?

    @OptionGroup var capacity: CapacityOptions

    @OptionGroup var recording: RecordingOptions

    func validate() throws {
        try SettingRange.poolSize.validate(poolSize, flag: "--pool-size")
        if let maxSessions { try SettingRange.httpSessions.validate(maxSessions, flag: "--max-sessions") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535 (0: any free port), not \(port)") }
        guard (1...1024).contains(maxBodyMb) else { throw ValidationError("--max-body-mb must be 1-1024, not \(maxBodyMb)") }
        try SettingRange.timeout.validate(maxTimeout, flag: "--max-timeout")
        try SettingRange.memoryMB.validate(maxMemory, flag: "--max-memory")
        try SettingRange.readTimeout.validate(readTimeout, flag: "--read-timeout")
        if noAuth && token != nil {
            throw ValidationError("--no-auth and --token contradict each other: pass one (--no-auth accepts anyone who can connect)")
        }
        if resolvedToken == nil && !noAuth {
            throw ValidationError("no token: pass --token TOKEN or set CRUCIBLE_HTTP_TOKEN (or --no-auth, to accept anyone who can connect)")
        }
        if let resolvedToken, let problem = Self.unusable(token: resolvedToken) {
            let source = token == nil ? "CRUCIBLE_HTTP_TOKEN" : "--token"
            throw ValidationError("\(source) \(problem)")
        }
    }

    /// Why a token cannot work, or nil. It goes in the SandboxFusion URL path
    /// (/sandbox-fusion/TOKEN/run_code), where / ? # % change what the path means and clients
    /// escape anything else outside printable ASCII, and it is compared exactly with the
    /// Authorization header, whose value loses surrounding whitespace on the way.
    static func unusable(token: String) -> String? {
        if token.isEmpty { return "is empty" }
        for scalar in token.unicodeScalars {
            let what: String
            switch scalar {
            case "/", "?", "#", "%": what = "\"\(scalar)\""
            case " ": what = "a space"
            case "\u{21}"..."\u{7E}": continue
            case "\u{00}"..."\u{1F}", "\u{7F}": what = "a control character"
            default: what = scalar.properties.isWhitespace ? "whitespace" : "a character outside ASCII"
            }
            return "holds \(what): a token may hold only printable ASCII other than / ? # % "
                + "(it goes in the URL path /sandbox-fusion/TOKEN/run_code and is compared exactly)"
        }
        return nil
    }

    /// --token, else the environment's; none with --no-auth.
    var resolvedToken: String? {
        noAuth ? nil : (token ?? ProcessInfo.processInfo.environment["CRUCIBLE_HTTP_TOKEN"])
    }

    func run() async throws {
        let address = ListenAddress(host)
        if noAuth && !address.isLoopback {
            FileHandle.standardError.write(Data(
                "crucible http: warning: --no-auth on \(address.shown): anyone who can reach this address can run code in the sandbox\n".utf8))
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
        configuration.host = address.host
        configuration.port = port
        configuration.readTimeout = SettingRange.readTimeout.duration(readTimeout)
        configuration.token = resolvedToken
        configuration.maxBodyBytes = maxBodyMb << 20
        configuration.maxTimeout = maxTimeout
        configuration.maxMemoryMB = maxMemory
        // As serve: what the sandbox runs and queues, plus room for quick requests.
        configuration.maxInFlight = capacity.maxRunning + capacity.maxQueued + 64
        let service = HTTPService(methods: methods, configuration: configuration)
        do {
            try await HTTPServer.run(service) { host, port in
                // Written straight to fd 1: a script waiting for this line must get it now, not at exit.
                FileHandle.standardOutput.write(Data("crucible http: listening on http://\(ListenAddress(host).shown):\(port)\n".utf8))
            }
        } catch let failure as ListenFailure {
            // The user's choice of address is what to change: a usage error, as a bad flag is.
            FileHandle.standardError.write(Data("crucible http: \(failure)\n".utf8))
            methods.close()
            throw ExitCode(ExitCode32.usage.rawValue)
        } catch {
            FileHandle.standardError.write(Data("crucible http: \(error)\n".utf8))
            methods.close()
            throw ExitCode(1)
        }
        methods.close()
        if let recorder { FileHandle.standardError.write(Data("crucible http: \(recorder.summary)\n".utf8)) }
    }
}
