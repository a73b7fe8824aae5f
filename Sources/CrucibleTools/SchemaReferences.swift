import CrucibleWire
import Foundation

/// Schemas from other tools (MCP servers written with pydantic, zod, …) put nested types in
/// `$defs` and point at them with `$ref`. Crucible's validator has no `$ref`, so the local
/// references are inlined: the same rules, written out where they apply.
public enum SchemaReferences {
    /// `schema` with every `#/$defs/NAME` and `#/definitions/NAME` reference replaced by its
    /// definition, and the definitions removed. A recursive type cannot be written out: its
    /// `$ref` is left in place (and the contract is refused, naming it).
    public static func inline(_ schema: JSONValue) -> JSONValue {
        guard case .object(var root) = schema else { return schema }
        var definitions: [String: JSONValue] = [:]
        for key in ["$defs", "definitions"] {
            if case .object(let members)? = root[key] {
                for (name, definition) in members { definitions["#/\(key)/\(name)"] = definition }
            }
        }
        guard !definitions.isEmpty else { return schema }
        root["$defs"] = nil
        root["definitions"] = nil
        return resolve(.object(root), definitions, expanding: [])
    }

    private static func resolve(_ value: JSONValue, _ definitions: [String: JSONValue], expanding: Set<String>) -> JSONValue {
        switch value {
        case .object(var members):
            if let reference = members["$ref"]?.stringValue, let target = definitions[reference],
               !expanding.contains(reference)
            {
                members["$ref"] = nil
                // Keywords beside the $ref (a description, a default) stay; the definition fills the rest.
                guard case .object(let defined) = resolve(target, definitions, expanding: expanding.union([reference])) else {
                    return value
                }
                for (key, rule) in defined where members[key] == nil { members[key] = rule }
                return .object(members)
            }
            return .object(members.mapValues { resolve($0, definitions, expanding: expanding) })
        case .array(let items):
            return .array(items.map { resolve($0, definitions, expanding: expanding) })
        default:
            return value
        }
    }
}
