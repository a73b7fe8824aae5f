import CrucibleWire
import Foundation

/// Limits for one execution. Kernel limits (memory, CPU) are applied when the worker is
/// forked; the wall clock and output caps are enforced by the host reading the channel.
public struct ExecutionLimits: Equatable, Hashable, Sendable {
    /// Wall-clock time before the host kills the worker.
    public var wallClock: Duration = .seconds(10)
    /// Memory the code may map beyond the interpreter it inherits.
    public var memoryBytes: Int = 256 << 20
    /// CPU seconds (RLIMIT_CPU); nil means the wall clock rounded up plus one second, so a
    /// busy loop meets the wall clock first and the CPU limit only backs it up.
    public var cpuSeconds: Int? = nil
    /// Captured stdout kept; beyond it bytes are dropped and counted, and a marker is appended.
    public var stdoutBytes: Int = 1 << 20
    public var stderrBytes: Int = 1 << 20
    /// Largest value text (JSON or repr) the worker sends back.
    public var valueBytes: Int = 1 << 20
    /// RLIMIT_NOFILE.
    public var openFiles: Int = 64
    /// Bytes the files the code writes under /output may hold in all (they come back with
    /// the result); a write past it raises OSError (EFBIG) in the code.
    public var outputFileBytes: Int = WorkerJob.defaultFilesLimit

    public init() {}

    public init(
        wallClock: Duration = .seconds(10), memoryBytes: Int = 256 << 20, cpuSeconds: Int? = nil,
        stdoutBytes: Int = 1 << 20, stderrBytes: Int = 1 << 20, valueBytes: Int = 1 << 20, openFiles: Int = 64
    ) {
        self.wallClock = wallClock
        self.memoryBytes = memoryBytes
        self.cpuSeconds = cpuSeconds
        self.stdoutBytes = stdoutBytes
        self.stderrBytes = stderrBytes
        self.valueBytes = valueBytes
        self.openFiles = openFiles
    }

    var effectiveCPUSeconds: Int {
        cpuSeconds ?? max(1, Int(wallClock.components.seconds) + (wallClock.components.attoseconds > 0 ? 1 : 0)) + 1
    }

    /// The part of the limits a worker is forked with (workers in the pool share them).
    var workerLimits: WorkerLimits {
        WorkerLimits(
            memoryBytes: UInt64(max(memoryBytes, 1 << 20)), cpuSeconds: UInt64(effectiveCPUSeconds),
            fileSizeBytes: 1 << 20, openFiles: UInt64(max(openFiles, 8)))
    }
}

/// How a `Sandbox` is built. The defaults are the safest configuration.
public struct SandboxConfiguration: Sendable {
    /// Limits used when an execution names none; the warm pool is forked with these.
    public var defaultLimits = ExecutionLimits()
    /// Confined workers kept forked and waiting. 0 forks on demand (slower, less memory).
    public var poolSize = 4
    /// Fresh executions running at once (each holds a worker process); more wait their turn.
    public var maxRunningExecutions = 32
    /// Executions that may wait for a turn; one more is answered at once with outcome `busy`.
    public var maxQueuedExecutions = 1024
    /// The `crucible-zygote` executable; nil finds it beside the running executable.
    public var zygoteExecutable: String?
    /// The folder holding `sandbox.policy` and `python/`; nil finds `Sandbox/` above the zygote.
    public var sandboxDirectory: String?
    /// Where the zygote writes its diagnostics (a file descriptor the host owns).
    public var logDescriptor: Int32 = 2
    /// Extra folders workers may read (never write). Empty by default: code sees only Python.
    public var readablePaths: [String] = []
    /// Extra `sys.path` entries (readable too), for modules such as pytest installed apart.
    public var importPaths: [String] = []
    /// The Python workers run: nil for the system's, which the default zygote embeds; an
    /// installed image's (`PythonInterpreter.prepare`) runs its own zygote inside the image.
    public var interpreter: PythonInterpreter?
    /// Third-party packages workers may import (read-only, on `sys.path` after `importPaths`).
    public var packages: PackageEnvironment?
    /// Modules the zygote imports before forking, so each worker starts with them loaded.
    public var preloadModules: [String] = []

    /// Test-only: confinement layers workers skip, for control runs that show an attack
    /// succeeding without them. `package` access: not reachable by library users or the CLI.
    package var disabledLayersForTesting: ConfinementLayers = []
    /// Test-only: no privilege drop or namespaces in the zygote.
    package var unconfinedZygoteForTesting = false
    /// Test-only: the zygote leaves paths under a private (0700) parent folder unreachable
    /// for its unprivileged workers, as it did before it exposed them.
    package var skipPathExposureForTesting = false
    /// Test-only: a host folder an interpreter image shows writable at its own path (the
    /// attack suites' scratch folder, which control runs must be able to write to).
    package var imageWritableFolderForTesting: String?

    public init() {}

    var workerLayers: ConfinementLayers { ConfinementLayers.all.subtracting(disabledLayersForTesting) }

    /// Resolves the zygote executable and the Sandbox folder, or says what is missing and
    /// where it was looked for (`InstallLayout`: a checkout's build or an install prefix).
    package func resolvedPaths() throws -> (zygote: String, sandbox: String) {
        let zygote: String
        if let zygoteExecutable {
            guard FileManager.default.isExecutableFile(atPath: zygoteExecutable) else {
                throw SandboxError.notInstalled(
                    "SandboxConfiguration.zygoteExecutable is \(zygoteExecutable), which is not an executable file")
            }
            zygote = zygoteExecutable
        } else {
            zygote = try InstallLayout.zygote()
        }
        if let sandboxDirectory {
            guard FileManager.default.fileExists(atPath: sandboxDirectory + "/sandbox.policy") else {
                throw SandboxError.notInstalled(
                    "SandboxConfiguration.sandboxDirectory is \(sandboxDirectory), which has no sandbox.policy")
            }
            return (zygote, sandboxDirectory)
        }
        return (zygote, try InstallLayout.sandbox(zygote: zygote))
    }
}

/// Errors thrown by the sandbox API (outcomes of code are `ExecutionOutcome`, not errors).
public enum SandboxError: Error, Equatable, CustomStringConvertible {
    /// The zygote or the Sandbox folder is missing.
    case notInstalled(String)
    /// The zygote could not be started or died during start-up.
    case zygoteFailed(String)
    /// A module the configuration asks to preload cannot be imported (the module and the
    /// exception): the user's setting, not the machine, is at fault.
    case preloadFailed(String)
    /// A session was used after it closed; the reason says why it closed.
    case sessionClosed(String)
    /// An input name is not a Python identifier, or an input is not valid JSON.
    case invalidInput(String)

    public var description: String {
        switch self {
        case .notInstalled(let detail): return "Crucible is not installed correctly: \(detail)"
        case .zygoteFailed(let detail): return "the sandbox zygote failed: \(detail)"
        case .preloadFailed(let detail): return "cannot preload \(detail)"
        case .sessionClosed(let reason): return "the session is closed (\(reason)); call restart() for a fresh one"
        case .invalidInput(let detail): return "invalid input: \(detail)"
        }
    }
}

extension CommandLine {
    /// The running executable's real path (/proc/self/exe), for finding what was built beside it.
    static var executablePathForLookup: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? arguments[0]
    }
}
