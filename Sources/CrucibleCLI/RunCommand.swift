import ArgumentParser
import Crucible
import Foundation

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a Python file (or - for stdin) in a fresh confined worker.",
        discussion: """
            Prints captured stdout and stderr, then the value of the last expression. \
            The code can call the standard tools of --workspace (files, git, ruff, ty, pytest) and \
            the project's configured tools, as in serve and mcp (`crucible tools --prompt` shows \
            their Python API), and import the packages of --with (installed on the host, read-only in \
            the sandbox). Exits 0 when the code ran to the end, 1 when it failed in any way (or a \
            package could not be installed).
            """)

    @OptionGroup var tools: ToolOptions
    @OptionGroup var python: PythonOptions

    @Argument(help: "The Python file to run, or - to read the code from stdin.")
    var file: String

    @Flag(help: "Print the result as one JSON object on stdout.")
    var json = false

    @Option(help: "Wall-clock limit in seconds.")
    var timeout: Double = 10

    @Option(help: "Memory the code may use, in MiB.")
    var memory: Int = 256

    @Option(help: "Cap on captured stdout and stderr, in bytes each.")
    var outputLimit: Int = 1 << 20

    @Option(name: .customLong("input"), help: "Bind a variable: NAME=JSON (repeatable), e.g. --input 'n=3'.")
    var inputs: [String] = []

    func validate() throws {
        try SettingRange.timeout.validate(timeout, flag: "--timeout")
        try SettingRange.memoryMB.validate(memory, flag: "--memory")
        try SettingRange.outputBytes.validate(outputLimit, flag: "--output-limit")
        for input in inputs where !input.contains("=") {
            throw ValidationError("--input takes NAME=JSON, got \(input.debugDescription)")
        }
    }

    func run() async throws {
        let code: String
        if file == "-" {
            code = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ValidationError("cannot read \(file): no such file, or not UTF-8 text")
            }
            code = text
        }
        var bound: [String: JSONValue] = [:]
        for input in inputs {
            let parts = input.split(separator: "=", maxSplits: 1)
            let name = String(parts[0])
            do {
                bound[name] = try JSONValue(parsing: parts.count > 1 ? String(parts[1]) : "")
            } catch {
                throw ValidationError("--input \(name): the value is not JSON (quote strings: \(name)='\"text\"')")
            }
        }
        var limits = ExecutionLimits()
        limits.wallClock = SettingRange.timeout.duration(timeout)
        limits.memoryBytes = memory << 20
        limits.stdoutBytes = outputLimit
        limits.stderrBytes = outputLimit
        try requireSandboxParts()
        let project = try tools.loadProject()
        let prepared = try await python.prepare(project: project)
        let sandbox = try makeSandbox(limits: limits, python: prepared)
        defer { sandbox.shutdown() }
        let (toolbox, standard) = try tools.makeToolbox(sandbox: sandbox, project: project)
        defer { standard?.shutdown() }
        let result = await sandbox.run(code, inputs: bound, tools: toolbox)
        if json {
            print(result.jsonObject.jsonText)
        } else {
            FileHandle.standardOutput.write(Data(result.stdout.utf8))
            FileHandle.standardError.write(Data(result.stderr.utf8))
            if let value = result.value { print(value.text) }
            if !result.files.isEmpty {
                // Text output has no place for them; without a word they would seem lost.
                let names = result.files.map(\.name)
                FileHandle.standardError.write(Data(
                    "crucible: \(names.count) file\(names.count == 1 ? "" : "s") written under /output (\(names.prefix(5).joined(separator: ", "))\(names.count > 5 ? ", ..." : "")): --json returns them\n".utf8))
            }
            if result.outcome != .ok {
                let detail = result.error?.traceback ?? ""
                FileHandle.standardError.write(Data("\(detail)\(detail.isEmpty || detail.hasSuffix("\n") ? "" : "\n")crucible: \(result.outcome)\n".utf8))
            }
            if result.outcome == .syntaxError, let hint = NewerSyntaxHint.hint(for: code, pythonVersion: sandbox.report.pythonVersion) {
                FileHandle.standardError.write(Data("crucible: \(hint)\n".utf8))
            }
        }
        if result.outcome != .ok { throw ExitCode(ExitCode32.codeFailed.rawValue) }
    }
}
