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

    /// The environment for `requirements`, installed first when no run has made it yet.
    /// Installation failures (no such package, no wheel, a conflict) throw before anything runs.
    public static func prepare(
        _ requirements: [String], progress: @escaping @Sendable (String) -> Void
    ) async throws -> PackageEnvironment {
        let wanted = Array(Set(requirements.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })).sorted()
        if let bad = wanted.first(where: { $0.hasPrefix("-") }) {
            throw Failure(description: "\(bad.debugDescription) is not a requirement (a name with an optional version, e.g. attrs==25.1.0)")
        }
        let version = try await interpreterVersion()
        let folder = storeDirectory + "/" + cacheKey(["v1", version] + wanted)
        if let data = FileManager.default.contents(atPath: folder + "/" + recordName),
            let existing = try? JSONDecoder().decode(PackageEnvironment.self, from: data) {
            return existing
        }
        try FileManager.default.createDirectory(atPath: storeDirectory, withIntermediateDirectories: true)
        let building = storeDirectory + "/.building-\(getpid())-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: building) }
        progress("packages: installing \(wanted.joined(separator: " ")) for Python \(version) (pip, wheels only)")
        let pip = try await HostProgram.run(
            systemInterpreter,
            ["-m", "pip", "install", "--target", building + "/site", "--only-binary=:all:", "--disable-pip-version-check",
             "--no-input", "--quiet", "--root-user-action=ignore", "--"] + wanted,
            progress: nil, environment: ["PIP_NO_COLOR": "1"])
        guard pip.status == 0 else {
            throw Failure(description: "installing \(wanted.joined(separator: " ")) for Python \(version) failed (pip exit \(pip.status)):\n\(pip.tail)\n"
                + "Nothing ran. Check the names and versions; only packages with wheels for Python \(version) can be used.")
        }
        // Byte-compiled now, with the interpreter that will import them: workers cannot write
        // .pyc files into a read-only folder, and would compile every module on every import.
        _ = try await HostProgram.run(systemInterpreter, ["-m", "compileall", "-q", building + "/site"], progress: nil)
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

    /// "3.11.2", asked of the interpreter itself.
    private static func interpreterVersion() async throws -> String {
        let asked = try await HostProgram.run(systemInterpreter, ["-c", "import sys; print(sys.version.split()[0])"], progress: nil)
        let version = asked.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard asked.status == 0, !version.isEmpty else {
            throw Failure(description: "\(systemInterpreter) did not say its version (exit \(asked.status)): \(asked.tail)")
        }
        return version
    }

}
