import Foundation

/// Third-party packages for sandboxed code (`--with REQ`, `[tool.crucible] packages`):
/// resolved and installed on the host by pip, for the interpreter the sandbox embeds, into a
/// folder keyed by (interpreter, requirements) and kept for the next run. Workers see the
/// folder on `sys.path` and can only read it (Landlock and the seccomp write ban); pip never
/// runs in the sandbox, and sandboxed code never reaches the package index.
public struct PackageEnvironment: Codable, Sendable, Equatable {
    public var interpreter: String
    public var requirements: [String]
    /// Every distribution installed, requirements and their dependencies: name -> version.
    public var resolved: [String: String]
    public var site: String

    enum CodingKeys: String, CodingKey { case interpreter, requirements, resolved, site }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    static let recordName = "crucible-environment.json"

    /// The interpreter packages are installed for: the one the zygote embeds (Debian's python3).
    public static let systemInterpreter = "/usr/bin/python3"

    public static var storeDirectory: String {
        URL(fileURLWithPath: InterpreterStore.directory).deletingLastPathComponent().path + "/environments"
    }

    /// The environment for `requirements` on `interpreter`, installed first when no run has
    /// made it yet. Installation failures (no such package, no wheel, a conflict) throw before
    /// anything runs.
    public static func prepare(
        _ requirements: [String], for interpreter: PythonInterpreter, progress: @escaping @Sendable (String) -> Void
    ) async throws -> PackageEnvironment {
        let wanted = Array(Set(requirements.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })).sorted()
        if let bad = wanted.first(where: { $0.hasPrefix("-") }) {
            throw Failure(description: "\(bad.debugDescription) is not a requirement (a name with an optional version, e.g. attrs==25.1.0)")
        }
        let version = interpreter.fullVersion
        let folder = storeDirectory + "/" + cacheKey(["v1", version, interpreter.image?.recipeDigest ?? "system"] + wanted)
        if let data = FileManager.default.contents(atPath: folder + "/" + recordName),
            let existing = try? JSONDecoder().decode(PackageEnvironment.self, from: data) {
            return existing
        }
        try FileManager.default.createDirectory(atPath: storeDirectory, withIntermediateDirectories: true)
        let building = storeDirectory + "/.building-\(getpid())-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: building) }
        progress("packages: installing \(wanted.joined(separator: " ")) for Python \(version) (pip, wheels only)")
        let quiet = ["--disable-pip-version-check", "--no-input", "--quiet"]
        let asRoot = ["--root-user-action=ignore"]  // `install` only
        func failed(_ run: HostProgram.Run) -> Failure {
            Failure(description: "installing \(wanted.joined(separator: " ")) for Python \(version) failed (pip exit \(run.status)):\n\(run.tail)\n"
                + "Nothing ran. Check the names and versions; only packages with wheels for Python \(version) can be used.")
        }
        if let image = interpreter.image {
            // pip runs on the host (the image has none, and no route to the index): wheels for
            // the image's Python and glibc are resolved by `download`, which honours
            // Requires-Python for the target version, then unpacked as they are by `install`
            // (which would check Requires-Python against the host's Python, hence the flag).
            let target = targetFlags(image)
            let download = try await HostProgram.run(
                systemInterpreter, ["-m", "pip", "download", "-d", building + "/wheels"] + target + quiet + ["--"] + wanted,
                progress: nil, environment: ["PIP_NO_COLOR": "1"])
            guard download.status == 0 else { throw failed(download) }
            let wheels = ((try? FileManager.default.contentsOfDirectory(atPath: building + "/wheels")) ?? [])
                .filter { $0.hasSuffix(".whl") }.sorted().map { building + "/wheels/" + $0 }
            let install = try await HostProgram.run(
                systemInterpreter,
                ["-m", "pip", "install", "--target", building + "/site", "--no-deps", "--no-index", "--ignore-requires-python", "--no-compile"]
                    + target + quiet + asRoot + wheels,
                progress: nil, environment: ["PIP_NO_COLOR": "1"])
            guard install.status == 0 else { throw failed(install) }
            try? FileManager.default.removeItem(atPath: building + "/wheels")
        } else {
            let pip = try await HostProgram.run(
                systemInterpreter,
                ["-m", "pip", "install", "--target", building + "/site", "--only-binary=:all:", "--no-compile"] + quiet + asRoot + ["--"] + wanted,
                progress: nil, environment: ["PIP_NO_COLOR": "1"])
            guard pip.status == 0 else { throw failed(pip) }
        }
        // Byte-compiled now, with the interpreter that will import them, as the files' final
        // paths: workers cannot write .pyc files into a read-only folder, and would compile
        // every module on every import.
        try await compile(building + "/site", as: folder + "/site", with: interpreter)
        var environment = PackageEnvironment(interpreter: version, requirements: wanted, resolved: [:], site: folder + "/site")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: building + "/site")) ?? [] where name.hasSuffix(".dist-info") {
            let stem = name.dropLast(".dist-info".count)
            if let dash = stem.lastIndex(of: "-") {
                environment.resolved[String(stem[..<dash])] = String(stem[stem.index(after: dash)...])
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(environment).write(to: URL(fileURLWithPath: building + "/" + recordName))
        // Into place whole; another process may have made the same environment meanwhile.
        if (try? FileManager.default.moveItem(atPath: building, toPath: folder)) == nil,
            let data = FileManager.default.contents(atPath: folder + "/" + recordName),
            let theirs = try? JSONDecoder().decode(PackageEnvironment.self, from: data) {
            return theirs
        }
        progress("packages: " + environment.resolved.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        return environment
    }

    /// pip's flags for wheels an image's CPython can load: its version and ABI, and every
    /// manylinux level up to the image's glibc (pip does not widen a given --platform).
    static func targetFlags(_ image: InterpreterImage) -> [String] {
        let abi = "cp" + image.version.replacingOccurrences(of: ".", with: "")
        let glibcMinor = image.packages["libc6"].flatMap { version in
            version.split(separator: "-").first?.split(separator: ".").dropFirst().first.flatMap { Int($0) }
        } ?? 17
        let platforms = ["manylinux2014_x86_64", "linux_x86_64"] + (5...max(17, glibcMinor)).map { "manylinux_2_\($0)_x86_64" }
        return ["--python-version", image.version, "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none",
                "--only-binary=:all:"] + platforms.flatMap { ["--platform", $0] }
    }

    /// compileall with the environment's interpreter; for an image, run inside it with the
    /// folder mounted at /mnt (a private mount namespace: nothing in the image changes).
    private static func compile(_ site: String, as finalSite: String, with interpreter: PythonInterpreter) async throws {
        // Its exit status is not checked: packages may ship files for other Pythons (compileall
        // reports and skips them), and whatever did not compile is compiled in memory on import.
        if let image = interpreter.image {
            _ = try await HostProgram.run(
                "/usr/bin/unshare",
                ["--mount", "--propagation", "private", "/bin/sh", "-c",
                 "mount --bind \"$1\" \"$2/mnt\" && exec chroot \"$2\" /usr/bin/python$3 -m compileall -q -s /mnt -p \"$4\" /mnt",
                 "sh", site, image.root, image.version, finalSite],
                progress: nil)
        } else {
            _ = try await HostProgram.run(systemInterpreter, ["-m", "compileall", "-q", "-s", site, "-p", finalSite, site], progress: nil)
        }
    }

    /// "3.11.2", asked of the interpreter itself.
    static func interpreterVersion() async throws -> String {
        let asked = try await HostProgram.run(systemInterpreter, ["-c", "import sys; print(sys.version.split()[0])"], progress: nil)
        let version = asked.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard asked.status == 0, !version.isEmpty else {
            throw Failure(description: "\(systemInterpreter) did not say its version (exit \(asked.status)): \(asked.tail)")
        }
        return version
    }

}
