import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Runs an `HTTPService` on Hummingbird (SwiftNIO) until SIGTERM or SIGINT. On either, the
/// server stops accepting connections and waits for the requests in progress to be answered
/// (Hummingbird's graceful shutdown), then returns: the caller closes the sandbox and exits 0.
public enum HTTPServer {
    /// `ready` gets the address the server listens on, once it does (the port the kernel
    /// picked for port 0). Throws `ListenFailure` when it cannot listen.
    public static func run(_ service: HTTPService, ready: @escaping @Sendable (_ host: String, _ port: Int) -> Void) async throws {
        // Hummingbird logs through swift-log; its default handler writes to stdout, which
        // belongs to the one line saying where the server listens.
        var logger = Logger(label: "crucible-http") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let configuration = service.configuration
        let listening = Atomic(false)
        // The idle timeout closes connections that stall before or inside a request (half-sent
        // headers, a body that stops); one waiting for its answer is left alone however long
        // its code runs. The body's own deadline is HTTPService's.
        let idle = TimeAmount.nanoseconds(Int64(configuration.readTimeout.components.seconds) * 1_000_000_000
            + configuration.readTimeout.components.attoseconds / 1_000_000_000)
        let app = Application(
            responder: CallbackResponder<BasicRequestContext> { request, context in await service.respond(to: request, context: context) },
            server: .http1(configuration: .init(idleTimeout: idle)),
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: "crucible"),
            onServerRunning: { channel in
                listening.store(true, ordering: .relaxed)
                ready(configuration.host, channel.localAddress?.port ?? configuration.port)
            },
            logger: logger)
        do {
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch where !listening.load(ordering: .relaxed) {
            throw ListenFailure(address: ListenAddress(configuration.host), port: configuration.port, error: error)
        }
    }
}
