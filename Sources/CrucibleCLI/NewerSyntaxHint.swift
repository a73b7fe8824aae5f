import Foundation

/// What `crucible run` adds to a syntax error on a Python older than 3.14 when the code uses what
/// only 3.14 parses: t-strings (PEP 750), `type` statements and type parameters (PEP 695).
/// Without it, running a tdom view on the system's 3.11 said only "SyntaxError" (`validate`
/// names the cause: its PY314 rule). The patterns are a hint's, not a parser's: a t-string
/// prefix before a quote, `type X =` at a line's start, `def f[` or `class C[`.
enum NewerSyntaxHint {
    private static let features: [(name: String, pattern: NSRegularExpression)] = [
        ("t-strings", try! NSRegularExpression(pattern: #"(?<![\w.'"])(?:[tT][rR]?|[rR][tT])['"]"#)),
        ("a type statement", try! NSRegularExpression(pattern: #"(?m)^\s*type\s+[A-Za-z_]\w*\s*[\[=]"#)),
        ("type parameters", try! NSRegularExpression(pattern: #"(?m)^\s*(?:async\s+)?(?:def|class)\s+[A-Za-z_]\w*\s*\["#)),
    ]

    /// The hint for `code` that failed to parse on `pythonVersion` ("3.11.2"), or nil when that
    /// Python is 3.14 or newer or the code shows none of 3.14's syntax.
    static func hint(for code: String, pythonVersion: String) -> String? {
        let parts = pythonVersion.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2, (parts[0], parts[1]) < (3, 14) else { return nil }
        let range = NSRange(code.startIndex..., in: code)
        let used = features.filter { $0.pattern.firstMatch(in: code, range: range) != nil }.map(\.name)
        guard !used.isEmpty else { return nil }
        return "Python \(parts[0]).\(parts[1]) cannot parse this code, which uses Python 3.14 syntax "
            + "(\(used.joined(separator: ", "))): run it with --python 3.14 (`crucible python install 3.14` installs it)"
    }
}
