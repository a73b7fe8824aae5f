import ArgumentParser
import Crucible
import Foundation

/// How a command finds its tools: the workspace the standard tools work in, and the
/// project's configured command tools (crucible.toml or [tool.crucible] in pyproject.toml).
struct ToolOptions: ParsableArguments {
    @Option(help: "The folder the standard tools may read (and write, with --allow-writes). Default: the current folder.")
    var workspace: String?

    @Flag(help: "Let write_file change files in the workspace (off by default).")
    var allowWrites = false

    @Flag(help: "Offer no standard tools (files, git, ruff, ty, pytest); only configured and client tools.")
    var noStandardTools = false

    @Option(help: "Tool calls one execution may make.")
    var maxToolCalls: Int = 100

    @Option(help: "Seconds one tool call may take.")
    var toolTimeout: Double = 30

    func validate() throws {
        try SettingRange.toolCalls.validate(maxToolCalls, flag: "--max-tool-calls")
        try SettingRange.toolTimeout.validate(toolTimeout, flag: "--tool-timeout")
    }

    /// The project's settings, command tools and artifact kinds, read once for the command.
    func loadProject() throws -> ProjectConfiguration {
        do {
            let kinds = try ArtifactKind.locateDirectory(SandboxConfiguration())
            return try ProjectConfiguration.load(from: root, kindsDirectory: kinds)
        } catch { throw ValidationError("\(error)") }
    }

    /// The toolbox, plus the standard tools' owner (to shut its pytest sandbox down).
    func makeToolbox(sandbox: Sandbox, project: ProjectConfiguration) throws -> (Toolbox, StandardTools?) {
        var limits = ToolLimits()
        limits.callsPerExecution = maxToolCalls
        limits.perCallTimeout = SettingRange.toolTimeout.duration(toolTimeout)
        do {
            let space = try Workspace(root: root, allowWrites: allowWrites)
            var toolbox = Toolbox()
            toolbox.limits = limits
            var standard: StandardTools?
            if !noStandardTools {
                standard = try StandardTools(workspace: space, sandbox: sandbox.configuration, limits: limits)
                toolbox = standard!.toolbox
            }
            for tool in try CommandTool.all(project) { try toolbox.add(tool) }
            return (toolbox, standard)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// The workspace root: --workspace, else the current folder.
    var root: String { workspace ?? FileManager.default.currentDirectoryPath }
}
