import Crucible
import CrucibleTesting
import Foundation
import Testing

/// One attack: code a hostile model might write, what the sandbox must answer, and (for
/// attacks with an observable effect) how a control run without the layers shows it working.
struct Attack: Sendable, CustomTestStringConvertible {
    enum Blocked: Sendable {
        case exception(String)  // this Python exception type, raised by a refused call
        case seccomp(String)  // killed by seccomp, naming this syscall
        case outcome(ExecutionOutcome)
        case value(JSONValue)  // the code ran and saw exactly this (an errno, an empty list)
    }
    enum Control: Sendable {
        case createsFile(String)  // the marker appears in the scratch folder
        case removesFile(String)
        case tcpConnection, udpDatagram
        case value(@Sendable (JSONValue?) -> Bool)  // what the unconfined run returns
        case runsToEnd
    }

    var family: String
    var name: String
    var code: String
    var blocked: Blocked
    var control: Control? = nil
    var wallClock: Duration? = nil
    /// Where an interpreter image's worker sees something else: the image is its root, so a
    /// host file such as /etc/shadow is not there at all (and a control cannot reach it either).
    var onImage: Blocked? = nil
    /// The target is a host file that an image does not contain: no control run on an image.
    var hostFile = false

    /// What this run must see, on the suites' interpreter.
    var expected: Blocked { TestSandboxes.interpreter?.image != nil ? (onImage ?? blocked) : blocked }
    var controlApplies: Bool { control != nil && !(hostFile && TestSandboxes.interpreter?.image != nil) }

    var testDescription: String { "\(family): \(name)" }
}

private let libc = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
private func raw(_ number: Int, _ args: String = "0, 0, 0, 0") -> String {
    libc + "libc.syscall(\(number), \(args))"
}
/// Opens a socket with `open`, then uses it with `then`; the value is the syscall that failed
/// and its errno (`["socket", 1]`), or null when everything went through.
private func network(_ open: String, then use: String) -> String {
    let indented = use.split(separator: "\n").map { "        " + $0 }.joined(separator: "\n")
    return """
        import socket
        try:
            \(open)
        except OSError as e:
            failed = ["socket", e.errno]
        else:
            try:
        \(indented)
                failed = None
            except OSError as e:
                failed = ["use", e.errno]
        failed
        """
}
private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

