import Foundation

/// A numeric setting's name, unit and allowed range. Every number that comes from outside (a
/// CLI flag, a `serve` or MCP argument, `pyproject.toml`, a model server's header) is checked
/// against one of these before it becomes a duration, a size or a count, so an absurd value
/// (1e300, 1e400, a negative size) gets an error naming the setting and its range instead of
/// trapping a conversion.
public struct SettingRange: Sendable {
    public let name: String
    /// What the number counts ("seconds", "MiB"); empty for plain counts.
    public let unit: String
    public let minimum: Double
    public let maximum: Double
    /// Whether only whole numbers are allowed.
    public let integer: Bool

    public init(_ name: String, unit: String = "", _ range: ClosedRange<Double>, integer: Bool = false) {
        self.name = name
        self.unit = unit
        self.minimum = range.lowerBound
        self.maximum = range.upperBound
        self.integer = integer
    }

    public struct OutOfRange: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// "between 0.01 and 3600 seconds", "an integer between 1 and 100000".
    public var rangeText: String {
        let bounds = "between \(Self.format(minimum)) and \(Self.format(maximum))" + (unit.isEmpty ? "" : " \(unit)")
        return integer ? "an integer " + bounds : bounds
    }

    /// The value, if it is in range; `label` names it as the caller spelled it (`--timeout`).
    public func check(_ value: Double, as label: String? = nil) throws(OutOfRange) -> Double {
        guard value.isFinite, value >= minimum, value <= maximum, !integer || value.rounded() == value else {
            throw OutOfRange(description: "\(label ?? name) must be \(rangeText), got \(Self.format(value))")
        }
        return value
    }

    public func check(_ value: Int, as label: String? = nil) throws(OutOfRange) -> Int {
        Int(try check(Double(value), as: label))
    }

    /// A JSON argument: a number in range, or an error that also says when it is not a number.
    public func check(json value: JSONValue, as label: String? = nil) throws(OutOfRange) -> Double {
        guard let number = value.numberValue else {
            throw OutOfRange(description: "\(label ?? name) must be \(rangeText), got \(value.jsonText.prefix(40))")
        }
        return try check(number, as: label)
    }

    /// A whole-number JSON argument.
    public func checkInt(json value: JSONValue, as label: String? = nil) throws(OutOfRange) -> Int {
        Int(try check(json: value, as: label))
    }

    /// A checked number of seconds as a Duration.
    public func seconds(_ value: Double, as label: String? = nil) throws(OutOfRange) -> Duration {
        .milliseconds(Int64((try check(value, as: label) * 1000).rounded()))
    }

    static func format(_ value: Double) -> String {
        if value.isFinite && value.rounded() == value && abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

extension SettingRange {
    /// Wall-clock limit of one execution or cell.
    public static let timeout = SettingRange("timeout", unit: "seconds", 0.01...3600)
    /// Memory a worker's code may map.
    public static let memoryMB = SettingRange("memory_mb", unit: "MiB", 16...65536, integer: true)
    /// Captured stdout or stderr kept per execution.
    public static let outputBytes = SettingRange("output_limit", unit: "bytes", 0...Double(1 << 30), integer: true)
    /// How long a persistent session may sit unused.
    public static let idleTimeout = SettingRange("idle_timeout", unit: "seconds", 0.05...86400)
    /// One tool call's limit.
    public static let toolTimeout = SettingRange("tool_timeout", unit: "seconds", 0.01...3600)
    /// Tool calls one execution may make.
    public static let toolCalls = SettingRange("calls_per_execution", 1...100_000, integer: true)
    /// Largest tool result, as JSON bytes.
    public static let resultBytes = SettingRange("result_bytes", unit: "bytes", 1...Double(256 << 20), integer: true)
    /// Confined workers kept forked and waiting.
    public static let poolSize = SettingRange("pool_size", 0...256, integer: true)
    /// Executions running at once, and waiting for a turn.
    public static let runningExecutions = SettingRange("max_running", 1...4096, integer: true)
    public static let queuedExecutions = SettingRange("max_queued", 0...1_000_000, integer: true)
    /// Sessions a server keeps open at once.
    public static let sessions = SettingRange("max_sessions", 0...100_000, integer: true)
    /// The retry loop's budget and the model client's.
    public static let maxRetries = SettingRange("max_retries", 0...100, integer: true)
    public static let httpAttempts = SettingRange("http_attempts", 1...20, integer: true)
    public static let requestTimeout = SettingRange("request_timeout", unit: "seconds", 0.1...3600)
    public static let temperature = SettingRange("temperature", 0...10)
    public static let maxTokens = SettingRange("max_tokens", 1...10_000_000, integer: true)
    public static let concurrency = SettingRange("concurrency", 1...256, integer: true)
    /// Export gates.
    public static let exportCount = SettingRange("count", 1...1_000_000_000, integer: true)
    /// Seconds another MCP server may take to start.
    public static let startTimeout = SettingRange("tools_from_timeout", unit: "seconds", 0.1...3600)
    /// How long a corpus record waits for others to share its transaction.
    public static let corpusBatch = SettingRange("corpus_batch_ms", unit: "ms", 0...60_000, integer: true)
}
