import CrucibleValidation
import CrucibleWire
import Foundation

/// `crucible corpus export`: reads the store, derives positives, pairs and negatives, runs the
/// quality gates, splits, and writes each format's train/valid/test files with a manifest.
public struct CorpusExporter: Sendable {
    public var gates = QualityGates.Settings()
    public var seed = 0
    /// Validator rulesets per artifact kind (from Corpus/kinds), for re-validation.
    public var rulesets: [String: [String]] = [:]
    public var progress: (@Sendable (String) -> Void)?

    public init() {}

    /// What the gates leave, with the facts that decided it (shared by every format).
    public struct Selection: Sendable {
        public var examples: [TrainingExample]
        public var clusters: [Int64: Int]
        public var report: QualityGates.Report
        public var attempts: Int
    }

    public func select(from store: CorpusStore, validator: Validator) throws -> Selection {
        let attempts = try store.attempts()
        let examples = TrainingExample.derive(from: attempts)
        progress?("export: \(attempts.count) attempts, \(examples.count) candidate examples; computing code facts")

        // Facts and re-validation in one pass, once per distinct (code, rulesets): one parse
        // serves both, and retries often resend the same code.
        var configurationIndex: [String: Int] = [:]
        var configurations: [Validator.Configuration] = []
        var firstOfCode: [String: Int64] = [:]
        var keyOfAttempt: [Int64: String] = [:]
        var requests: [Validator.FactsRequest] = []
        for attempt in attempts {
            let sets = rulesets[attempt.kind].flatMap { $0.isEmpty ? nil : $0 } ?? ["core"]
            let setsKey = sets.joined(separator: ",")
            if configurationIndex[setsKey] == nil {
                var configuration = Validator.Configuration()
                configuration.rulesets = sets
                configurationIndex[setsKey] = configurations.count
                configurations.append(configuration)
            }
            let codeKey = setsKey + "\u{0}" + attempt.code
            if firstOfCode[codeKey] == nil {
                firstOfCode[codeKey] = attempt.id
                requests.append(.init(key: String(attempt.id), source: attempt.code, configuration: configurationIndex[setsKey]))
            }
            keyOfAttempt[attempt.id] = String(firstOfCode[codeKey]!)
        }
        let say = progress
        let byCode = try validator.codeFacts(requests, configurations: configurations) { done, total in
            if done == total || done % 20 == 0 { say?("export: code facts \(done)/\(total) batches") }
        }
        var facts: [Int64: CodeFacts] = [:]
        for attempt in attempts { facts[attempt.id] = byCode[keyOfAttempt[attempt.id]!] }

        // Near-duplicate clusters over distinct normal forms (one text stands for each).
        var normalIndex: [String: Int] = [:]
        var texts: [String] = []
        for attempt in attempts {
            let normal = facts[attempt.id]?.normalized ?? "id:\(attempt.id)"
            if normalIndex[normal] == nil {
                normalIndex[normal] = texts.count
                texts.append(attempt.code)
            }
        }
        progress?("export: clustering \(texts.count) distinct programs (MinHash, 256 permutations)")
        let clusterOfText = NearDuplicates(threshold: 0.7).clusters(texts)
        var clusters: [Int64: Int] = [:]
        for attempt in attempts {
            clusters[attempt.id] = clusterOfText[normalIndex[facts[attempt.id]?.normalized ?? "id:\(attempt.id)"]!]
        }
        progress?("export: applying the gates")

        let (kept, report) = QualityGates(settings: gates).apply(examples, facts: facts, clusters: clusters)
        progress?("export: \(kept.count) examples kept; writing")
        return Selection(examples: kept, clusters: clusters, report: report, attempts: attempts.count)
    }

    /// What one format's export wrote.
    public struct Written: Sendable {
        public var format: ExportFormat
        public var directory: String
        public var counts: [CorpusSplits.Split: Int]
    }

