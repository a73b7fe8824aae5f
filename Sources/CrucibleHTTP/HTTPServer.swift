import Foundation
import Hummingbird
import Logging
import NIOCore

/// Runs an `HTTPService` on Hummingbird (SwiftNIO) until SIGTERM or SIGINT. On either, the
/// server stops accepting connections and waits for the requests in progress to be answered
/// (Hummingbird's graceful shutdown), then returns: the caller closes the sandbox and exits 0.
public enum HTTPServer {
    /// `ready` gets the address the server listens on, once it does (the port the kernel
    /// picked for port 0).
    public static func run(_ service: HTTPService, ready: @escaping @Sendable (_ host: String, _ port: Int) -> Void) async throws {
        // Hummingbird logs through swift-log; its default handler writes to stdout, which
        // belongs to the one line saying where the server listens.
        var logger = Logger(label: "crucible-http") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let configuration = service.configuration
        let app = Application(
            responder: CallbackResponder<BasicRequestContext> { request, context in await service.respond(to: request, context: context) },
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: "crucible"),
            onServerRunning: { channel in
                ready(configuration.host, channel.localAddress?.port ?? configuration.port)
            },
            logger: logger)
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }
}
