import CrucibleWire
import Foundation
import MCP

/// The MCP SDK's `Value` and Crucible's `JSONValue` are the same JSON; these convert at the
/// boundary so the rest of Crucible never sees the SDK's types.
extension JSONValue {
    package init(mcp value: MCP.Value) {
        switch value {
        case .null: self = .null
        case .bool(let bool): self = .bool(bool)
        case .int(let int): self = .int(int)
        case .double(let double): self = .double(double)
        case .string(let string): self = .string(string)
        // The SDK decodes a string that looks like a data URL as `.data`; the peer sent a string.
        case .data(let mimeType, let data): self = .string(data.dataURLEncoded(mimeType: mimeType))
        case .array(let items): self = .array(items.map(JSONValue.init(mcp:)))
        case .object(let members): self = .object(members.mapValues(JSONValue.init(mcp:)))
        }
    }

    package var mcpValue: MCP.Value {
        switch self {
        case .null: .null
        case .bool(let bool): .bool(bool)
        case .int(let int): .int(int)
        // The SDK's numbers stop at Int and Double; past Int, the nearest Double is what it can carry.
        case .bigInteger(let digits): .double(Double(digits) ?? .nan)
        case .double(let double): .double(double)
        case .string(let string): .string(string)
        case .array(let items): .array(items.map(\.mcpValue))
        case .object(let members): .object(members.mapValues(\.mcpValue))
        }
    }
}
