import CrucibleValidation
import CrucibleWire
import Foundation

/// What the quality gates know about one piece of code: its normal form, what it asserts,
/// what it silences, and (when asked) what the current validators say about it. Computed by
/// `Validators/crucible_validators/corpus_facts.py` in confined workers, in parallel batches.
public struct CodeFacts: Sendable, Equatable {
    /// Hash of the syntax tree without docstrings (`ast:`), or of the whitespace-folded text
    /// when the code does not parse (`text:`).
    public var normalized: String
    public var parses: Bool
    public var asserts: Int
    public var tests: Int
    public var suppressions: Int
    /// Functions and classes defined (nested ones included).
    public var definitions: Int
    /// Error rule IDs under the current validators; nil when validation was not asked for.
    public var errors: [String]?
}

extension Validator {
    /// One request: the code, and the validator configuration to re-validate it under (nil: facts only).
    public struct FactsRequest: Sendable {
        public var key: String
        public var source: String
        public var configuration: Int?
        public init(key: String, source: String, configuration: Int?) {
            self.key = key
            self.source = source
            self.configuration = configuration
        }
    }

    /// Facts for every request, keyed by `key`; `configurations[i]` is what `configuration: i` means.
    public func codeFacts(
        _ requests: [FactsRequest], configurations: [Configuration], batchSize: Int = 800,
        progress: (@Sendable (Int, Int) -> Void)? = nil
    ) throws -> [String: CodeFacts] {
        guard !requests.isEmpty else { return [:] }
        let batches = stride(from: 0, to: requests.count, by: batchSize).map {
            Array(requests[$0..<min($0 + batchSize, requests.count)])
        }
        let configurationsJSON = JSONValue.array(configurations.map(\.json))
        let workers = max(1, min(sandbox.configuration.poolSize, batches.count))
        let results = concurrentResults(count: batches.count, workers: workers, progress: { finished in progress?(finished, batches.count) }) { index -> [String: CodeFacts] in
            let files = JSONValue.array(batches[index].map {
                .array([.string($0.key), .string($0.source), $0.configuration.map { .int($0) } ?? .null])
            })
            let value = try engine(
                "from crucible_validators import corpus_facts\ncorpus_facts.facts_many(files, configs)",
                inputs: ["files": files, "configs": configurationsJSON], configuration: Configuration())
            guard case .object(let members) = value else {
                throw Failure(description: "the corpus facts came back in an unexpected shape (an internal error)")
            }
            var facts: [String: CodeFacts] = [:]
            for (key, entry) in members {
                guard let row = entry.arrayValue, row.count == 7, let normalized = row[0].stringValue else {
                    throw Failure(description: "the corpus facts for \(key) are malformed (an internal error)")
                }
                facts[key] = CodeFacts(
                    normalized: normalized, parses: row[1].boolValue ?? false, asserts: row[2].intValue ?? 0,
                    tests: row[3].intValue ?? 0, suppressions: row[4].intValue ?? 0, definitions: row[6].intValue ?? 0,
                    errors: row[5].arrayValue?.compactMap(\.stringValue))
            }
            return facts
        }
        var all: [String: CodeFacts] = [:]
        for result in results { all.merge(try result.get()) { first, _ in first } }
        return all
    }
}
