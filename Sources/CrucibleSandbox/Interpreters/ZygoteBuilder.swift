import CrucibleWire
import Foundation

/// Builds the zygote for an image's interpreter. The Python C API differs between versions,
/// so the zygote that embeds an image's Python is the same Swift program compiled against that
/// image's headers and linked with its libpython (the shared library: Debian's static one
/// lacks objects). The Swift runtime is linked statically, so the binary needs nothing from
/// the host once it runs inside the image. It is built from Crucible's own sources with the
/// host's compilers, once per (image, sources), and cached beside the images:
/// `<store>/zygotes/<version>-<key>/crucible-zygote`.
public struct ZygoteBuilder: Sendable {
    /// The source folders the zygote is made of (Sources/<name>).
    static let parts = ["CrucibleZygote", "CrucibleWire", "CSandboxKernel", "CCellCompiler", "CPython", "CSeccomp"]

    let progress: @Sendable (String) -> Void

    public init(progress: @escaping @Sendable (String) -> Void) { self.progress = progress }

    /// The zygote for `image`, built first when this image and these sources have none yet.
    public func zygote(for image: InterpreterImage, sources: String) async throws -> String {
        let files = try Self.sourceFiles(in: sources)
        var digestParts = ["v1", image.recipeDigest, image.pythonVersion, image.builtAt]
        for file in files {
            digestParts.append(file)
            digestParts.append((try? String(contentsOfFile: file, encoding: .utf8)) ?? "")
        }
        let folder = InterpreterStore.directory + "/zygotes/\(image.version)-" + cacheKey(digestParts)
        let zygote = folder + "/crucible-zygote"
        if FileManager.default.isExecutableFile(atPath: zygote) { return zygote }
        // One build at a time per version: a second process waits for the first's zygote.
        try FileManager.default.createDirectory(atPath: InterpreterStore.directory + "/zygotes", withIntermediateDirectories: true)
        return try await FileLock.whileHolding(InterpreterStore.directory + "/zygotes/.build-\(image.version).lock") {
            if FileManager.default.isExecutableFile(atPath: zygote) { return zygote }
            return try await build(image: image, sources: sources, files: files, folder: folder, zygote: zygote)
        }
    }

    private func build(image: InterpreterImage, sources: String, files: [String], folder: String, zygote: String) async throws -> String {

        let swiftc = try Self.tool("swiftc"), clang = try Self.tool("clang")
        let building = InterpreterStore.directory + "/zygotes/.building-\(getpid())-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: building, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: building) }
        progress("python: building the zygote for Python \(image.pythonVersion) from \(sources) (swiftc; once per image and source change, about a minute)")
        let root = image.root
        let pythonHeaders = ["-I\(root)/usr/include/python\(image.version)", "-idirafter\(root)/usr/include"]
        // SwiftPM writes module maps for C targets with an include folder; here they are written by hand.
        for module in ["CSandboxKernel", "CCellCompiler"] {
            let map = "module \(module) {\n    header \"\(sources)/\(module)/include/\(module).h\"\n    export *\n}\n"
            try map.write(toFile: "\(building)/\(module).modulemap", atomically: true, encoding: .utf8)
        }
        let cFiles = [
            ("CSandboxKernel/kernel.c", "kernel.o", ["-I\(sources)/CSandboxKernel/include"]),
            ("CSandboxKernel/image_root.c", "image_root.o", ["-I\(sources)/CSandboxKernel/include"]),
            ("CCellCompiler/cell_compiler.c", "cells.o", ["-I\(sources)/CCellCompiler/include"] + pythonHeaders),
            ("CCellCompiler/immortal_heap.c", "immortal_heap.o", ["-I\(sources)/CCellCompiler/include"] + pythonHeaders),
        ]
        for (source, object, flags) in cFiles {
            try await step("compiling \(source)", clang, ["-O2", "-c", "\(sources)/\(source)"] + flags + ["-o", "\(building)/\(object)"])
        }
        let wire = files.filter { $0.hasPrefix("\(sources)/CrucibleWire/") && $0.hasSuffix(".swift") }
        try await step(
            "compiling CrucibleWire", swiftc,
            ["-O", "-package-name", "crucible", "-parse-as-library", "-wmo", "-module-name", "CrucibleWire", "-emit-module",
             "-emit-module-path", "\(building)/CrucibleWire.swiftmodule", "-c"] + wire + ["-o", "\(building)/CrucibleWire.o"])
        let zygoteSources = files.filter { $0.hasPrefix("\(sources)/CrucibleZygote/") && $0.hasSuffix(".swift") }
        let moduleMaps = ["\(sources)/CPython/module.modulemap", "\(sources)/CSeccomp/module.modulemap",
                          "\(building)/CSandboxKernel.modulemap", "\(building)/CCellCompiler.modulemap"]
        try await step(
            "compiling and linking the zygote", swiftc,
            ["-O", "-package-name", "crucible", "-static-stdlib", "-module-name", "CrucibleZygote", "-I", building]
                + moduleMaps.flatMap { ["-Xcc", "-fmodule-map-file=\($0)"] } + pythonHeaders.flatMap { ["-Xcc", $0] }
                + zygoteSources + ["CrucibleWire.o", "kernel.o", "image_root.o", "cells.o", "immortal_heap.o"].map { "\(building)/\($0)" }
                + ["-L\(root)/usr/lib/x86_64-linux-gnu", "-lpython\(image.version)", "-lseccomp", "-o", "\(building)/crucible-zygote"])
        // Into place whole; another process may have built the same one meanwhile.
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if (try? FileManager.default.moveItem(atPath: "\(building)/crucible-zygote", toPath: zygote)) == nil,
            !FileManager.default.isExecutableFile(atPath: zygote) {
            throw ImageBuilder.Failure(step: "placing the zygote in \(folder)", detail: "the move failed", remedy: "free the folder and try again")
        }
        progress("python: zygote ready: \(zygote)")
        Self.prune(version: image.version, keeping: folder)
        return zygote
    }