let attacks: [Attack] = [
    // Process creation
    Attack(family: "process", name: "os.system", code: "import os\nos.system('touch {dir}/marker')",
           blocked: .outcome(.ok), control: .createsFile("marker")),
    Attack(family: "process", name: "subprocess.run", code: "import subprocess\nsubprocess.run(['touch', '{dir}/marker'])",
           blocked: .exception("PermissionError"), control: .createsFile("marker")),
    Attack(family: "process", name: "os.fork",
           code: "import os\npid = os.fork()\nif pid == 0:\n    open('{dir}/marker', 'w').close()\n    os._exit(0)\nos.waitpid(pid, 0)",
           blocked: .exception("PermissionError"), control: .createsFile("marker")),
    Attack(family: "process", name: "fork bomb", code: "import os\nwhile True:\n    os.fork()",
           blocked: .exception("PermissionError")),
    Attack(family: "process", name: "a thread writes a file",
           code: "import threading\nt = threading.Thread(target=lambda: open('{dir}/marker', 'w').close())\nt.start(); t.join()",
           blocked: .outcome(.ok), control: .createsFile("marker")),
    // Threads are admitted by their exact clone flags (CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|
    // SETTLS|PARENT_SETTID|CHILD_CLEARTID = 0x3d0f00); one more flag or one less is refused
    // before the kernel acts on it. No control: unconfined, these would run on a shared stack.
    Attack(family: "process", name: "a thread in a new network namespace (thread flags | CLONE_NEWNET)",
           code: libc + "[libc.syscall(56, 0x3d0f00 | 0x40000000, 0, 0, 0, 0), ctypes.get_errno()]",
           blocked: .value(.array([.int(-1), .int(1)]))),
    Attack(family: "process", name: "a process sharing memory (thread flags without CLONE_THREAD)",
           code: libc + "[libc.syscall(56, 0x3d0f00 & ~0x10000, 0, 0, 0, 0), ctypes.get_errno()]",
           blocked: .value(.array([.int(-1), .int(1)]))),
    Attack(family: "process", name: "clone3 (flags BPF cannot read)",
           code: libc + "[libc.syscall(435, 0, 0), ctypes.get_errno()]",
           blocked: .value(.array([.int(-1), .int(38)]))),
    Attack(family: "process", name: "a thread bomb",
           code: "import threading\ngo = threading.Event()\nn = 0\ntry:\n    while n < 300:\n        threading.Thread(target=go.wait).start()\n        n += 1\nexcept RuntimeError:\n    pass\ngo.set()\nn < 300",
           blocked: .value(.bool(true)), control: .value({ $0 == .bool(false) })),
    Attack(family: "process", name: "execv", code: "import os\nos.execv('/bin/sh', ['sh', '-c', 'touch {dir}/marker'])",
           blocked: .exception("PermissionError"), control: .createsFile("marker")),
    Attack(family: "process", name: "posix_spawn",
           code: "import os\nos.waitpid(os.posix_spawn('/usr/bin/touch', ['touch', '{dir}/marker'], {}), 0)",
           blocked: .exception("PermissionError"), control: .createsFile("marker")),
    Attack(family: "process", name: "raw clone via ctypes",
           code: libc + "r = libc.syscall(56, 17, 0, 0, 0, 0)\nif r == 0:\n    open('{dir}/marker', 'w').close()\n    os._exit(0)\n[r, ctypes.get_errno()]",
           blocked: .value(.array([.int(-1), .int(1)])), control: .createsFile("marker")),
    Attack(family: "process", name: "clone3 via ctypes", code: libc + "[libc.syscall(435, 0, 0), ctypes.get_errno()]",
           blocked: .value(.array([.int(-1), .int(38)]))),
    Attack(family: "process", name: "forkpty", code: "import os\nos.forkpty()",
           blocked: .exception("PermissionError")),

    // Network
    // Blocked: the code sees which syscall failed and its errno (EPERM from the seccomp filter),
    // so the test needs no wait for a connection that does not come.
    Attack(family: "network", name: "TCP connect to loopback",
           code: network("s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)", then: "s.settimeout(2)\ns.connect(('127.0.0.1', {port}))"),
           blocked: .value(["socket", 1]), control: .tcpConnection),
    Attack(family: "network", name: "UDP datagram to loopback",
           code: network("s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)", then: "s.sendto(b'leak', ('127.0.0.1', {udp}))"),
           blocked: .value(["socket", 1]), control: .udpDatagram),
    Attack(family: "network", name: "listen on a TCP port",
           code: "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\ns.getsockname()[1]",
           blocked: .exception("PermissionError"), control: .value { if case .int(let port)? = $0 { port > 0 } else { false } }),
    Attack(family: "network", name: "abstract unix socket",
           code: "import socket\ns = socket.socket(socket.AF_UNIX)\ns.bind('\\0crucible-attack')\n'bound'",
           blocked: .exception("PermissionError"), control: .value { $0 == .string("bound") }),
    Attack(family: "network", name: "AF_INET socketpair",
           code: "import socket\nsocket.socketpair(socket.AF_INET)", blocked: .exception("PermissionError")),
    Attack(family: "network", name: "netlink socket",
           code: "import socket\nsocket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)\n'created'",
           blocked: .exception("PermissionError"), control: .value { $0 == .string("created") }),
    Attack(family: "network", name: "raw packet socket",
           code: "import socket\nsocket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n'created'",
           blocked: .exception("PermissionError"), control: .value { $0 == .string("created") }),

    // Filesystem
    Attack(family: "filesystem", name: "read /etc/shadow", code: "open('/etc/shadow').read()",
           blocked: .exception("PermissionError"),
           control: .value { if case .string(let text)? = $0 { text.hasPrefix("root:") } else { false } },
           onImage: .exception("FileNotFoundError"), hostFile: true),
    Attack(family: "filesystem", name: "read a 0600 secret", code: "open('{dir}/secret').read()",
           blocked: .exception("PermissionError"), control: .value { $0 == .string("hunter2") }),
    // Landlock refuses it (PermissionError); in a checkout under a private (0700) folder the
    // zygote shows workers only the paths they may read, so it is not even there (FileNotFoundError).
    Attack(family: "filesystem", name: "read the host's source tree",
           code: "try:\n    text = open('\(repository)/Package.swift').read()[:10]\nexcept (PermissionError, FileNotFoundError):\n    text = 'refused'\ntext",
           blocked: .value(.string("refused")), control: .value { $0 == .string("// swift-t") }, hostFile: true),
    Attack(family: "filesystem", name: "write outside", code: "open('{dir}/marker', 'w').write('x')",
           blocked: .exception("PermissionError"), control: .createsFile("marker")),
    Attack(family: "filesystem", name: "append to an existing file", code: "open('{dir}/victim', 'a').write('x')",
           blocked: .exception("PermissionError"), control: .value { $0 == .int(1) }),
    Attack(family: "filesystem", name: "delete a file", code: "import os\nos.unlink('{dir}/victim')",
           blocked: .exception("PermissionError"), control: .removesFile("victim")),
    Attack(family: "filesystem", name: "make a directory", code: "import os\nos.mkdir('{dir}/marker')",
           blocked: .exception("PermissionError"), control: .createsFile("marker")),
    Attack(family: "filesystem", name: "symlink to a secret", code: "import os\nos.symlink('/etc/shadow', '{dir}/marker')",
           blocked: .exception("PermissionError"), control: .createsFile("marker")),
    Attack(family: "filesystem", name: "list /", code: "import os\nsorted(os.listdir('/'))",
           blocked: .exception("PermissionError"),
           control: .value { if case .array(let names)? = $0 { names.contains(.string("etc")) } else { false } }),
    Attack(family: "filesystem", name: "/proc/self/mem", code: "open('/proc/self/mem', 'rb')\n'opened'",
           blocked: .exception("PermissionError"), control: .value { $0 == .string("opened") }),
    Attack(family: "filesystem", name: "/proc/<zygote>/mem read-write",
           code: "import os\nopen(f'/proc/{os.getppid()}/mem', 'r+b')\n'opened'",
           blocked: .exception("PermissionError"), control: .value { $0 == .string("opened") }),
    Attack(family: "filesystem", name: "/proc/self/environ", code: "open('/proc/self/environ', 'rb').read()\n'read'",
           blocked: .exception("PermissionError"), control: .value { $0 == .string("read") }),
    Attack(family: "filesystem", name: "a block device", code: "import os, glob\nopen('/dev/vda', 'rb').read(512)",
           blocked: .exception("PermissionError"), onImage: .exception("FileNotFoundError"), hostFile: true),

    // Signals
    Attack(family: "signals", name: "signal the zygote", code: "import os\nos.kill(os.getppid(), 0)",
           blocked: .exception("PermissionError"), control: .runsToEnd),
    Attack(family: "signals", name: "signal every process (-1)", code: "import os\nos.kill(-1, 0)",
           blocked: .exception("PermissionError"), control: .runsToEnd),
    Attack(family: "signals", name: "kill the process group", code: "import os, signal\nos.killpg(0, signal.SIGKILL)",
           blocked: .exception("PermissionError")),
    Attack(family: "signals", name: "replace the SIGSYS reporter",
           code: "import signal\nsignal.signal(signal.SIGSYS, signal.SIG_IGN)", blocked: .seccomp("rt_sigaction")),
    Attack(family: "signals", name: "signal itself (allowed)", code: "import os, signal\nos.kill(os.getpid(), 0)\n'alive'",
           blocked: .value(.string("alive"))),

    // Raw syscalls through ctypes: refused by the kernel, and the worker is killed.
    Attack(family: "ctypes", name: "ptrace", code: raw(101), blocked: .seccomp("ptrace"),
           control: .value { $0 == .int(0) }),
    Attack(family: "ctypes", name: "io_uring_setup", code: raw(425, "1, 0"), blocked: .seccomp("io_uring_setup")),
    Attack(family: "ctypes", name: "userfaultfd", code: raw(323, "0"), blocked: .seccomp("userfaultfd")),
    Attack(family: "ctypes", name: "keyctl", code: raw(250), blocked: .seccomp("keyctl")),
    Attack(family: "ctypes", name: "add_key", code: raw(248), blocked: .seccomp("add_key")),
    Attack(family: "ctypes", name: "bpf", code: raw(321), blocked: .seccomp("bpf")),
    Attack(family: "ctypes", name: "unshare", code: raw(272, "0x10000000"), blocked: .seccomp("unshare")),
    Attack(family: "ctypes", name: "setns", code: raw(308), blocked: .seccomp("setns")),
    Attack(family: "ctypes", name: "mount", code: raw(165), blocked: .seccomp("mount")),
    Attack(family: "ctypes", name: "personality", code: raw(135, "0xffffffff"), blocked: .seccomp("personality"),
           control: .value { if case .int(let persona)? = $0 { persona >= 0 } else { false } }),
    Attack(family: "ctypes", name: "process_vm_readv", code: raw(310), blocked: .seccomp("process_vm_readv")),
    Attack(family: "ctypes", name: "perf_event_open", code: raw(298), blocked: .seccomp("perf_event_open")),
    Attack(family: "ctypes", name: "open_by_handle_at", code: raw(304), blocked: .seccomp("open_by_handle_at")),
    Attack(family: "ctypes", name: "seccomp (loosen the filter)", code: raw(317), blocked: .seccomp("seccomp")),
    Attack(family: "ctypes", name: "x32 ABI getpid", code: raw(0x4000_0000 + 39), blocked: .seccomp("x32 syscall 39")),
    Attack(family: "ctypes", name: "memfd_create", code: libc + "[libc.syscall(319, b'x', 0), ctypes.get_errno()]",
           blocked: .value(.array([.int(-1), .int(1)]))),

    // W^X
    Attack(family: "w^x", name: "RWX mmap",
           code: libc + "libc.mmap.restype = ctypes.c_void_p\nlibc.mmap(None, 4096, 7, 0x22, -1, 0) > 0",
           blocked: .seccomp("mmap"), control: .value { $0 == .bool(true) }),
    Attack(family: "w^x", name: "mprotect to exec",
           code: libc + "libc.mmap.restype = ctypes.c_void_p\na = libc.mmap(None, 4096, 3, 0x22, -1, 0)\nlibc.mprotect(ctypes.c_void_p(a), 4096, 5)",
           blocked: .seccomp("mprotect"), control: .value { $0 == .int(0) }),
    // 3.11's ctypes makes a callback in a writable+executable page: killed. The 3.14 image's
    // libffi makes it from static trampolines mapped in the zygote: no writable code at all.
    Attack(family: "w^x", name: "ctypes callback (libffi closure)",
           code: "import ctypes\nctypes.CFUNCTYPE(ctypes.c_int)(lambda: 7)()", blocked: .seccomp("mmap"),
           control: .value { $0 == .int(7) }, onImage: .value(.int(7))),
    Attack(family: "w^x", name: "mmap module with PROT_EXEC",
           code: "import mmap\nmmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE, prot=7)\n'mapped'", blocked: .seccomp("mmap"),
           control: .value { $0 == .string("mapped") }),

    // Terminal injection
    Attack(family: "tty", name: "TIOCSTI", code: libc + "libc.ioctl(3, 0x5412, ctypes.c_char_p(b'x'))",
           blocked: .seccomp("ioctl")),
    Attack(family: "tty", name: "TIOCSTI with high bits set", code: raw(16, "3, 0x100005412, 0"), blocked: .seccomp("ioctl")),
    Attack(family: "tty", name: "setsid", code: "import os\nos.setsid()", blocked: .exception("PermissionError")),

    // Memory
    Attack(family: "memory", name: "one huge allocation", code: "x = bytearray(2**34)", blocked: .outcome(.memoryLimit)),
    Attack(family: "memory", name: "gradual growth", code: "l = []\nwhile True:\n    l.append(bytearray(10**7))",
           blocked: .outcome(.memoryLimit)),
    Attack(family: "memory", name: "MAP_SHARED anonymous", code: "import mmap\nmmap.mmap(-1, 2**30)",
           blocked: .exception("PermissionError"), control: .runsToEnd),

    // CPU and time
    Attack(family: "cpu", name: "busy loop", code: "while True: pass", blocked: .outcome(.timeout), wallClock: .seconds(1)),
    Attack(family: "cpu", name: "sleep forever", code: "import time\ntime.sleep(10**6)", blocked: .outcome(.timeout),
           wallClock: .seconds(1)),

    // Recursion
    Attack(family: "recursion", name: "Python recursion", code: "def f(n): return f(n + 1)\nf(0)",
           blocked: .exception("RecursionError")),
    Attack(family: "recursion", name: "C-level recursion (json)",
           code: "import json\nx = []\nfor _ in range(10**6):\n    x = [x]\njson.dumps(x)", blocked: .exception("RecursionError")),
    Attack(family: "recursion", name: "segfault via ctypes", code: "import ctypes\nctypes.string_at(0)",
           blocked: .outcome(.crashed(signal: SIGSEGV, reason: "killed by SIGSEGV"))),

    // Descriptors and environment
    Attack(family: "descriptors", name: "scan for inherited descriptors",
           code: "import os\nopen_fds = []\nfor fd in range(1024):\n    try:\n        os.fstat(fd)\n        open_fds.append(fd)\n    except OSError:\n        pass\nopen_fds",
           blocked: .value(.array([.int(3)])), control: .value { $0 != .array([.int(3)]) }),
    Attack(family: "descriptors", name: "many open files",
           code: "import os\nfiles = []\nwhile True:\n    files.append(open(os.__file__))", blocked: .exception("OSError")),
    Attack(family: "descriptors", name: "write to the host's stdout (fd 1)", code: "import os\nos.write(1, b'x')",
           blocked: .exception("OSError")),
    Attack(family: "descriptors", name: "pass a descriptor with sendmsg",
           code: "import socket, array\na, b = socket.socketpair()\na.sendmsg([b'x'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [3]))])",
           blocked: .exception("PermissionError"), control: .runsToEnd),
    Attack(family: "environment", name: "environment dump", code: "import os\ndict(os.environ)", blocked: .value(.object([:]))),

    // Introspection escapes: they reach os.system, which still cannot start a process.
    Attack(family: "introspection", name: "__subclasses__ to os._wrap_close",
           code: "c = [k for k in ().__class__.__base__.__subclasses__() if k.__name__ == '_wrap_close'][0]\nc.__init__.__globals__['system']('touch {dir}/marker')",
           blocked: .outcome(.ok), control: .createsFile("marker")),
    Attack(family: "introspection", name: "generator gi_frame globals",
           code: "g = (x for x in [1])\ng.gi_frame.f_globals['__builtins__'].__import__('os').system('touch {dir}/marker')",
           blocked: .outcome(.ok), control: .createsFile("marker")),
    Attack(family: "introspection", name: "pickle to os.system",
           code: "import pickle\npickle.loads(b\"cos\\nsystem\\n(S'touch {dir}/marker'\\ntR.\")",
           blocked: .outcome(.ok), control: .createsFile("marker")),
    Attack(family: "introspection", name: "crafted code object",
           code: "f = lambda: 0\nf.__code__ = f.__code__.replace(co_code=bytes([151, 0, 100, 200, 83, 0]), co_consts=())\nf()",
           blocked: .outcome(.crashed(signal: SIGSEGV, reason: "killed by SIGSEGV"))),
]

