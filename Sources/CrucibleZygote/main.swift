// crucible-zygote: the fork server behind every Crucible sandbox.
//
// Started by the host (never by hand) with an empty environment, /dev/null on fd 0,
// the host's log on fds 1 and 2 and the control socket on fd 3. It stays
// single-threaded: forking a multithreaded process leaves other threads' locks held.
import CPython
import CSandboxKernel
import CrucibleWire
import Foundation

let controlSocket: Int32 = 3

struct Arguments {
    var runtimeDirectory = ""
    var policyFile = ""
    /// Test-only: skip the zygote-wide layers (privilege drop, namespaces) so a control
    /// run can show an attack succeeding. The `crucible` CLI never passes it.
    var unconfinedForTesting = false
    /// Test-only: leave paths under a private parent folder unreachable, for the control run
    /// that shows why `PathExposure` exists. The `crucible` CLI never passes it.
    var noPathExposureForTesting = false
    /// Extra folders workers may read (Landlock), extra import path entries, modules to preload.
    var readablePaths: [String] = []
    var importPaths: [String] = []
    var preloadModules: [String] = []
    /// An interpreter image to enter first, and the zygote built for its Python (`ImageRoot`).
    var image: String?
    var imageZygote: String?
    /// Test-only: a host folder the image shows writable, so control runs can leave marks.
    var imageWritableForTesting: String?
    /// The arguments without --image and --image-zygote: what the image's zygote is given.
    var forImageZygote: [String] = []

    init(_ argv: [String]) {
        var rest = argv.dropFirst()
        while let flag = rest.popFirst() {
            if flag == "--image" || flag == "--image-zygote" || flag == "--image-writable-for-testing" {
                let value = rest.popFirst() ?? ""
                switch flag {
                case "--image": image = value
                case "--image-zygote": imageZygote = value
                default: imageWritableForTesting = value
                }
                continue
            }
            forImageZygote.append(flag)
            switch flag {
            case "--runtime": runtimeDirectory = value(&rest)
            case "--policy": policyFile = value(&rest)
            case "--unconfined-for-testing": unconfinedForTesting = true
            case "--no-path-exposure-for-testing": noPathExposureForTesting = true
            case "--read": readablePaths.append(value(&rest))
            case "--import-path": importPaths.append(value(&rest))
            case "--preload": preloadModules.append(value(&rest))
            default: fatal("unknown argument \(flag); this program is started by the Crucible host")
            }
        }
        if runtimeDirectory.isEmpty || policyFile.isEmpty { fatal("--runtime and --policy are required") }
        if (image == nil) != (imageZygote == nil) { fatal("--image and --image-zygote go together") }
    }

    private mutating func value(_ rest: inout ArraySlice<String>) -> String {
        let value = rest.popFirst() ?? ""
        forImageZygote.append(value)
        return value
    }
}

let arguments = Arguments(CommandLine.arguments)
if let image = arguments.image, let imageZygote = arguments.imageZygote {
    ImageRoot.enterAndExec(
        image: image, zygote: imageZygote,
        hostPaths: [arguments.runtimeDirectory, arguments.policyFile] + arguments.importPaths + arguments.readablePaths,
        writableForTesting: arguments.imageWritableForTesting,
        innerArguments: arguments.forImageZygote)
}
// At most two malloc arenas in every worker: glibc gives each new thread its own 64 MiB arena
// reservation, and RLIMIT_AS counts reservations, so a few threads would use up a worker's
// memory limit without touching a page of it.
_ = crucible_limit_malloc_arenas(2)
var isolation = ZygoteIsolation()
let policy: SandboxPolicy
let seccomp: SeccompProgram
do {
    policy = try SandboxPolicy(contentsOf: arguments.policyFile)
    seccomp = try SeccompProgram(policy: policy)
} catch {
    fatal("sandbox policy: \(error)")
}

