import CrucibleWire
/// `crucible corpus stats`: per kind and overall, the figures that say whether the corpus is
/// any good: sessions, attempts, pass at first attempt, pass within budget, mean attempts,
/// the rules that fail most, what the derived examples would be, and what the latest
/// export's gates removed.
public struct CorpusStats: Sendable {
    public struct Figures: Sendable {
        public var sessions = 0
        public var attempts = 0
        public var passedFirstAttempt = 0
        public var passedWithinBudget = 0
        public var failedSessions = 0
        public var failedRules: [String: Int] = [:]
        public var positives = 0
        public var pairs = 0
        public var negatives = 0
        public var bySource: [String: Int] = [:]
        /// Sessions by how many attempts they took.
        public var attemptsHistogram: [Int: Int] = [:]

        public var meanAttempts: Double { sessions == 0 ? 0 : Double(attempts) / Double(sessions) }

        public func topRules(_ count: Int) -> [(rule: String, count: Int)] {
            failedRules.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.prefix(count).map { ($0.key, $0.value) }
        }

        public var json: JSONValue {
            [
                "sessions": .int(sessions), "attempts": .int(attempts), "passed_first_attempt": .int(passedFirstAttempt),
                "passed_within_budget": .int(passedWithinBudget), "failed_sessions": .int(failedSessions),
                "pass_rate_first_attempt": .double(rate(passedFirstAttempt)),
                "pass_rate_within_budget": .double(rate(passedWithinBudget)),
                "mean_attempts": .double((meanAttempts * 1000).rounded() / 1000),
                "top_failed_rules": .array(topRules(10).map { ["rule": .string($0.rule), "count": .int($0.count)] }),
                "examples": ["positives": .int(positives), "pairs": .int(pairs), "negatives": .int(negatives)],
                "sources": .object(bySource.mapValues { .int($0) }),
                "attempts_histogram": .object(Dictionary(uniqueKeysWithValues: attemptsHistogram.map { (String($0.key), .int($0.value)) })),
            ]
        }

        func rate(_ count: Int) -> Double { sessions == 0 ? 0 : (Double(count) / Double(sessions) * 10000).rounded() / 10000 }
    }

    public var overall = Figures()
    public var kinds: [String: Figures] = [:]
    /// Failing attempts per rule per day (`YYYY-MM-DD`), for "rules over time".
    public var rulesByDay: [String: [String: Int]] = [:]
    public var latestExport: (format: String, createdAt: String, report: JSONValue)?
    /// Tool analytics (`CorpusStore.toolAnalytics`), when loaded.
    public var tools: ToolAnalytics?
    /// User feedback by verdict (accepted, edited, rejected).
    public var feedback: [String: Int] = [:]

    public init(attempts: [CorpusAttempt], latestExport: (format: String, createdAt: String, report: JSONValue)? = nil) {
        self.latestExport = latestExport
        var index = 0
        while index < attempts.count {
            var end = index
            while end < attempts.count && attempts[end].episodeID == attempts[index].episodeID { end += 1 }
            let session = Array(attempts[index..<end])
            add(session, to: &overall)
            add(session, to: &kinds[session[0].kind, default: Figures()])
            for attempt in session where !attempt.passed {
                let day = String(attempt.startedAt.prefix(10))
                for rule in Set(attempt.failureLabels) {
                    rulesByDay[rule, default: [:]][day, default: 0] += 1
                }
            }
            index = end
        }
    }

