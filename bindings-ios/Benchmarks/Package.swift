// swift-tools-version: 6.0
// The Swift figures of SPEC §9 (swift_allows_ns, swift_record_event_us,
// swift_record_events_100_us, swift_open_caller_ms), measured through the
// public API of the package one level up, built with `-c release`. Run by
// `bindings-ios/swift-test.sh --bench`, which writes
// target/consentgate-swift-bench.json for the Rust report. A package of its
// own, so the normal test build never compiles it.
import PackageDescription

let package = Package(
    name: "ConsentGateBench",
    dependencies: [.package(name: "ConsentGate", path: "..")],
    targets: [
        .executableTarget(
            name: "ConsentGateBench",
            dependencies: [.product(name: "ConsentGate", package: "ConsentGate")],
            path: "Sources/ConsentGateBench"
        ),
    ],
    swiftLanguageModes: [.v6]
)
