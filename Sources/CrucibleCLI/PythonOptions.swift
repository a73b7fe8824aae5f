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

        /// The validators run on the same interpreter (on 3.14 they parse natively), with the
        /// same packages (with tdom installed, tdom's own parser judges markup).
        var validatorSandbox: SandboxConfiguration {
            var configuration = SandboxConfiguration()
            configuration.interpreter = interpreter
            configuration.packages = packages
            return configuration
        }
    }

    /// The interpreter (installed first when it is not), then the packages for it (installed or
    /// found in the cache), with progress on stderr. A failure exits 1 (3 without the sandbox's
    /// parts) before anything runs.
    func prepare(project: ProjectConfiguration?) async throws -> Prepared {
        try Self.checkSettings(of: project)
        if let empty = (requirements + preload).first(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw ValidationError(requirements.contains(empty)
                ? "--with needs a requirement as pip reads it, such as attrs==25.1.0" : "--preload needs a module name, such as attrs")
        }
        do {
            return try await prepare(project: project, python: python ?? project?.settings["python"]?.stringValue)
        } catch let failure as ImageBuilder.Failure where failure.isUsage {
            // An interpreter Crucible does not know is the user's mistake, like a bad flag.
            FileHandle.standardError.write(Data("crucible: \(failure)\n".utf8))
            throw ExitCode(2)
        } catch {
            FileHandle.standardError.write(Data("crucible: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// `[tool.crucible]`'s `python` is a string and `packages` and `preload` lists of strings:
    /// a setting of another type (`python = 3.14`, a TOML number; `packages = "attrs"`) is
    /// refused rather than left out, which would run the code somewhere the user did not ask.
    static func checkSettings(of project: ProjectConfiguration?) throws {
        guard let settings = project?.settings else { return }
        if let python = settings["python"], python.stringValue == nil {
            throw ValidationError("[tool.crucible] python must be a string such as \"3.14\" (quoted: a TOML number is not a version)")
        }
        for key in ["packages", "preload"] {
            if let value = settings[key], value.arrayValue?.allSatisfy({ $0.stringValue != nil }) != true {
                throw ValidationError("[tool.crucible] \(key) must be a list of strings, such as [\"attrs==25.1.0\"]")
            }
        }
    }

    /// The same packages (and `extra` ones) and preloads for the interpreter `version` names
    /// (nil: the system's); failures are thrown as they are.
    func prepare(project: ProjectConfiguration?, python version: String?, extra: [String] = []) async throws -> Prepared {
        let wanted = strings("packages", project) + requirements + extra
        let modules = strings("preload", project) + preload
        let progress: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("crucible: \($0)\n".utf8)) }
        let sandbox = try SandboxConfiguration().resolvedPaths().sandbox
        let interpreter = try await PythonInterpreter.prepare(version, sandboxDirectory: sandbox, progress: progress)
        let environment = wanted.isEmpty ? nil : try await PackageEnvironment.prepare(wanted, for: interpreter, progress: progress)
        return Prepared(interpreter: interpreter, packages: environment, preload: modules)
    }

    private func strings(_ key: String, _ project: ProjectConfiguration?) -> [String] {
        project?.settings[key]?.arrayValue?.compactMap(\.stringValue) ?? []
    }
}

/// The sandboxes of other interpreters and packages that `crucible serve` sessions and
/// `crucible http` requests ask for (`{python: "3.14", packages: ["attrs==25.1.0"]}`): each
/// prepared with the server's packages and preloads plus the requested packages (the image
/// and the environment installed first when needed), started on the first request that asks,
/// then kept for the server's life, one per (python, packages), at most `maxStarted` of them.
final class InterpreterSandboxes: Sendable {
    /// Each one is a zygote and a pool of workers kept for the server's life: a client naming
    /// a new package set in every request would otherwise start them without end (a trial
    /// started 8 in 8 requests by spelling one requirement 8 ways).
    static let maxStarted = 8

    struct TooMany: Error, CustomStringConvertible {
        var description: String {
            "this server already runs \(InterpreterSandboxes.maxStarted) other interpreter and package environments, the most it starts; use one of those, or run another server"
        }
    }

    /// A requirement as the environment's key: no whitespace, and the project's name as PEP 503
    /// compares names (case and runs of -, _ and . do not matter): "Attrs == 25.1.0" and
    /// "attrs==25.1.0" are one environment.
    static func normalized(_ requirement: String) -> String {
        let compact = requirement.filter { !$0.isWhitespace }
        let nameEnd = compact.firstIndex { !($0.isLetter || $0.isNumber || "-_.".contains($0)) } ?? compact.endIndex
        var name = ""
        for character in compact[..<nameEnd].lowercased() {
            if "-_.".contains(character) {
                if name.last != "-" { name.append("-") }
            } else {
                name.append(character)
            }
        }
        return name + compact[nameEnd...]
    }

    private let options: PythonOptions
    private let project: ProjectConfiguration?
    private let make: @Sendable (PythonOptions.Prepared) throws -> Sandbox
    /// Held while one is prepared, so two sessions asking at once start one sandbox.
    private let started = Locked<[String: Sandbox]>([:])
    private let preparing = NSLock()

    init(options: PythonOptions, project: ProjectConfiguration?, make: @escaping @Sendable (PythonOptions.Prepared) throws -> Sandbox) {
        self.options = options
        self.project = project
        self.make = make
    }

    /// `version` nil: the server's own interpreter (--python, else the project's, else the system's).
    func sandbox(for version: String?, packages: [String] = []) throws -> Sandbox {
        let wanted = Array(Set(packages.map { $0.trimmingCharacters(in: .whitespaces) })).sorted()
        let key = ([version ?? ""] + Set(wanted.map(Self.normalized)).sorted()).joined(separator: "\n")
        // Those already started answer at once, even while another is being installed.
        if let existing = started.withLock({ $0[key] }) { return existing }
        preparing.lock()
        defer { preparing.unlock() }
        if let existing = started.withLock({ $0[key] }) { return existing }
        if started.withLock({ $0.count }) >= Self.maxStarted { throw TooMany() }
        let python = version ?? options.python ?? project?.settings["python"]?.stringValue
        // Called from a request's thread, never the cooperative pool: waiting here cannot starve it.
        final class Outcome: @unchecked Sendable { var result: Result<PythonOptions.Prepared, Error>? }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task.detached { [options, project] in
            do { outcome.result = .success(try await options.prepare(project: project, python: python, extra: wanted)) } catch {
                outcome.result = .failure(error)
            }
            done.signal()
        }
        done.wait()
        let sandbox = try make(try outcome.result!.get())
        started.withLock { $0[key] = sandbox }
        return sandbox
    }

    func shutdown() { started.withLock { $0.values.forEach { $0.shutdown() } } }
}