    private func add(_ session: [CorpusAttempt], to figures: inout Figures) {
        figures.sessions += 1
        figures.attempts += session.count
        figures.bySource[session[0].source, default: 0] += 1
        figures.attemptsHistogram[session.count, default: 0] += 1
        let firstPass = session.first(where: \.passed)
        if let firstPass {
            if firstPass.attempt == 1 { figures.passedFirstAttempt += 1 }
            if firstPass.attempt <= (session[0].budget ?? Int.max) { figures.passedWithinBudget += 1 }
        }
        if firstPass == nil { figures.failedSessions += 1 }
        var failuresWaiting = 0
        for attempt in session {
            if attempt.passed {
                figures.positives += 1
                figures.pairs += failuresWaiting
                failuresWaiting = 0
            } else {
                figures.negatives += 1
                failuresWaiting += 1
                // A rule counts once per failing attempt; a failure with no finding failed when run.
                for rule in Set(attempt.failureLabels) {
                    figures.failedRules[rule, default: 0] += 1
                }
            }
        }
    }

    public var json: JSONValue {
        [
            "overall": overall.json,
            "kinds": .object(kinds.mapValues(\.json)),
            "tools": tools?.json ?? .object([:]),
            "tool_sequences": tools?.sequencesJSON ?? .array([]),
            "data_flows": tools?.flowsJSON ?? .array([]),
            "likely_tool_bugs": .array((tools?.likelyBugs ?? []).map {
                ["tool": .string($0.tool), "field": .string($0.field.path), "calls": .int($0.field.calls),
                 "null_rate": .double($0.field.nullRate)]
            }),
            "feedback": .object(Verdict.allCases.reduce(into: [String: JSONValue]()) { $0[$1.rawValue] = .int(feedback[$1.rawValue] ?? 0) }),
            "latest_export": latestExport.map {
                ["format": .string($0.format), "created_at": .string($0.createdAt), "gates": $0.report["gates"] ?? .null]
            } ?? .null,
        ]
    }

    public var text: String {
        func line(_ name: String, _ figures: Figures) -> String {
            func percent(_ count: Int) -> String {
                figures.sessions == 0 ? "-" : String(format: "%.1f%%", Double(count) / Double(figures.sessions) * 100)
            }
            return "\(name.padding(toLength: 12, withPad: " ", startingAt: 0)) sessions \(figures.sessions), attempts \(figures.attempts), "
                + "pass@1 \(figures.passedFirstAttempt) (\(percent(figures.passedFirstAttempt))), "
                + "pass within budget \(figures.passedWithinBudget) (\(percent(figures.passedWithinBudget))), "
                + "mean attempts \(String(format: "%.2f", figures.meanAttempts))"
        }
        var lines = [line("overall", overall)]
        for name in kinds.keys.sorted() { lines.append(line(name.isEmpty ? "(no kind)" : name, kinds[name]!)) }
        lines.append("examples before gates: \(overall.positives) positives, \(overall.pairs) error-to-fix pairs, \(overall.negatives) failing attempts")
        let top = overall.topRules(5)
        if !top.isEmpty { lines.append("most failed rules: " + top.map { "\($0.rule) (\($0.count))" }.joined(separator: ", ")) }
        if let tools { lines += tools.text }
        if !feedback.isEmpty {
            lines.append("feedback: " + Verdict.allCases.map { "\(feedback[$0.rawValue] ?? 0) \($0.rawValue)" }.joined(separator: ", "))
        }
        if let latestExport {
            let gates = (latestExport.report["gates"]?.arrayValue ?? []).map {
                "\($0["gate"]?.stringValue ?? "?") -\($0["total"]?.intValue ?? 0)"
            }
            lines.append("latest export (\(latestExport.format), \(latestExport.createdAt)) gates: " + gates.joined(separator: ", "))
        } else {
            lines.append("gates: no export yet (`crucible corpus export` reports what each gate removes)")
        }
        return lines.joined(separator: "\n")
    }
}

extension CorpusStore {
    /// Everything `crucible corpus stats` and `report` show: the attempts' figures, the tool
    /// analytics and the feedback counts.
    public func stats() throws -> CorpusStats {
        var stats = CorpusStats(attempts: try attempts(), latestExport: try latestExport())
        stats.tools = try toolAnalytics()
        stats.feedback = try feedbackCounts()
        return stats
    }
}
