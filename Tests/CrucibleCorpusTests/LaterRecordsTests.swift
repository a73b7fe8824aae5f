import CrucibleTesting
import Foundation
import GRDB
import Synchronization
import Testing

import Crucible
@testable import CrucibleCorpus

/// `recordLater` writes records in batches (LaterRecords.swift): nothing queued may be lost or
/// reordered, and a batch must leave the store as the same records stored one by one would.
/// (Through `crucible serve`, with exit, SIGTERM and feedback: Tests/python/test_serve_corpus_batches.py.)
struct LaterRecordsTests {
    let scratch = ScratchFolder("crucible-later")

    func temporaryPath() -> String { scratch.file("corpus.sqlite") }

    /// Calls as serve records them: unnumbered, with an attempt id; every third passes; two models.
    func calls(_ count: Int, sessions: Int) -> [AttemptRecord] {
        (0..<count).map { index in
            var record = CallRecord.make(
                CallRecord.Link(episode: "serve:s\(index % sessions)", task: "t", model: index % 5 == 4 ? "m\(index)" : nil),
                source: "serve", code: "x = \(index)", passed: index % 3 == 2, diagnostics: [],
                runtime: ["status": "ran", "outcome": "ok"], feedback: nil, started: CallRecord.Start())
            record.extra["workspace"] = ["git": false]
            return record
        }
    }

    func rows(_ store: CorpusStore) throws -> [String] {
        try store.pool.read { db in
            try String.fetchAll(db, sql: """
                SELECT s.id || ' ' || s.attempts || ' ' || IFNULL(s.first_passing_attempt, '-') || ' ' || s.outcome || ' ' || IFNULL(s.model, '-')
                FROM sessions s ORDER BY s.rowid
                """) + String.fetchAll(db, sql: "SELECT session_id || ' ' || attempt || ' ' || code || ' ' || uid FROM attempts ORDER BY id")
        }
    }

    @Test func recordsQueuedLaterAreAllStoredInCallOrderOnceDrained() throws {
        let store = try CorpusStore(path: temporaryPath())
        let recorder = CorpusRecorder(store: store, source: "serve", batchWindow: .seconds(60))
        let records = calls(300, sessions: 7)
        for record in records { recorder.recordLater(record) }
        recorder.drain()
        // The window (60 s) has not run out: only full batches and the drain wrote them.
        let stored = try store.attempts()
        #expect(stored.count == records.count)
        #expect(stored.sorted { $0.id < $1.id }.map(\.code) == records.map(\.code))
        #expect(recorder.snapshot.stored == records.count && recorder.snapshot.spilled == 0)
    }

    /// A recorder's writer thread ends once idle and the next record starts another, so a
    /// host that makes a recorder per task does not keep a thread and a store open for each.
    @Test func anIdleWriterEndsAndFreesItsRecorderAndTheNextRecordStartsAnother() throws {
        let store = try CorpusStore(path: temporaryPath())
        let records = calls(2, sessions: 1)
        weak var released: CorpusRecorder?
        do {
            let recorder = CorpusRecorder(store: store, source: "serve", batchWindow: .milliseconds(1), writerIdleExit: .milliseconds(20))
            released = recorder
            recorder.recordLater(records[0])
            recorder.drain()
            #expect(eventually { !recorder.later.hasWriter })
            recorder.recordLater(records[1])
            recorder.drain()
            #expect(try store.attempts().map(\.code) == records.map(\.code))
        }
        // Only the writer thread held the recorder; it ends and lets go.
        #expect(eventually { released == nil })
    }

