import CrucibleWire
internal import TOMLKit

/// TOML read into the one JSON model. Dates and times become their RFC 3339 text.
enum TOMLDocument {
    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    static func parse(_ text: String, path: String) throws -> JSONValue {
        do {
            return json(try TOMLTable(string: text))
        } catch let error as TOMLParseError {
            let at = error.source.begin
            throw Problem(description: "\(path):\(at.line):\(at.column): not valid TOML: \(error.description)")
        }
    }

    private static func json(_ value: any TOMLValueConvertible) -> JSONValue {
        switch value.type {
        case .table:
            var members: [String: JSONValue] = [:]
            for (key, member) in value.table! { members[key] = json(member) }
            return .object(members)
        case .array: return .array(value.array!.map(json))
        case .string: return .string(value.string!)
        case .int: return .int(value.int!)
        case .double: return .double(value.double!)
        case .bool: return .bool(value.bool!)
        case .date, .time, .dateTime: return .string(value.debugDescription)
        }
    }
}
