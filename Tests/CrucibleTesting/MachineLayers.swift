import CSandboxKernel
import Foundation

/// What this machine's kernel offers, probed directly rather than asked of Crucible: a test
/// that needs a layer the kernel lacks skips and says why, while a layer the kernel has but
/// the sandbox failed to use is a failure.
package enum MachineLayers {
    /// The Landlock ABI version, or nil when the kernel has no Landlock (or it is disabled).
    package static let landlockABI: Int? = {
        let abi = crucible_landlock_abi()
        return abi > 0 ? Int(abi) : nil
    }()

    /// Whether a process here can enter new network and PID namespaces (as root directly,
    /// otherwise inside a user namespace), probed in a forked child so this process is untouched.
    package static let namespaces: Bool = {
        // <sched.h> hides these behind _GNU_SOURCE, so Swift does not see them.
        let (CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET): (Int32, Int32, Int32) = (0x1000_0000, 0x2000_0000, 0x4000_0000)
        let child = fork()
        if child == 0 {
            if geteuid() != 0 && crucible_unshare(CLONE_NEWUSER) != 0 { _exit(1) }
            _exit(crucible_unshare(CLONE_NEWNET | CLONE_NEWPID) == 0 ? 0 : 1)
        }
        guard child > 0 else { return false }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        return status == 0
    }()

    /// Every layer the attack suite's expectations assume.
    package static var all: Bool { landlockABI != nil && namespaces }

    package static let missing = "this kernel lacks Landlock or namespaces, which these expectations assume (`crucible doctor` says which)"
}
