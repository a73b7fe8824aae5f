import Crucible
import CrucibleTesting
import Foundation
import Testing

/// Contracts, typed results, errors, limits and the trace, with tools defined in Swift.
@Suite("Tool calls")
struct ToolCallTests {
    let sandbox = TestSandboxes.confined

    @Test("typed results by attribute and item, every call and field read traced")
    func typedResultsAndTrace() throws {
        let tools = try ToolFixtures.toolbox(ToolFixtures.getUser())
        let result = sandbox.execute(
            """
            a = get_user(1); b = get_user(user_id=2); c = get_user(3)
            [a['name'] + b.name + c.name, b.roles[0].level, type(a).__name__, type(b.roles[0]).__name__]
            """, tools: tools)
        #expect(result.outcome == .ok, "\(result.error?.traceback ?? "")")
        #expect(result.value?.json == .array(["user1user2user3", .int(2), "User", "Role"]))
        #expect(result.trace.toolCalls.map(\.tool) == ["get_user", "get_user", "get_user"])
        #expect(result.trace.toolCalls.map(\.arguments) == [
            .object(["user_id": 1]), .object(["user_id": 2]), .object(["user_id": 3]),
        ])
        #expect(result.trace.toolCalls.allSatisfy { $0.outcome == .ok && $0.resultBytes > 40 })
        #expect(result.trace.fieldReads.map { "\($0.call):\($0.path)" } == [
            "0:name", "1:name", "2:name", "1:roles", "1:roles[].level",
        ])
        // email was never read: the trace must not claim it was.
        #expect(!result.trace.fieldsRead(from: "get_user").contains("email"))
    }

    @Test("a result that breaks its contract raises ToolContractError naming the tool and field path")
    func contractViolation() throws {
        let broken = try ToolFixtures.getUser { id in
            .object(["id": .int(id), "name": .int(42), "email": "x", "roles": .array([.object(["name": "a"])])])
        }
        let result = sandbox.execute(
            """
            try:
                get_user(5)
            except ToolContractError as e:
                print(e.tool, e.path, str(e))
            """, tools: try ToolFixtures.toolbox(broken))
        #expect(result.outcome == .ok)
        #expect(result.stdout.hasPrefix("get_user $.name get_user() returned a result that breaks its contract at $.name: expected string, got integer"))
        #expect(result.trace.toolCalls.first?.outcome == .contractError(path: "$.name", message: "expected string, got integer"))
        #expect(result.trace.toolCalls.first?.resultBytes == 0)

        let nested = try ToolFixtures.getUser { id in
            .object(["id": .int(id), "name": "n", "email": "x", "roles": .array([.object(["name": "a"])])])
        }
        let uncaught = sandbox.execute("get_user(5)", tools: try ToolFixtures.toolbox(nested))
        #expect(uncaught.outcome == .exception)
        #expect(uncaught.error?.type == "ToolContractError")
        #expect(uncaught.error?.message.contains("$.roles[0]: the required field \"level\" is missing") == true)
    }

    @Test("arguments are checked against inputSchema before the tool runs")
    func argumentErrors() throws {
        let calls = Counter()
        let counting = try ToolFixtures.getUser { id in
            calls.increment()
            return .object(["id": .int(id), "name": "n", "email": "e", "roles": .array([])])
        }
        let tools = try ToolFixtures.toolbox(counting)
        let cases: [(String, String)] = [
            ("get_user('1')", "get_user(): argument user_id: expected integer, got string"),
            ("get_user(0)", "get_user(): argument user_id: 0 is below the minimum 1"),
            ("get_user()", "get_user(): arguments: the required field \"user_id\" is missing"),
            ("get_user(1, 2)", "get_user() takes 1 arguments but 2 were given"),
            ("get_user(user=1)", "get_user() got an unexpected argument 'user'"),
            ("get_user(object())", "get_user(): arguments must be JSON values"),
            ("loop = []\nloop.append(loop)\nget_user(loop)", "get_user(): arguments must be JSON values (Circular reference detected)"),
            ("get_user(float('nan'))", "get_user(): arguments must be JSON values (Out of range float values"),
        ]
        for (code, message) in cases {
            let result = sandbox.execute(code, tools: tools)
            #expect(result.outcome == .exception, "\(code)")
            #expect(result.error?.type == "ToolArgumentError", "\(code)")
            #expect(result.error?.message.hasPrefix(message) == true, "\(code): \(result.error?.message ?? "")")
        }
        #expect(calls.value == 0)
    }

    @Test("a tool that hangs gets ToolTimeoutError and the execution goes on")
    func hangingTool() throws {
        let hang = Tool(try ToolContract(name: "hang", description: "Never answers.", inputSchema: ["type": "object"])) { _ in
            try await Task.sleep(for: .seconds(60))
            return .null
        }
        var limits = ToolLimits()
        limits.perCallTimeout = .milliseconds(300)
        let result = sandbox.execute(
            """
            try:
                hang()
            except ToolTimeoutError as e:
                print("timed out:", e)
            "after"
            """, tools: try Toolbox([hang], limits: limits))
        #expect(result.outcome == .ok)
        #expect(result.stdout.hasPrefix("timed out: hang() did not answer within"))
        #expect(result.value?.json == "after")
        #expect(result.trace.toolCalls.first?.outcome == .timeout)
    }

    @Test("a tool that waits for its answer on the execution's thread: its answer, its failure, and the per-call timeout it is given")
    func waitingTool() throws {
        let contract = { (name: String) in
            try ToolContract(name: name, description: "Answered elsewhere.",
                             inputSchema: ["type": "object", "properties": ["x": ["type": "integer"]]])
        }
        let given = Locked<Duration?>(nil)
        let answers = Tool(try contract("answers"), waiting: { arguments, timeout in
            given.withLock { $0 = timeout }
            return ["echo": arguments]
        })
        let silent = Tool(try contract("silent"), waiting: { _, timeout in
            Thread.sleep(forTimeInterval: timeout.seconds)
            return nil  // no answer within the timeout
        })
        let failing = Tool(try contract("failing"), waiting: { _, _ in throw ToolFailure("the client is gone") })
        var limits = ToolLimits()
        limits.perCallTimeout = .milliseconds(300)
        let result = sandbox.execute(
            """
            out = [answers(x=1).echo.x]
            for f in (silent, failing):
                try:
                    f()
                except ToolError as e:
                    out.append((type(e).__name__, str(e)))
            out
            """, tools: try Toolbox([answers, silent, failing], limits: limits))
        #expect(result.outcome == .ok, "\(result)")
        let out = result.value?.json?.arrayValue ?? []
        #expect(out.count == 3)
        #expect(out.first == 1)
        #expect(out.dropFirst().first?.arrayValue?.first == "ToolTimeoutError")
        #expect(out.dropFirst().first?.arrayValue?.last?.stringValue?.hasPrefix("silent() did not answer within") == true)
        #expect(out.last == ["ToolError", "failing() failed: the client is gone"])
        #expect(given.value == .milliseconds(300))
        #expect(result.trace.toolCalls.map(\.outcome) == [.ok, .timeout, .toolError("the client is gone")])
    }

    @Test("a tool that fails raises ToolError with its message")
    func failingTool() throws {
        let failing = Tool(try ToolContract(name: "fail", description: "Fails.", inputSchema: ["type": "object"])) { _ in
            throw ToolFailure("the database is down")
        }
        let result = sandbox.execute("fail()", tools: try Toolbox([failing]))
        #expect(result.error?.type == "ToolError")
        #expect(result.error?.message == "fail() failed: the database is down")
        #expect(result.trace.toolCalls.first?.outcome == .toolError("the database is down"))
    }

    @Test("calls per execution and result size are limited")
    func limits() throws {
        var limits = ToolLimits()
        limits.callsPerExecution = 3
        let tools = try ToolFixtures.toolbox(ToolFixtures.getUser(), limits: limits)
        let result = sandbox.execute("[get_user(i).id for i in range(1, 10)]", tools: tools)
        #expect(result.error?.type == "ToolLimitError")
        #expect(result.error?.message == "get_user(): this execution already made 3 tool calls, the limit")
        #expect(result.trace.toolCalls.count == 4)

        limits = ToolLimits()
        limits.resultBytes = 100
        let big = try ToolFixtures.getUser { id in
            .object(["id": .int(id), "name": .string(String(repeating: "x", count: 500)), "email": "e", "roles": .array([])])
        }
        let oversized = sandbox.execute("get_user(1)", tools: try ToolFixtures.toolbox(big, limits: limits))
        #expect(oversized.error?.type == "ToolLimitError")
        #expect(oversized.error?.message.contains("over the 100-byte limit") == true)
    }

    @Test("frames larger than the worker's read buffer cross intact: a big cell, big tool answers, many in a row")
    func largeFrames() throws {
        // The worker reads into a 256 KiB buffer; these frames take several reads each, and
        // the small ones between them take the one-read path.
        let blob = Tool(try ToolContract(
            name: "blob", description: "Returns n copies of a character.",
            inputSchema: ["type": "object", "properties": ["n": ["type": "integer"]], "required": ["n"]],
            outputSchema: ["type": "object", "properties": ["data": ["type": "string"]], "required": ["data"]]
        ), immediate: { arguments in
            guard case .int(let n)? = arguments["n"] else { return .null }
            return .object(["data": .string(String(repeating: "é", count: n) + "!")])
        })
        var limits = ToolLimits()
        limits.resultBytes = 4 << 20
        let session = try sandbox.openSession(tools: try ToolFixtures.toolbox(blob, limits: limits))
        let padding = "# " + String(repeating: "ü", count: 400_000) + "\n"
        let result = try session.execute(padding + "[len(blob(n).data) for n in (300_000, 1, 700_000, 2, 0)]")
        #expect(result.outcome == .ok, "\(result.error?.traceback ?? "")")
        #expect(result.value?.json == .array([300_001, 2, 700_001, 3, 1]))
        let next = try session.execute("blob(5).data")
        #expect(next.value?.json == "ééééé!")
    }

    @Test("hostile code forging call frames gets errors, never another tool's result")
    func forgedCalls() throws {
        let tools = try ToolFixtures.toolbox(ToolFixtures.getUser())
        // A well-formed call to a tool that is not in the toolbox is an argument error.
        let unknown = sandbox.execute(
            """
            import crucible_sandbox.tools as t, json
            ch = t._State.channel
            ch.send(ord('C'), json.dumps({"name": "rm_rf", "arguments": {}}).encode())
            answer = json.loads(ch.receive()[1])
            [answer["error"]["type"], answer["error"]["message"]]
            """, tools: tools)
        #expect(unknown.outcome == .ok, "\(unknown.error?.traceback ?? "")")
        #expect(unknown.value?.json == .array(["ToolArgumentError", "no tool named rm_rf; available: get_user"]))
        // A frame the runtime never writes ends the execution: it came from the code.
        let malformed = sandbox.execute(
            "import crucible_sandbox.tools as t\nt._State.channel.send(ord('C'), b'not json')\nt._State.channel.receive()",
            tools: tools)
        guard case .protocolViolation(let detail) = malformed.outcome else {
            Issue.record("expected a protocol violation, got \(malformed.outcome)")
            return
        }
        #expect(detail.contains("tool call frame"))
        #expect(malformed.trace.toolCalls.isEmpty)
    }

    @Test("the prompt text is rendered from the functions the code calls")
    func promptMatchesRuntime() throws {
        let tools = try ToolFixtures.toolbox(ToolFixtures.getUser())
        let prompt = try sandbox.describe(tools)
        #expect(prompt.contains("class User(ToolResult):"))
        #expect(prompt.contains("    roles: list[Role]"))
        #expect(prompt.contains("def get_user(user_id: int) -> User:"))
        #expect(prompt.contains("        user_id: The user's id."))
        let runtime = sandbox.execute(
            "import crucible_sandbox.tools as t, inspect\n[t.format_signature(get_user), get_user.__doc__, inspect.signature(get_user).parameters['user_id'].annotation]",
            tools: tools)
        guard case .array(let parts)? = runtime.value?.json, parts.count == 3,
            case .string(let signature) = parts[0]
        else {
            Issue.record("no signature: \(runtime.outcome) \(runtime.error?.traceback ?? "")")
            return
        }
        #expect(prompt.contains("def get_user\(signature):"))
        #expect(parts[2] == "int")
    }

    @Test("contracts with unsupported schema keywords are refused at registration")
    func unsupportedKeywords() {
        #expect(throws: ToolContractProblem.self) {
            try ToolContract(
                name: "x", description: "", inputSchema: ["type": "object", "patternProperties": .object([:])])
        }
        #expect(throws: ToolContractProblem.self) {
            try ToolContract(name: "not an identifier", description: "", inputSchema: ["type": "object"])
        }
    }

    @Test("a contract round-trips through its MCP definition")
    func mcpShape() throws {
        let contract = try ToolFixtures.getUser().contract
        #expect(try ToolContract(mcpDefinition: contract.mcpDefinition) == contract)
        #expect(contract.mcpDefinition["outputSchema"] == ToolFixtures.userSchema)
    }

    @Test("session cells keep results and record each cell's own trace")
    func sessionTools() throws {
        let session = try sandbox.openSession(tools: try ToolFixtures.toolbox(ToolFixtures.getUser()))
        defer { session.close() }
        let first = try session.execute("u = get_user(7)\nu.id")
        #expect(first.value?.json == .int(7))
        let second = try session.execute("u.email")
        #expect(second.value?.json == "u7@example.com")
        #expect(first.trace.toolCalls.count == 1)
        #expect(second.trace.toolCalls.isEmpty)
        // The read in cell 2 is of cell 1's result: it still names that call.
        #expect(second.trace.fieldReads == [FieldRead(call: 0, tool: "get_user", path: "email")])
        // Tools built in cell 1 are still there; the calls go on being numbered across cells.
        let third = try session.execute("get_user(8).name")
        #expect(third.value?.json == "user8")
        #expect(third.trace.toolCalls.map(\.index) == [1])
        #expect(third.trace.fieldReads == [FieldRead(call: 1, tool: "get_user", path: "name")])
    }
}

