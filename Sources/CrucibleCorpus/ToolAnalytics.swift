import CrucibleWire
import GRDB

/// What the recorded code did with its tools, over the whole corpus: per tool, calls by
/// outcome, latency and result size; per result field, how often code read it and how often
/// results had it null; which tool follows which; which result fields flow into which
/// arguments. Computed from the `tool_calls` and `data_flows` rows (SQL does the counting).
public struct ToolAnalytics: Sendable {
    public struct Field: Sendable {
        public var path: String
        /// Calls whose result had this path (or its contract declared it), and occurrences in them.
        public var calls = 0
        public var occurrences = 0
        public var nulls = 0
        /// Calls whose result the code read this field of (a call's reads are distinct paths).
        public var reads = 0

        public var nullRate: Double { occurrences == 0 ? 0 : Double(nulls) / Double(occurrences) }
    }

    public struct Tool: Sendable {
        public var name: String
        public var calls = 0
        public var outcomes: [String: Int] = [:]
        public var latencyP50MS = 0.0
        public var latencyP95MS = 0.0
        public var resultBytesP50 = 0
        public var resultBytesP95 = 0
        public var fields: [String: Field] = [:]

        public var errorRate: Double { calls == 0 ? 0 : Double(calls - (outcomes["ok"] ?? 0)) / Double(calls) }
    }

    public struct Flow: Sendable, Equatable {
        public var fromTool: String
        public var fromPath: String
        public var toTool: String
        public var argument: String
        public var count: Int
    }

    public var tools: [String: Tool] = [:]
    /// "a -> b": how often a call to b came right after a call to a in one execution.
    public var bigrams: [(from: String, to: String, count: Int)] = []
    public var flows: [Flow] = []

    /// A field is flagged as a likely tool bug when it is null in every result over at least
    /// this many calls: fewer could be chance (an optional field that happened to be empty).
    public static let minimumCallsForFlag = 5

    /// Fields null in every result, over enough calls: the tool most likely never fills them.
    public var likelyBugs: [(tool: String, field: Field)] {
        tools.values.flatMap { tool in
            tool.fields.values.filter { $0.nulls == $0.occurrences && $0.calls >= Self.minimumCallsForFlag }.map { (tool.name, $0) }
        }.sorted { ($0.tool, $0.field.path) < ($1.tool, $1.field.path) }
    }

    static func load(_ db: Database) throws -> ToolAnalytics {
        var analytics = ToolAnalytics()
        // One scan for outcomes, latencies and sizes (a query per tool rescanned the table).
        var latencies: [String: [Double]] = [:]
        var sizes: [String: [Int]] = [:]
        let calls = try Row.fetchCursor(db, sql: "SELECT tool, outcome, duration_ms, result_bytes FROM tool_calls")
        while let row = try calls.next() {
            let name: String = row[0]
            let outcome: String = row[1]
            analytics.tools[name, default: Tool(name: name)].calls += 1
            analytics.tools[name]!.outcomes[outcome, default: 0] += 1
            if let latency = row[2] as Double? { latencies[name, default: []].append(latency) }
            if outcome == "ok", let size = row[3] as Int? { sizes[name, default: []].append(size) }
        }
        for name in analytics.tools.keys {
            let sortedLatencies = (latencies[name] ?? []).sorted()
            let sortedSizes = (sizes[name] ?? []).sorted()
            analytics.tools[name]!.latencyP50MS = percentile(sortedLatencies, 0.5) ?? 0
            analytics.tools[name]!.latencyP95MS = percentile(sortedLatencies, 0.95) ?? 0
            analytics.tools[name]!.resultBytesP50 = percentile(sortedSizes, 0.5) ?? 0
            analytics.tools[name]!.resultBytesP95 = percentile(sortedSizes, 0.95) ?? 0
        }
        for row in try Row.fetchAll(db, sql: """
            SELECT t.tool, f.key, COUNT(*), SUM(json_extract(f.value, '$[0]')), SUM(json_extract(f.value, '$[1]'))
            FROM tool_calls t, json_each(t.result_fields) f
            WHERE t.result_fields IS NOT NULL
            GROUP BY t.tool, f.key
            """) {
            let (name, path): (String, String) = (row[0], row[1])
            analytics.tools[name, default: Tool(name: name)].fields[path] = Field(
                path: path, calls: row[2], occurrences: row[3], nulls: row[4])
        }
        for row in try Row.fetchAll(db, sql: """
            SELECT t.tool, r.value, COUNT(*)
            FROM tool_calls t, json_each(t.fields_read) r
            GROUP BY t.tool, r.value
            """) {
            let (name, path): (String, String) = (row[0], row[1])
            analytics.tools[name, default: Tool(name: name)].fields[path, default: Field(path: path)].reads = row[2]
        }
        analytics.bigrams = try Row.fetchAll(db, sql: """
            SELECT a.tool, b.tool, COUNT(*) FROM tool_calls a
            JOIN tool_calls b ON b.attempt_id = a.attempt_id AND b.position = a.position + 1
            GROUP BY a.tool, b.tool ORDER BY COUNT(*) DESC, a.tool, b.tool
            """).map { ($0[0], $0[1], $0[2]) }
        analytics.flows = try Row.fetchAll(db, sql: """
            SELECT from_tool, from_path, to_tool, argument, COUNT(*) FROM data_flows
            GROUP BY from_tool, from_path, to_tool, argument ORDER BY COUNT(*) DESC, from_tool, from_path
            """).map { Flow(fromTool: $0[0], fromPath: $0[1], toTool: $0[2], argument: $0[3], count: $0[4]) }
        return analytics
    }

