import CrucibleWire
import Foundation

/// What a model reads after a failed attempt: the structured findings (rule, line, message,
/// hint, the offending line) or the runtime failure. For the retry loop with the budget left
/// (`render`), for an agent's tool call with the call to make again (`forToolCall`). Rendered
/// from the structured record, so an export can render it again in another wording.
public enum Feedback {
    static let preamble = "Your previous response failed the application's validation "
        + "(this is automated feedback, not a message from the user)."

    public static func render(
        diagnostics: [Diagnostic], runtimeFailure: String?, code: String, attempt: Int, maxAttempts: Int
    ) -> String {
        let left = maxAttempts - attempt
        return preamble + "\n" + findings(diagnostics: diagnostics, runtimeFailure: runtimeFailure, code: code)
            + "\nThat was attempt \(attempt) of \(maxAttempts); \(left) left. Fix every problem above and reply "
            + "with the whole corrected code in one ```python block."
    }

    /// The same findings for an agent that called a tool (MCP's run_python, serve's execute):
    /// what failed and where, the hints, and what to call next; no budget, no reply format.
    public static func renderForToolCall(
        tool: String, diagnostics: [Diagnostic], runtimeFailure: String?, code: String
    ) -> String {
        let what = runtimeFailure == nil ? "Crucible's validators found errors" : "The code failed in Crucible's sandbox"
        return "\(tool): \(what) (automated feedback).\n"
            + findings(diagnostics: diagnostics, runtimeFailure: runtimeFailure, code: code)
            + "\nFix every problem above and call \(tool) again with the whole corrected code."
    }

    /// The findings with the offending lines and hints, and the runtime failure.
    static func findings(diagnostics: [Diagnostic], runtimeFailure: String?, code: String) -> String {
        var text = ""
        let lines = code.split(separator: "\n", omittingEmptySubsequences: false)
        if !diagnostics.isEmpty {
            text += "\n<diagnostics>\n"
            for diagnostic in diagnostics {
                text += "line \(diagnostic.line), column \(diagnostic.column): \(diagnostic.rule) \(diagnostic.message)\n"
                if diagnostic.line >= 1 && diagnostic.line <= lines.count {
                    text += "    \(diagnostic.line) | \(lines[diagnostic.line - 1])\n"
                }
                if !diagnostic.hint.isEmpty { text += "    fix: \(diagnostic.hint)\n" }
            }
            text += "</diagnostics>\n"
        }
        if let runtimeFailure {
            text += "\n<execution>\n\(runtimeFailure.trimmingCharacters(in: .newlines))\n</execution>\n"
        }
        return text
    }

    /// What an agent reads about a failed execution (nil when it passed).
    public static func forToolCall(_ result: ExecutionResult, code: String, tool: String) -> String? {
        guard result.outcome != .ok else { return nil }
        return renderForToolCall(tool: tool, diagnostics: [], runtimeFailure: describe(result, expectation: nil), code: code)
    }

    /// What an agent reads about validation errors (nil when there are none).
    public static func forToolCall(_ diagnostics: [Diagnostic], code: String, tool: String) -> String? {
        let errors = diagnostics.filter { $0.severity == "error" }
        guard !errors.isEmpty else { return nil }
        return renderForToolCall(tool: tool, diagnostics: errors, runtimeFailure: nil, code: code)
    }

    /// A runtime failure as the model should see it: what ended the run, where, and the output tail.
    package static func describe(_ result: ExecutionResult, expectation: String?) -> String {
        var text = ""
        if let expectation {
            text += expectation + "\n"
        } else {
            text += "The code ran and ended with: \(result.outcome.description)\n"
        }
        if let error = result.error {
            let tail = error.traceback.split(separator: "\n").suffix(12).joined(separator: "\n")
            text += tail.isEmpty ? "\(error.type): \(error.message)\n" : tail + "\n"
        }
        if !result.stderr.isEmpty { text += "stderr (last lines):\n" + result.stderr.split(separator: "\n").suffix(8).joined(separator: "\n") + "\n" }
        return text
    }
}
