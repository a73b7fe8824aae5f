import Foundation

/// The job a worker runs. Encoded as a fixed binary header, the filename and the code as
/// raw UTF-8, then JSON only for what needs it (inputs and tool contracts): a fresh worker
/// reads its first job on cold caches, where `json.loads` (Python-level decoder, regexes)
/// costs an order of magnitude more than `struct.unpack_from` (BENCHMARKS.md, "Design
/// measurements": job header).
///
/// Header (little-endian; `JOB_HEADER` in `Sandbox/python/crucible_sandbox/wire.py`): flags (bit 0: keep alive), cell,
/// token (echoed in the result frame), stdout limit, stderr limit, value limit, filename
/// bytes, code bytes, extras bytes.
package struct WorkerJob {
    package var code: String
    package var filename: String
    package var inputs: [String: JSONValue]
    package var keepAlive: Bool
    /// Captured stdout and stderr kept, and the largest value text, in bytes (the worker caps them).
    package var stdoutLimit: Int
    package var stderrLimit: Int
    package var valueLimit: Int
    /// The tools' MCP definitions: the worker builds typed functions from them.
    package var tools: [JSONValue] = []
    /// A session's cell number (1 for one-shot jobs); tool calls are numbered across cells.
    package var cell = 1
    /// Set per job by the host; the worker's result frame must carry it.
    package var token: UInt64 = 0
    /// Bytes the files written under /output may hold (sent only when not the default, which
    /// the worker knows: a fresh worker then parses no JSON for it).
    package var filesLimit = WorkerJob.defaultFilesLimit
    package static let defaultFilesLimit = 8 << 20
    /// What the code's `sys.stdin` reads (nil: nothing, an empty stream).
    package var stdin: String?
    /// Files the code may read under /output (SandboxFusion's `files`); only files the code
    /// writes come back.
    package var inputFiles: [OutputFile] = []
    /// Relative paths name files under /output, as if it were the working folder.
    package var relativeToOutput = false

    package init(
        code: String, filename: String, inputs: [String: JSONValue], keepAlive: Bool, stdoutLimit: Int, stderrLimit: Int,
        valueLimit: Int, tools: [JSONValue] = [], cell: Int = 1
    ) {
        self.code = code
        self.filename = filename
        self.inputs = inputs
        self.keepAlive = keepAlive
        self.stdoutLimit = stdoutLimit
        self.stderrLimit = stderrLimit
        self.valueLimit = valueLimit
        self.tools = tools
        self.cell = cell
    }

    package func encoded() -> [UInt8] {
        var extras: [UInt8] = []
        if !inputs.isEmpty || !tools.isEmpty || filesLimit != Self.defaultFilesLimit || stdin != nil || !inputFiles.isEmpty
            || relativeToOutput
        {
            var object: [String: JSONValue] = [:]
            if !inputs.isEmpty { object["inputs"] = .object(inputs) }
            if !tools.isEmpty { object["tools"] = .array(tools) }
            if filesLimit != Self.defaultFilesLimit { object["files_limit"] = .int(filesLimit) }
            if let stdin { object["stdin"] = .string(stdin) }
            if !inputFiles.isEmpty {
                object["files_in"] = .object(Dictionary(
                    inputFiles.map { ($0.name, JSONValue.string(Data($0.data).base64EncodedString())) }, uniquingKeysWith: { $1 }))
            }
            if relativeToOutput { object["relative_to_output"] = true }
            JSONValue.object(object).write(to: &extras)
        }
        let name = Array(filename.utf8.prefix(Int(UInt16.max)))
        var out: [UInt8] = []
        out.reserveCapacity(Self.headerSize + name.count + code.utf8.count + extras.count)
        out.append(keepAlive ? 1 : 0)
        Self.append(UInt32(clamping: cell), to: &out)
        Self.append(token, to: &out)
        for limit in [stdoutLimit, stderrLimit, valueLimit] {
            Self.append(UInt64(clamping: limit), to: &out)
        }
        Self.append(UInt16(name.count), to: &out)
        Self.append(UInt32(clamping: code.utf8.count), to: &out)
        Self.append(UInt32(clamping: extras.count), to: &out)
        out += name
        out += code.utf8
        out += extras
        return out
    }

    package static let headerSize = 1 + 4 + 4 * 8 + 2 + 4 + 4

    private static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    /// Input names become Python variables: they must be identifiers and not keywords.
    package static func invalidInputName(in inputs: [String: JSONValue]) -> String? {
        inputs.keys.sorted().first { !PythonNames.isIdentifier($0) }
    }
}

