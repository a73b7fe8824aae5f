import Foundation

/// The job a worker runs. Encoded as a fixed binary header, the filename and the code as
/// raw UTF-8, then JSON only for what needs it (inputs and tool contracts): a fresh worker
/// reads its first job on cold caches, and `json.loads` (Python-level decoder, regexes)
/// cost it about 40 µs of the fresh path where `struct.unpack_from` costs a few.
///
/// Header (little-endian, `<BIQQQHII` in `worker.py`): flags (bit 0: keep alive), cell,
/// stdout limit, stderr limit, value limit, filename bytes, code bytes, extras bytes.
struct WorkerJob {
    var code: String
    var filename: String
    var inputs: [String: JSONValue]
    var keepAlive: Bool
    var limits: ExecutionLimits
    var tools: [ToolContract] = []
    /// A session's cell number (1 for one-shot jobs); tool calls are numbered across cells.
    var cell = 1

    func encoded() -> [UInt8] {
        var extras: [UInt8] = []
        if !inputs.isEmpty || !tools.isEmpty {
            var object: [String: JSONValue] = [:]
            if !inputs.isEmpty { object["inputs"] = .object(inputs) }
            if !tools.isEmpty { object["tools"] = .array(tools.map(\.mcpDefinition)) }
            JSONValue.object(object).write(to: &extras)
        }
        let name = Array(filename.utf8.prefix(Int(UInt16.max)))
        var out: [UInt8] = []
        out.reserveCapacity(Self.headerSize + name.count + code.utf8.count + extras.count)
        out.append(keepAlive ? 1 : 0)
        Self.append(UInt32(clamping: cell), to: &out)
        for limit in [limits.stdoutBytes, limits.stderrBytes, limits.valueBytes] {
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

    static let headerSize = 1 + 4 + 3 * 8 + 2 + 4 + 4

    private static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    /// Input names become Python variables: they must be identifiers and not keywords.
    static func validate(inputs: [String: JSONValue]) throws {
        for name in inputs.keys {
            guard let first = name.unicodeScalars.first, first == "_" || first.properties.isXIDStart,
                name.unicodeScalars.dropFirst().allSatisfy({ $0.properties.isXIDContinue }),
                !pythonKeywords.contains(name)
            else {
                throw SandboxError.invalidInput("\(name.debugDescription) is not a Python identifier")
            }
        }
    }

    static let pythonKeywords: Set<String> = [
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def",
        "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is",
        "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
    ]
}

/// The result frame, decoded defensively: anything unexpected makes it nil.
struct WireResult {
    var outcome: ExecutionOutcome
    var value: PythonValue?
    var error: PythonError?
    var reads: [(call: Int, path: String)] = []

    static func decode(_ payload: ArraySlice<UInt8>) -> WireResult? {
        guard let object = try? JSONValue(parsing: payload), let status = object["status"]?.stringValue else { return nil }
        var result = WireResult(outcome: .ok)
        for read in (object["reads"]?.arrayValue ?? []).prefix(10_000) {
            guard let pair = read.arrayValue, pair.count == 2, let call = pair[0].intValue, let path = pair[1].stringValue
            else { continue }
            result.reads.append((call, path))
        }
        switch status {
        case "ok":
            if let value = object["value"], value != .null {
                let type = value["type"]?.stringValue ?? "?"
                if let json = value["json"]?.stringValue {
                    result.value = .json(json, type: type)
                } else if let repr = value["repr"]?.stringValue {
                    result.value = .repr(repr, type: type, truncated: value["truncated"]?.intValue ?? 0)
                } else {
                    return nil
                }
            }
        case "error":
            guard let error = object["error"], case .object = error else { return nil }
            let frames = (error["frames"]?.arrayValue ?? []).compactMap { frame -> PythonError.Frame? in
                guard case .object = frame else { return nil }
                return PythonError.Frame(
                    file: frame["file"]?.stringValue ?? "?", line: frame["line"]?.intValue ?? 0,
                    function: frame["function"]?.stringValue ?? "?", text: frame["text"]?.stringValue ?? "")
            }
            result.error = PythonError(
                type: error["type"]?.stringValue ?? "?", message: error["message"]?.stringValue ?? "",
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
            return nil
        }
        return result
    }
}
