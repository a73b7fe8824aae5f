import CrucibleCorpus
import CrucibleWire
import Foundation

/// Which corpus session an MCP call joins, so that consecutive attempts at one artifact pair
/// up on export (each failure with the passing attempt that follows).
///
/// An MCP client sends no task id, so the artifact is recognised: the `artifact` argument
/// when the model gives one, else the `path`, else the names the code defines at top level
/// (`def Greeting` in a bad view and in its fix), else the persistent session's name. Calls
/// with the same tool, kind and artifact form a chain until one passes; the next call after
/// a pass starts a new chain. All chains belong to one MCP connection.
final class AttemptChains: Sendable {
    private let connection = String(UUID().uuidString.lowercased().prefix(8))
    /// Open chains' sessions by key, and how many chains this connection has begun.
    private let chains = Locked<(open: [String: String], count: Int)>(([:], 0))

    struct Key: Hashable {
        var tool: String
        var kind: String
        var artifact: String
    }

    /// The key for a call. `artifact` and `path` are the model's own words, when given.
    static func key(tool: String, kind: String?, artifact: String?, path: String?, session: String?, code: String) -> Key {
        let named = artifact.flatMap { $0.isEmpty ? nil : $0 } ?? path.flatMap { $0.isEmpty ? nil : $0 }
        let defined = topLevelNames(code)
        let recognised = named ?? (defined.isEmpty ? nil : defined.joined(separator: ",")) ?? session.map { "session:\($0)" }
        return Key(tool: tool, kind: kind ?? "", artifact: recognised ?? "")
    }

    /// The link for a call with this key: the open chain's session, or a new one.
    func link(_ key: Key, task: String?) -> CallRecord.Link {
        let session = chains.withLock { chains -> String in
            let id = "\(key.tool)|\(key.kind)|\(key.artifact)"
            if let session = chains.open[id] { return session }
            chains.count += 1
            let session = "mcp:\(connection):\(chains.count)"
            chains.open[id] = session
            return session
        }
        let described = task ?? (key.artifact.isEmpty ? "" : key.artifact)
        return CallRecord.Link(episode: session, task: described, taskID: session, kind: key.kind)
    }

    /// A passing call ends its chain: the next attempt at the artifact is a new task.
    func finished(_ key: Key, passed: Bool) {
        guard passed else { return }
        chains.withLock { _ = $0.open.removeValue(forKey: "\(key.tool)|\(key.kind)|\(key.artifact)") }
    }

    /// Functions and classes defined at column 0, sorted: what a piece of code is "of".
    static func topLevelNames(_ code: String) -> [String] {
        var names: Set<String> = []
        for line in code.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let first = line.first, first == "d" || first == "c" || first == "a" else { continue }
            if let match = line.prefixMatch(of: /(?:async\s+)?(?:def|class)\s+([A-Za-z_][A-Za-z_0-9]*)/) {
                names.insert(String(match.output.1))
            }
        }
        return names.sorted()
    }
}
