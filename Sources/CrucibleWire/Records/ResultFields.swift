/// What a tool's results held, field by field: how often each field path occurred and how
/// often it was null. A field the output schema declares but the result left out counts as
/// null: that is the `git_log` bug (a contract that promises `author` and `date`, a tool that
/// never fills them), which only shows over many calls.
public struct FieldTally: Equatable, Sendable {
    public var occurrences = 0
    public var nulls = 0

    public init(occurrences: Int = 0, nulls: Int = 0) {
        self.occurrences = occurrences
        self.nulls = nulls
    }

    /// Paths kept per result, and values visited: a huge result is tallied in part, not slowly.
    static let maxPaths = 256
    static let maxVisits = 20_000

    /// Field paths as the worker names reads (`commits[].author`, `[].id` for a list result).
    public static func tally(_ value: JSONValue, schema: JSONValue?) -> [String: FieldTally] {
        var tallies: [String: FieldTally] = [:]
        var visits = 0
        func walk(_ value: JSONValue, _ schema: JSONValue?, _ path: String, depth: Int) {
            visits += 1
            guard visits <= maxVisits, depth < 32 else { return }
            switch value {
            case .object(let members):
                var names = Array(members.keys)
                if case .object(let declared)? = schema?["properties"] {
                    names += declared.keys.filter { members[$0] == nil }
                }
                for name in names {
                    let child = path.isEmpty ? name : path + "." + name
                    guard tallies[child] != nil || tallies.count < maxPaths else { continue }
                    let member = members[name] ?? .null
                    tallies[child, default: FieldTally()].occurrences += 1
                    if member == .null { tallies[child]!.nulls += 1 }
                    walk(member, schema?["properties"]?[name], child, depth: depth + 1)
                }
            case .array(let items):
                for item in items { walk(item, schema?["items"], path + "[]", depth: depth + 1) }
            default:
                return
            }
        }
        walk(value, schema, "", depth: 0)
        return tallies
    }
}

/// A value that went from one tool call's result into a later call's arguments, as the very
/// object (reported by the worker, checked by the host against what it sent and received).
public struct DataFlow: Equatable, Sendable, Encodable {
    public var fromCall: Int
    public var fromTool: String
    /// The result field (`user.email`, list indexes folded to `[]`).
    public var fromPath: String
    public var toCall: Int
    public var toTool: String
    /// The argument path (`email`, `filters.owner`).
    public var argument: String

    public init(fromCall: Int, fromTool: String, fromPath: String, toCall: Int, toTool: String, argument: String) {
        self.fromCall = fromCall
        self.fromTool = fromTool
        self.fromPath = fromPath
        self.toCall = toCall
        self.toTool = toTool
        self.argument = argument
    }

    enum CodingKeys: String, CodingKey {
        case fromCall = "from_call", fromTool = "from_tool", fromPath = "from_path"
        case toCall = "to_call", toTool = "to_tool", argument
    }
}

extension JSONValue {
    /// The values at a path whose list indexes are folded to `[]` (every item's), at most `limit`.
    public func values(atFoldedPath path: String, limit: Int = 10_000) -> [JSONValue] {
        var current: [JSONValue] = [self]
        var rest = Substring(path)
        while !rest.isEmpty && !current.isEmpty {
            if rest.hasPrefix("[]") {
                current = current.flatMap { $0.arrayValue ?? [] }
                rest = rest.dropFirst(2)
            } else {
                if rest.hasPrefix(".") { rest = rest.dropFirst() }
                let end = rest.firstIndex { $0 == "." || $0 == "[" } ?? rest.endIndex
                let name = String(rest[..<end])
                current = current.compactMap { $0[name] }
                rest = rest[end...]
            }
            if current.count > limit { current = Array(current.prefix(limit)) }
        }
        return current
    }
}
