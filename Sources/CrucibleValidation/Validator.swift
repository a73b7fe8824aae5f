import CrucibleConfiguration
import CrucibleSandbox
import CrucibleWire
import Foundation

/// Runs the rules in `Validators/` on Python sources. The rules are Python modules run by
/// the embedded interpreter, inside confined workers like any other code: they parse the
/// sources and never run them, and a user's own rule module gets no more power than model
/// code. The same engine serves `crucible validate` (files, in parallel) and the retry loop
/// (one in-memory string).
public final class Validator: Sendable {
    public struct Configuration: Sendable {
        public var rulesets: [String] = []
        public var select: [String] = []
        public var ignore: [String] = []
        /// Extra settings rules read (`view_decorator`, `view_suffix`, `per_file_ignores`, …),
        /// from `[tool.crucible]`.
        public var settings: [String: JSONValue] = [:]
        /// The user's own rule modules: (name, Python source). They run in the sandbox.
        public var userModules: [(name: String, source: String)] = []
        public init() {}

        /// The project's settings for the validators: `rulesets`, `select`, `ignore`,
        /// `rule_modules` (paths relative to the project; their source is read here and run in
        /// the sandbox), and everything else (`view_decorator`, …) for the rules to read.
        public init(project: ProjectConfiguration) throws {
            rulesets = try project.strings("rulesets")
            select = try project.strings("select")
            ignore = try project.strings("ignore")
            for path in try project.strings("rule_modules") {
                let full = path.hasPrefix("/") ? path : project.directory + "/" + path
                guard let source = try? String(contentsOfFile: full, encoding: .utf8) else {
                    throw Failure(description: "rule_modules: cannot read \(full)")
                }
                userModules.append((name: path, source: source))
            }
            guard case .object(var rest) = project.settings else { return }
            for key in ["rulesets", "select", "ignore", "rule_modules", "tools", "kinds"] { rest.removeValue(forKey: key) }
            settings = rest
        }

