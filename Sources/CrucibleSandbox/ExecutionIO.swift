import CrucibleWire

/// What a fresh execution may bring besides code and inputs, for programs written to read
/// their input the way SandboxFusion's `run_code` feeds it: text on stdin and files in a
/// working folder. The files are in-memory copies under /output (workers write nowhere), and
/// with `relativeToOutput` a relative path names one of them, as in a working folder.
public struct ExecutionIO: Sendable {
    public var stdin: String?
    public var files: [OutputFile]
    public var relativeToOutput: Bool

    public init(stdin: String? = nil, files: [OutputFile] = [], relativeToOutput: Bool = false) {
        self.stdin = stdin
        self.files = files
        self.relativeToOutput = relativeToOutput
    }
}
