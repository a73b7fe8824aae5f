import CrucibleWire
import Foundation

/// `recordLater`: records written off the caller's path (an agent's answer never waits on the
/// disk), in batches. A SQLite commit costs about as much as the record it carries (the WAL's
/// writes of the pages it touched), so the records queued within `window` (5 ms unless
/// `--corpus-batch-ms` says otherwise), or `limit` of them, are stored in one transaction, in
/// the order they were queued.
///
/// One thread of its own writes them, started with the first record, waiting on a condition
/// with the window as its timeout: no Dispatch timer per batch, and the writer's scheduling is
/// its own (it yields after each record: `CorpusStore.record(together:yielding:)`). The thread
/// ends once no record has come for `idleExit` (the next record starts another): a process
/// that records now and then holds no thread in between, and a recorder nothing uses any more
/// is freed with its store, not held by its writer forever.
///
/// Whatever reads the corpus back first calls `drain()` (feedback on an attempt, a session
/// closing, the end of serve, http and mcp, and their SIGTERM), so a reader never misses a
/// record queued before it. A process killed outright (SIGKILL, a crash) loses only the batch
/// not yet committed: the records of the last `window` plus one commit, `limit` at most at a
/// steady rate (beyond `limit` a commit starts at once).
public final class LaterRecords: @unchecked Sendable {
    public static let defaultWindow: Duration = .milliseconds(5)
    /// Longer than an agent's usual pause between cells: a new writer is a thread start on
    /// the path of the request that queues the first record after the pause.
    public static let defaultIdleExit: Duration = .seconds(60)
    /// A batch this big is written at once, without waiting out the window.
    static let limit = 64
    /// How long the first record of a batch waits for others.
    let window: Duration
    /// How long the writer thread waits for a record before it ends.
    let idleExit: Duration

    init(window: Duration, idleExit: Duration = defaultIdleExit) {
        self.window = window
        self.idleExit = idleExit
    }

    /// Whether a writer thread runs now (tests: it ends when idle).
    var hasWriter: Bool {
        condition.lock()
        defer { condition.unlock() }
        return writer != nil
    }

    private let condition = MonotonicCondition()
    private var queued: [AttemptRecord] = []
    /// Records ever queued, and ever written (stored, spilled or reported lost): a drain
    /// waits until the second reaches what the first was when it was called.
    private var added = 0
    private var written = 0
    /// Drains waiting: the writer does not wait out the window for them.
    private var draining = 0
    private var writer: Thread?

    /// Queues `record`; `write` (the same function every time) gets it in a batch, on the
    /// writer thread.
    func add(_ record: AttemptRecord, write: @escaping @Sendable ([AttemptRecord]) -> Void) {
        condition.lock()
        queued.append(record)
        added += 1
        if writer == nil {
            let thread = Thread { [self] in
                // Named for `top -H` and perf: set from the thread itself, as a name given
                // before `start` never reaches the Linux thread (15 bytes at most).
                Thread.current.name = "crucible-corpus"
                writeForever(write)
            }
            writer = thread
            thread.start()
        }
        // The writer sleeps until a batch begins, or waits out the window of one begun.
        if queued.count == 1 || queued.count >= Self.limit { condition.signal() }
        condition.unlock()
    }

    /// Returns once every record queued before the call has been written.
    func drain() {
        condition.lock()
        let target = added
        draining += 1
        condition.broadcast()
        while written < target { condition.wait() }
        draining -= 1
        condition.unlock()
    }

    /// The writer thread: each batch as soon as it is full, a drain asks, or its window ends.
    private func writeForever(_ write: ([AttemptRecord]) -> Void) {
        condition.lock()
        while true {
            while queued.isEmpty {
                if !condition.wait(until: .after(idleExit)), queued.isEmpty {
                    writer = nil  // under the lock: the next `add` starts another
                    condition.unlock()
                    return
                }
            }
            let deadline = MonotonicCondition.Deadline.after(window)
            while queued.count < Self.limit && draining == 0 && condition.wait(until: deadline) {}
            let batch = queued
            queued = []
            condition.unlock()
            write(batch)
            condition.lock()
            written += batch.count
            condition.broadcast()
        }
    }
}

extension CorpusRecorder {
    /// Queues the record; it is stored (or spilled) within `LaterRecords.window`, in call order.
    public func recordLater(_ record: AttemptRecord) {
        later.add(record) { [self] batch in writeTogether(batch) }
    }

    /// Returns once every record queued before the call is stored or spilled: call it before
    /// anything reads the corpus back, and at exit.
    public func drain() { later.drain() }

    /// On the writer thread: stores the records together; when their transaction fails, each
    /// alone (`record`), so one bad record or a full disk is handled as it always was.
    private func writeTogether(_ records: [AttemptRecord]) {
        if records.count > 1, storeTogether(records) { return }
        for record in records { _ = try? self.record(record) }
    }
}
