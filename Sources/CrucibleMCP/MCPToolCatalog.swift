import CrucibleConfiguration
import CrucibleTools
import CrucibleWire
import MCP

/// The tools `crucible mcp` offers, as MCP tool definitions: names, descriptions written for
/// a model, and input and output schemas. The structured result of every call conforms to
/// its tool's `outputSchema` (the official clients check it).
enum MCPToolCatalog {
    static let runPython = "run_python"
    static let closeSession = "close_session"
    /// run_python's `session` value that opens a new session.
    static let newSession = "new"
    static let validateCode = "validate_code"
    static let describeTools = "describe_tools"
    static let generateArtifact = "generate_artifact"
    static let feedback = "feedback"

    /// What the catalog describes: the tools the sandboxed code may call, the artifact kinds
    /// and whether a model is configured.
    struct Context {
        var pythonAPI: String
        var toolNames: [String]
        var kinds: [ArtifactKind]
        var canGenerate: Bool
        var writesAllowed: Bool
        var defaultTimeout: Double
        var sessionIdleMinutes: Int
        /// Calls are recorded in a corpus, so results carry attempt ids and feedback is kept.
        var recordsCorpus = false
        /// The interpreter ("3.14.10") and the packages installed for the code: run_python's
        /// description names them, so a model knows it may write t-strings or import tdom.
        var pythonVersion = "3"
        var packages: [String: String] = [:]
    }

    // MARK: feedback

    static func feedbackTool() -> MCP.Tool {
        MCP.Tool(
            name: feedback,
            description: """
                Tell Crucible what the user thought of code a run_python or validate_code result named by its \
                `attempt` id: accepted, edited (give the user's version in edited_code: it is recorded as the \
                fix) or rejected. This trains future models; it changes nothing that already ran.
                """,
            inputSchema: schema([
                "type": "object",
                "properties": [
                    "attempt": ["type": "string", "minLength": 1, "description": "The `attempt` of the result."],
                    "verdict": ["type": "string", "enum": ["accepted", "edited", "rejected"]],
                    "edited_code": ["type": "string", "description": "The user's version of the code (verdict edited)."],
                    "note": ["type": "string", "description": "Why, in the user's words."],
                ].asJSON,
                "required": ["attempt", "verdict"],
                "additionalProperties": false,
            ]),
            annotations: .init(title: "Record the user's verdict on an attempt", readOnlyHint: false, destructiveHint: false,
                               idempotentHint: false, openWorldHint: false),
            outputSchema: feedbackOutput.mcpValue)
    }

    static let feedbackOutput: JSONValue = [
        "type": "object",
        "properties": [
            "attempt": ["type": "string"], "verdict": ["type": "string"],
            "recorded_fix": ["type": "boolean", "description": "An edit was recorded as the attempt's fix."],
        ].asJSON,
        "required": ["attempt", "verdict", "recorded_fix"],
    ]

    static func tools(_ context: Context) -> [MCP.Tool] {
        var tools = [runPythonTool(context), closeSessionTool(), validateCodeTool(context), describeToolsTool(context)]
        if context.canGenerate { tools.append(generateArtifactTool(context)) }
        if context.recordsCorpus { tools.append(feedbackTool()) }
        return tools
    }

    // MARK: run_python

    static func runPythonTool(_ context: Context) -> MCP.Tool {
        let api = context.toolNames.isEmpty
            ? "No tool functions are configured."
            : """
            These functions are already in scope (`from tools import ...` also works). They run on the host; \
            results are typed objects (attribute access), failures raise ToolError and its subclasses:

            ```python
            \(context.pythonAPI.trimmingCharacters(in: .newlines))
            ```
            """
        return MCP.Tool(
            name: runPython,
            description: """
                Run Python \(ToolPrompt.minorVersion(context.pythonVersion)) code in a sandboxed CPython worker (a kernel-confined process: no network, \
                no files outside what the tools expose, CPU, memory and output limits). Returns the value \
                of the last expression (as JSON when it can be; tool results come back as their data), \
                stdout and stderr; a failure comes back as an error with the traceback of your code. \
                \(ToolPrompt.packagesSentence(context.packages))Files the code writes under /output come back \
                with the result (pictures as images). \
                Top-level `await` works, and tool calls may be awaited (`await asyncio.gather(...)`). \
                Pass session: "new" to keep variables between calls: the result's `session` is the \
                handle to pass next time. Prefer one call that uses the tools and returns exactly what \
                you need over many small calls.

                \(api)
                """,
            inputSchema: schema([
                "type": "object",
                "properties": [
                    "code": ["type": "string", "description": "Python source; the last expression's value is returned."],
                    "session": [
                        "type": "string", "minLength": 1, "maxLength": 100,
                        "description": .string("\"new\" to start a session whose variables and imports persist, or the handle a previous result returned to continue it (an unused session closes after \(context.sessionIdleMinutes) minutes; close_session closes it now). Omit for a fresh interpreter."),
                    ],
                    "restart": ["type": "boolean", "description": "With `session`: discard its state before running."],
                    "inputs": ["type": "object", "description": "Values bound as variables before the code runs."],
                    "timeout": [
                        "type": "number", "minimum": 0.01, "maximum": 3600,
                        "description": .string("Seconds of wall-clock time for this call (default \(Int(context.defaultTimeout)))."),
                    ],
                    "trace": [
                        "type": "boolean",
                        "description": "Also return the trace: every tool call (arguments, outcome, duration) and the result fields read.",
                    ],
                    "artifact": [
                        "type": "string",
                        "description": "What this code is an attempt at (a file or function name); repeated attempts at one artifact are linked as failures and fixes.",
                    ],
                ].asJSON,
                "required": ["code"],
                "additionalProperties": false,
            ]),
            annotations: .init(title: "Run Python in the sandbox", readOnlyHint: !context.writesAllowed,
                               destructiveHint: context.writesAllowed ? false : nil, openWorldHint: false),
            outputSchema: runPythonOutput.mcpValue)
    }

