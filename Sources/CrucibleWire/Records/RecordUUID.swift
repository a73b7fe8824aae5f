import Glibc

/// Ids for corpus records (an attempt's id, a serve call's episode) as lowercase UUID text,
/// version 7 (RFC 9562): the Unix time in milliseconds first, then 74 random bits from the
/// system's generator (getrandom(2), through glibc's arc4random_buf).
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
        var bytes: (UInt64, UInt64) = (0, 0)
        return withUnsafeMutableBytes(of: &bytes) { bytes in
            // The random bits in one call into bytes 6-15 (glibc's arc4random_buf: one
            // getrandom(2) where Swift's generator makes one per 8 bytes, and a recorded
            // session cell takes an id on the request's path). Then the time over bytes 0-5,
            // the version and the variant.
            arc4random_buf(bytes.baseAddress! + 6, 10)
            for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - UInt64(index)))) }
            bytes[6] = 0x70 | bytes[6] & 0x0f  // version 7
            bytes[8] = 0x80 | bytes[8] & 0x3f  // RFC 9562 variant
            return String(unsafeUninitializedCapacity: 36) { text in
                var position = 0
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        text[position] = UInt8(ascii: "-")
                        position += 1
                    }
                    text[position] = hexDigit(byte >> 4)
                    text[position + 1] = hexDigit(byte & 0x0f)
                    position += 2
                }
                return position
            }
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}
