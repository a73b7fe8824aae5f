import CrucibleWire
import Foundation
import MCP

/// Another MCP server whose tools the sandboxed code may call (`crucible mcp --tools-from CMD`):
/// code mode over MCP. Crucible starts the server as a child process, connects as an MCP
/// client, and turns each of its tools into a Crucible tool: a typed Python function whose
/// arguments are checked against the tool's `inputSchema` and whose result is checked
/// against its `outputSchema` (when it declares one) before the code sees it.
///
/// The server runs on the host with Crucible's environment, like any tool the user configured;
/// only the sandboxed code is confined.
public final class MCPToolSource: @unchecked Sendable {
    public let command: [String]
    /// Tools skipped because their schemas cannot be enforced, with the reason (reported at start).
    public private(set) var skipped: [String] = []
    private let process: ChildProcess
    private let client: Client

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private init(command: [String], process: ChildProcess, client: Client) {
        self.command = command
        self.process = process
        self.client = client
    }

    /// Starts `command` (looked up on PATH) and completes the MCP handshake within `startTimeout`
    /// seconds (a server fetched by npx or uvx on first use can take a while).
    public static func start(_ command: [String], clientVersion: String, startTimeout: Double = 60) async throws
        -> MCPToolSource
    {
        guard !command.isEmpty else { throw Failure(description: "--tools-from needs a command") }
        let client = Client(name: "crucible", version: clientVersion)
        let process: ChildProcess
        do {
            // A server that exits fails the calls in flight at once instead of at their timeout.
            process = try await ChildProcess(command) { Task { await client.disconnect() } }
        } catch {
            throw Failure(description: "cannot start MCP server \(command.joined(separator: " ")): \(error)")
        }
        let transport = LineTransport(input: process.output, output: process.input, label: "crucible.mcp.client", role: .client)
        let source = MCPToolSource(command: command, process: process, client: client)
        do {
            let initialized = try await withTimeout(
                seconds: startTimeout, "the MCP handshake", onTimeout: { process.send(SIGKILL) }
            ) {
                try await client.connect(transport: transport)
            }
            guard initialized.capabilities.tools != nil else {
                throw Failure(description: "it offers no tools")
            }
        } catch {
            await source.close()
            // The exit status, when the server ended on its own; else what went wrong.
            let why = (error as? Failure).map(\.description)
                ?? process.ending.map { "it \($0) before the MCP handshake finished (its stderr is above)" } ?? "\(error)"
            throw Failure(description: "MCP server \(command.joined(separator: " ")): \(why)")
        }
        return source
    }

    /// The server's tools as Crucible tools. Names become Python identifiers (`get-user` is
    /// `get_user`); `$ref`s into `$defs` are inlined; a tool whose input schema still uses a
    /// keyword Crucible cannot enforce is skipped and listed in `skipped`.
    public func tools() async throws -> [CrucibleTools.Tool] {
        var listed: [MCP.Tool] = []
        var cursor: String?
        repeat {
            let page = try await client.listTools(cursor: cursor)
            listed += page.tools
            cursor = page.nextCursor
        } while cursor != nil
        var tools: [CrucibleTools.Tool] = []
        let origin = command.joined(separator: " ")
        for remote in listed {
            let name = Self.pythonName(remote.name)
            let inputSchema = SchemaReferences.inline(JSONValue(mcp: remote.inputSchema))
            var outputSchema = remote.outputSchema.map { SchemaReferences.inline(JSONValue(mcp: $0)) }
            if let output = outputSchema, !JSONSchema.unsupportedKeywords(in: output, path: "outputSchema").isEmpty {
                skipped.append("\(remote.name): its outputSchema uses keywords Crucible cannot enforce "
                    + "(\(JSONSchema.unsupportedKeywords(in: output, path: "outputSchema").joined(separator: ", "))); "
                    + "its results reach the code unchecked")
                outputSchema = nil
            }
            // A function that returns a plain value (an int, a list) is served with its result
            // wrapped as {"result": ...}; the sandbox gets the value, as the function's author wrote it.
            let wrapped = outputSchema.flatMap(Self.wrappedResultSchema(in:))
            let contract: ToolContract
            do {
                contract = try ToolContract(
                    name: name, description: (remote.description ?? "") + "\n(From the MCP server `\(origin)`.)",
                    inputSchema: inputSchema, outputSchema: wrapped ?? outputSchema)
            } catch {
                skipped.append("\(remote.name): not offered to the sandbox: \(error)")
                continue
            }
            let (remoteName, checked, unwrap) = (remote.name, outputSchema != nil, wrapped != nil)
            tools.append(CrucibleTools.Tool(contract) { [self] arguments in
                let result = try await call(remoteName, arguments: arguments, structured: checked)
                guard unwrap else { return result }
                guard let value = result["result"] else {
                    throw ToolFailure("MCP tool \(remoteName) returned no \"result\" in its wrapped structured content")
                }
                return value
            })
        }
        return tools
    }

