/// How `crucible http` listens and what it accepts.
public struct HTTPConfiguration: Sendable {
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

    public init() {}
}
