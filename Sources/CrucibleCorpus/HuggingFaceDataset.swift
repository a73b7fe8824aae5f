import CrucibleWire
import Foundation

/// `--format hf`: a folder that `datasets.load_dataset(DIR)` reads offline, laid out as the
/// Hub lays out datasets: Parquet files per split under `data/` and a README.md dataset card
/// whose YAML front matter declares the configs (their data files), the features, the split
/// sizes and the license.
///
/// - config `default`: the trl-tools rows (prompt/completion/tools), under data/
/// - config `rl`: the rl rows, under data/rl/
///
/// The rows are made by the same code as the JSON Lines formats (same gates, same splits);
/// pyarrow, the reference Parquet implementation, writes them (ParquetWriter.swift). The card,
/// metadata.jsonl and manifest.json are written here.
struct HuggingFaceDataset {
    var exporter: CorpusExporter
    var license = "other"

    static let configs: [(name: String, format: ExportFormat)] = [("default", .trlTools), ("rl", .rl)]

    /// The Hub's split names (`valid` is `validation` there).
    static func splitName(_ split: CorpusSplits.Split) -> String { split == .valid ? "validation" : split.rawValue }

    func write(_ selection: CorpusExporter.Selection, to directory: String, corpusPath: String,
               pythonVersion: String) throws -> CorpusExporter.Written {
        // Each config's rows as JSON Lines, then Parquet from them.
        let staging = directory + "/.staging"
        try? FileManager.default.removeItem(atPath: staging)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        var metadata: [UInt8] = []
        var counts: [String: [CorpusSplits.Split: Int]] = [:]
        for (name, format) in Self.configs {
            let records = exporter.records(selection, format: format)
            try FileManager.default.createDirectory(atPath: staging + "/" + name, withIntermediateDirectories: true)
            for split in CorpusSplits.Split.allCases {
                try CorpusExporter.replace(staging + "/\(name)/\(Self.splitName(split)).jsonl", with: records.lines[split] ?? [])
            }
            // metadata.jsonl: one line per row, in row order, naming its config.
            for line in records.metadata.split(separator: 10) {
                metadata += Array("{\"config\":\"\(name)\",".utf8) + line.dropFirst() + [10]
            }
            counts[name] = records.counts
        }
        let written = try ParquetWriter().convert(staging: staging, into: directory)
        try CorpusExporter.replace(directory + "/README.md", with: Array(card(written, selection: selection, pythonVersion: pythonVersion).utf8))
        try CorpusExporter.replace(directory + "/metadata.jsonl", with: metadata)
        var manifest = exporter.manifest(selection, format: .hf, counts: counts["default"] ?? [:], corpusPath: corpusPath,
                                         pythonVersion: pythonVersion)
        if case .object(var members) = manifest {
            members["configs"] = .object(counts.mapValues { perSplit in
                .object(Dictionary(uniqueKeysWithValues: CorpusSplits.Split.allCases.map { (Self.splitName($0), .int(perSplit[$0] ?? 0)) }))
            })
            manifest = .object(members)
        }
        try CorpusExporter.replace(directory + "/manifest.json", with: Array(manifest.jsonText.utf8) + [10])
        return CorpusExporter.Written(format: .hf, directory: directory, counts: counts["default"] ?? [:])
    }

