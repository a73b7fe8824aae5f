/// Train / valid / test splits that keep every session and every near-duplicate cluster in
/// one split (otherwise a model is validated on near-copies of what it trained on), and that
/// come out the same for the same corpus and seed.
///
/// Sessions and clusters are joined into groups; groups are ordered by a seeded hash and
/// dealt out: test until it holds its fraction (and at least `minimum` examples, when there
/// are enough), then valid likewise, and the rest to train.
public struct CorpusSplits: Sendable {
    public enum Split: String, CaseIterable, Sendable { case train, valid, test }

    public var seed: Int
    public var validFraction = 0.1
    public var testFraction = 0.1
    /// mlx-lm refuses a split smaller than its batch size (4 by default).
    public var minimum = 4

    public init(seed: Int) { self.seed = seed }

    /// A split per example, by position. `clusters` maps attempt ids to cluster numbers.
    public func assign(_ examples: [TrainingExample], clusters: [Int64: Int]) -> [Split] {
        // Union-find over "s:<session>" and "c:<cluster>" labels, in order of first appearance.
        var index: [String: Int] = [:]
        var labels: [String] = []
        var sets = DisjointSets()
        func node(_ label: String) -> Int {
            if let known = index[label] { return known }
            index[label] = labels.count
            labels.append(label)
            return sets.add()
        }
        var exampleNodes: [Int] = []
        for example in examples {
            let session = node("s:" + example.attempt.episodeID)
            for attempt in [example.attempt] + (example.failure.map { [$0] } ?? []) + example.context {
                sets.join(session, node("s:" + attempt.episodeID))
                if let cluster = clusters[attempt.id] { sets.join(session, node("c:\(cluster)")) }
            }
            exampleNodes.append(session)
        }
        // Group sizes, then groups in seeded-hash order.
        var sizes: [Int: Int] = [:]
        let groupOf = exampleNodes.map { sets.root($0) }
        for group in groupOf { sizes[group, default: 0] += 1 }
        let ordered = sizes.keys.map { (hash(labels[$0]), labels[$0], $0) }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
        let total = examples.count
        func target(_ fraction: Double) -> Int {
            let wanted = max(Int((Double(total) * fraction).rounded()), minimum)
            return total >= 3 * minimum ? wanted : Int((Double(total) * fraction).rounded())
        }
        var splitOf: [Int: Split] = [:]
        var filled: [Split: Int] = [:]
        let testTarget = target(testFraction), validTarget = target(validFraction)
        for group in ordered {
            let split: Split =
                filled[.test, default: 0] < testTarget ? .test
                : filled[.valid, default: 0] < validTarget ? .valid : .train
            splitOf[group] = split
            filled[split, default: 0] += sizes[group]!
        }
        return groupOf.map { splitOf[$0]! }
    }

    /// FNV-1a of "seed:label": stable across runs and machines (Swift's Hasher is not).
    func hash(_ label: String) -> UInt64 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(seed):\(label)".utf8 { value = (value ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return value
    }
}
