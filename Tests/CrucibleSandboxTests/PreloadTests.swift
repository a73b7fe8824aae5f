import Crucible
import CrucibleTesting
import CrucibleWire
import Foundation
import Testing

/// `preload` imports a package's modules in the zygote: package code from an index, which the
/// zygote must run with no more than a worker's uid and network, never as root.
// Serialized: the first test to reach `TestSandboxes.interpreter` (3.14) blocks a thread of
// Swift's cooperative pool while it prepares the image; parallel tests waiting on that first
// use would hold the pool's other thread, and on two cores the preparation could never run.
@Suite("Preloads: package code imported in the zygote runs without root or network", .serialized)
struct PreloadTests {
    /// A module that, when imported, records who it runs as and what it can reach.
    private static func probe(port: UInt16) -> String {
        """
        import os, socket, tempfile
        seen = {"uid": os.getuid()}
        try:
            seen["secret"] = open(os.path.join(os.path.dirname(__file__), "root-only.txt")).read()
        except OSError as error:
            seen["secret"] = type(error).__name__
        try:
            socket.create_connection(("127.0.0.1", \(port)), timeout=2).close()
            seen["network"] = "connected"
        except OSError as error:
            seen["network"] = type(error).__name__
        try:
            seen["scratch"] = tempfile.mkdtemp(prefix="crucible-preload-probe-")
        except OSError as error:
            seen["scratch"] = type(error).__name__
        """
    }

    private static func sandbox(importing folder: String, preload: [String], unconfined: Bool = false) throws -> Sandbox {
        var configuration = TestSandboxes.configuration()
        configuration.poolSize = 1
        configuration.importPaths = [folder]
        configuration.preloadModules = preload
        if unconfined {
            configuration.disabledLayersForTesting = .all
            configuration.unconfinedZygoteForTesting = true
        }
        return try Sandbox(configuration: configuration)
    }

    @Test("A preloaded module runs as nobody, off the network, and cannot read root's files; with the zygote left as root it can (control)",
          .enabled(if: getuid() == 0 && MachineLayers.namespaces, "needs root and network namespaces: the attack is a preload that runs as root"))
    func preloadRunsConfined() throws {
        let scratch = Scratch()
        let listener = LoopbackListener()
        scratch.write("crucible_preload_probe.py", Self.probe(port: listener.port), mode: 0o644)
        scratch.write("root-only.txt", "the host's secret", mode: 0o600)
        // What the probe recorded at import, and whether a worker inherited TMPDIR.
        func look(unconfined: Bool) throws -> (probe: [String: JSONValue], tmpdir: JSONValue)? {
            let sandbox = try Self.sandbox(importing: scratch.path, preload: ["crucible_preload_probe"], unconfined: unconfined)
            defer { sandbox.shutdown() }
            let seen = sandbox.execute("import crucible_preload_probe as probe, os\n[probe.seen, os.environ.get('TMPDIR')]")
            guard case .array(let parts)? = seen.json, case .object(let probe)? = parts.first, let tmpdir = parts.last else {
                Issue.record("no probe (unconfined: \(unconfined)): \(seen.outcome) \(seen.error?.traceback ?? "")")
                return nil
            }
            return (probe, tmpdir)
        }

        guard let (probe, tmpdir) = try look(unconfined: false) else { return }
        #expect(probe["uid"] == .int(65534))
        #expect(probe["secret"] == .string("PermissionError"))
        #expect(probe["network"] != .string("connected"))
        #expect(listener.count == 0)
        // Its import wrote to a private scratch tmpfs, not to the machine's /tmp, and workers
        // do not inherit the scratch as TMPDIR.
        let scratchFolder = probe["scratch"]?.stringValue ?? ""
        #expect(scratchFolder.hasPrefix("/dev/shm/crucible-preload-probe-"), "\(scratchFolder)")
        #expect(!FileManager.default.fileExists(atPath: scratchFolder))
        #expect(tmpdir == .null)

        // Control: the same preload in a zygote that keeps root reads the secret and connects.
        guard let (control, _) = try look(unconfined: true) else { return }
        #expect(control["uid"] == .int(0))
        #expect(control["secret"] == .string("the host's secret"))
        #expect(control["network"] == .string("connected"))
        #expect(listener.sawHit())
        if let path = control["scratch"]?.stringValue { try? FileManager.default.removeItem(atPath: path) }
    }

    @Test("A module that cannot be preloaded is an error that names it and its exception")
    func preloadFailureIsNamed() throws {
        let scratch = Scratch()
        scratch.write("crucible_broken_preload.py", "raise RuntimeError('this package is broken')\n", mode: 0o644)
        for (module, expected) in [
            ("crucible_no_such_module", "crucible_no_such_module: ModuleNotFoundError: No module named 'crucible_no_such_module'"),
            ("crucible_broken_preload", "crucible_broken_preload: RuntimeError: this package is broken"),
        ] {
            do {
                let sandbox = try Self.sandbox(importing: scratch.path, preload: [module])
                sandbox.shutdown()
                Issue.record("\(module) was preloaded")
            } catch let error as SandboxError {
                #expect(error == .preloadFailed(expected))
                #expect(error.description == "cannot preload \(expected)")
            }
        }
    }

    @Test("A folder on the import path cannot shadow the standard library, and its own modules import")
    func importPathsComeAfterTheStandardLibrary() throws {
        let scratch = Scratch()
        scratch.write("shlex.py", "SHADOWED = True\n", mode: 0o644)  // not preloaded by the runtime
        scratch.write("textwrap.py", "SHADOWED = True\n", mode: 0o644)  // preloaded by the runtime
        scratch.write("crucible_own_module.py", "OWN = True\n", mode: 0o644)
        let sandbox = try Self.sandbox(importing: scratch.path, preload: [])
        defer { sandbox.shutdown() }
        let result = sandbox.execute("import shlex, textwrap, crucible_own_module\n[hasattr(shlex, 'SHADOWED'), hasattr(textwrap, 'SHADOWED'), crucible_own_module.OWN]")
        #expect(result.json == .array([.bool(false), .bool(false), .bool(true)]), "\(result.outcome) \(result.error?.traceback ?? "")")
    }
}
