import CrucibleWire
/// Small builders that keep the standard tools' schemas readable.
enum Schema {
    static let string: JSONValue = ["type": "string"]
    static let integer: JSONValue = ["type": "integer"]
    static let number: JSONValue = ["type": "number"]
    static let boolean: JSONValue = ["type": "boolean"]
    static let optionalString: JSONValue = ["type": ["string", "null"]]
    /// The `paths` parameter of the tools that take files or folders (default: the whole workspace).
    static let paths: JSONValue = [
        "type": "array", "items": ["type": "string"], "default": ["."],
        "description": "Files or folders relative to the workspace root.",
    ]

    static func string(_ description: String) -> JSONValue { ["type": "string", "description": .string(description)] }
    static func integer(_ description: String) -> JSONValue { ["type": "integer", "description": .string(description)] }
    static func boolean(_ description: String) -> JSONValue { ["type": "boolean", "description": .string(description)] }

    static func array(_ items: JSONValue, _ description: String? = nil) -> JSONValue {
        var schema: [String: JSONValue] = ["type": "array", "items": items]
        if let description { schema["description"] = .string(description) }
        return .object(schema)
    }

    /// An object whose listed properties are all required unless named in `optional`.
    static func object(
        _ title: String?, _ properties: [String: JSONValue], optional: Set<String> = [], description: String? = nil
    ) -> JSONValue {
        var schema: [String: JSONValue] = [
            "type": "object", "properties": .object(properties),
            "required": .array(properties.keys.sorted().filter { !optional.contains($0) }.map { .string($0) }),
            "additionalProperties": false,
        ]
        if let title { schema["title"] = .string(title) }
        if let description { schema["description"] = .string(description) }
        return .object(schema)
    }

    /// An input schema: properties with defaults are optional.
    static func input(_ properties: [String: JSONValue], required: [String] = []) -> JSONValue {
        [
            "type": "object", "properties": .object(properties), "required": .array(required.map { .string($0) }),
            "additionalProperties": false,
        ]
    }
}
