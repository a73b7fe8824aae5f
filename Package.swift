// swift-tools-version: 6.0
import Foundation
import PackageDescription

// Crucible: a Swift host that runs model-written Python in kernel-confined CPython workers.
//
// The targets are the pipeline, each depending only on those before it (docs/ARCHITECTURE.md):
//
//   CrucibleWire           the one JSON model, the record types, the worker wire protocol, JSON-RPC lines
//   CrucibleSandbox        the zygote, the worker pool, executions and sessions, confinement settings
//   CrucibleConfiguration  a project's settings ([tool.crucible], crucible.toml, artifact kinds), read once
//   CrucibleTools          tool contracts and their checks, the standard and configured tools, MCP servers' tools
//   CrucibleValidation     the domain rules (Validators/) run in confined workers, and feedback for a model
//   CrucibleGeneration     model clients and the retry loop
//   CrucibleCorpus         the SQLite corpus, its gates, exports, stats and report
//   CrucibleServe          `crucible serve`: JSON-RPC 2.0 for agents in any language
//   CrucibleMCP            `crucible mcp`: the same as an MCP server
//   CrucibleHTTP           `crucible http`: the serve methods and SandboxFusion's /run_code over HTTP
//   Crucible               the library: all of the above under one import
//   CrucibleCLI            `crucible`
//
// Beside them: CPython, CSeccomp (system libraries), CSandboxKernel (the syscalls Swift cannot
// make), CCellCompiler (CPython C-API code for the zygote: cells compiled on the C AST, the heap made
// immortal before forking), CrucibleZygote (`crucible-zygote`,
// the fork server that embeds CPython), and CrucibleTesting (what the test targets share).

/// How the zygote links CPython. Debian's own `python3.X` executable links libpython
/// statically, without position-independent code; the shared libpython3.X.so runs the same
/// Python code slower (PIC and interposable calls; BENCHMARKS.md, "Design measurements":
/// static libpython). So where
/// libpython3-dev's static archive is installed the zygote links it the same way (non-PIE,
/// the whole archive, symbols exported for the extension modules in lib-dynload), and
/// falls back to the shared library otherwise.
func zygotePythonLinkerSettings() -> [LinkerSetting] {
    // Debian's multiarch layout: /usr/lib/<triplet>/pkgconfig/python3.pc names the version.
    let triplets = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib")) ?? []).filter { $0.hasSuffix("-linux-gnu") }
    for triplet in triplets.sorted() {
        guard let pc = try? String(contentsOfFile: "/usr/lib/\(triplet)/pkgconfig/python3.pc", encoding: .utf8),
            let line = pc.split(separator: "\n").first(where: { $0.hasPrefix("Version:") })
        else { continue }
        let version = line.dropFirst("Version:".count).trimmingCharacters(in: .whitespaces)
        let archive = "/usr/lib/python\(version)/config-\(version)-\(triplet)/libpython\(version).a"
        guard FileManager.default.fileExists(atPath: archive) else { return [.linkedLibrary("python\(version)")] }
        // scripts/install links the same archive pre-joined into one object (`ld -r --whole-archive`),
        // named here: a --static-swift-stdlib link hides the symbols of every archive it links
        // (--exclude-libs ALL), and the extension modules in lib-dynload need libpython's.
        let joined = ProcessInfo.processInfo.environment["CRUCIBLE_LIBPYTHON_OBJECT"].map { ["-Xlinker", $0] }
        return [
            .unsafeFlags(
                ["-Xclang-linker", "-no-pie", "-Xlinker", "-export-dynamic"]
                    + (joined ?? ["-Xlinker", "--whole-archive", archive, "-Xlinker", "--no-whole-archive"])),
            // What the archive's built-in modules need (python3.X-config --libs; pyexpat, zlib).
            .linkedLibrary("m"), .linkedLibrary("z"), .linkedLibrary("expat"), .linkedLibrary("dl"),
        ]
    }
    return [.linkedLibrary("python3")]  // no python3.pc: the build's own error names libpython3-dev
}