@Suite("Confinement: attacks are blocked, and succeed without the sandbox")
struct ConfinementTests {
    /// What an attack may reach: a scratch folder with a secret and a victim file, and
    /// loopback listeners; returns the attack's code with their paths and ports filled in.
    func fixture(for attack: Attack) -> (Scratch, LoopbackListener, LoopbackListener, String) {
        let scratch = Scratch()
        scratch.write("secret", "hunter2")
        scratch.write("victim", "", mode: 0o666)
        let tcp = LoopbackListener()
        let udp = LoopbackListener(udp: true)
        let code = attack.code.replacingOccurrences(of: "{dir}", with: scratch.path)
            .replacingOccurrences(of: "{port}", with: "\(tcp.port)").replacingOccurrences(of: "{udp}", with: "\(udp.port)")
        return (scratch, tcp, udp, code)
    }

    @Test("The suite covers at least 50 attacks across every family")
    func coverage() {
        #expect(attacks.count >= 50)
        let families = Set(attacks.map(\.family))
        for family in ["process", "network", "filesystem", "signals", "ctypes", "w^x", "tty", "memory", "cpu",
                       "recursion", "descriptors", "environment", "introspection"] {
            #expect(families.contains(family), "no attack in family \(family)")
        }
    }

    @Test("Attack is blocked", .enabled(if: MachineLayers.all, Comment(rawValue: MachineLayers.missing)), arguments: attacks)
    func blocked(attack: Attack) throws {
        let sandbox = TestSandboxes.confined
        let (scratch, tcp, udp, code) = fixture(for: attack)
        var limits: ExecutionLimits?
        if let wallClock = attack.wallClock { limits = ExecutionLimits(wallClock: wallClock) }

        let result = sandbox.execute(code, limits: limits)
        switch attack.expected {
        case .exception(let type):
            #expect(result.outcome == .exception, "\(result.outcome) \(result.error?.traceback ?? "")")
            #expect(result.error?.type == type, "\(result.error?.traceback ?? "")")
        case .seccomp(let name):
            #expect(result.outcome == .killedBySeccomp(syscall: name))
        case .outcome(let outcome):
            #expect(result.outcome == outcome, "\(result.error?.traceback ?? "")")
        case .value(let value):
            #expect(result.outcome == .ok, "\(result.error?.traceback ?? "")")
            #expect(result.json == value)
        }
        // No effect escaped.
        switch attack.control {
        case .createsFile(let name)?: #expect(!scratch.exists(name), "the confined run left \(name)")
        case .removesFile(let name)?: #expect(scratch.exists(name), "the confined run removed \(name)")
        // (.tcpConnection and .udpDatagram: the blocked value shows socket() itself failed.)
        default: break
        }
        // The host and the next execution are fine.
        #expect(sandbox.execute("6 * 7").json == .int(42))
    }

