import CrucibleSandbox
import CrucibleWire
import Foundation

/// The standard toolset: files, git, ruff, ty and pytest, all confined to one workspace.
public final class StandardTools: Sendable {
    public let workspace: Workspace
    /// The project-local folder where scripts/setup installs ruff, ty and pytest.
    public let toolsDirectory: String?
    public let toolbox: Toolbox
    private let pytest: PytestTool

    /// - Parameters:
    ///   - toolsDirectory: where ruff, ty and pytest are installed; nil looks for `.crucible/tools`
    ///     beside the Sandbox folder (the checkout scripts/setup installed into), then PATH.
    ///   - sandbox: the configuration the confined pytest sandbox starts from.
    public init(
        workspace: Workspace, toolsDirectory: String? = nil, sandbox: SandboxConfiguration = SandboxConfiguration(),
        limits: ToolLimits = ToolLimits()
    ) throws {
        self.workspace = workspace
        let located = toolsDirectory ?? Self.defaultToolsDirectory(sandbox)
        self.toolsDirectory = located
        pytest = PytestTool(
            workspace: workspace, toolsDirectory: located, configuration: sandbox,
            wallClock: max(.seconds(1), limits.perCallTimeout - .milliseconds(500)))
        toolbox = try Toolbox(
            FileTools.all(workspace) + GitTools.all(workspace) + [
                RuffTool.make(workspace, toolsDirectory: located),
                TypecheckTool.make(workspace, toolsDirectory: located),
                pytest.tool(),
            ], limits: limits)
    }

    /// `.crucible/tools` in the folder that holds `Sandbox/`, when it exists.
    static func defaultToolsDirectory(_ configuration: SandboxConfiguration) -> String? {
        guard let sandbox = try? configuration.resolvedPaths().sandbox else { return nil }
        let candidate = URL(fileURLWithPath: sandbox).deletingLastPathComponent().appendingPathComponent(".crucible/tools").path
        return FileManager.default.fileExists(atPath: candidate) ? candidate : nil
    }

    /// Runs a generated pytest module confined against the workspace (the `test` kind's
    /// runtime check); the result has pytest_run's TestResult shape.
    public func runGeneratedTest(_ source: String) throws -> JSONValue { try pytest.runGenerated(source) }

    /// Stops the confined pytest sandbox, if one was started.
    public func shutdown() { pytest.shutdown() }
}