    /// Many threads queue at once while others drain (serve's request threads, feedback and
    /// session closes): a drain returns only once what was queued before it is stored, each
    /// thread's records keep their order, and nothing is stored twice or lost.
    @Test(arguments: [0, 1, 60_000])
    func concurrentQueuesAndDrainsLoseNothingAndKeepEachThreadsOrder(windowMs: Int) throws {
        let store = try CorpusStore(path: temporaryPath())
        let recorder = CorpusRecorder(store: store, source: "serve", batchWindow: .milliseconds(windowMs))
        let threads = 6, each = 150
        let drainsSawTheirRecords = Mutex(true)
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for index in 0..<each {
                var record = calls(1, sessions: 1)[0]
                record.episodeID = "serve:thread\(thread)"
                record.code = "x = \(index)"
                recorder.recordLater(record)
                if index % 50 == 49 {
                    recorder.drain()
                    let seen = (try? store.attempts().filter { $0.episodeID == "serve:thread\(thread)" }.count) ?? -1
                    if seen < index + 1 { drainsSawTheirRecords.withLock { $0 = false } }
                }
            }
        }
        recorder.drain()
        #expect(drainsSawTheirRecords.withLock { $0 })
        let stored = try store.attempts()
        #expect(stored.count == threads * each)
        for thread in 0..<threads {
            let mine = stored.filter { $0.episodeID == "serve:thread\(thread)" }.sorted { $0.id < $1.id }
            #expect(mine.map(\.code) == (0..<each).map { "x = \($0)" })
            #expect(mine.map(\.attempt) == Array(1...each))
        }
    }

    @Test func aBatchLeavesTheStoreAsRecordsStoredOneByOneDo() throws {
        let records = calls(40, sessions: 3)
        let single = try CorpusStore(path: temporaryPath())
        for record in records { try single.record(record, source: "serve") }
        let together = try CorpusStore(path: temporaryPath())
        let stored = try together.record(together: records, source: "serve")
        #expect(stored.map(\.attempt) == (0..<40).map { $0 / 3 + 1 })
        #expect(try rows(together) == rows(single))
        // Stored again (an import of the same records): nothing new, nothing changed.
        #expect(try together.record(together: records, source: "serve").allSatisfy { !$0.inserted })
        #expect(try rows(together) == rows(single))
    }

    /// A batch plans the rows of the sessions it creates (AttemptRows.NewSession): numbers
    /// given, repeated and absent, and a session stored before the batch, must come out as
    /// they do record by record.
    @Test func aBatchPlansNewSessionsAsRecordsStoredOneByOneWouldLeaveThem() throws {
        func call(_ episode: String, _ attempt: Int?, passed: Bool, model: String? = nil) -> AttemptRecord {
            var record = CallRecord.make(
                CallRecord.Link(episode: episode, task: "t", model: model), source: "serve",
                code: "x = \(attempt ?? -1)", passed: passed, diagnostics: [], runtime: ["status": "ran"],
                feedback: nil, started: CallRecord.Start())
            record.attempt = attempt
            record.extra["workspace"] = ["git": false]
            return record
        }
        let before = [call("old", nil, passed: false), call("old", nil, passed: false, model: "m-old")]
        let batch = [
            call("new", 2, passed: false), call("old", nil, passed: true), call("new", nil, passed: true, model: "m1"),
            call("new", 2, passed: true), call("passless", nil, passed: false), call("new", nil, passed: false, model: "m2"),
            call("old", 7, passed: false), call("new", 1, passed: true), call("old", nil, passed: false), call("passless", 1, passed: true),
        ]
        let single = try CorpusStore(path: temporaryPath())
        let together = try CorpusStore(path: temporaryPath())
        for record in before {
            try single.record(record, source: "serve")
            try together.record(record, source: "serve")
        }
        let one = try batch.map { try single.record($0, source: "serve") }
        let all = try together.record(together: batch, source: "serve")
        #expect(all.map(\.attempt) == [2, 3, 3, 2, 1, 4, 7, 1, 8, 1])
        #expect(all.map(\.attempt) == one.map(\.attempt) && all.map(\.inserted) == one.map(\.inserted))
        #expect(all.map(\.inserted) == [true, true, true, false, true, true, true, true, true, false])
        #expect(try rows(together) == rows(single))
        #expect(try rows(together).prefix(3) == ["old 5 3 passed m-old", "new 4 1 passed m1", "passless 1 - failed -"])
    }

    /// A record whose id is already stored (a re-import) is skipped even in a session the batch
    /// makes: the plan is then dropped, and the rows still come out as record by record.
    @Test(arguments: [[nil, nil] as [Int?], [1, 1], [-5, nil]])
    func aRecordWhoseIDIsStoredDoesNotBreakThePlan(numbers: [Int?]) throws {
        func call(_ episode: String, _ attempt: Int?, passed: Bool, model: String?) -> AttemptRecord {
            var record = CallRecord.make(
                CallRecord.Link(episode: episode, task: "t", model: model), source: "import",
                code: "x = \(attempt ?? 0)", passed: passed, diagnostics: [], runtime: ["status": "ran"],
                feedback: nil, started: CallRecord.Start())
            record.attempt = attempt
            return record
        }
        let earlier = call("elsewhere", nil, passed: true, model: nil)
        var reused = call("new", numbers[0], passed: true, model: "m-skipped")
        reused.attemptID = earlier.attemptID
        let batch = [reused, call("new", numbers[1], passed: false, model: nil), call("new", nil, passed: false, model: "m2")]
        let single = try CorpusStore(path: temporaryPath())
        let together = try CorpusStore(path: temporaryPath())
        try single.record(earlier, source: "import")
        try together.record(earlier, source: "import")
        let one = try batch.map { try single.record($0, source: "import") }
        let all = try together.record(together: batch, source: "import")
        #expect(all.map(\.inserted) == [false, true, true])
        #expect(all.map(\.attempt) == one.map(\.attempt) && all.map(\.inserted) == one.map(\.inserted))
        #expect(try rows(together) == rows(single))
    }

    @Test func feedbackRightAfterRecordLaterFindsItsAttempt() throws {
        let store = try CorpusStore(path: temporaryPath())
        let recorder = CorpusRecorder(store: store, source: "serve", batchWindow: .seconds(60))
        for record in calls(10, sessions: 2) {
            recorder.recordLater(record)
            let stored = try recorder.feedback(AttemptFeedback(json: ["attempt": .string(record.attemptID!), "verdict": "accepted"]))
            #expect(stored.fixAttemptID == nil)
        }
    }

    @Test func aBatchTheStoreCannotTakeIsSpilledRecordByRecord() throws {
        let folder = scratch.file("spill")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/corpus.sqlite"
        let store = try CorpusStore(path: path)
        let recorder = CorpusRecorder(store: store, source: "serve", batchWindow: .seconds(60), report: { _ in })
        // The file becomes unwritable under the open store: each record of the batch is spilled whole.
        let records = calls(5, sessions: 1)
        try store.pool.write { db in try db.execute(sql: "PRAGMA query_only = 1") }
        for record in records { recorder.recordLater(record) }
        recorder.drain()
        let counts = recorder.snapshot
        #expect(counts.stored == 0 && counts.spilled == records.count)
        let spilled = try String(contentsOfFile: try #require(counts.spillPath), encoding: .utf8)
        #expect(spilled.split(separator: "\n").count == records.count)
        unlink(counts.spillPath!)
    }

    // MARK: In the background

    /// Polls `condition` until it holds or `seconds` pass (a liveness bound, not a speed check).
    func eventually(within seconds: Double = 30, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.005)
        }
        return try condition()
    }

    /// The scheduling policy of `recorder`'s writer thread from /proc (5: SCHED_IDLE, 0: normal);
    /// nil while none runs.
    func writerPolicy(_ recorder: CorpusRecorder) -> Int? {
        guard let thread = recorder.later.writerThreadID,
              let stat = try? String(contentsOfFile: "/proc/self/task/\(thread)/stat", encoding: .utf8),
              let fields = stat.split(separator: ")").last?.split(separator: " "), fields.count > 38
        else { return nil }
        return Int(fields[38])  // field 41 of proc_pid_stat(5); fields[0] is field 3, the state
    }

    /// The writer waits for its batch at SCHED_IDLE (a request thread waking on its core takes it
    /// at once), where the process may bring it back, and a drain brings it back to normal
    /// priority: a reader waiting on the corpus must not wait on a starved thread. Told not to,
    /// it stays at normal priority throughout.
    @Test(arguments: [true, false])
    func theWriterRunsInTheBackgroundAndComesBackForADrain(background: Bool) throws {
        let store = try CorpusStore(path: temporaryPath())
        let recorder = CorpusRecorder(store: store, source: "serve", batchWindow: .seconds(600), background: background)
        let records = calls(1 + LaterRecords.limit, sessions: 3)
        recorder.recordLater(records[0])
        let idle = background && BackgroundPriority.canReturn
        #expect(eventually { writerPolicy(recorder) == (idle ? 5 : 0) })
        recorder.drain()
        #expect(writerPolicy(recorder) == 0)
        #expect(try store.attempts().count == 1)
        // A full batch (no drain) goes back to the background.
        for record in records.dropFirst() { recorder.recordLater(record) }
        #expect(try eventually { try store.attempts().count == records.count })
        #expect(writerPolicy(recorder) == (idle ? 5 : 0))
    }

    /// A writer kept from the cores by a busy machine does not fall behind for good: past
    /// `LaterRecords.backlogLimit` waiting records it writes at normal priority.
    @Test func aBacklogIsWrittenAtNormalPriority() throws {
        guard BackgroundPriority.canReturn else { return }  // never in the background, nothing to come back from
        let store = try CorpusStore(path: temporaryPath())
        let recorder = CorpusRecorder(store: store, source: "serve", batchWindow: .seconds(600))
        // The window (600 s) keeps the first record's batch from starting: the rest queue behind it.
        let records = calls(1 + 3 * LaterRecords.backlogLimit, sessions: 7)
        // The window (600 s) keeps the first record's batch waiting, its writer in the background.
        recorder.recordLater(records[0])
        #expect(eventually { writerPolicy(recorder) == 5 })
        // The policies the writer goes through from here, in order (sampled), without repeats.
        let policies = Mutex<[Int]>([5])
        let watching = Atomic<Bool>(true)
        let watcher = Thread { [self, recorder] in
            while watching.load(ordering: .relaxed) {
                if let policy = writerPolicy(recorder) { policies.withLock { if $0.last != policy { $0.append(policy) } } }
                Thread.sleep(forTimeInterval: 0.0002)
            }
        }
        watcher.start()
        // The rest pile up behind it: more than `backlogLimit` wait when the writer takes them.
        for record in records.dropFirst() { recorder.recordLater(record) }
        // Stored without a drain (which would raise the priority itself).
        #expect(try eventually { try store.attempts().count == records.count })
        watching.store(false, ordering: .relaxed)
        let seen = policies.withLock { $0 }
        #expect(seen.contains(0), "policies seen: \(seen)")
    }

    /// A drain that comes while the writer works through a batch in the background does not wait
    /// on a starved thread: with every core busy at normal priority (spinning threads here), a
    /// SCHED_IDLE writer gets next to no CPU, so the writer raises itself for the rest of the batch.
    @Test func aDrainDuringABackgroundBatchOnABusyMachineIsNotStarved() throws {
        guard BackgroundPriority.canReturn else { return }  // never in the background
        let store = try CorpusStore(path: temporaryPath())
        let recorder = CorpusRecorder(store: store, source: "serve", batchWindow: .milliseconds(1))
        // Records of 64 KB each: a batch of them is tens of milliseconds of the writer's work.
        let records = calls(4 * LaterRecords.limit, sessions: 5).map { call in
            var record = call
            record.code += "\n# " + String(repeating: "x", count: 64 << 10)
            return record
        }
        for record in records { recorder.recordLater(record) }
        // A batch is taken (in the background: no drain and no backlog then); while the writer
        // works through it, the machine gets busy and a reader asks for the corpus.
        let taken = Date().addingTimeInterval(30)
        while recorder.later.batchesTaken == 0 && Date() < taken { Thread.sleep(forTimeInterval: 0.0002) }
        #expect(recorder.later.batchesTaken > 0)
        let spinning = Atomic<Bool>(true)
        let cores = max(2, ProcessInfo.processInfo.activeProcessorCount)
        for _ in 0..<(2 * cores) {
            Thread { while spinning.load(ordering: .relaxed) {} }.start()
        }
        defer { spinning.store(false, ordering: .relaxed) }
        let drained = DispatchSemaphore(value: 0)
        Thread { recorder.drain(); drained.signal() }.start()
        // Starved at SCHED_IDLE beside 2 spinning threads per core, the batch would take minutes.
        #expect(drained.wait(timeout: .now() + 60) == .success, "the drain waited on a starved writer")
        spinning.store(false, ordering: .relaxed)
        #expect(try store.attempts().count == records.count)
    }

    /// A batch written in the background is `LaterRecords.limit` records at most: its transaction
    /// holds the corpus's write lock for as long as a starved writer takes. (What a short batch
    /// leaves behind follows without another window: `aBacklogIsWrittenAtNormalPriority`, whose
    /// window never ends, stored nothing past the first batch without that.)
    @Test func backgroundBatchesAreShort() throws {
        guard BackgroundPriority.canReturn else { return }  // never in the background
        let store = try CorpusStore(path: temporaryPath())
        let recorder = CorpusRecorder(store: store, source: "serve", batchWindow: .milliseconds(200))
        let records = calls(3 * LaterRecords.limit + 5, sessions: 4)
        for record in records { recorder.recordLater(record) }
        #expect(try eventually { try store.attempts().count == records.count })
        #expect(recorder.later.batchesTaken >= 4)
        #expect(try store.attempts().sorted { $0.id < $1.id }.map(\.code) == records.map(\.code))
    }
}
