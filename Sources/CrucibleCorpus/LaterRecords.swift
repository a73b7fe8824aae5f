import CrucibleWire
import Foundation

/// `recordLater`: records written off the caller's path (an agent's answer never waits on the
/// disk), in batches. A SQLite commit costs about as much as the record it carries (the WAL's
/// writes of the pages it touched), so the records queued within `window` (5 ms unless
/// `--corpus-batch-ms` says otherwise), or `limit` of them, are stored in one transaction, in
/// the order they were queued.
///
/// One thread of its own writes them, started with the first record, waiting on a condition
/// with the window as its timeout: no Dispatch timer per batch. The thread ends once no record
/// has come for `idleExit` (the next record starts another): a process that records now and
/// then holds no thread in between, and a recorder nothing uses any more is freed with its
/// store, not held by its writer forever.
///
/// **The writer stays out of the requests' way.** On two cores the client, the host's request
/// thread and a session's worker leave little room, and a record is about 20 µs of the
/// writer's CPU: at normal priority, yielding after each record, it made a back-to-back
/// session cell 40 µs slower (BENCHMARKS.md, issue 22). So:
/// - the writer runs at SCHED_IDLE (`BackgroundPriority`): it gets a core only when nothing
///   else wants it, and a request's thread that wakes on its core takes it at once;
/// - the records themselves are made on the writer (`recordLater(making:)`), not on the
///   thread that answers the request.
/// Even at SCHED_IDLE the writer can stand in a request's way: a thread that polls with
/// `sched_yield` (the host waiting on a worker, a session's worker waiting for its next cell)
/// hands its core to whatever else is runnable, and got it back from the writer only at the
/// scheduler's next tick (4 ms here): a back-to-back recorded cell's p99 went from 0.5 to 2 ms.
/// So the writer gives its core up after each `backgroundSlice` (200 µs) of work: the p99 is
/// back at 0.5-0.6 ms. Yielding after each record instead (every 20 µs) made the cells slower
/// than they were at normal priority.
/// The writer leaves the background when it must not be starved: with `backlogLimit` records
/// waiting (a machine kept busy by others) it catches up at normal priority, giving its core
/// up before each record, and for a `drain` it writes at once; either raises it in the middle
/// of a background batch too. A background batch is `limit` records at most, as its
/// transaction holds the corpus's write lock. Where the process may not bring a thread back
/// from SCHED_IDLE (`BackgroundPriority.canReturn`), it never goes there.
///
public final class LaterRecords: @unchecked Sendable {
    public static let defaultWindow: Duration = .milliseconds(5)
    /// Longer than an agent's usual pause between cells: a new writer is a thread start on
    /// the path of the request that queues the first record after the pause.
    public static let defaultIdleExit: Duration = .seconds(60)
    /// A batch this big is written at once, without waiting out the window.
    static let limit = 64
    /// Records waiting past which the writer catches up at normal priority.
    static let backlogLimit = 1024
    /// How long the writer works in the background before it gives its core up.
    static let backgroundSlice: Duration = .microseconds(200)
    /// How long the first record of a batch waits for others.
    let window: Duration
    /// How long the writer thread waits for a record before it ends.
    let idleExit: Duration
    /// Whether the writer runs at SCHED_IDLE between catch-ups (only where it may come back).
    let background: Bool

    init(window: Duration, idleExit: Duration = defaultIdleExit, background: Bool = true) {
        self.window = window
        self.idleExit = idleExit
        self.background = background && BackgroundPriority.canReturn
    }

    /// Whether a writer thread runs now (tests: it ends when idle).
    var hasWriter: Bool {
        condition.lock()
        defer { condition.unlock() }
        return writer != nil
    }

    /// The writer's Linux thread id while one runs (tests read its scheduling from /proc).
    var writerThreadID: pid_t? {
        condition.lock()
        defer { condition.unlock() }
        return writer == nil ? nil : writerTID
    }
    private var writerTID: pid_t?

    /// Batches the writer has taken from the queue (tests: one is being written while this
    /// is ahead of the records stored).
    var batchesTaken: Int {
        condition.lock()
        defer { condition.unlock() }
        return taken
    }
    private var taken = 0

    private let condition = MonotonicCondition()
    /// What the writer will store, in call order: each makes its record on the writer thread.
    private var queued: [@Sendable () -> AttemptRecord] = []
    /// Records ever queued, and ever written (stored, spilled or reported lost): a drain
    /// waits until the second reaches what the first was when it was called.
    private var added = 0
    private var written = 0
    /// Drains waiting: the writer does not wait out the window for them.
    private var draining = 0
    private var writer: Thread?

