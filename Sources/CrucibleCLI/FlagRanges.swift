import ArgumentParser
import Crucible

extension SettingRange {
    /// Checks a command-line flag's value; the error names the flag and its range (exit 2).
    func validate(_ value: Double, flag: String) throws {
        do { _ = try check(value, as: flag) } catch { throw ValidationError(error.description) }
    }

    func validate(_ value: Int, flag: String) throws {
        try validate(Double(value), flag: flag)
    }

    /// A flag's seconds, already validated, as a Duration.
    func duration(_ seconds: Double) -> Duration { .milliseconds(Int64((seconds * 1000).rounded())) }
}
