/// Union-find over `0..<count` with path halving. `join` keeps the smaller index as the root,
/// so a group's representative is its earliest member: the splits and the near-duplicate
/// clusters come out the same for the same input, whatever order pairs are joined in.
struct DisjointSets {
    private var parent: [Int]

    init(count: Int = 0) { parent = Array(0..<count) }

    var count: Int { parent.count }

    /// Adds a singleton set and returns its index.
    mutating func add() -> Int {
        parent.append(parent.count)
        return parent.count - 1
    }

    mutating func root(_ member: Int) -> Int {
        var current = member
        while parent[current] != current {
            parent[current] = parent[parent[current]]
            current = parent[current]
        }
        return current
    }

    mutating func join(_ a: Int, _ b: Int) {
        let (x, y) = (root(a), root(b))
        if x != y { parent[max(x, y)] = min(x, y) }
    }
}
