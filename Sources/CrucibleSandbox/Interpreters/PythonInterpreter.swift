import Foundation

/// The Python that sandboxed code runs on: the system's (Debian's python3, which the
/// default zygote embeds) or an installed image's, whose zygote runs with the image as its
/// root. Every interpreter gets the same confinement: the image only changes what `/` holds.
public struct PythonInterpreter: Sendable, Equatable {
    /// "3.11" or "3.14": what a user names with --python.
    public var version: String
    /// The full version, "3.14.2".
    public var fullVersion: String
    /// The image and the zygote built for its Python; nil for the system's.
    public var image: InterpreterImage?
    public var imageZygote: String?

    public var isSystem: Bool { image == nil }

    /// The system's interpreter, as the host's python3 reports it.
    public static func system() async throws -> PythonInterpreter {
        let full = try await PackageEnvironment.interpreterVersion()
        return PythonInterpreter(version: full.split(separator: ".").prefix(2).joined(separator: "."), fullVersion: full)
    }

    /// The interpreter for `version` ("3.14", "3.11", or nil for the system's): an image is
    /// installed on first use and its zygote built when missing, with progress on stderr.
    /// Failures name the step and what to run.
    public static func prepare(
        _ version: String?, sandboxDirectory: String, progress: @escaping @Sendable (String) -> Void
    ) async throws -> PythonInterpreter {
        let system = try await system()
        // "system" is how `crucible python list` names it.
        guard let version, version != "system", version != system.version, version != system.fullVersion else { return system }
        guard version.split(separator: ".").count == 2, version.split(separator: ".").allSatisfy({ Int($0) != nil }) else {
            throw ImageBuilder.Failure(
                step: "choosing the interpreter", detail: "\(version.debugDescription) is not a Python version such as 3.14",
                remedy: "known: \(system.version) (the system's), " + InterpreterRecipe.known.keys.sorted().joined(separator: ", "),
                isUsage: true)
        }
        let image: InterpreterImage
        switch try await ImageBuilder(progress: progress).install(version) {
        case .alreadyInstalled(let installed): image = installed
        case .built(let built): image = built
        }
        let sources = URL(fileURLWithPath: sandboxDirectory).deletingLastPathComponent().appendingPathComponent("Sources").path
        let zygote = try await ZygoteBuilder(progress: progress).zygote(for: image, sources: sources)
        return PythonInterpreter(version: version, fullVersion: image.pythonVersion, image: image, imageZygote: zygote)
    }
}
