import CrucibleWire
import Foundation

/// The folder the standard tools work in. Every path a tool is given resolves inside it:
/// `..` and symlinks that lead out are refused. Writing is off unless enabled.
public struct Workspace: Sendable {
    /// The root, with symlinks resolved.
    public let root: String
    public let allowsWrites: Bool

    public init(root: String, allowWrites: Bool = false) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ToolContractProblem("the workspace \(root) is not a folder")
        }
        self.root = URL(fileURLWithPath: root).resolvingSymlinksInPath().standardizedFileURL.path
        self.allowsWrites = allowWrites
    }

    /// The absolute path for `path` (relative to the root, or absolute inside it).
    /// Throws a `ToolFailure` that says what was refused and why.
    public func resolve(_ path: String, forWriting: Bool = false) throws -> String {
        guard !path.contains("\0") else { throw ToolFailure("the path contains a NUL byte") }
        if forWriting && !allowsWrites {
            throw ToolFailure("writing is off in this workspace; the host must enable it (--allow-writes)")
        }
        let joined = path.hasPrefix("/") ? path : root + "/" + path
        // Lexical check first: `..` may not climb above the root.
        var parts: [Substring] = []
        for part in joined.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if parts.isEmpty { throw escape(path) }
                parts.removeLast()
            } else {
                parts.append(part)
            }
        }
        let lexical = "/" + parts.joined(separator: "/")
        guard inside(lexical) else { throw escape(path) }
        // Then the real location: the deepest existing ancestor with symlinks resolved.
        var existing = lexical
        var rest: [String] = []
        while !FileManager.default.fileExists(atPath: existing) && existing != root && existing != "/" {
            rest.insert((existing as NSString).lastPathComponent, at: 0)
            existing = (existing as NSString).deletingLastPathComponent
        }
        let real = URL(fileURLWithPath: existing).resolvingSymlinksInPath().path
        guard inside(real) else {
            throw ToolFailure("\(path) resolves through a symlink to \(real), outside the workspace; use a path inside \(root)")
        }
        let resolved = rest.isEmpty ? real : real + "/" + rest.joined(separator: "/")
        if forWriting {
            let relative = relativePath(resolved)
            if relative == ".git" || relative.hasPrefix(".git/") {
                throw ToolFailure("\(path) is inside .git; the repository's internals are not writable")
            }
        }
        return resolved
    }

    /// A `paths` argument (a list of strings, default ["."]) resolved and made relative to the root.
    func relativePaths(_ argument: JSONValue?) throws -> [String] {
        try (argument?.arrayValue ?? ["."]).map { relativePath(try resolve($0.stringValue ?? ".")) }
    }

    /// `absolute` relative to the root ("." for the root itself).
    public func relativePath(_ absolute: String) -> String {
        if absolute == root { return "." }
        if absolute.hasPrefix(root + "/") { return String(absolute.dropFirst(root.count + 1)) }
        return absolute
    }

    private func inside(_ path: String) -> Bool { path == root || path.hasPrefix(root == "/" ? "/" : root + "/") }

    private func escape(_ path: String) -> ToolFailure {
        ToolFailure("\(path) is outside the workspace; use a path inside \(root)")
    }
}
