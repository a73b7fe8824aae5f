import CrucibleWire
import Foundation

/// read_file, list_files, write_file: the workspace's files, confined to its root.
enum FileTools {
    /// write_file only where writing is on: a tool the model sees but may never use costs
    /// prompt space and invites calls that can only fail.
    static func all(_ workspace: Workspace) throws -> [Tool] {
        [try readFile(workspace), try listFiles(workspace)] + (workspace.allowsWrites ? [try writeFile(workspace)] : [])
    }

    static func readFile(_ workspace: Workspace) throws -> Tool {
        let contract = try ToolContract(
            name: "read_file", description: "Read a text file in the workspace.",
            inputSchema: Schema.input([
                "path": Schema.string("Path relative to the workspace root."),
                "max_bytes": ["type": "integer", "minimum": 1, "default": 1_000_000,
                              "description": "Read at most this many bytes."],
            ], required: ["path"]),
            outputSchema: Schema.object("FileContent", [
                "path": Schema.string, "content": Schema.string, "size": Schema.integer,
                "truncated": Schema.boolean("True when the file is longer than max_bytes."),
            ]))
        return Tool(contract) { arguments in
            let path = try workspace.resolve(arguments["path"]?.stringValue ?? "")
            let limit = arguments["max_bytes"]?.intValue ?? 1_000_000
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ToolFailure("no such file: \(workspace.relativePath(path))")
            }
            guard !isDirectory.boolValue else {
                throw ToolFailure("\(workspace.relativePath(path)) is a folder; use list_files")
            }
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw ToolFailure("cannot open \(workspace.relativePath(path))")
            }
            defer { try? handle.close() }
            let data = (try? handle.read(upToCount: limit + 1)) ?? Data()
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? data.count
            return [
                "path": .string(workspace.relativePath(path)),
                "content": .string(String(decoding: data.prefix(limit), as: UTF8.self)),
                "size": .int(size), "truncated": .bool(data.count > limit),
            ]
        }
    }

    static func listFiles(_ workspace: Workspace) throws -> Tool {
        let contract = try ToolContract(
            name: "list_files", description: "List files under a folder of the workspace (.git is skipped).",
            inputSchema: Schema.input([
                "path": ["type": "string", "default": ".", "description": "Folder relative to the workspace root."],
                "recursive": ["type": "boolean", "default": true, "description": "Descend into sub-folders."],
                "max_entries": ["type": "integer", "minimum": 1, "default": 1000],
            ]),
            outputSchema: Schema.object("FileList", [
                "files": Schema.array(Schema.object("FileEntry", [
                    "path": Schema.string("Relative to the workspace root."), "size": Schema.integer,
                    "kind": ["type": "string", "enum": ["file", "folder", "symlink"]],
                ])),
                "truncated": Schema.boolean,
            ]))
        return Tool(contract) { arguments in
            let base = try workspace.resolve(arguments["path"]?.stringValue ?? ".")
            let recursive = arguments["recursive"]?.boolValue ?? true
            let limit = arguments["max_entries"]?.intValue ?? 1000
            var entries: [JSONValue] = []
            var truncated = false
            var pending = [base]
            let manager = FileManager.default
            while let folder = pending.popLast() {
                guard let names = try? manager.contentsOfDirectory(atPath: folder) else {
                    if folder == base { throw ToolFailure("\(workspace.relativePath(base)) is not a folder") }
                    continue
                }
                for name in names.sorted() where name != ".git" {
                    if entries.count >= limit { truncated = true; break }
                    let full = folder + "/" + name
                    let attributes = (try? manager.attributesOfItem(atPath: full)) ?? [:]
                    let type = attributes[.type] as? FileAttributeType
                    let kind = type == .typeSymbolicLink ? "symlink" : type == .typeDirectory ? "folder" : "file"
                    entries.append([
                        "path": .string(workspace.relativePath(full)), "kind": .string(kind),
                        "size": .int((attributes[.size] as? Int) ?? 0),
                    ])
                    if kind == "folder" && recursive { pending.insert(full, at: 0) }
                }
            }
            return ["files": .array(entries), "truncated": .bool(truncated)]
        }
    }

    static func writeFile(_ workspace: Workspace) throws -> Tool {
        let contract = try ToolContract(
            name: "write_file",
            description: "Write a text file in the workspace (only when the host enabled writing).",
            inputSchema: Schema.input([
                "path": Schema.string("Path relative to the workspace root."), "content": Schema.string,
            ], required: ["path", "content"]),
            outputSchema: Schema.object("WriteResult", ["path": Schema.string, "bytes_written": Schema.integer]))
        return Tool(contract) { arguments in
            let path = try workspace.resolve(arguments["path"]?.stringValue ?? "", forWriting: true)
            let data = Data((arguments["content"]?.stringValue ?? "").utf8)
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            // Written beside and renamed: a reader never sees half a file.
            guard (try? data.write(to: URL(fileURLWithPath: path), options: .atomic)) != nil else {
                throw ToolFailure("cannot write \(workspace.relativePath(path))")
            }
            return ["path": .string(workspace.relativePath(path)), "bytes_written": .int(data.count)]
        }
    }
}
