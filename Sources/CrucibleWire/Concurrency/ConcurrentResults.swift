import Dispatch

/// Runs jobs `0..<count` on up to `workers` threads at once and returns their results in
/// order. Dispatch threads, not tasks: the jobs block (on a sandbox worker, on a file), which
/// would starve Swift's cooperative pool. `progress` gets how many have finished, after each.
package func concurrentResults<Value: Sendable>(
    count: Int, workers: Int, progress: (@Sendable (Int) -> Void)? = nil, _ job: @Sendable (Int) throws -> Value
) -> [Result<Value, Error>] {
    let board = Locked(ResultBoard<Value>(results: Array(repeating: nil, count: count)))
    DispatchQueue.concurrentPerform(iterations: max(1, min(workers, count))) { _ in
        while let index = board.withLock({ board -> Int? in
            guard board.next < count else { return nil }
            defer { board.next += 1 }
            return board.next
        }) {
            let result = Result { try job(index) }
            let finished = board.withLock { board in
                board.results[index] = result
                board.finished += 1
                return board.finished
            }
            progress?(finished)
        }
    }
    // Every index was claimed and set before concurrentPerform returned.
    return board.value.results.map { $0! }
}

/// The jobs' shared state: results so far, the next job to claim, how many have finished.
private struct ResultBoard<Value: Sendable>: Sendable {
    var results: [Result<Value, Error>?]
    var next = 0
    var finished = 0
}
