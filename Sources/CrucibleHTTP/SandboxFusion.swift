import CrucibleSandbox
import CrucibleWire
import Foundation

/// SandboxFusion's `POST /run_code`, the API verl's `reward.sandbox_fusion.url` and the
/// `sandbox-fusion` client speak, answered by one fresh execution. Only Python runs here:
/// another `language` is answered `SandboxError` with a message saying so. There is no
/// compile step, so `compile_timeout` is ignored and `compile_result` is null.
enum SandboxFusion {
    /// A request, checked. Limits are clamped to the server's maxima rather than refused:
    /// RL configurations send fixed values, and a refusal would fail every rollout.
    struct Request {
        var code: String
        var language: String
        var timeout: Double
        var memoryMB: Int?
        var io: ExecutionIO
        var fetch: [String]
        /// What was clamped, for the response's `message`.
        var notes: [String] = []

        init(json: JSONValue, maxTimeout: Double, maxMemoryMB: Int) throws(HTTPFailure) {
            guard case .object = json else { throw .invalid("the body must be a JSON object (SandboxFusion's RunCodeRequest)") }
            guard let code = json["code"]?.stringValue else { throw .invalid("\"code\" must be a string") }
            self.code = code
            language = json["language"]?.stringValue ?? "python"
            func number(_ key: String) throws(HTTPFailure) -> Double? {
                guard let value = json[key], value != .null else { return nil }
                guard let number = value.numberValue else { throw .invalid("\"\(key)\" must be a number") }
                return number
            }
            let asked = try number("run_timeout") ?? 10
            let shortest = SettingRange.timeout.minimum
            timeout = min(max(asked, shortest), maxTimeout)
            if asked > maxTimeout { notes.append("run_timeout \(asked) s lowered to this server's maximum, \(maxTimeout) s") }
            if asked < shortest { notes.append("run_timeout \(asked) s raised to the minimum, \(shortest) s") }
            // SandboxFusion's -1 (and verl's absent value) mean "the default".
            if let mb = try number("memory_limit_MB"), mb > 0 {
                let least = Int(SettingRange.memoryMB.minimum)
                // Compared as a Double first: Int(1e300) would trap.
                memoryMB = mb >= Double(maxMemoryMB) ? maxMemoryMB : max(Int(mb), least)
                if mb > Double(maxMemoryMB) { notes.append("memory_limit_MB \(mb) lowered to this server's maximum, \(maxMemoryMB) MB") }
                if mb < Double(least) { notes.append("memory_limit_MB \(mb) raised to the minimum, \(least) MB") }
            }
            var stdin: String?
            if let given = json["stdin"], given != .null {
                guard let text = given.stringValue else { throw .invalid("\"stdin\" must be a string") }
                stdin = text
            }
            var files: [OutputFile] = []
            if let given = json["files"], given != .null {
                guard case .object(let members) = given else { throw .invalid("\"files\" must be an object {path: base64}") }
                for (path, content) in members.sorted(by: { $0.key < $1.key }) where content != .null {
                    guard let name = Self.name(path) else {
                        throw .invalid("files: \(path.debugDescription) is not a relative path (or one under /output) without . or .. parts")
                    }
                    guard let text = content.stringValue, let data = Data(base64Encoded: text) else {
                        throw .invalid("files: the content of \(path.debugDescription) is not base64")
                    }
                    files.append(OutputFile(name: name, data: Array(data)))
                }
            }
            io = ExecutionIO(stdin: stdin, files: files, relativeToOutput: true)
            fetch = []
            if let given = json["fetch_files"], given != .null {
                guard let list = given.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                    throw .invalid("\"fetch_files\" must be a list of paths")
                }
                fetch = list.compactMap(\.stringValue)
            }
        }

