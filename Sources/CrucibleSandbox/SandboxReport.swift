import Foundation

/// What the zygote could enforce on this machine, as `crucible doctor` shows it.
public struct SandboxReport: Sendable {
    public var pythonVersion: String
    public var seccompRules: Int
    public var seccompInstructions: Int
    /// The Landlock ABI in force, or nil when the kernel has none.
    public var landlockABI: Int?
    public var landlockError: String?
    public var landlockReadablePaths: [String]
    public var namespaces: [String]
    public var namespaceError: String?
    public var privilegesDropped: Bool
    /// The policy's bound on threads per worker (nil: none), and whether it is each worker's
    /// own (a user namespace per worker) or, where that is impossible, threads are refused.
    public var maxThreads: Int?
    public var threadsPerWorker: Bool
    /// Whether paths workers read had to be exposed through private (0700) parent folders,
    /// which nobody cannot walk: "not needed", "exposed", "skipped" (with `pathExposureReason`)
    /// or "failed" (`unreachablePaths` then lists what workers cannot reach).
    public var pathExposureStatus: String
    public var pathExposureReason: String?
    public var exposedPaths: [String]
    /// The private folders covered by a read-only skeleton in the zygote's mount namespace.
    public var privateParents: [String]
    public var unreachablePaths: [String]
    /// The raw JSON, for `--json`.
    public var json: String

    init(json: String) {
        self.json = json
        let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]) ?? [:]
        pythonVersion = object["python"] as? String ?? "?"
        let seccomp = object["seccomp"] as? [String: Any] ?? [:]
        seccompRules = seccomp["rules"] as? Int ?? 0
        seccompInstructions = seccomp["bpf_instructions"] as? Int ?? 0
        let landlock = object["landlock"] as? [String: Any]
        landlockABI = landlock?["abi"] as? Int
        landlockReadablePaths = landlock?["readable_paths"] as? [String] ?? []
        landlockError = object["landlock_error"] as? String
        namespaces = object["namespaces"] as? [String] ?? []
        namespaceError = object["namespace_error"] as? String
        privilegesDropped = object["privileges_dropped"] as? Bool ?? false
        let threads = object["threads"] as? [String: Any]
        maxThreads = threads?["max"] as? Int
        threadsPerWorker = threads?["per_worker"] as? Bool ?? false
        let exposure = object["path_exposure"] as? [String: Any] ?? [:]
        pathExposureStatus = exposure["status"] as? String ?? "?"
        pathExposureReason = exposure["reason"] as? String
        exposedPaths = exposure["exposed"] as? [String] ?? []
        privateParents = exposure["skeletons"] as? [String] ?? []
        unreachablePaths = exposure["unreachable"] as? [String] ?? []
    }
}
