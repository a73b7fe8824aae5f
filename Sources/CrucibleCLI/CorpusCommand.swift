import ArgumentParser
import Crucible
import Foundation

struct CorpusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corpus",
        abstract: "Import, export, summarize and report on the attempt corpus.",
        discussion: """
            The corpus is a SQLite file (WAL): --corpus PATH, else $CRUCIBLE_CORPUS, else \
            .crucible/corpus.sqlite in the working directory. `crucible generate` and \
            `crucible serve` store every attempt there.
            Exit codes: 0 done; 1 the corpus could not be read or written; 2 usage error \
            (bad input file, unknown format); 3 the sandbox (which normalizes and re-validates \
            code) could not be built.
            """,
        subcommands: [CorpusImportCommand.self, CorpusMergeCommand.self, CorpusExportCommand.self, CorpusStatsCommand.self, CorpusReportCommand.self])
}

struct CorpusOptions: ParsableArguments {
    @Option(help: "The corpus database (default: $CRUCIBLE_CORPUS, else .crucible/corpus.sqlite).")
    var corpus: String?

    var path: String { CorpusStore.resolvedPath(corpus) }

    func open(create: Bool) throws -> CorpusStore {
        do { return try CorpusStore(path: path, create: create) } catch {
            FileHandle.standardError.write(Data("crucible: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

func fail(_ message: String, code: Int32 = 1) -> ExitCode {
    FileHandle.standardError.write(Data("crucible: \(message)\n".utf8))
    return ExitCode(code)
}

struct CorpusImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Add attempt records from JSON Lines files (the `--records` shape, or a spill file).",
        discussion: """
            Every line must be one attempt record with at least "session_id" and "passed". \
            The whole file is checked before anything is written; a bad line stops the import \
            with its line number and nothing of that file is stored. Re-importing is safe: an \
            attempt already stored (same session and attempt number) is skipped and counted.
            """)

    @OptionGroup var options: CorpusOptions

    @Option(help: "The source recorded for sessions whose records do not name one.")
    var source: String = "import"

    @Flag(help: "Print the counts as one JSON object on stdout.")
    var json = false

    @Argument(help: "JSON Lines files; - reads standard input.")
    var files: [String]

    func run() throws {
        var parsed: [(String, [AttemptRecord])] = []
        for file in files {
            let text: String
            if file == "-" {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            } else {
                // FileHandle, not String(contentsOfFile:): a pipe or /dev/null is a fine input too.
                guard let handle = FileHandle(forReadingAtPath: file),
                      let read = String(data: handle.readDataToEndOfFile(), encoding: .utf8) else {
                    throw fail("cannot read \(file) (missing, unreadable or not UTF-8)", code: 2)
                }
                text = read
            }
            var records: [AttemptRecord] = []
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                guard !trimmed.isEmpty else { continue }
                guard let json = try? JSONValue(parsing: trimmed), case .object = json else {
                    throw fail("\(file):\(number + 1): not a JSON object; nothing from \(file) was imported", code: 2)
                }
                do { records.append(try AttemptRecord(json: json)) } catch {
                    throw fail("\(file):\(number + 1): not an attempt record (\(AttemptRecord.explain(error))); "
                               + "nothing from \(file) was imported", code: 2)
                }
            }
            parsed.append((file, records))
        }
        let store = try options.open(create: true)
        var results: [JSONValue] = []
        for (file, records) in parsed {
            let counts: (inserted: Int, skipped: Int)
            do {
                counts = try store.record(batch: records, source: source) { inserted, skipped in
                    FileHandle.standardError.write(Data("import: \(file): \(inserted + skipped)/\(records.count) committed\n".utf8))
                }
            } catch { throw fail("\(file): \(error)") }
            results.append(["file": .string(file), "imported": .int(counts.inserted), "already_present": .int(counts.skipped)])
            if !json {
                print("\(file): \(counts.inserted) attempts imported, \(counts.skipped) already present, into \(store.path)")
            }
        }
        if json { print(JSONValue.object(["corpus": .string(store.path), "files": .array(results)]).jsonText) }
    }
}

struct CorpusExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write training data: gated, split train/valid/test files in a trainer's format.",
        discussion: """
            Formats: \(ExportFormat.allCases.map(\.rawValue).joined(separator: ", ")), or all (one \
            folder per format under --out). Each folder gets train.jsonl, valid.jsonl, test.jsonl, \
            metadata.jsonl (per record: split, role, session, task, first attempt, cluster) and \
            manifest.json (the gate report, counts, seed, Python version).
            Tool-calling formats (openai-tools, trl-tools, mlx-tools): the code travels as a \
            run_python tool call, its result as a tool message; failed calls with their feedback, \
            ending on the passing call; each row carries `tools`. rl: one prompt-only row per task \
            with what a reward function needs (kind, rulesets, runtime, check code, expected output, \
            tools called). hf: a Hugging Face datasets folder (data/*.parquet and a README.md \
            dataset card; datasets.load_dataset(DIR) reads it): the trl-tools rows as config \
            default, the rl rows as config rl. Parquet is written by pyarrow (\(ParquetWriter.requirement)), \
            which crucible installs once with pip into its cache, or from the folder \
            $CRUCIBLE_PYARROW names.
            Gates, in order, each reporting what it removed: length, exact-duplicate, \
            near-duplicate (MinHash, Jaccard 0.7), fake-fix, revalidation, caps.
            Splits keep each session and each near-duplicate cluster in one split and depend \
            only on the corpus and --seed.
            """)

