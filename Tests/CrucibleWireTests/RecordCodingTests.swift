import Crucible
import CrucibleTesting
@testable import CrucibleWire
import Foundation
import Testing

/// Records to and from the one JSON model: the shapes clients read, decoded where they enter.
@Suite("Record coding")
struct RecordCodingTests {
    @Test func aResultEncodesToItsStableShape() throws {
        let result = ExecutionResult(
            outcome: .killedBySeccomp(syscall: "ptrace"), value: .json([1, "two"], text: "[1, \"two\"]", type: "list"),
            stdout: "out", stderr: "", stdoutTruncatedBytes: 3, duration: .milliseconds(2), trace: ExecutionTrace(
                toolCalls: [ToolCallRecord(index: 0, tool: "get", arguments: ["n": 1], duration: .milliseconds(1),
                                           outcome: .timeout, resultBytes: 0)],
                fieldReads: [FieldRead(call: 0, tool: "get", path: "a.b")]))
        let json = result.jsonObject
        #expect(json["outcome"] == "killed_by_seccomp" && json["syscall"] == "ptrace")
        #expect(json["outcome_detail"] == "killed by seccomp (ptrace)")
        #expect(json["value"] == [1, "two"] && json["value_type"] == "list" && json["value_repr"] == nil)
        #expect(json["stdout_truncated_bytes"] == 3 && json["duration_ms"] == 2.0)
        #expect(json["error"] == nil)
        let call = try #require(json["trace"]?["tool_calls"]?.arrayValue?.first)
        let expected: JSONValue = [
            "index": 0, "tool": "get", "arguments": ["n": 1], "duration_ms": 1.0, "outcome": "timeout", "result_bytes": 0,
            "detail": "timeout",
        ]
        #expect(call == expected)
        #expect(json["trace"]?["field_reads"] == [["call": 0, "tool": "get", "path": "a.b"]])
    }