    static let runPythonOutput: JSONValue = [
        "type": "object",
        "properties": [
            "ok": ["type": "boolean", "description": "The code ran to the end without an exception."],
            "outcome": [
                "type": "string",
                "enum": ["ok", "exception", "syntax_error", "timeout", "cpu_limit", "memory_limit", "killed_by_seccomp",
                         "crashed", "protocol_violation", "sandbox_failure", "cancelled"],
            ],
            "outcome_detail": ["type": "string"],
            "value": ["description": "The last expression's value, when it is JSON."],
            "value_repr": ["type": "string", "description": "repr() of a value that is not JSON."],
            "value_type": ["type": "string"],
            "stdout": ["type": "string"],
            "stderr": ["type": "string"],
            "stdout_truncated_bytes": ["type": "integer"],
            "stderr_truncated_bytes": ["type": "integer"],
            "tool_calls": ["type": "integer", "description": "How many tool calls the code made."],
            "trace": [
                "type": "object",
                "description": "Only with trace: true.",
                "properties": [
                    "tool_calls": ["type": "array", "items": ["type": "object"]],
                    "field_reads": ["type": "array", "items": ["type": "object"]],
                ].asJSON,
                "required": ["tool_calls", "field_reads"],
            ],
            "session": ["type": ["string", "null"], "description": "The session's handle, to pass on the next call."],
            "attempt": ["type": "string", "description": "This call's id in the corpus, for the feedback tool."],
            "duration_ms": ["type": "number"],
            "files": [
                "type": "array",
                "description": "Files the code wrote under /output; their bytes follow as image or resource content.",
                "items": [
                    "type": "object",
                    "properties": ["name": ["type": "string"], "type": ["type": "string"], "size": ["type": "integer"]].asJSON,
                    "required": ["name", "type", "size"],
                ].asJSON,
            ],
        ].asJSON,
        "required": ["ok", "outcome", "stdout", "stderr", "session", "tool_calls"],
    ]

    // MARK: close_session

    static func closeSessionTool() -> MCP.Tool {
        MCP.Tool(
            name: closeSession,
            description: "Close a run_python session now (its variables are gone). Unused sessions also close by themselves.",
            inputSchema: schema([
                "type": "object",
                "properties": ["session": ["type": "string", "minLength": 1, "description": "The handle run_python returned."]].asJSON,
                "required": ["session"],
                "additionalProperties": false,
            ]),
            annotations: .init(title: "Close a run_python session", readOnlyHint: false, destructiveHint: true,
                               idempotentHint: true, openWorldHint: false),
            outputSchema: closeSessionOutput.mcpValue)
    }

    static let closeSessionOutput: JSONValue = [
        "type": "object",
        "properties": ["closed": ["type": "boolean"], "session": ["type": "string"]].asJSON,
        "required": ["closed", "session"],
    ]

    // MARK: validate_code

    static func validateCodeTool(_ context: Context) -> MCP.Tool {
        let kinds = context.kinds.sorted { $0.name < $1.name }
        let kindList = kinds.map { "`\($0.name)` (\($0.description))" }.joined(separator: "; ")
        var kindSchema: JSONValue = ["type": "string", "description": "The artifact kind; its rulesets apply."]
        if !kinds.isEmpty, case .object(var members) = kindSchema {
            members["enum"] = .array(kinds.map { .string($0.name) })
            kindSchema = .object(members)
        }
        return MCP.Tool(
            name: validateCode,
            description: """
                Check Python source against Crucible's rules without running it: tdom views and components \
                (`@view`, `Element` return, `html()` only with t-strings), svcs registrations, middleware, and \
                general correctness. Give `kind` (its rulesets) or `rulesets`. Returns each finding with its \
                rule, line, column, message and a hint; errors come back as a tool error with feedback to fix. \
                Kinds: \(kindList.isEmpty ? "none configured" : kindList).
                """,
            inputSchema: schema([
                "type": "object",
                "properties": [
                    "code": ["type": "string", "description": "The Python source to check."],
                    "kind": kindSchema,
                    "rulesets": ["type": "array", "items": ["type": "string"],
                                 "description": "Ruleset names (instead of kind), e.g. [\"core\", \"tdom\"]."],
                    "path": ["type": "string", "description": "The file name the code will have (in messages)."],
                    "artifact": ["type": "string",
                                 "description": "What this code is (a file or function name); repeated checks of one artifact are linked as failures and fixes."],
                ].asJSON,
                "required": ["code"],
                "additionalProperties": false,
            ]),
            annotations: .init(title: "Validate Python against Crucible's rules", readOnlyHint: true,
                               idempotentHint: true, openWorldHint: false),
            outputSchema: validateCodeOutput.mcpValue)
    }