    @OptionGroup var options: CorpusOptions

    @Option(help: "The format, or all.")
    var format: String

    @Option(help: "The folder to write into (created).")
    var out: String

    @Option(help: "Seed for the splits.")
    var seed: Int = 0

    @Option(help: "Examples whose code is longer than this many characters (both sides of a pair) are dropped.")
    var maxChars: Int = 8_000

    @Option(help: "At most this many examples of each role per task.")
    var maxPerTask: Int = 5

    @Option(help: "At most this many pairs (and failures) per failing rule.")
    var maxPerRule: Int = 1_000

    @Option(help: "The license the hf dataset card declares (a Hugging Face license id, e.g. apache-2.0).")
    var license: String = "other"

    @Flag(help: "Print what was written as one JSON object on stdout.")
    var json = false

    func validate() throws {
        guard license.allSatisfy({ $0.isLetter || $0.isNumber || "-._".contains($0) }), !license.isEmpty else {
            throw ValidationError("--license must be a license id such as apache-2.0, mit or other, not \(license.debugDescription)")
        }
        guard format == "all" || ExportFormat(rawValue: format) != nil else {
            throw ValidationError("unknown format \(format.debugDescription); known: \(ExportFormat.allCases.map(\.rawValue).joined(separator: ", ")), all")
        }
        try SettingRange.exportCount.validate(maxChars, flag: "--max-chars")
        try SettingRange.exportCount.validate(maxPerTask, flag: "--max-per-task")
        try SettingRange.exportCount.validate(maxPerRule, flag: "--max-per-rule")
    }