    @Test("Without the sandbox layers the attack succeeds (control)", arguments: attacks.filter(\.controlApplies))
    func control(attack: Attack) throws {
        let (scratch, tcp, udp, code) = fixture(for: attack)
        let result = TestSandboxes.unconfined.execute(code)
        switch attack.control {
        case .createsFile(let name)?:
            // A forked child may write its marker after the worker has answered: wait for it.
            let deadline = ContinuousClock.now + .seconds(3)
            while !scratch.exists(name) && ContinuousClock.now < deadline { usleep(10_000) }
            #expect(scratch.exists(name), "control did not create \(name): \(result.outcome) \(result.error?.traceback ?? "")")
        case .removesFile(let name)?: #expect(!scratch.exists(name), "\(result.outcome)")
        case .tcpConnection?: #expect(tcp.sawHit(), "\(result.outcome) \(result.error?.traceback ?? "")")
        case .udpDatagram?: #expect(udp.sawHit(), "\(result.outcome) \(result.error?.traceback ?? "")")
        case .value(let check)?:
            #expect(check(result.json), "control saw \(result.outcome) \(result.value?.text ?? "") \(result.error?.traceback ?? "")")
        case .runsToEnd?: #expect(result.outcome == .ok, "\(result.error?.traceback ?? "")")
        case nil: break
        }
    }

