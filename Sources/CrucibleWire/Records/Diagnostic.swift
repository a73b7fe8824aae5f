import Foundation

/// One finding of a validator rule, with its exact source range (1-based lines and columns).
public struct Diagnostic: Equatable, Sendable {
    public var rule: String
    public var severity: String
    public var message: String
    public var hint: String
    public var path: String
    public var line: Int
    public var column: Int
    public var endLine: Int
    public var endColumn: Int

    package init?(json: JSONValue) {
        guard let rule = json["rule"]?.stringValue, let path = json["path"]?.stringValue,
            let line = json["line"]?.intValue, let column = json["column"]?.intValue
        else { return nil }
        self.rule = rule
        self.severity = json["severity"]?.stringValue ?? "error"
        self.message = json["message"]?.stringValue ?? ""
        self.hint = json["hint"]?.stringValue ?? ""
        self.path = path
        self.line = line
        self.column = column
        self.endLine = json["end_line"]?.intValue ?? line
        self.endColumn = json["end_column"]?.intValue ?? column + 1
    }

    public var json: JSONValue {
        [
            "rule": .string(rule), "severity": .string(severity), "message": .string(message), "hint": .string(hint),
            "path": .string(path), "line": .int(line), "column": .int(column), "end_line": .int(endLine),
            "end_column": .int(endColumn),
        ]
    }
}