    /// Each source change builds another zygote (about 70 MB): keep the newest few per version,
    /// which other checkouts of other commits may still use, and remove the rest.
    static func prune(version: String, keeping current: String, newest: Int = 4) {
        let directory = InterpreterStore.directory + "/zygotes"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix(version + "-") }
        func modified(_ name: String) -> Date {
            ((try? FileManager.default.attributesOfItem(atPath: directory + "/" + name))?[.modificationDate] as? Date) ?? .distantPast
        }
        let old = names.map { directory + "/" + $0 }.filter { $0 != current }
            .sorted { modified(URL(fileURLWithPath: $0).lastPathComponent) > modified(URL(fileURLWithPath: $1).lastPathComponent) }
        for folder in old.dropFirst(newest - 1) { try? FileManager.default.removeItem(atPath: folder) }
    }

    private func step(_ name: String, _ program: String, _ arguments: [String]) async throws {
        let run = try await HostProgram.run(program, arguments, progress: nil)
        guard run.status == 0 else {
            let errors = run.output.split(separator: "\n").filter { $0.contains("error") }.prefix(8).joined(separator: "\n")
            throw ImageBuilder.Failure(
                step: "building the zygote for the image (\(name))", detail: "exit \(run.status): \(errors.isEmpty ? run.tail : errors)",
                remedy: "the Swift toolchain that built crucible must be on PATH; run `crucible python install VERSION --force` after fixing it")
        }
    }

    /// Every file of the zygote's parts, sorted, as absolute paths.
    static func sourceFiles(in sources: String) throws -> [String] {
        var files: [String] = []
        for part in parts {
            let folder = sources + "/" + part
            guard let walker = FileManager.default.enumerator(atPath: folder) else {
                throw ImageBuilder.Failure(
                    step: "finding the zygote's sources", detail: "\(folder) does not exist",
                    remedy: "an interpreter image's zygote is built from Crucible's sources: use the crucible of a checkout, or an install made by scripts/install (share/crucible/Sources)")
            }
            while let name = walker.nextObject() as? String {
                if [".swift", ".c", ".h", ".modulemap"].contains(where: name.hasSuffix) { files.append(folder + "/" + name) }
            }
        }
        return files.sorted()
    }

    /// A compiler from PATH, or the folder of the running toolchain's swift.
    static func tool(_ name: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") + ["/opt/swift/usr/bin", "/usr/bin"] {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw ImageBuilder.Failure(
            step: "finding \(name)", detail: "no \(name) on PATH",
            remedy: "put the Swift toolchain's usr/bin on PATH (the zygote for an interpreter image is compiled here)")
    }
}
