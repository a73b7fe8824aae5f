import ArgumentParser
import Crucible
import Foundation

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the sandbox to an agent over JSON-RPC 2.0 on stdin/stdout.",
        discussion: """
            One JSON object per line in each direction (docs/serve-protocol.md). Methods: \
            initialize, open_session, close_session, execute, validate, list_tools, describe_tools; \
            the server asks the client call_tool for tools the client declared. stdout carries \
            only the protocol: logs go to stderr. Exits 0 when the client closes stdin.
            Every execute and validate is recorded in the corpus (--corpus, default \
            $CRUCIBLE_CORPUS or .crucible/corpus.sqlite); a client links the calls that are \
            attempts at one artifact with "corpus": {"session": ID, "task", "kind"}, so its \
            failures and fixes form error-to-fix pairs.
            """)

    @OptionGroup var tools: ToolOptions
    @OptionGroup var python: PythonOptions

    @Option(help: "Confined workers kept forked and waiting.")
    var poolSize: Int = 4

    @Option(help: "Sessions open at once; one more is refused (-32004). Default: what the open-file limit allows.")
    var maxSessions: Int?

    @OptionGroup var capacity: CapacityOptions

    @OptionGroup var recording: RecordingOptions

    func validate() throws {
        try SettingRange.poolSize.validate(poolSize, flag: "--pool-size")
        if let maxSessions { try SettingRange.sessions.validate(maxSessions, flag: "--max-sessions") }
    }

    func run() async throws {
        let protocolOutput = try takeStdoutForProtocol()
        DescriptorBudget.raiseOpenFileLimit()
        try requireSandboxParts()
        let project = try tools.loadProject()
        let prepared = try await python.prepare(project: project)
        let sandbox = try makeSandbox(poolSize: poolSize, capacity: capacity, python: prepared)
        defer { sandbox.shutdown() }
        let (toolbox, standard) = try tools.makeToolbox(sandbox: sandbox, project: project)
        defer { standard?.shutdown() }
        FileHandle.standardError.write(Data(
            "crucible serve: ready (\(toolbox.contracts.count) tools, workspace \(tools.workspace ?? FileManager.default.currentDirectoryPath))\n".utf8))
        let recorder = recording.recorder(source: "serve")
        recorder?.describeWorkspace(at: tools.root)
        RecordsAtTermination.install(recorder, label: "crucible serve")
        let others = InterpreterSandboxes(options: python, project: project) { [poolSize, capacity] prepared in
            try makeSandbox(poolSize: poolSize, capacity: capacity, python: prepared)
        }
        defer { others.shutdown() }
        let server = ServeServer(sandbox: sandbox, baseTools: toolbox, input: STDIN_FILENO, output: protocolOutput, recorder: recorder,
                                 maxSessions: maxSessions, kinds: project.kinds,
                                 makeValidator: { [validatorSandbox = prepared.validatorSandbox] in try Validator(sandbox: validatorSandbox) },
                                 interpreterSandboxes: { try others.sandbox(for: $0, packages: $1) })
        // The server's loop blocks on stdin: on a thread of its own, not one of the cooperative
        // pool's few, which program-backed tools need.
        await onOwnThread { server.run() }
    }
}

struct ToolsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tools",
        abstract: "Show the tools sandboxed code can call: contracts, the Python API, or the prompt text.",
        discussion: "Without a flag, lists tool names and descriptions. Exits 3 when the sandbox cannot start.")

    @OptionGroup var tools: ToolOptions

    @Flag(help: "Print the prompt text a model reads: instructions plus the Python API.")
    var prompt = false

    @Flag(help: "Print the Python API only (stubs of the functions and result classes).")
    var python = false

    @Flag(help: "Print the contracts as MCP tool definitions (JSON).")
    var json = false

    func run() throws {
        let sandbox = try makeSandbox(poolSize: 1)
        defer { sandbox.shutdown() }
        let (toolbox, standard) = try tools.makeToolbox(sandbox: sandbox, project: tools.loadProject())
        defer { standard?.shutdown() }
        if json {
            print(JSONValue.array(toolbox.contracts.map(\.mcpDefinition)).jsonText)
        } else if prompt || python {
            let api = try sandbox.describe(toolbox)
            print(prompt ? ToolPrompt.render(api: api, python: sandbox.report.pythonVersion) : api, terminator: prompt ? "\n" : "")
        } else {
            for contract in toolbox.contracts { print("\(contract.name)\t\(contract.description)") }
        }
    }
}
