// crucible-bench: Crucible beside its peers, interleaved in one run.
//
// Cells: Crucible fresh worker from the warm pool and a session cell (through the host
// API, so the worker is another process), `python3 -I -S -c` per run, pydantic-monty
// fresh checkout from a warm pool, and in-process exec on the same CPython. Rounds
// alternate the cells so drift on a shared machine hits them all alike.
import Crucible
import Foundation

struct Options {
    var zygote = ""
    var sandbox = ""
    var peerPython = ""
    var peerScript = ""
    var out = "bench-results.json"
    var rounds = 10
    var perRound = 30

    init() {
        var args = CommandLine.arguments.dropFirst()
        while let flag = args.popFirst() {
            let value = args.popFirst() ?? ""
            switch flag {
            case "--zygote": zygote = value
            case "--sandbox": sandbox = value
            case "--peer-python": peerPython = value
            case "--peer-script": peerScript = value
            case "--out": out = value
            case "--rounds": rounds = Int(value) ?? rounds
            case "--per-round": perRound = Int(value) ?? perRound
            default:
                FileHandle.standardError.write(Data("usage: crucible-bench --zygote P --sandbox D --peer-python P --peer-script S [--rounds N] [--per-round N] [--out F]\n".utf8))
                exit(2)
            }
        }
    }
}

let options = Options()
let threeCalls = "a = get_user(1); b = get_user(2); c = get_user(3); a['name'] + b['name'] + c['name']"
let workloads: [(name: String, code: String)] = [
    ("x = 1 + 2", "x = 1 + 2"),
    ("sum(i*i for i in range(200000))", "sum(i*i for i in range(200000))"),
    ("3 host calls", threeCalls),
]

/// get_user as a host-side tool: the counterpart of Monty's external function.
let userContract = try ToolContract(
    name: "get_user", description: "Look up a user.",
    inputSchema: ["type": "object", "properties": ["user_id": ["type": "integer"]], "required": ["user_id"]],
    outputSchema: ["type": "object", "properties": ["id": ["type": "integer"], "name": ["type": "string"]],
                   "required": ["id", "name"]])
func user(_ arguments: JSONValue) -> JSONValue {
    let id = arguments["user_id"]?.intValue ?? 0
    return ["id": .int(id), "name": .string("user\(id)")]
}
var benchLimits = ToolLimits()
benchLimits.callsPerExecution = 10_000  // the round-trip cell makes 300 calls in one cell
let tools = try Toolbox([Tool(userContract, immediate: user), Tool(
    try ToolContract(name: "ping", description: "Answers at once.", inputSchema: ["type": "object"]), immediate: { _ in [:] })],
    limits: benchLimits)
let asyncTools = try Toolbox([Tool(userContract) { user($0) }])

extension Duration {
    var microseconds: Double { Double(components.seconds) * 1e6 + Double(components.attoseconds) / 1e12 }
}

func nowMicros() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1000 }

func configuration(poolSize: Int) -> SandboxConfiguration {
    var configuration = SandboxConfiguration()
    configuration.zygoteExecutable = options.zygote
    configuration.sandboxDirectory = options.sandbox
    configuration.poolSize = poolSize
    return configuration
}

/// The peer process (Monty and in-process CPython), driven over its stdin/stdout.
final class Peer {
    let process = Process()
    let input = Pipe()
    let output = Pipe()
    var buffered = Data()

    init() throws {
        process.executableURL = URL(fileURLWithPath: options.peerPython)
        process.arguments = [options.peerScript]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        _ = readLine()
    }

