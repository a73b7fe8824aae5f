/// One example derived from the corpus, before it is written in a trainer's format.
///
/// - positive: a passing attempt (`firstAttempt` marks a pass with no retry).
/// - pair: a failing attempt, its findings, and the next passing attempt of the same session
///   (an error-to-fix pair; every failing attempt before a pass makes one).
/// - negative: a failing attempt on its own (the unpaired "bad" side of KTO).
public struct TrainingExample: Sendable {
    public enum Role: String, Sendable, CaseIterable { case positive, pair, negative }

    public var role: Role
    /// The passing attempt (positive, pair), or the failing one (negative).
    public var attempt: CorpusAttempt
    /// The failing attempt of a pair.
    public var failure: CorpusAttempt?
    /// For a positive after retries: the failing attempt just before it (the fake-fix gate
    /// judges a pass that only silenced or deleted what failed).
    public var previous: CorpusAttempt?
    /// Further attempts an exported record carries (a tool-calling conversation's failed calls,
    /// an RL row's attempts at its task): the splits keep their sessions and clusters together too.
    public var context: [CorpusAttempt] = []
    public var firstAttempt: Bool { role == .positive && attempt.attempt == 1 }

    /// Every example the sessions yield, in corpus order.
    public static func derive(from attempts: [CorpusAttempt]) -> [TrainingExample] {
        var examples: [TrainingExample] = []
        var index = 0
        while index < attempts.count {
            var end = index
            while end < attempts.count && attempts[end].episodeID == attempts[index].episodeID { end += 1 }
            let session = attempts[index..<end]
            var waiting: [CorpusAttempt] = []  // failures not yet followed by a pass
            for attempt in session {
                if attempt.passed {
                    examples.append(TrainingExample(role: .positive, attempt: attempt, previous: waiting.last))
                    for failure in waiting { examples.append(TrainingExample(role: .pair, attempt: attempt, failure: failure)) }
                    waiting = []
                } else {
                    examples.append(TrainingExample(role: .negative, attempt: attempt))
                    waiting.append(attempt)
                }
            }
            index = end
        }
        return examples
    }

    /// The task the model was given, for prompts.
    public var task: String { attempt.task }

    /// Stable identity: the attempt ids involved.
    public var id: String {
        switch role {
        case .positive: "p\(attempt.id)"
        case .negative: "n\(attempt.id)"
        case .pair: "f\(failure!.id)-\(attempt.id)"
        }
    }
}
