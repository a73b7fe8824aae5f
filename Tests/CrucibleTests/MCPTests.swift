import Crucible
@testable import CrucibleMCP
import Foundation
import MCP
import Testing

/// The parts of `crucible mcp` that need no client: schema inlining for other servers' tools,
/// tool names as Python identifiers, how calls chain into corpus sessions, and the server's
/// answers (tool errors versus protocol errors, results that fit their outputSchema). The
/// protocol itself is tested end to end with the official Python client (Tests/python/test_mcp.py).
@Suite("MCP")
struct MCPTests {
    @Test func pydanticDefsAreInlinedSoTheContractIsEnforceable() throws {
        let schema = try JSONValue(parsing: """
            {"$defs": {"Address": {"properties": {"city": {"type": "string"}}, "required": ["city"], "type": "object"}},
             "properties": {"name": {"type": "string"}, "home": {"$ref": "#/$defs/Address", "description": "Where."},
                            "past": {"type": "array", "items": {"$ref": "#/$defs/Address"}}},
             "required": ["name", "home"], "type": "object"}
            """)
        #expect(!JSONSchema.unsupportedKeywords(in: schema).isEmpty)
        let inlined = SchemaReferences.inline(schema)
        #expect(JSONSchema.unsupportedKeywords(in: inlined).isEmpty)
        #expect(inlined["properties"]?["home"]?["properties"]?["city"]?["type"] == "string")
        #expect(inlined["properties"]?["home"]?["description"] == "Where.")
        #expect(inlined["properties"]?["past"]?["items"]?["required"] == ["city"])
        // The rules are enforced, not dropped: a result missing the nested field is refused.
        let bad = try JSONValue(parsing: #"{"name": "Ada", "home": {}}"#)
        #expect(JSONSchema.violations(of: bad, against: inlined).map(\.description) == ["$.home: the required field \"city\" is missing"])
    }

    @Test func aRecursiveTypeKeepsItsRefAndTheContractIsRefusedByName() throws {
        let schema = try JSONValue(parsing: """
            {"$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}},
             "type": "object", "properties": {"root": {"$ref": "#/$defs/Node"}}}
            """)
        let inlined = SchemaReferences.inline(schema)
        #expect(throws: ToolContractProblem.self) {
            try ToolContract(name: "tree", description: "", inputSchema: inlined)
        }
        #expect(JSONSchema.unsupportedKeywords(in: inlined) == ["#/properties/root/properties/child/$ref"])
    }

    @Test func toolNamesBecomePythonIdentifiers() {
        #expect(MCPToolSource.pythonName("get-user") == "get_user")
        #expect(MCPToolSource.pythonName("github.search_issues") == "github_search_issues")
        #expect(MCPToolSource.pythonName("2fa") == "_2fa")
        #expect(MCPToolSource.pythonName("class") == "class_")
        #expect(MCPToolSource.pythonName("plain") == "plain")
    }

    @Test func attemptsAtOneArtifactChainUntilOnePasses() {
        let chains = AttemptChains()
        let bad = "from tdom import html\n\ndef card_view(name):\n    return html(f'{name}')\n"
        let fixed = "@view\ndef card_view(name):\n    return html(t'{name}')\n"
        #expect(AttemptChains.topLevelNames(bad) == ["card_view"])
        #expect(AttemptChains.topLevelNames("class A:\n    def inner(self): pass\nasync def b(): pass\n") == ["A", "b"])
        let first = AttemptChains.key(tool: "validate_code", kind: "view", artifact: nil, path: nil, session: nil, code: bad)
        let second = AttemptChains.key(tool: "validate_code", kind: "view", artifact: nil, path: nil, session: nil, code: fixed)
        #expect(first == second)
        let other = AttemptChains.key(tool: "validate_code", kind: "view", artifact: nil, path: nil, session: nil,
                                      code: "def other_view(): pass\n")
        let linkA = chains.link(first, task: nil)
        chains.finished(first, passed: false)
        #expect(chains.link(other, task: nil).session != linkA.session)
        #expect(chains.link(second, task: nil).session == linkA.session)
        chains.finished(second, passed: true)
        // After a pass the next attempt at the same artifact is a new task.
        #expect(chains.link(first, task: nil).session != linkA.session)
        // The model's own name for the artifact wins over what the code defines.
        let named = AttemptChains.key(tool: "run_python", kind: nil, artifact: "report.py", path: nil, session: nil, code: bad)
        #expect(named.artifact == "report.py")
    }

    static func server(maxSessions: Int = 8) throws -> CrucibleMCPServer {
        let sandbox = TestSandboxes.confined
        let toolbox = try Toolbox([ToolCallTests.getUser()])
        var configuration = CrucibleMCPServer.Configuration(
            sandbox: sandbox, toolbox: toolbox, validator: LazyValidator(), kinds: [:], recorder: nil, generator: nil)
        configuration.maxSessions = maxSessions
        return try CrucibleMCPServer(configuration)
    }

    @Test func namedSessionsAreCappedAndTheRefusalNamesTheOpenOnes() async throws {
        let server = try Self.server(maxSessions: 2)
        defer { server.close() }
        for name in ["a", "b"] {
            let opened = try await server.call("run_python", arguments: ["code": "x = 1", "session": .string(name)])
            #expect(opened.isError == nil)
        }
        let third = try await server.call("run_python", arguments: ["code": "x = 1", "session": "c"])
        #expect(third.isError == true && third.structuredContent == nil)
        guard case .text(let message, _, _)? = third.content.first else { Issue.record("no text"); return }
        #expect(message.contains("2 sessions are open (a, b)") && message.contains("restart: true"))
        // The open ones still work, and a fresh interpreter needs no session.
        let again = try await server.call("run_python", arguments: ["code": "x + 1", "session": "b"])
        #expect(again.structuredContent.map(JSONValue.init(mcp:))?["value"] == 2)
        let fresh = try await server.call("run_python", arguments: ["code": "40 + 2"])
        #expect(fresh.structuredContent.map(JSONValue.init(mcp:))?["value"] == 42)
    }

    @Test func runPythonResultsFitTheirOutputSchemaAndFailuresAreToolErrors() async throws {
        let server = try Self.server()
        defer { server.close() }
        #expect(server.tools.map(\.name) == ["run_python", "validate_code", "describe_tools"])
        #expect(server.tools[0].description?.contains("def get_user(user_id: int)") == true)

        let ok = try await server.call("run_python", arguments: ["code": .string("u = get_user(user_id=3)\nu.name")])
        #expect(ok.isError == nil)
        let structured = JSONValue(mcp: try #require(ok.structuredContent))
        #expect(JSONSchema.violations(of: structured, against: MCPToolCatalog.runPythonOutput).isEmpty)
        #expect(structured["value"] == "user3" && structured["ok"] == true && structured["error"] == .null)
        #expect(structured["trace"]?["tool_calls"]?.arrayValue?.count == 1)

        let failed = try await server.call("run_python", arguments: ["code": .string("[][1]")])
        #expect(failed.isError == true)
        guard case .text(let feedback, _, _)? = failed.content.first else { Issue.record("no text"); return }
        #expect(feedback.contains("IndexError") && feedback.contains("call run_python again"))

        let badArguments = try await server.call("run_python", arguments: ["code": .int(1)])
        #expect(badArguments.isError == true && badArguments.structuredContent == nil)

        await #expect(throws: MCPError.self) { try await server.call("nope", arguments: [:]) }
    }
}
