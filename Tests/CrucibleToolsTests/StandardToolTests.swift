import Crucible
import CrucibleTesting
import Foundation
import Testing

@Suite("Standard tools", .serialized)
struct StandardToolTests {
    let sandbox = TestSandboxes.confined

    /// Through the async `run`: the tools that start programs are async, and a test (on the
    /// cooperative pool) that blocked in `execute` would hold a thread they may need.
    func run(_ code: String, _ tools: StandardTools) async -> ExecutionResult {
        var limits = ExecutionLimits()
        limits.wallClock = .seconds(60)
        return await sandbox.run(code, limits: limits, tools: tools.toolbox)
    }

    @Test("git_log fields come from real git, and the trace shows which were read")
    func gitLog() async throws {
        let fixture = try GitFixture()
        defer { fixture.remove() }
        let tools = try StandardTools(workspace: Workspace(root: fixture.root))
        let hashes = try fixture.git("log", "--format=%H").split(separator: "\n").map(String.init)
        let result = await run(
            "log = git_log()\n[(c.hash, c.author, c.email, c.date, c.subject) for c in log.commits]", tools)
        #expect(result.outcome == .ok, "\(result.error?.traceback ?? "")")
        #expect(result.value?.json == [
            [.string(hashes[0]), "Grace Hopper", "grace@example.com", "2024-02-03T04:05:06+00:00", "Add sub"],
            [.string(hashes[1]), "Ada Lovelace", "ada@example.com", "2024-01-02T03:04:05+00:00", "First commit"],
        ])
        #expect(result.trace.fieldsRead(from: "git_log") == [
            "commits", "commits[].hash", "commits[].author", "commits[].email", "commits[].date", "commits[].subject",
        ])
    }

    @Test("git_status and git_diff report real changes: staged, unstaged, untracked, hunks and counts")
    func statusAndDiff() async throws {
        let fixture = try GitFixture()
        defer { fixture.remove() }
        fixture.write("app.py", "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return b - a\n")
        fixture.write("new.py", "x = 1\n")
        fixture.write("README.md", "hello\nworld\n")
        try fixture.git("add", "README.md")
        let tools = try StandardTools(workspace: Workspace(root: fixture.root))
        let result = await run(
            """
            s = git_status()
            d = git_diff()
            staged = git_diff(staged=True)
            h = d.files[0].hunks[0]
            [s.clean, s.branch, sorted((f.file, f.status, f.staged) for f in s.files),
             d.file_count, d.files[0].file, d.additions, d.deletions, h.old_start, h.new_start, h.lines,
             staged.files[0].file, staged.additions]
            """, tools)
        #expect(result.outcome == .ok, "\(result.error?.traceback ?? "")")
        #expect(result.value?.json == [
            false, "main",
            [["README.md", "modified", true], ["app.py", "modified", false], ["new.py", "untracked", false]],
            1, "app.py", 1, 1, 3, 3,
            [" ", " ", " def sub(a, b):", "-    return a - b", "+    return b - a"],
            "README.md", 1,
        ])
    }

    @Test("paths that leave the workspace are refused: .., absolute paths, symlinks out")
    func workspaceEscapes() async throws {
        let fixture = try GitFixture()
        defer { fixture.remove() }
        symlink("/etc", fixture.root + "/etc-link")
        symlink("/etc/passwd", fixture.root + "/passwd-link")
        let tools = try StandardTools(workspace: Workspace(root: fixture.root))
        for path in ["../../etc/passwd", "/etc/passwd", "etc-link/passwd", "passwd-link", "a/../../x"] {
            let result = await run("read_file(\(JSONValue.string(path).jsonText))", tools)
            #expect(result.error?.type == "ToolError", "\(path)")
            #expect(result.error?.message.contains("outside the workspace") == true, "\(path): \(result.error?.message ?? "")")
        }
        let inside = await run("read_file('app.py').content", tools)
        #expect(inside.value?.json == "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n")
        let listed = await run("[f.path for f in list_files().files]", tools)
        #expect(listed.value?.json == ["README.md", "app.py", "etc-link", "passwd-link"])
    }

    @Test("writing is off unless enabled, and .git stays unwritable even then")
    func writes() async throws {
        let fixture = try GitFixture()
        defer { fixture.remove() }
        let readOnly = try StandardTools(workspace: Workspace(root: fixture.root))
        #expect(!readOnly.toolbox.contracts.map(\.name).contains("write_file"))
        let refused = await run("write_file('out.txt', 'x')", readOnly)
        #expect(refused.error?.type == "NameError")
        #expect(!FileManager.default.fileExists(atPath: fixture.root + "/out.txt"))

        let writable = try StandardTools(workspace: Workspace(root: fixture.root, allowWrites: true))
        let written = await run("write_file('pkg/out.txt', 'hello').bytes_written", writable)
        #expect(written.value?.json == 5)
        #expect((try? String(contentsOfFile: fixture.root + "/pkg/out.txt", encoding: .utf8)) == "hello")
        let hook = await run("write_file('.git/hooks/pre-commit', '#!/bin/sh\\necho pwned')", writable)
        #expect(hook.error?.message.contains("inside .git") == true)
        let escape = await run("write_file('../evil.txt', 'x')", writable)
        #expect(escape.error?.message.contains("outside the workspace") == true)
    }

    @Test("ruff_check runs the real ruff and parses its JSON")
    func ruff() async throws {
        let fixture = try GitFixture()
        defer { fixture.remove() }
        fixture.write("bad.py", "import os\nx = 1\nif x == None:\n    pass\n")
        // The workspace's own ruff configuration applies (and keeps any config above /tmp out).
        fixture.write("ruff.toml", "[lint]\nselect = [\"E\", \"F\"]\n")
        let tools = try StandardTools(workspace: Workspace(root: fixture.root))
        let result = await run(
            "r = ruff_check(['bad.py'])\n[r.success, r.violation_count, [(v.file, v.line, v.column, v.code) for v in r.violations], r.fixable_count >= 1]",
            tools)
        #expect(result.outcome == .ok, "\(result.error?.traceback ?? "")")
        #expect(result.value?.json == [false, 2, [["bad.py", 1, 8, "F401"], ["bad.py", 3, 9, "E711"]], true])
        let clean = await run("ruff_check(['app.py']).success", tools)
        #expect(clean.value?.json == true)
    }

    @Test("typecheck runs the real ty and parses its diagnostics")
    func typecheck() async throws {
        let fixture = try GitFixture()
        defer { fixture.remove() }
        fixture.write("typed.py", "x: int = 'a'\nprint(undefined_name)\n")
        let tools = try StandardTools(workspace: Workspace(root: fixture.root))
        let result = await run(
            "t = typecheck(['typed.py'])\n[t.success, t.error_count, [(e.file, e.line, e.code) for e in t.errors]]", tools)
        #expect(result.outcome == .ok, "\(result.error?.traceback ?? "")")
        #expect(result.value?.json == [
            false, 2, [["typed.py", 1, "invalid-assignment"], ["typed.py", 2, "unresolved-reference"]],
        ])
    }

    @Test("a tool whose program is missing says how to install it")
    func missingProgram() async throws {
        let fixture = try GitFixture()
        defer { fixture.remove() }
        let scratch = ScratchFolder("crucible-no-tools")
        let empty = scratch.path
        let tools = try StandardTools(workspace: Workspace(root: fixture.root), toolsDirectory: empty)
        let ty = await run("typecheck()", tools)
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/ty") || FileManager.default.isExecutableFile(atPath: "/usr/local/bin/ty") {
            return  // a system-wide ty exists; the missing case cannot be shown here
        }
        #expect(ty.error?.message.contains("ty is not installed: run scripts/setup") == true, "\(ty.error?.message ?? "")")
        let pytest = await run("pytest_run()", tools)
        #expect(pytest.error?.message.contains("pytest is not installed: run scripts/setup") == true)
    }
}

