// swift-tools-version: 6.0
// The Swift demo of consentgate: a command-line program that uses the
// `ConsentGate` package (../../bindings-ios) the way an iOS app does, against
// the reference collector. Run it with examples/swift-demo/run.sh, which
// builds the core and generates the bindings the package needs first.
import PackageDescription

let package = Package(
    name: "ConsentGateDemo",
    dependencies: [.package(name: "ConsentGate", path: "../../bindings-ios")],
    targets: [
        .executableTarget(
            name: "ConsentGateDemo",
            dependencies: [.product(name: "ConsentGate", package: "ConsentGate")],
            path: "Sources/ConsentGateDemo"
        ),
    ],
    swiftLanguageModes: [.v6]
)
