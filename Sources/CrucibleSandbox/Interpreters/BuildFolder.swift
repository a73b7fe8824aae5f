import Foundation

/// An image's build folder, `.building-VERSION-PID` in the store, where mmdebstrap mounts
/// /proc, /sys and /dev while it works. A build killed mid-way (SIGKILL, a closed pipe, a lost
/// terminal) never runs its clean-up and can leave the folder with those mounts in place;
/// removing it then would walk into the host's /proc and /sys. So a build folder is removed
/// only after everything mounted at or beneath it is detached, and every install first clears
/// the folders of builds whose process is gone.
package enum BuildFolder {
    static func path(store: String, version: String, pid: pid_t) -> String {
        store + "/.building-\(version)-\(pid)"
    }

    /// Detaches every mount at or beneath `path`, deepest first, then removes the folder.
    /// False (and the folder kept) when a mount could not be detached.
    @discardableResult
    package static func remove(_ path: String) -> Bool {
        for mountPoint in mounts(under: path).sorted(by: { $0.count > $1.count }) {
            _ = umount2(mountPoint, Int32(MNT_DETACH))
        }
        guard mounts(under: path).isEmpty else { return false }
        guard FileManager.default.fileExists(atPath: path) else { return true }
        return (try? FileManager.default.removeItem(atPath: path)) != nil
    }

    /// Removes the build folders of `version` in `store` whose process no longer runs; the
    /// paths removed, and those that could not be (a mount that stayed).
    package static func removeStale(version: String, in store: String) -> (removed: [String], kept: [String]) {
        let prefix = ".building-\(version)-"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: store)) ?? []
        var removed: [String] = [], kept: [String] = []
        for entry in entries where entry.hasPrefix(prefix) {
            guard let pid = pid_t(entry.dropFirst(prefix.count)), !isRunning(pid) else { continue }
            let path = store + "/" + entry
            if remove(path) { removed.append(path) } else { kept.append(path) }
        }
        return (removed, kept)
    }

    /// Whether a process with this id exists (a reused id counts: the folder is then kept).
    static func isRunning(_ pid: pid_t) -> Bool {
        pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)
    }

    /// Mount points at or beneath `path`, from /proc/self/mountinfo (its fifth field, with
    /// the kernel's octal escapes for space, tab, newline and backslash decoded).
    package static func mounts(under path: String) -> [String] {
        guard let table = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        return table.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count > 4 else { return nil }
            let point = unescape(fields[4])
            return point == path || point.hasPrefix(path + "/") ? point : nil
        }
    }

    private static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3,
                let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
