import CrucibleWire
import Foundation

/// Appends attempt records to a JSON Lines file, one record per line, each written with a
/// single `write(2)` on an O_APPEND descriptor: several processes can share the file and a
/// process killed mid-run leaves only whole records before the cut. The corpus store is the
/// default record; this file is `--records`, and the spill file when the store cannot write.
public final class AttemptLog: Sendable {
    public let path: String
    private let descriptor: Int32
    /// Records written; its lock also keeps one record's write whole.
    private let count = Locked(0)
    public var written: Int { count.value }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public init(path: String) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let opened = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard opened >= 0 else {
            throw Failure(description: "cannot open the attempt log \(path): \(String(cString: strerror(errno)))")
        }
        self.path = path
        descriptor = opened
    }

    deinit { close(descriptor) }

    /// Writes one record. Throws (and the caller says so) when the disk refuses: nothing is
    /// dropped silently.
    public func append(_ record: AttemptRecord) throws {
        let line = Array((record.json.jsonText + "\n").utf8)
        try count.withLock { written in
            let count = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard count == line.count else {
                let reason = count < 0 ? String(cString: strerror(errno)) : "short write (\(count) of \(line.count) bytes)"
                throw Failure(description: "writing to the attempt log \(path) failed: \(reason)")
            }
            written += 1
        }
    }
}
