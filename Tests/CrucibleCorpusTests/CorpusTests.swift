import CrucibleTesting
import Foundation
import Testing

import Crucible
@testable import CrucibleCorpus

/// The corpus's parts that need no sandbox: the store, MinHash, the fake-fix diff, splits.
/// (End to end, with the planted 1,010-attempt corpus: Tests/python/test_corpus.py.)
struct CorpusTests {
    let scratch = ScratchFolder("crucible-corpus")

    func temporaryPath() -> String { scratch.file("corpus.sqlite") }

    func record(_ session: String, _ attempt: Int?, passed: Bool, code: String = "x = 1", rules: [String] = []) throws
        -> AttemptRecord
    {
        var fields: [String: JSONValue] = [
            "session_id": .string(session), "passed": .bool(passed), "code": .string(code), "task": "t", "kind": "script",
            "diagnostics": .array(rules.map { ["rule": .string($0), "severity": "error", "message": "m", "path": "<a>", "line": 1, "column": 0] }),
            "runtime": ["trace": [
                "tool_calls": [["index": 0, "tool": "git_log", "arguments": ["limit": 2], "duration_ms": 1.5, "outcome": "ok", "result_bytes": 80]],
                "field_reads": [["call": 0, "tool": "git_log", "path": "commits[].author"]],
            ]],
        ]
        if let attempt { fields["attempt"] = .int(attempt) }
        return try AttemptRecord(json: .object(fields))
    }

    @Test func storesAttemptsWithTheirFindingsAndTraceAndNumbersUnnumberedOnes() throws {
        let path = temporaryPath()
        let store = try CorpusStore(path: path)
        try store.record(try record("a", 1, passed: false, rules: ["VIEW001", "VIEW006"]), source: "generate")
        let second = try store.record(try record("a", nil, passed: true), source: "generate")
        #expect(second.attempt == 2 && second.inserted)
        let again = try store.record(try record("a", 1, passed: false), source: "generate")
        #expect(!again.inserted)  // the same session and attempt: kept once
        let attempts = try store.attempts()
        #expect(attempts.map(\.attempt) == [1, 2])
        #expect(attempts[0].failedRules == ["VIEW001", "VIEW006"] && attempts[1].failedRules.isEmpty)
        #expect(try store.integrityCheck() == "ok")
        let reopened = try CorpusStore(path: path)  // migrations already applied: opens as is
        let calls = try reopened.pool.read { db in try String.fetchAll(db, sql: "SELECT tool || ':' || fields_read FROM tool_calls") }
        #expect(calls == ["git_log:[\"commits[].author\"]", "git_log:[\"commits[].author\"]"])
    }

    @Test func aRecordWithoutASessionOrAResultIsRefusedWhereItIsRead() throws {
        #expect(throws: DecodingError.self) { try AttemptRecord(json: ["passed": true, "code": "x"]) }
        #expect(throws: DecodingError.self) { try AttemptRecord(json: ["session_id": "", "passed": true]) }
        #expect(throws: DecodingError.self) { try AttemptRecord(json: ["session_id": "s", "passed": "yes"]) }
        #expect(throws: DecodingError.self) { try AttemptRecord(json: ["session_id": "s", "passed": true, "attempt": 0]) }
        do { _ = try AttemptRecord(json: ["session_id": "s"]) } catch {
            #expect(AttemptRecord.explain(error) == "\"passed\" is missing")
        }
        // Fields this version does not know come back as they went in.
        let record = try AttemptRecord(json: ["session_id": "s", "passed": true, "mcp_tool": "run_python", "future": [1, 2]])
        #expect(record.extra == ["mcp_tool": "run_python", "future": [1, 2]])
        #expect(record.json["future"] == [1, 2] && record.json["mcp_tool"] == "run_python")
    }

