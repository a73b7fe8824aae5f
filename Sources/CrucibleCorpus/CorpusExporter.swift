import CrucibleConfiguration
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
    /// The artifact kinds (their checks and how they run, for the RL rows).
    public var kinds: [String: ArtifactKind] = [:]
    /// The license the hf dataset card declares (a Hub license id).
    public var license = "other"
    public var progress: (@Sendable (String) -> Void)?

    public init() {}

    /// What the gates leave, with the facts that decided it (shared by every format).
    public struct Selection: Sendable {
        public var examples: [TrainingExample]
        public var clusters: [Int64: Int]
        public var report: QualityGates.Report
        public var attempts: Int
        /// What each attempt's run gave; read only when a format needs it (`ExportFormat.needsRuns`).
        public var runs: [Int64: AttemptRun] = [:]
        /// The failures' feedback texts, rendered once for every format.
        public var feedback = FeedbackTexts()
        /// The records two writers of the export make (hf and trl-tools, hf and rl), made once.
        public var sharedRecords: SharedRecords?
    }

    public func select(from store: CorpusStore, validator: Validator, runs needsRuns: Bool = false) throws -> Selection {
        // The runs are read on another thread while the rest is worked out: nothing needs them
        // before the formats are written (the store is a WAL pool, whose reads run at once).
        let runsRead = Locked<Result<[Int64: AttemptRun], Error>>(.success([:]))
        let reading = DispatchGroup()
        if needsRuns {
            DispatchQueue.global().async(group: reading) {
                let result = Result { try store.attemptRuns() }
                runsRead.withLock { $0 = result }
            }
        }
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
        reading.wait()
        let runs = try runsRead.value.get()
        progress?("export: \(kept.count) examples kept; writing")
        return Selection(examples: kept, clusters: clusters, report: report, attempts: attempts.count, runs: runs)
    }

    /// What one format's export wrote.
    public struct Written: Sendable {
        public var format: ExportFormat
        public var directory: String
        public var counts: [CorpusSplits.Split: Int]
    }

    /// One format's records, split: the lines of each split and metadata.jsonl's lines.
    struct Records: Sendable {
        var lines: [CorpusSplits.Split: [UInt8]] = [:]
        var metadata: [UInt8] = []
        var counts: [CorpusSplits.Split: Int] = [:]
    }

    /// The records of a line-based format, each in the split the gates' clusters and its
    /// sessions decide (the same rules for every format).
    func records(_ selection: Selection, format: ExportFormat) -> Records {
        if let shared = selection.sharedRecords?.take(format) { return shared }
        let records = makeRecords(selection, format: format)
        selection.sharedRecords?.leave(records, for: format)
        return records
    }

    func makeRecords(_ selection: Selection, format: ExportFormat) -> Records {
        let examples = format.records(from: selection.examples)
        let splits = CorpusSplits(seed: seed).assign(examples, clusters: selection.clusters)
        var records = Records()
        for (example, split) in zip(examples, splits) {
            guard let line = format.line(for: example, runs: selection.runs, kinds: kinds, rulesets: rulesets, feedback: selection.feedback) else { continue }
            records.lines[split, default: []] += Array(line.jsonText.utf8) + [10]
            records.counts[split, default: 0] += 1
            let failed = example.failure.map { [$0] } ?? (example.role == .negative ? [example.attempt] : example.context)
            let meta: JSONValue = [
                "split": .string(split.rawValue), "line": .int(records.counts[split]!), "id": .string(example.id),
                "role": .string(format == .rl ? "task" : example.role.rawValue), "session_id": .string(example.attempt.episodeID),
                "task_id": .string(example.attempt.taskID), "kind": .string(example.attempt.kind),
                "source": .string(example.attempt.source), "first_attempt": .bool(example.firstAttempt),
                "cluster": .int(selection.clusters[example.attempt.id] ?? -1),
                "failed_rules": .array(failed.flatMap(\.failedRules).map { .string($0) }),
            ]
            records.metadata += Array(meta.jsonText.utf8) + [10]
        }
        return records
    }

    /// Writes `format` into `directory` (created): train/valid/test.jsonl, metadata.jsonl (one
    /// line per record: split, role, session, task, first attempt, cluster) and manifest.json;
    /// for hf, a Hugging Face datasets folder instead (HuggingFaceDataset.swift).
    /// Files are written beside their final name and renamed, so a killed export leaves the
    /// previous files or the new ones, never half of one.
    public func write(_ selection: Selection, format: ExportFormat, to directory: String, corpusPath: String,
                      pythonVersion: String) throws -> Written {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if format == .hf {
            return try HuggingFaceDataset(exporter: self, license: license).write(selection, to: directory, corpusPath: corpusPath, pythonVersion: pythonVersion)
        }
        let records = records(selection, format: format)
        for split in CorpusSplits.Split.allCases {
            try Self.replace(directory + "/\(split.rawValue).jsonl", with: records.lines[split] ?? [])
        }
        try Self.replace(directory + "/metadata.jsonl", with: records.metadata)
        try Self.replace(directory + "/manifest.json", with: Array(manifest(selection, format: format, counts: records.counts,
            corpusPath: corpusPath, pythonVersion: pythonVersion).jsonText.utf8) + [10])
        return Written(format: format, directory: directory, counts: records.counts)
    }

    func manifest(_ selection: Selection, format: ExportFormat, counts: [CorpusSplits.Split: Int], corpusPath: String,
                  pythonVersion: String) -> JSONValue {
        [
            "format": .string(format.rawValue), "seed": .int(seed), "corpus": .string(corpusPath),
            "created_at": .string(CorpusStore.now()), "python": .string(pythonVersion),
            "attempts": .int(selection.attempts),
            "records": .object(Dictionary(uniqueKeysWithValues: CorpusSplits.Split.allCases.map { ($0.rawValue, .int(counts[$0] ?? 0)) })),
            "roles": .array(format.roles.map(\.rawValue).sorted().map { .string($0) }),
            "gates": selection.report.json,
            "notes": .string(Self.notes(format)),
        ]
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
        case .openAITools: "OpenAI chat fine-tuning with tools: run_python calls; failed calls and their results carry weight 0, the passing call weight 1"
        case .trlTools: "TRL SFTTrainer, conversational prompt/completion with a tools column: the failed calls and results are the prompt, the passing call the completion"
        case .mlxTools: "mlx_lm.lora --data DIR (tools format); ends on the passing run_python call: train with --mask-prompt so only it is learned"
        case .rl: "prompt-only rows for RL (TRL GRPOTrainer passes the other columns to reward functions): one per task, with kind, rulesets, runtime, check, expected output, tools"
        case .hf: "Hugging Face datasets folder: datasets.load_dataset(DIR) reads the trl-tools rows (config default) and load_dataset(DIR, \"rl\") the rl rows"
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
