import CrucibleWire
import Foundation

/// What a tool promises: its name, what it does, and JSON Schemas for its arguments and
/// its result. The same shape as an MCP tool definition (`name`, `description`,
/// `inputSchema`, `outputSchema`), so an MCP tool becomes a Crucible tool and back.
public struct ToolContract: Equatable, Sendable {
    public var name: String
    public var description: String
    /// An object schema: each property is one keyword parameter of the Python function.
    public var inputSchema: JSONValue
    /// The result's schema; nil means the result is unchecked and returned as plain JSON.
    public var outputSchema: JSONValue?

    /// Checks the contract: a Python identifier for a name, an object input schema, and only
    /// schema keywords the validator enforces.
    public init(name: String, description: String, inputSchema: JSONValue, outputSchema: JSONValue? = nil) throws {
        self.name = name
        self.description = description
        self.inputSchema = inputSchema
        self.outputSchema = outputSchema
        try validate()
    }

    /// From an MCP tool definition (the JSON `tools/list` returns, one element).
    public init(mcpDefinition json: JSONValue) throws {
        guard let name = json["name"]?.stringValue else {
            throw ToolContractProblem("a tool definition needs a string \"name\"")
        }
        try self.init(
            name: name, description: json["description"]?.stringValue ?? "",
            inputSchema: json["inputSchema"] ?? .object(["type": .string("object")]),
            outputSchema: json["outputSchema"])
    }

    /// As an MCP tool definition.
    public var mcpDefinition: JSONValue {
        var object: [String: JSONValue] = [
            "name": .string(name), "description": .string(description), "inputSchema": inputSchema,
        ]
        if let outputSchema { object["outputSchema"] = outputSchema }
        return .object(object)
    }

    /// Parameters in call order: required ones first (in `required` order), then the optional
    /// ones by name, so the Python signature is the same on every run.
    public var parameters: [(name: String, schema: JSONValue, required: Bool)] {
        let properties: [String: JSONValue]
        if case .object(let declared)? = inputSchema["properties"] { properties = declared } else { properties = [:] }
        let required = (inputSchema["required"]?.arrayValue ?? []).compactMap(\.stringValue)
        var ordered: [(String, JSONValue, Bool)] = required.compactMap { name in properties[name].map { (name, $0, true) } }
        for name in properties.keys.sorted() where !required.contains(name) {
            ordered.append((name, properties[name]!, false))
        }
        return ordered
    }

    private func validate() throws {
        guard PythonNames.isIdentifier(name) else {
            throw ToolContractProblem("tool name \(name.debugDescription) is not a Python identifier")
        }
        guard inputSchema["type"]?.stringValue == "object" else {
            throw ToolContractProblem("\(name): inputSchema must have \"type\": \"object\"")
        }
        for parameter in parameters where !PythonNames.isIdentifier(parameter.name) {
            throw ToolContractProblem("\(name): parameter \(parameter.name.debugDescription) is not a Python identifier")
        }
        let required = (inputSchema["required"]?.arrayValue ?? []).compactMap(\.stringValue)
        let declared = Set(parameters.map(\.name))
        for name in required where !declared.contains(name) {
            throw ToolContractProblem("\(self.name): required parameter \"\(name)\" is not in properties")
        }
        var unsupported = JSONSchema.unsupportedKeywords(in: inputSchema, path: "inputSchema")
        if let outputSchema { unsupported += JSONSchema.unsupportedKeywords(in: outputSchema, path: "outputSchema") }
        if !unsupported.isEmpty {
            throw ToolContractProblem(
                "\(name): schema keywords Crucible does not enforce: \(unsupported.joined(separator: ", ")); "
                    + "remove them or express the rule with the supported keywords (see JSONSchema)")
        }
    }
}

/// A contract that cannot be used, and why.
public struct ToolContractProblem: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
