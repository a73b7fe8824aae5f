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

    public init(rule: String, severity: String = "error", message: String, hint: String = "", path: String, line: Int,
                column: Int, endLine: Int? = nil, endColumn: Int? = nil) {
        self.rule = rule
        self.severity = severity
        self.message = message
        self.hint = hint
        self.path = path
        self.line = line
        self.column = column
        self.endLine = endLine ?? line
        self.endColumn = endColumn ?? column + 1
    }

    /// A finding as the validators' engine and the corpus write it; nil when it is not one.
    package init?(json: JSONValue) {
        guard let decoded = try? JSONValueDecoder().decode(Diagnostic.self, from: json) else { return nil }
        self = decoded
    }

    /// The finding in its JSON shape.
    public var json: JSONValue { (try? JSONValueEncoder().encode(self)) ?? .null }
}

/// Decoding is lenient where a finding from an older writer may lack a field: the severity
/// is "error", the message and hint empty, the range one character.
extension Diagnostic: Codable {
    enum CodingKeys: String, CodingKey {
        case rule, severity, message, hint, path, line, column, endLine = "end_line", endColumn = "end_column"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let line = try container.decode(Int.self, forKey: .line)
        let column = try container.decode(Int.self, forKey: .column)
        self.init(
            rule: try container.decode(String.self, forKey: .rule),
            severity: try container.decodeIfPresent(String.self, forKey: .severity) ?? "error",
            message: try container.decodeIfPresent(String.self, forKey: .message) ?? "",
            hint: try container.decodeIfPresent(String.self, forKey: .hint) ?? "",
            path: try container.decode(String.self, forKey: .path), line: line, column: column,
            endLine: try container.decodeIfPresent(Int.self, forKey: .endLine),
            endColumn: try container.decodeIfPresent(Int.self, forKey: .endColumn))
    }
}
