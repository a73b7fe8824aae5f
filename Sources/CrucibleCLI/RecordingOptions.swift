import ArgumentParser
import Crucible

/// Where a command records its attempts: shared by `generate`, `serve` and `mcp`.
struct RecordingOptions: ParsableArguments {
    @Option(help: "The corpus database attempts are recorded in (default: $CRUCIBLE_CORPUS, else .crucible/corpus.sqlite).")
    var corpus: String?

    @Flag(help: "Record nothing in the corpus.")
    var noCorpus = false

    @Option(help: ArgumentHelp(
        "How long (ms) a record of serve, http or mcp waits for others to share its corpus transaction (0: none).",
        discussion: "Records are written off the reply path; one commit for many costs far less CPU. A process killed "
            + "with SIGKILL loses at most the records of this window; SIGTERM and the end of input write them first."))
    var corpusBatchMs = 5

    func validate() throws {
        try SettingRange.corpusBatch.validate(corpusBatchMs, flag: "--corpus-batch-ms")
    }

    /// The recorder, tagging records with `source`; nil with --no-corpus.
    func recorder(source: String) -> CorpusRecorder? {
        noCorpus ? nil : CorpusRecorder(path: CorpusStore.resolvedPath(corpus), source: source,
                                        batchWindow: .milliseconds(corpusBatchMs))
    }
}
