import Foundation

/// Why an execution ended. Every end has exactly one of these.
public enum ExecutionOutcome: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The code ran to the end.
    case ok
    /// The code raised; `ExecutionResult.error` has the type, message and traceback.
    case exception
    /// The code did not parse; `ExecutionResult.error` has the line and column.
    case syntaxError
    /// The host's wall clock ran out and it killed the worker.
    case timeout
    /// The worker used up its CPU time (RLIMIT_CPU).
    case cpuLimit
    /// The code ran out of memory (RLIMIT_AS): MemoryError or a failed allocation.
    case memoryLimit
    /// seccomp refused a system call and the worker was killed.
    case killedBySeccomp(syscall: String)
    /// The worker died without answering: a signal (SIGSEGV from C-level recursion, say) or an exit.
    case crashed(signal: Int32?, reason: String)
    /// The worker sent something that is not the protocol (an oversized or malformed frame).
    case protocolViolation(String)
    /// The sandbox itself failed (the zygote died, confinement failed); retrying may succeed.
    case sandboxFailure(String)
    /// The sandbox was at capacity (every worker slot busy and the queue full): the code never
    /// ran. Retrying later may succeed.
    case busy(String)
    /// The host stopped the execution before it ended (its session was closed, the server is
    /// shutting down); the reason says which.
    case cancelled(String)

    public var description: String {
        switch self {
        case .ok: return "ok"
        case .exception: return "exception"
        case .syntaxError: return "syntax error"
        case .timeout: return "timeout"
        case .cpuLimit: return "cpu limit"
        case .memoryLimit: return "memory limit"
        case .killedBySeccomp(let name): return "killed by seccomp (\(name))"
        case .crashed(_, let reason): return "crashed: \(reason)"
        case .protocolViolation(let detail): return "protocol violation: \(detail)"
        case .sandboxFailure(let detail): return "sandbox failure: \(detail)"
        case .cancelled(let reason): return "cancelled: \(reason)"
        case .busy(let detail): return detail
        }
    }

    /// A short stable name for scripts (`--json`).
    public var name: String {
        switch self {
        case .ok: return "ok"
        case .exception: return "exception"
        case .syntaxError: return "syntax_error"
        case .timeout: return "timeout"
        case .cpuLimit: return "cpu_limit"
        case .memoryLimit: return "memory_limit"
        case .killedBySeccomp: return "killed_by_seccomp"
        case .crashed: return "crashed"
        case .protocolViolation: return "protocol_violation"
        case .sandboxFailure: return "sandbox_failure"
        case .cancelled: return "cancelled"
        case .busy: return "busy"
        }
    }
}

/// The value of the code's last expression.
public enum PythonValue: Equatable, Hashable, Sendable {
    /// A value JSON can hold (a dict, list, tuple, str, int, float, bool or None, or a tool
    /// result): decoded once, where it left the worker, and its text as Python wrote it.
    case json(JSONValue, text: String, type: String)
    /// Its `repr()`, for values JSON cannot hold; `truncated` counts characters cut off.
    case repr(String, type: String, truncated: Int)

    /// The value, or nil for a repr.
    public var json: JSONValue? {
        if case .json(let value, _, _) = self { return value }
        return nil
    }

    /// How a person would read it: JSON text (Python's spacing), or the repr.
    public var text: String {
        switch self {
        case .json(_, let text, _): return text
        case .repr(let text, _, let truncated): return truncated > 0 ? text + "… [\(truncated) more characters]" : text
        }
    }

    /// The Python type name (`int`, `dict`, `MyClass`).
    public var pythonType: String {
        switch self {
        case .json(_, _, let type), .repr(_, let type, _): return type
        }
    }
}

/// A Python error, with a traceback that shows only the user's code.
public struct PythonError: Equatable, Hashable, Sendable {
    public struct Frame: Equatable, Hashable, Sendable {
        public var file: String
        public var line: Int
        public var function: String
        public var text: String
    }
    /// The exception's class name (`ZeroDivisionError`).
    public var type: String
    public var message: String
    /// The formatted traceback, user frames only, ending with `Type: message`.
    public var traceback: String
    public var frames: [Frame]
    /// Where it happened: the innermost user frame, or a syntax error's position (1-based).
    public var line: Int?
    public var column: Int?
    public var endLine: Int?
    public var endColumn: Int?
    /// For syntax errors, the offending source line.
    public var sourceLine: String?
}

/// Everything an execution produced.
public struct ExecutionResult: Sendable {
    public var outcome: ExecutionOutcome
    /// The last expression's value, when the code ended with one that is not None.
    public var value: PythonValue?
    public var stdout: String
    public var stderr: String
    /// Bytes of stdout/stderr beyond the cap that were dropped (the text ends with a marker).
    public var stdoutTruncatedBytes: Int
    public var stderrTruncatedBytes: Int
    public var error: PythonError?
    /// Wall time from handing the job to the worker to its answer (or end).
    public var duration: Duration
    /// CPU time the worker used, when the worker's end was observed.
    public var cpuTime: Duration?
    /// The tool calls the code made and the result fields it read.
    public var trace = ExecutionTrace()
    /// What the code wrote under /output (empty when it wrote nothing there).
    public var files: [OutputFile] = []

