import Foundation

/// How an interpreter image is built: a Debian root made by mmdebstrap from binary packages.
/// It holds the interpreter, its headers and shared library (the zygote for it is compiled
/// against them, `ZygoteBuilder`), and the libraries that zygote loads (libseccomp, libstdc++).
/// Only bookworm's 3.11 is in this machine's release; newer interpreters come from a newer
/// suite, whose libraries need its own glibc, so the interpreter runs inside its own root
/// rather than beside the host's libraries. The recipe's digest names the build: an image
/// whose recorded digest differs from the recipe's is rebuilt by `crucible python install`.
public struct InterpreterRecipe: Sendable, Equatable {
    public var version: String
    public var suite: String
    public var packages: [String]
    public var mirror: String

    /// The versions `crucible python install` knows. sid serves python3.14 today; a suite
    /// moves, which is why each image records what it was built with.
    public static let known: [String: InterpreterRecipe] = [
        "3.14": InterpreterRecipe(version: "3.14", suite: "sid", packages: ["python3.14", "libpython3.14-dev", "libseccomp2", "libstdc++6"]),
        "3.13": InterpreterRecipe(version: "3.13", suite: "trixie", packages: ["python3.13", "libpython3.13-dev", "libseccomp2", "libstdc++6"]),
    ]

    public init(version: String, suite: String, packages: [String], mirror: String? = nil) {
        self.version = version
        self.suite = suite
        self.packages = packages
        self.mirror = mirror ?? Self.defaultMirror
    }

    /// The mirror this machine's apt uses, unless `CRUCIBLE_DEBIAN_MIRROR` names another.
    public static var defaultMirror: String {
        if let given = ProcessInfo.processInfo.environment["CRUCIBLE_DEBIAN_MIRROR"], !given.isEmpty { return given }
        return "http://deb.debian.org/debian"
    }

    /// mmdebstrap's arguments: the `essential` variant (dpkg runs the packages' scripts, so
    /// the standard library is byte-compiled), no manuals, docs or locales, and sid's Release
    /// file accepted past its Valid-Until date.
    public func mmdebstrapArguments(into directory: String) -> [String] {
        [
            "--variant=essential", "--aptopt=Acquire::Check-Valid-Until \"false\"",
            "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*", "--include=" + packages.joined(separator: ","),
            suite, directory, mirror,
        ]
    }

    /// FNV-1a of the recipe's text: a cache key that changes when the recipe does (not a
    /// security boundary; the image is built here, from signed Debian packages).
    public var digest: String {
        cacheKey(["v1", version, suite, mirror] + packages + mmdebstrapArguments(into: "ROOT"))
    }
}

/// FNV-1a of the parts, one per line, in hex: the name of a cached image or environment.
func cacheKey(_ parts: [String]) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in parts.joined(separator: "\n").utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return String(hash, radix: 16)
}

/// An image on disk, as `crucible-image.json` in its root records it.
public struct InterpreterImage: Codable, Sendable, Equatable {
    public var version: String
    public var pythonVersion: String
    public var root: String
    public var recipeDigest: String
    public var suite: String
    public var packages: [String: String]
    public var builtAt: String
    public var sizeBytes: Int64

    enum CodingKeys: String, CodingKey {
        case version, pythonVersion = "python_version", root, recipeDigest = "recipe_digest", suite, packages
        case builtAt = "built_at", sizeBytes = "size_bytes"
    }

    /// Whether the image was built from the recipe this build of crucible would use.
    public var isCurrent: Bool { InterpreterRecipe.known[version]?.digest == recipeDigest }

    /// The interpreter inside the image, as a path on the host.
    public var interpreterPath: String { root + "/usr/bin/python" + version }

    static let recordName = "crucible-image.json"
}

/// Where images live: `${XDG_CACHE_HOME:-~/.cache}/crucible/python/<version>`, outside any
/// checkout and shared by all of them.
public enum InterpreterStore {
    public static var directory: String {
        let environment = ProcessInfo.processInfo.environment
        let cache = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()) + "/.cache")
        return cache + "/crucible/python"
    }

    public static func root(of version: String) -> String { directory + "/" + version }

    /// The images installed, by version; a folder without a readable record is not listed.
    public static func installed() -> [InterpreterImage] {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return versions.sorted().compactMap { version in
            guard !version.hasPrefix("."), let data = FileManager.default.contents(atPath: root(of: version) + "/" + InterpreterImage.recordName)
            else { return nil }
            return try? JSONDecoder().decode(InterpreterImage.self, from: data)
        }
    }
}
