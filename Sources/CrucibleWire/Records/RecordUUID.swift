import Glibc
import Synchronization

/// Ids for corpus records (an attempt's id, a serve call's episode) as lowercase UUID text,
/// version 7 (RFC 9562): the Unix time in milliseconds first, then 74 random bits from the
/// system's generator (getrandom(2), through a pool: below).
///
/// Time first, because the corpus indexes these ids (sessions' primary key, attempts' `uid`
/// and `(session_id, attempt)`): random (version 4) ids landed all over those B-trees, so a
/// batch of 64 records dirtied up to 64 leaf pages of each index, all written to the WAL at
/// commit, and a record cost more the larger the corpus (BENCHMARKS.md, per-request section).
/// Time-ordered ids land at the right edge. (Foundation's `UUID()` also opened, read and
/// closed /dev/urandom for each one.)
///
/// The random bits come from a pool of 4 KiB filled by one `arc4random_buf` (one getrandom(2)
/// in glibc 2.36) at a time: a recorded `serve` call makes two ids, and a system call for each
/// 64 bits was four system calls on the request's path. The ids are unique, not secret; a
/// process forked with a pool half used refills its own (`forks`), so parent and child never
/// hand out the same bits.
public enum RecordUUID {
    private static let pool = Mutex(RandomPool())
    /// Counts forks in this process's line (a child's atfork handler adds one): lock-free,
    /// since a fork may happen while another thread holds the pool.
    private static let forks: Atomic<Int> = {
        pthread_atfork(nil, nil) { RecordUUID.forks.add(1, ordering: .relaxed) }
        return Atomic(0)
    }()

    private struct RandomPool {
        var words = [UInt64](repeating: 0, count: 512)
        var next = 512
        var filledAfterFork = 0

        mutating func take() -> UInt64 {
            let fork = RecordUUID.forks.load(ordering: .relaxed)
            if next == words.count || fork != filledAfterFork {
                words.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
                next = 0
                filledAfterFork = fork
            }
            defer { next += 1 }
            return words[next]
        }
    }

    public static func next() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let milliseconds = UInt64(max(0, now.tv_sec)) &* 1_000 &+ UInt64(max(0, now.tv_nsec)) / 1_000_000
        let (high, low) = pool.withLock { ($0.take(), $0.take()) }
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - UInt64(index)))) }
        bytes[6] = 0x70 | UInt8(truncatingIfNeeded: high) & 0x0f  // version 7
        bytes[7] = UInt8(truncatingIfNeeded: high >> 8)
        bytes[8] = 0x80 | UInt8(truncatingIfNeeded: high >> 16) & 0x3f  // RFC 9562 variant
        for index in 9..<16 { bytes[index] = UInt8(truncatingIfNeeded: low >> (8 * UInt64(index - 9))) }
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { text.append(UInt8(ascii: "-")) }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
