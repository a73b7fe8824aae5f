import CrucibleWire
import Foundation

/// Builds an interpreter image (`crucible python install VERSION`): checks, installs
/// mmdebstrap when missing, builds the root in a folder beside its final place, records what
/// it holds, and moves it into place whole, so a build that fails or is killed leaves the
/// previous image (or none) and never half of one. Each step that fails says which it was
/// and what to run.
public struct ImageBuilder: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var step: String
        public var detail: String
        public var remedy: String
        /// The user asked for something that does not exist (an unknown version), as opposed
        /// to a build that failed: commands exit 2 for it, as for a bad flag.
        public var isUsage = false
        public var description: String { "\(step) failed: \(detail)\n\(remedy)" }
    }

    public enum Outcome: Sendable, Equatable {
        case built(InterpreterImage)
        case alreadyInstalled(InterpreterImage)
    }

    let progress: @Sendable (String) -> Void

    public init(progress: @escaping @Sendable (String) -> Void) { self.progress = progress }

    public func install(_ version: String, force: Bool = false) async throws -> Outcome {
        // Checked before the lock: no lock file is left in the store for a version that does not exist.
        guard InterpreterRecipe.known[version] != nil else {
            throw Failure(step: "choosing the interpreter", detail: "no recipe for Python \(version)",
                          remedy: "known versions: \(InterpreterRecipe.known.keys.sorted().joined(separator: ", ")) (the system's 3.11 needs no install)",
                          isUsage: true)
        }
        do {
            // Processes provisioning the same version at once (a first use in parallel) take
            // turns: the second finds the first's image instead of moving it aside mid-use.
            try? FileManager.default.createDirectory(atPath: InterpreterStore.directory, withIntermediateDirectories: true)
            return try await FileLock.whileHolding(InterpreterStore.directory + "/.install-\(version).lock") {
                try await build(version, force: force)
            }
        } catch let cannot as HostProgram.CannotStart {
            throw Failure(step: "starting \(cannot.executable)", detail: cannot.reason, remedy: "install it, or run the install where it exists")
        }
    }

    private func build(_ version: String, force: Bool) async throws -> Outcome {
        guard let recipe = InterpreterRecipe.known[version] else {
            throw Failure(step: "choosing the interpreter", detail: "no recipe for Python \(version)",
                          remedy: "known versions: \(InterpreterRecipe.known.keys.sorted().joined(separator: ", ")) (the system's 3.11 needs no install)")
        }
        let root = InterpreterStore.root(of: version)
        if !force, let existing = InterpreterStore.installed().first(where: { $0.version == version }), existing.isCurrent {
            return .alreadyInstalled(existing)
        }
        guard geteuid() == 0 else {
            throw Failure(step: "checking privileges", detail: "building a Debian root with mmdebstrap needs root here",
                          remedy: "run `sudo crucible python install \(version)`")
        }
        let mmdebstrap = try await ensureMmdebstrap()
        let store = InterpreterStore.directory
        do {
            try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        } catch {
            throw Failure(step: "creating \(store)", detail: "\(error)", remedy: "make it writable, or set XDG_CACHE_HOME to a writable folder")
        }
        // Builds killed mid-way left their folders (and maybe mmdebstrap's mounts): cleared
        // now, under this version's lock, mounts first (`BuildFolder`).
        let stale = BuildFolder.removeStale(version: version, in: store)
        for path in stale.removed { progress("python: removed \(path), left by a build that was stopped") }
        for path in stale.kept { progress("python: could not remove \(path): something stays mounted beneath it") }
        let building = BuildFolder.path(store: store, version: version, pid: getpid())
        BuildFolder.remove(building)
        defer { BuildFolder.remove(building) }
        progress("python: building Python \(version) from Debian \(recipe.suite) (\(recipe.mirror)) into \(root)")
        let started = ContinuousClock.now
        let build = try await HostProgram.run(mmdebstrap, recipe.mmdebstrapArguments(into: building), progress: progress)
        guard build.status == 0 else {
            throw Failure(step: "building the image (mmdebstrap)", detail: "exit \(build.status): \(build.tail)",
                          remedy: "check that \(recipe.mirror) is reachable (set CRUCIBLE_DEBIAN_MIRROR for another mirror), then run `crucible python install \(version)` again")
        }
        progress("python: image built in \(started.duration(to: .now).formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))")
        let image = try await record(recipe, in: building, finalRoot: root)
        // Into place whole: the old image (an older recipe) goes aside first, then away.
        let old = store + "/.old-\(version)-\(getpid())"
        if FileManager.default.fileExists(atPath: root) { try? FileManager.default.moveItem(atPath: root, toPath: old) }
        do {
            try FileManager.default.moveItem(atPath: building, toPath: root)
        } catch {
            throw Failure(step: "moving the image into \(root)", detail: "\(error)", remedy: "free the folder and run the install again")
        }
        try? FileManager.default.removeItem(atPath: old)
        return .built(image)
    }

    /// What the image holds, asked of the image itself (its interpreter and dpkg, in a chroot).
    private func record(_ recipe: InterpreterRecipe, in building: String, finalRoot: String) async throws -> InterpreterImage {
        let python = "/usr/bin/python\(recipe.version)"
        let asked = try await HostProgram.run("/usr/sbin/chroot", [building, python, "-c", "import sys; print(sys.version.split()[0])"], progress: nil)
        guard asked.status == 0, case let version = asked.output.trimmingCharacters(in: .whitespacesAndNewlines),
            version.hasPrefix(recipe.version + ".")
        else {
            throw Failure(step: "checking the image's interpreter", detail: "\(python) in the new root answered exit \(asked.status): \(asked.tail)",
                          remedy: "run `crucible python install \(recipe.version) --force` to build it again")
        }
        let names = recipe.packages + ["libc6"]
        let query = try await HostProgram.run("/usr/sbin/chroot", [building, "dpkg-query", "-W", "-f", "${Package} ${Version}\\n"] + names, progress: nil)
        var packages: [String: String] = [:]
        for line in query.output.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { packages[String(parts[0])] = String(parts[1]) }
        }
        let image = InterpreterImage(
            version: recipe.version, pythonVersion: version, root: finalRoot, recipeDigest: recipe.digest, suite: recipe.suite,
            packages: packages, builtAt: Timestamp.iso8601(), sizeBytes: Self.size(of: building))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try encoder.encode(image).write(to: URL(fileURLWithPath: building + "/" + InterpreterImage.recordName))
        } catch {
            throw Failure(step: "recording the image", detail: "\(error)", remedy: "check the disk, then run the install again")
        }
        return image
    }

    /// mmdebstrap's path, installed with apt-get when missing.
    private func ensureMmdebstrap() async throws -> String {
        for candidate in ["/usr/bin/mmdebstrap", "/usr/local/bin/mmdebstrap"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        progress("python: installing mmdebstrap (apt-get install mmdebstrap)")
        let environment = ["DEBIAN_FRONTEND": "noninteractive"]
        var installed = try await HostProgram.run("/usr/bin/apt-get", ["install", "-y", "-qq", "mmdebstrap"], progress: nil, environment: environment)
        if installed.status != 0 {
            // A fresh machine may have no package lists yet.
            progress("python: apt-get update, then installing mmdebstrap again")
            _ = try await HostProgram.run("/usr/bin/apt-get", ["update", "-qq"], progress: nil, environment: environment)
            installed = try await HostProgram.run("/usr/bin/apt-get", ["install", "-y", "-qq", "mmdebstrap"], progress: nil, environment: environment)
        }
        guard installed.status == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/mmdebstrap") else {
            throw Failure(step: "installing mmdebstrap", detail: "apt-get exit \(installed.status): \(installed.tail)",
                          remedy: "run `apt-get update && apt-get install mmdebstrap`, then the install again")
        }
        return "/usr/bin/mmdebstrap"
    }

    private static func size(of directory: String) -> Int64 {
        var total: Int64 = 0
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return 0 }
        while let name = walker.nextObject() as? String {
            if let attributes = try? FileManager.default.attributesOfItem(atPath: directory + "/" + name),
                attributes[.type] as? FileAttributeType == .typeRegular {
                total += (attributes[.size] as? Int64) ?? 0
            }
        }
        return total
    }
}
