import CrucibleWire

/// The shape ruff_check and typecheck share: a program that reads the workspace's files and
/// never runs them, so it runs as a host process (ToolProcess: scrubbed environment, killed
/// past its timeout) on the paths the code names, and its output is parsed into the
/// contract's result type.
enum FileReadingProgram {
    static func tool(
        _ contract: ToolContract, program: String, arguments: [String], workspace: Workspace, toolsDirectory: String?,
        parse: @escaping @Sendable (ToolProcess.Output) -> JSONValue
    ) -> Tool {
        Tool(contract) { call in
            let executable = try ToolProcess.locate(program, in: toolsDirectory)
            let paths = try workspace.relativePaths(call["paths"])
            let output = try await ToolProcess.run(executable, arguments + ["--"] + paths, in: workspace.root)
            if output.timedOut { throw ToolFailure("\(program) took longer than 60 s") }
            return parse(output)
        }
    }
}
