import CrucibleWire

/// The tools an execution may call, as the sandbox sees them: definitions to send to the
/// worker (it builds typed Python functions from them), and something to answer the calls.
/// `Toolbox` is the implementation; the sandbox knows nothing of contracts or schemas.
public protocol ExecutionTools: Sendable {
    /// MCP tool definitions (`name`, `description`, `inputSchema`, `outputSchema`).
    var definitions: [JSONValue] { get }
    var isEmpty: Bool { get }
    /// A handler for one execution, or for one session's worker (its call numbers run on
    /// across cells).
    func makeCallHandler() -> any ToolCallHandler
}

/// Answers one execution's tool calls and keeps their record. Used from the one thread that
/// drives the execution (or the session's cells, one at a time).
public protocol ToolCallHandler: AnyObject {
    /// The answer frame's payload for one call frame's payload. Throws for a frame the
    /// worker's runtime never writes: the execution then ends as a protocol violation.
    func answer(to payload: ArraySlice<UInt8>, deadline: ContinuousClock.Instant) throws(WorkerProtocolViolation) -> [UInt8]
    /// The calls since the last trace, with the field reads and data flows the worker reported for them.
    func trace(reads: [(call: Int, path: String)], flows: [ReportedFlow]) -> ExecutionTrace
}
