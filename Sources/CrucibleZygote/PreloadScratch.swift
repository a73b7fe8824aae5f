import Foundation

/// A private, size-bounded scratch folder for the user's preloads: some libraries write a
/// cache when imported (matplotlib its font list and config folder) and fail without a
/// writable temporary folder. The zygote runs as nobody by then, in a mount namespace of its
/// own, so a tmpfs mounted there reaches neither the host's /tmp (no files left behind,
/// owned by anyone) nor another zygote. Its place is /dev/shm, a folder no import path or
/// readable path uses (a tmpfs on /tmp would hide paths under /tmp that workers must read),
/// and one every image has; workers' Landlock rules give them no access to it.
enum PreloadScratch {
    static let path = "/dev/shm"

    /// Mounts the tmpfs; the folder to give as TMPDIR, or nil when this zygote has no mount
    /// namespace of its own (then preloads get the machine's temporary folder, if any).
    static func mount(inPrivateMountNamespace: Bool) -> String? {
        guard inPrivateMountNamespace else { return nil }
        let flags = UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC)
        guard Glibc.mount("tmpfs", path, "tmpfs", flags, "mode=1777,size=64m") == 0 else {
            FileHandle.standardError.write(Data(
                "crucible-zygote: no scratch folder for preloads (mount tmpfs on \(path): \(String(cString: strerror(errno))))\n".utf8))
            return nil
        }
        return path
    }
}