    @Test func aReprValueAndAnErrorEncodeTheirOwnFields() {
        let error = PythonError(
            type: "SyntaxError", message: "bad", traceback: "…", frames: [], line: 2, column: 5, endLine: nil,
            endColumn: nil, sourceLine: "x = (")
        let json = ExecutionResult(outcome: .syntaxError, value: .repr("<obj>", type: "Obj", truncated: 7), error: error)
            .jsonObject
        #expect(json["value_repr"] == "<obj>" && json["value_truncated_chars"] == 7 && json["value"] == nil)
        #expect(json["error"] == ["type": "SyntaxError", "message": "bad", "traceback": "…", "frames": [], "line": 2,
                                  "column": 5, "source_line": "x = ("])
    }

    /// `jsonObject` and `AttemptRecord.json` are built directly, not through the Encoder: they
    /// must give exactly what `encode(to:)` gives, for every shape of result and record.
    @Test func theDirectJSONOfResultsAndRecordsIsWhatTheirEncodersWrite() throws {
        let error = PythonError(
            type: "ZeroDivisionError", message: "division by zero", traceback: "Traceback…",
            frames: [.init(file: "<code>", line: 1, function: "<module>", text: "1/0")], line: 1, column: nil, endLine: nil,
            endColumn: nil, sourceLine: nil)
        var withFiles = ExecutionResult(outcome: .ok, value: .json(["a": [1, 2.5, nil]], text: "{'a': …}", type: "dict"))
        withFiles.files = [OutputFile(name: "out.txt", data: Array("hi".utf8))]
        let results = [
            ExecutionResult(outcome: .ok, duration: .microseconds(1234)),
            ExecutionResult(outcome: .ok, value: .json(3, text: "3", type: "int"), stdout: "x\n", duration: .milliseconds(2)),
            ExecutionResult(outcome: .exception, stderr: "e", stderrTruncatedBytes: 9, error: error),
            ExecutionResult(outcome: .killedBySeccomp(syscall: "ptrace"), value: .repr("<o>", type: "O", truncated: 4)),
            ExecutionResult(outcome: .crashed(signal: 11, reason: "SIGSEGV"), cpuTime: .milliseconds(3)),
            ExecutionResult(outcome: .crashed(signal: nil, reason: "exit 3"), value: .repr("<o>", type: "O", truncated: 0)),
            ExecutionResult(outcome: .timeout, trace: ExecutionTrace(
                toolCalls: [ToolCallRecord(index: 0, tool: "get", arguments: ["n": 1], duration: .milliseconds(1),
                                           outcome: .ok, resultBytes: 8)],
                fieldReads: [FieldRead(call: 0, tool: "get", path: "a")])),
            withFiles,
        ]
        for result in results {
            #expect(result.jsonObject == (try JSONValueEncoder().encode(result)))
        }
        var full = try AttemptRecord(json: [
            "session_id": "s", "attempt_id": "a-1", "task_id": "t-1", "task": "do it", "kind": "view", "attempt": 2,
            "max_attempts": 3, "model": "m", "system_prompt": "be brief", "messages": [["role": "user", "content": "hi"]],
            "parameters": ["temperature": 0.2], "reply": ["content": "x = 1", "finish_reason": "stop"],
            "usage": ["prompt_tokens": 10], "latency_ms": 12.5, "http_attempts": 1,
            "model_error": ["kind": "timeout", "message": "slow"], "code": "x = 1", "extraction": "fenced",
            "diagnostics": [["rule": "VIEW001", "severity": "error", "message": "m", "path": "<a>", "line": 1, "column": 0]],
            "runtime": ["status": "ran", "outcome": "ok"], "passed": false, "feedback": "fix it", "overhead_ms": 1.5,
            "started_at": "2026-12-07T12:00:00Z", "source": "serve", "mcp_tool": "run_python", "future": [1, 2],
        ])
        full.reply?.reasoning = "because"
        let bare = AttemptRecord(episodeID: "e", passed: true)
        for record in [full, bare] {
            #expect(record.json == (try JSONValueEncoder().encode(record)))
            #expect(record.json.jsonText == (try JSONValueEncoder().encode(record)).jsonText)
        }
    }

    @Test func recordIDsAreVersionSevenUUIDsThatSortByTime() throws {
        let before = UInt64(Date().timeIntervalSince1970 * 1_000)
        let ids = (0..<1000).map { _ in RecordUUID.next() }
        let after = UInt64(Date().timeIntervalSince1970 * 1_000)
        #expect(Set(ids).count == ids.count)
        for id in ids {
            #expect(UUID(uuidString: id)?.uuidString.lowercased() == id)
            let characters = Array(id)
            #expect(characters[14] == "7" && "89ab".contains(characters[19]))
            // The first 48 bits are the Unix time in milliseconds when it was made.
            let milliseconds = try #require(UInt64(id.replacingOccurrences(of: "-", with: "").prefix(12), radix: 16))
            #expect(milliseconds >= before && milliseconds <= after)
        }
        // Made later, sorted later (to the millisecond): what keeps the corpus's indexes append-only.
        Thread.sleep(forTimeInterval: 0.002)
        let later = RecordUUID.next()
        #expect(ids.allSatisfy { $0 < later })
    }

    @Test func diagnosticsRoundTripAndOldRecordsDecodeLeniently() throws {
        let finding = Diagnostic(rule: "VIEW006", message: "f-string", hint: "use t\"\"", path: "v.py", line: 4, column: 12)
        #expect(Diagnostic(json: finding.json) == finding)
        #expect(finding.json["end_line"] == 4 && finding.json["end_column"] == 13)
        let old = Diagnostic(json: ["rule": "X1", "path": "a.py", "line": 1, "column": 1])
        #expect(old?.severity == "error" && old?.message == "" && old?.endColumn == 2)
        #expect(Diagnostic(json: ["rule": "X1", "line": 1]) == nil)  // no path, no column: not a finding
    }

    @Test func theDecoderNamesWhereAValueIsWrong() {
        struct Shape: Decodable { var items: [Int] }
        #expect {
            try JSONValueDecoder().decode(Shape.self, from: ["items": [1, "two"]])
        } throws: { error in
            guard case DecodingError.typeMismatch(_, let context) = error else { return false }
            return context.codingPath.map(\.stringValue) == ["items", "1"] && context.debugDescription.contains("string")
        }
    }
}

@Suite("JSONValue coding of every scalar width")
struct ScalarWidthCodingTests {
    struct Widths: Codable, Equatable {
        var size: Int64
        var small: UInt8
        var signed: Int32
        var huge: UInt64
        var ratio: Float
        var labels: [String: String]
    }

    @Test("Int64, UInt8, Int32, UInt64 past Int.max and Float round-trip exactly (they used to recurse without end)")
    func roundTrip() throws {
        let widths = Widths(size: 120_000_000_000, small: 255, signed: -7, huge: UInt64.max, ratio: 0.5, labels: ["python3.14": "3.14.10-1"])
        let encoded = try JSONValueEncoder().encode(widths)
        #expect(encoded["size"] == .int(120_000_000_000))
        #expect(encoded["huge"] == .bigInteger("18446744073709551615"))
        #expect(try JSONValueDecoder().decode(Widths.self, from: encoded) == widths)
    }

    @Test("A value out of an integer type's range is a decoding error, not a wrapped number")
    func outOfRange() {
        struct Byte: Decodable { var value: UInt8 }
        #expect(throws: DecodingError.self) { try JSONValueDecoder().decode(Byte.self, from: ["value": 300]) }
    }
}
