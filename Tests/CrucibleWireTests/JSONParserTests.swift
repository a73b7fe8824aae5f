import Crucible
@testable import CrucibleWire
import CrucibleTesting
import Foundation
import Testing

/// The JSON parser every tool call and result goes through: the same values as Foundation's
/// JSONSerialization on valid input, errors (never crashes) on invalid or hostile input.
/// Where they differ, Foundation (on Linux) is the lenient or lossy one: it accepts trailing
/// commas, and reads a negative integer of 19 digits as a Decimal (so a Double, rounded);
/// those cases are tested on their own.
@Suite("JSON parser")
struct JSONParserTests {
    static func foundation(_ text: String) throws -> JSONValue {
        JSONValue(foundation: try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]))
    }

    static let valid = [
        #"{"name":"get_user","arguments":{"user_id":1}}"#, "[]", "{}", " [ 1 , 2 ] ", "true", "false", "null", "0", "-12",
        "3.25", "1e3", "-1.5E-2", "2.0", "9223372036854775807", "-123456789012345678",
        #""plain""#, #""quote \" backslash \\ slash \/ controls \b\f\n\r\t""#, #""\u00e9\u4e2d\ud83d\ude00""#,
        #""é中😀 raw UTF-8""#, #"{"a":[{"b":null},[true,false]],"c":"d","e":-0.5}"#,
        #"{"dup":1,"dup":2}"#, "\n\t {\"x\" :\r\n [ ] } \n",
    ]

    @Test(arguments: valid)
    func validDocumentsParseAsFoundationParsesThem(_ text: String) throws {
        #expect(try JSONValue(parsing: text) == Self.foundation(text))
    }

    static let invalid = [
        "", " ", "[", "]", "{", #"{"a"}"#, #"{"a":}"#, #"{a:1}"#, "[1,]", "[1 2]", #"{"a":1,}"#, "01", "+1", ".5", "1.",
        "1e", "1e+", "-", "tru", "nul", "NaN", "Infinity", #""unterminated"#, #""bad \x escape""#, #""\u12""#,
        "\"tab\tinside\"", "[1] 2", "{}}", #"{"a":1}x"#,
    ]

    @Test(arguments: invalid)
    func invalidDocumentsAreRefused(_ text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue(parsing: text) }
        if !["[1,]", #"{"a":1,}"#].contains(text) {  // Foundation on Linux takes trailing commas
            #expect(throws: (any Error).self) { try Self.foundation(text) }
        }
    }

    @Test func errorsSayWhere() {
        #expect {
            try JSONValue(parsing: #"{"a": [1, 2,, 3]}"#)
        } throws: { error in
            "\(error)".contains("unexpected character at byte 12")
        }
    }

    @Test func numbersKeepTheirKind() throws {
        #expect(try JSONValue(parsing: "9223372036854775807") == .int(Int.max))
        #expect(try JSONValue(parsing: "-9223372036854775808") == .int(Int.min))
        #expect(try JSONValue(parsing: "-1234567890123456789") == .int(-1234567890123456789))  // exact, unlike Foundation
        // Integers past Int keep their digits (Python's int is exact at any size).
        #expect(try JSONValue(parsing: "9223372036854775808") == .bigInteger("9223372036854775808"))
        #expect(try JSONValue(parsing: "-9223372036854775809").jsonText == "-9223372036854775809")
        #expect(try JSONValue(parsing: "0.1") == .double(0.1))
        #expect(try JSONValue(parsing: "123456789012345678901234567890").jsonText == "123456789012345678901234567890")
        #expect(try JSONValue(parsing: "1e400") == .double(.infinity))
        #expect(try JSONValue(parsing: "-0") == .int(0))
        #expect(try JSONValue(parsing: "1E2") == .double(100))
    }

    @Test func surrogatesAndBrokenUTF8BecomeReplacementCharacters() throws {
        #expect(try JSONValue(parsing: #""\ud83d\ude00""#) == .string("😀"))
        #expect(try JSONValue(parsing: #""a\ud800b""#) == .string("a\u{FFFD}b"))
        #expect(try JSONValue(parsing: #""\udc00\ud800\u0041""#) == .string("\u{FFFD}\u{FFFD}A"))
        // A lone surrogate the worker wrote raw (Python's "surrogatepass"): three bytes that are not UTF-8.
        let bytes: [UInt8] = Array("\"x".utf8) + [0xED, 0xA0, 0x80] + Array("y\"".utf8)
        let parsed = try JSONValue(parsing: bytes[...])
        #expect(parsed.stringValue?.hasPrefix("x\u{FFFD}") == true && parsed.stringValue?.hasSuffix("y") == true)
    }

    @Test func hostileNestingIsRefusedNotACrash() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect {
            try JSONValue(parsing: deep)
        } throws: { error in
            "\(error)".contains("nested deeper than 512 levels")
        }
        let allowed = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(try JSONValue(parsing: allowed).arrayValue?.count == 1)
        let objects = String(repeating: #"{"a":"#, count: 600) + "1" + String(repeating: "}", count: 600)
        #expect(throws: JSONValue.ParseError.self) { try JSONValue(parsing: objects) }
    }

    /// The text corpus records and answers are stored as: compact, keys in `String` order,
    /// integers as `String(value)` spells them, control characters escaped.
    @Test func textIsCompactWithSortedKeysAndSwiftsSpellings() {
        for number in [0, 7, -7, 10, -10, 1_000_000_007, Int.max, Int.min] {
            #expect(JSONValue.int(number).jsonText == String(number))
        }
        let keys = ["b", "a", "B", "é", "aa", "", "a\u{1}"]
        let object = JSONValue.object(Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, JSONValue.int($0)) }))
        let expected = "{" + keys.sorted().map { key in
            "\(JSONValue.string(key).jsonText):\(keys.firstIndex(of: key)!)"
        }.joined(separator: ",") + "}"
        #expect(object.jsonText == expected)
        #expect(object.jsonText == #"{"":5,"B":2,"a":1,"a\u0001":6,"aa":4,"b":0,"é":3}"#)
        #expect(JSONValue.string("q\"b\\n\n\r\t\u{1f}").jsonText == #""q\"b\\n\n\r\t\u001f""#)
        #expect(JSONValue.array([.double(0.1), .double(.infinity), .bool(false), .null]).jsonText == "[0.1,null,false,null]")
    }

    /// Random documents: written by `jsonText`, read back equal, and equal to Foundation's reading.
    @Test func randomDocumentsRoundTrip() throws {
        var generator = SplitMix(seed: 20261121)
        for _ in 0..<2_000 {
            let value = Self.random(&generator, depth: 0)
            let text = value.jsonText
            let parsed = try JSONValue(parsing: text)
            #expect(parsed == value, "\(text)")
            #expect(parsed == (try Self.foundation(text)), "\(text)")
        }
    }

    static func random(_ generator: inout SplitMix, depth: Int) -> JSONValue {
        let pick = Int(generator.next() % (depth > 3 ? 5 : 7))
        switch pick {
        case 0: return .null
        case 1: return .bool(generator.next() % 2 == 0)
        // Within 18 digits, where Foundation reads them as integers too.
        case 2: return .int(Int(truncatingIfNeeded: generator.next()) >> Int(5 + generator.next() % 58))
        case 3: return .double(Double(Int64(truncatingIfNeeded: generator.next()) % 1_000_000) / 64)
        case 4:
            let alphabet = Array("ab\"\\\n\t\u{1}é中😀 /")
            return .string(String((0..<Int(generator.next() % 8)).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }))
        case 5: return .array((0..<Int(generator.next() % 4)).map { _ in random(&generator, depth: depth + 1) })
        default:
            var members: [String: JSONValue] = [:]
            for index in 0..<Int(generator.next() % 4) { members["k\(index)\u{e9}"] = random(&generator, depth: depth + 1) }
            return .object(members)
        }
    }
}

/// A small seeded generator, so a failing document can be reproduced.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