    func run() throws {
        let formats = format == "all" ? ExportFormat.allCases : [ExportFormat(rawValue: format)!]
        let store = try options.open(create: false)
        let validator: Validator
        do { validator = try Validator() } catch {
            throw fail("the validators cannot start: \(error)", code: ExitCode32.sandboxUnavailable.rawValue)
        }
        defer { validator.shutdown() }
        var exporter = CorpusExporter()
        exporter.seed = seed
        exporter.gates.maxCharacters = maxChars
        exporter.gates.maxPerTask = maxPerTask
        exporter.gates.maxPerRule = maxPerRule
        exporter.license = license
        exporter.progress = { FileHandle.standardError.write(Data("\($0)\n".utf8)) }
        do {
            let project = try ProjectConfiguration.load(
                from: FileManager.default.currentDirectoryPath,
                kindsDirectory: ArtifactKind.locateDirectory(SandboxConfiguration()))
            exporter.rulesets = project.kinds.mapValues(\.rulesets)
            exporter.kinds = project.kinds
        } catch { throw fail("\(error)", code: 2) }

        var selected: CorpusExporter.Selection
        do { selected = try exporter.select(from: store, validator: validator, runs: formats.contains(where: \.needsRuns)) } catch {
            throw fail("\(error)")
        }
        // hf writes the rows of trl-tools and rl again: made once when both are written.
        selected.sharedRecords = SharedRecords.forExport(of: formats)
        let selection = selected
        // Formats are independent: written on every core at once. hf first: its Parquet step is a
        // process of its own, which then runs beside the other formats' writing, not after it.
        let corpusPath = store.path, python = validator.pythonVersion, destination = out, exporterCopy = exporter
        let order = formats.indices.sorted { (formats[$0] == .hf ? 0 : 1, $0) < (formats[$1] == .hf ? 0 : 1, $1) }
        let scheduled = concurrentResults(count: formats.count, workers: formats.count) { position in
            let format = formats[order[position]]
            let directory = formats.count == 1 ? destination : destination + "/" + format.rawValue
            let started = ContinuousClock.now
            let written = try exporterCopy.write(selection, format: format, to: directory, corpusPath: corpusPath, pythonVersion: python)
            // Per format, for the benchmark (they run at once, so the times overlap).
            let seconds = (ContinuousClock.now - started).milliseconds / 1000
            FileHandle.standardError.write(Data("export: wrote \(format.rawValue) in \(String(format: "%.2f", seconds)) s\n".utf8))
            return written
        }
        var results = scheduled
        for (position, index) in order.enumerated() { results[index] = scheduled[position] }
        var written: [JSONValue] = []
        for outcome in results {
            let result: CorpusExporter.Written
            do { result = try outcome.get() } catch { throw fail("\(error)") }
            let format = result.format, directory = result.directory
            let counts = CorpusSplits.Split.allCases.map { "\($0.rawValue) \(result.counts[$0] ?? 0)" }.joined(separator: ", ")
            if format == .mlxChat || format == .mlxCompletions || format == .mlxTools,
               let small = CorpusSplits.Split.allCases.first(where: { (result.counts[$0] ?? 0) < 4 })
            {
                FileHandle.standardError.write(Data(("crucible: warning: \(directory)/\(small.rawValue).jsonl has "
                    + "\(result.counts[small] ?? 0) records; mlx-lm needs at least its batch size (4 by default)\n").utf8))
            }
            written.append(["format": .string(format.rawValue), "directory": .string(directory),
                            "records": .object(Dictionary(uniqueKeysWithValues: CorpusSplits.Split.allCases.map { ($0.rawValue, .int(result.counts[$0] ?? 0)) }))])
            if !json { print("\(format.rawValue): \(directory) (\(counts))") }
        }
        do {
            try store.noteExport(format: format, seed: seed, destination: out, report: selection.report.json)
        } catch {
            FileHandle.standardError.write(Data("crucible: warning: the export is written, but \(error)\n".utf8))
        }
        if json {
            print(JSONValue.object(["exports": .array(written), "gates": selection.report.json]).jsonText)
        } else {
            let report = selection.report
            print("examples: \(report.input[.positive] ?? 0) positives, \(report.input[.pair] ?? 0) pairs, "
                  + "\(report.input[.negative] ?? 0) failures before gates; kept \(report.kept[.positive] ?? 0), "
                  + "\(report.kept[.pair] ?? 0), \(report.kept[.negative] ?? 0)")
            for removal in report.removals {
                let total = removal.removed.values.reduce(0, +)
                let reasons = removal.reasons.isEmpty ? "" : " (" + removal.reasons.sorted { $0.key < $1.key }
                    .map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")"
                print("  gate \(removal.gate): removed \(total)\(reasons)")
            }
        }
    }
}

struct CorpusStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Sessions, attempts, pass at first attempt and within budget, mean attempts, failing rules, gate removals, tool analytics, feedback.")

    @OptionGroup var options: CorpusOptions

    @Flag(help: "Print the figures as one JSON object on stdout.")
    var json = false

    func run() throws {
        let store = try options.open(create: false)
        let stats: CorpusStats
        do { stats = try store.stats() } catch {
            throw fail("\(error)")
        }
        if json {
            var object = stats.json
            if case .object(var members) = object {
                members["corpus"] = .string(store.path)
                object = .object(members)
            }
            print(object.jsonText)
        } else {
            print("corpus: \(store.path)")
            print(stats.text)
        }
    }
}

struct CorpusReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one self-contained HTML page of charts and tables (no network needed to view it).")

    @OptionGroup var options: CorpusOptions

    @Option(help: "The HTML file to write.")
    var out: String = "corpus-report.html"

    func run() throws {
        let store = try options.open(create: false)
        let stats: CorpusStats
        do { stats = try store.stats() } catch {
            throw fail("\(error)")
        }
        let page = CorpusReport.html(stats, corpusPath: store.path, generatedAt: Timestamp.iso8601())
        guard FileManager.default.createFile(atPath: out, contents: Data(page.utf8)) else {
            throw fail("cannot write \(out): \(String(cString: strerror(errno)))")
        }
        print("report: \(out) (\(stats.overall.sessions) sessions, \(stats.overall.attempts) attempts)")
    }
}