        /// A file's name in the execution's /output (its working folder): relative, or absolute under /output.
        static func name(_ path: String) -> String? {
            var name = path.hasPrefix("/output/") ? String(path.dropFirst("/output/".count)) : path
            while name.hasPrefix("./") { name.removeFirst(2) }
            return OutputFile.isSafeName(name) ? name : nil
        }
    }

    /// The RunCodeResponse for an execution's result.
    static func response(_ result: ExecutionResult, request: Request) -> JSONValue {
        var stderr = result.stderr
        var returnCode: JSONValue = 0
        var runStatus = "Finished"
        switch result.outcome {
        case .ok: break
        case .exception, .syntaxError, .memoryLimit:
            if let error = result.error, error.type == "SystemExit" {
                let exit = exitStatus(systemExit: error.message)
                returnCode = .int(exit.status)
                if let printed = exit.printed { stderr += printed + "\n" }
            } else {
                returnCode = 1
                if let error = result.error {
                    stderr += error.traceback.isEmpty ? "\(error.type): \(error.message)\n" : error.traceback
                }
            }
        case .timeout, .cpuLimit:
            runStatus = "TimeLimitExceeded"
            returnCode = .null
        case .killedBySeccomp(let call):
            // As a process killed by SIGSYS reports it (a negative signal number, like subprocess).
            returnCode = -31
            stderr += "crucible: killed by seccomp (\(call))\n"
        case .crashed(let signal?, let reason):
            returnCode = .int(-Int(signal))
            stderr += "crucible: crashed: \(reason)\n"
        case .crashed(nil, let reason):
            // The code's own exit (os._exit(n)) is its status, as Python's would be, and says nothing.
            if let status = exitStatus(crash: reason) {
                returnCode = .int(status)
            } else {
                returnCode = 1
                stderr += "crucible: crashed: \(reason)\n"
            }
        case .protocolViolation(let detail):
            returnCode = 1
            stderr += "crucible: protocol violation: \(detail)\n"
        case .sandboxFailure(let detail), .busy(let detail), .cancelled(let detail):
            // The code did not run to an end of its own: the sandbox's fault, not the code's.
            return ["status": "SandboxError", "message": .string("\(result.outcome.name): \(detail)"),
                    "compile_result": .null, "run_result": .null, "files": [:]]
        }
        // SandboxFusion's response has no field for cut output; without a note the cut looks
        // like the program's own.
        var notes = request.notes
        if result.stdoutTruncatedBytes > 0 { notes.append("stdout truncated: \(result.stdoutTruncatedBytes) more bytes dropped past the output cap") }
        if result.stderrTruncatedBytes > 0 { notes.append("stderr truncated: \(result.stderrTruncatedBytes) more bytes dropped past the output cap") }
        var files: [String: JSONValue] = [:]
        for path in request.fetch {
            guard let name = Request.name(path) else { continue }
            // A file the code wrote, else the copy it was given.
            if let file = result.files.first(where: { $0.name == name }) ?? request.io.files.first(where: { $0.name == name }) {
                files[path] = .string(Data(file.data).base64EncodedString())
            }
        }
        let passed = runStatus == "Finished" && returnCode == 0
        return [
            "status": passed ? "Success" : "Failed",
            "message": .string(notes.joined(separator: "; ")),
            "compile_result": .null,
            "run_result": [
                "status": .string(runStatus),
                "execution_time": .double(Double(result.duration.components.seconds) + Double(result.duration.components.attoseconds) / 1e18),
                "cpu_time": result.cpuTime.map { .double(Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18) } ?? .null,
                "return_code": returnCode,
                "stdout": .string(result.stdout),
                "stderr": .string(stderr),
            ],
            "files": .object(files),
        ]
    }

    /// What `python file.py` exits with, and prints, for an uncaught SystemExit, from its
    /// message (`str(code)`): None (or no code) and False are 0, True is 1, an int is that int
    /// as the OS reports it (its low 8 bits); anything else is printed and exits 1. A string
    /// that reads as an int (`sys.exit("3")`) passes for one: the message alone cannot tell.
    static func exitStatus(systemExit message: String) -> (status: Int, printed: String?) {
        switch message {
        case "", "None", "False": return (0, nil)
        case "True": return (1, nil)
        default:
            guard let code = Int(message) else { return (1, message) }
            return (code & 0xFF, nil)
        }
    }

    /// The status of a worker that exited without answering, from the sandbox's reason ("the
    /// worker exited with status 4 before answering"); nil when it did not exit that way.
    static func exitStatus(crash reason: String) -> Int? {
        let prefix = "the worker exited with status "
        guard reason.hasPrefix(prefix) else { return nil }
        return Int(reason.dropFirst(prefix.count).prefix { $0.isNumber })
    }

    /// The answer to a language other than Python: SandboxError, which the official client raises.
    static func unsupported(_ language: String) -> JSONValue {
        ["status": "SandboxError",
         "message": .string("language \(language.debugDescription) is not supported: this sandbox runs Python only (language \"python\")"),
         "compile_result": .null, "run_result": .null, "files": [:]]
    }
}
