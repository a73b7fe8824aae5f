import CrucibleSandbox
import CrucibleWire
import Dispatch
import Foundation

/// Answers one execution's tool calls: checks the arguments against the inputSchema,
/// runs the tool, checks the result against the outputSchema, enforces the limits, and
/// records every call. Lives on the thread that drives the execution.
final class ToolDispatcher: ToolCallHandler {
    let toolbox: Toolbox
    private(set) var calls: [ToolCallRecord] = []
    /// Results kept to check the data flows the worker reports against (small ones, within a
    /// budget: a flow out of a result not kept is dropped, never taken on the worker's word).
    private var results: [Int: JSONValue] = [:]
    private var keptResultBytes = 0
    static let keptResultLimit = 4 << 20

    init(toolbox: Toolbox) { self.toolbox = toolbox }

    /// The answer frame's payload for one call frame's payload. Throws for a frame the worker's
    /// runtime never writes (not JSON, no tool name, arguments not an object): hand-made by
    /// the code, so the execution ends as a protocol violation.
    func answer(to payload: ArraySlice<UInt8>, deadline: ContinuousClock.Instant) throws(WorkerProtocolViolation) -> [UInt8] {
        let started = ContinuousClock.now
        let index = calls.count
        let call = try ToolCallFrame(payload)
        let (name, arguments) = (call.name, call.arguments)

        func finish(_ outcome: ToolCallRecord.Outcome, result: JSONValue? = nil, resultText: String? = nil,
                    message: String? = nil) -> [UInt8] {
            let text = resultText ?? ""
            var fields: [String: FieldTally] = [:]
            if let result {
                fields = FieldTally.tally(result, schema: toolbox.tools[name]?.contract.outputSchema)
                if keptResultBytes + text.utf8.count <= Self.keptResultLimit {
                    results[index] = result
                    keptResultBytes += text.utf8.count
                }
            }
            calls.append(ToolCallRecord(
                index: index, tool: name, arguments: arguments, duration: .now - started, outcome: outcome,
                resultBytes: text.utf8.count, resultFields: fields))
            if outcome == .ok { return Array("{\"ok\":true,\"result\":\(text)}".utf8) }
            var error: [String: JSONValue] = ["type": .string(Self.errorType(outcome)), "message": .string(message ?? "\(outcome)")]
            switch outcome {
            case .argumentError(let path, _), .contractError(let path, _): error["path"] = .string(path)
            default: break
            }
            return Array(JSONValue.object(["ok": .bool(false), "error": .object(error)]).jsonText.utf8)
        }

        guard index - firstCallOfExecution < toolbox.limits.callsPerExecution else {
            let detail = "this execution already made \(toolbox.limits.callsPerExecution) tool calls, the limit"
            return finish(.limitExceeded(detail), message: "\(name)(): \(detail)")
        }
        guard let tool = toolbox.tools[name] else {
            let known = toolbox.tools.keys.sorted().joined(separator: ", ")
            let detail = "no tool named \(name); available: \(known.isEmpty ? "none" : known)"
            return finish(.argumentError(path: "$", message: detail), message: detail)
        }
        if let violation = JSONSchema.violations(of: arguments, against: tool.contract.inputSchema, limit: 1).first {
            let field = violation.path == "$" ? "arguments" : "argument \(violation.path.dropFirst(2))"
            let detail = "\(name)(): \(field): \(violation.message)"
            return finish(.argumentError(path: violation.path, message: violation.message), message: detail)
        }

        let timeout = min(toolbox.limits.perCallTimeout, max(.zero, deadline - .now))
        let result: Result<JSONValue, Error>
        switch tool.perform {
        case .immediate(let perform):
            result = Result { try perform(arguments) }
        case .async(let perform):
            guard let awaited = Self.waitForTask(timeout: timeout, { try await perform(arguments) }) else {
                return finish(.timeout, message: "\(name)() did not answer within \(timeout)")
            }
            result = awaited
        case .waiting(let perform):
            do {
                guard let answered = try perform(arguments, timeout) else {
                    return finish(.timeout, message: "\(name)() did not answer within \(timeout)")
                }
                result = .success(answered)
            } catch { result = .failure(error) }
        }
        let value: JSONValue
        switch result {
        case .failure(let error):
            let message = (error as? ToolFailure)?.message ?? "\(error)"
            return finish(.toolError(message), message: "\(name)() failed: \(message)")
        case .success(let success): value = success
        }
        if let schema = tool.contract.outputSchema,
            let violation = JSONSchema.violations(of: value, against: schema, limit: 1).first
        {
            let detail = "\(name)() returned a result that breaks its contract at \(violation.path): \(violation.message)"
            return finish(.contractError(path: violation.path, message: violation.message), message: detail)
        }
        let text = value.jsonText
        if text.utf8.count > toolbox.limits.resultBytes {
            let detail = "\(name)() returned \(text.utf8.count) bytes, over the \(toolbox.limits.resultBytes)-byte limit"
            return finish(.limitExceeded(detail), message: detail)
        }
        return finish(.ok, result: value, resultText: text)
    }

