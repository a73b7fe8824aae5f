// swift-tools-version: 6.0
import PackageDescription

// Crucible: a Swift host that runs model-written Python in kernel-confined CPython workers.
//
// Module map (the pipeline, left to right):
//   CPython, CSeccomp      system libraries (Debian's libpython3-dev, libseccomp-dev)
//   CSandboxKernel         the raw syscalls Swift cannot call (Landlock, pidfd, seccomp load, fd passing)
//   CrucibleWire           frames and control messages shared by host, zygote and workers
//   CrucibleZygote         `crucible-zygote`: the single-threaded fork server that embeds CPython
//   Crucible               the library a Swift host embeds: sandbox, tools, validators, retry loop, corpus
//   CrucibleMCP            `crucible mcp`: the sandbox, validators and generation as MCP tools; other MCP
//                          servers' tools as typed Python functions inside the sandbox
//   CrucibleCLI            `crucible`: run, validate, generate, serve, corpus, tools, doctor, demo
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
    ],
    targets: [
        .systemLibrary(
            name: "CPython", pkgConfig: "python3-embed",
            providers: [.apt(["libpython3-dev"])]),
        .systemLibrary(
            name: "CSeccomp", pkgConfig: "libseccomp",
            providers: [.apt(["libseccomp-dev"])]),
        .target(name: "CSandboxKernel"),
        .target(name: "CrucibleWire"),
        .executableTarget(
            name: "CrucibleZygote",
            dependencies: ["CPython", "CSeccomp", "CSandboxKernel", "CrucibleWire"]),
        .target(
            name: "Crucible",
            dependencies: [
                "CSeccomp", "CSandboxKernel", "CrucibleWire", .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .target(
            name: "CrucibleMCP",
            dependencies: [
                "Crucible", "CSandboxKernel", .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "CrucibleCLI",
            dependencies: [
                "Crucible", "CrucibleMCP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(
            name: "CrucibleTests",
            // The zygote is a separate executable; depending on it makes `swift test` build it.
            dependencies: [
                "Crucible", "CrucibleMCP", "CrucibleZygote", "CSandboxKernel",
                .product(name: "MCP", package: "swift-sdk"),
            ]),
    ]
)
