import ArgumentParser
import Crucible

/// Where a command records its attempts: shared by `generate`, `serve` and `mcp`.
struct RecordingOptions: ParsableArguments {
    @Option(help: "The corpus database attempts are recorded in (default: $CRUCIBLE_CORPUS, else .crucible/corpus.sqlite).")
    var corpus: String?

    @Flag(help: "Record nothing in the corpus.")
    var noCorpus = false

    /// The recorder, tagging records with `source`; nil with --no-corpus.
    func recorder(source: String) -> CorpusRecorder? {
        noCorpus ? nil : CorpusRecorder(path: CorpusStore.resolvedPath(corpus), source: source)
    }
}
