import ArgumentParser
import Crucible
import CrucibleMCP
import Foundation

struct McpCommand: ParsableCommand {
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

    @Option(help: "Named run_python sessions open at once (each keeps a worker process).")
    var maxSessions: Int = 8

    @OptionGroup var capacity: CapacityOptions

    @OptionGroup var recording: RecordingOptions

    @OptionGroup var modelOptions: ModelOptions

    func validate() throws {
        try SettingRange.timeout.validate(timeout, flag: "--timeout")
        try SettingRange.startTimeout.validate(toolsFromTimeout, flag: "--tools-from-timeout")
        try SettingRange.poolSize.validate(poolSize, flag: "--pool-size")
        try SettingRange.sessions.validate(maxSessions, flag: "--max-sessions")
        for command in toolsFrom {
            guard let words = try? ShellWords.split(command), !words.isEmpty else {
                throw ValidationError("--tools-from \(command.debugDescription): not a command line (check its quotes)")
            }
        }
    }

    func run() throws {
        let protocolOutput = try takeStdoutForProtocol()
        var limits = ExecutionLimits()
        limits.wallClock = SettingRange.timeout.duration(timeout)
        DescriptorBudget.raiseOpenFileLimit()
        let sandbox = try makeSandbox(limits: limits, poolSize: poolSize, capacity: capacity)
        defer { sandbox.shutdown() }
        let outcome = Box<Result<Void, Error>>()
        let done = DispatchSemaphore(value: 0)
        Task {
            do { outcome.value = .success(try await serve(sandbox: sandbox, protocolOutput: protocolOutput)) } catch {
                outcome.value = .failure(error)
            }
            done.signal()
        }
        done.wait()
        try outcome.value!.get()
    }

    private func serve(sandbox: Sandbox, protocolOutput: Int32) async throws {
        var (toolbox, standard) = try tools.makeToolbox(sandbox: sandbox)
        defer { standard?.shutdown() }
        var sources: [MCPToolSource] = []
        do {
            try await connect(&sources, into: &toolbox)
            try await serve(sandbox: sandbox, toolbox: toolbox, standard: standard, protocolOutput: protocolOutput)
        } catch {
            for source in sources { await source.close() }
            throw error
        }
        for source in sources { await source.close() }
    }

    /// Starts each --tools-from server and adds its tools; a clash of names is a usage error.
    private func connect(_ sources: inout [MCPToolSource], into toolbox: inout Toolbox) async throws {
        for command in toolsFrom {
            let words = try ShellWords.split(command)
            let source: MCPToolSource
            do { source = try await MCPToolSource.start(
                words, clientVersion: CrucibleCommand.version, startTimeout: toolsFromTimeout) } catch {
                throw ValidationError("--tools-from: \(error)")
            }
            sources.append(source)
            for tool in try await source.tools() {
                do { try toolbox.add(tool) } catch {
                    throw ValidationError("--tools-from \(command.debugDescription): \(tool.name) is already a tool "
                        + "(standard, configured or from an earlier --tools-from); start that server under another name")
                }
            }
            for reason in source.skipped { log("--tools-from \(words[0]): \(reason)") }
        }
    }

    private func serve(sandbox: Sandbox, toolbox: Toolbox, standard: StandardTools?, protocolOutput: Int32) async throws {
        let root = tools.root
        let kinds = try tools.artifactKinds(sandbox: sandbox)
        let validator = LazyValidator(projectDirectory: root)
        defer { validator.shutdown() }
        let recorder = recording.recorder(source: "mcp")

        var generator: RetryLoop?
        if let model = try modelOptions.makeModel() {
            let started: Validator
            do { started = try validator.startedValidator() } catch {
                log("\(error)")
                throw ExitCode(ExitCode32.sandboxUnavailable.rawValue)
            }
            var runTest: (@Sendable (String) throws -> JSONValue)?
            if let standard { runTest = { source in try standard.runGeneratedTest(source) } }
            generator = RetryLoop(
                model: model, validator: started, sandbox: sandbox, tools: toolbox,
                toolAPI: toolbox.isEmpty ? nil : try sandbox.describe(toolbox), runTest: runTest,
                settings: modelOptions.settings,
                validatorConfiguration: (try? started.projectConfiguration(in: root)) ?? Validator.Configuration(),
                recorders: recorder.map { [$0] } ?? [])
        }

        var configuration = CrucibleMCPServer.Configuration(
            sandbox: sandbox, toolbox: toolbox, validator: validator, kinds: kinds, recorder: recorder, generator: generator)
        configuration.writesAllowed = tools.allowWrites
        configuration.maxSessions = maxSessions
        let server: CrucibleMCPServer
        do { server = try CrucibleMCPServer(configuration) } catch {
            log("\(error)")
            throw ExitCode(ExitCode32.sandboxUnavailable.rawValue)
        }
        log("mcp: ready (\(toolbox.contracts.count) tools for the sandbox, workspace \(root)"
            + (generator == nil ? "" : ", generate_artifact on") + ")")
        try await server.serve(input: STDIN_FILENO, output: protocolOutput, version: CrucibleCommand.version)
        if let recorder { log("mcp: \(recorder.summary)") }
    }

    private func log(_ message: String) {
        FileHandle.standardError.write(Data("crucible \(message)\n".utf8))
    }
}
