// The web view bridge as an app gets it, `gate.webViewBridge(host:)`, through
// the public API against the real core, seen through a fake host: the page
// starts with the state in force, every consent change reaches the page, and
// a gate still loading starts the page fail-closed. WebViewBridgeTests checks
// the scripts byte for byte against the core's own.
import Foundation
import XCTest

import ConsentGate

final class WebViewGateTests: XCTestCase {
    func testG1APageOfAFreshInstallStartsWithNothingAllowed() throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        let host = FakeHost()
        let bridge = gate.webViewBridge(host: host)
        defer { bridge.stop() }
        XCTAssertEqual(host.starts.count, 1)
        XCTAssertTrue(host.starts[0].contains(#""allowed":[]"#), "fail-closed start: \(host.starts[0].prefix(300))")
        XCTAssertTrue(host.starts[0].contains(ConsentWebViewBridge.messageHandlerName))
    }

    func testG3EveryConsentChangeReachesThePageAndTheNextPageStartsWithIt() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        let host = FakeHost()
        let bridge = gate.webViewBridge(host: host)
        defer { bridge.stop() }
        let before = host.evaluations.count
        try await gate.setConsent(["analytics": true], source: .banner)
        let granted = await eventually { host.evaluations.count > before && host.evaluations.last?.contains("usage_events") == true }
        XCTAssertTrue(granted, "the grant reached the page")
        XCTAssertTrue(host.starts.last?.contains("usage_events") == true, "the next page starts with it")
        let afterGrant = host.evaluations.count
        try await gate.setConsent(["analytics": false], source: .settings)
        let withdrawn = await eventually { host.evaluations.count > afterGrant }
        XCTAssertTrue(withdrawn)
        XCTAssertFalse(host.evaluations.last?.contains("usage_events") == true, "the withdrawal reached the page")
    }

    func testG1WhileTheGateLoadsThePageStartsWithEverythingBlocked() throws {
        // A policy that never opens keeps the gate in its loading state.
        let broken = try editedPolicyJSON { p in p["categories"] = [["id": "x", "requires": ["nope"]]] }
        let gate = ConsentGate.open(configuration(try makeDataDirectory(for: self), policy: broken))
        addTeardownBlock { gate.close() }
        let host = FakeHost()
        let bridge = gate.webViewBridge(host: host)
        defer { bridge.stop() }
        XCTAssertEqual(host.starts.count, 1)
        XCTAssertTrue(host.starts[0].contains(",null);"), "the shipped script with no state: \(host.starts[0].suffix(200))")
        XCTAssertEqual(host.evaluations, [], "no state to evaluate")
    }
}

/// A `ConsentWebViewHost` that keeps what it was given, in order.
private final class FakeHost: ConsentWebViewHost, @unchecked Sendable {
    private let lock = NSLock()
    private var startScripts: [String] = []
    private var evaluated: [String] = []
    var starts: [String] { lock.withLock { startScripts } }
    var evaluations: [String] { lock.withLock { evaluated } }
    func setDocumentStartScript(_ source: String) { lock.withLock { startScripts.append(source) } }
    func evaluate(_ script: String) { lock.withLock { evaluated.append(script) } }
}
