import Crucible
import CrucibleTesting
import Foundation
import Testing

/// Sandboxed code can write anything on its channel to the host (fd 3). These tests write
/// what the runtime never would, and check the host neither crashes nor believes it.
@Suite("Worker protocol: the host trusts what it observes, not what the worker claims")
struct WorkerProtocolTests {
    let sandbox = TestSandboxes.confined

    /// Python that writes one raw frame on the channel.
    static let frameWriter = """
        import os, struct, sys
        def frame(kind, payload=b""):
            os.write(3, struct.pack("<IB", len(payload) + 1, ord(kind)) + payload)
        def token():
            # The running job's token, from the runtime's frames: code can read it.
            f = sys._getframe()
            while f is not None:
                job = f.f_locals.get("job")
                if isinstance(job, dict) and "token" in job:
                    return job["token"]
                f = f.f_back
            raise LookupError("no job")

        """

    @Test("An 'output dropped' count near 2^64 is a protocol violation, not an overflow in the host")
    func droppedCountOverflow() {
        let code = Self.frameWriter + """
            frame("D", struct.pack("<BQ", ord("O"), 2**64 - 1))
            frame("D", struct.pack("<BQ", ord("O"), 2**64 - 1))
            """
        let result = sandbox.execute(code)
        guard case .protocolViolation(let detail) = result.outcome else {
            Issue.record("expected a protocol violation, got \(result.outcome)")
            return
        }
        #expect(detail.contains("output dropped"))
        #expect(sandbox.execute("'host alive'").json == .string("host alive"))
    }

    @Test("Dropped-byte counts that are each allowed saturate instead of overflowing")
    func droppedCountSaturates() {
        let code = Self.frameWriter + """
            for _ in range(9000):
                frame("D", struct.pack("<BQ", ord("E"), 2**40))
            'done'
            """
        let result = sandbox.execute(code)
        #expect(result.outcome == .ok)
        #expect(result.stderrTruncatedBytes == 1 << 53)
        #expect(result.stderr.contains("\(1 << 53) more bytes dropped"))
    }

    @Test("A seccomp report the worker did not die of is a protocol violation")
    func forgedSeccompReport() {
        for ending in ["os._exit(0)", "os.kill(os.getpid(), 9)", "'no death at all'"] {
            let code = Self.frameWriter + """
                frame("S", struct.pack("<II", 101, 0xC000003E))
                \(ending)
                """
            let result = sandbox.execute(code)
            guard case .protocolViolation = result.outcome else {
                Issue.record("\(ending): expected a protocol violation, got \(result.outcome)")
                continue
            }
        }
        // The real thing still names the call: the worker died of SIGSYS, as only seccomp kills.
        let real = sandbox.execute("import ctypes\nctypes.CDLL(None).syscall(101, 0, 0, 0)")
        #expect(real.outcome == .killedBySeccomp(syscall: "ptrace"))
    }

    @Test("Code cannot send itself SIGSYS to pass for a seccomp kill; without seccomp it could")
    func selfSIGSYS() {
        for attempt in ["os.kill(os.getpid(), signal.SIGSYS)", "signal.raise_signal(signal.SIGSYS)"] {
            let code = "import os, signal\n" + attempt
            let confined = sandbox.execute(code)
            #expect(confined.outcome == .exception, "\(attempt): \(confined.outcome)")
            #expect(confined.error?.type == "PermissionError")
            // Control: without the policy the signal lands, and a SIGSYS death reads as seccomp's.
            let control = TestSandboxes.unconfined.execute(code)
            #expect(control.outcome == .killedBySeccomp(syscall: "unreported syscall"), "\(attempt): \(control.outcome)")
        }
    }

    @Test("SIGXCPU or SIGKILL sent by the code is a crash, not the CPU limit")
    func forgedCPULimit() {
        let result = sandbox.execute("import os, signal\nos.kill(os.getpid(), signal.SIGXCPU)")
        #expect(result.outcome == .crashed(signal: SIGXCPU, reason: "killed by SIGXCPU"))
        var limits = ExecutionLimits()
        limits.cpuSeconds = 1
        limits.wallClock = .seconds(20)
        #expect(sandbox.execute("while True: pass", limits: limits).outcome == .cpuLimit)
    }

