import ArgumentParser
import Crucible
import Foundation

/// `--with REQ` and `--preload MODULE`, plus `[tool.crucible] packages` and `preload`:
/// third-party packages sandboxed code may import.
struct PackageOptions: ParsableArguments {
    @Option(name: .customLong("with"), help: "A package the code may import, as pip reads it (repeatable), e.g. --with attrs==25.1.0.")
    var requirements: [String] = []

    @Option(help: "A module imported once in the zygote, so executions do not pay its import time (repeatable).")
    var preload: [String] = []

    /// The requirements and preloads of the flags and the project together; the environment
    /// is installed (or found in the cache) before the sandbox starts, with progress on stderr.
    func prepare(project: ProjectConfiguration?) async throws -> (PackageEnvironment?, [String]) {
        func strings(_ key: String) -> [String] { project?.settings[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        let wanted = strings("packages") + requirements
        let modules = strings("preload") + preload
        guard !wanted.isEmpty else {
            if !modules.isEmpty { throw ValidationError("--preload needs packages (--with) or preloads a module of the standard library only") }
            return (nil, [])
        }
        do {
            let environment = try await PackageEnvironment.prepare(wanted) { FileHandle.standardError.write(Data("crucible: \($0)\n".utf8)) }
            return (environment, modules)
        } catch {
            FileHandle.standardError.write(Data("crucible: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
