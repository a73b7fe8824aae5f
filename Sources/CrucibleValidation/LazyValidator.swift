import CrucibleConfiguration
import CrucibleWire
import Foundation

/// The validators for a server (`crucible serve`, `crucible mcp`): started on the first check,
/// since they are a second zygote most sessions never need, and asked by artifact kind (a
/// kind names its rulesets: Corpus/kinds/*.toml and `[tool.crucible.kinds]`) or by rulesets.
public final class LazyValidator: Sendable {
    /// What one check found.
    public struct Check: Sendable {
        public var diagnostics: [Diagnostic]
        /// No error-severity finding (warnings do not fail a check).
        public var passed: Bool { !diagnostics.contains { $0.severity == "error" } }
        /// What a model reads to fix the errors (nil when it passed), naming the tool to call again.
        public var feedback: String?
    }

    public enum Problem: Error, CustomStringConvertible {
        /// The caller asked for a kind nobody defined: theirs to fix.
        case unknownKind(String, known: [String])
        /// The caller named rulesets no rule belongs to: theirs to fix.
        case unknownRulesets(Validator.UnknownRulesets)
        /// The validators could not start or run: the server's to fix.
        case unavailable(String)

        public var description: String {
            switch self {
            case .unknownKind(let kind, let known):
                "unknown kind \(kind.debugDescription); known: \(known.joined(separator: ", "))"
            case .unknownRulesets(let problem): "\(problem)"
            case .unavailable(let detail): "the validators cannot run: \(detail)"
            }
        }
    }

    private let start: @Sendable () throws -> Validator
    /// Each kind's rulesets, from the project's configuration.
    private let kindRulesets: [String: [String]]
    /// The validators once started (or why they could not); the lock is held while starting,
    /// so concurrent first checks start one zygote.
    private let started = Locked<Result<Validator, Error>?>(nil)

    public init(kinds: [String: ArtifactKind] = [:], start: @escaping @Sendable () throws -> Validator = { try Validator() }) {
        self.start = start
        self.kindRulesets = kinds.mapValues(\.rulesets)
    }

    /// Validates `code` with the rulesets given, else the kind's, else the core rules.
    public func check(_ code: String, kind: String?, rulesets: [String]?, path: String = "<code>", tool: String = "validate")
        throws -> Check
    {
        let validator = try startedValidator()
        var configuration = Validator.Configuration()
        if let rulesets {
            configuration.rulesets = rulesets
        } else if let kind, !kind.isEmpty {
            guard let kindRules = kindRulesets[kind] else {
                throw Problem.unknownKind(kind, known: knownKinds)
            }
            configuration.rulesets = kindRules.isEmpty ? ["core"] : kindRules
        }
        let diagnostics: [Diagnostic]
        do {
            diagnostics = try validator.validate(source: code, path: path, configuration: configuration)
        } catch let unknown as Validator.UnknownRulesets {
            throw Problem.unknownRulesets(unknown)
        } catch { throw Problem.unavailable("\(error)") }
        return Check(diagnostics: diagnostics, feedback: Feedback.forToolCall(diagnostics, code: code, tool: tool))
    }

    /// The kinds this project defines.
    public var knownKinds: [String] { kindRulesets.keys.sorted() }

    /// Starts the validators now; throws `.unavailable` on failure.
    @discardableResult
    public func startedValidator() throws -> Validator {
        let outcome = started.withLock { started in
            if started == nil { started = Result { try start() } }
            return started!
        }
        do { return try outcome.get() } catch { throw Problem.unavailable("\(error)") }
    }

    /// Stops the validators' zygote, if it was started.
    public func shutdown() {
        if case .success(let validator)? = started.value { validator.shutdown() }
    }
}
