import CrucibleWire
import Foundation

/// git_status, git_diff, git_log from the real git, run read-only in the workspace.
///
/// A repository's own config can make git run programs (core.fsmonitor, hooks, diff
/// drivers, pagers). Every call turns those off and ignores system and global config.
enum GitTools {
    static let safety = [
        "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "core.pager=cat",
        "-c", "diff.external=", "-c", "core.sshCommand=false", "-c", "protocol.allow=never", "--no-pager",
    ]

    static func all(_ workspace: Workspace) throws -> [Tool] {
        [try status(workspace), try diff(workspace), try log(workspace)]
    }

    static func git(_ workspace: Workspace, _ arguments: [String]) async throws -> ToolProcess.Output {
        let git = try ToolProcess.locate("git", in: nil)
        let output = try await ToolProcess.run(git, safety + arguments, in: workspace.root, timeout: .seconds(30))
        if output.timedOut { throw ToolFailure("git \(arguments.first ?? "") took longer than 30 s") }
        if output.status != 0 {
            let message = output.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            throw ToolFailure("git \(arguments.first ?? "") failed: \(message.isEmpty ? "exit status \(output.status)" : message)")
        }
        return output
    }

    static let statusNames: [Character: String] = [
        "M": "modified", "A": "added", "D": "deleted", "R": "renamed", "C": "copied", "U": "unmerged",
        "T": "typechange", "?": "untracked", "!": "ignored",
    ]

    static func status(_ workspace: Workspace) throws -> Tool {
        let contract = try ToolContract(
            name: "git_status", description: "The working tree's status (git status).",
            inputSchema: Schema.input([:]),
            outputSchema: Schema.object("GitStatusResult", [
                "success": Schema.boolean, "clean": Schema.boolean("No staged, unstaged or untracked changes."),
                "file_count": Schema.integer, "branch": Schema.optionalString,
                "files": Schema.array(Schema.object("GitFileStatus", [
                    "file": Schema.string,
                    "status": ["type": "string", "enum": .array(Set(statusNames.values).sorted().map { .string($0) })],
                    "staged": Schema.boolean("True for a change in the index, false for the working tree."),
                ])),
                "parse_error": Schema.optionalString,
            ]))
        return Tool(contract) { _ in
            let output = try await git(workspace, ["status", "--porcelain=v1", "-z", "--branch", "--untracked-files=all"])
            return parseStatus(output.stdout)
        }
    }

    static func parseStatus(_ text: String) -> JSONValue {
        var files: [JSONValue] = []
        var branch: JSONValue = .null
        var records = text.split(separator: "\0", omittingEmptySubsequences: true).map(String.init)[...]
        var parseError: JSONValue = .null
        while let record = records.popFirst() {
            if record.hasPrefix("## ") {
                let name = record.dropFirst(3).split(separator: ".").first.map(String.init) ?? ""
                branch = .string(name.replacingOccurrences(of: "No commits yet on ", with: ""))
                continue
            }
            guard record.count >= 4 else {
                parseError = .string("unexpected status record \(record.debugDescription)")
                continue
            }
            let index = record[record.startIndex], tree = record[record.index(after: record.startIndex)]
            let file = String(record.dropFirst(3))
            if index == "R" || index == "C" { _ = records.popFirst() }  // the source path follows
            if index == "?" || index == "!" {
                files.append(["file": .string(file), "status": .string(statusNames[index]!), "staged": false])
                continue
            }
            if index != " ", let name = statusNames[index] {
                files.append(["file": .string(file), "status": .string(name), "staged": true])
            }
            if tree != " ", let name = statusNames[tree] {
                files.append(["file": .string(file), "status": .string(name), "staged": false])
            }
        }
        return [
            "success": .bool(parseError == .null), "clean": .bool(files.isEmpty), "file_count": .int(files.count),
            "branch": branch, "files": .array(files), "parse_error": parseError,
        ]
    }

    static func diff(_ workspace: Workspace) throws -> Tool {
        let hunk = Schema.object("DiffHunk", [
            "header": Schema.string, "old_start": Schema.integer, "old_lines": Schema.integer,
            "new_start": Schema.integer, "new_lines": Schema.integer,
            "lines": Schema.array(Schema.string, "The hunk's lines, each starting with ' ', '+' or '-'."),
        ])
        let contract = try ToolContract(
            name: "git_diff", description: "Changes as a structured diff (git diff): per-file hunks and line counts.",
            inputSchema: Schema.input([
                "staged": ["type": "boolean", "default": false, "description": "Diff the index instead of the working tree."],
                "path": ["type": ["string", "null"], "description": "Limit to this path."],
            ]),
            outputSchema: Schema.object("GitDiffResult", [
                "success": Schema.boolean, "file_count": Schema.integer, "additions": Schema.integer,
                "deletions": Schema.integer,
                "files": Schema.array(Schema.object("FileDiff", [
                    "file": Schema.string, "additions": Schema.integer, "deletions": Schema.integer,
                    "binary": Schema.boolean, "hunks": Schema.array(hunk),
                ])),
                "parse_error": Schema.optionalString,
            ]))
        return Tool(contract) { arguments in
            var command = ["diff", "--no-ext-diff", "--no-textconv", "--no-color", "--no-renames"]
            if arguments["staged"]?.boolValue == true { command.append("--cached") }
            if let path = arguments["path"]?.stringValue {
                command += ["--", workspace.relativePath(try workspace.resolve(path))]
            }
            return parseDiff(try await git(workspace, command).stdout)
        }
    }

