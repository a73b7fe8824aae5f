import CrucibleWire
import Foundation

/// A project's Crucible settings, read once and handed to whoever needs them: `crucible.toml`,
/// or `[tool.crucible]` in `pyproject.toml` (the first one found), and the artifact kinds
/// (`Corpus/kinds/*.toml`, then the project's own `[tool.crucible.kinds.NAME]`).
public struct ProjectConfiguration: Sendable {
    /// The project folder.
    public var directory: String
    /// The file the settings came from; nil when there is none.
    public var source: String?
    /// The whole settings table, for readers with settings of their own (the validators' rules).
    public var settings: JSONValue = .object([:])
    /// `[[tool.crucible.tools]]`: commands offered to the sandbox as typed tools.
    public var commandTools: [CommandToolDeclaration] = []
    /// Artifact kinds by name.
    public var kinds: [String: ArtifactKind] = [:]

    public struct Problem: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// No settings file: the defaults, and the built-in kinds when `kindsDirectory` is given.
    public init(directory: String, kindsDirectory: String? = nil) throws {
        self.directory = directory
        if let kindsDirectory { kinds = try ArtifactKind.load(directory: kindsDirectory) }
    }

    /// Reads the settings in `directory` and the kinds in `kindsDirectory` (nil: no built-in kinds).
    public static func load(from directory: String, kindsDirectory: String?) throws -> ProjectConfiguration {
        var configuration = try ProjectConfiguration(directory: directory, kindsDirectory: kindsDirectory)
        for (name, nested) in [("crucible.toml", false), ("pyproject.toml", true)] {
            let path = directory + "/" + name
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            let table: JSONValue
            do { table = try TOMLDocument.parse(text, path: path) } catch { throw Problem(description: "\(error)") }
            guard let settings = nested ? table["tool"]?["crucible"] : table else { continue }  // no [tool.crucible]
            guard case .object = settings else { throw Problem(description: "\(path): [tool.crucible] must be a table") }
            configuration.source = path
            configuration.settings = settings
            configuration.commandTools = try CommandToolDeclaration.all(in: settings, source: path)
            if case .object(let own)? = settings["kinds"] {
                for (name, kind) in own.sorted(by: { $0.key < $1.key }) {
                    configuration.kinds[name] = try ArtifactKind(name: name, table: kind, source: "\(path): [tool.crucible.kinds.\(name)]")
                }
            }
            break
        }
        return configuration
    }

    /// A list of strings under `key` in the settings (`rulesets`, `select`, `ignore`, `rule_modules`).
    public func strings(_ key: String) throws -> [String] {
        guard let value = settings[key] else { return [] }
        guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
            throw Problem(description: "\(source ?? directory): \(key) must be a list of strings")
        }
        return items.compactMap(\.stringValue)
    }
}

/// A command tool as declared: the program, its argv template, its contract's schemas, its timeout.
public struct CommandToolDeclaration: Sendable, Equatable {
    public var name: String
    public var description: String
    public var command: [String]
    public var inputSchema: JSONValue
    public var outputSchema: JSONValue?
    public var timeout: Duration
    /// Where it was declared, for errors (`pyproject.toml: tools[0]`).
    public var place: String

    static func all(in settings: JSONValue, source: String) throws -> [CommandToolDeclaration] {
        guard let entries = settings["tools"] else { return [] }
        guard let list = entries.arrayValue else { throw ProjectConfiguration.Problem(description: "\(source): tools must be a list of tables") }
        return try list.enumerated().map { index, entry in
            let place = "\(source): tools[\(index)]"
            guard let name = entry["name"]?.stringValue else { throw ProjectConfiguration.Problem(description: "\(place) needs a name") }
            guard let command = entry["command"]?.arrayValue?.compactMap(\.stringValue), !command.isEmpty,
                command.count == entry["command"]?.arrayValue?.count
            else {
                throw ProjectConfiguration.Problem(description: "\(place) (\(name)): command must be a non-empty list of strings")
            }
            var timeout: Duration = .seconds(30)
            if let given = entry["timeout"] {
                do { timeout = try SettingRange.toolTimeout.seconds(SettingRange.toolTimeout.check(json: given, as: "\(place).timeout")) } catch {
                    throw ProjectConfiguration.Problem(description: "\(error)")
                }
            }
            return CommandToolDeclaration(
                name: name, description: entry["description"]?.stringValue ?? "", command: command,
                inputSchema: entry["input_schema"] ?? ["type": "object"], outputSchema: entry["output_schema"],
                timeout: timeout, place: place)
        }
    }
}