let grdb = Target.Dependency.product(name: "GRDB", package: "GRDB.swift")
let mcp = Target.Dependency.product(name: "MCP", package: "swift-sdk")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let toml = Target.Dependency.product(name: "TOMLKit", package: "TOMLKit")
let subprocess = Target.Dependency.product(name: "Subprocess", package: "swift-subprocess")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "Crucible",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Crucible", targets: ["Crucible"]),
        .executable(name: "crucible", targets: ["CrucibleCLI"]),
        .executable(name: "crucible-zygote", targets: ["CrucibleZygote"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // The corpus store: SQLite (Debian's libsqlite3-dev) in WAL mode with versioned migrations.
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        // `crucible mcp`: the official Swift MCP SDK, pinned exactly (its 0.x API still moves).
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", exact: "0.12.1"),
        // The MCP SDK's transport protocol names swift-log's Logger (already in the graph through the SDK).
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // Project settings (pyproject.toml, crucible.toml, Corpus/kinds): TOML read once, on the host.
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
        // Child processes (tools, MCP servers): spawned with a clean signal state, killed on cancellation.
        .package(url: "https://github.com/swiftlang/swift-subprocess", exact: "1.0.2"),
        // `crucible http`: the HTTP server (SwiftNIO underneath) and its Prometheus metrics.
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            // Headers only (python3.pc links nothing): the zygote links libpython itself.
            name: "CPython", pkgConfig: "python3",
            providers: [.apt(["libpython3-dev"])]),
        .systemLibrary(
            name: "CSeccomp", pkgConfig: "libseccomp",
            providers: [.apt(["libseccomp-dev"])]),
        .target(name: "CSandboxKernel"),
        // `compile_cell` for the worker (CPython's C AST, without the `ast` module's objects), and
        // the zygote's heap made immortal so that workers do not write to its pages.
        .target(name: "CCellCompiler", dependencies: ["CPython"]),
        .executableTarget(
            name: "CrucibleZygote",
            dependencies: ["CPython", "CCellCompiler", "CSeccomp", "CSandboxKernel", "CrucibleWire"],
            linkerSettings: zygotePythonLinkerSettings()),

        // The pipeline, in order: each target depends only on the ones above it.
        .target(name: "CrucibleWire"),
        .target(name: "CrucibleSandbox", dependencies: ["CrucibleWire", "CSandboxKernel", "CSeccomp", subprocess]),
        .target(name: "CrucibleConfiguration", dependencies: ["CrucibleWire", "CrucibleSandbox", toml]),
        .target(name: "CrucibleTools", dependencies: ["CrucibleWire", "CrucibleSandbox", "CrucibleConfiguration", mcp, logging, subprocess]),
        .target(name: "CrucibleValidation", dependencies: ["CrucibleWire", "CrucibleSandbox", "CrucibleConfiguration"]),
        .target(
            name: "CrucibleGeneration",
            dependencies: ["CrucibleWire", "CrucibleSandbox", "CrucibleConfiguration", "CrucibleTools", "CrucibleValidation"]),
        .target(name: "CrucibleCorpus", dependencies: ["CrucibleWire", "CrucibleValidation", "CrucibleGeneration", grdb]),
        .target(
            name: "CrucibleServe",
            dependencies: ["CrucibleWire", "CrucibleSandbox", "CrucibleConfiguration", "CrucibleTools", "CrucibleValidation",
                           "CrucibleCorpus"]),
        .target(
            name: "CrucibleMCP",
            dependencies: ["CrucibleWire", "CrucibleSandbox", "CrucibleConfiguration", "CrucibleTools", "CrucibleValidation",
                           "CrucibleGeneration", "CrucibleCorpus", mcp]),
        // `crucible http`: the serve methods over HTTP, plus SandboxFusion's /run_code. Not in
        // the library below: only the command needs Hummingbird and its NIO stack.
        .target(
            name: "CrucibleHTTP",
            dependencies: ["CrucibleWire", "CrucibleSandbox", "CrucibleServe",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Prometheus", package: "swift-prometheus")]),
        // The library: the stages above under one `import Crucible`.
        .target(
            name: "Crucible",
            dependencies: ["CrucibleWire", "CrucibleSandbox", "CrucibleConfiguration", "CrucibleTools", "CrucibleValidation",
                           "CrucibleGeneration", "CrucibleCorpus", "CrucibleServe", "CrucibleMCP"]),
        .executableTarget(name: "CrucibleCLI", dependencies: ["Crucible", "CrucibleHTTP", argumentParser]),

        // What the test targets share: sandboxes, fixtures, tools, a git repository.
        .target(name: "CrucibleTesting", dependencies: ["Crucible", "CSandboxKernel"], path: "Tests/CrucibleTesting"),
    ]
        // One test target per stage. Each depends on the zygote so that `swift test` builds it.
        + [
            ("CrucibleWireTests", "CrucibleWire"), ("CrucibleSandboxTests", "CrucibleSandbox"),
            ("CrucibleToolsTests", "CrucibleTools"), ("CrucibleValidationTests", "CrucibleValidation"),
            ("CrucibleCorpusTests", "CrucibleCorpus"), ("CrucibleMCPTests", "CrucibleMCP"),
        ].map { name, stage in
            .testTarget(name: name, dependencies: [.target(name: stage), "Crucible", "CrucibleTesting", "CrucibleZygote", mcp])
        }
)