    /// Queues the record `make` returns; `write` (the same function every time) gets it in a
    /// batch, on the writer thread, with what to do before each record.
    func add(_ make: @escaping @Sendable () -> AttemptRecord,
             write: @escaping @Sendable (_ records: [AttemptRecord], _ beforeEach: () -> Void) -> Void) {
        condition.lock()
        queued.append(make)
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
    private func writeForever(_ write: ([AttemptRecord], () -> Void) -> Void) {
        var inBackground = background && BackgroundPriority.set(background: true)
        var leftBehind = false
        condition.lock()
        writerTID = Self.currentThreadID()
        while true {
            while queued.isEmpty {
                if !condition.wait(until: .after(idleExit)), queued.isEmpty {
                    writer = nil  // under the lock: the next `add` starts another
                    writerTID = nil
                    condition.unlock()
                    return
                }
            }
            // Records left behind by a short background batch have waited their window already.
            if !leftBehind {
                let deadline = MonotonicCondition.Deadline.after(window)
                while queued.count < Self.limit && draining == 0 && condition.wait(until: deadline) {}
            }
            let pace: Pace = draining > 0 ? .flatOut
                : queued.count >= Self.backlogLimit || !background ? .yielding : .inBackground
            // A background batch is `limit` records at most: its transaction holds the corpus's
            // write lock (other processes' records wait for it) for as long as a starved writer
            // takes, so it is kept short.
            let batch = pace == .inBackground ? Array(queued.prefix(Self.limit)) : queued
            queued.removeFirst(batch.count)
            leftBehind = !queued.isEmpty
            taken += 1
            condition.unlock()
            if background && inBackground != (pace == .inBackground) {
                // Out of the background for a batch that must not wait, back for one that may.
                if BackgroundPriority.set(background: pace == .inBackground) { inBackground = pace == .inBackground }
            }
            // The writer gives its core up now and then: a thread that polls with sched_yield
            // (the host waiting on its worker, a session's worker waiting for its next cell)
            // may hand its core to the writer, and would otherwise wait for the scheduler's
            // next tick (4 ms here). At normal priority before each record; in the background
            // after `backgroundSlice` of work, as yielding more often costs the requests more
            // than it saves them (BENCHMARKS.md, issue 22).
            var sliceEnds = MonotonicCondition.Deadline.after(Self.backgroundSlice)
            let beforeEach: () -> Void
            switch pace {
            case .flatOut: beforeEach = {}
            case .yielding: beforeEach = { _ = sched_yield() }
            case .inBackground:
                beforeEach = { [self] in
                    // A drain, or a backlog, that comes during a background batch waits for the
                    // whole batch: on a machine kept busy by others, a starved writer would keep
                    // it for minutes.
                    if inBackground && mustHurry, BackgroundPriority.set(background: false) { inBackground = false }
                    guard sliceEnds.hasPassed else { return }
                    _ = sched_yield()
                    sliceEnds = .after(Self.backgroundSlice)
                }
            }
            var records: [AttemptRecord] = []
            records.reserveCapacity(batch.count)
            for make in batch {
                beforeEach()
                records.append(make())
            }
            write(records, beforeEach)
            condition.lock()
            written += batch.count
            condition.broadcast()
        }
    }

    /// The calling thread's Linux id, from /proc/thread-self ("PID/task/TID").
    private static func currentThreadID() -> pid_t? {
        guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self") else { return nil }
        return link.split(separator: "/").last.flatMap { pid_t($0) }
    }

    /// Whether a drain waits now, or `backlogLimit` records do.
    private var mustHurry: Bool {
        condition.lock()
        defer { condition.unlock() }
        return draining > 0 || queued.count >= Self.backlogLimit
    }

    /// How a batch is written.
    private enum Pace {
        /// A drain waits: at once, at normal priority.
        case flatOut
        /// At normal priority, yielding before each record: the backlog reached `backlogLimit`,
        /// or the writer may not go into the background.
        case yielding
        /// At SCHED_IDLE, yielding after each `backgroundSlice` of work.
        case inBackground
    }
}

extension CorpusRecorder {
    /// Queues the record; it is stored (or spilled) within `LaterRecords.window`, in call order.
    public func recordLater(_ record: AttemptRecord) {
        recordLater(making: { record })
    }

    /// Queues the record `make` returns, made on the writer thread: what a front end's request
    /// thread would otherwise spend on it is off the request's path.
    public func recordLater(making make: @escaping @Sendable () -> AttemptRecord) {
        later.add(make) { [self] batch, beforeEach in writeTogether(batch, beforeEach: beforeEach) }
    }

    /// Returns once every record queued before the call is stored or spilled: call it before
    /// anything reads the corpus back, and at exit.
    public func drain() { later.drain() }

    /// On the writer thread: stores the records together; when their transaction fails, each
    /// alone (`record`), so one bad record or a full disk is handled as it always was.
    private func writeTogether(_ records: [AttemptRecord], beforeEach: () -> Void) {
        if records.count > 1, storeTogether(records, beforeEach: beforeEach) { return }
        for record in records { _ = try? self.record(record) }
    }
}

