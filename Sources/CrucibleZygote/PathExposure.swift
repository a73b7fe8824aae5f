import CSandboxKernel
import Foundation

/// Makes the paths the host lets workers read (--runtime, --import-path, --read) reachable
/// for `nobody`, whatever the folders above them allow.
///
/// The zygote drops root for nobody, and nobody cannot walk through a private (0700) folder
/// above those paths: a checkout in a `mktemp -d` folder or a private home. Modules the
/// zygote imported as root would still work and everything imported or read later would
/// fail. So, while still root, the zygote enters a mount namespace of its own and, for each
/// highest blocking folder, lays a read-only tmpfs skeleton over it holding only the given
/// paths, bind-mounted back at their own places. Paths stay identical inside and outside
/// (tracebacks, sys.path and the Landlock rules do not change), the rest of the private
/// folder stays out of sight, and the workers' namespaces are copied from this one.
struct PathExposure {
    /// "not needed", "exposed", "skipped" or "failed" (some paths stay unreachable).
    var status = "not needed"
    var reason: String?
    /// Paths now mounted on a skeleton, and the private folders the skeletons cover.
    var exposed: [String] = []
    var skeletons: [String] = []
    /// Given paths that nobody still cannot reach.
    var unreachable: [String] = []

    var report: [String: Any] {
        var object: [String: Any] = ["status": status, "exposed": exposed, "skeletons": skeletons]
        if let reason { object["reason"] = reason }
        if !unreachable.isEmpty { object["unreachable"] = unreachable }
        return object
    }

    static func skipped(_ reason: String) -> PathExposure {
        PathExposure(status: "skipped", reason: reason)
    }

    /// Exposes `paths`; call while root, before the privilege drop.
    static func apply(to paths: [String]) -> PathExposure {
        let candidates = unique(paths.filter { !$0.isEmpty }.map(normalize)).filter { access($0, F_OK) == 0 }
        guard geteuid() == 0 else {
            return .skipped("not root: workers keep this user's uid, who can walk its own folders")
        }
        var result = PathExposure()
        var enteredNamespace = false
        var failures: [String] = []
        // A private folder can sit inside an exposed path, beneath another given path: each
        // round exposes what the previous one made reachable down to the next private folder.
        for _ in 0..<8 {
            let blocked = candidates.compactMap { path in highestBlockingAncestor(of: path).map { (path, $0) } }
            if blocked.isEmpty { break }
            if !enteredNamespace {
                guard crucible_private_mount_namespace() == 0 else {
                    var skipped = PathExposure.skipped(
                        "the kernel refused a private mount namespace (unshare(CLONE_NEWNS) or making / private: "
                            + "\(String(cString: strerror(errno)))); workers cannot reach paths under a private folder")
                    skipped.unreachable = blocked.map(\.0)
                    return skipped
                }
                enteredNamespace = true
            }
            var progress = false
            for (ancestor, group) in Dictionary(grouping: blocked, by: \.1).sorted(by: { $0.key < $1.key }) {
                // A path beneath another one comes along with its clone (AT_RECURSIVE).
                let roots = group.map(\.0).filter { path in !group.contains { path.hasPrefix($0.0 + "/") } }
                var error = [CChar](repeating: 0, count: 512)
                let arguments = roots.map { strdup($0) }
                defer { arguments.forEach { free($0) } }
                let pointers = arguments.map { UnsafePointer($0) }
                let rc = crucible_expose_beneath(ancestor, pointers, Int32(pointers.count), &error, error.count)
                if rc == 0 {
                    result.exposed += roots
                    result.skeletons.append(ancestor)
                    progress = true
                } else {
                    failures.append(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
                }
            }
            if !progress { break }
        }
        result.unreachable = candidates.filter { highestBlockingAncestor(of: $0) != nil }
        if !result.unreachable.isEmpty {
            result.status = "failed"
            result.reason = failures.isEmpty
                ? "a private folder remains above these paths after 8 rounds"
                : failures.joined(separator: "; ")
        } else if !result.exposed.isEmpty {
            result.status = "exposed"
        }
        return result
    }

    /// The highest folder above `path` that others may not search (no S_IXOTH), if any.
    /// The path itself does not count: its own permissions are its owner's business.
    static func highestBlockingAncestor(of path: String) -> String? {
        var prefix = ""
        for component in path.split(separator: "/").dropLast() {
            prefix += "/" + component
            var info = stat()
            guard stat(prefix, &info) == 0 else { return nil }
            if info.st_mode & S_IXOTH == 0 { return prefix }
        }
        return nil
    }

    /// Absolute (relative to the working folder the host gave the zygote), without `.`,
    /// `..` or repeated slashes, by text alone: the mounts are made at the very path the
    /// host, Python and Landlock use.
    static func normalize(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var components: [Substring] = []
        for component in absolute.split(separator: "/") {
            switch component {
            case ".": continue
            case "..": _ = components.popLast()
            default: components.append(component)
            }
        }
        return "/" + components.joined(separator: "/")
    }

    private static func unique(_ paths: [String]) -> [String] {
        var seen = Set<String>()
        return paths.filter { seen.insert($0).inserted }
    }
}
