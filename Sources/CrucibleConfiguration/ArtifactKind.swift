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
    /// Python run after the artifact, in the same worker session (its names in scope): an
    /// exception or a failed assert fails the attempt (`check`, or `check_file` relative to the
    /// kind's file, in the TOML; `--check` overrides).
    public var check: String?
    /// Python run before the artifact in that session: stand-ins for names the kind's
    /// convention takes from the user's app (the artifact's own imports replace them).
    public var checkPrelude: String?
    /// The oldest Python the artifact runs on ("3.14" for t-strings): a static kind is run and
    /// checked when the sandbox's interpreter is at least this, and stays static below it.
    public var checkPython: String?
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
        self.check = table["check"]?.stringValue
        self.checkPrelude = table["check_prelude"]?.stringValue
        if let file = table["check_file"]?.stringValue {
            let path = file.hasPrefix("/") ? file
                : URL(fileURLWithPath: source).deletingLastPathComponent().appendingPathComponent(file).path
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw fail("check_file \(file.debugDescription): cannot read \(path)")
            }
            self.check = text
        }
        self.checkPython = table["check_python"]?.stringValue
        self.source = source
        if let checkPython, PythonVersion(checkPython) == nil {
            throw fail("check_python must be a version such as \"3.14\", not \(checkPython.debugDescription)")
        }
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

/// "3.14" as comparable numbers (major, minor).
public struct PythonVersion: Comparable, Sendable {
    public let major: Int, minor: Int

    public init?(_ text: String) {
        let parts = text.split(separator: ".").prefix(2).compactMap { Int($0) }
        guard parts.count == 2 else { return nil }
        (major, minor) = (parts[0], parts[1])
    }

    public static func < (a: PythonVersion, b: PythonVersion) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
}