    static func parseDiff(_ text: String) -> JSONValue {
        struct FileDiff { var file = ""; var additions = 0; var deletions = 0; var binary = false; var hunks: [JSONValue] = [] }
        struct Hunk { var header = ""; var numbers = [0, 0, 0, 0]; var lines: [JSONValue] = [] }
        var files: [FileDiff] = []
        var hunk: Hunk?
        var parseError: JSONValue = .null
        func closeHunk() {
            guard let current = hunk, !files.isEmpty else { return }
            files[files.count - 1].hunks.append([
                "header": .string(current.header), "old_start": .int(current.numbers[0]),
                "old_lines": .int(current.numbers[1]), "new_start": .int(current.numbers[2]),
                "new_lines": .int(current.numbers[3]), "lines": .array(current.lines),
            ])
            hunk = nil
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("diff --git ") {
                closeHunk()
                var entry = FileDiff()
                if let range = line.range(of: " b/", options: .backwards) { entry.file = String(line[range.upperBound...]) }
                files.append(entry)
            } else if line.hasPrefix("+++ ") && hunk == nil {
                if line.hasPrefix("+++ b/") { files[files.count - 1].file = String(line.dropFirst(6)) }
            } else if line.hasPrefix("--- ") && hunk == nil {
                continue
            } else if line.hasPrefix("Binary files ") && !files.isEmpty {
                files[files.count - 1].binary = true
            } else if line.hasPrefix("@@ ") {
                closeHunk()
                var current = Hunk(header: String(line))
                // @@ -a[,b] +c[,d] @@
                let fields = line.split(separator: " ")
                if fields.count >= 3 {
                    for (offset, field) in [fields[1].dropFirst(), fields[2].dropFirst()].enumerated() {
                        let parts = field.split(separator: ",")
                        current.numbers[offset * 2] = Int(parts.first ?? "") ?? 0
                        current.numbers[offset * 2 + 1] = parts.count > 1 ? Int(parts[1]) ?? 0 : 1
                    }
                } else {
                    parseError = .string("unreadable hunk header \(line)")
                }
                hunk = current
            } else if hunk != nil, let first = line.first, first == "+" || first == "-" || first == " " || first == "\\" {
                hunk!.lines.append(.string(String(line)))
                if first == "+" { files[files.count - 1].additions += 1 }
                if first == "-" { files[files.count - 1].deletions += 1 }
            }
        }
        closeHunk()
        return [
            "success": .bool(parseError == .null), "file_count": .int(files.count),
            "additions": .int(files.reduce(0) { $0 + $1.additions }), "deletions": .int(files.reduce(0) { $0 + $1.deletions }),
            "files": .array(files.map {
                ["file": .string($0.file), "additions": .int($0.additions), "deletions": .int($0.deletions),
                 "binary": .bool($0.binary), "hunks": .array($0.hunks)]
            }),
            "parse_error": parseError,
        ]
    }

    static func log(_ workspace: Workspace) throws -> Tool {
        let contract = try ToolContract(
            name: "git_log", description: "Recent commits, newest first (git log).",
            inputSchema: Schema.input([
                "max_count": ["type": "integer", "minimum": 1, "maximum": 1000, "default": 20],
                "path": ["type": ["string", "null"], "description": "Only commits touching this path."],
            ]),
            outputSchema: Schema.object("GitLogResult", [
                "success": Schema.boolean,
                "commits": Schema.array(Schema.object("GitCommit", [
                    "hash": Schema.string("Full commit hash."), "author": Schema.string("Author name."),
                    "email": Schema.string("Author email."), "date": Schema.string("Author date, ISO 8601."),
                    "subject": Schema.string("First line of the message."),
                ])),
                "parse_error": Schema.optionalString,
            ]))
        return Tool(contract) { arguments in
            var command = ["log", "-n", String(arguments["max_count"]?.intValue ?? 20), "--no-color",
                           "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e"]
            if let path = arguments["path"]?.stringValue {
                command += ["--", workspace.relativePath(try workspace.resolve(path))]
            }
            let output: ToolProcess.Output
            do { output = try await git(workspace, command) } catch let failure as ToolFailure
                where failure.message.contains("does not have any commits yet")
            {
                return ["success": true, "commits": [], "parse_error": nil]
            }
            var commits: [JSONValue] = []
            var parseError: JSONValue = .null
            for record in output.stdout.split(separator: "\u{1e}") {
                let trimmed = record.trimmingCharacters(in: .newlines)
                if trimmed.isEmpty { continue }
                let fields = trimmed.split(separator: "\u{1f}", omittingEmptySubsequences: false).map(String.init)
                guard fields.count == 5 else {
                    parseError = .string("unexpected log record \(trimmed.prefix(80).debugDescription)")
                    continue
                }
                commits.append([
                    "hash": .string(fields[0]), "author": .string(fields[1]), "email": .string(fields[2]),
                    "date": .string(fields[3]), "subject": .string(fields[4]),
                ])
            }
            return ["success": .bool(parseError == .null), "commits": .array(commits), "parse_error": parseError]
        }
    }
}
