import CrucibleSandbox
import CrucibleWire
import Foundation

/// What can be generated: its system prompt, the rulesets that gate it, and how it is run.
/// Declared in `Corpus/kinds/NAME.toml`, one file per kind; a project adds or replaces kinds
/// under `[tool.crucible.kinds.NAME]` with the same fields.
public struct ArtifactKind: Sendable, Equatable {
    public enum Runtime: String, Sendable {
        /// Runs in the sandbox with the tools; must finish without error (and meet the task's expectation).
        case sandbox
        /// A pytest module, run confined against the workspace; must pass.
        case pytest
        /// Gated by the static checks only; each attempt records why it was not run.
        case staticOnly = "static"
    }

    public var name: String
    public var description: String
    public var prompt: String
    public var rulesets: [String]
    public var runtime: Runtime
    /// Why a static kind is not run (recorded with every attempt).
    public var staticReason: String?
    /// Whether the system prompt carries the tools' Python API.
    public var toolsInPrompt: Bool
    /// Where it was declared.
    public var source: String

    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    package init(name: String, table: JSONValue, source: String) throws {
        func fail(_ what: String) -> Problem { Problem(description: "\(source): kind \(name): \(what)") }
        guard let prompt = table["prompt"]?.stringValue, !prompt.isEmpty else { throw fail("`prompt` is missing") }
        let runtimeName = table["runtime"]?.stringValue ?? "static"
        guard let runtime = Runtime(rawValue: runtimeName) else {
            throw fail("runtime must be sandbox, pytest or static, not \(runtimeName.debugDescription)")
        }
        self.name = name
        self.description = table["description"]?.stringValue ?? name
        self.prompt = prompt.trimmingCharacters(in: .whitespacesAndNewlines)
        self.rulesets = (table["rulesets"]?.arrayValue ?? []).compactMap(\.stringValue)
        self.runtime = runtime
        self.staticReason = table["static_reason"]?.stringValue
        self.toolsInPrompt = table["tools_in_prompt"]?.boolValue ?? (runtime != .staticOnly)
        self.source = source
        if runtime == .staticOnly && staticReason == nil {
            throw fail("a static kind needs `static_reason` (recorded with every attempt)")
        }
    }

    /// The kinds declared in `directory` (Corpus/kinds), one TOML file each.
    public static func load(directory: String) throws -> [String: ArtifactKind] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".toml") }.sorted()
        var kinds: [String: ArtifactKind] = [:]
        for name in names {
            let path = directory + "/" + name
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw Problem(description: "cannot read \(path)")
            }
            let table: JSONValue
            do { table = try TOMLDocument.parse(text, path: path) } catch { throw Problem(description: "\(error)") }
            let kindName = table["name"]?.stringValue ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            kinds[kindName] = try ArtifactKind(name: kindName, table: table, source: path)
        }
        return kinds
    }

    /// `Corpus/kinds` beside the Sandbox folder the configuration uses.
    public static func defaultDirectory(_ configuration: SandboxConfiguration) -> String? {
        try? locateDirectory(configuration)
    }

    /// `Corpus/kinds` beside the Sandbox folder, or an error naming where it was looked for
    /// and what to run (a checkout's build, or PREFIX/share/crucible after scripts/install).
    public static func locateDirectory(_ configuration: SandboxConfiguration) throws -> String {
        try InstallLayout.part("Corpus/kinds", marker: "", configuration: configuration)
    }
}