    @Test("A result frame must carry its job's token and well-formed JSON")
    func forgedResults() {
        let cases: [(String, String)] = [
            ("wrong token", #"frame("R", struct.pack("<Q", 12345) + b'{"status":"ok"}')"#),
            ("no token", #"frame("R", b'{}')"#),
            ("value JSON that does not parse",
             #"frame("R", struct.pack("<Q", token()) + b'{"status":"ok","value":{"json":"not json","type":"int"}}')"#),
            ("not an object", #"frame("R", struct.pack("<Q", token()) + b'[1, 2]')"#),
            ("unknown status", #"frame("R", struct.pack("<Q", token()) + b'{"status":"won"}')"#),
            ("reads of the wrong shape", #"frame("R", struct.pack("<Q", token()) + b'{"status":"ok","reads":[["x"]]}')"#),
        ]
        for (name, write) in cases {
            let result = sandbox.execute(Self.frameWriter + write + "\nimport time\ntime.sleep(5)")
            guard case .protocolViolation = result.outcome else {
                Issue.record("\(name): expected a protocol violation, got \(result.outcome)")
                continue
            }
        }
        // With the right token and a valid shape, a result is the code's own account of itself,
        // as any program's exit status is: it is believed (docs/worker-protocol.md says so).
        let own = sandbox.execute(
            Self.frameWriter + #"frame("R", struct.pack("<Q", token()) + b'{"status":"ok","value":{"json":"7","type":"int"}}')"#
                + "\nimport time\ntime.sleep(5)")
        #expect(own.outcome == .ok)
        #expect(own.json == .int(7))
    }

    @Test("Files in a forged result frame are checked: unsafe names, bad base64, too many bytes, duplicates",
          arguments: [
              (#"[{"name": "../escape", "base64": ""}]"#, "safe relative path"),
              (#"[{"name": "/etc/passwd", "base64": ""}]"#, "safe relative path"),
              (#"[{"name": "a\u0000b", "base64": ""}]"#, "safe relative path"),
              (#"[{"name": "x.png", "base64": "not base64!"}]"#, "not base64"),
              (#"[{"name": "x", "base64": ""}, {"name": "x", "base64": ""}]"#, "twice"),
              (#"[{"name": "big", "base64": "\#(String(repeating: "A", count: 12 << 20))"}]"#, "limit"),
          ])
    func forgedFiles(files: String, expected: String) {
        let frame = #"frame("R", struct.pack("<Q", token()) + b'{"status":"ok","files":"# + files + #"}')"#
        let result = sandbox.execute(Self.frameWriter + frame + "\nimport time\ntime.sleep(1)")
        guard case .protocolViolation(let detail) = result.outcome else {
            Issue.record("expected a protocol violation, got \(result.outcome)")
            return
        }
        #expect(detail.contains(expected), "\(detail)")
        #expect(result.files.isEmpty)
    }

    @Test("A file's type comes from its bytes, not its name")
    func fileTypesFromBytes() {
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0]
        #expect(OutputFile(name: "notes.txt", data: png).mediaType == "image/png")
        #expect(OutputFile(name: "figure.png", data: Array("just text".utf8)).mediaType == "text/plain")
        #expect(OutputFile(name: "plot", data: Array("<?xml version='1.0'?>\n<svg xmlns='x'></svg>".utf8)).mediaType == "image/svg+xml")
        #expect(OutputFile(name: "table.csv", data: [0xFF, 0xFE, 0x00, 0x81]).mediaType == "application/octet-stream")
        #expect(OutputFile(name: "data.json", data: Array("{}".utf8)).mediaType == "application/json")
    }

    @Test("A result left over from an earlier cell is not taken as the next cell's")
    func staleResultAcrossCells() throws {
        let session = try sandbox.openSession()
        defer { session.close() }
        // Cell 1 answers for itself early, then sleeps: the runtime's own answer comes later.
        // The worker is sequential, so that answer is on the channel before anything of cell 2,
        // whose job carries another token.
        let forged = #"frame("R", struct.pack("<Q", token()) + b'{"status":"ok","value":{"json":"\\"forged\\"","type":"str"}}')"#
        let first = try session.execute(Self.frameWriter + forged + "\nimport time\ntime.sleep(0.3)")
        if case .protocolViolation = first.outcome {
            // Both answers came in one read (a host slower than the sleep): caught in cell 1.
            #expect(session.closedBecause != nil)
            return
        }
        #expect(first.json == .string("forged"))
        let second = try session.execute("'cell two'")
        guard case .protocolViolation(let detail) = second.outcome else {
            Issue.record("expected a protocol violation, got \(second.outcome) \(second.value?.text ?? "")")
            return
        }
        #expect(detail.contains("another job"))
        #expect(session.closedBecause != nil)
    }

    @Test("Anything after the result frame in the same read is a protocol violation")
    func framesAfterResult() {
        let result = sandbox.execute(Self.frameWriter + """
            one = struct.pack("<Q", token()) + b'{"status":"ok","value":{"json":"1","type":"int"}}'
            os.write(3, struct.pack("<IB", len(one) + 1, ord("R")) + one + struct.pack("<IB", 2, ord("O")) + b"x")
            """)
        guard case .protocolViolation(let detail) = result.outcome else {
            Issue.record("expected a protocol violation, got \(result.outcome)")
            return
        }
        #expect(detail.contains("after the result"))
    }

    @Test("Frames out of order, or of a kind a worker never sends, are protocol violations")
    func framesOutOfOrder() {
        let cases: [(String, String)] = [
            ("a second warm frame", #"frame("W")"#),
            ("a job frame from the worker", #"frame("J", b"x")"#),
            ("a tool answer from the worker", #"frame("A", b"{}")"#),
            ("a confinement failure after start", #"frame("F", b"late")"#),
            ("output after a seccomp report", #"frame("S", struct.pack("<II", 101, 0xC000003E)); frame("O", b"x")"#),
            ("a malformed tool call", #"frame("C", b"not json")"#),
            ("a tool call without a name", #"frame("C", b'{"arguments": {}}')"#),
            ("a short seccomp report", #"frame("S", b"xy")"#),
            ("an empty frame", #"os.write(3, struct.pack("<I", 0))"#),
            ("an oversized frame", #"os.write(3, struct.pack("<I", 2**31))"#),
        ]
        for (name, write) in cases {
            let result = sandbox.execute(Self.frameWriter + write + "\nimport time\ntime.sleep(5)")
            guard case .protocolViolation = result.outcome else {
                Issue.record("\(name): expected a protocol violation, got \(result.outcome)")
                continue
            }
        }
    }

    @Test("Fuzz: random and mutated frames on the channel never crash or fool the host")
    func channelFuzz() throws {
        var limits = ExecutionLimits()
        limits.wallClock = .seconds(3)
        let sandbox = try TestSandboxes.isolated(poolSize: 2, limits: limits)
        defer { sandbox.shutdown() }
        // The worker makes its own random frames from a seed; each run is reproducible by seed.
        let fuzzer = Self.frameWriter + """
            import random
            rng = random.Random(seed)
            kinds = b"JOEDRSWCAFZ\\x00\\xff"
            def junk(n):
                return bytes(rng.getrandbits(8) for _ in range(n))
            for _ in range(rng.randint(1, 6)):
                choice = rng.random()
                if choice < 0.2:
                    os.write(3, junk(rng.randint(1, 64)))
                elif choice < 0.35:
                    os.write(3, struct.pack("<I", rng.choice([0, 1, 2**31, 2**32 - 1, rng.getrandbits(32)])) + junk(rng.randint(0, 16)))
                elif choice < 0.5:
                    frame(chr(rng.choice(kinds)), junk(rng.randint(0, 32)))
                elif choice < 0.6:
                    frame("D", struct.pack("<BQ", rng.choice(b"OEX"), rng.choice([0, 1, 2**40, 2**40 + 1, 2**63, 2**64 - 1])))
                elif choice < 0.7:
                    frame("S", struct.pack("<II", rng.getrandbits(32), rng.getrandbits(32)))
                elif choice < 0.85:
                    body = rng.choice([b'{"status":"ok"}', b'{"status":"error","error":{}}', b'{"status":"ok","value":{"json":"[1,","type":"list"}}', junk(12)])
                    frame("R", struct.pack("<Q", rng.choice([token(), 0, rng.getrandbits(64)])) + body)
                else:
                    frame("C", rng.choice([b'{"name":"x","arguments":{}}', b'{"name":1}', junk(20)]))
            """
        var outcomes: [String: Int] = [:]
        var violations = 0
        for seed in 0..<300 {
            let result = sandbox.execute(fuzzer, inputs: ["seed": .int(seed)])
            outcomes[result.outcome.name, default: 0] += 1
            switch result.outcome {
            case .protocolViolation: violations += 1
            case .ok, .exception, .timeout, .killedBySeccomp, .crashed: break
            default: Issue.record("seed \(seed): unexpected outcome \(result.outcome)")
            }
            // A seccomp kill is believed only when the worker really died of SIGSYS, which
            // this fuzzer's code cannot cause (it makes no forbidden call).
            if case .killedBySeccomp = result.outcome { Issue.record("seed \(seed): a forged seccomp kill was believed") }
        }
        #expect(violations >= 150, "outcomes: \(outcomes)")
        #expect(sandbox.execute("'still serving'").json == .string("still serving"))
    }
}
