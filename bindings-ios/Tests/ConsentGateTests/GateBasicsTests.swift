// The gate's life through the public Swift API against the real core: the
// fail-closed loading state and fresh install (G1), consent changes seen by
// `allows`, `currentState` and `states`, withdrawal purging recorded events
// (G3), and close.
import Foundation
import XCTest

import ConsentGate

final class GateBasicsTests: XCTestCase {
    func testG1AFreshInstallAllowsNothingAndAsksForConsent() throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        let state = gate.currentState
        XCTAssertFalse(state.isLoading)
        XCTAssertTrue(state.needsPrompt)
        XCTAssertEqual(state.promptReasons, [.noDecision])
        for category in ["device_info", "advertising_id", "usage_events", "account_id", "install_referrer"] {
            XCTAssertFalse(gate.allows(category), "\(category) allowed on a fresh install")
        }
        XCTAssertEqual(state.status(of: "service"), .granted, "a necessary purpose is always granted")
        XCTAssertEqual(gate.recordEvent("app_open"), .notAllowed)
    }

    func testG1WhileLoadingNothingIsAllowedAndEventsAreHeldThenJudgedByTheStoredDecisions() async throws {
        let dir = try makeDataDirectory(for: self)
        let policy = try policyJSON()
        do {
            let first = try ConsentGate.openBlocking(configuration(dir, policy: policy))
            try await first.setConsent(["analytics": true], source: .banner)
            first.close()
        }
        let gate = ConsentGate.open(configuration(dir, policy: policy))
        addTeardownBlock { gate.close() }
        let loading = gate.currentState
        // The open is on another thread: it may already be done, and then there is nothing to hold.
        if loading.isLoading {
            XCTAssertEqual(loading, .loading)
            XCTAssertFalse(gate.allows("usage_events"))
            XCTAssertFalse(loading.needsPrompt, "no banner before the stored decisions are known")
        }
        let recorded = gate.recordEvent("app_open")
        XCTAssertTrue(recorded == .held || recorded == .queued, "got \(recorded)")
        let loaded = try await gate.awaitLoaded()
        XCTAssertFalse(loaded.isLoading)
        XCTAssertTrue(gate.allows("usage_events"))
        let afterLoad = try await gate.queueStats().events
        XCTAssertEqual(afterLoad, 1, "the held event was kept: analytics was granted when it was recorded")
    }

    func testG3ConsentChangeIsVisibleInAllowsStateAndTheStatesStream() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        var iterator = gate.states.makeAsyncIterator()
        let first = await iterator.next()
        XCTAssertEqual(first?.allows("usage_events"), false)
        let returned = try await gate.setConsent(["analytics": true], source: .banner)
        XCTAssertTrue(returned.allows("usage_events"))
        XCTAssertTrue(gate.allows("usage_events"), "allows sees the change once setConsent returned")
        XCTAssertEqual(gate.currentState, returned)
        let next = await iterator.next()
        XCTAssertEqual(next, returned)
    }

    func testG3WithdrawalPurgesEventsRecordedBeforeIt() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        for i in 0..<50 { XCTAssertEqual(gate.recordEvent("screen_view", properties: ["i": i]), .queued) }
        let queued = try await gate.queueStats().events
        XCTAssertEqual(queued, 50)
        try await gate.setConsent(["analytics": false], source: .settings)
        XCTAssertEqual(gate.recordEvent("screen_view"), .notAllowed)
        let left = try await gate.queueStats().events
        XCTAssertEqual(left, 0)
    }

    func testClosedGateAllowsNothingAndEveryCallSaysItWasClosed() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        gate.close()
        XCTAssertTrue(gate.isClosed)
        XCTAssertFalse(gate.allows("usage_events"))
        XCTAssertEqual(gate.recordEvent("app_open"), .closed)
        do {
            _ = try await gate.queueStats()
            XCTFail("queueStats after close")
        } catch {
            XCTAssertEqual(error, .closed)
            XCTAssertEqual(error.localizedDescription, "the ConsentGate was closed; open a new one")
        }
        gate.close()  // idempotent
    }

    func testASecondGateOnTheSameDirectoryIsRefusedUntilTheFirstCloses() throws {
        let dir = try makeDataDirectory(for: self)
        let first = try openLoaded(dir, for: self)
        XCTAssertThrowsError(try ConsentGate.openBlocking(configuration(dir, policy: try policyJSON()))) { error in
            guard case .busy = error as? ConsentGateError else { return XCTFail("got \(error)") }
            XCTAssertTrue((error as? ConsentGateError)?.localizedDescription.contains("in use by another ConsentGate") == true)
        }
        first.close()
        let second = try ConsentGate.openBlocking(configuration(dir, policy: try policyJSON()))
        second.close()
    }
}
