import Foundation

/// The prompt text that tells a model how to use code mode with a set of tools.
public enum ToolPrompt {
    /// `api` is the Python API as the sandbox renders it (`Sandbox.describe`).
    public static func render(api: String) -> String {
        """
        Write Python 3.11 code to do the task. It runs in a sandbox: no network, no subprocesses, \
        no writes outside what the tools allow. The value of the last expression is returned; \
        print() output is returned too. Call the tools below like ordinary functions; they are \
        already in scope.

        ```python
        \(api.trimmingCharacters(in: .newlines))
        ```
        """
    }
}
