import CrucibleSandbox
import CrucibleWire
import Foundation

/// run_python's sessions, by handle. A handle is made by the server and is unguessable (128
/// random bits), so one agent run on a shared server cannot reach another run's variables by
/// guessing a name ("main"). At most `limit` are open; an unused one closes itself after the
/// idle timeout, and `close_session` closes one at once.
final class SessionHandles: Sendable {
    struct Problem: Error { let message: String }

    let limit: Int
    private let sessions = Locked<[String: SandboxSession]>([:])

    init(limit: Int) { self.limit = limit }

    /// A new session and its handle; a `Problem` when `limit` are open.
    func open(_ make: () throws -> SandboxSession) throws -> (String, SandboxSession) {
        try sessions.withLock { open in
            open = open.filter { $0.value.closedBecause == nil }  // idle ones that closed themselves
            guard open.count < limit else {
                throw Problem(message: "\(open.count) sessions are open, the most this server allows. Close one with "
                    + "close_session, reuse one (restart: true clears its variables), or omit session for a fresh "
                    + "interpreter; an unused session closes by itself.")
            }
            let session = try make()
            let handle = Self.newHandle()
            open[handle] = session
            return (handle, session)
        }
    }

    /// The open session with this handle.
    func find(_ handle: String) throws -> SandboxSession {
        try sessions.withLock { open in
            guard let session = open[handle], session.closedBecause == nil else {
                open.removeValue(forKey: handle)
                throw Problem(message: "there is no open session \(handle.debugDescription). Sessions are the handles "
                    + "run_python returned for session: \"new\"; an unused one closes by itself. Pass session: \"new\" "
                    + "to start one, or omit session for a fresh interpreter.")
            }
            return session
        }
    }

    func forget(_ handle: String) { sessions.withLock { _ = $0.removeValue(forKey: handle) } }

    /// Closes the session; false when there was none open with this handle.
    func close(_ handle: String) -> Bool {
        guard let session = sessions.withLock({ $0.removeValue(forKey: handle) }), session.closedBecause == nil else {
            return false
        }
        session.close(reason: "closed by close_session")
        return true
    }

    func closeAll(reason: String) {
        let closing = sessions.withLock { open -> [SandboxSession] in
            defer { open.removeAll() }
            return Array(open.values)
        }
        for session in closing { session.close(reason: reason) }
    }

    static func newHandle() -> String {
        var generator = SystemRandomNumberGenerator()
        let bits = (generator.next() as UInt64, generator.next() as UInt64)
        return "s-" + String(bits.0, radix: 16).leftPadded(16) + String(bits.1, radix: 16).leftPadded(16)
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
