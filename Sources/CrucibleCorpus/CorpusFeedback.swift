import CrucibleWire
import Foundation
import GRDB

/// What the user thought of an attempt: given after the fact through `serve`'s `feedback`
/// method or MCP's `feedback` tool, by the attempt id the call's result carried.
public enum Verdict: String, Sendable, CaseIterable {
    case accepted, edited, rejected
}

/// One piece of feedback, checked before anything is stored.
public struct AttemptFeedback: Sendable, Equatable {
    public var attempt: String
    public var verdict: Verdict
    public var editedCode: String?
    public var note: String?

    /// Limits on what a client may attach (a flood of megabyte notes is refused, not stored).
    public static let maxCodeBytes = 1 << 20
    public static let maxNoteBytes = 64 << 10

    /// From a request's params; the error says which field is wrong and how.
    public init(json params: JSONValue) throws(FeedbackError) {
        guard let attempt = params["attempt"]?.stringValue, !attempt.isEmpty else {
            throw FeedbackError.invalid("\"attempt\" must be the attempt id an execute or validate result carried")
        }
        guard let given = params["verdict"]?.stringValue, let verdict = Verdict(rawValue: given) else {
            throw FeedbackError.invalid("\"verdict\" must be one of: accepted, edited, rejected")
        }
        let edited = params["edited_code"]
        if let edited, edited != .null, edited.stringValue == nil {
            throw FeedbackError.invalid("\"edited_code\" must be a string")
        }
        if let note = params["note"], note != .null, note.stringValue == nil {
            throw FeedbackError.invalid("\"note\" must be a string")
        }
        self.attempt = attempt
        self.verdict = verdict
        editedCode = edited?.stringValue
        note = params["note"]?.stringValue
        if verdict == .edited, (editedCode ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw FeedbackError.invalid("\"verdict\": \"edited\" needs the edited code in \"edited_code\"")
        }
        if verdict != .edited, editedCode != nil {
            throw FeedbackError.invalid("\"edited_code\" goes with \"verdict\": \"edited\" only")
        }
        if (editedCode?.utf8.count ?? 0) > Self.maxCodeBytes {
            throw FeedbackError.invalid("\"edited_code\" is over \(Self.maxCodeBytes) bytes")
        }
        if (note?.utf8.count ?? 0) > Self.maxNoteBytes {
            throw FeedbackError.invalid("\"note\" is over \(Self.maxNoteBytes) bytes")
        }
    }
}

public enum FeedbackError: Error, Equatable, CustomStringConvertible {
    /// The request is malformed (a client error).
    case invalid(String)
    /// No attempt has that id in this corpus.
    case unknownAttempt(String)
    /// The corpus could not take it.
    case store(String)

    public var description: String {
        switch self {
        case .invalid(let message): message
        case .unknownAttempt(let id): "no attempt \(id.debugDescription) in this corpus (ids come with execute and validate results; calls made with \"corpus\": false are not recorded)"
        case .store(let message): message
        }
    }
}

extension CorpusStore {
    /// What storing feedback did: the attempt it landed on, and the attempt an edit became.
    public struct FeedbackStored: Sendable, Equatable {
        public var attemptID: Int64
        public var fixAttemptID: Int64?
    }

    /// Stores feedback on an attempt, in one transaction: the verdict on the attempt (the
    /// latest counts), the feedback row, and for an edit a new attempt in the same episode
    /// with the edited code, passed, after the others: the edit becomes the fix of a pair.
    @discardableResult
    public func feedback(_ feedback: AttemptFeedback) throws(FeedbackError) -> FeedbackStored {
        do {
            return try pool.write { db in
                guard let row = try Row.fetchOne(db, sql: "SELECT id, session_id, record FROM attempts WHERE uid = ?",
                                                 arguments: [feedback.attempt])
                else { throw FeedbackError.unknownAttempt(feedback.attempt) }
                let attemptID: Int64 = row[0]
                let episode: String = row[1]
                try db.execute(sql: "UPDATE attempts SET verdict = ? WHERE id = ?", arguments: [feedback.verdict.rawValue, attemptID])
                var fixID: Int64?
                if feedback.verdict == .edited, let code = feedback.editedCode {
                    let original = (try? AttemptRecord(json: JSONValue(parsing: row[2] as String))) ?? AttemptRecord(episodeID: episode, passed: true)
                    var fix = AttemptRecord(episodeID: episode, passed: true)
                    fix.task = original.task
                    fix.taskID = original.taskID
                    fix.kind = original.kind
                    fix.code = code
                    fix.runtime = ["status": "not_run", "reason": "edited by the user"]
                    fix.source = "feedback"
                    fix.extra = ["edit_of": .string(feedback.attempt)]
                    if let note = feedback.note { fix.extra["note"] = .string(note) }
                    fixID = try PreparedAttempt(fix, source: "feedback").insert(into: db).attemptID
                }
                try db.execute(sql: """
                    INSERT INTO feedback (attempt_id, verdict, edited_code, note, fix_attempt_id, created_at) VALUES (?, ?, ?, ?, ?, ?)
                    """, arguments: [attemptID, feedback.verdict.rawValue, feedback.editedCode, feedback.note, fixID, Self.now()])
                return FeedbackStored(attemptID: attemptID, fixAttemptID: fixID)
            }
        } catch let error as FeedbackError {
            throw error
        } catch {
            throw .store(Self.explain(error, doing: "storing feedback in", at: path).description)
        }
    }

    /// Feedback counts by verdict, for stats and the report.
    public func feedbackCounts() throws -> [String: Int] {
        do {
            return try pool.read { db in
                var counts: [String: Int] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT verdict, COUNT(*) FROM feedback GROUP BY verdict") {
                    counts[row[0]] = row[1]
                }
                return counts
            }
        } catch { throw Self.explain(error, doing: "reading", at: path) }
    }
}

extension CorpusRecorder {
    /// Stores feedback after every record queued before it (an agent may send feedback on an
    /// attempt whose record is still on its way to the disk).
    public func feedback(_ feedback: AttemptFeedback) throws(FeedbackError) -> CorpusStore.FeedbackStored {
        drain()
        guard let store else {
            throw .store("the corpus \(path) could not be opened, so it cannot take feedback (\(snapshot.problem ?? "unknown problem"))")
        }
        return try store.feedback(feedback)
    }
}
