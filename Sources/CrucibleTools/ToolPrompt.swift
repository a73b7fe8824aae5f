import Foundation

/// The prompt text that tells a model how to use code mode with a set of tools.
public enum ToolPrompt {
    /// `api` is the Python API as the sandbox renders it (`Sandbox.describe`).
    /// `packages` are the third-party distributions installed for the code (name -> version).
    /// `python` is the interpreter's version as its report gives it ("3.14.10"): the model
    /// must know it may write t-strings (3.14) or may not.
    public static func render(api: String, packages: [String: String] = [:], python: String) -> String {
        """
        Write Python \(minorVersion(python)) code to do the task. It runs in a sandbox: no network, no subprocesses, \
        no writes outside what the tools allow. The value of the last expression is returned; \
        print() output is returned too. \(packagesSentence(packages))Call the tools below like \
        ordinary functions; they are already in scope.

        ```python
        \(api.trimmingCharacters(in: .newlines))
        ```
        """
    }

    /// "3.14" of "3.14.10"; the text as it is when it is not a version.
    public static func minorVersion(_ version: String) -> String {
        let parts = version.split(separator: ".")
        return parts.count >= 2 ? parts.prefix(2).joined(separator: ".") : version
    }

    /// "Besides the standard library you can import: attrs 25.1.0. " (empty without packages).
    public static func packagesSentence(_ packages: [String: String]) -> String {
        guard !packages.isEmpty else { return "Only the standard library can be imported. " }
        return "Besides the standard library you can import: "
            + packages.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ". "
    }
}
