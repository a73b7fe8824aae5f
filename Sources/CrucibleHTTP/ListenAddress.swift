import Foundation

/// The host `crucible http` listens on, as given to `--host`: a name, an IPv4 address, or an
/// IPv6 address bare or in the brackets a URL needs (`[::1]`, the form the server prints).
public struct ListenAddress: Sendable, Equatable {
    /// What the socket layer takes: the name or address without brackets.
    public let host: String

    public init(_ given: String) {
        if given.hasPrefix("[") && given.hasSuffix("]") && given.count > 2 {
            host = String(given.dropFirst().dropLast())
        } else {
            host = given
        }
    }

    /// As it goes in a URL: an IPv6 address in brackets.
    public var shown: String { host.contains(":") ? "[\(host)]" : host }

    /// Whether only this machine can connect: 127.0.0.0/8, ::1 (or an IPv4-mapped loopback)
    /// or `localhost`. Decided on the parsed address: `127.0.0.2` is as private as `127.0.0.1`,
    /// and `127.0.0.1.example.com` is not an address at all.
    public var isLoopback: Bool {
        if host.lowercased() == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return UInt32(bigEndian: v4.s_addr) >> 24 == 127
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
        // ::ffff:127.x.x.x reaches the IPv4 loopback.
        return bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff && bytes[12] == 127
    }
}
