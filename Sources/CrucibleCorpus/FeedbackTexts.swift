import CrucibleWire

/// The feedback text of each failed attempt an export writes, rendered once and shared by
/// every format: ten of the thirteen carry it, and rendering it again in each was about 4%
/// of the CPU of an export of all of them. Keyed by attempt id (one store's attempts).
public final class FeedbackTexts: Sendable {
    private let texts = Locked<[Int64: String]>([:])

    public init() {}

    func text(for failure: CorpusAttempt) -> String {
        if let known = texts.withLock({ $0[failure.id] }) { return known }
        let text = ExportFormat.feedback(for: failure)
        texts.withLock { $0[failure.id] = text }
        return text
    }
}