        package var json: JSONValue {
            var object = settings
            if !rulesets.isEmpty { object["rulesets"] = .array(rulesets.map { .string($0) }) }
            if !select.isEmpty { object["select"] = .array(select.map { .string($0) }) }
            if !ignore.isEmpty { object["ignore"] = .array(ignore.map { .string($0) }) }
            if !userModules.isEmpty {
                object["user_modules"] = .array(userModules.map { .array([.string($0.name), .string($0.source)]) })
            }
            return .object(object)
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Rulesets asked for that no rule belongs to: a typo would otherwise check nothing and pass.
    public struct UnknownRulesets: Error, CustomStringConvertible {
        public let unknown: [String]
        public let known: [String]
        public var description: String {
            "unknown ruleset\(unknown.count == 1 ? "" : "s") \(unknown.map(\.debugDescription).joined(separator: ", ")); "
                + "known: \(known.joined(separator: ", "))"
        }
    }

    package let sandbox: Sandbox
    public let validatorsDirectory: String
    /// Ruleset names by the user modules they were listed with (rule modules add rulesets).
    private let rulesetNames = RulesetNames()

    /// Starts a sandbox whose zygote preloads the validators.
    public init(sandbox base: SandboxConfiguration = SandboxConfiguration(), validatorsDirectory: String? = nil) throws {
        let directory: String
        do { directory = try validatorsDirectory ?? Self.locateDirectory(base) } catch {
            throw Failure(description: "\(error)")
        }
        self.validatorsDirectory = directory
        var configuration = base
        configuration.importPaths = [directory]
        configuration.readablePaths = [directory]
        // Every built-in rule module: one not preloaded is compiled again in each batch's worker
        // (about 70 ms of CPU per batch, 16 batches for a large folder on 2 cores).
        configuration.preloadModules = [
            "crucible_validators.engine", "crucible_validators.rules.view", "crucible_validators.rules.tdom",
            "crucible_validators.rules.svcs", "crucible_validators.rules.svcs_di",
            "crucible_validators.rules.middleware", "crucible_validators.corpus_facts",
        ]
        configuration.defaultLimits.wallClock = .seconds(120)
        configuration.defaultLimits.memoryBytes = 1 << 30
        configuration.defaultLimits.valueBytes = 64 << 20
        configuration.poolSize = max(2, ProcessInfo.processInfo.activeProcessorCount)
        sandbox = try Sandbox(configuration: configuration)
    }

    static func defaultDirectory(_ configuration: SandboxConfiguration) -> String? {
        try? locateDirectory(configuration)
    }

    /// `Validators/` beside the Sandbox folder (a checkout, or PREFIX/share/crucible), or an
    /// error naming the file looked for and what to run.
    static func locateDirectory(_ configuration: SandboxConfiguration) throws -> String {
        try InstallLayout.part("Validators", marker: "crucible_validators/engine.py", configuration: configuration)
    }

    /// Diagnostics for one source held in memory (the retry loop's path).
    public func validate(source: String, path: String = "<code>", configuration: Configuration = Configuration()) throws
        -> [Diagnostic]
    {
        try checkRulesets(configuration)
        let batch = try run(files: [(path, source)], configuration: configuration)
        return batch.diagnostics + (try finish(facts: batch.facts, configuration: configuration))
    }

    /// Diagnostics for many sources, validated in parallel batches across the pool's workers.
    public func validate(
        files: [(path: String, source: String)], configuration: Configuration = Configuration(),
        progress: (@Sendable (Int, Int) -> Void)? = nil
    ) throws -> [Diagnostic] {
        try checkRulesets(configuration)
        let workers = max(1, sandbox.configuration.poolSize)
        let batchCount = min(files.count, workers * 4)
        guard batchCount > 0 else { return [] }
        var split = [[(String, String)]](repeating: [], count: batchCount)
        for (index, file) in files.enumerated() { split[index % batchCount].append((file.path, file.source)) }
        let batches = split
        let results = concurrentResults(count: batchCount, workers: workers, progress: { finished in progress?(finished, batchCount) }) { index in try run(files: batches[index], configuration: configuration) }
        var diagnostics: [Diagnostic] = []
        var facts: [String: JSONValue] = [:]
        for result in results {
            let batch = try result.get()
            diagnostics += batch.diagnostics
            facts.merge(batch.facts) { first, _ in first }
        }
        // Project rules (svcs registrations, middleware) need every file's facts at once.
        diagnostics += try finish(facts: facts, configuration: configuration)
        return diagnostics.sorted { ($0.path, $0.line, $0.column, $0.rule) < ($1.path, $1.line, $1.column, $1.rule) }
    }

    /// The rulesets there are for this configuration (built in, plus its rule modules'), sorted.
    public func knownRulesets(configuration: Configuration = Configuration()) throws -> [String] {
        let key = configuration.userModules.map { "\($0.name)\u{0}\($0.source)" }.joined(separator: "\u{1}")
        if let known = rulesetNames.get(key) { return known }
        let known = Set(try rules(configuration: configuration).compactMap { $0["ruleset"]?.stringValue }).sorted()
        rulesetNames.set(key, known)
        return known
    }

    /// Throws `UnknownRulesets` when the configuration names a ruleset no rule belongs to.
    public func checkRulesets(_ configuration: Configuration) throws {
        guard !configuration.rulesets.isEmpty else { return }
        let known = try knownRulesets(configuration: configuration)
        let unknown = configuration.rulesets.filter { !known.contains($0) }
        if !unknown.isEmpty { throw UnknownRulesets(unknown: unknown, known: known) }
    }

    /// Every rule's metadata: ID, ruleset, severity, message, hint, doc, examples.
    public func rules(configuration: Configuration = Configuration()) throws -> [JSONValue] {
        let result = sandbox.execute(
            "from crucible_validators import engine\nengine.describe_rules(config.get('user_modules') or [])",
            inputs: ["config": configuration.json])
        guard result.outcome == .ok, let rules = result.value?.json?.arrayValue else {
            throw Failure(description: "listing the rules failed: \(result.error?.traceback ?? "\(result.outcome)")")
        }
        return rules
    }

    /// One batch's per-file findings and the facts its files give the project rules.
    struct Batch: Sendable {
        var diagnostics: [Diagnostic]
        var facts: [String: JSONValue]
    }

    private func run(files: [(String, String)], configuration: Configuration) throws -> Batch {
        let value = try engine(
            "engine.validate_many(files, config)",
            inputs: ["files": .array(files.map { .array([.string($0.0), .string($0.1)]) })],
            configuration: configuration)
        guard let found = value["diagnostics"]?.arrayValue, case .object(let facts)? = value["facts"] else {
            throw Failure(description: "the validators returned an unexpected shape (an internal error)")
        }
        return Batch(diagnostics: found.compactMap(Diagnostic.init(json:)), facts: facts)
    }

    /// The project rules over the facts of every file validated together.
    private func finish(facts: [String: JSONValue], configuration: Configuration) throws -> [Diagnostic] {
        guard !facts.isEmpty else { return [] }
        let value = try engine("engine.finish(facts, config)", inputs: ["facts": .object(facts)],
                               configuration: configuration)
        guard let found = value.arrayValue else {
            throw Failure(description: "the validators returned an unexpected shape (an internal error)")
        }
        return found.compactMap(Diagnostic.init(json:))
    }

    package func engine(_ call: String, inputs: [String: JSONValue], configuration: Configuration) throws
        -> JSONValue
    {
        var inputs = inputs
        inputs["config"] = configuration.json
        let result = sandbox.execute("from crucible_validators import engine\n" + call, inputs: inputs)
        guard result.outcome == .ok, let value = result.value?.json else {
            let detail = result.error.map { "\($0.type): \($0.message)\n\($0.traceback)" } ?? "\(result.outcome)"
            throw Failure(description: "the validators failed (an internal error, not a finding): \(detail)")
        }
        return value
    }

    /// The embedded interpreter's version (the one that normalizes code for the corpus).
    public var pythonVersion: String { sandbox.report.pythonVersion }

    public func shutdown() { sandbox.shutdown() }
}

/// Known ruleset names per set of user rule modules, computed once each.
private final class RulesetNames: Sendable {
    private let names = Locked<[String: [String]]>([:])
    func get(_ key: String) -> [String]? { names.value[key] }
    func set(_ key: String, _ value: [String]) { names.withLock { $0[key] = value } }
}
