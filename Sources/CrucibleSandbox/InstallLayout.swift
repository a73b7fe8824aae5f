import Foundation

/// Where Crucible's parts are, found from the real path of the running binary (symlinks
/// resolved: a `crucible` linked into ~/bin still finds its own install), never from the
/// working folder. Two layouts:
///
///     build (a checkout after `swift build`)   install (`scripts/install --prefix PREFIX`)
///     CHECKOUT/.build/…/debug/crucible         PREFIX/bin/crucible
///     CHECKOUT/.build/…/debug/crucible-zygote  PREFIX/libexec/crucible/crucible-zygote
///     CHECKOUT/Sandbox, Validators, Corpus     PREFIX/share/crucible/Sandbox, Validators, Corpus
///
/// Each lookup that fails says every place it looked and what to run.
package enum InstallLayout {
    static let fix = "install Crucible with `scripts/install --prefix DIR` (bin/crucible, libexec/crucible/crucible-zygote "
        + "and share/crucible/{Sandbox,Validators,Corpus} together), or run the crucible that `swift build` made in the "
        + "checkout (.build/debug/crucible)"

    /// The real path of the running binary (/proc/self/exe), and its folder.
    static var executable: String { CommandLine.executablePathForLookup }
    static var executableDirectory: URL { URL(fileURLWithPath: executable).deletingLastPathComponent() }

    /// The zygote: beside the binary (build layout, or a flat install), else in libexec.
    static func zygote(besides directory: URL = executableDirectory) throws -> String {
        let candidates = [
            directory.appendingPathComponent("crucible-zygote").path,
            directory.deletingLastPathComponent().appendingPathComponent("libexec/crucible/crucible-zygote").path,
        ]
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
        throw SandboxError.notInstalled(
            "crucible-zygote not found for \(executable): looked for \(candidates[0]) (build layout) and "
                + "\(candidates[1]) (install layout). Fix: \(fix); a library host may set SandboxConfiguration.zygoteExecutable")
    }

    /// The Sandbox folder: share/crucible/Sandbox beside bin/ (install layout), else Sandbox/ in
    /// the binary's folder or the nearest folder above it (a checkout's .build), then the same
    /// from the zygote's own folder when the host named one.
    static func sandbox(zygote: String) throws -> String {
        var candidates: [String] = []
        func add(from directory: URL) {
            candidates.append(directory.deletingLastPathComponent().appendingPathComponent("share/crucible/Sandbox").path)
            var folder = directory
            while true {
                candidates.append(folder.appendingPathComponent("Sandbox").path)
                if folder.path == "/" { break }
                folder = folder.deletingLastPathComponent()
            }
        }
        add(from: executableDirectory)
        let zygoteDirectory = URL(fileURLWithPath: zygote).resolvingSymlinksInPath().deletingLastPathComponent()
        if zygoteDirectory.path != executableDirectory.path { add(from: zygoteDirectory) }
        var seen = Set<String>()
        candidates = candidates.filter { seen.insert($0).inserted }
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0 + "/sandbox.policy") }) else {
            throw SandboxError.notInstalled(
                "the Sandbox folder (sandbox.policy and python/) was not found for \(executable): looked for "
                    + candidates.map { $0 + "/sandbox.policy" }.joined(separator: ", ")
                    + ". Fix: \(fix); a library host may set SandboxConfiguration.sandboxDirectory")
        }
        try requireRuntime(in: found)
        return found
    }

    /// A Sandbox folder without its Python runtime would only fail later, inside the zygote.
    static func requireRuntime(in sandbox: String) throws {
        let worker = sandbox + "/python/crucible_sandbox/worker.py"
        guard FileManager.default.fileExists(atPath: worker) else {
            throw SandboxError.notInstalled("\(sandbox) has sandbox.policy but not \(worker). Fix: \(fix)")
        }
    }

    /// A part that lives beside the Sandbox folder (Validators/, Corpus/kinds): `marker` is the
    /// file or folder that must exist inside it.
    package static func part(_ relative: String, marker: String, configuration: SandboxConfiguration) throws -> String {
        let sandbox = try configuration.resolvedPaths().sandbox
        let directory = URL(fileURLWithPath: sandbox).deletingLastPathComponent().appendingPathComponent(relative).path
        let expected = marker.isEmpty ? directory : directory + "/" + marker
        guard FileManager.default.fileExists(atPath: expected) else {
            throw SandboxError.notInstalled(
                "\(relative) not found: looked for \(expected) (beside the Sandbox folder \(sandbox)). Fix: \(fix)")
        }
        return directory
    }
}