    static let diagnosticSchema: JSONValue = [
        "type": "object",
        "properties": [
            "rule": ["type": "string"], "severity": ["type": "string", "enum": ["error", "warning"]],
            "message": ["type": "string"], "hint": ["type": "string"], "path": ["type": "string"],
            "line": ["type": "integer"], "column": ["type": "integer"], "end_line": ["type": "integer"],
            "end_column": ["type": "integer"],
        ].asJSON,
        "required": ["rule", "severity", "message", "line", "column"],
    ]

    static let validateCodeOutput: JSONValue = [
        "type": "object",
        "properties": [
            "passed": ["type": "boolean", "description": "No finding of severity error."],
            "diagnostics": ["type": "array", "items": diagnosticSchema],
            "feedback": ["type": ["string", "null"], "description": "The errors explained for a fix."],
            "attempt": ["type": "string", "description": "This call's id in the corpus, for the feedback tool."],
        ].asJSON,
        "required": ["passed", "diagnostics", "feedback"],
    ]

    // MARK: describe_tools

    static func describeToolsTool(_ context: Context) -> MCP.Tool {
        MCP.Tool(
            name: describeTools,
            description: "The tool functions `run_python` code may call: their typed Python API (signatures, docstrings, result classes) and the prompt text Crucible gives a model.",
            inputSchema: ["type": "object", "properties": [:], "additionalProperties": false].asJSON.mcpValue,
            annotations: .init(title: "Describe the sandbox's tool functions", readOnlyHint: true,
                               idempotentHint: true, openWorldHint: false),
            outputSchema: describeToolsOutput.mcpValue)
    }

    static let describeToolsOutput: JSONValue = [
        "type": "object",
        "properties": [
            "python_api": ["type": "string"],
            "prompt": ["type": "string"],
            "tools": ["type": "array", "items": [
                "type": "object", "properties": ["name": ["type": "string"], "description": ["type": "string"]],
                "required": ["name", "description"],
            ]],
        ].asJSON,
        "required": ["python_api", "prompt", "tools"],
    ]

    // MARK: generate_artifact

    static func generateArtifactTool(_ context: Context) -> MCP.Tool {
        let names = context.kinds.map(\.name).sorted()
        return MCP.Tool(
            name: generateArtifact,
            description: """
                Ask Crucible's configured model for an artifact and run the full loop: generate, validate, \
                run, feed the errors back and retry within a budget. Returns the final code, whether it \
                passed, and each attempt's findings. Kinds: \(names.joined(separator: ", ")).
                """,
            inputSchema: schema([
                "type": "object",
                "properties": [
                    "task": ["type": "string", "description": "What to write, as you would ask a developer."],
                    "kind": ["type": "string", "enum": .array(names.map { .string($0) })],
                    "max_retries": ["type": "integer", "minimum": 0, "maximum": 10,
                                    "description": "Retries after the first attempt (default: the server's)."],
                ].asJSON,
                "required": ["task", "kind"],
                "additionalProperties": false,
            ]),
            annotations: .init(title: "Generate an artifact with validation and retries", readOnlyHint: true,
                               openWorldHint: true),
            outputSchema: generateArtifactOutput.mcpValue)
    }

    static let generateArtifactOutput: JSONValue = [
        "type": "object",
        "properties": [
            "passed": ["type": "boolean"],
            "code": ["type": ["string", "null"], "description": "The last attempt's code."],
            "kind": ["type": "string"],
            "attempts": ["type": "array", "items": [
                "type": "object",
                "properties": [
                    "attempt": ["type": "integer"], "passed": ["type": "boolean"],
                    "diagnostics": ["type": "array", "items": diagnosticSchema],
                    "feedback": ["type": ["string", "null"]],
                ].asJSON,
                "required": ["attempt", "passed", "diagnostics", "feedback"],
            ]],
            "final_error": ["type": ["string", "null"]],
        ].asJSON,
        "required": ["passed", "code", "kind", "attempts", "final_error"],
    ]
}

/// A schema literal as the SDK's value.
private func schema(_ members: [String: JSONValue]) -> MCP.Value { JSONValue.object(members).mcpValue }

extension Dictionary where Key == String, Value == JSONValue {
    /// A literal dictionary of schemas as one JSON object (the literal's type is ambiguous otherwise).
    var asJSON: JSONValue { .object(self) }
}
