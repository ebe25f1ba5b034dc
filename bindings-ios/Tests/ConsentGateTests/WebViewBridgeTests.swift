// The portable part of the WebView glue (WebViewBridge.swift) against the
// real core: which script a web view gets at document start, and what is
// evaluated in the page when the state changes, seen through a fake
// `ConsentWebViewHost` (the WKWebView host compiles only on Apple platforms).
// The scripts compared against are the core's own `webview_user_script` /
// `webview_update_script` for the same state.
import Foundation
import XCTest

@testable import ConsentGate
import ConsentGateFFI

final class WebViewBridgeTests: XCTestCase {
    private let nonce = "TestNonce0123456789abcdefXYZ"

    func testThePageStartsWithTheStateInForce() throws {
        let gate = try openTestGate()
        let host = RecordingHost()
        let (changes, _) = AsyncStream<Void>.makeStream()
        let bridge = ConsentWebViewBridge(host: host, nonce: nonce, currentState: { gate.consentState() }, changes: changes)
        defer { bridge.stop() }

        let state = gate.consentState()
        XCTAssertEqual(host.startScripts, [try webviewUserScript(nonce: nonce, state: state) + ConsentWebViewBridge.askOnLoad])
        XCTAssertEqual(host.evaluated, [try webviewUpdateScript(nonce: nonce, state: state)])
        XCTAssertTrue(host.startScripts[0].contains(#""allowed":[]"#), "a fresh install starts with nothing allowed")
    }

    func testEveryChangeOfStateIsEvaluatedInThePageAndStartsTheNextPage() async throws {
        let gate = try openTestGate()
        let host = RecordingHost()
        let (changes, wake) = AsyncStream<Void>.makeStream()
        let bridge = ConsentWebViewBridge(host: host, nonce: nonce, currentState: { gate.consentState() }, changes: changes)
        defer { bridge.stop() }

        _ = try gate.setConsent(decisions: [PurposeDecision(purpose: "analytics", granted: true)], source: .banner)
        wake.yield()
        try await host.waitFor(evaluations: 2)

        let granted = gate.consentState()
        XCTAssertEqual(host.evaluated.last, try webviewUpdateScript(nonce: nonce, state: granted))
        XCTAssertEqual(host.startScripts.last, try webviewUserScript(nonce: nonce, state: granted) + ConsentWebViewBridge.askOnLoad)
        XCTAssertTrue(try XCTUnwrap(host.evaluated.last).contains("usage_events"), "the page is told analytics' categories are allowed")
    }

    func testAWakeWithoutANewStateSendsNothing() async throws {
        let gate = try openTestGate()
        let host = RecordingHost()
        let (changes, wake) = AsyncStream<Void>.makeStream()
        let bridge = ConsentWebViewBridge(host: host, nonce: nonce, currentState: { gate.consentState() }, changes: changes)
        defer { bridge.stop() }

        wake.yield()  // same version: nothing new for the page
        wake.yield()
        _ = try gate.setConsent(decisions: [PurposeDecision(purpose: "analytics", granted: true)], source: .banner)
        wake.yield()
        try await host.waitFor(evaluations: 2)

        XCTAssertEqual(host.evaluated.count, 2, "the first state and the one change, nothing for the wakes in between")
        XCTAssertEqual(host.startScripts.count, 2)
    }

    func testAPageThatAsksIsGivenTheStateInForceAgain() throws {
        let gate = try openTestGate()
        let host = RecordingHost()
        let (changes, _) = AsyncStream<Void>.makeStream()
        let bridge = ConsentWebViewBridge(host: host, nonce: nonce, currentState: { gate.consentState() }, changes: changes)
        defer { bridge.stop() }

        bridge.pageRequestedState()

        let update = try webviewUpdateScript(nonce: nonce, state: gate.consentState())
        XCTAssertEqual(host.evaluated, [update, update])
        XCTAssertEqual(host.startScripts.count, 1, "asking changes no document-start script")
    }

    func testWhileTheGateLoadsThePageStartsWithEverythingBlocked() throws {
        let host = RecordingHost()
        let (changes, _) = AsyncStream<Void>.makeStream()
        let bridge = ConsentWebViewBridge(host: host, nonce: nonce, currentState: { nil }, changes: changes)
        defer { bridge.stop() }

        XCTAssertEqual(host.startScripts.count, 1)
        XCTAssertTrue(host.startScripts[0].contains(#"("\#(nonce)",null);"#), "the shipped script with no state: its fail-closed start")
        XCTAssertEqual(host.evaluated, [], "no state to evaluate yet")
    }

    func testTheDocumentStartScriptOnlyAsksTheHostNeverSendsItData() throws {
        XCTAssertTrue(ConsentWebViewBridge.askOnLoad.contains(#"messageHandlers.consentgate"#))
        XCTAssertTrue(ConsentWebViewBridge.askOnLoad.contains(#"postMessage("state")"#))
        XCTAssertFalse(ConsentWebViewBridge.askOnLoad.contains("consentgate.state"), "the page's state is never posted back")
    }

    func testEachBridgeHasItsOwnNonceTheCoreAccepts() throws {
        let gate = try openTestGate()
        let first = ConsentWebViewBridge.makeNonce()
        let second = ConsentWebViewBridge.makeNonce()
        XCTAssertNotEqual(first, second)
        XCTAssertEqual(first.count, 32)
        XCTAssertNoThrow(try webviewUserScript(nonce: first, state: gate.consentState()))
    }

    /// The example KZ policy's gate in a fresh directory, closed at teardown.
    private func openTestGate() throws -> ConsentGateFFI.ConsentGate {
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let policy = try String(contentsOf: root.appendingPathComponent("examples/policies/example-kz.json"), encoding: .utf8)
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("consentgate-webview-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let gate = try ConsentGateFFI.ConsentGate.open(config: GateConfig(
            dataDir: dir.path, policyJson: policy, region: "KZ", appVersion: "1.0.0-swift-test"))
        addTeardownBlock {
            try? gate.close()
            try? FileManager.default.removeItem(at: dir)
        }
        return gate
    }
}

/// A `ConsentWebViewHost` that keeps what it was given, in order.
private final class RecordingHost: ConsentWebViewHost, @unchecked Sendable {
    // @unchecked: both arrays are guarded by `lock`.
    private let lock = NSLock()
    private var starts: [String] = []
    private var evaluations: [String] = []

    var startScripts: [String] { lock.withLock { starts } }
    var evaluated: [String] { lock.withLock { evaluations } }

    func setDocumentStartScript(_ source: String) { lock.withLock { starts.append(source) } }
    func evaluate(_ script: String) { lock.withLock { evaluations.append(script) } }

    /// Waits (up to 5 s) until `evaluations` scripts were evaluated.
    func waitFor(evaluations count: Int) async throws {
        let deadline = Date().addingTimeInterval(5)
        while evaluated.count < count {
            guard Date() < deadline else {
                throw TestTimeout("\(count) evaluations, got \(evaluated.count)")
            }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
    }
}

private struct TestTimeout: Error, CustomStringConvertible {
    let description: String
    init(_ what: String) { description = "timed out waiting for \(what)" }
}
