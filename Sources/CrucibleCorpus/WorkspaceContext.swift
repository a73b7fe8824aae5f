import CrucibleWire
import Foundation

/// The workspace an attempt was made in, as git describes it: commit, branch, and whether
/// the work tree had uncommitted changes. Recorded with each attempt (`workspace` in the
/// record), so an example can be tied to the code it was written against. The path itself
/// is not recorded: it names people's home folders and says nothing a trainer can use.
struct WorkspaceContext {
    let directory: String
    /// Asked again at most this often: a server records many attempts a second, and a
    /// commit or a dirty tree does not change that fast.
    static let refreshInterval: Duration = .seconds(5)
    private var cached: (at: ContinuousClock.Instant, value: JSONValue)?

    init(directory: String) { self.directory = directory }

    mutating func current() -> JSONValue {
        if let cached, ContinuousClock.now - cached.at < Self.refreshInterval { return cached.value }
        // git is started from the corpus writer, which may be in the background: at normal
        // priority, so git does not inherit SCHED_IDLE (and starve) with the recorder's lock held.
        let value = BackgroundPriority.atNormalPriority { Self.describe(directory) }
        cached = (.now, value)
        return value
    }

    /// `{"git": true, "commit", "branch" (null when detached), "dirty"}`, or `{"git": false}`.
    static func describe(_ directory: String) -> JSONValue {
        guard let commit = git(["rev-parse", "HEAD"], in: directory), !commit.isEmpty else { return ["git": false] }
        let branch = git(["symbolic-ref", "--short", "-q", "HEAD"], in: directory)
        let status = git(["status", "--porcelain", "--untracked-files=no"], in: directory)
        return ["git": true, "commit": .string(commit), "branch": branch.map { .string($0) } ?? .null,
                "dirty": status.map { .bool(!$0.isEmpty) } ?? .null]
    }

    /// git's trimmed output, or nil when it failed (no git, not a repository, detached HEAD for symbolic-ref).
    private static func git(_ arguments: [String], in directory: String) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", directory] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
