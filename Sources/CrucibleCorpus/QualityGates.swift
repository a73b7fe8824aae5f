import CrucibleWire
import Foundation

/// The gates every example passes before it is exported, in order, each reporting how many
/// examples of each role it removed. Volume lies (345 generated examples of which about 330
/// were near-identical loops): correctness and diversity come before count.
///
/// 1. length          code longer than `maxCharacters` (a pair counts both sides)
/// 2. exact-duplicate same normalized code (syntax tree without docstrings) as a kept example
/// 3. near-duplicate  same MinHash cluster as a kept example (Jaccard >= 0.7)
/// 4. fake-fix        pairs whose "fix" deletes the offending code, adds a suppression,
///                    drops asserts or tests, or changes nothing (and the positive such a
///                    "fix" would otherwise leave behind)
/// 5. revalidation    under the current validators the fix must pass and a failure that
///                    failed on findings must still fail
/// 6. caps            at most `maxPerTask` examples per task and `maxPerRule` per failing rule
public struct QualityGates: Sendable {
    public struct Settings: Sendable {
        public var maxCharacters = 8_000
        public var maxPerTask = 5
        public var maxPerRule = 1_000
        public init() {}
        var json: JSONValue {
            ["max_characters": .int(maxCharacters), "max_per_task": .int(maxPerTask), "max_per_rule": .int(maxPerRule)]
        }
    }

    public struct Removal: Sendable {
        public var gate: String
        public var removed: [TrainingExample.Role: Int] = [:]
        /// Why, where a gate has several reasons (fake-fix).
        public var reasons: [String: Int] = [:]
    }

    public struct Report: Sendable {
        public var input: [TrainingExample.Role: Int] = [:]
        public var removals: [Removal] = []
        public var kept: [TrainingExample.Role: Int] = [:]
        public var settings: Settings

        public var json: JSONValue {
            func counts(_ values: [TrainingExample.Role: Int]) -> JSONValue {
                .object(Dictionary(uniqueKeysWithValues: TrainingExample.Role.allCases.map { ($0.rawValue, .int(values[$0] ?? 0)) }))
            }
            return [
                "settings": settings.json, "input": counts(input), "kept": counts(kept),
                "gates": .array(removals.map { removal in
                    var entry: [String: JSONValue] = [
                        "gate": .string(removal.gate), "removed": counts(removal.removed),
                        "total": .int(removal.removed.values.reduce(0, +)),
                    ]
                    if !removal.reasons.isEmpty { entry["reasons"] = .object(removal.reasons.mapValues { .int($0) }) }
                    return .object(entry)
                }),
            ]
        }
    }

    public var settings: Settings
    public init(settings: Settings = Settings()) { self.settings = settings }

    /// Applies every gate (or those before `stopBefore`). `facts` and `clusters` are keyed by attempt id.
    public func apply(_ examples: [TrainingExample], facts: [Int64: CodeFacts], clusters: [Int64: Int],
                      stopBefore: String? = nil) -> (kept: [TrainingExample], report: Report)
    {
        var report = Report(settings: settings)
        for example in examples { report.input[example.role, default: 0] += 1 }
        var current = examples

        var stopped = false
        func gate(_ name: String, _ keep: (TrainingExample) -> String?) {
            if name == stopBefore { stopped = true }
            guard !stopped else { return }
            var removal = Removal(gate: name)
            current = current.filter { example in
                guard let reason = keep(example) else { return true }
                removal.removed[example.role, default: 0] += 1
                if reason != name { removal.reasons[reason, default: 0] += 1 }
                return false
            }
            report.removals.append(removal)
        }

        gate("length") { example in
            // Characters are never more than UTF-8 bytes, which a String knows without counting:
            // the characters are counted only where the bytes exceed the limit.
            let bytes = example.attempt.code.utf8.count + (example.failure?.code.utf8.count ?? 0)
            guard bytes > settings.maxCharacters else { return nil }
            let size = example.attempt.code.count + (example.failure?.code.count ?? 0)
            return size > settings.maxCharacters ? "length" : nil
        }

        func normal(_ attempt: CorpusAttempt) -> String { facts[attempt.id]?.normalized ?? "id:\(attempt.id)" }
        var seen = Set<String>()
        gate("exact-duplicate") { example in
            let key = "\(example.role.rawValue)|\(example.failure.map(normal) ?? "")|\(normal(example.attempt))"
            return seen.insert(key).inserted ? nil : "exact-duplicate"
        }

        func cluster(_ attempt: CorpusAttempt) -> Int { clusters[attempt.id] ?? -Int(attempt.id) }
        var seenClusters = Set<String>()
        gate("near-duplicate") { example in
            let key = "\(example.role.rawValue)|\(example.failure.map { String(cluster($0)) } ?? "")|\(cluster(example.attempt))"
            return seenClusters.insert(key).inserted ? nil : "near-duplicate"
        }

        // The fake-fix verdicts (line diffs, most of the gates' time) on every core first; the
        // gate then takes them in order, as it would have worked them out.
        let fakeFixes = stopped || stopBefore == "fake-fix" ? [] : Self.fakeFixes(current, facts: facts)
        var fakeFixIndex = 0
        gate("fake-fix") { _ in
            defer { fakeFixIndex += 1 }
            return fakeFixes[fakeFixIndex]
        }

        gate("revalidation") { example in
            let mainErrors = facts[example.attempt.id]?.errors
            switch example.role {
            case .positive, .pair:
                if let errors = mainErrors, !errors.isEmpty { return "the passing code now fails \(errors.joined(separator: ","))" }
                if let failure = example.failure, !failure.failedRules.isEmpty, facts[failure.id]?.errors?.isEmpty == true {
                    return "the failing code now passes"
                }
            case .negative:
                if !example.attempt.failedRules.isEmpty, mainErrors?.isEmpty == true { return "the failing code now passes" }
            }
            return nil
        }

        var perTask: [String: Int] = [:]
        var perRule: [String: Int] = [:]
        gate("caps") { example in
            let task = "\(example.role.rawValue)|\(example.attempt.kind)|\(example.attempt.taskID.isEmpty ? example.attempt.task : example.attempt.taskID)"
            if perTask[task, default: 0] >= settings.maxPerTask { return "per task" }
            let failing = example.failure ?? (example.role == .negative ? example.attempt : nil)
            let rule = failing.map { "\(example.role.rawValue)|" + ($0.failedRules.first ?? "runtime") }
            if let rule, perRule[rule, default: 0] >= settings.maxPerRule { return "per rule" }
            perTask[task, default: 0] += 1
            if let rule { perRule[rule, default: 0] += 1 }
            return nil
        }

        for example in current { report.kept[example.role, default: 0] += 1 }
        return (current, report)
    }

