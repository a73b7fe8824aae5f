import ArgumentParser
import Crucible
import Foundation

struct PythonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "python",
        abstract: "Install and list Python interpreters for the sandbox.",
        discussion: """
            The system's Python (Debian's 3.11) is embedded in the sandbox and needs nothing. Other \
            versions are images built from Debian packages with mmdebstrap, cached in \
            ${XDG_CACHE_HOME:-~/.cache}/crucible/python/ and shared by every checkout, each with a \
            zygote compiled for its Python. Choose one with --python VERSION on run, validate, \
            generate, serve and mcp, or `python = "3.14"` under [tool.crucible] in pyproject.toml; \
            first use installs it. Workers on an image get the same confinement, with the image as \
            their read-only root.
            """,
        subcommands: [PythonInstallCommand.self, PythonListCommand.self])
}

struct PythonInstallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Build the image of a Python version (progress on stderr).",
        discussion: """
            Needs root and network access to a Debian mirror (CRUCIBLE_DEBIAN_MIRROR, default \
            http://deb.debian.org/debian); installs mmdebstrap with apt-get when it is missing. Then \
            compiles the zygote for the image's Python from Crucible's sources (the Swift toolchain \
            must be on PATH). An image already built from the current recipe is kept unless --force \
            is given. Exits 0 when the image and its zygote are in place, 1 when a step failed (the \
            message names it and what to run), 2 on a usage error.
            """)

    @Argument(help: "The version, e.g. 3.14.")
    var version: String

    @Flag(help: "Build again even when an image from the current recipe exists.")
    var force = false

    @Flag(help: "Print the installed image as JSON on stdout.")
    var json = false

    func validate() throws {
        guard InterpreterRecipe.known[version] != nil else {
            throw ValidationError("no recipe for Python \(version); known: \(InterpreterRecipe.known.keys.sorted().joined(separator: ", ")) (the system's 3.11 needs no install)")
        }
    }

    func run() async throws {
        let builder = ImageBuilder(progress: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
        let outcome: ImageBuilder.Outcome
        do {
            outcome = try await builder.install(version, force: force)
        } catch let failure as ImageBuilder.Failure {
            FileHandle.standardError.write(Data("crucible: python install \(version): \(failure)\n".utf8))
            throw ExitCode(1)
        }
        let image: InterpreterImage
        switch outcome {
        case .built(let built): image = built
        case .alreadyInstalled(let existing):
            image = existing
            FileHandle.standardError.write(Data("python: Python \(existing.pythonVersion) is already installed in \(existing.root) (--force builds it again)\n".utf8))
        }
        let zygote: String
        do {
            let sources = URL(fileURLWithPath: try SandboxConfiguration().resolvedPaths().sandbox).deletingLastPathComponent()
                .appendingPathComponent("Sources").path
            zygote = try await ZygoteBuilder(progress: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
                .zygote(for: image, sources: sources)
        } catch {
            FileHandle.standardError.write(Data("crucible: python install \(version): \(error)\n".utf8))
            throw ExitCode(1)
        }
        if json {
            var value = try JSONValueEncoder().encode(image)
            if case .object(var fields) = value {
                fields["zygote"] = .string(zygote)
                value = .object(fields)
            }
            print(value.jsonText)
        } else {
            print("Python \(image.pythonVersion) in \(image.root) (\(image.sizeBytes / 1_000_000) MB, Debian \(image.suite)); zygote \(zygote)")
        }
    }
}

struct PythonListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the interpreters: the system's, and the images installed.",
        discussion: "Exits 0.")

    @Flag(help: "Print the list as JSON on stdout.")
    var json = false

    func run() async throws {
        let images = InterpreterStore.installed()
        if json {
            let listed = try images.map { image -> JSONValue in
                var value = try JSONValueEncoder().encode(image)
                if case .object(var fields) = value {
                    fields["current"] = .bool(image.isCurrent)
                    fields["runs_sandboxed_code"] = .bool(image.isCurrent)
                    value = .object(fields)
                }
                return value
            }
            print(JSONValue.object(["store": .string(InterpreterStore.directory), "images": .array(listed)]).jsonText)
            return
        }
        print("system  Python 3 of this machine, embedded in crucible-zygote (the default)")
        for image in images {
            print("\(image.version.padding(toLength: 6, withPad: " ", startingAt: 0))  Python \(image.pythonVersion) in \(image.root), "
                + "Debian \(image.suite), \(image.sizeBytes / 1_000_000) MB, built \(image.builtAt)"
                + (image.isCurrent ? "" : " (its recipe changed: `crucible python install \(image.version)` rebuilds it)"))
        }
        if images.isEmpty { print("(no images in \(InterpreterStore.directory); `crucible python install 3.14` builds one)") }
    }
}
