import CrucibleConfiguration
import CrucibleWire
import Foundation

/// A tool declared in configuration: a program run with an argv template, printing JSON
/// that is checked against the declared result schema.
///
/// `{name}` in an argv element is replaced by the argument `name` (strings as they are,
/// other values as JSON); an element that is exactly `{name}` is dropped when the argument
/// is absent. No shell is involved. The program runs on the host, in the workspace, with a
/// scrubbed environment: declare only programs you trust, since the sandboxed code chooses
/// the arguments.
package enum CommandTool {
    /// The tools a project declares, each checked as a contract (the error names where it was declared).
    package static func all(_ project: ProjectConfiguration) throws -> [Tool] {
        try project.commandTools.map { declaration in
            let contract: ToolContract
            do {
                contract = try ToolContract(
                    name: declaration.name, description: declaration.description, inputSchema: declaration.inputSchema,
                    outputSchema: declaration.outputSchema)
            } catch { throw ProjectConfiguration.Problem(description: "\(declaration.place): \(error)") }
            return make(contract, command: declaration.command, directory: project.directory, timeout: declaration.timeout)
        }
    }

    static func make(_ contract: ToolContract, command: [String], directory: String, timeout: Duration) -> Tool {
        Tool(contract) { arguments in
            let argv = expand(command, with: arguments)
            guard let program = argv.first else { throw ToolFailure("\(contract.name) has an empty command") }
            let executable = program.contains("/") ? program : try ToolProcess.locate(program, in: nil)
            let output = try await ToolProcess.run(executable, Array(argv.dropFirst()), in: directory, timeout: timeout)
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
