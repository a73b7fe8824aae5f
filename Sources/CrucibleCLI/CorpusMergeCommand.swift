import ArgumentParser
import Crucible
import Foundation

/// `crucible corpus merge`: the corpora of many machines (one per Ray node, one per CI runner)
/// made one, each attempt once.
struct CorpusMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Add the attempts of other corpus files to one corpus, each attempt once.",
        discussion: """
            Every attempt of each SOURCE that TARGET does not have is added with its \
            diagnostics, tool calls, data flows and feedback, keeping its session and attempt \
            number. An attempt TARGET already has (the same attempt id; for attempts without \
            one, the same session, number, code and start time) is skipped and counted, so \
            merging the same source again adds nothing. When two machines recorded different \
            attempts under one session id and number, the later one is appended after that \
            session's attempts. TARGET is created when missing. Exit codes: 0 merged; 1 a \
            corpus could not be read or written; 2 usage error (a source that does not exist).
            """)

    @Argument(help: "Corpus files to take attempts from.")
    var sources: [String]

    @Option(help: "The corpus to add them to.")
    var into: String

    @Flag(help: "Print the counts as one JSON object on stdout.")
    var json = false

    func run() throws {
        for source in sources where !FileManager.default.fileExists(atPath: source) {
            throw fail("no corpus at \(source)", code: 2)
        }
        let target: CorpusStore
        do { target = try CorpusStore(path: into, create: true) } catch { throw fail("\(error)") }
        var results: [JSONValue] = []
        for source in sources {
            let counts: CorpusStore.MergeCounts
            do {
                counts = try target.merge(from: CorpusStore(path: source, create: false))
            } catch { throw fail("\(source): \(error)") }
            results.append([
                "source": .string(source), "inserted": .int(counts.inserted), "already_present": .int(counts.alreadyPresent),
                "renumbered": .int(counts.renumbered), "feedback": .int(counts.feedback),
            ])
            if !json {
                var line = "\(source): \(counts.inserted) attempts added, \(counts.alreadyPresent) already present"
                if counts.renumbered > 0 { line += " (\(counts.renumbered) appended after their session's attempts)" }
                if counts.feedback > 0 { line += ", \(counts.feedback) feedback" }
                print(line + ", into \(target.path)")
            }
        }
        if json { print(JSONValue.object(["corpus": .string(target.path), "sources": .array(results)]).jsonText) }
    }
}
