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
            timeout = min(max(asked, SettingRange.timeout.minimum), maxTimeout)
            if asked > maxTimeout { notes.append("run_timeout \(asked) s lowered to this server's maximum, \(maxTimeout) s") }
            // SandboxFusion's -1 (and verl's absent value) mean "the default".
            if let mb = try number("memory_limit_MB"), mb > 0 {
                // Compared as a Double first: Int(1e300) would trap.
                memoryMB = mb >= Double(maxMemoryMB) ? maxMemoryMB : max(Int(mb), Int(SettingRange.memoryMB.minimum))
                if mb > Double(maxMemoryMB) { notes.append("memory_limit_MB \(mb) lowered to this server's maximum, \(maxMemoryMB) MB") }
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
            // What `python file.py` prints and exits with; sys.exit(n) exits with n.
            if let error = result.error, error.type == "SystemExit" {
                let status = error.message.isEmpty || error.message == "None" ? 0 : Int(error.message)
                returnCode = .int(status ?? 1)
                if status == nil { stderr += error.message + "\n" }
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
        case .crashed(let signal, let reason):
            returnCode = .int(signal.map { -Int($0) } ?? 1)
            stderr += "crucible: crashed: \(reason)\n"
        case .protocolViolation(let detail):
            returnCode = 1
            stderr += "crucible: protocol violation: \(detail)\n"
        case .sandboxFailure(let detail), .busy(let detail), .cancelled(let detail):
            // The code did not run to an end of its own: the sandbox's fault, not the code's.
            return ["status": "SandboxError", "message": .string("\(result.outcome.name): \(detail)"),
                    "compile_result": .null, "run_result": .null, "files": [:]]
        }
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
            "message": .string(request.notes.joined(separator: "; ")),
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

    /// The answer to a language other than Python: SandboxError, which the official client raises.
    static func unsupported(_ language: String) -> JSONValue {
        ["status": "SandboxError",
         "message": .string("language \(language.debugDescription) is not supported: this sandbox runs Python only (language \"python\")"),
         "compile_result": .null, "run_result": .null, "files": [:]]
    }
}
