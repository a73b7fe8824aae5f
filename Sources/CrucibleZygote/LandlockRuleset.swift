import CSandboxKernel
import Foundation

/// The Landlock ruleset every worker restricts itself to, built once in the zygote.
struct LandlockRuleset {
    let descriptor: Int32
    let abi: Int32
    let readablePaths: [String]

    /// nil when the kernel has no Landlock; throws when it has one and the ruleset fails.
    static func build(
        policy: SandboxPolicy, importPath: [String], runtimeDirectory: String, extraReadablePaths: [String]
    ) throws -> LandlockRuleset? {
        let abi = crucible_landlock_abi()
        guard abi >= 1 else { return nil }
        var net: UInt64 = 0
        if policy.landlockDenyTCP && abi >= 4 { net = 0b11 }  // BIND_TCP | CONNECT_TCP
        var scoped: UInt64 = 0
        if abi >= 6 {
            if policy.landlockScopes.contains("abstract-unix") { scoped |= 1 }
            if policy.landlockScopes.contains("signal") { scoped |= 2 }
        }
        let fd = crucible_landlock_create_ruleset(abi, crucible_landlock_fs_rights(abi), net, scoped)
        guard fd >= 0 else { throw "landlock_create_ruleset: \(String(cString: strerror(errno)))" }
        var paths: [String] = []
        for entry in policy.landlockReadPaths {
            switch entry {
            case "{python}": paths += importPath
            case "{runtime}": paths.append(runtimeDirectory)
            default: paths.append(entry)
            }
        }
        paths += extraReadablePaths
        var granted: [String] = []
        for path in paths where FileManager.default.fileExists(atPath: path) {
            if crucible_landlock_allow_path(fd, path, Self.readAccess(for: path, abi: abi)) == 0 {
                granted.append(path)
            }
        }
        return LandlockRuleset(descriptor: fd, abi: abi, readablePaths: granted)
    }

    /// Directories get read-file and read-dir; a plain file only read-file (the kernel refuses more).
    private static func readAccess(for path: String, abi: Int32) -> UInt64 {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        return isDirectory.boolValue ? crucible_landlock_read_rights() : 0b100
    }
}
