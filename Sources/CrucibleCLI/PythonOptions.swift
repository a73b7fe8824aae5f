import ArgumentParser
import Crucible
import Foundation

/// `--python VERSION`, `--with REQ` and `--preload MODULE`, plus `[tool.crucible] python`,
/// `packages` and `preload`: the interpreter sandboxed code runs on and the third-party
/// packages it may import. The flags add to (packages) or override (python) the project's.
struct PythonOptions: ParsableArguments {
    @Option(help: "The Python the code runs on: the system's (default) or an installed image's, e.g. --python 3.14 (installed on first use; see `crucible python install`).")
    var python: String?

    @Option(name: .customLong("with"), help: "A package the code may import, as pip reads it (repeatable), e.g. --with attrs==25.1.0.")
    var requirements: [String] = []

    @Option(help: "A module imported once in the zygote, so executions do not pay its import time (repeatable).")
    var preload: [String] = []

    /// What the sandbox is built with.
    struct Prepared {
        var interpreter: PythonInterpreter
        var packages: PackageEnvironment?
        var preload: [String]
    }

    /// The interpreter (installed first when it is not), then the packages for it (installed or
    /// found in the cache), with progress on stderr. A failure exits 1 (3 without the sandbox's
    /// parts) before anything runs.
    func prepare(project: ProjectConfiguration?) async throws -> Prepared {
        func strings(_ key: String) -> [String] { project?.settings[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        let wanted = strings("packages") + requirements
        let modules = strings("preload") + preload
        let version = python ?? project?.settings["python"]?.stringValue
        if wanted.isEmpty, !modules.isEmpty {
            throw ValidationError("--preload needs packages (--with) or preloads a module of the standard library only")
        }
        let progress: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("crucible: \($0)\n".utf8)) }
        do {
            let sandbox = try SandboxConfiguration().resolvedPaths().sandbox
            let interpreter = try await PythonInterpreter.prepare(version, sandboxDirectory: sandbox, progress: progress)
            let environment = wanted.isEmpty ? nil : try await PackageEnvironment.prepare(wanted, for: interpreter, progress: progress)
            return Prepared(interpreter: interpreter, packages: environment, preload: wanted.isEmpty ? [] : modules)
        } catch {
            FileHandle.standardError.write(Data("crucible: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
