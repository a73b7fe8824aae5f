import ArgumentParser
import Crucible
import CrucibleMCP
import Foundation

struct McpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve Crucible to an MCP client (Claude Code, pydantic-ai, any agent) over stdio.",
        discussion: """
            Tools: run_python (sandboxed CPython; its description carries the typed Python API of \
            the tools the code may call), validate_code, describe_tools, and generate_artifact when \
            --model or --scripted is given. Errors the model should fix come back as tool results \
            with isError and feedback; server faults are protocol errors.
            --tools-from "CMD ARGS" (repeatable) starts another MCP server and offers its tools to \
            the sandboxed code as typed Python functions (code mode over MCP).
            Every run_python, validate_code and generate_artifact call is recorded in the corpus \
            (--corpus, default $CRUCIBLE_CORPUS or .crucible/corpus.sqlite); consecutive attempts \
            at one artifact form error-to-fix pairs.
            stdout carries only MCP messages; logs go to stderr. Exits 0 when the client closes \
            stdin, 2 on a usage error (a --tools-from server that cannot start), 3 when the sandbox \
            cannot be built.
            """)

    @OptionGroup var tools: ToolOptions
    @OptionGroup var python: PythonOptions

    @Option(name: .customLong("tools-from"),
            help: ArgumentHelp("Another MCP server's command line, quoted as for a shell; its tools become Python functions in the sandbox.",
                               valueName: "CMD"))
    var toolsFrom: [String] = []

    @Option(help: "Seconds a --tools-from server may take to start and answer the MCP handshake.")
    var toolsFromTimeout: Double = 60

    @Option(help: "Seconds a run_python call may take unless it asks for another limit.")
    var timeout: Double = 30

    @Option(help: "Confined workers kept forked and waiting.")
    var poolSize: Int = 4

    @Option(help: "Cap on the stdout and stderr a run_python call returns, in bytes each.")
    var outputLimit: Int = 1 << 20

    @Option(help: "Named run_python sessions open at once (each keeps a worker process).")
    var maxSessions: Int = 8

    @OptionGroup var capacity: CapacityOptions

    @OptionGroup var recording: RecordingOptions

    @OptionGroup var modelOptions: ModelOptions

    func validate() throws {
        try SettingRange.timeout.validate(timeout, flag: "--timeout")
        try SettingRange.startTimeout.validate(toolsFromTimeout, flag: "--tools-from-timeout")
        try SettingRange.poolSize.validate(poolSize, flag: "--pool-size")
        try SettingRange.outputBytes.validate(outputLimit, flag: "--output-limit")
        try SettingRange.sessions.validate(maxSessions, flag: "--max-sessions")
        for command in toolsFrom {
            guard let words = try? ShellWords.split(command), !words.isEmpty else {
                throw ValidationError("--tools-from \(command.debugDescription): not a command line (check its quotes)")
            }
        }
    }

    func run() async throws {
        let protocolOutput = try takeStdoutForProtocol()
        var limits = ExecutionLimits()
        limits.wallClock = SettingRange.timeout.duration(timeout)
        limits.stdoutBytes = outputLimit
        limits.stderrBytes = outputLimit
        DescriptorBudget.raiseOpenFileLimit()
        try requireSandboxParts()
        let prepared = try await python.prepare(project: try tools.loadProject())
        let sandbox = try makeSandbox(limits: limits, poolSize: poolSize, capacity: capacity, python: prepared)
        defer { sandbox.shutdown() }
        try await serve(sandbox: sandbox, validatorSandbox: prepared.validatorSandbox, protocolOutput: protocolOutput)
    }

    private func serve(sandbox: Sandbox, validatorSandbox: SandboxConfiguration, protocolOutput: Int32) async throws {
        let project = try tools.loadProject()
        let (baseToolbox, standard) = try tools.makeToolbox(sandbox: sandbox, project: project)
        defer { standard?.shutdown() }
        let root = tools.root
        let kinds = project.kinds
        let validator = LazyValidator(kinds: kinds) { try Validator(sandbox: validatorSandbox) }
        defer { validator.shutdown() }
        let recorder = recording.recorder(source: "mcp")
        recorder?.describeWorkspace(at: tools.root)
        RecordsAtTermination.install(recorder, label: "crucible mcp")
        let sources = ToolSources()

        var configuration = CrucibleMCPServer.Configuration(
            sandbox: sandbox, validator: validator, kinds: kinds, recorder: recorder)
        configuration.writesAllowed = tools.allowWrites
        // Each session holds two descriptors: never more than the open-file limit leaves room for.
        configuration.maxSessions = min(maxSessions, DescriptorBudget.sessions(runningExecutions: capacity.maxRunning))
        // The other servers and the validators start while the client is already being answered:
        // `initialize` must come back within the client's timeout (pydantic-ai: 5 s).
        let server = CrucibleMCPServer(configuration) { [self] in
            var toolbox = baseToolbox
            try await connect(into: &toolbox, keeping: sources)
            let generator = try makeGenerator(sandbox: sandbox, toolbox: toolbox, standard: standard,
                                              validator: validator, project: project, recorder: recorder)
            log("mcp: ready (\(toolbox.contracts.count) tools for the sandbox, workspace \(root)"
                + (generator == nil ? "" : ", generate_artifact on") + ")")
            return CrucibleMCPServer.Tools(toolbox: toolbox, generator: generator)
        }
        do {
            try await server.serve(input: STDIN_FILENO, output: protocolOutput, version: CrucibleCommand.version)
        } catch {
            await sources.closeAll()
            throw error
        }
        await sources.closeAll()
        if let recorder { log("mcp: \(recorder.summary)") }
    }

    /// Starts each --tools-from server and adds its tools; a clash of names is a usage error.
    private func connect(into toolbox: inout Toolbox, keeping sources: ToolSources) async throws {
        for command in toolsFrom {
            let words = try ShellWords.split(command)
            let source: MCPToolSource
            do { source = try await MCPToolSource.start(
                words, clientVersion: CrucibleCommand.version, startTimeout: toolsFromTimeout) } catch {
                throw ValidationError("--tools-from: \(error)")
            }
            await sources.add(source)
            for tool in try await source.tools() {
                do { try toolbox.add(tool) } catch {
                    throw ValidationError("--tools-from \(command.debugDescription): \(tool.name) is already a tool "
                        + "(standard, configured or from an earlier --tools-from); start that server under another name")
                }
            }
            for reason in source.skipped { log("--tools-from \(words[0]): \(reason)") }
        }
    }

    /// The retry loop behind generate_artifact, when a model is configured.
    private func makeGenerator(
        sandbox: Sandbox, toolbox: Toolbox, standard: StandardTools?, validator: LazyValidator, project: ProjectConfiguration,
        recorder: CorpusRecorder?
    ) throws -> RetryLoop? {
        guard let model = try modelOptions.makeModel() else { return nil }
        let started = try validator.startedValidator()
        var runTest: (@Sendable (String) throws -> JSONValue)?
        if let standard { runTest = { source in try standard.runGeneratedTest(source) } }
        return RetryLoop(
            model: model, validator: started, sandbox: sandbox, tools: toolbox,
            toolAPI: toolbox.isEmpty ? nil : try sandbox.describe(toolbox), runTest: runTest,
            settings: modelOptions.settings,
            validatorConfiguration: try Validator.Configuration(project: project),
            recorders: recorder.map { [$0] } ?? [])
    }

    private func log(_ message: String) {
        FileHandle.standardError.write(Data("crucible \(message)\n".utf8))
    }
}

/// The --tools-from servers started so far, to stop when the server ends.
actor ToolSources {
    private var sources: [MCPToolSource] = []
    func add(_ source: MCPToolSource) { sources.append(source) }
    func closeAll() async {
        for source in sources { await source.close() }
        sources.removeAll()
    }
}