    /// The dataset card: YAML front matter the Hub and `datasets` read, then prose and the gate report.
    func card(_ written: ParquetWriter.Written, selection: CorpusExporter.Selection, pythonVersion: String) -> String {
        let names = Self.configs.map(\.name)
        let configs: [YAMLValue] = names.map { name in
            .map([("config_name", .string(name)),
                  ("data_files", .list(written.configs[name]!.splits.map { .map([("split", .string($0.name)), ("path", .string($0.path))]) }))])
        }
        let info: [YAMLValue] = names.map { name in
            let config = written.configs[name]!
            return .map([
                ("config_name", .string(name)),
                ("features", YAMLValue(config.features)),
                ("splits", .list(config.splits.map {
                    .map([("name", .string($0.name)), ("num_bytes", .int($0.bytes)), ("num_examples", .int($0.rows))])
                })),
                ("download_size", .int(config.splits.map(\.fileBytes).reduce(0, +))),
                ("dataset_size", .int(config.splits.map(\.bytes).reduce(0, +))),
            ])
        }
        let front: YAMLValue = .map([
            ("license", .string(license)),
            ("pretty_name", .string("Crucible corpus")),
            ("task_categories", .list([.string("text-generation")])),
            ("tags", .list(["code", "tool-calling", "crucible"].map { .string($0) })),
            ("configs", .list(configs)),
            ("dataset_info", .list(info)),
        ])
        var gates = "| gate | positives removed | pairs removed | failures removed | reasons |\n|---|---:|---:|---:|---|\n"
        for removal in selection.report.removals {
            let reasons = removal.reasons.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
            gates += "| \(removal.gate) | \(removal.removed[.positive] ?? 0) | \(removal.removed[.pair] ?? 0) | \(removal.removed[.negative] ?? 0) | \(reasons) |\n"
        }
        let sizes = names.map { name in
            "- `\(name)`: " + written.configs[name]!.splits.map { "\($0.name) \($0.rows)" }.joined(separator: ", ")
        }.joined(separator: "\n")
        return """
            ---
            \(front.rendered(indent: 0))---

            # Crucible corpus

            Attempts recorded by Crucible (model-written Python, checked by validators and run in a
            sandbox), after the quality gates, split so that a session and a near-duplicate cluster
            stay in one split (seed \(exporter.seed)), from \(selection.attempts) attempts; code normalized with
            Python \(pythonVersion).

            - `default` (`load_dataset(DIR)`): tool-calling conversations for TRL's SFTTrainer. The code
              travels as a `run_python` call; the prompt holds the task and the failed calls with their
              results and feedback, the completion the passing call; `tools` defines `run_python`.
            - `rl` (`load_dataset(DIR, "rl")`): one prompt-only row per task with what a reward
              function needs: kind, rulesets, runtime, check code, expected output, tools called.

            Rows per split:

            \(sizes)

            ## Quality gates

            \(gates)
            The license (`\(license)`) is the one given to `crucible corpus export --license`.

            """
    }
}

/// A YAML document, written in block style with keys in the order given. Strings are written
/// double-quoted with JSON's escapes, which YAML reads the same way.
indirect enum YAMLValue {
    case string(String)
    case int(Int)
    case bool(Bool)
    case list([YAMLValue])
    case map([(String, YAMLValue)])

    /// From JSON (the features pyarrow's side describes): keys sorted, but `name` first.
    init(_ json: JSONValue) {
        switch json {
        case .object(let members):
            self = .map(members.sorted { ($0.key == "name" ? 0 : 1, $0.key) < ($1.key == "name" ? 0 : 1, $1.key) }.map { ($0.key, YAMLValue($0.value)) })
        case .array(let items): self = .list(items.map(YAMLValue.init))
        case .int(let value): self = .int(value)
        case .bool(let value): self = .bool(value)
        case .string(let value): self = .string(value)
        default: self = .string(json.jsonText)
        }
    }

    var isScalar: Bool {
        switch self {
        case .list(let items): items.isEmpty
        case .map(let members): members.isEmpty
        default: true
        }
    }

    var scalar: String {
        switch self {
        case .string(let value) where Self.isPlain(value): value
        case .string(let value): JSONValue.string(value).jsonText
        case .int(let value): String(value)
        case .bool(let value): value ? "true" : "false"
        case .list: "[]"
        case .map: "{}"
        }
    }

    /// Whether a string reads back as itself unquoted: a name or a path, not a word YAML 1.1
    /// reads as a boolean or null, not a number.
    static func isPlain(_ text: String) -> Bool {
        guard let first = text.first, first.isLetter, Double(text) == nil else { return false }
        guard !["y", "n", "yes", "no", "on", "off", "true", "false", "null"].contains(text.lowercased()) else { return false }
        return text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_./".contains($0)) }
    }

    /// The lines of this value at `indent` spaces (a map or list value; scalars are inline).
    func rendered(indent: Int) -> String {
        let pad = String(repeating: " ", count: indent)
        switch self {
        case .map(let members):
            return members.map { key, value in
                value.isScalar ? "\(pad)\(key): \(value.scalar)\n" : "\(pad)\(key):\n" + value.rendered(indent: indent + 2)
            }.joined()
        case .list(let items):
            return items.map { item in
                guard !item.isScalar else { return "\(pad)- \(item.scalar)\n" }
                // "- " then the item's first line; the rest at the same depth.
                let inner = item.rendered(indent: indent + 2)
                return pad + "- " + inner.dropFirst(indent + 2)
            }.joined()
        default:
            return pad + scalar + "\n"
        }
    }
}
