import CrucibleWire

/// How `crucible http` listens and what it accepts.
public struct HTTPConfiguration: Sendable {
    /// A name or an address, without brackets (`ListenAddress` strips them).
    public var host = "127.0.0.1"
    /// 0: the kernel picks a free port (the server prints the one it got).
    public var port = 8080
    /// The bearer token every route but `/health` requires; nil only with `--no-auth`.
    public var token: String?
    /// Request bodies beyond it are answered 413 (unread past the cap).
    public var maxBodyBytes = 16 << 20
    /// The most a request may ask for: native requests beyond are answered 400,
    /// SandboxFusion's are lowered to it (the response's `message` says so).
    public var maxTimeout: Double = 300
    public var maxMemoryMB = 4096
    /// Requests answered at once (each blocks a thread while it runs or waits for a turn);
    /// one more is answered 429 at once.
    public var maxInFlight = 1024 + 32 + 64
    /// A connection that sends nothing for this long is closed (unfinished headers, a stalled
    /// body, or idle between requests), and a body still arriving this long after its headers
    /// is answered 408: otherwise a client that never finishes holds a connection for ever.
    public var readTimeout: Duration = .seconds(60)

    public init() {}
}

extension SettingRange {
    /// `--read-timeout`: how long a connection may stall.
    public static let readTimeout = SettingRange("read_timeout", unit: "seconds", 0.1...3600)
    /// `--max-sessions` of `crucible http`: serve's range less 0, which over HTTP would make
    /// every `POST /v1/sessions` a 429 telling the client to close one of none.
    public static let httpSessions = SettingRange("max_sessions", 1...SettingRange.sessions.maximum, integer: true)
}