/// The result frame's JSON, decoded strictly: the worker's runtime always writes this shape,
/// so anything else was written by the code and is a protocol violation.
package struct WireResult {
    package var outcome: ExecutionOutcome
    package var value: PythonValue?
    package var error: PythonError?
    package var reads: [(call: Int, path: String)] = []
    /// Data flows the worker reports (unchecked: the tool handler checks them).
    package var flows: [ReportedFlow] = []
    package var files: [OutputFile] = []

    /// Field reads kept per execution (the worker's runtime stops recording at the same number).
    package static let maxReads = 10_000

    /// `filesLimit`: the bytes the job allowed under /output; the runtime never sends more.
    package static func decode(_ payload: ArraySlice<UInt8>, filesLimit: Int = WorkerJob.defaultFilesLimit)
        throws(WorkerProtocolViolation) -> WireResult
    {
        func bad(_ what: String) -> WorkerProtocolViolation { WorkerProtocolViolation("the result frame \(what)") }
        guard let object = try? JSONValue(parsing: payload), case .object = object else { throw bad("is not a JSON object") }
        var result = WireResult(outcome: .ok)
        if let files = object["files"] {
            guard let list = files.arrayValue, list.count <= OutputFile.maxCount else {
                throw bad("has files that are not a list of at most \(OutputFile.maxCount)")
            }
            var total = 0
            for file in list {
                guard let name = file["name"]?.stringValue, OutputFile.isSafeName(name) else {
                    throw bad("has a file whose name is not a safe relative path")
                }
                guard let text = file["base64"]?.stringValue, let data = Data(base64Encoded: text) else {
                    throw bad("has a file \(name.debugDescription) whose bytes are not base64")
                }
                total += data.count
                guard total <= filesLimit else { throw bad("has files over the \(filesLimit)-byte limit") }
                guard !result.files.contains(where: { $0.name == name }) else { throw bad("names the file \(name.debugDescription) twice") }
                result.files.append(OutputFile(name: name, data: Array(data)))
            }
        }
        if let reads = object["reads"] {
            guard let list = reads.arrayValue else { throw bad("has reads that are not a list") }
            for read in list.prefix(maxReads) {
                guard let pair = read.arrayValue, pair.count == 2, let call = pair[0].intValue, call >= 0,
                    let path = pair[1].stringValue
                else { throw bad("has a field read that is not [call, path]") }
                result.reads.append((call, path))
            }
        }
        if let flows = object["flows"] {
            guard let list = flows.arrayValue else { throw bad("has flows that are not a list") }
            for flow in list.prefix(ReportedFlow.maxCount) {
                guard let items = flow.arrayValue, items.count == 4, let from = items[0].intValue, from >= 0,
                    let fromPath = items[1].stringValue, let to = items[2].intValue, to >= 0, let argument = items[3].stringValue
                else { throw bad("has a flow that is not [call, path, call, argument]") }
                result.flows.append(ReportedFlow(fromCall: from, fromPath: fromPath, toCall: to, argument: argument))
            }
        }
        switch object["status"]?.stringValue {
        case "ok"?:
            guard let value = object["value"], value != .null else { break }
            guard let type = value["type"]?.stringValue else { throw bad("has a value without a type") }
            if let json = value["json"]?.stringValue {
                // Decoded here, once: whoever reads the value later gets it, and knows it is JSON.
                guard let decoded = try? JSONValue(parsing: json) else { throw bad("has a value whose JSON does not parse") }
                result.value = .json(decoded, text: json, type: type)
            } else if let repr = value["repr"]?.stringValue {
                let truncated = value["truncated"]?.intValue ?? 0
                guard truncated >= 0 else { throw bad("has a negative truncation count") }
                result.value = .repr(repr, type: type, truncated: truncated)
            } else {
                throw bad("has a value that is neither json nor repr")
            }
        case "error"?:
            guard let error = object["error"], case .object = error, let type = error["type"]?.stringValue else {
                throw bad("has an error without a type")
            }
            var frames: [PythonError.Frame] = []
            for frame in error["frames"]?.arrayValue ?? [] {
                guard case .object = frame else { throw bad("has a traceback frame that is not an object") }
                frames.append(PythonError.Frame(
                    file: frame["file"]?.stringValue ?? "?", line: frame["line"]?.intValue ?? 0,
                    function: frame["function"]?.stringValue ?? "?", text: frame["text"]?.stringValue ?? ""))
            }
            result.error = PythonError(
                type: type, message: error["message"]?.stringValue ?? "",
                traceback: error["traceback"]?.stringValue ?? "", frames: frames,
                line: error["line"]?.intValue, column: error["column"]?.intValue,
                endLine: error["end_line"]?.intValue, endColumn: error["end_column"]?.intValue,
                sourceLine: error["text"]?.stringValue)
            switch error["kind"]?.stringValue {
            case "syntax": result.outcome = .syntaxError
            case "memory": result.outcome = .memoryLimit
            default: result.outcome = .exception
            }
        default:
            throw bad("has no status \"ok\" or \"error\"")
        }
        return result
    }
}

/// A tool call frame's JSON, as the worker's runtime writes it.
package struct ToolCallFrame {
    package var name: String
    package var arguments: JSONValue

    /// Throws for a frame the runtime never writes (not JSON, no tool name, arguments not an object).
    package init(_ payload: ArraySlice<UInt8>) throws(WorkerProtocolViolation) {
        guard let request = try? JSONValue(parsing: payload), let name = request["name"]?.stringValue,
            let arguments = request["arguments"], case .object = arguments
        else { throw WorkerProtocolViolation("a tool call frame that is not {\"name\": string, \"arguments\": object}") }
        self.name = name
        self.arguments = arguments
    }
}

/// A data flow as the worker reports it: result field of one call -> argument of a later one.
public struct ReportedFlow: Equatable, Sendable {
    public var fromCall: Int
    public var fromPath: String
    public var toCall: Int
    public var argument: String

    public init(fromCall: Int, fromPath: String, toCall: Int, argument: String) {
        self.fromCall = fromCall
        self.fromPath = fromPath
        self.toCall = toCall
        self.argument = argument
    }

    /// Kept per execution (the worker's runtime stops recording at the same number).
    public static let maxCount = 1_000
}