    @Test func aCorpusFromANewerCrucibleIsRefusedNotDamaged() throws {
        let path = temporaryPath()
        let store = try CorpusStore(path: path)
        try store.pool.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v9: from the future')")
        }
        let error = #expect(throws: CorpusStore.Failure.self) { try CorpusStore(path: path) }
        #expect(error?.reason == .newerSchema)
    }

    @Test func timestampsReadAsFoundationsISO8601AcrossYearsAndSecondEdges() {
        let foundation = ISO8601DateFormatter()
        let instants: [TimeInterval] = [
            0, 951_782_400 /* 2000-02-29 */, 1_700_000_000.25, 1_798_761_599.9999 /* just before 2027 */,
            1_795_268_439.5005, 4_102_444_800 /* 2100-01-01 */, 86_399.999, -0.5,
        ]
        for instant in instants {
            // Foundation rounds to the nearest second; Timestamp truncates (a time is never
            // written as later than it was), so compare on the truncated instant.
            let second = Date(timeIntervalSince1970: instant.rounded(.down))
            #expect(Timestamp.iso8601(Date(timeIntervalSince1970: instant)) == foundation.string(from: second), "\(instant)")
        }
        let milliseconds: [(TimeInterval, String)] = [
            (1_798_761_599.9999, "2026-12-31T23:59:59.999Z"), (86_399.999, "1970-01-01T23:59:59.999Z"),
            (1_700_000_000.25, "2023-11-14T22:13:20.250Z"), (1_795_268_439.5005, "2026-11-21T13:40:39.500Z"),
            (0, "1970-01-01T00:00:00.000Z"), (-0.5, "1969-12-31T23:59:59.500Z"),
        ]
        for (instant, text) in milliseconds {
            #expect(Timestamp.iso8601(Date(timeIntervalSince1970: instant), milliseconds: true) == text)
        }
    }

    @Test func minHashEstimatesJaccardAndClustersNearCopiesOnly() {
        let words = (0..<120).map { "word\($0 * 7919 % 1000)" }
        let base = words.joined(separator: " ")
        var changed = words
        changed[60] = "different"
        let unrelated = (0..<120).map { "other\($0)" }.joined(separator: " ")
        let near = NearDuplicates()
        let similarity = NearDuplicates.similarity(near.signature(base), near.signature(changed.joined(separator: " ")))
        // One token changed of 120: 5 of 116 shingles differ, Jaccard = 111/121 ≈ 0.92.
        #expect(abs(similarity - 111.0 / 121.0) < 0.08)
        #expect(near.clusters([base, unrelated, changed.joined(separator: " ")]) == [0, 1, 0])
    }

    @Test func aFixThatDeletesTheOffendingBlockIsFakeAndOneThatRewritesItIsNot() {
        func attempt(_ code: String, line: Int = 0) -> CorpusAttempt {
            CorpusAttempt(id: 1, episodeID: "s", attempt: 1, passed: line == 0, code: code, reply: nil, feedback: nil,
                          startedAt: "", source: "import", taskID: "", task: "", kind: "view", model: nil, systemPrompt: nil,
                          budget: nil, findings: line == 0 ? [] : [.init(rule: "VIEW006", severity: "error", line: line, column: 0, message: "", hint: "")])
        }
        let failure = attempt("import x\n\ndef a_view():\n    y = 1\n    return html(f\"{y}\")\n", line: 5)
        let deleted = attempt("import x\n\n")
        let rewritten = attempt("import x\n\ndef a_view():\n    y = 1\n    return html(t\"{y}\")\n")
        let oneLine = attempt("import x\n\ndef a_view():\n    y = 1\n")
        #expect(QualityGates.fakeFix(failure: failure, fix: deleted, before: nil, after: nil) == "deletes the offending code")
        #expect(QualityGates.fakeFix(failure: failure, fix: rewritten, before: nil, after: nil) == nil)
        // One plain line removed may be the real fix (an unused import, a stray print).
        #expect(QualityGates.fakeFix(failure: failure, fix: oneLine, before: nil, after: nil) == nil)
    }

    @Test func fakeFixVerdictsWorkedOutInChunksComeBackInTheExamplesOrder() {
        func attempt(_ id: Int64, _ code: String, failing: Bool) -> CorpusAttempt {
            CorpusAttempt(id: id, episodeID: "s\(id)", attempt: 1, passed: !failing, code: code, reply: nil, feedback: nil,
                          startedAt: "", source: "import", taskID: "", task: "", kind: "view", model: nil, systemPrompt: nil,
                          budget: nil, findings: failing ? [.init(rule: "VIEW006", severity: "error", line: 5, column: 0, message: "", hint: "")] : [])
        }
        let failing = "import x\n\ndef a_view():\n    y = 1\n    return html(f\"{y}\")\n"
        // More examples than one chunk holds, a fake fix at irregular places, and positives with no failure.
        let examples = (0..<7_001).map { index -> TrainingExample in
            let id = Int64(index * 2)
            if index % 3 == 0 { return TrainingExample(role: .positive, attempt: attempt(id, "x = \(index)", failing: false)) }
            let fix = index % 7 == 0 ? "import x\n\n" : "import x\n\ndef a_view():\n    y = \(index)\n    return html(t\"{y}\")\n"
            return TrainingExample(role: .pair, attempt: attempt(id, fix, failing: false), failure: attempt(id + 1, failing, failing: true))
        }
        let serial = examples.map { example in
            example.failure.flatMap { QualityGates.fakeFix(failure: $0, fix: example.attempt, before: nil, after: nil) }
        }
        #expect(QualityGates.fakeFixes(examples, facts: [:]) == serial)
        #expect(serial.compactMap { $0 }.count == (0..<7_001).filter { $0 % 3 != 0 && $0 % 7 == 0 }.count)
    }

    @Test func sharedFeedbackTextsGiveTheLinesEachFormatRendersAlone() {
        let failure = CorpusAttempt(
            id: 7, episodeID: "s", attempt: 1, passed: false, code: "html(f\"{y}\")", reply: nil, feedback: nil, startedAt: "",
            source: "import", taskID: "t", task: "write it", kind: "view", model: nil, systemPrompt: nil, budget: 3,
            findings: [.init(rule: "VIEW006", severity: "error", line: 1, column: 0, message: "not a t-string", hint: "use t")])
        var fix = failure
        fix.id = 8
        fix.attempt = 2
        fix.passed = true
        fix.findings = []
        fix.code = "html(t\"{y}\")"
        let pair = TrainingExample(role: .pair, attempt: fix, failure: failure)
        var conversation = TrainingExample(role: .positive, attempt: fix)
        conversation.context = [failure]
        let shared = FeedbackTexts()
        for format in ExportFormat.allCases {
            for example in [pair, conversation] {
                let alone = format.line(for: example)
                #expect(format.line(for: example, feedback: shared) == alone)
                #expect(format.line(for: example, feedback: shared) == alone)  // from the shared texts now
            }
        }
        #expect(shared.text(for: failure) == ExportFormat.feedback(for: failure))
    }

    @Test func recordsTwoWritersMakeAreMadeOnceAndLetGoWhenTaken() {
        #expect(SharedRecords.forExport(of: [.trlTools, .rl]) == nil)  // no hf: nothing is made twice
        #expect(SharedRecords.forExport(of: [.hf, .kto]) == nil)
        let shared = SharedRecords.forExport(of: ExportFormat.allCases)!
        var records = CorpusExporter.Records()
        records.metadata = Array("m\n".utf8)
        shared.leave(records, for: .trlTools)
        shared.leave(records, for: .kto)  // not one hf makes: not kept
        #expect(shared.take(.kto) == nil)
        #expect(shared.take(.trlTools)?.metadata == records.metadata)
        #expect(shared.take(.trlTools) == nil)  // taken once, then let go
    }

    @Test func splitsAreSeededAndKeepSessionsTogether() {
        let examples = (0..<200).map { index in
            TrainingExample(role: .positive, attempt: CorpusAttempt(
                id: Int64(index), episodeID: "s\(index / 2)", attempt: 1 + index % 2, passed: true, code: "", reply: nil,
                feedback: nil, startedAt: "", source: "import", taskID: "", task: "", kind: "", model: nil, systemPrompt: nil,
                budget: nil, findings: []))
        }
        let first = CorpusSplits(seed: 1).assign(examples, clusters: [:])
        #expect(first == CorpusSplits(seed: 1).assign(examples, clusters: [:]))
        #expect(first != CorpusSplits(seed: 2).assign(examples, clusters: [:]))
        for index in stride(from: 0, to: 200, by: 2) { #expect(first[index] == first[index + 1]) }
        let test = first.filter { $0 == .test }.count
        #expect(test >= 20 && test <= 22)
    }
}
