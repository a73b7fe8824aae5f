import Crucible
@testable import CrucibleMCP
@testable import CrucibleTools
import CrucibleTesting
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
        #expect(chains.link(other, task: nil).episode != linkA.episode)
        #expect(chains.link(second, task: nil).episode == linkA.episode)
        chains.finished(second, passed: true)
        // After a pass the next attempt at the same artifact is a new task.
        #expect(chains.link(first, task: nil).episode != linkA.episode)
        // The model's own name for the artifact wins over what the code defines.
        let named = AttemptChains.key(tool: "run_python", kind: nil, artifact: "report.py", path: nil, session: nil, code: bad)
        #expect(named.artifact == "report.py")
    }

    static func server(maxSessions: Int = 8) throws -> CrucibleMCPServer {
        let sandbox = TestSandboxes.confined
        let toolbox = try Toolbox([ToolFixtures.getUser()])
        var configuration = CrucibleMCPServer.Configuration(
            sandbox: sandbox, validator: LazyValidator(), kinds: [:], recorder: nil)
        configuration.maxSessions = maxSessions
        return CrucibleMCPServer(configuration, toolbox: toolbox)
    }

    static func structured(_ result: CallTool.Result) -> JSONValue? { result.structuredContent.map(JSONValue.init(mcp:)) }

    static func text(_ result: CallTool.Result) -> String {
        guard case .text(let text, _, _)? = result.content.first else { return "" }
        return text
    }

    @Test func sessionsAreUnguessableHandlesCappedAndClosable() async throws {
        let server = try Self.server(maxSessions: 2)
        defer { server.close() }
        var handles: [String] = []
        for _ in 0..<2 {
            let opened = try await server.call("run_python", arguments: ["code": "secret = 'mine'", "session": "new"])
            #expect(opened.isError == nil)
            let handle = try #require(Self.structured(opened)?["session"]?.stringValue)
            #expect(handle.hasPrefix("s-") && handle.count == 34)
            handles.append(handle)
        }
        #expect(Set(handles).count == 2)
        // A name another run might guess is not a session.
        let guessed = try await server.call("run_python", arguments: ["code": "secret", "session": "main"])
        #expect(guessed.isError == true && guessed.structuredContent == nil)
        #expect(Self.text(guessed).contains("no open session \"main\""))
        let third = try await server.call("run_python", arguments: ["code": "x = 1", "session": "new"])
        #expect(third.isError == true && Self.text(third).contains("2 sessions are open"))
        // The handle continues its session; close_session frees its place.
        let again = try await server.call("run_python", arguments: ["code": "secret", "session": .string(handles[1])])
        #expect(Self.structured(again)?["value"] == "mine")
        let closed = try await server.call("close_session", arguments: ["session": .string(handles[1])])
        #expect(Self.structured(closed)?["closed"] == true)
        let gone = try await server.call("run_python", arguments: ["code": "secret", "session": .string(handles[1])])
        #expect(gone.isError == true)
        let fourth = try await server.call("run_python", arguments: ["code": "x = 1", "session": "new"])
        #expect(fourth.isError == nil)
        let fresh = try await server.call("run_python", arguments: ["code": "40 + 2"])
        #expect(Self.structured(fresh)?["value"] == 42)
    }

    @Test func runPythonResultsFitTheirOutputSchemaAndFailuresArePlainText() async throws {
        let server = try Self.server()
        defer { server.close() }
        let tools = try await server.catalog()
        #expect(tools.map(\.name) == ["run_python", "close_session", "validate_code", "describe_tools"])
        #expect(tools[0].description?.contains("def get_user(user_id: int)") == true)

        let ok = try await server.call("run_python", arguments: ["code": .string("u = get_user(user_id=3)\nu.name")])
        #expect(ok.isError == nil)
        let structured = try #require(Self.structured(ok))
        #expect(JSONSchema.violations(of: structured, against: MCPToolCatalog.runPythonOutput).isEmpty)
        #expect(structured["value"] == "user3" && structured["ok"] == true && structured["tool_calls"] == 1)
        #expect(structured["trace"] == nil)  // opt-in
        let traced = try await server.call("run_python", arguments: ["code": "get_user(user_id=4).name", "trace": true])
        #expect(Self.structured(traced)?["trace"]?["tool_calls"]?.arrayValue?.count == 1)
        // A returned tool result comes back as its data.
        let object = try await server.call("run_python", arguments: ["code": "{'result': get_user(user_id=5)}"])
        #expect(Self.structured(object)?["value"]?["result"]?["name"] == "user5")
        #expect(Self.structured(object)?["value"]?["result"]?["roles"]?.arrayValue?.first?["name"] == "admin")

        let failed = try await server.call("run_python", arguments: ["code": .string("print('so far')\n[][1]")])
        #expect(failed.isError == true && failed.structuredContent == nil && failed.content.count == 1)
        let feedback = Self.text(failed)
        #expect(feedback.contains("IndexError") && feedback.contains("line 2") && feedback.contains("call run_python again"))
        #expect(feedback.contains("so far"))
        #expect(!feedback.contains("\"outcome\""))  // no JSON for the model to read through

        let badArguments = try await server.call("run_python", arguments: ["code": .int(1)])
        #expect(badArguments.isError == true && badArguments.structuredContent == nil)

        await #expect(throws: MCPError.self) { try await server.call("nope", arguments: [:]) }
    }
}
