/// `Codable` records to and from `JSONValue`, the one JSON model: a record is encoded where it
/// leaves (a protocol reply, a corpus row) and decoded where it enters, and the text is read and
/// written by `JSONParser` and `JSONValue.write`, never by a second JSON library.
public struct JSONValueEncoder: Sendable {
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        if let json = value as? JSONValue { return json }
        let node = EncodingNode()
        try value.encode(to: ValueEncoder(node: node, codingPath: []))
        return node.resolved
    }
}

public struct JSONValueDecoder: Sendable {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        if let json = value as? T, type == JSONValue.self { return json }
        return try T(from: ValueDecoder(value: value, codingPath: []))
    }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        if let direct = decoder as? ValueDecoder {
            self = direct.value
            return
        }
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let bool = try? container.decode(Bool.self) { self = .bool(bool) }
        else if let int = try? container.decode(Int.self) { self = .int(int) }
        else if let double = try? container.decode(Double.self) { self = .double(double) }
        else if let string = try? container.decode(String.self) { self = .string(string) }
        else if let array = try? container.decode([JSONValue].self) { self = .array(array) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        if let direct = encoder as? ValueEncoder {
            direct.node.kind = .single(self)
            return
        }
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .bigInteger(let digits): try container.encode(Double(digits) ?? 0)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let items): try container.encode(items)
        case .object(let members): try container.encode(members)
        }
    }
}

// MARK: - Encoding

/// What one encoded value is becoming; containers fill it in, `resolved` reads it out.
final class EncodingNode {
    enum Kind {
        case empty
        case single(JSONValue)
        case keyed([String: EncodingNode])
        case unkeyed([EncodingNode])
    }
    var kind: Kind = .empty

    var resolved: JSONValue {
        switch kind {
        case .empty: return .object([:])
        case .single(let value): return value
        case .keyed(let members): return .object(members.mapValues(\.resolved))
        case .unkeyed(let items): return .array(items.map(\.resolved))
        }
    }

    func child(forKey key: String) -> EncodingNode {
        var members: [String: EncodingNode] = [:]
        if case .keyed(let existing) = kind { members = existing }
        let node = members[key] ?? EncodingNode()
        members[key] = node
        kind = .keyed(members)
        return node
    }

    func appended() -> EncodingNode {
        var items: [EncodingNode] = []
        if case .unkeyed(let existing) = kind { items = existing }
        let node = EncodingNode()
        items.append(node)
        kind = .unkeyed(items)
        return node
    }
}

struct ValueEncoder: Encoder {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .keyed = node.kind {} else { node.kind = .keyed([:]) }
        return KeyedEncodingContainer(KeyedEncoding<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .unkeyed = node.kind {} else { node.kind = .unkeyed([]) }
        return UnkeyedEncoding(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleEncoding(node: node, codingPath: codingPath)
    }
}

/// Encodes `value` into `node`: scalars directly, everything else through its own `encode(to:)`.
private func encodeValue<T: Encodable>(_ value: T, into node: EncodingNode, codingPath: [any CodingKey]) throws {
    switch value {
    case let json as JSONValue: node.kind = .single(json)
    case let string as String: node.kind = .single(.string(string))
    case let bool as Bool: node.kind = .single(.bool(bool))
    case let int as Int: node.kind = .single(.int(int))
    case let double as Double:
        guard double.isFinite else {
            throw EncodingError.invalidValue(double, .init(codingPath: codingPath, debugDescription: "JSON has no \(double)"))
        }
        node.kind = .single(.double(double))
    // The other scalars must be caught here too: their own encode(to:) asks for a single-value
    // container and encodes themselves again, which would never end.
    case let integer as any BinaryInteger: node.kind = .single(Int(exactly: integer).map { .int($0) } ?? .bigInteger(String(integer)))
    case let float as Float: try encodeValue(Double(float), into: node, codingPath: codingPath)
    default: try value.encode(to: ValueEncoder(node: node, codingPath: codingPath))
    }
}

private struct KeyedEncoding<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodingNode
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { node.child(forKey: key.stringValue).kind = .single(.null) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try encodeValue(value, into: node.child(forKey: key.stringValue), codingPath: codingPath + [key])
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        ValueEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        ValueEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
    }
    mutating func superEncoder() -> any Encoder { ValueEncoder(node: node.child(forKey: "super"), codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> any Encoder {
        ValueEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key])
    }
}

private struct UnkeyedEncoding: UnkeyedEncodingContainer {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    var count: Int {
        if case .unkeyed(let items) = node.kind { return items.count }
        return 0
    }

