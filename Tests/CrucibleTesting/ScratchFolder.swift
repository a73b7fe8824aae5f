import Foundation

/// A folder of one test's own under the temporary directory, removed with it. A suite keeps
/// one as a stored property: Swift Testing makes a new suite value for each test, so the
/// folder (and every corpus file a test made in it) goes when the test ends.
package final class ScratchFolder: Sendable {
    package let path: String

    package init(_ label: String = "crucible-test") {
        path = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// A path in the folder, named `name` with a unique prefix (a test may want several).
    package func file(_ name: String) -> String { path + "/\(UUID().uuidString.prefix(8))-\(name)" }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
