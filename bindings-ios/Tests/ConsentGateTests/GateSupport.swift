// Shared fixtures of the wrapper's tests: the repository, the example
// policies, fresh data directories, gates opened on them, a manual clock, a
// log capture and the reference collector process. Test support only.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
#if canImport(Glibc)
import Glibc
#endif

import ConsentGate

/// The repository root: `CONSENTGATE_ROOT` (set by swift-test.sh) or four levels above this file.
let repositoryRoot: URL = {
    if let root = ProcessInfo.processInfo.environment["CONSENTGATE_ROOT"], !root.isEmpty {
        return URL(fileURLWithPath: root, isDirectory: true)
    }
    return URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
}()

/// A failure of the test's own setup, not of the code under test.
struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// examples/policies/`name` as text (`example-kz.json` by default).
func policyJSON(_ name: String = "example-kz.json") throws -> String {
    try String(contentsOf: repositoryRoot.appendingPathComponent("examples/policies/\(name)"), encoding: .utf8)
}

/// The policy `name` with `edit` applied to its parsed JSON object.
func editedPolicyJSON(_ name: String = "example-kz.json", _ edit: (inout [String: Any]) -> Void) throws -> String {
    guard var object = try JSONSerialization.jsonObject(with: Data(try policyJSON(name).utf8)) as? [String: Any] else {
        throw TestSetupError("examples/policies/\(name) is not a JSON object")
    }
    edit(&object)
    return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}

/// The policy with every endpoint pointed at `url` (the loopback collector).
func policyJSON(endpointsAt url: URL, _ name: String = "example-kz.json") throws -> String {
    try editedPolicyJSON(name) { p in
        guard let endpoints = p["endpoints"] as? [[String: Any]] else { return }
        p["endpoints"] = endpoints.map { e in
            var e = e
            e["url"] = url.absoluteString
            return e
        }
    }
}

/// A fresh, empty directory, removed by the test case's teardown.
func makeDataDirectory(for testCase: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("consentgate-swift-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

/// The configuration the tests open with: region KZ, app version 1.0.0.
func configuration(
    _ dir: URL, policy: String, region: String? = "KZ", clock: (any Clock)? = nil
) -> ConsentGateConfiguration {
    ConsentGateConfiguration(dataDirectory: dir, policyJSON: policy, appVersion: "1.0.0", region: region, clock: clock)
}

/// Opens a loaded gate on `dir` and closes it in the test case's teardown.
func openLoaded(
    _ dir: URL, policy: String? = nil, region: String? = "KZ", clock: (any Clock)? = nil, for testCase: XCTestCase
) throws -> ConsentGate {
    let gate = try ConsentGate.openBlocking(configuration(dir, policy: try policy ?? policyJSON(), region: region, clock: clock))
    testCase.addTeardownBlock { gate.close() }
    return gate
}

/// A clock the test moves by hand.
final class ManualClock: Clock, @unchecked Sendable {
    private let lock = NSLock()
    private var now: Int64
    init(_ start: Int64 = 1_780_000_000_000) { now = start }
    func nowMilliseconds() -> Int64 {
        lock.lock()
        defer { lock.unlock() }
        return now
    }
    func advance(ms: Int64) {
        lock.lock()
        now += ms
        lock.unlock()
    }
}

/// Every line the gate logs while it is installed (the last installed wins, process-wide).
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [(LogLevel, String, String)] = []

    init(maxLevel: LogLevel = .debug) {
        ConsentGateLogging.forward(maxLevel: maxLevel) { [weak self] level, target, message in
            guard let self else { return }
            self.lock.lock()
            self.lines.append((level, target, message))
            self.lock.unlock()
        }
    }

    var messages: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines.map { $0.2 }
    }

    func count(at level: LogLevel) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return lines.filter { $0.0 == level }.count
    }
}

/// Polls `condition` every 10 ms for up to `seconds`; true once it held.
func eventually(_ seconds: Double = 5, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(nanoseconds: 10_000_000)
    }
    return try await condition()
}

/// The reference collector (`consentgate-collector`) as a child process on a
/// free loopback port, killed by the test case's teardown.
final class CollectorProcess: @unchecked Sendable {
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

    /// Starts the collector with its database in `directory` (`port` 0: any free one).
    init(directory: URL, port: Int = 0, testCase: XCTestCase) throws {
        let binary = Self.binary
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw TestSetupError("consentgate-collector not found at \(binary.path): run bindings-ios/swift-test.sh")
        }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["--listen", "127.0.0.1:\(port)", "--db", directory.appendingPathComponent("collector.sqlite").path]
        let stdout = Pipe()
        process.standardOutput = stdout
        try process.run()
        self.process = process
        testCase.addTeardownBlock { [process] in
            // SIGKILL: a child spawned from a libdispatch thread may block SIGTERM (see ConsentGateFFITests/Support.swift).
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let announced = AnnouncedLine()
        stdout.fileHandleForReading.readabilityHandler = { announced.append($0.availableData) }
        let gotLine = announced.ready.wait(timeout: .now() + 10) == .success
        stdout.fileHandleForReading.readabilityHandler = nil
        let line = announced.firstLine
        guard gotLine, line.hasPrefix("listening on "), let url = URL(string: String(line.dropFirst(13))) else {
            throw TestSetupError("consentgate-collector announced \(line.debugDescription), not `listening on URL`")
        }
        baseURL = url
    }

    /// Stops the collector now (the network "goes down").
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// `GET path`: the status and the body parsed as a JSON object.
    func getJSON(_ path: String) async throws -> (status: Int, json: [String: Any]) {
        let (data, response) = try await URLSession.shared.data(from: baseURL.appendingPathComponent(path))
        let status = (response as? HTTPURLResponse)?.statusCode ?? -1
        return (status, try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:])
    }
}

private final class AnnouncedLine: @unchecked Sendable {
    let ready = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var data = Data()
    private var signalled = false

    func append(_ chunk: Data) {
        lock.lock()
        defer { lock.unlock() }
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
