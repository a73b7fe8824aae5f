/// The server's token and how a request proves it holds it. Compared in constant time: the
/// time taken does not depend on how many leading characters of a guess are right.
struct TokenCheck: Sendable {
    /// nil: `--no-auth`, every request is let in.
    let token: [UInt8]?

    init(token: String?) { self.token = token.map { Array($0.utf8) } }

    /// Whether `given` is the token (always true without one).
    func admits(_ given: Substring?) -> Bool {
        guard let token else { return true }
        guard let given else { return false }
        return Self.equal(Array(given.utf8), token)
    }

    /// Whether the `Authorization` header is `Bearer TOKEN`.
    func admits(authorization header: String?) -> Bool {
        guard token != nil else { return true }
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return false }
        return admits(header.dropFirst(7).drop { $0 == " " })
    }

    /// Every byte is compared whatever the first difference; only the length (not secret) shows.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference: UInt8 = a.count == b.count ? 0 : 1
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}