@Suite("Confined pytest", .serialized)
struct PytestToolTests {
    @Test("pytest_run reports each test from a real pytest run")
    func results() throws {
        let fixture = try GitFixture()
        defer { fixture.remove() }
        fixture.write("test_app.py", """
            import pytest
            from app import add, sub

            def test_add():
                assert add(1, 2) == 3

            def test_sub_wrong():
                assert sub(3, 1) == 1

            @pytest.mark.skip(reason="later")
            def test_skipped():
                pass

            @pytest.fixture
            def broken():
                raise RuntimeError("fixture failed")

            def test_error(broken):
                pass
            """)
        let tools = try StandardTools(workspace: Workspace(root: fixture.root))
        defer { tools.shutdown() }
        var limits = ExecutionLimits()
        limits.wallClock = .seconds(60)
        let result = TestSandboxes.confined.execute(
            "r = pytest_run()\n[r.success, r.passed, r.failed, r.errors, r.skipped, sorted((t.name, t.outcome) for t in r.tests), r.parse_error]",
            limits: limits, tools: tools.toolbox)
        #expect(result.outcome == .ok, "\(result.error?.traceback ?? "")")
        #expect(result.value?.json == [
            false, 1, 1, 1, 1,
            [["test_app.py::test_add", "passed"], ["test_app.py::test_error", "error"],
             ["test_app.py::test_skipped", "skipped"], ["test_app.py::test_sub_wrong", "failed"]],
            nil,
        ])
        // Caches are off and the workspace is read-only: the run left nothing behind.
        #expect(!FileManager.default.fileExists(atPath: fixture.root + "/.pytest_cache"))
        #expect(!FileManager.default.fileExists(atPath: fixture.root + "/__pycache__"))
    }

    @Test("tests run confined: a test that writes or spawns is stopped, unlike a plain pytest")
    func confinement() throws {
        let fixture = try GitFixture()
        defer { fixture.remove() }
        let marker = fixture.root + "/pwned"
        fixture.write("test_evil.py", """
            import os, socket, subprocess

            def test_write():
                open(\(JSONValue.string(marker).jsonText), "w").write("x")

            def test_spawn():
                subprocess.run(["/bin/true"])
            """)
        let tools = try StandardTools(workspace: Workspace(root: fixture.root))
        defer { tools.shutdown() }
        var limits = ExecutionLimits()
        limits.wallClock = .seconds(60)
        let result = TestSandboxes.confined.execute(
            "r = pytest_run()\nsorted((t.name, t.outcome, (t.message or '').splitlines()[-1] if t.message else '') for t in r.tests)",
            limits: limits, tools: tools.toolbox)
        #expect(result.outcome == .ok, "\(result.error?.traceback ?? "")")
        guard case .array(let tests)? = result.value?.json else {
            Issue.record("no report")
            return
        }
        #expect(tests.count == 2)
        #expect(tests.allSatisfy { $0.arrayValue?[1] == "failed" }, "\(tests)")
        #expect(tests == [
            ["test_evil.py::test_spawn", "failed", "/usr/lib/python3.11/subprocess.py:1834: PermissionError"],
            ["test_evil.py::test_write", "failed", "test_evil.py:4: PermissionError"],
        ])
        #expect(!FileManager.default.fileExists(atPath: marker))

        // Control: the same tests under a plain host pytest do write the marker.
        let pytest = FileManager.default.currentDirectoryPath + "/.crucible/tools/bin/pytest"
        if FileManager.default.isExecutableFile(atPath: pytest) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3.11")
            process.arguments = ["-c", "import sys; sys.path.insert(0, sys.argv[1]); import pytest; pytest.main(['-q', '-p', 'no:cacheprovider', sys.argv[2]])",
                                 FileManager.default.currentDirectoryPath + "/.crucible/tools", fixture.root + "/test_evil.py"]
            process.currentDirectoryURL = URL(fileURLWithPath: fixture.root)
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            #expect(FileManager.default.fileExists(atPath: marker))
        }
    }

    @Test("a configured command past its timeout is killed: the code gets ToolError and no process is left")
    func commandToolTimeout() async throws {
        let scratch = Scratch()
        defer { try? FileManager.default.removeItem(atPath: scratch.path) }
        scratch.write("pyproject.toml", """
            [[tool.crucible.tools]]
            name = "slow"
            command = ["sleep", "600"]
            timeout = 0.5
            """)
        let project = try ProjectConfiguration.load(from: scratch.path, kindsDirectory: nil)
        let tools = try Toolbox(CommandTool.all(project))
        let result = await TestSandboxes.confined.run("try:\n    slow()\nexcept ToolError as e:\n    print(e)", tools: tools)
        #expect(result.outcome == .ok, "\(result.error?.traceback ?? "")")
        #expect(result.stdout.contains("sleep took longer than 0.5 seconds"), "\(result.stdout)")
        // The call returns once the program is reaped, so none is left to find.
        let sleepers = childProcesses(of: getpid()).filter {
            (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8))?.hasPrefix("sleep") == true
        }
        #expect(sleepers.isEmpty, "still running: \(sleepers)")
    }
}
