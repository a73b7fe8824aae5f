/// Random (version 4) UUIDs as lowercase text, from the system's generator (getrandom(2)):
/// Foundation's `UUID()` opened, read and closed /dev/urandom for each one, twice per
/// recorded serve call (its episode and its attempt id).
public enum RandomUUID {
    public static func lowercased() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 16)
        for half in 0..<2 {
            var word: UInt64 = generator.next()
            for index in 0..<8 {
                bytes[half * 8 + index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
            }
        }
        bytes[6] = bytes[6] & 0x0f | 0x40  // version 4
        bytes[8] = bytes[8] & 0x3f | 0x80  // RFC 4122 variant
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