    /// Calls before this index belong to earlier cells of a session.
    var firstCallOfExecution = 0

    /// The trace, with the worker's reported field reads tied to recorded calls (others dropped),
    /// and its reported data flows where the host saw that value in that result and in those
    /// arguments (a flow the code made up is dropped).
    func trace(reads: [(call: Int, path: String)], flows: [ReportedFlow]) -> ExecutionTrace {
        defer { firstCallOfExecution = calls.count }
        let fieldReads = reads.compactMap { read -> FieldRead? in
            guard read.call >= 0, read.call < calls.count, read.path.utf8.count <= 512 else { return nil }
            return FieldRead(call: read.call, tool: calls[read.call].tool, path: read.path)
        }
        var dataFlows: [DataFlow] = []
        for flow in flows {
            guard flow.fromCall < flow.toCall, flow.toCall < calls.count, flow.toCall >= firstCallOfExecution,
                flow.fromPath.utf8.count <= 512, flow.argument.utf8.count <= 512,
                let result = results[flow.fromCall]
            else { continue }
            let passed = calls[flow.toCall].arguments.values(atFoldedPath: flow.argument)
            let produced = result.values(atFoldedPath: flow.fromPath)
            guard passed.contains(where: { value in value != .null && produced.contains(value) }) else { continue }
            let from = DataFlow(fromCall: flow.fromCall, fromTool: calls[flow.fromCall].tool, fromPath: flow.fromPath,
                                toCall: flow.toCall, toTool: calls[flow.toCall].tool, argument: flow.argument)
            if !dataFlows.contains(from) { dataFlows.append(from) }
        }
        return ExecutionTrace(toolCalls: Array(calls[firstCallOfExecution...]), fieldReads: fieldReads, dataFlows: dataFlows)
    }

    static func errorType(_ outcome: ToolCallRecord.Outcome) -> String {
        switch outcome {
        case .ok, .toolError: "ToolError"
        case .argumentError: "ToolArgumentError"
        case .contractError: "ToolContractError"
        case .timeout: "ToolTimeoutError"
        case .limitExceeded: "ToolLimitError"
        }
    }

    /// Runs `body` on a task and waits up to `timeout`; nil when it did not finish (the task is cancelled).
    static func waitForTask<T: Sendable>(timeout: Duration, _ body: @escaping @Sendable () async throws -> T) -> Result<T, Error>? {
        let box = ResultBox<T>()
        let task = Task {
            let outcome: Result<T, Error>
            do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
            box.set(outcome)
        }
        if box.wait(timeout: timeout) { return box.value }
        task.cancel()
        return nil
    }
}

/// Where a tool's task leaves its result for the execution's thread, which waits with a timeout.
private final class ResultBox<T: Sendable>: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private let stored = Locked<Result<T, Error>?>(nil)

    func set(_ value: Result<T, Error>) {
        stored.withLock { $0 = value }
        semaphore.signal()
    }

    func wait(timeout: Duration) -> Bool {
        let nanoseconds = Int(min(timeout.seconds, 86_400) * 1e9)
        return semaphore.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success
    }

    var value: Result<T, Error>? { stored.value }
}