    func readLine() -> String {
        while true {
            if let newline = buffered.firstIndex(of: 0x0A) {
                let line = String(decoding: buffered[..<newline], as: UTF8.self)
                buffered.removeSubrange(...newline)
                return line
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { fatalError("the peer process ended") }
            buffered.append(chunk)
        }
    }

    func measure(_ kind: String, _ code: String, count: Int) -> [Double] {
        let hex = code.utf8.map { String(format: "%02x", $0) }.joined()
        input.fileHandleForWriting.write(Data("\(kind) \(hex) \(count)\n".utf8))
        return (try? JSONSerialization.jsonObject(with: Data(readLine().utf8)) as? [Double]) ?? []
    }
}

/// `python3 -I -S -c CODE`, spawned and waited for.
func spawnPython(_ code: String) -> Double {
    let start = nowMicros()
    var pid: pid_t = 0
    let words: [String] = ["/usr/bin/python3.11", "-I", "-S", "-c", code]
    let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    _ = posix_spawn(&pid, argv[0]!, &actions, nil, argv, environ)
    posix_spawn_file_actions_destroy(&actions)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return nowMicros() - start
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let index = min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
    return sorted[index]
}

// MARK: - Set-up

FileHandle.standardError.write(Data("bench: starting Crucible and the peers\n".utf8))
let sandbox = try Sandbox(configuration: configuration(poolSize: 4))
let session = try sandbox.openSession(idleTimeout: .seconds(3600))
let toolSession = try sandbox.openSession(idleTimeout: .seconds(3600), tools: tools)
for _ in 0..<50 { _ = try toolSession.execute(threeCalls) }
let peer = try Peer()
for _ in 0..<50 { _ = sandbox.execute("x = 1 + 2") }  // warm both paths
for _ in 0..<50 { _ = try session.execute("x = 1 + 2") }

var samples: [String: [Double]] = [:]
func record(_ cell: String, _ values: [Double]) { samples[cell, default: []] += values }

for round in 1...options.rounds {
    FileHandle.standardError.write(Data("bench: round \(round)/\(options.rounds)\n".utf8))
    for (name, code) in workloads {
        let heavy = code.contains("200000")
        let count = heavy ? max(3, options.perRound / 6) : options.perRound
        record("crucible fresh worker|\(name)", (0..<count).map { _ in
            // Warm pool: let the zygote refill before the timed call (throughput is measured apart).
            while sandbox.warmIdleWorkers < 4 { usleep(200) }
            let start = nowMicros()
            let result = sandbox.execute(code, tools: code == threeCalls ? tools : Toolbox())
            precondition(result.outcome == .ok, "crucible failed: \(result.outcome) \(result.error?.traceback ?? "")")
            return nowMicros() - start
        })
        if code == threeCalls {
            record("crucible fresh worker, async tool|\(name)", (0..<count).map { _ in
                while sandbox.warmIdleWorkers < 4 { usleep(200) }
                let start = nowMicros()
                let result = sandbox.execute(code, tools: asyncTools)
                precondition(result.outcome == .ok)
                return nowMicros() - start
            })
            record("monty session feed|\(name)", peer.measure("monty-session", code, count: count))
        }
        record("crucible session cell|\(name)", (0..<count).map { _ in
            // Same quiet machine as the fresh cells: no refill fork competing for the CPU.
            while sandbox.warmIdleWorkers < 4 { usleep(200) }
            let start = nowMicros()
            let result = try! (code == threeCalls ? toolSession : session).execute(code)
            precondition(result.outcome == .ok)
            return nowMicros() - start
        })
        record("monty fresh checkout|\(name)", peer.measure("monty", code, count: count))
        record("cpython in-process exec|\(name)", peer.measure("cpython", code, count: count))
        if !heavy {
            record("python3 -I -S -c|\(name)", (0..<max(3, count / 5)).map { _ in spawnPython(code) })
        }
    }
}

// MARK: - One tool call round trip, as the sandboxed code sees it (perf_counter around the call).

FileHandle.standardError.write(Data("bench: tool call round trip\n".utf8))
var roundTrips: [Double] = []
var hostTimes: [Double] = []
for _ in 0..<10 {
    let result = try toolSession.execute(
        "import time\n_t = []\nfor _ in range(300):\n    _s = time.perf_counter_ns(); ping(); _t.append((time.perf_counter_ns() - _s) / 1000)\n_t")
    guard case .array(let values)? = result.value?.json else { fatalError("round trip: \(result.outcome) \(result.error?.traceback ?? "")") }
    roundTrips += values.compactMap(\.numberValue)
    hostTimes += result.trace.toolCalls.map { $0.duration.microseconds }
}
record("crucible tool call round trip (in sandbox)|ping()", roundTrips)
record("crucible tool call, host side only|ping()", hostTimes)

// MARK: - Sustained throughput: two threads (two cores) executing back to back.

FileHandle.standardError.write(Data("bench: sustained throughput\n".utf8))
let throughputSandbox = try Sandbox(configuration: configuration(poolSize: 16))
Thread.sleep(forTimeInterval: 0.5)
let duration = 3.0
final class Counter: @unchecked Sendable {
    let lock = NSLock()
    var value = 0
    func add(_ n: Int) { lock.withLock { value += n } }
}
let executed = Counter()
let group = DispatchGroup()
let throughputStart = nowMicros()
for _ in 0..<2 {
    group.enter()
    Thread {
        var mine = 0
        while nowMicros() - throughputStart < duration * 1e6 {
            if throughputSandbox.execute("x = 1 + 2").outcome == .ok { mine += 1 }
        }
        executed.add(mine)
        group.leave()
    }.start()
}
group.wait()
let throughput = Double(executed.value) / ((nowMicros() - throughputStart) / 1e6)
throughputSandbox.shutdown()

// MARK: - First execution after start (zygote start included).

FileHandle.standardError.write(Data("bench: cold start\n".utf8))
var coldStarts: [Double] = []
for _ in 0..<10 {
    let start = nowMicros()
    let cold = try Sandbox(configuration: configuration(poolSize: 1))
    let result = cold.execute("x = 1 + 2")
    precondition(result.outcome == .ok)
    coldStarts.append(nowMicros() - start)
    cold.shutdown()
}
record("crucible first execution after start|x = 1 + 2", coldStarts)

// MARK: - Report

func median(_ cell: String) -> Double { percentile(samples[cell] ?? [], 50) }
var rows: [[String: Any]] = []
print("| cell | workload | n | median µs | p99 µs |")
print("|---|---|---:|---:|---:|")
for cell in samples.keys.sorted() {
    let parts = cell.split(separator: "|").map(String.init)
    let values = samples[cell]!
    let row: [String: Any] = [
        "cell": parts[0], "workload": parts[1], "n": values.count,
        "median_us": percentile(values, 50), "p99_us": percentile(values, 99),
    ]
    rows.append(row)
    print("| \(parts[0]) | `\(parts[1])` | \(values.count) | \(String(format: "%.1f", percentile(values, 50))) | \(String(format: "%.1f", percentile(values, 99))) |")
}
let a = workloads[0].name
let c = workloads[1].name
let ratios: [String: Double] = [
    "crucible_fresh_vs_monty_fresh(x = 1 + 2)": median("crucible fresh worker|\(a)") / median("monty fresh checkout|\(a)"),
    "crucible_fresh_vs_python3_spawn(x = 1 + 2)": median("crucible fresh worker|\(a)") / median("python3 -I -S -c|\(a)"),
    "crucible_session_vs_monty_fresh(x = 1 + 2)": median("crucible session cell|\(a)") / median("monty fresh checkout|\(a)"),
    "crucible_fresh_vs_inprocess(cpu loop)": median("crucible fresh worker|\(c)") / median("cpython in-process exec|\(c)"),
    "crucible_session_vs_inprocess(cpu loop)": median("crucible session cell|\(c)") / median("cpython in-process exec|\(c)"),
    "monty_fresh_vs_inprocess(cpu loop)": median("monty fresh checkout|\(c)") / median("cpython in-process exec|\(c)"),
    "crucible_fresh_vs_monty_fresh(3 host calls)": median("crucible fresh worker|3 host calls") / median("monty fresh checkout|3 host calls"),
    "crucible_session_vs_monty_fresh(3 host calls)": median("crucible session cell|3 host calls") / median("monty fresh checkout|3 host calls"),
    "crucible_session_vs_monty_session(3 host calls)": median("crucible session cell|3 host calls") / median("monty session feed|3 host calls"),
]
print()
print("| ratio (medians) | value |")
print("|---|---:|")
for (name, value) in ratios.sorted(by: { $0.key < $1.key }) { print("| \(name) | \(String(format: "%.3f", value)) |") }
print(String(format: "\nsustained throughput, fresh workers, 2 threads: %.0f executions/s", throughput))

var machine = "unknown"
if let cpu = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
    let model = cpu.split(separator: "\n").first(where: { $0.hasPrefix("model name") }) {
    machine = "\(model.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)), \(ProcessInfo.processInfo.activeProcessorCount) cores"
}
let document: [String: Any] = [
    "machine": machine, "date": ISO8601DateFormatter().string(from: Date()),
    "rounds": options.rounds, "cells": rows, "ratios": ratios,
    "throughput_executions_per_second": throughput,
]
let json = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
try json.write(to: URL(fileURLWithPath: options.out))
FileHandle.standardError.write(Data("bench: wrote \(options.out)\n".utf8))
session.close()
sandbox.shutdown()
