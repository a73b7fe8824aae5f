import Foundation
import Subprocess
import SystemPackage

/// A program the host runs to prepare an interpreter or a package environment (mmdebstrap,
/// apt-get, pip, chroot): to its end, its output kept for an error message and, with a
/// progress callback, shown line by line as it comes. Never sandboxed code.
enum HostProgram {
    struct Run {
        var status: Int32
        var output: String
        /// The last lines, for an error message.
        var tail: String
    }

    struct CannotStart: Error, CustomStringConvertible {
        var executable: String
        var reason: String
        var description: String { "cannot start \(executable): \(reason)" }
    }

    static func run(
        _ executable: String, _ arguments: [String], progress: (@Sendable (String) -> Void)?,
        environment: [String: String] = [:], prefix: String = "python: "
    ) async throws -> Run {
        var variables: [Environment.Key: String?] = [:]
        for (key, value) in environment { variables[Environment.Key(stringLiteral: key)] = value }
        let configuration = Configuration(
            executable: .path(FilePath(executable)), arguments: Arguments(arguments),
            environment: .inherit.updating(variables))
        do {
            let result = try await Subprocess.run(configuration, input: .none, output: .sequence, error: .combinedWithOutput) { execution in
                var text = ""
                var pending = ""
                for try await buffer in execution.standardOutput {
                    let chunk = buffer.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
                    text += chunk
                    guard let progress else { continue }
                    pending += chunk
                    while let newline = pending.firstIndex(of: "\n") {
                        let line = String(pending[..<newline])
                        pending = String(pending[pending.index(after: newline)...])
                        if !line.isEmpty { progress(prefix + line) }
                    }
                }
                return text
            }
            let status: Int32
            switch result.terminationStatus {
            case .exited(let code): status = code
            case .signaled(let signal): status = 128 + signal
            }
            let lines = result.closureResult.split(separator: "\n").suffix(6).joined(separator: "\n")
            return Run(status: status, output: result.closureResult, tail: lines.isEmpty ? "(no output)" : lines)
        } catch {
            throw CannotStart(executable: executable, reason: "\(error)")
        }
    }
}
