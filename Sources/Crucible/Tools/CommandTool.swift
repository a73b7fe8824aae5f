import Foundation

/// A tool declared in configuration: a program run with an argv template, printing JSON
/// that is checked against the declared result schema.
///
/// `{name}` in an argv element is replaced by the argument `name` (strings as they are,
/// other values as JSON); an element that is exactly `{name}` is dropped when the argument
/// is absent. No shell is involved. The program runs on the host, in the workspace, with a
/// scrubbed environment: declare only programs you trust, since the sandboxed code chooses
/// the arguments.
enum CommandTool {
    static func make(_ contract: ToolContract, command: [String], directory: String, timeout: Duration) -> Tool {
        Tool(contract) { arguments in
            let argv = expand(command, with: arguments)
            guard let program = argv.first else { throw ToolFailure("\(contract.name) has an empty command") }
            let executable = program.contains("/") ? program : try ToolProcess.locate(program, in: nil)
            let output = try ToolProcess.run(executable, Array(argv.dropFirst()), in: directory, timeout: timeout)
            if output.timedOut { throw ToolFailure("\(program) took longer than \(timeout)") }
            guard output.status == 0 else {
                let detail = output.stderr.trimmingCharacters(in: .whitespacesAndNewlines).suffix(500)
                throw ToolFailure("\(program) exited with status \(output.status)\(detail.isEmpty ? "" : ": \(detail)")")
            }
            do { return try JSONValue(parsing: output.stdout) } catch {
                throw ToolFailure("\(program) printed something that is not JSON: \(output.stdout.prefix(200).debugDescription)")
            }
        }
    }

    static func expand(_ template: [String], with arguments: JSONValue) -> [String] {
        template.compactMap { element in
            if element.hasPrefix("{") && element.hasSuffix("}") && element.dropFirst().dropLast().allSatisfy({ $0 != "{" && $0 != "}" }) {
                let name = String(element.dropFirst().dropLast())
                guard let value = arguments[name], value != .null else { return nil }
                return text(value)
            }
            var result = element
            if case .object(let members) = arguments {
                for (name, value) in members { result = result.replacingOccurrences(of: "{\(name)}", with: text(value)) }
            }
            return result
        }
    }

    private static func text(_ value: JSONValue) -> String { value.stringValue ?? value.jsonText }
}

/// A project's Crucible settings: `crucible.toml`, or `[tool.crucible]` in `pyproject.toml`.
public struct ProjectConfiguration: Sendable {
    /// The file they came from, nil when there is none.
    public var source: String?
    public var commandTools: [Tool] = []
    /// The whole settings table (`[tool.crucible]`, or crucible.toml's top level), for other
    /// readers such as the validators.
    public var settings: JSONValue = [:]

    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads the configuration in `directory`. TOML is parsed by the sandbox's own Python
    /// (`tomllib`), so no second TOML parser can disagree with the one users' tools use.
    public static func load(from directory: String, sandbox: Sandbox) throws -> ProjectConfiguration {
        let candidates = [("crucible.toml", false), ("pyproject.toml", true)]
        for (name, nested) in candidates {
            let path = directory + "/" + name
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            let result = sandbox.execute("import tomllib\ntomllib.loads(text)", inputs: ["text": .string(text)])
            guard result.outcome == .ok, let table = result.value?.json else {
                throw Problem(description: "\(path) is not valid TOML: \(result.error?.message ?? "\(result.outcome)")")
            }
            let settings = nested ? table["tool"]?["crucible"] : table
            guard let settings else { continue }  // a pyproject.toml without [tool.crucible]
            return try ProjectConfiguration(settings: settings, source: path, directory: directory)
        }
        return ProjectConfiguration(source: nil)
    }

    init(source: String?) { self.source = source }

    init(settings: JSONValue, source: String, directory: String) throws {
        self.source = source
        self.settings = settings
        for (index, entry) in (settings["tools"]?.arrayValue ?? []).enumerated() {
            let place = "\(source): tools[\(index)]"
            guard let name = entry["name"]?.stringValue else { throw Problem(description: "\(place) needs a name") }
            guard let command = entry["command"]?.arrayValue?.compactMap(\.stringValue), !command.isEmpty,
                command.count == entry["command"]?.arrayValue?.count
            else {
                throw Problem(description: "\(place) (\(name)): command must be a non-empty list of strings")
            }
            let contract: ToolContract
            do {
                contract = try ToolContract(
                    name: name, description: entry["description"]?.stringValue ?? "",
                    inputSchema: entry["input_schema"] ?? ["type": "object"], outputSchema: entry["output_schema"])
            } catch { throw Problem(description: "\(place): \(error)") }
            let timeout: Duration
            do {
                timeout = try SettingRange.toolTimeout.seconds(
                    entry["timeout"].map { try SettingRange.toolTimeout.check(json: $0, as: "\(place).timeout") } ?? 30)
            } catch { throw Problem(description: "\(error)") }
            commandTools.append(CommandTool.make(contract, command: command, directory: directory, timeout: timeout))
        }
    }
}