    public var succeeded: Bool { outcome == .ok }

    public init(
        outcome: ExecutionOutcome, value: PythonValue? = nil, stdout: String = "", stderr: String = "",
        stdoutTruncatedBytes: Int = 0, stderrTruncatedBytes: Int = 0, error: PythonError? = nil, duration: Duration = .zero,
        cpuTime: Duration? = nil, trace: ExecutionTrace = ExecutionTrace()
    ) {
        self.outcome = outcome
        self.value = value
        self.stdout = stdout
        self.stderr = stderr
        self.stdoutTruncatedBytes = stdoutTruncatedBytes
        self.stderrTruncatedBytes = stderrTruncatedBytes
        self.error = error
        self.duration = duration
        self.cpuTime = cpuTime
        self.trace = trace
    }

    /// The marker appended to captured output that hit its cap.
    public static func truncationMarker(droppedBytes: Int) -> String {
        "\n[crucible: output truncated, \(droppedBytes) more bytes dropped]\n"
    }
}

/// The stable JSON shape of a result, shared by `crucible run --json`, `crucible serve`,
/// MCP and the corpus: snake_case names, the outcome as a short name plus a sentence, the
/// value (or its repr), the error and the trace. Encoded once, where the result leaves.
extension ExecutionResult: Encodable {
    enum CodingKeys: String, CodingKey {
        case outcome, outcomeDetail = "outcome_detail", stdout, stderr
        case stdoutTruncatedBytes = "stdout_truncated_bytes", stderrTruncatedBytes = "stderr_truncated_bytes"
        case durationMS = "duration_ms", trace, syscall, signal, value, valueRepr = "value_repr", valueType = "value_type"
        case valueTruncatedChars = "value_truncated_chars", error, files
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(outcome.name, forKey: .outcome)
        try container.encode(outcome.description, forKey: .outcomeDetail)
        try container.encode(stdout, forKey: .stdout)
        try container.encode(stderr, forKey: .stderr)
        try container.encode(stdoutTruncatedBytes, forKey: .stdoutTruncatedBytes)
        try container.encode(stderrTruncatedBytes, forKey: .stderrTruncatedBytes)
        try container.encode(duration.milliseconds, forKey: .durationMS)
        try container.encode(trace, forKey: .trace)
        if case .killedBySeccomp(let name) = outcome { try container.encode(name, forKey: .syscall) }
        if case .crashed(let signal?, _) = outcome { try container.encode(Int(signal), forKey: .signal) }
        switch value {
        case .json(let json, _, let type)?:
            try container.encode(json, forKey: .value)
            try container.encode(type, forKey: .valueType)
        case .repr(let text, let type, let truncated)?:
            try container.encode(text, forKey: .valueRepr)
            try container.encode(type, forKey: .valueType)
            if truncated > 0 { try container.encode(truncated, forKey: .valueTruncatedChars) }
        case nil: break
        }
        try container.encodeIfPresent(error, forKey: .error)
        if !files.isEmpty { try container.encode(files, forKey: .files) }
    }

    /// The result in its JSON shape: what `encode(to:)` writes, built directly (through the
    /// Encoder it was a good part of the host's CPU on every serve reply). The rarer parts
    /// (an error, files, a trace with calls) still go through their own `encode(to:)`.
    public var jsonObject: JSONValue {
        var members: [String: JSONValue] = [
            "outcome": .string(outcome.name), "outcome_detail": .string(outcome.description),
            "stdout": .string(stdout), "stderr": .string(stderr),
            "stdout_truncated_bytes": .int(stdoutTruncatedBytes), "stderr_truncated_bytes": .int(stderrTruncatedBytes),
            "duration_ms": .double(duration.milliseconds), "trace": trace.jsonObject,
        ]
        if case .killedBySeccomp(let name) = outcome { members["syscall"] = .string(name) }
        if case .crashed(let signal?, _) = outcome { members["signal"] = .int(Int(signal)) }
        switch value {
        case .json(let json, _, let type)?:
            members["value"] = json
            members["value_type"] = .string(type)
        case .repr(let text, let type, let truncated)?:
            members["value_repr"] = .string(text)
            members["value_type"] = .string(type)
            if truncated > 0 { members["value_truncated_chars"] = .int(truncated) }
        case nil: break
        }
        if let error { members["error"] = (try? JSONValueEncoder().encode(error)) ?? .null }
        if !files.isEmpty { members["files"] = (try? JSONValueEncoder().encode(files)) ?? .null }
        return .object(members)
    }
}

extension PythonError: Encodable {
    enum CodingKeys: String, CodingKey {
        case type, message, traceback, frames, line, column, endLine = "end_line", endColumn = "end_column"
        case sourceLine = "source_line"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        try container.encode(message, forKey: .message)
        try container.encode(traceback, forKey: .traceback)
        try container.encode(frames, forKey: .frames)
        try container.encodeIfPresent(line, forKey: .line)
        try container.encodeIfPresent(column, forKey: .column)
        try container.encodeIfPresent(endLine, forKey: .endLine)
        try container.encodeIfPresent(endColumn, forKey: .endColumn)
        try container.encodeIfPresent(sourceLine, forKey: .sourceLine)
    }
}

extension PythonError.Frame: Encodable {}
