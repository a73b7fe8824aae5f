import Crucible
import CrucibleTesting
import Foundation
import Testing

/// A folder only root may enter (0700, like `mktemp -d` or a private home), holding a small
/// project whose own folders are open (0755): only the parent is private.
private struct PrivateFolder {
    let root: String

    init() {
        root = NSTemporaryDirectory() + "crucible-private-" + UUID().uuidString.prefix(8).lowercased()
        try! FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
        chmod(root, 0o700)
    }

    /// `relative`'s folders are created 0755 (explicitly: the umask may say otherwise).
    @discardableResult
    func write(_ relative: String, _ text: String) -> String {
        let path = root + "/" + relative
        makeFolders(URL(fileURLWithPath: path).deletingLastPathComponent().path)
        precondition(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)), "cannot write \(path)")
        chmod(path, 0o644)
        return path
    }

    func folder(_ relative: String, mode: mode_t = 0o755) -> String {
        let path = root + "/" + relative
        makeFolders(path)
        chmod(path, mode)
        return path
    }

    private func makeFolders(_ path: String) {
        var current = root
        for component in path.dropFirst(root.count).split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) == 0 { chmod(current, 0o755) }
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }

    /// The paths of a report that are this folder or inside it.
    func entries(_ paths: [String]) -> [String] { paths.filter { $0 == root || $0.hasPrefix(root + "/") } }
}

private func sandbox(
    readable: [String] = [], importPaths: [String] = [], skipExposure: Bool = false, zygote: String? = nil
) throws -> Sandbox {
    var configuration = SandboxConfiguration()
    configuration.poolSize = 1
    configuration.readablePaths = readable
    configuration.importPaths = importPaths
    configuration.skipPathExposureForTesting = skipExposure
    configuration.zygoteExecutable = zygote
    return try Sandbox(configuration: configuration)
}

/// The zygote drops root for nobody, who cannot walk through a private parent folder: the
/// paths a sandbox is given must stay readable to workers all the same. Only root drops to
/// nobody (any other user keeps its own uid, which walks its own folders), so these need root.
@Suite(.enabled(if: geteuid() == 0, "needs root: only a root zygote drops to nobody, whom a private parent folder shuts out"))
struct PrivatePathTests {
    @Test("A worker imports a module and reads a file below a private (0700) parent folder")
    func exposedBelowPrivateParent() throws {
        let folder = PrivateFolder()
        defer { folder.remove() }
        folder.write("project/lib/privmod.py", "VALUE = 42\n")
        let data = folder.write("project/data/notes.txt", "hello from a private folder")
        let box = try sandbox(readable: [folder.root + "/project/data"], importPaths: [folder.root + "/project/lib"])
        defer { box.shutdown() }

        // Not preloaded: the worker (nobody) imports and reads it itself, as a validator or pytest does.
        let result = box.execute("import privmod\n[privmod.VALUE, open(\(pythonString(data))).read()]")
        #expect(result.outcome == .ok, "\(result.error?.traceback ?? "\(result.outcome)")")
        #expect(result.json == .array([.int(42), .string("hello from a private folder")]))
        #expect(box.report.pathExposureStatus == "exposed")
        // Only this folder's entries: in a checkout under a private folder the runtime is exposed too.
        #expect(folder.entries(box.report.privateParents) == [folder.root])
        #expect(Set(folder.entries(box.report.exposedPaths)) == [folder.root + "/project/data", folder.root + "/project/lib"])
    }

    @Test("Control: without the exposure the same worker cannot import the module or read the file")
    func controlWithoutExposure() throws {
        let folder = PrivateFolder()
        defer { folder.remove() }
        folder.write("project/lib/privmod.py", "VALUE = 42\n")
        let data = folder.write("project/data/notes.txt", "hello from a private folder")
        let box = try sandbox(
            readable: [folder.root + "/project/data"], importPaths: [folder.root + "/project/lib"], skipExposure: true)
        defer { box.shutdown() }

        let imported = box.execute("import privmod")
        #expect(imported.outcome == .exception)
        #expect(imported.error?.type == "ModuleNotFoundError")
        let read = box.execute("open(\(pythonString(data))).read()")
        #expect(read.error?.type == "PermissionError", "\(read.outcome) \(read.error?.message ?? "")")
        #expect(box.report.pathExposureStatus == "skipped")
    }

