import ArgumentParser
import Crucible
import Foundation

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check Python files against Crucible's domain rules (views, t-strings, …).",
        discussion: """
            Folders are searched for *.py (hidden folders, .git, virtual environments and build \
            folders skipped). Settings come from [tool.crucible] in ./pyproject.toml (rulesets, \
            select, ignore, per_file_ignores, rule_modules, view_decorator, view_suffix); flags add to \
            them. Suppress one finding \
            with `# crucible: ignore[ID]` on its line. The validators run on the system's Python \
            unless --python (or [tool.crucible] python) names another: on 3.14 files are parsed by \
            Python's own parser (t-strings, PEP 695/696); an older one reads t-strings by rewriting \
            them and reports PY314 for a file only 3.14 can parse. Exit codes: 0 no findings, 1 \
            findings, 2 usage or internal error.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, sarif, github
    }

    @Argument(help: "Files or folders to check.")
    var paths: [String] = []

    @Option(name: .customLong("ruleset"), help: "Only these rulesets (repeatable). Built in: view.")
    var rulesets: [String] = []

    @Option(help: "Only these rule IDs or prefixes, comma-separated (VIEW006,TSTR).")
    var select: String?

    @Option(help: "Skip these rule IDs or prefixes, comma-separated.")
    var ignore: String?

    @Option(help: "Output: text (ruff style), json, sarif (2.1.0, for code scanning), github (annotations).")
    var format: Format = .text

    @Flag(help: "Print how many findings each rule produced.")
    var statistics = false

    @Flag(help: "List every rule with its doc and examples (as JSON with --format json).")
    var listRules = false

    @Option(help: "The Python the validators run on, e.g. 3.14 (the system's by default; installed on first use).")
    var python: String?

    @Option(name: .customLong("with"), help: "A package the validators may import (repeatable), e.g. --with tdom==0.1.20: with tdom on 3.14, tdom's own parser judges each t-string's markup. Adds to [tool.crucible] packages.")
    var requirements: [String] = []

    func validate() throws {
        if paths.isEmpty && !listRules { throw ValidationError("give at least one file or folder to check") }
    }

    func run() async throws {
        do {
            try await execute()
        } catch let exit as ExitCode {
            throw exit
        } catch let unknown as Validator.UnknownRulesets {
            throw ValidationError("\(unknown) (from --ruleset or [tool.crucible] rulesets)")
        } catch {
            FileHandle.standardError.write(Data("crucible validate: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    private func execute() async throws {
        let directory = FileManager.default.currentDirectoryPath
        let project = try ProjectConfiguration.load(from: directory, kindsDirectory: nil)
        var sandbox = SandboxConfiguration()
        let progress: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("crucible: \($0)\n".utf8)) }
        let version = python ?? project.settings["python"]?.stringValue
        let interpreter = try await PythonInterpreter.prepare(version, sandboxDirectory: try sandbox.resolvedPaths().sandbox, progress: progress)
        if version != nil { sandbox.interpreter = interpreter }
        // The project's packages too: a rule may use one (tdom's parser) where it is installed.
        let wanted = (project.settings["packages"]?.arrayValue?.compactMap(\.stringValue) ?? []) + requirements
        if !wanted.isEmpty {
            sandbox.interpreter = interpreter
            sandbox.packages = try await PackageEnvironment.prepare(wanted, for: interpreter, progress: progress)
        }
        let validator = try Validator(sandbox: sandbox)
        defer { validator.shutdown() }
        var configuration = try Validator.Configuration(project: project)
        if listRules {
            let rules = try validator.rules(configuration: configuration)
            if format == .json { print(JSONValue.array(rules).jsonText); return }
            for rule in rules {
                print("\(rule["id"]?.stringValue ?? "?")  [\(rule["ruleset"]?.stringValue ?? "")]  \(rule["message"]?.stringValue ?? "")")
                print("    \(rule["doc"]?.stringValue ?? "")\n    hint: \(rule["hint"]?.stringValue ?? "")")
            }
            return
        }
        if !rulesets.isEmpty { configuration.rulesets = rulesets }
        if let select { configuration.select = split(select) }
        if let ignore { configuration.ignore += split(ignore) }

        let files = try collectFiles()
        let interactive = isatty(STDERR_FILENO) == 1 && files.count > 200
        let diagnostics = try validator.validate(files: files, configuration: configuration) { done, total in
            if interactive { FileHandle.standardError.write(Data("\rvalidating: batch \(done)/\(total)".utf8)) }
        }
        if interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        switch format {
        case .text:
            for d in diagnostics {
                print("\(d.path):\(d.line):\(d.column): \(d.rule) \(d.message)")
                if !d.hint.isEmpty { print("  hint: \(d.hint)") }
            }
            print(diagnostics.isEmpty ? "All checks passed (\(files.count) files)." : "Found \(diagnostics.count) findings in \(files.count) files.")
        case .json:
            print(JSONValue.array(diagnostics.map(\.json)).jsonText)
        case .github:
            for d in diagnostics {
                let level = d.severity == "error" ? "error" : "warning"
                print("::\(level) file=\(d.path),line=\(d.line),col=\(d.column),endLine=\(d.endLine),endColumn=\(d.endColumn),title=\(d.rule)::\(d.message) (\(d.hint))")
            }
        case .sarif:
            print(Sarif.document(diagnostics, rules: try validator.rules(configuration: configuration)).jsonText)
        }
        if statistics {
            var counts: [String: Int] = [:]
            for d in diagnostics { counts[d.rule, default: 0] += 1 }
            for (rule, count) in counts.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
                FileHandle.standardError.write(Data("\(String(count).padding(toLength: 6, withPad: " ", startingAt: 0))\(rule)\n".utf8))
            }
        }
        if !diagnostics.isEmpty { throw ExitCode(1) }
    }

    private func split(_ list: String) -> [String] {
        list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    private func collectFiles() throws -> [(path: String, source: String)] {
        let skip: Set<String> = [".git", ".venv", "venv", "__pycache__", ".build", "node_modules", ".crucible", ".tox"]
        var found: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ValidationError("\(path): no such file or folder")
            }
            if !isDirectory.boolValue { found.append(path); continue }
            guard let walker = FileManager.default.enumerator(atPath: path) else { continue }
            while let relative = walker.nextObject() as? String {
                let name = (relative as NSString).lastPathComponent
                if (walker.fileAttributes?[.type] as? FileAttributeType) == .typeDirectory {
                    if skip.contains(name) || name.hasPrefix(".") { walker.skipDescendants() }
                    continue
                }
                if name.hasSuffix(".py") { found.append(path == "." ? relative : path + "/" + relative) }
            }
        }
        return try found.sorted().map { file in
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("\(file): cannot read it") }
            return (file, String(decoding: data, as: UTF8.self))
        }
    }
}

/// SARIF 2.1.0, as GitHub code scanning reads it.
enum Sarif {
    static func document(_ diagnostics: [Diagnostic], rules: [JSONValue]) -> JSONValue {
        let levels = ["error": "error", "warning": "warning"]
        let ruleObjects: [JSONValue] = rules.map { rule in
            [
                "id": rule["id"] ?? "?", "name": rule["id"] ?? "?",
                "shortDescription": ["text": rule["message"] ?? ""],
                "fullDescription": ["text": rule["doc"] ?? ""],
                "help": ["text": .string("\(rule["hint"]?.stringValue ?? "")\n\nFailing:\n\(rule["failing_example"]?.stringValue ?? "")\n\nPassing:\n\(rule["passing_example"]?.stringValue ?? "")")],
                "defaultConfiguration": ["level": .string(levels[rule["severity"]?.stringValue ?? ""] ?? "warning")],
            ]
        }
        let results: [JSONValue] = diagnostics.map { d in
            [
                "ruleId": .string(d.rule), "level": .string(levels[d.severity] ?? "warning"),
                "message": ["text": .string("\(d.message). \(d.hint)")],
                "locations": [[
                    "physicalLocation": [
                        "artifactLocation": ["uri": .string(d.path)],
                        "region": ["startLine": .int(d.line), "startColumn": .int(d.column),
                                   "endLine": .int(d.endLine), "endColumn": .int(max(d.endColumn, d.column))],
                    ],
                ]],
            ]
        }
        return [
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
            "runs": [[
                "tool": ["driver": ["name": "crucible", "informationUri": "https://github.com/crucible/crucible",
                                    "rules": .array(ruleObjects)]],
                "results": .array(results),
            ]],
        ]
    }
}
