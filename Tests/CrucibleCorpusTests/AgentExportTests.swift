import CrucibleTesting
import Foundation
import Testing

import Crucible
@testable import CrucibleCorpus

/// The agent exports' parts that need no sandbox: what a run's stored record gives the tool
/// messages, the conversations and their dialects, RL rows per task, splits over a record's
/// context, and the dataset card's YAML. (End to end, with the real consumers:
/// Tests/python/test_corpus.py.)
struct AgentExportTests {
    let scratch = ScratchFolder("crucible-agent")

    func store(_ records: [JSONValue]) throws -> CorpusStore {
        let store = try CorpusStore(path: scratch.file("corpus.sqlite"))
        for record in records { try store.record(try AttemptRecord(json: record), source: "generate") }
        return store
    }

    let failing: JSONValue = [
        "session_id": "s", "attempt": 1, "task_id": "t1", "task": "Count the commits.", "kind": "script", "passed": false,
        "code": "len(git_log().commits) / 0\n", "feedback": "Runtime error: ZeroDivisionError", "expect": ["value": 3],
        "runtime": [
            "status": "ran", "outcome": "exception", "stdout": "partial\n", "stderr": "",
            "error": ["type": "ZeroDivisionError", "message": "division by zero", "traceback": "", "frames": []],
            "trace": ["tool_calls": [["index": 0, "tool": "git_log", "arguments": [:], "outcome": "ok"]], "field_reads": []],
        ],
    ]
    let passing: JSONValue = [
        "session_id": "s", "attempt": 2, "task_id": "t1", "task": "Count the commits.", "kind": "script", "passed": true,
        "code": "len(git_log().commits)\n", "runtime": ["status": "ran", "outcome": "ok", "stdout": "", "stderr": "", "value": 3],
    ]

