import Foundation

/// The ModelRetry message sent after a failed attempt: the structured findings (rule, line,
/// message, hint, the offending line) or the runtime failure, and the budget left. Rendered
/// from the structured record, so an export can render it again in another wording.
public enum RetryFeedback {
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

    /// A runtime failure as the model should see it: what ended the run, where, and the output tail.
    static func describe(_ result: ExecutionResult, expectation: String?) -> String {
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