    @Test("Only the given paths show through: the rest of the private folder is hidden, and the host's view is unchanged")
    func restStaysHidden() throws {
        let folder = PrivateFolder()
        defer { folder.remove() }
        let secret = folder.write("secret.txt", "not for workers")
        folder.write("project/data/notes.txt", "notes")
        let box = try sandbox(readable: [folder.root + "/project/data"])
        defer { box.shutdown() }

        let result = box.execute("import os\n[os.path.exists(\(pythonString(secret))), os.path.exists(\(pythonString(folder.root + "/project/data/notes.txt")))]")
        #expect(result.json == .array([.bool(false), .bool(true)]), "\(result.error?.traceback ?? "")")
        // The skeleton lives in the zygote's own mount namespace, never in the host's.
        #expect(FileManager.default.fileExists(atPath: secret))
        let mounts = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        #expect(!mounts.contains(" \(folder.root) "), "the host's mount table must not show the skeleton")
    }

    @Test("A private folder inside a given path, above another given path, is exposed too")
    func nestedPrivateFolder() throws {
        let folder = PrivateFolder()
        defer { folder.remove() }
        folder.write("project/README", "top")
        _ = folder.folder("project/vault", mode: 0o700)
        folder.write("project/vault/lib/vaultmod.py", "NAME = 'vault'\n")
        let box = try sandbox(readable: [folder.root + "/project"], importPaths: [folder.root + "/project/vault/lib"])
        defer { box.shutdown() }

        let result = box.execute("import vaultmod\n[vaultmod.NAME, open(\(pythonString(folder.root + "/project/README"))).read()]")
        #expect(result.json == .array([.string("vault"), .string("top")]), "\(result.error?.traceback ?? "\(result.outcome)")")
        #expect(folder.entries(box.report.privateParents) == [folder.root, folder.root + "/project/vault"])
    }

    @Test("A given path through a symbolic link inside the private folder keeps working under its own name")
    func symbolicLinkBelowPrivateParent() throws {
        let folder = PrivateFolder()
        defer { folder.remove() }
        folder.write("real/data/notes.txt", "via a link")
        try FileManager.default.createSymbolicLink(atPath: folder.root + "/link", withDestinationPath: folder.root + "/real")
        let box = try sandbox(readable: [folder.root + "/link/data"])
        defer { box.shutdown() }

        let result = box.execute("open(\(pythonString(folder.root + "/link/data/notes.txt"))).read()")
        #expect(result.json == .string("via a link"), "\(result.error?.traceback ?? "\(result.outcome)")")
    }

    @Test("When the kernel refuses a mount namespace, the zygote says so and the sandbox still runs code")
    func kernelRefusal() throws {
        // Root without CAP_SYS_ADMIN (a container that drops it) cannot unshare(CLONE_NEWNS).
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            Issue.record("setpriv (util-linux) is missing; scripts/test installs it")
            return
        }
        let folder = PrivateFolder()
        defer { folder.remove() }
        folder.write("project/lib/privmod.py", "VALUE = 42\n")
        // The zygote `swift build` put beside this test binary.
        let realZygote = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            .deletingLastPathComponent().appendingPathComponent("crucible-zygote").path
        let wrapper = folder.write(
            "bin/zygote-without-sys-admin",
            "#!/bin/sh\nexec /usr/bin/setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin \(realZygote) \"$@\"\n")
        chmod(wrapper, 0o755)
        let box = try sandbox(importPaths: [folder.root + "/project/lib"], zygote: wrapper)
        defer { box.shutdown() }

        #expect(box.report.pathExposureStatus == "skipped")
        #expect(box.report.pathExposureReason?.contains("the kernel refused a private mount namespace") == true)
        #expect(folder.entries(box.report.unreachablePaths) == [folder.root + "/project/lib"])
        #expect(box.execute("1 + 1").json == .int(2))
        #expect(box.execute("import privmod").error?.type == "ModuleNotFoundError")
    }
}

private func pythonString(_ text: String) -> String { JSONValue.string(text).jsonText }
