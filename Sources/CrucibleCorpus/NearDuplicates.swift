import CrucibleWire
import Foundation

/// Near-duplicate clustering as BigCode deduplicated The Stack: tokens split on
/// `[^A-Za-z_0-9]`, 5-token shingles, MinHash with 256 permutations, LSH with 25 bands of
/// 10 rows, candidates kept when their estimated Jaccard similarity is at least 0.7,
/// clusters joined with union-find. Deterministic: the permutations come from a fixed seed.
public struct NearDuplicates: Sendable {
    public static let permutations = 256
    public static let bands = 25
    public static let rows = 10
    public static let shingleSize = 5
    public var threshold = 0.7

    /// Multiply-shift hashing (a·x + b, high 32 bits): a universal family, one multiply per
    /// permutation, which is what makes 100,000 documents take seconds.
    private let multipliers: [UInt64]
    private let offsets: [UInt64]

    public init(threshold: Double = 0.7) {
        self.threshold = threshold
        var state: UInt64 = 0x5EED_C0DE_2026
        var multipliers: [UInt64] = [], offsets: [UInt64] = []
        for _ in 0..<Self.permutations {
            multipliers.append(Self.splitMix(&state) | 1)
            offsets.append(Self.splitMix(&state))
        }
        self.multipliers = multipliers
        self.offsets = offsets
    }

    static func splitMix(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The set of 5-token shingles of `text`, hashed to 64 bits.
    public static func shingles(_ text: String) -> Set<UInt64> {
        var tokens: [UInt64] = []
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var inToken = false
        for byte in text.utf8 {
            let isWord = (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte == 95
            if isWord {
                hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
                inToken = true
            } else if inToken {
                tokens.append(hash)
                hash = 0xcbf2_9ce4_8422_2325
                inToken = false
            }
        }
        if inToken { tokens.append(hash) }
        var shingles = Set<UInt64>()
        guard !tokens.isEmpty else { return shingles }
        let width = min(shingleSize, tokens.count)
        for start in 0...(tokens.count - width) {
            var state: UInt64 = UInt64(width)
            for token in tokens[start..<start + width] {
                state = (state ^ token) &* 0x9E37_79B9_7F4A_7C15
                state ^= state >> 29
            }
            shingles.insert(state)
        }
        return shingles
    }

    /// The MinHash signature: for each permutation, the least hash over the shingles.
    public func signature(_ text: String) -> [UInt32] {
        var signature = [UInt32](repeating: .max, count: Self.permutations)
        let shingles = Self.shingles(text)
        multipliers.withUnsafeBufferPointer { a in
            offsets.withUnsafeBufferPointer { b in
                signature.withUnsafeMutableBufferPointer { out in
                    for shingle in shingles {
                        for index in 0..<Self.permutations {
                            let value = UInt32(truncatingIfNeeded: (a[index] &* shingle &+ b[index]) >> 32)
                            if value < out[index] { out[index] = value }
                        }
                    }
                }
            }
        }
        return signature
    }

    /// The fraction of permutations on which two signatures agree: an estimate of Jaccard similarity.
    public static func similarity(_ first: [UInt32], _ second: [UInt32]) -> Double {
        var same = 0
        for index in 0..<permutations where first[index] == second[index] { same += 1 }
        return Double(same) / Double(permutations)
    }

    /// A cluster number per document: documents in one cluster are near-duplicates (directly
    /// or through a chain). Numbers are the index of the cluster's first document.
    public func clusters(_ documents: [String]) -> [Int] {
        // Signatures are independent: computed on every core.
        let chunk = 512
        let chunks = (documents.count + chunk - 1) / chunk
        let signatures = concurrentResults(count: chunks, workers: ProcessInfo.processInfo.activeProcessorCount) { part in
            ((part * chunk)..<min(documents.count, (part + 1) * chunk)).map { signature(documents[$0]) }
        }.flatMap { try! $0.get() }  // signature() cannot throw
        var sets = DisjointSets(count: documents.count)
        // Per band: bucket key -> the documents seen there (distinct clusters only, a few).
        for band in 0..<Self.bands {
            var buckets: [UInt64: [Int]] = [:]
            for (document, signature) in signatures.enumerated() {
                var key = UInt64(band) &* 0x9E37_79B9_7F4A_7C15
                for row in 0..<Self.rows {
                    key = (key ^ UInt64(signature[band * Self.rows + row])) &* 0x100_0000_01b3
                }
                let members = buckets[key, default: []]
                var joined = false
                for other in members.prefix(16) where sets.root(other) != sets.root(document) {
                    if Self.similarity(signatures[other], signature) >= threshold {
                        sets.join(other, document)  // the earlier document stays the root
                        joined = true
                    }
                }
                if !joined || members.isEmpty { buckets[key, default: []].append(document) }
            }
        }
        return documents.indices.map { sets.root($0) }
    }
}
