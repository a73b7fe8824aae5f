import Foundation

/// ISO 8601 timestamps in UTC ("2026-11-21T10:20:39Z", or "…39.123Z" with milliseconds), the
/// form the corpus stores. Not Foundation's ISO8601DateFormatter: on Linux each one opens an
/// ICU calendar, locale and date-format symbols, and a formatter made per record was the
/// largest single cost of recording a `crucible serve` call (BENCHMARKS.md, "Design
/// measurements": timestamps).
public enum Timestamp {
    public static func iso8601(_ date: Date = Date(), milliseconds: Bool = false) -> String {
        // Whole microseconds first (86_399.999 is 86_399.998999… as a double), then truncated
        // to the millisecond and second: a time is never written as later than it was.
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        func floorDivide(_ value: Int64, _ by: Int64) -> Int64 { value >= 0 ? value / by : -((-value + by - 1) / by) }
        var seconds = time_t(floorDivide(micros, 1_000_000))
        let millis = Int(floorDivide(micros, 1000) - Int64(seconds) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var text = ""
        text.reserveCapacity(24)
        func append(_ value: Int, width: Int) {
            let digits = String(value)
            if digits.count < width { text += String(repeating: "0", count: width - digits.count) }
            text += digits
        }
        append(Int(parts.tm_year) + 1900, width: 4)
        text += "-"
        append(Int(parts.tm_mon) + 1, width: 2)
        text += "-"
        append(Int(parts.tm_mday), width: 2)
        text += "T"
        append(Int(parts.tm_hour), width: 2)
        text += ":"
        append(Int(parts.tm_min), width: 2)
        text += ":"
        append(Int(parts.tm_sec), width: 2)
        if milliseconds {
            text += "."
            append(millis, width: 3)
        }
        return text + "Z"
    }
}