    @Test("The zygote holds no user data: a later worker cannot find an earlier job's secret")
    func zygoteHeapHoldsNoSecrets() throws {
        let sandbox = TestSandboxes.confined
        let secret = "s3cr3t-" + UUID().uuidString
        // Strings are not tracked by gc: look inside every tracked container instead.
        let scan = """
            import gc
            def strings(o):
                if isinstance(o, dict): return list(o.keys()) + list(o.values())
                if isinstance(o, (list, tuple, set, frozenset)): return list(o)
                return []
            any(isinstance(s, str) and s.startswith('s3cr3t-') and len(s) == 43
                for o in gc.get_objects() for s in strings(o))
            """
        _ = sandbox.execute("token = secret\nlen(token)", inputs: ["secret": .string(secret)])
        let later = sandbox.execute(scan, inputs: ["probe": .string("s3cr3t-probe")])
        #expect(later.json == .bool(false))
        // Control: the same scan inside one session (one worker) does find it, so the scan works.
        let session = try sandbox.openSession()
        defer { session.close() }
        _ = try session.execute("token = secret", inputs: ["secret": .string(secret)])
        #expect(try session.execute(scan, inputs: ["probe": .string("s3cr3t-probe")]).json == .bool(true))
    }

    @Test("The host's environment never reaches a worker")
    func environmentScrubbed() throws {
        setenv("CRUCIBLE_TEST_API_KEY", "sk-should-not-leak", 1)
        let sandbox = try TestSandboxes.isolated(poolSize: 1)
        defer { sandbox.shutdown() }
        let result = sandbox.execute("import os\n(dict(os.environ), [k for k in dir(os) if 'sk-should' in str(getattr(os, k, ''))])")
        #expect(result.json == .array([.object([:]), .array([])]))
    }

    @Test("seccomp is active, and privileges are dropped when the zygote starts as root")
    func seccompActive() {
        let report = TestSandboxes.confined.report
        #expect(report.seccompRules > 100)
        if getuid() == 0 { #expect(report.privilegesDropped) }
    }

    @Test("Landlock is active wherever the kernel offers it",
          .enabled(if: MachineLayers.landlockABI != nil, "this kernel has no Landlock (or it is disabled at boot)"))
    func landlockActive() {
        #expect(TestSandboxes.confined.report.landlockABI != nil, "the kernel offers Landlock ABI \(MachineLayers.landlockABI ?? 0)")
    }

    @Test("network and PID namespaces are active wherever the kernel allows them",
          .enabled(if: MachineLayers.namespaces, "this machine refuses new network/PID namespaces (a container without CAP_SYS_ADMIN or user namespaces)"))
    func namespacesActive() {
        let report = TestSandboxes.confined.report
        #expect(report.namespaces.contains("net") && report.namespaces.contains("pid"))
    }
}
