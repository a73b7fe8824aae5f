import CrucibleTesting
import Foundation
import GRDB
import Testing

import Crucible
@testable import CrucibleCorpus

/// `CorpusStore.merge(from:)`: corpora recorded on several machines become one, each attempt
/// once, with the rows that hang off it. (End to end through the CLI: Tests/python/test_ray.py.)
struct CorpusMergeTests {
    let scratch = ScratchFolder("crucible-merge")

    func temporaryPath() -> String { scratch.file("corpus.sqlite") }

    /// A serve-style record: an attempt id, one tool call feeding a second (a data flow).
    func record(_ session: String, _ attempt: Int, uid: String?, passed: Bool, code: String) throws -> AttemptRecord {
        var fields: [String: JSONValue] = [
            "session_id": .string(session), "attempt": .int(attempt), "passed": .bool(passed), "code": .string(code),
            "task": "t", "kind": "script", "source": "serve", "started_at": .string("2026-12-01T10:00:0\(attempt).000Z"),
            "diagnostics": passed ? [] : [["rule": "VIEW001", "severity": "error", "message": "m", "path": "<a>", "line": 1, "column": 0]],
            "runtime": ["trace": [
                "tool_calls": [
                    ["index": 0, "tool": "get_user", "arguments": ["id": 7], "duration_ms": 1.0, "outcome": "ok", "result_bytes": 20,
                     "result_fields": ["name": [1, 0]]],
                    ["index": 1, "tool": "find_orders", "arguments": ["customer": "Ada"], "duration_ms": 2.0, "outcome": "ok", "result_bytes": 40],
                ],
                "field_reads": [["call": 0, "tool": "get_user", "path": "name"]],
                "data_flows": [["from_call": 0, "from_tool": "get_user", "from_path": "name", "to_call": 1, "to_tool": "find_orders", "argument": "customer"]],
            ]],
        ]
        if let uid { fields["attempt_id"] = .string(uid) }
        return try AttemptRecord(json: .object(fields))
    }

    /// Rows per table, and each attempt as session:number:code:verdict in row order.
    func snapshot(_ store: CorpusStore) throws -> (tables: [String: Int], attempts: [String]) {
        try store.pool.read { db in
            var tables: [String: Int] = [:]
            for table in ["sessions", "attempts", "diagnostics", "tool_calls", "data_flows", "feedback"] {
                tables[table] = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)")
            }
            let attempts = try String.fetchAll(db, sql: """
                SELECT session_id || ':' || attempt || ':' || code || ':' || COALESCE(verdict, '-') FROM attempts ORDER BY session_id, attempt
                """)
            return (tables, attempts)
        }
    }

    @Test func mergesMachinesCorporaOnceKeepingNumbersFeedbackAndDataFlows() throws {
        // Machine A: a failing attempt the user edited (the edit becomes attempt 3), a pass,
        // and a retry-loop attempt that has no attempt id.
        let a = try CorpusStore(path: temporaryPath())
        try a.record(record("serve:s1", 1, uid: "a-1", passed: false, code: "bad()"), source: "serve")
        try a.record(record("serve:s1", 2, uid: "a-2", passed: true, code: "good()"), source: "serve")
        try a.record(record("generate:g", 1, uid: nil, passed: true, code: "loop()"), source: "generate")
        try a.feedback(AttemptFeedback(json: ["attempt": "a-1", "verdict": "edited", "edited_code": "fixed()"]))
        // Machine B: another attempt recorded under the same session id and number (a client
        // that reused its corpus session on two nodes), and a session of its own.
        let b = try CorpusStore(path: temporaryPath())
        try b.record(record("serve:s1", 1, uid: "b-1", passed: true, code: "other()"), source: "serve")
        try b.record(record("serve:s2", 1, uid: "b-2", passed: false, code: "b2()"), source: "serve")
        try b.feedback(AttemptFeedback(json: ["attempt": "b-2", "verdict": "rejected"]))

        let target = try CorpusStore(path: temporaryPath())
        let fromA = try target.merge(from: a)
        #expect(fromA == .init(inserted: 4, alreadyPresent: 0, renumbered: 0, feedback: 1))
        let fromB = try target.merge(from: b)
        #expect(fromB == .init(inserted: 2, alreadyPresent: 0, renumbered: 1, feedback: 1))

        let merged = try snapshot(target)
        #expect(merged.attempts == [
            "generate:g:1:loop():-",
            "serve:s1:1:bad():edited", "serve:s1:2:good():-", "serve:s1:3:fixed():-",
            "serve:s1:4:other():-",  // B's attempt 1, appended: A's attempt 1 is another attempt
            "serve:s2:1:b2():rejected",
        ])
        // Every row that hangs off an attempt came along: 5 recorded attempts with 2 calls and
        // 1 flow each (the edit has no trace), the two failing ones' diagnostics.
        #expect(merged.tables == ["sessions": 3, "attempts": 6, "diagnostics": 2, "tool_calls": 10, "data_flows": 5, "feedback": 2])
        // The edit still points at its fix, and the fix at what it edited.
        let fix = try target.pool.read { db in
            try String.fetchOne(db, sql: """
                SELECT a.code || '->' || f.code FROM feedback JOIN attempts a ON a.id = feedback.attempt_id
                JOIN attempts f ON f.id = feedback.fix_attempt_id
                """)
        }
        #expect(fix == "bad()->fixed()")
        // Exports read the merged corpus as one: the rejected attempt is no positive example.
        #expect(try target.attempts().filter(\.passed).map(\.code).sorted() == ["fixed()", "good()", "loop()", "other()"])
        let bySession = try target.pool.read { db in
            try String.fetchAll(db, sql: "SELECT id || ':' || attempts || ':' || outcome FROM sessions ORDER BY id")
        }
        #expect(bySession == ["generate:g:1:passed", "serve:s1:4:passed", "serve:s2:1:failed"])

        // Merging the same sources again adds nothing at all.
        #expect(try target.merge(from: a) == .init(inserted: 0, alreadyPresent: 4, renumbered: 0, feedback: 0))
        #expect(try target.merge(from: b) == .init(inserted: 0, alreadyPresent: 2, renumbered: 0, feedback: 0))
        let again = try snapshot(target)
        #expect(again.tables == merged.tables && again.attempts == merged.attempts)
        #expect(try target.integrityCheck() == "ok")
    }

    @Test func feedbackGivenAfterAMergeArrivesWithTheNextMerge() throws {
        let node = try CorpusStore(path: temporaryPath())
        try node.record(record("serve:s", 1, uid: "n-1", passed: true, code: "x()"), source: "serve")
        let target = try CorpusStore(path: temporaryPath())
        #expect(try target.merge(from: node).inserted == 1)
        try node.feedback(AttemptFeedback(json: ["attempt": "n-1", "verdict": "rejected", "note": "wrong answer"]))
        #expect(try target.merge(from: node) == .init(inserted: 0, alreadyPresent: 1, renumbered: 0, feedback: 1))
        #expect(try snapshot(target).attempts == ["serve:s:1:x():rejected"])
    }

    @Test func aCorpusIsNotMergedIntoItself() throws {
        let path = temporaryPath()
        let store = try CorpusStore(path: path)
        #expect(throws: CorpusStore.Failure.self) { try store.merge(from: CorpusStore(path: path)) }
    }
}
