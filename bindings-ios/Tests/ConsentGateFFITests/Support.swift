// Shared fixtures of the low-level binding tests: where the repository is, the
// example policy, fresh data directories and the reference collector process.
// Test support only; nothing here is part of the package's API.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking  // URLSession lives here on Linux
#endif
import XCTest
#if canImport(Glibc)
import Glibc
#endif

import ConsentGateFFI

/// The repository root: `CONSENTGATE_ROOT` (set by swift-test.sh) or three
/// levels above this file (bindings-ios/Tests/ConsentGateFFITests).
let repositoryRoot: URL = {
    if let root = ProcessInfo.processInfo.environment["CONSENTGATE_ROOT"], !root.isEmpty {
        return URL(fileURLWithPath: root, isDirectory: true)
    }
    return URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()
}()

/// The Kazakhstan example policy (examples/policies/example-kz.json) as text.
func examplePolicyJSON() throws -> String {
    let url = repositoryRoot.appendingPathComponent("examples/policies/example-kz.json")
    return try String(contentsOf: url, encoding: .utf8)
}

/// The example policy with `edit` applied to its parsed JSON object.
func editedPolicyJSON(_ edit: (inout [String: Any]) -> Void) throws -> String {
    let data = Data(try examplePolicyJSON().utf8)
    guard var object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw TestSetupError("examples/policies/example-kz.json is not a JSON object")
    }
    edit(&object)
    let edited = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    return String(decoding: edited, as: UTF8.self)
}

/// A failure of the test's own setup (a missing file or process), not of the code under test.
struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A fresh, empty directory under the system temporary directory, removed by
/// the test case's teardown.
func makeDataDirectory(for testCase: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("consentgate-swift-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

/// Opens a gate on `dataDir` with the given policy, region KZ.
func openGate(dataDir: URL, policyJSON: String) throws -> ConsentGate {
    try ConsentGate.open(config: GateConfig(
        dataDir: dataDir.path,
        policyJson: policyJSON,
        region: "KZ",
        appVersion: "1.0.0-swift-test"
    ))
}

/// The reference collector (`consentgate-collector`) as a child process on
/// 127.0.0.1 with a free port, killed by the test case's teardown.
final class CollectorProcess {
    /// Base URL the collector announced, e.g. `http://127.0.0.1:40123`.
    let baseURL: URL
    private let process: Process

    /// `CONSENTGATE_COLLECTOR` (set by swift-test.sh) or target/debug/consentgate-collector.
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["CONSENTGATE_COLLECTOR"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return repositoryRoot.appendingPathComponent("target/debug/consentgate-collector")
    }

    /// Starts the collector with its database in `directory` and waits (up to
    /// 10 s) for its `listening on URL` line.
    init(directory: URL, testCase: XCTestCase) throws {
        let binary = Self.binary
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw TestSetupError(
                "consentgate-collector not found at \(binary.path): run bindings-ios/swift-test.sh " +
                    "(it runs `cargo build -p consentgate-collector`) or set CONSENTGATE_COLLECTOR")
        }
        let process = Process()
        process.executableURL = binary
        process.arguments = [
            "--listen", "127.0.0.1:0",
            "--db", directory.appendingPathComponent("collector.sqlite").path,
        ]
        let stdout = Pipe()
        process.standardOutput = stdout
        try process.run()
        testCase.addTeardownBlock {
            // SIGKILL, not terminate(): Foundation's Process on Linux hands the
            // child the spawning thread's signal mask, and a Swift concurrency
            // (libdispatch) thread blocks SIGTERM, so a collector started from
            // an async test would ignore terminate() and the wait would hang.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        self.process = process

        // The first stdout line names the real address (examples/collector/README.md).
        let announced = AnnouncedLine()
        stdout.fileHandleForReading.readabilityHandler = { handle in
            announced.append(handle.availableData)
        }
        let gotLine = announced.ready.wait(timeout: .now() + 10) == .success
        stdout.fileHandleForReading.readabilityHandler = nil
        guard gotLine else {
            throw TestSetupError("consentgate-collector printed no `listening on` line within 10 s")
        }
        let line = announced.firstLine
        let prefix = "listening on "
        guard line.hasPrefix(prefix), let url = URL(string: String(line.dropFirst(prefix.count))) else {
            throw TestSetupError("consentgate-collector announced \(line.debugDescription), not `listening on URL`")
        }
        baseURL = url
    }

    /// `GET path` through URLSession's async API; the status and the body parsed as a JSON object.
    func getJSON(_ path: String) async throws -> (status: Int, json: [String: Any]) {
        let (data, response) = try await URLSession.shared.data(from: baseURL.appendingPathComponent(path))
        let status = (response as? HTTPURLResponse)?.statusCode ?? -1
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        return (status, json)
    }
}

/// The collector's stdout until its first newline, filled from the pipe's
/// reader thread and read by the test once `ready` is signalled.
private final class AnnouncedLine: @unchecked Sendable {
    let ready = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var data = Data()
    private var signalled = false

    func append(_ chunk: Data) {
        lock.lock()
        defer { lock.unlock() }
        // An empty chunk is end of file: wake the waiter, it finds no line.
        data.append(chunk)
        if !signalled, chunk.isEmpty || data.contains(UInt8(ascii: "\n")) {
            signalled = true
            ready.signal()
        }
    }

    var firstLine: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
    }
}