    /// Writes `format` into `directory` (created): train/valid/test.jsonl, metadata.jsonl (one
    /// line per record: split, role, session, task, first attempt, cluster) and manifest.json.
    /// Files are written beside their final name and renamed, so a killed export leaves the
    /// previous files or the new ones, never half of one.
    public func write(_ selection: Selection, format: ExportFormat, to directory: String, corpusPath: String,
                      pythonVersion: String) throws -> Written {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let examples = selection.examples.filter { format.roles.contains($0.role) }
        let splits = CorpusSplits(seed: seed).assign(examples, clusters: selection.clusters)
        var lines: [CorpusSplits.Split: [UInt8]] = [:]
        var metadata: [UInt8] = []
        var counts: [CorpusSplits.Split: Int] = [:]
        for (example, split) in zip(examples, splits) {
            guard let line = format.line(for: example) else { continue }
            lines[split, default: []] += Array(line.jsonText.utf8) + [10]
            counts[split, default: 0] += 1
            let meta: JSONValue = [
                "split": .string(split.rawValue), "line": .int(counts[split]!), "id": .string(example.id),
                "role": .string(example.role.rawValue), "session_id": .string(example.attempt.episodeID),
                "task_id": .string(example.attempt.taskID), "kind": .string(example.attempt.kind),
                "source": .string(example.attempt.source), "first_attempt": .bool(example.firstAttempt),
                "cluster": .int(selection.clusters[example.attempt.id] ?? -1),
                "failed_rules": .array((example.failure ?? (example.role == .negative ? example.attempt : nil))?
                    .failedRules.map { .string($0) } ?? []),
            ]
            metadata += Array(meta.jsonText.utf8) + [10]
        }
        for split in CorpusSplits.Split.allCases {
            try Self.replace(directory + "/\(split.rawValue).jsonl", with: lines[split] ?? [])
        }
        try Self.replace(directory + "/metadata.jsonl", with: metadata)
        let manifest: JSONValue = [
            "format": .string(format.rawValue), "seed": .int(seed), "corpus": .string(corpusPath),
            "created_at": .string(CorpusStore.now()), "python": .string(pythonVersion),
            "attempts": .int(selection.attempts),
            "records": .object(Dictionary(uniqueKeysWithValues: CorpusSplits.Split.allCases.map { ($0.rawValue, .int(counts[$0] ?? 0)) })),
            "roles": .array(format.roles.map(\.rawValue).sorted().map { .string($0) }),
            "gates": selection.report.json,
            "notes": .string(Self.notes(format)),
        ]
        try Self.replace(directory + "/manifest.json", with: Array(manifest.jsonText.utf8) + [10])
        return Written(format: format, directory: directory, counts: counts)
    }

    static func notes(_ format: ExportFormat) -> String {
        switch format {
        case .mlxChat: "mlx_lm.lora --data DIR; pairs are repair conversations: train with --mask-prompt so only the final fix is learned"
        case .mlxCompletions: "mlx_lm.lora --data DIR; a pair's prompt holds the failed code and the feedback"
        case .openAISFT: "OpenAI chat fine-tuning: failed attempts carry weight 0, fixes weight 1"
        case .openAIDPO: "OpenAI preference fine-tuning (method dpo): preferred = the fix, non-preferred = the failure"
        case .trlSFT: "TRL SFTTrainer, conversational prompt/completion (completion-only loss by default)"
        case .trlDPO: "TRL DPOTrainer, conversational: chosen = the fix, rejected = the failure"
        case .kto: "TRL KTOTrainer, unpaired: label true for passing code, false for failing code"
        case .shareGPT: "ShareGPT conversations (from: system/human/gpt)"
        }
    }

    static func replace(_ path: String, with bytes: [UInt8]) throws {
        let temporary = path + ".partial"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes)) else {
            throw CorpusStore.Failure(reason: .other, description: "cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, path) == 0 else {
            throw CorpusStore.Failure(reason: .other, description: "cannot move \(temporary) to \(path): \(String(cString: strerror(errno)))")
        }
    }
}
