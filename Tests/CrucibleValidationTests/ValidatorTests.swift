import Crucible
import CrucibleTesting
import Foundation
import Testing

/// The validators as the retry loop calls them: on a string in memory, no files.
@Suite("Validators from Swift")
struct ValidatorTests {
    static let validator = try! Validator()

    @Test("an in-memory view with the typical mistakes gets precise findings; the fix gets none")
    func inMemory() throws {
        let bad = """
            @view
            def profile(name: str) -> Element:
                return html(f"<p>{name}</p>")
            """
        let findings = try Self.validator.validate(source: bad, path: "<attempt 1>")
        #expect(findings.map { "\($0.rule)@\($0.line):\($0.column)" } == ["VIEW005@2:1", "VIEW006@3:17"])
        #expect(findings.last?.hint == "write html(t\"...\"): only t-string interpolations are escaped")
        #expect(findings.allSatisfy { $0.path == "<attempt 1>" })

        let fixed = """
            @view
            def profile_view(name: str) -> Element:
                return html(t"<p>{name}</p>")
            """
        #expect(try Self.validator.validate(source: fixed).isEmpty)
    }

    @Test("project rules (svcs) run on a single in-memory string too")
    func projectRulesInMemory() throws {
        let service = """
            import svcs

            class Database: ...

            def connect(url: str) -> Database:
                return Database()

            registry = svcs.Registry()
            registry.register_factory(Database, connect)
            """
        let findings = try Self.validator.validate(source: service, path: "<service>")
        #expect(findings.map { "\($0.rule)@\($0.line)" } == ["SVCS003@9"])
        #expect(findings.first?.message == "connect requires 'url', which svcs does not pass")
        let fixed = service.replacingOccurrences(of: "url: str", with: "svcs_container: svcs.Container")
        #expect(try Self.validator.validate(source: fixed).isEmpty)
    }

    @Test("a syntax error is a finding with a position, not a failure")
    func syntaxError() throws {
        let findings = try Self.validator.validate(source: "def broken(:\n    pass\n")
        #expect(findings.map(\.rule) == ["SYNTAX"])
        #expect(findings.first?.line == 1)
    }

    @Test("many files are validated in parallel batches and come back sorted")
    func manyFiles() throws {
        let files = (0..<40).map { index in
            (path: "f\(String(format: "%02d", index)).py",
             source: index % 2 == 0 ? "x = html('<p></p>')\n" : "x = html(t'<p></p>')\n")
        }
        let findings = try Self.validator.validate(files: files)
        #expect(findings.count == 20)
        #expect(findings.map(\.path) == files.enumerated().filter { $0.offset % 2 == 0 }.map(\.element.path))
        #expect(Set(findings.map(\.rule)) == ["VIEW006"])
    }
}
