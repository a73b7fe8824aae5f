import CrucibleConfiguration
import CrucibleCorpus
import CrucibleSandbox
import CrucibleTools
import CrucibleValidation
import CrucibleWire
import Foundation

/// `crucible serve`: the sandbox for agents in any language, over JSON-RPC 2.0 on stdio.
/// The protocol is documented in docs/serve-protocol.md; the stdlib-only Python client is
/// the crucible_client package in Clients/python. The methods themselves are `ServeMethods`, which
/// `crucible http` answers too; this is their line transport.
public final class ServeServer: Sendable {
    public static let protocolVersion = ServeMethods.protocolVersion
    public typealias InterpreterSandboxes = ServeMethods.InterpreterSandboxes

    private let connection: JSONRPCConnection
    let methods: ServeMethods

    public init(sandbox: Sandbox, baseTools: Toolbox, input: Int32, output: Int32, recorder: CorpusRecorder? = nil,
                maxSessions: Int? = nil, kinds: [String: ArtifactKind] = [:],
                makeValidator: (@Sendable () throws -> Validator)? = nil, interpreterSandboxes: InterpreterSandboxes? = nil) {
        let configuration = sandbox.configuration
        // Requests beyond what the sandbox runs and queues, plus room for quick ones, are
        // answered "busy" by the connection itself, without a thread each.
        let connection = JSONRPCConnection(
            input: input, output: output,
            maxInFlight: configuration.maxRunningExecutions + configuration.maxQueuedExecutions + 64)
        self.connection = connection
        // A client-declared tool is called back over this connection (`call_tool`).
        self.methods = ServeMethods(
            sandbox: sandbox, baseTools: baseTools, recorder: recorder, maxSessions: maxSessions, kinds: kinds,
            makeValidator: makeValidator, interpreterSandboxes: interpreterSandboxes,
            clientRequest: { method, params, timeout in
                try connection.requestWaiting(method, params: params, timeout: timeout)
            })
    }

    /// Serves until the client closes its end, then closes every session.
    public func run() {
        connection.run { [methods] method, params in try methods.handle(method, params ?? [:]) }
        methods.close()
        if let recorder = methods.recorder {
            FileHandle.standardError.write(Data("crucible serve: \(recorder.summary)\n".utf8))
        }
    }
}