// While still root, before CPython reads anything: re-root what workers may read so that
// nobody reaches it through private parent folders (the runtime itself included).
let pathExposure: PathExposure
if arguments.unconfinedForTesting {
    pathExposure = .skipped("unconfined for testing: the zygote keeps root")
} else if arguments.noPathExposureForTesting {
    pathExposure = .skipped("turned off for testing")
} else {
    pathExposure = PathExposure.apply(
        to: [arguments.runtimeDirectory] + arguments.importPaths + arguments.readablePaths)
}

let python: EmbeddedPython
let landlock: LandlockRuleset?
var landlockError: String?
do {
    python = try EmbeddedPython(runtimeDirectory: arguments.runtimeDirectory, importPaths: arguments.importPaths)
} catch {
    fatal("\(error)")
}
do {
    landlock = try LandlockRuleset.build(
        policy: policy, importPath: python.importPath, runtimeDirectory: arguments.runtimeDirectory,
        extraReadablePaths: arguments.readablePaths)
} catch {
    landlock = nil
    landlockError = "\(error)"
}

if !arguments.unconfinedForTesting {
    isolation.apply()
    if isolation.needsPIDNamespaceFork {
        // unshare(CLONE_NEWPID) applies to children: fork once so the zygote is pid 1 of
        // its namespace, and all workers die with it. This process only waits.
        PyOS_BeforeFork()
        let child = fork()
        if child > 0 {
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            _exit((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f))
        }
        if child < 0 { fatal("fork into the PID namespace: \(String(cString: strerror(errno)))") }
        PyOS_AfterFork_Child()
        // Die with the waiting parent (the pid the host knows), taking every worker along.
        // (getppid() is 0 for pid 1 of a namespace, so the usual race re-check cannot apply.)
        _ = crucible_set_pdeathsig(SIGKILL)
    }
}

// The user's preloads are package code: imported only now, as nobody, without the network,
// in this zygote's namespaces (never as root). A module that cannot be imported is the
// user's mistake, reported as such (the host exits 2), not a sandbox failure.
let preloadFailure = python.preload(
    arguments.preloadModules,
    temporaryDirectory: arguments.preloadModules.isEmpty
        ? nil : PreloadScratch.mount(inPrivateMountNamespace: isolation.namespaces.contains("mount")))
if let preloadFailure {
    let message = ControlMessage.preloadFailed(reason: preloadFailure).encode()
    _ = message.withUnsafeBytes { crucible_send_with_fds(controlSocket, $0.baseAddress, $0.count, nil, 0) }
    exit(2)
}
do {
    try python.freeze()
} catch {
    fatal("\(error)")
}

let factory = WorkerFactory(
    python: python, seccomp: seccomp, landlock: landlock, controlSocket: controlSocket,
    baseAddressSpace: WorkerFactory.currentAddressSpace(), maxThreads: policy.maxThreads)

var report: [String: Any] = [
    "python": python.version,
    "seccomp": ["rules": seccomp.ruleCount, "bpf_instructions": seccomp.instructions.count],
    "namespaces": isolation.namespaces,
    "privileges_dropped": isolation.privilegesDropped,
    "uid": Int(getuid()),
    "unconfined_for_testing": arguments.unconfinedForTesting,
    "base_address_space": factory.baseAddressSpace,
    "path_exposure": pathExposure.report,
]
if let maxThreads = policy.maxThreads {
    // The bound is per worker only where a worker can enter a user namespace of its own.
    report["threads"] = ["max": maxThreads, "per_worker": WorkerFactory.canEnterUserNamespace()]
}
if let landlock { report["landlock"] = ["abi": Int(landlock.abi), "readable_paths": landlock.readablePaths] }
if let landlockError { report["landlock_error"] = landlockError }
if let error = isolation.namespaceError { report["namespace_error"] = error }
let reportJSON = (try? JSONSerialization.data(withJSONObject: report))
    .map { String(decoding: $0, as: UTF8.self) } ?? "{}"
let ready = ControlMessage.ready(report: reportJSON).encode()
_ = ready.withUnsafeBytes { crucible_send_with_fds(controlSocket, $0.baseAddress, $0.count, nil, 0) }

ControlLoop(factory: factory, controlSocket: controlSocket).run()