    private func call(_ name: String, arguments: JSONValue, structured: Bool) async throws -> JSONValue {
        var members: [String: MCP.Value] = [:]
        if case .object(let given) = arguments { members = given.mapValues(\.mcpValue) }
        let result: CallTool.Result
        do {
            guard process.isRunning else { throw serverExited }
            let request: RequestContext<CallTool.Result> = try await client.callTool(name: name, arguments: members)
            result = try await request.value
        } catch {
            throw process.isRunning ? ToolFailure("MCP tool \(name): \(error)") : serverExited
        }
        let text = result.content.map(Self.describe).joined(separator: "\n")
        if result.isError == true { throw ToolFailure(text.isEmpty ? "MCP tool \(name) reported an error" : text) }
        if let structuredContent = result.structuredContent { return JSONValue(mcp: structuredContent) }
        if structured { throw ToolFailure("MCP tool \(name) declares an outputSchema but returned no structuredContent") }
        return .string(text)
    }

    /// The schema of the value inside a result the server wraps as `{"result": ...}`: the
    /// official Python SDK does so for functions annotated with a non-object type (its output
    /// schema is titled `<function>Output`), FastMCP marks it `x-fastmcp-wrap-result`.
    static func wrappedResultSchema(in schema: JSONValue) -> JSONValue? {
        guard case .object(let properties)? = schema["properties"], properties.count == 1, let inner = properties["result"],
            schema["required"] == ["result"]
        else { return nil }
        let marked = schema["x-fastmcp-wrap-result"] == .bool(true) || schema["title"]?.stringValue?.hasSuffix("Output") == true
        return marked ? inner : nil
    }

    /// What the code is told once the server has gone: which server, how it ended, what now.
    private var serverExited: ToolFailure {
        ToolFailure("the MCP server `\(command.joined(separator: " "))` \(process.ending ?? "ended"); its tools are unavailable "
            + "until crucible mcp is restarted (its stderr, in crucible's log, says why)")
    }

    private static func describe(_ content: MCP.Tool.Content) -> String {
        switch content {
        case .text(let text, _, _): text
        case .image(let data, let mimeType, _, _): "[image \(mimeType), \(data.count * 3 / 4) bytes]"
        case .audio(let data, let mimeType, _, _): "[audio \(mimeType), \(data.count * 3 / 4) bytes]"
        case .resource(let resource, _, _): "[resource \(resource.uri)]"
        case .resourceLink(let uri, let name, _, _, _, _): "[resource link \(name): \(uri)]"
        }
    }

    /// A tool name as a Python identifier: characters other than letters, digits and `_`
    /// become `_`; a leading digit or a keyword gets a `_` added.
    static func pythonName(_ name: String) -> String {
        var result = String(name.unicodeScalars.map { scalar -> Character in
            scalar.properties.isXIDContinue ? Character(scalar) : "_"
        })
        if let first = result.unicodeScalars.first, !(first == "_" || first.properties.isXIDStart) { result = "_" + result }
        if result.isEmpty { result = "_" }
        return PythonNames.keywords.contains(result) ? result + "_" : result
    }

    /// Disconnects and stops the server: end of input, then SIGTERM, then SIGKILL.
    public func close() async {
        await client.disconnect()
        await process.stop()
    }
}
