import Foundation

/// A real git repository made for one test: two commits by different authors, then
/// uncommitted changes of every kind.
package struct GitFixture {
    package let root: String

    package init() throws {
        root = NSTemporaryDirectory() + "crucible-ws-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try git("init", "-q", "-b", "main")
        write("app.py", "def add(a, b):\n    return a + b\n")
        write("README.md", "hello\n")
        try git("add", ".")
        try git("-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com", "commit", "-q", "-m", "First commit",
                "--date=2024-01-02T03:04:05+00:00")
        write("app.py", "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n")
        try git("add", "app.py")
        try git("-c", "user.name=Grace Hopper", "-c", "user.email=grace@example.com", "commit", "-q", "-m",
                "Add sub\n\nA body line.", "--date=2024-02-03T04:05:06+00:00")
    }

    package func write(_ name: String, _ text: String) {
        let path = root + "/" + name
        try? FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    }

    @discardableResult
    package func git(_ arguments: String...) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = ["-C", root] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    package func remove() { try? FileManager.default.removeItem(atPath: root) }
}
