import Glibc

/// Ids for corpus records (an attempt's id, a serve call's episode) as lowercase UUID text,
/// version 7 (RFC 9562): the Unix time in milliseconds first, then 74 random bits from the
/// system's generator (getrandom(2)).
///
/// Time first, because the corpus indexes these ids (sessions' primary key, attempts' `uid`
/// and `(session_id, attempt)`): random (version 4) ids landed all over those B-trees, so a
/// batch of 64 records dirtied up to 64 leaf pages of each index, all written to the WAL at
/// commit, and a record cost more the larger the corpus (BENCHMARKS.md, per-request section).
/// Time-ordered ids land at the right edge. (Foundation's `UUID()` also opened, read and
/// closed /dev/urandom for each one.)
public enum RecordUUID {
    public static func next() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let milliseconds = UInt64(max(0, now.tv_sec)) &* 1_000 &+ UInt64(max(0, now.tv_nsec)) / 1_000_000
        var generator = SystemRandomNumberGenerator()
        let high: UInt64 = generator.next(), low: UInt64 = generator.next()
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
