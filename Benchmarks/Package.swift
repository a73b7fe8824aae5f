// swift-tools-version: 6.0
import PackageDescription

// Benchmarks live apart from the tests and from the library's dependencies.
let package = Package(
    name: "CrucibleBenchmarks",
    // `crucible` is a link to the repository root, so the identity is stable whatever the clone is called.
    dependencies: [.package(path: "crucible")],
    targets: [
        .executableTarget(
            name: "crucible-bench", dependencies: [.product(name: "Crucible", package: "crucible")],
            // A top-level measuring script; strict concurrency checking buys nothing here.
            swiftSettings: [.swiftLanguageMode(.v5)])
    ]
)