    @Test func aRunIsReadFromTheStoredRecord() throws {
        let store = try store([failing, passing])
        let runs = try store.attemptRuns()
        let ids = try store.attempts().map(\.id)
        #expect(runs[ids[0]] == AttemptRun(status: "ran", outcome: "exception", stdout: "partial\n", stderr: "", value: nil,
                                           error: "ZeroDivisionError: division by zero", reason: nil, checkOutcome: nil,
                                           expect: "{\"value\":3}", tools: ["git_log"]))
        #expect(runs[ids[1]]?.value == "3" && runs[ids[1]]?.tools == [])
    }

    @Test func aConversationHoldsTheFailedCallWithItsResultThenEndsOnThePass() throws {
        let store = try store([failing, passing])
        let attempts = try store.attempts()
        let runs = try store.attemptRuns()
        let conversations = ToolConversation.examples(from: TrainingExample.derive(from: attempts))
        #expect(conversations.count == 1 && conversations[0].context.map(\.attempt) == [1])

        let openAI = ToolConversation.messages(conversations[0], runs: runs, dialect: .openAI)
        #expect(openAI.map { $0["role"]?.stringValue } == ["system", "user", "assistant", "tool", "assistant"])
        #expect(openAI[2]["weight"] == 0 && openAI[4]["weight"] == 1 && openAI[2]["content"] == nil)
        let call = openAI[2]["tool_calls"]?.arrayValue?.first
        #expect(call?["function"]?["name"] == "run_python" && openAI[3]["tool_call_id"] == call?["id"])
        let arguments = try JSONValue(parsing: call?["function"]?["arguments"]?.stringValue ?? "")
        #expect(arguments == ["code": .string(attempts[0].code)])
        let result = try JSONValue(parsing: openAI[3]["content"]?.stringValue ?? "")
        #expect(result == ["passed": false, "status": "ran", "outcome": "exception", "stdout": "partial\n",
                           "error": "ZeroDivisionError: division by zero", "feedback": "Runtime error: ZeroDivisionError"])

        // Hugging Face templates get the arguments as an object and tool messages that name their tool.
        let hf = ToolConversation.messages(conversations[0], runs: runs, dialect: .huggingFace)
        #expect(hf[4]["tool_calls"]?.arrayValue?.first?["function"]?["arguments"] == ["code": .string(attempts[1].code)])
        #expect(hf[3]["name"] == "run_python" && hf[2]["content"] == "")
    }

    @Test func aFailedCallWhosePairTheGatesRemovedIsLeftOut() throws {
        let store = try store([failing, passing])
        let kept = TrainingExample.derive(from: try store.attempts()).filter { $0.role != .pair }
        #expect(ToolConversation.examples(from: kept).map(\.context.count) == [0])
    }

    @Test func rlRowsAreOnePerTaskWithTheKindsCheckAndTheToolsCalled() throws {
        var again = failing, againPassing = passing
        again = .object((again.objectMembers).merging(["session_id": "s2"]) { $1 })
        againPassing = .object((againPassing.objectMembers).merging(["session_id": "s2"]) { $1 })
        let store = try store([failing, passing, again, againPassing])
        let examples = TrainingExample.derive(from: try store.attempts())
        let tasks = RLTask.examples(from: examples)
        #expect(tasks.count == 1 && Set(tasks[0].context.map(\.episodeID)) == ["s", "s2"])
        let kind = try ArtifactKind(name: "script", table: ["prompt": "p", "runtime": "sandbox", "check": "assert True"], source: "test")
        let row = RLTask.line(tasks[0], runs: try store.attemptRuns(), kinds: ["script": kind], rulesets: ["core"])
        #expect(row["task_id"] == "t1" && row["runtime"] == "sandbox" && row["check"] == "assert True")
        #expect(row["expected"] == "{\"value\":3}" && row["tools"] == ["git_log"] && row["check_python"] == .null)
        #expect(row["prompt"]?.arrayValue?.last == ["role": "user", "content": "Count the commits."])
    }

    @Test func splitsKeepARecordsContextWithTheClusterItShares() {
        func attempt(_ id: Int64, _ session: String) -> CorpusAttempt {
            CorpusAttempt(id: id, episodeID: session, attempt: 1, passed: true, code: "", reply: nil, feedback: nil, startedAt: "",
                          source: "import", taskID: "", task: "", kind: "", model: nil, systemPrompt: nil, budget: nil, findings: [])
        }
        // 40 sessions; the conversation of session 0 carries a failure (id 1000) whose near-copy
        // is the pass of session 39: both must land in one split, whatever the seed.
        var examples = (0..<40).map { TrainingExample(role: .positive, attempt: attempt(Int64($0), "s\($0)")) }
        examples[0].context = [attempt(1000, "s0")]
        for seed in 0..<20 {
            let splits = CorpusSplits(seed: seed).assign(examples, clusters: [1000: 7, 39: 7])
            #expect(splits[0] == splits[39])
        }
    }

    @Test func theCardsYAMLIsBlockStyleWithSafeScalarsQuoted() {
        let value: YAMLValue = .map([
            ("license", .string("apache-2.0")), ("pretty_name", .string("Crucible corpus")), ("flag", .string("yes")),
            ("configs", .list([.map([("config_name", .string("default")), ("data_files", .list([.map([("split", .string("train")), ("path", .string("data/train-00000-of-00001.parquet"))])]))])])),
            ("tags", .list([.string("code")])), ("empty", .list([])), ("size", .int(3)),
        ])
        #expect(value.rendered(indent: 0) == """
            license: apache-2.0
            pretty_name: "Crucible corpus"
            flag: "yes"
            configs:
              - config_name: default
                data_files:
                  - split: train
                    path: data/train-00000-of-00001.parquet
            tags:
              - code
            empty: []
            size: 3

            """)
    }
}

extension JSONValue {
    var objectMembers: [String: JSONValue] {
        if case .object(let members) = self { return members }
        return [:]
    }
}
