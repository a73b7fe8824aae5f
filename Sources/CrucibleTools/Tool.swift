import CrucibleSandbox
import CrucibleWire
import Foundation

/// A tool the sandboxed code can call: a contract and the host-side code that performs it.
public struct Tool: Sendable {
    public enum Perform: Sendable {
        /// Runs on a task; the per-call timeout abandons it and tells the code.
        case async(@Sendable (JSONValue) async throws -> JSONValue)
        /// Runs inline on the execution's thread: no task hop, for cheap lookups that never
        /// block. The per-call timeout cannot interrupt it.
        case immediate(@Sendable (JSONValue) throws -> JSONValue)
        /// Runs on the execution's thread, which it blocks until the answer comes from elsewhere
        /// (another process: `crucible serve`'s client tools), up to the timeout it is given;
        /// nil when none came. No task hop: the thread that reads the answer wakes this one.
        case waiting(@Sendable (_ arguments: JSONValue, _ timeout: Duration) throws -> JSONValue?)
    }

    public var contract: ToolContract
    public var perform: Perform

    /// A tool backed by an async closure. Its argument is the validated arguments object.
    public init(_ contract: ToolContract, perform: @escaping @Sendable (JSONValue) async throws -> JSONValue) {
        self.contract = contract
        self.perform = .async(perform)
    }

    /// A tool backed by a synchronous closure that returns at once (see `Perform.immediate`).
    public init(_ contract: ToolContract, immediate: @escaping @Sendable (JSONValue) throws -> JSONValue) {
        self.contract = contract
        self.perform = .immediate(immediate)
    }

    /// A tool that waits for its answer on the execution's thread (see `Perform.waiting`).
    public init(_ contract: ToolContract, waiting: @escaping @Sendable (JSONValue, Duration) throws -> JSONValue?) {
        self.contract = contract
        self.perform = .waiting(waiting)
    }

    public var name: String { contract.name }
}

/// An error a tool reports to the code: it arrives as `ToolError` with this message.
public struct ToolFailure: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Limits on the tool calls of one execution.
public struct ToolLimits: Equatable, Sendable {
    /// Calls one execution may make; the next raises `ToolLimitError`.
    public var callsPerExecution = 100
    /// How long one call may take before the code gets `ToolTimeoutError`.
    public var perCallTimeout: Duration = .seconds(30)
    /// Largest result, as JSON bytes, handed to the code.
    public var resultBytes = 1 << 20

    public init() {}
}

/// The tools available to an execution, by name, with their limits.
public struct Toolbox: ExecutionTools {
    public private(set) var tools: [String: Tool] = [:]
    public var limits = ToolLimits()

    /// No tools.
    public init() {}

    public init(_ tools: [Tool], limits: ToolLimits = ToolLimits()) throws {
        self.limits = limits
        for tool in tools { try add(tool) }
    }

    /// Adds a tool; a second tool with the same name is refused.
    public mutating func add(_ tool: Tool) throws {
        guard tools[tool.name] == nil else {
            throw ToolContractProblem("a tool named \(tool.name) is already registered")
        }
        tools[tool.name] = tool
    }

    /// Contracts sorted by name (the order of the Python API and the prompt).
    public var contracts: [ToolContract] { tools.keys.sorted().map { tools[$0]!.contract } }

    public var isEmpty: Bool { tools.isEmpty }

    public var definitions: [JSONValue] { contracts.map(\.mcpDefinition) }

    public func makeCallHandler() -> any ToolCallHandler { ToolDispatcher(toolbox: self) }
}