    /// `fakeFix` of each example with a failure (or a failure before it), nil for the others,
    /// in order; worked out in chunks on every core.
    static func fakeFixes(_ examples: [TrainingExample], facts: [Int64: CodeFacts]) -> [String?] {
        let chunkSize = 2_000
        let chunks = (examples.count + chunkSize - 1) / chunkSize
        let results = concurrentResults(count: chunks, workers: ProcessInfo.processInfo.activeProcessorCount) { chunk -> [String?] in
            examples[(chunk * chunkSize)..<min(examples.count, (chunk + 1) * chunkSize)].map { example in
                guard let failure = example.failure ?? example.previous else { return nil }
                return fakeFix(failure: failure, fix: example.attempt, before: facts[failure.id], after: facts[example.attempt.id])
            }
        }
        // The jobs cannot throw.
        return results.flatMap { (try? $0.get()) ?? [] }
    }

    /// Why a pair's "fix" is not a fix, or nil when it is one.
    static func fakeFix(failure: CorpusAttempt, fix: CorpusAttempt, before: CodeFacts?, after: CodeFacts?) -> String? {
        if let before, let after {
            if after.suppressions > before.suppressions { return "adds a suppression" }
            if after.asserts < before.asserts { return "drops asserts" }
            if after.tests < before.tests { return "drops tests" }
            if before.normalized == after.normalized { return "no change" }
        }
        // Deleting the code a finding points at, with nothing in its place, silences the rule
        // without fixing anything. One plain line (an import, a print) may be the real fix;
        // a larger block, or a lost function or class, is not.
        let offending = Set(failure.findings.filter { $0.severity == "error" && $0.line > 0 }.map(\.line))
        guard !offending.isEmpty else { return nil }
        // Compared without their indentation (Foundation's trimming is slow on Linux at this volume).
        func lines(_ code: String) -> [Substring] {
            code.split(separator: "\n", omittingEmptySubsequences: false).map { line in
                let start = line.firstIndex { $0 != " " && $0 != "\t" } ?? line.endIndex
                let end = line.lastIndex { $0 != " " && $0 != "\t" && $0 != "\r" }.map { line.index(after: $0) } ?? start
                return line[start..<max(start, end)]
            }
        }
        let old = lines(failure.code), new = lines(fix.code)
        let lostDefinitions = (before?.definitions ?? 0) > (after?.definitions ?? 0)
        for hunk in LineHunks.of(old: old, new: new) where hunk.inserted == 0 {
            guard hunk.removed.contains(where: { offending.contains($0 + 1) }) else { continue }
            let substantial = hunk.removed.filter { !old[$0].isEmpty }.count >= 2
            if substantial || lostDefinitions { return "deletes the offending code" }
        }
        return nil
    }
}

/// Changed regions between two line lists: each hunk is a run of removed old lines (by
/// index) and how many new lines took their place.
struct LineHunks {
    var removed: [Int]
    var inserted: Int

    static func of(old: [Substring], new: [Substring]) -> [LineHunks] {
        let difference = new.difference(from: old)
        var removedOld = Set<Int>(), insertedNew = Set<Int>()
        for change in difference {
            switch change {
            case .remove(let offset, _, _): removedOld.insert(offset)
            case .insert(let offset, _, _): insertedNew.insert(offset)
            }
        }
        // Walk both lists along their common lines; between two common lines lies one hunk.
        var hunks: [LineHunks] = []
        var i = 0, j = 0
        while i < old.count || j < new.count {
            var hunk = LineHunks(removed: [], inserted: 0)
            while i < old.count && removedOld.contains(i) { hunk.removed.append(i); i += 1 }
            while j < new.count && insertedNew.contains(j) { hunk.inserted += 1; j += 1 }
            if !hunk.removed.isEmpty || hunk.inserted > 0 { hunks.append(hunk) }
            if i < old.count && j < new.count { i += 1; j += 1 } else { i = max(i, old.count); j = max(j, new.count) }
        }
        return hunks
    }
}
