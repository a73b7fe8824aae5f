import CrucibleWire
import Foundation

/// `recordLater`: records written off the caller's path (an agent's answer never waits on the
/// disk), in batches. A SQLite commit costs about as much as the record it carries (the WAL's
/// writes of the pages it touched), so the records queued within `window` (5 ms unless
/// `--corpus-batch-ms` says otherwise), or `limit` of them, are stored in one transaction, in
/// the order they were queued.
///
/// Whatever reads the corpus back first calls `drain()` (feedback on an attempt, a session
/// closing, the end of serve, http and mcp, and their SIGTERM), so a reader never misses a
/// record queued before it. A process killed outright (SIGKILL, a crash) loses only the batch
/// not yet committed: the records of the last `window` plus one commit, `limit` at most at a
/// steady rate (beyond `limit` a commit starts at once).
public final class LaterRecords: @unchecked Sendable {
    public static let defaultWindow: Duration = .milliseconds(5)
    /// A batch this big is written at once, without waiting out the window.
    static let limit = 64
    /// How long the first record of a batch waits for others.
    let window: DispatchTimeInterval

    init(window: Duration) {
        let (seconds, attoseconds) = window.components
        self.window = .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
    }

    private let lock = NSLock()
    private var queued: [AttemptRecord] = []
    /// Counts batches, so the timer of a batch already written does not cut the next one short.
    private var batch = 0

    /// What the caller must arrange after adding a record.
    enum Next { case startTimer(batch: Int), writeNow, nothing }

    func add(_ record: AttemptRecord) -> Next {
        lock.withLock {
            queued.append(record)
            if queued.count >= Self.limit || window == .nanoseconds(0) { return .writeNow }
            return queued.count == 1 ? .startTimer(batch: batch) : .nothing
        }
    }

    /// Every record queued, oldest first, and a new batch begun; with `batch`, only when that
    /// batch is still the one being filled (its timer ran out).
    func take(batch expected: Int? = nil) -> [AttemptRecord] {
        lock.withLock {
            if let expected, expected != batch { return [] }
            batch &+= 1
            defer { queued = [] }
            return queued
        }
    }
}

extension CorpusRecorder {
    /// Queues the record; it is stored (or spilled) within `LaterRecords.window`, in call order.
    public func recordLater(_ record: AttemptRecord) {
        switch later.add(record) {
        case .startTimer(let batch):
            background.asyncAfter(deadline: .now() + later.window) { self.writeQueued(batch: batch) }
        case .writeNow:
            background.async { self.writeQueued() }
        case .nothing:
            break
        }
    }

    /// Returns once every record queued before the call is stored or spilled: call it before
    /// anything reads the corpus back, and at exit.
    public func drain() { background.sync { writeQueued() } }

    /// On `background`: stores the queued records together; when their transaction fails, each
    /// alone (`record`), so one bad record or a full disk is handled as it always was.
    private func writeQueued(batch: Int? = nil) {
        let records = later.take(batch: batch)
        guard !records.isEmpty else { return }
        if records.count > 1, storeTogether(records) { return }
        for record in records { _ = try? self.record(record) }
    }
}
