import CrucibleWire
import Foundation

/// typecheck: the real ty, its GitLab-format JSON parsed into `TypeCheckResult`. ty reads
/// code and never runs it, so it runs as a host process with a scrubbed environment.
enum TypecheckTool {
    static func make(_ workspace: Workspace, toolsDirectory: String?) throws -> Tool {
        let contract = try ToolContract(
            name: "typecheck", description: "Type-check Python files with ty.",
            inputSchema: Schema.input([
                "paths": Schema.paths,
            ]),
            outputSchema: Schema.object("TypeCheckResult", [
                "success": Schema.boolean("True when ty ran and reported no errors."),
                "error_count": Schema.integer, "warning_count": Schema.integer,
                "errors": Schema.array(Schema.object("TypeCheckDiagnostic", [
                    "file": Schema.string, "line": Schema.integer, "column": Schema.integer,
                    "severity": ["type": "string", "enum": ["error", "warning"]], "code": Schema.string,
                    "message": Schema.string,
                ]), "Every diagnostic, errors and warnings."),
                "parse_error": Schema.optionalString,
            ]))
        return FileReadingProgram.tool(
            contract, program: "ty", arguments: ["check", "--output-format", "gitlab", "--no-progress", "--color", "never"],
            workspace: workspace, toolsDirectory: toolsDirectory, parse: parse)
    }

    static func parse(_ output: ToolProcess.Output) -> JSONValue {
        guard output.status == 0 || output.status == 1, let items = (try? JSONValue(parsing: output.stdout))?.arrayValue
        else {
            let detail = output.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            return [
                "success": false, "error_count": 0, "warning_count": 0, "errors": [],
                "parse_error": .string("ty did not report diagnostics (exit \(output.status)): \(detail.prefix(500))"),
            ]
        }
        let diagnostics: [JSONValue] = items.map { item in
            let code = item["check_name"]?.stringValue ?? "?"
            var message = item["description"]?.stringValue ?? ""
            if message.hasPrefix(code + ": ") { message = String(message.dropFirst(code.count + 2)) }
            let severity = ["info", "minor"].contains(item["severity"]?.stringValue ?? "") ? "warning" : "error"
            let begin = item["location"]?["positions"]?["begin"]
            return [
                "file": item["location"]?["path"] ?? "?", "line": begin?["line"] ?? 0, "column": begin?["column"] ?? 0,
                "severity": .string(severity), "code": .string(code), "message": .string(message),
            ]
        }
        let errors = diagnostics.filter { $0["severity"] == "error" }.count
        return [
            "success": .bool(errors == 0), "error_count": .int(errors),
            "warning_count": .int(diagnostics.count - errors), "errors": .array(diagnostics), "parse_error": nil,
        ]
    }
}
