import Crucible
import Foundation

/// Tools defined in Swift for the tests: `get_user` with a typed, nested result.
package enum ToolFixtures {
    package static let userSchema: JSONValue = .object([
        "type": "object", "title": "User",
        "properties": .object([
            "id": .object(["type": "integer"]), "name": .object(["type": "string"]),
            "email": .object(["type": "string"]),
            "roles": .object(["type": "array", "items": .object([
                "type": "object", "title": "Role",
                "properties": .object(["name": .object(["type": "string"]), "level": .object(["type": "integer"])]),
                "required": ["name", "level"],
            ])]),
        ]),
        "required": ["id", "name", "email", "roles"],
        "additionalProperties": false,
    ])

    package static func getUser(returning: (@Sendable (Int) -> JSONValue)? = nil) throws -> Tool {
        let contract = try ToolContract(
            name: "get_user", description: "Look up a user by id.",
            inputSchema: .object([
                "type": "object",
                "properties": .object(["user_id": .object(["type": "integer", "description": "The user's id.", "minimum": 1])]),
                "required": ["user_id"],
            ]),
            outputSchema: userSchema)
        return Tool(contract) { arguments in
            let id = arguments["user_id"]?.intValue ?? 0
            if let returning { return returning(id) }
            return .object([
                "id": .int(id), "name": .string("user\(id)"), "email": .string("u\(id)@example.com"),
                "roles": .array([.object(["name": "admin", "level": .int(id)])]),
            ])
        }
    }

    package static func toolbox(_ tools: Tool..., limits: ToolLimits = ToolLimits()) throws -> Toolbox {
        try Toolbox(tools, limits: limits)
    }
}
