import ArgumentParser
import Crucible

/// How much a server (`serve`, `mcp`) takes on at once. Beyond it, requests are answered
/// "busy" instead of forking until memory or file descriptors run out.
struct CapacityOptions: ParsableArguments {
    @Option(help: "Executions running at once (each holds a worker process); more wait their turn.")
    var maxRunning: Int = 32

    @Option(help: "Executions that may wait for a turn; one more is answered busy (JSON-RPC -32003; over HTTP, 429).")
    var maxQueued: Int = 1024

    func validate() throws {
        try SettingRange.runningExecutions.validate(maxRunning, flag: "--max-running")
        try SettingRange.queuedExecutions.validate(maxQueued, flag: "--max-queued")
    }
}
