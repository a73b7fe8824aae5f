import CrucibleWire
import Foundation

/// Checks JSON values against the JSON Schema subset tool contracts use.
///
/// Supported keywords: `type` (a name or a list), `properties`, `required`,
/// `additionalProperties` (bool or schema), `items`, `enum`, `const`, `minimum`,
/// `maximum`, `minLength`, `maxLength`, `minItems`, `maxItems`, `anyOf`, `oneOf`,
/// plus the annotations `title`, `description`, `default`, `examples`, `format`, `$schema`.
/// A contract using any other keyword is refused when the tool is registered
/// (`JSONSchema.unsupportedKeywords`), so no rule is silently ignored.
public enum JSONSchema {
    /// One way a value breaks its schema; `path` is where (`$.files[2].line`).
    public struct Violation: Equatable, Sendable, CustomStringConvertible {
        public var path: String
        public var message: String
        public var description: String { "\(path): \(message)" }
    }

    static let validationKeywords: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "enum", "const", "minimum", "maximum",
        "minLength", "maxLength", "minItems", "maxItems", "anyOf", "oneOf",
    ]
    static let annotationKeywords: Set<String> = [
        "title", "description", "default", "examples", "format", "$schema", "$comment", "deprecated", "readOnly",
    ]

    /// Keywords in `schema` (at any depth) that this validator does not enforce, with their paths.
    public static func unsupportedKeywords(in schema: JSONValue, path: String = "#") -> [String] {
        guard case .object(let members) = schema else {
            if case .bool = schema { return [] }
            return ["\(path) (a schema must be an object or a boolean)"]
        }
        var found: [String] = []
        for (key, value) in members.sorted(by: { $0.key < $1.key }) {
            if !validationKeywords.contains(key) && !annotationKeywords.contains(key) {
                found.append("\(path)/\(key)")
                continue
            }
            switch key {
            case "properties":
                if case .object(let properties) = value {
                    for (name, sub) in properties.sorted(by: { $0.key < $1.key }) {
                        found += unsupportedKeywords(in: sub, path: "\(path)/properties/\(name)")
                    }
                }
            case "items", "additionalProperties":
                if case .object = value { found += unsupportedKeywords(in: value, path: "\(path)/\(key)") }
            case "anyOf", "oneOf":
                if case .array(let options) = value {
                    for (index, option) in options.enumerated() {
                        found += unsupportedKeywords(in: option, path: "\(path)/\(key)/\(index)")
                    }
                }
            default: break
            }
        }
        return found
    }

    /// Every violation of `schema` by `value` (empty when it conforms). Stops after `limit`.
    public static func violations(of value: JSONValue, against schema: JSONValue, path: String = "$", limit: Int = 20)
        -> [Violation]
    {
        var found: [Violation] = []
        check(value, schema, path, &found, limit)
        return found
    }

    private static func check(_ value: JSONValue, _ schema: JSONValue, _ path: String, _ found: inout [Violation], _ limit: Int) {
        if found.count >= limit { return }
        guard case .object(let rules) = schema else {
            if case .bool(false) = schema { found.append(Violation(path: path, message: "no value is allowed here")) }
            return
        }
        if let type = rules["type"] {
            let allowed: [String]
            switch type {
            case .string(let name): allowed = [name]
            case .array(let names): allowed = names.compactMap { if case .string(let n) = $0 { n } else { nil } }
            default: allowed = []
            }
            if !allowed.isEmpty && !allowed.contains(where: { matches(value, type: $0) }) {
                found.append(Violation(
                    path: path, message: "expected \(allowed.joined(separator: " or ")), got \(value.typeName)"))
                return
            }
        }
        if case .array(let options)? = rules["enum"], !options.contains(where: { equal($0, value) }) {
            let listed = options.prefix(10).map(\.jsonText).joined(separator: ", ")
            found.append(Violation(path: path, message: "\(value.jsonText.prefix(80)) is not one of \(listed)"))
        }
        if let constant = rules["const"], !equal(constant, value) {
            found.append(Violation(path: path, message: "expected the constant \(constant.jsonText.prefix(80))"))
        }
        switch value {
        case .int, .double:
            let number = value.numberValue!
            if let minimum = rules["minimum"]?.numberValue, number < minimum {
                found.append(Violation(path: path, message: "\(value.jsonText) is below the minimum \(minimum.compact)"))
            }
            if let maximum = rules["maximum"]?.numberValue, number > maximum {
                found.append(Violation(path: path, message: "\(value.jsonText) is above the maximum \(maximum.compact)"))
            }
        case .string(let text):
            let length = text.unicodeScalars.count
            if let minimum = rules["minLength"]?.intValue, length < minimum {
                found.append(Violation(path: path, message: "shorter than \(minimum) characters"))
            }
            if let maximum = rules["maxLength"]?.intValue, length > maximum {
                found.append(Violation(path: path, message: "longer than \(maximum) characters"))
            }
        case .array(let items):
            if let minimum = rules["minItems"]?.intValue, items.count < minimum {
                found.append(Violation(path: path, message: "fewer than \(minimum) items"))
            }
            if let maximum = rules["maxItems"]?.intValue, items.count > maximum {
                found.append(Violation(path: path, message: "more than \(maximum) items"))
            }
            if let itemSchema = rules["items"] {
                for (index, item) in items.enumerated() {
                    check(item, itemSchema, "\(path)[\(index)]", &found, limit)
                }
            }
        case .object(let members):
            if case .array(let required)? = rules["required"] {
                for case .string(let name) in required where members[name] == nil {
                    found.append(Violation(path: path, message: "the required field \"\(name)\" is missing"))
                }
            }
            let properties: [String: JSONValue]
            if case .object(let declared)? = rules["properties"] { properties = declared } else { properties = [:] }
            for key in members.keys.sorted() {
                let member = members[key]!
                let memberPath = path + fieldSuffix(key)
                if let propertySchema = properties[key] {
                    check(member, propertySchema, memberPath, &found, limit)
                } else if let additional = rules["additionalProperties"] {
                    if case .bool(false) = additional {
                        found.append(Violation(path: memberPath, message: "this field is not declared"))
                    } else {
                        check(member, additional, memberPath, &found, limit)
                    }
                }
            }
        default: break
        }
        if case .array(let options)? = rules["anyOf"] {
            if !options.contains(where: { violations(of: value, against: $0, path: path, limit: 1).isEmpty }) {
                found.append(Violation(path: path, message: "matches none of the \(options.count) allowed shapes (anyOf)"))
            }
        }
        if case .array(let options)? = rules["oneOf"] {
            let matching = options.filter { violations(of: value, against: $0, path: path, limit: 1).isEmpty }.count
            if matching != 1 {
                found.append(Violation(path: path, message: "matches \(matching) of the oneOf shapes, expected exactly 1"))
            }
        }
    }

    static func fieldSuffix(_ key: String) -> String {
        let simple = !key.isEmpty && key.unicodeScalars.allSatisfy { $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0) }
        return simple ? ".\(key)" : "[\(JSONValue.string(key).jsonText)]"
    }

    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object),
            ("integer", .int), ("number", .int), ("number", .double), ("integer", .bigInteger), ("number", .bigInteger):
            return true
        case ("integer", .double(let number)):
            return number.rounded() == number && abs(number) < 9.0e15
        default:
            return false
        }
    }

    /// JSON equality, where 1 and 1.0 are the same number.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let x = a.numberValue, let y = b.numberValue { return x == y }
        return a == b
    }
}

extension Double {
    var compact: String { rounded() == self && abs(self) < 1e15 ? String(Int(self)) : String(self) }
}