    mutating func encodeNil() throws { node.appended().kind = .single(.null) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try encodeValue(value, into: node.appended(), codingPath: codingPath + [IndexKey(count)])
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        ValueEncoder(node: node.appended(), codingPath: codingPath).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        ValueEncoder(node: node.appended(), codingPath: codingPath).unkeyedContainer()
    }
    mutating func superEncoder() -> any Encoder { ValueEncoder(node: node.appended(), codingPath: codingPath) }
}

private struct SingleEncoding: SingleValueEncodingContainer {
    let node: EncodingNode
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.kind = .single(.null) }
    mutating func encode<T: Encodable>(_ value: T) throws { try encodeValue(value, into: node, codingPath: codingPath) }
}

// MARK: - Decoding

struct ValueDecoder: Decoder {
    package let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw mismatch(of: [String: JSONValue].self) }
        return KeyedDecodingContainer(KeyedDecoding<Key>(members: members, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw mismatch(of: [JSONValue].self) }
        return UnkeyedDecoding(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleDecoding(value: value, codingPath: codingPath) }

    func mismatch(of type: Any.Type) -> DecodingError {
        .typeMismatch(type, .init(codingPath: codingPath, debugDescription: "found \(value.typeName)"))
    }
}

/// Decodes a `T` from `value`: scalars directly (with JSON's number rules), the rest through `init(from:)`.
private func decodeValue<T: Decodable>(_ type: T.Type, from value: JSONValue, codingPath: [any CodingKey]) throws -> T {
    let decoder = ValueDecoder(value: value, codingPath: codingPath)
    switch type {
    case is JSONValue.Type: return value as! T
    case is String.Type:
        guard case .string(let string) = value else { throw decoder.mismatch(of: type) }
        return string as! T
    case is Bool.Type:
        guard case .bool(let bool) = value else { throw decoder.mismatch(of: type) }
        return bool as! T
    case is Int.Type:
        guard let int = value.intValue else { throw decoder.mismatch(of: type) }
        return int as! T
    case is Double.Type:
        guard let double = value.numberValue else { throw decoder.mismatch(of: type) }
        return double as! T
    case is Float.Type:
        guard let double = value.numberValue else { throw decoder.mismatch(of: type) }
        return Float(double) as! T
    // Other integer widths: read exactly (a value out of the type's range is a mismatch), never
    // through their own init(from:), which would ask this decoder again without end.
    case let integerType as any FixedWidthInteger.Type:
        guard let integer = exactInteger(integerType, from: value) else { throw decoder.mismatch(of: type) }
        return integer as! T
    default: return try T(from: decoder)
    }
}

private func exactInteger<I: FixedWidthInteger>(_ type: I.Type, from value: JSONValue) -> I? {
    switch value {
    case .int(let int): return I(exactly: int)
    case .bigInteger(let digits): return I(digits)
    default: return nil
    }
}

private struct KeyedDecoding<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [String: JSONValue]
    let codingPath: [any CodingKey]
    var allKeys: [Key] { members.keys.compactMap(Key.init(stringValue:)) }

    func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }
    func decodeNil(forKey key: Key) throws -> Bool { (members[key.stringValue] ?? .null) == .null }

    package func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        guard let value = members[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no \"\(key.stringValue)\""))
        }
        return try decodeValue(type, from: value, codingPath: codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try ValueDecoder(value: members[key.stringValue] ?? .null, codingPath: codingPath + [key]).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try ValueDecoder(value: members[key.stringValue] ?? .null, codingPath: codingPath + [key]).unkeyedContainer()
    }
    func superDecoder() throws -> any Decoder { ValueDecoder(value: members["super"] ?? .null, codingPath: codingPath) }
    func superDecoder(forKey key: Key) throws -> any Decoder {
        ValueDecoder(value: members[key.stringValue] ?? .null, codingPath: codingPath + [key])
    }
}

private struct UnkeyedDecoding: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private func next() throws -> JSONValue {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(JSONValue.self, .init(codingPath: codingPath, debugDescription: "the list ended"))
        }
        return items[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        guard try next() == .null else { return false }
        currentIndex += 1
        return true
    }

    package mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let value = try decodeValue(type, from: try next(), codingPath: codingPath + [IndexKey(currentIndex)])
        currentIndex += 1
        return value
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let container = try ValueDecoder(value: try next(), codingPath: codingPath).container(keyedBy: type)
        currentIndex += 1
        return container
    }
    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let container = try ValueDecoder(value: try next(), codingPath: codingPath).unkeyedContainer()
        currentIndex += 1
        return container
    }
    mutating func superDecoder() throws -> any Decoder {
        let decoder = ValueDecoder(value: try next(), codingPath: codingPath)
        currentIndex += 1
        return decoder
    }
}

private struct SingleDecoding: SingleValueDecodingContainer {
    package let value: JSONValue
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { value == .null }
    package func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeValue(type, from: value, codingPath: codingPath) }
}

private struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "\(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.intValue = intValue }
}