    /// Nearest-rank percentile of sorted values.
    static func percentile<T>(_ sorted: [T], _ p: Double) -> T? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    static func rounded(_ value: Double, _ places: Double = 1000) -> Double { (value * places).rounded() / places }

    /// `tools` in `crucible corpus stats --json`: `tools.get_user.calls`,
    /// `tools.get_user.fields.email.null_rate`, plus `tool_sequences` and `data_flows` beside it.
    public var json: JSONValue {
        .object(tools.mapValues { tool in
            let ok = tool.outcomes["ok"] ?? 0
            return [
                "calls": .int(tool.calls),
                "outcomes": .object(tool.outcomes.mapValues { .int($0) }),
                "error_rate": .double(Self.rounded(tool.errorRate, 10000)),
                "latency_ms": ["p50": .double(Self.rounded(tool.latencyP50MS)), "p95": .double(Self.rounded(tool.latencyP95MS))],
                "result_bytes": ["p50": .int(tool.resultBytesP50), "p95": .int(tool.resultBytesP95)],
                "fields": .object(tool.fields.mapValues { field in
                    [
                        "reads": .int(field.reads),
                        "read_rate": .double(ok == 0 ? 0 : Self.rounded(Double(field.reads) / Double(ok), 10000)),
                        "calls": .int(field.calls),
                        "occurrences": .int(field.occurrences),
                        "nulls": .int(field.nulls),
                        "null_rate": .double(Self.rounded(field.nullRate, 10000)),
                        "likely_bug": .bool(field.nulls == field.occurrences && field.calls >= Self.minimumCallsForFlag),
                    ]
                }),
            ]
        })
    }

    public var sequencesJSON: JSONValue {
        .array(bigrams.map { ["from": .string($0.from), "to": .string($0.to), "count": .int($0.count)] })
    }

    public var flowsJSON: JSONValue {
        .array(flows.map {
            ["from": .string("\($0.fromTool).\($0.fromPath)"), "to": .string("\($0.toTool)(\($0.argument))"),
             "from_tool": .string($0.fromTool), "from_path": .string($0.fromPath),
             "to_tool": .string($0.toTool), "argument": .string($0.argument), "count": .int($0.count)]
        })
    }

    /// Lines for `crucible corpus stats` (text).
    public var text: [String] {
        guard !tools.isEmpty else { return ["tools: no tool calls recorded"] }
        var lines = ["tools:"]
        for tool in tools.values.sorted(by: { ($1.calls, $0.name) < ($0.calls, $1.name) }) {
            let errors = tool.outcomes.filter { $0.key != "ok" }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            lines.append("  \(tool.name): \(tool.calls) calls" + (errors.isEmpty ? "" : " (" + errors.joined(separator: ", ") + ")")
                + String(format: ", p50 %.1f ms, p95 %.1f ms", tool.latencyP50MS, tool.latencyP95MS))
        }
        for (tool, field) in likelyBugs {
            lines.append("  LIKELY TOOL BUG: \(tool).\(field.path) was null in all \(field.occurrences) results of \(field.calls) calls"
                + (field.reads > 0 ? ", and code read it \(field.reads) times" : ""))
        }
        if !bigrams.isEmpty {
            lines.append("  sequences: " + bigrams.prefix(5).map { "\($0.from) -> \($0.to) (\($0.count))" }.joined(separator: ", "))
        }
        if !flows.isEmpty {
            lines.append("  data flows: " + flows.prefix(5).map { "\($0.fromTool).\($0.fromPath) -> \($0.toTool)(\($0.argument)) (\($0.count))" }.joined(separator: ", "))
        }
        return lines
    }
}

extension CorpusStore {
    public func toolAnalytics() throws -> ToolAnalytics {
        do { return try pool.read { db in try ToolAnalytics.load(db) } } catch { throw Self.explain(error, doing: "reading", at: path) }
    }
}
