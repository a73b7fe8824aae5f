import CrucibleSandbox
import CrucibleTesting
import Foundation
import Testing

/// `crucible python install` killed mid-build leaves `.building-VERSION-PID` in the store, maybe
/// with mmdebstrap's mounts still inside; the next install must detach them before removing it.
@Suite("Interpreter images: a stopped build's folder and mounts are cleared by the next install")
struct BuildFolderTests {
    /// A process id that no longer runs: a child that exited and was reaped.
    private static func finishedPID() -> pid_t {
        let child = fork()
        if child == 0 { _exit(0) }
        var status: Int32 = 0
        waitpid(child, &status, 0)
        return child
    }

    @Test("A dead build's folder is removed after its mounts are detached; a running build's is left alone",
          .enabled(if: getuid() == 0, "mounting a tmpfs to stand for mmdebstrap's /proc needs root"))
    func staleBuildsAreCleared() throws {
        let store = Scratch().path
        let dead = store + "/.building-3.14-\(Self.finishedPID())"
        let running = store + "/.building-3.14-\(getpid())"
        for folder in [dead + "/proc", running + "/proc"] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        // Stands for mmdebstrap's /proc, left mounted by a build that was killed.
        #expect(mount("tmpfs", dead + "/proc", "tmpfs", 0, "size=1m") == 0, "mount: \(String(cString: strerror(errno)))")
        FileManager.default.createFile(atPath: dead + "/proc/inside", contents: Data("x".utf8))
        #expect(BuildFolder.mounts(under: dead) == [dead + "/proc"])

        let outcome = BuildFolder.removeStale(version: "3.14", in: store)
        #expect(outcome.removed == [dead] && outcome.kept.isEmpty)
        #expect(BuildFolder.mounts(under: dead).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: dead))
        #expect(FileManager.default.fileExists(atPath: running + "/proc"))  // its process still runs
        // Another version's folder is not this install's to clear.
        let other = store + "/.building-3.13-\(Self.finishedPID())"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        #expect(BuildFolder.removeStale(version: "3.14", in: store).removed.isEmpty)
        #expect(FileManager.default.fileExists(atPath: other))
    }
}
