import CrucibleWire
import Foundation

/// ruff_check: the real ruff, its JSON output parsed into `RuffResult`. ruff reads code and
/// never runs it, so it runs as a host process (scrubbed environment, no cache writes).
enum RuffTool {
    static func make(_ workspace: Workspace, toolsDirectory: String?) throws -> Tool {
        let contract = try ToolContract(
            name: "ruff_check", description: "Lint Python files with ruff (the workspace's ruff configuration applies).",
            inputSchema: Schema.input([
                "paths": Schema.paths,
            ]),
            outputSchema: Schema.object("RuffResult", [
                "success": Schema.boolean("True when ruff ran and found nothing."),
                "violation_count": Schema.integer, "fixable_count": Schema.integer,
                "violations": Schema.array(Schema.object("RuffViolation", [
                    "file": Schema.string, "line": Schema.integer, "column": Schema.integer,
                    "end_line": Schema.integer, "end_column": Schema.integer, "code": Schema.string,
                    "message": Schema.string, "fixable": Schema.boolean, "url": Schema.optionalString,
                ])),
                "parse_error": Schema.optionalString,
            ]))
        return FileReadingProgram.tool(
            contract, program: "ruff", arguments: ["check", "--output-format", "json", "--no-cache", "--exit-zero"],
            workspace: workspace, toolsDirectory: toolsDirectory) { parse($0, workspace: workspace) }
    }

    static func parse(_ output: ToolProcess.Output, workspace: Workspace) -> JSONValue {
        guard let items = (try? JSONValue(parsing: output.stdout))?.arrayValue else {
            let detail = output.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            return [
                "success": false, "violation_count": 0, "fixable_count": 0, "violations": [],
                "parse_error": .string("ruff did not print JSON (exit \(output.status)): \(detail.prefix(500))"),
            ]
        }
        let violations: [JSONValue] = items.map { item in
            let file = item["filename"]?.stringValue ?? "?"
            return [
                "file": .string(workspace.relativePath(file)), "line": item["location"]?["row"] ?? 0,
                "column": item["location"]?["column"] ?? 0, "end_line": item["end_location"]?["row"] ?? 0,
                "end_column": item["end_location"]?["column"] ?? 0,
                // Syntax errors have no rule code.
                "code": .string(item["code"]?.stringValue ?? "syntax-error"), "message": item["message"] ?? "",
                "fixable": .bool(item["fix"].map { $0 != .null } ?? false), "url": item["url"] ?? nil,
            ]
        }
        return [
            "success": .bool(violations.isEmpty), "violation_count": .int(violations.count),
            "fixable_count": .int(violations.filter { $0["fixable"] == true }.count),
            "violations": .array(violations), "parse_error": nil,
        ]
    }
}
