import ArgumentParser
import Crucible
import Foundation

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a Python file (or - for stdin) in a fresh confined worker.",
        discussion: """
            Prints captured stdout and stderr, then the value of the last expression. \
            Exits 0 when the code ran to the end, 1 when it failed in any way.
            """)

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
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        guard memory >= 16 else { throw ValidationError("--memory must be at least 16 (MiB)") }
        for input in inputs where !input.contains("=") {
            throw ValidationError("--input takes NAME=JSON, got \(input.debugDescription)")
        }
    }

    func run() throws {
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
        limits.wallClock = .milliseconds(Int64(timeout * 1000))
        limits.memoryBytes = memory << 20
        limits.stdoutBytes = outputLimit
        limits.stderrBytes = outputLimit
        let sandbox = try makeSandbox(limits: limits)
        defer { sandbox.shutdown() }
        let result = sandbox.execute(code, inputs: bound)
        if json {
            print(ResultJSON.render(result))
        } else {
            FileHandle.standardOutput.write(Data(result.stdout.utf8))
            FileHandle.standardError.write(Data(result.stderr.utf8))
            if let value = result.value { print(value.text) }
            if result.outcome != .ok {
                let detail = result.error?.traceback ?? ""
                FileHandle.standardError.write(Data("\(detail)\(detail.isEmpty || detail.hasSuffix("\n") ? "" : "\n")crucible: \(result.outcome)\n".utf8))
            }
        }
        if result.outcome != .ok { throw ExitCode(ExitCode32.codeFailed.rawValue) }
    }
}

/// The `--json` shape of a result (stable field names for scripts).
enum ResultJSON {
    static func render(_ result: ExecutionResult) -> String {
        var object: [String: JSONValue] = [
            "outcome": .string(result.outcome.name),
            "outcome_detail": .string(result.outcome.description),
            "stdout": .string(result.stdout),
            "stderr": .string(result.stderr),
            "stdout_truncated_bytes": .int(result.stdoutTruncatedBytes),
            "stderr_truncated_bytes": .int(result.stderrTruncatedBytes),
            "duration_ms": .double(result.duration.milliseconds),
        ]
        if case .killedBySeccomp(let name) = result.outcome { object["syscall"] = .string(name) }
        if case .crashed(let signal?, _) = result.outcome { object["signal"] = .int(Int(signal)) }
        if let value = result.value {
            switch value {
            case .json(let text, let type):
                object["value"] = (try? JSONValue(parsing: text)) ?? .null
                object["value_type"] = .string(type)
            case .repr(let text, let type, let truncated):
                object["value_repr"] = .string(text)
                object["value_type"] = .string(type)
                if truncated > 0 { object["value_truncated_chars"] = .int(truncated) }
            }
        }
        if let error = result.error {
            var described: [String: JSONValue] = [
                "type": .string(error.type), "message": .string(error.message), "traceback": .string(error.traceback),
                "frames": .array(error.frames.map {
                    .object(["file": .string($0.file), "line": .int($0.line), "function": .string($0.function),
                             "text": .string($0.text)])
                }),
            ]
            if let line = error.line { described["line"] = .int(line) }
            if let column = error.column { described["column"] = .int(column) }
            if let line = error.endLine { described["end_line"] = .int(line) }
            if let column = error.endColumn { described["end_column"] = .int(column) }
            object["error"] = .object(described)
        }
        return JSONValue.object(object).jsonText
    }
}

extension Duration {
    var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}
