import CSandboxKernel
import Foundation

/// What the zygote does to itself once, so every worker inherits it: give up root,
/// and enter fresh user, network, IPC, UTS, mount and PID namespaces where the kernel allows.
struct ZygoteIsolation {
    var privilegesDropped = false
    var namespaces: [String] = []
    var namespaceError: String?
    /// True when this process must fork once more to become pid 1 of its new PID namespace.
    var needsPIDNamespaceFork = false
    /// Whether this process's uid and gid are mapped in its new user namespace.
    var idsMapped = false

    static let nobody: UInt32 = 65534

    mutating func apply() {
        _ = crucible_set_dumpable(0)
        if geteuid() == 0 {
            // Root in the zygote would make every worker root: drop to nobody first.
            if crucible_setgroups_empty() == 0, setgid(Self.nobody) == 0, setuid(Self.nobody) == 0 {
                privilegesDropped = true
            }
        }
        let all: [(String, Int32)] = [
            ("user", 0x1000_0000), ("net", 0x4000_0000), ("ipc", 0x0800_0000),
            ("uts", 0x0400_0000), ("mount", 0x0002_0000), ("pid", 0x2000_0000),
        ]
        let flags = all.reduce(Int32(0)) { $0 | $1.1 }
        let (uid, gid) = (geteuid(), getegid())
        if crucible_unshare(flags) == 0 {
            namespaces = all.map(\.0)
            needsPIDNamespaceFork = true
            // Map this process's own ids (one line each, no privilege needed) so that a worker
            // can enter a user namespace of its own below this one, where its thread bound is
            // counted: an unmapped uid cannot create one.
            // /proc/self/uid_map of a non-dumpable process belongs to root: dumpable for
            // the three writes, non-dumpable again below.
            _ = crucible_set_dumpable(1)
            idsMapped = crucible_map_ids(uid, uid, gid, gid) == 0
        } else {
            namespaceError = "unshare(user|net|ipc|uts|mount|pid): \(String(cString: strerror(errno)))"
            // Without a user namespace, try the ones this process may create on its own.
            for (name, flag) in all where name != "user" && crucible_unshare(flag) == 0 {
                namespaces.append(name)
                if name == "pid" { needsPIDNamespaceFork = true }
            }
        }
        _ = crucible_set_dumpable(0)  // setuid resets it
    }
}
