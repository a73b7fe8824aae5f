import Foundation
import NIOCore

/// The server could not start listening: the address is taken, not on this machine, or not
/// allowed. Says so in a line a user can act on, instead of the socket call that failed.
public struct ListenFailure: Error, CustomStringConvertible {
    public let address: ListenAddress
    public let port: Int
    /// "address already in use", "cannot assign requested address", ...
    public let reason: String

    init(address: ListenAddress, port: Int, error: any Error) {
        self.address = address
        self.port = port
        switch error {
        case let error as IOError:
            reason = String(cString: strerror(error.errnoCode)).lowercased()
        case let error as SocketAddressError.UnknownHost:
            reason = "no such host (\(error.errorDescription.lowercased()))"
        default:
            reason = "\(error)"
        }
    }

    public var description: String { "cannot listen on \(address.shown):\(port): \(reason)" }
}
