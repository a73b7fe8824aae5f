import Foundation

/// A JSON value: the inputs bound as Python variables, and the decoded value of an execution.
public enum JSONValue: Equatable, Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    /// An integer beyond `Int`'s range, as its decimal digits: kept exact, since Python's
    /// `int` is (an input of 2**70 arrives as 2**70, not as a float).
    case bigInteger(String)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Text that is not JSON: what was wrong, where, and how the text began.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Parses JSON text; throws `ParseError` naming what was wrong and where.
    public init(parsing text: String) throws {
        var text = text
        self = try text.withUTF8 { bytes in
            do { return try JSONParser.parse(bytes) } catch let failure as JSONParser.Failure {
                throw ParseError(description: "invalid JSON: \(String(decoding: bytes.prefix(80), as: UTF8.self)): \(failure)")
            }
        }
    }

    /// Parses UTF-8 JSON bytes (a frame from a worker, a protocol line) without making a
    /// String of them first.
    public init(parsing bytes: ArraySlice<UInt8>) throws {
        self = try bytes.withUnsafeBufferPointer { buffer in
            do { return try JSONParser.parse(buffer) } catch let failure as JSONParser.Failure {
                throw ParseError(description: "invalid JSON: \(String(decoding: buffer.prefix(80), as: UTF8.self)): \(failure)")
            }
        }
    }

    init(foundation object: Any) {
        switch object {
        case let number as NSNumber:
            let kind = String(cString: number.objCType)
            if kind == "c" || kind == "B" { self = .bool(number.boolValue) }
            else if !["d", "f"].contains(String(cString: number.objCType)), let exact = Int(exactly: number) {
                self = .int(exact)
            } else { self = .double(number.doubleValue) }
        case let string as String: self = .string(string)
        case let array as [Any]: self = .array(array.map(JSONValue.init(foundation:)))
        case let dictionary as [String: Any]: self = .object(dictionary.mapValues(JSONValue.init(foundation:)))
        default: self = .null
        }
    }

    /// Compact JSON text with object keys sorted, so equal values print equally.
    public var jsonText: String {
        var out: [UInt8] = []
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the JSON text as UTF-8 bytes (bytes, not String appends: this encodes whole
    /// source files for every job, and per-character String appends are slow). No array or
    /// string is made per scalar, and an object's members are sorted as pairs, not looked up
    /// again by key: every answer `serve` sends and every corpus record is written here.
    func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .int(let value): JSONValue.appendDecimal(value, to: &out)
        case .bigInteger(let digits): out.append(contentsOf: digits.utf8)
        case .double(let value): out.append(contentsOf: (value.isFinite ? value.description : "null").utf8)
        case .string(let value): JSONValue.quote(value, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            // The members' positions sorted by key, in a buffer on the stack: sorting the
            // (key, value) pairs themselves made an array and retained every key and value.
            withUnsafeTemporaryAllocation(of: Dictionary<String, JSONValue>.Index.self, capacity: members.count) { order in
                var count = 0
                var index = members.startIndex
                while index != members.endIndex {
                    // Insertion sort: objects here have tens of members, not thousands.
                    var position = count
                    let key = members[index].key
                    while position > 0 && key < members[order[position - 1]].key {
                        order[position] = order[position - 1]
                        position -= 1
                    }
                    order[position] = index
                    count += 1
                    index = members.index(after: index)
                }
                for position in 0..<count {
                    if position > 0 { out.append(UInt8(ascii: ",")) }
                    let member = members[order[position]]
                    JSONValue.quote(member.key, into: &out)
                    out.append(UInt8(ascii: ":"))
                    member.value.write(to: &out)
                }
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Appends `value` in decimal, as `String(value)` spells it.
    static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        // The magnitude as unsigned: Int.min has no positive Int.
        var rest = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 20 digits at most, in 24 bytes
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[23 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            out.append(contentsOf: buffer[(24 - count)...])
        }
    }

    /// Appends `text` as a JSON string literal, in UTF-8.
    static func quote(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            out.reserveCapacity(out.count + bytes.count + 2)
            var runStart = 0
            for index in 0..<bytes.count {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                runStart = index + 1
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
                case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
                case UInt8(ascii: "\n"): out.append(contentsOf: "\\n".utf8)
                case UInt8(ascii: "\r"): out.append(contentsOf: "\\r".utf8)
                case UInt8(ascii: "\t"): out.append(contentsOf: "\\t".utf8)
                default:
                    func hex(_ nibble: UInt8) -> UInt8 { nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10 }
                    out.append(contentsOf: "\\u00".utf8)
                    out.append(hex(byte >> 4))
                    out.append(hex(byte & 0xf))
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}

/// Reading a value: nil when it is not of the kind asked for.
extension JSONValue {
    public var numberValue: Double? {
        switch self {
        case .int(let value): Double(value)
        case .bigInteger(let digits): Double(digits)
        case .double(let value): value
        default: nil
        }
    }

    public var intValue: Int? {
        switch self {
        case .int(let value): value
        case .double(let value) where value.rounded() == value: Int(exactly: value)
        default: nil
        }
    }

    /// The member `key` of an object, or nil.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// JSON Schema's name for the kind of value: "integer", "number", "string", ….
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int, .bigInteger: "integer"
        case .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}
