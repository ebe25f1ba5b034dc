// The generated ConsentGateFFI layer against the real core (linked from the
// host build): the low-level binding tests. They call the UniFFI API exactly as
// generated, so a generator or ABI change that breaks Swift fails here before
// any wrapper code is involved.
import Foundation
import XCTest

import ConsentGateFFI

final class GeneratedBindingTests: XCTestCase {
    func testG1FreshInstallIsFailClosed() throws {
        let gate = try openGate(dataDir: makeDataDirectory(for: self), policyJSON: examplePolicyJSON())
        defer { try? gate.close() }

        for category in ["usage_events", "device_info", "advertising_id", "account_id", "not_a_category"] {
            XCTAssertFalse(gate.allows(category: category), "\(category) allowed on a fresh install")
        }
        let state = gate.consentState()
        XCTAssertTrue(state.needsPrompt)
        XCTAssertEqual(state.allowedCategories, [])
        let consentPurposes = state.purposes.filter { $0.kind == .consent }
        XCTAssertEqual(consentPurposes.map(\.id), ["analytics", "advertising", "cross_border_transfer"])
        XCTAssertTrue(consentPurposes.allSatisfy { $0.status == .unset })
        XCTAssertEqual(try gate.recordEvent(name: "screen_view", propertiesJson: nil), .dropped(reason: .noConsent))
    }

    func testG4GrantSurvivesReopeningTheSameDataDirectory() throws {
        let dir = try makeDataDirectory(for: self)
        let policy = try examplePolicyJSON()

        let gate = try openGate(dataDir: dir, policyJSON: policy)
        let state = try gate.setConsent(
            decisions: [PurposeDecision(purpose: "analytics", granted: true)], source: .banner)
        XCTAssertTrue(gate.allows(category: "usage_events"))
        XCTAssertFalse(gate.allows(category: "advertising_id"), "advertising was never granted")
        XCTAssertEqual(state.purposes.first { $0.id == "analytics" }?.status, .granted)
        try gate.close()

        let reopened = try openGate(dataDir: dir, policyJSON: policy)
        defer { try? reopened.close() }
        XCTAssertTrue(reopened.allows(category: "usage_events"))
        XCTAssertTrue(reopened.allows(category: "device_info"))
        XCTAssertFalse(reopened.allows(category: "advertising_id"))
        let analytics = reopened.consentState().purposes.first { $0.id == "analytics" }
        XCTAssertEqual(analytics?.status, .granted)
        XCTAssertEqual(analytics?.source, .banner)
    }

    func testG2RecordEventIsRecordedWhileGrantedAndDroppedOtherwise() throws {
        let gate = try openGate(dataDir: makeDataDirectory(for: self), policyJSON: examplePolicyJSON())
        defer { try? gate.close() }

        XCTAssertEqual(try gate.recordEvent(name: "app_open", propertiesJson: nil), .dropped(reason: .noConsent))
        _ = try gate.setConsent(decisions: [PurposeDecision(purpose: "analytics", granted: true)], source: .banner)
        let first = try gate.recordEvent(name: "screen_view", propertiesJson: #"{"screen":"home"}"#)
        let second = try gate.recordEvent(name: "screen_view", propertiesJson: #"{"screen":"map"}"#)
        guard case .recorded(let firstSeq) = first, case .recorded(let secondSeq) = second else {
            return XCTFail("events with analytics granted were not recorded: \(first), \(second)")
        }
        XCTAssertLessThan(firstSeq, secondSeq)
        try gate.persist()
        XCTAssertEqual(gate.queueStats().events, 2)
        XCTAssertEqual(gate.queueStats().droppedNoConsent, 1)
    }

    func testG3WithdrawalPurgesQueuedEventsAndDropsNewOnes() throws {
        let gate = try openGate(dataDir: makeDataDirectory(for: self), policyJSON: examplePolicyJSON())
        defer { try? gate.close() }

        _ = try gate.setConsent(decisions: [PurposeDecision(purpose: "analytics", granted: true)], source: .banner)
        _ = try gate.recordEvent(name: "buffered_event", propertiesJson: nil)
        try gate.persist()
        _ = try gate.recordEvent(name: "still_in_the_buffer", propertiesJson: nil)

        _ = try gate.setConsent(decisions: [PurposeDecision(purpose: "analytics", granted: false)], source: .settings)
        XCTAssertFalse(gate.allows(category: "usage_events"))
        try gate.persist()
        XCTAssertEqual(gate.queueStats().events, 0, "a withdrawn purpose left queued events")
        XCTAssertEqual(try gate.recordEvent(name: "after_withdrawal", propertiesJson: nil), .dropped(reason: .noConsent))
    }

    func testInvalidPolicyThrowsInvalidPolicyNamingTheJSONPath() throws {
        let policy = try editedPolicyJSON { policy in
            var categories = policy["categories"] as? [[String: Any]] ?? []
            categories[1]["requires"] = ["analitycs"]
            policy["categories"] = categories
        }
        let dir = try makeDataDirectory(for: self)
        XCTAssertThrowsError(try openGate(dataDir: dir, policyJSON: policy)) { error in
            guard case GateError.InvalidPolicy(let path, let message, let errors) = error else {
                return XCTFail("expected GateError.InvalidPolicy, got \(error)")
            }
            XCTAssertEqual(path, "categories[1].requires[0]")
            XCTAssertTrue(message.contains("analitycs"), "message does not name the unknown purpose: \(message)")
            XCTAssertEqual(errors.first, "\(path): \(message)")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(left, [], "a refused policy wrote to the data directory")
    }

    func testInvalidEventNameThrowsInvalidArgumentAndRecordsNothing() throws {
        let gate = try openGate(dataDir: makeDataDirectory(for: self), policyJSON: examplePolicyJSON())
        defer { try? gate.close() }
        _ = try gate.setConsent(decisions: [PurposeDecision(purpose: "analytics", granted: true)], source: .banner)

        XCTAssertThrowsError(try gate.recordEvent(name: "1 starts with a digit", propertiesJson: nil)) { error in
            guard case GateError.InvalidArgument(let message) = error else {
                return XCTFail("expected GateError.InvalidArgument, got \(error)")
            }
            XCTAssertTrue(message.contains("name"), "message does not name the argument: \(message)")
        }
        XCTAssertThrowsError(try gate.recordEvent(name: "ok_name", propertiesJson: "[1, 2]")) { error in
            guard case GateError.InvalidArgument = error else {
                return XCTFail("properties that are not a JSON object: expected InvalidArgument, got \(error)")
            }
        }
        try gate.persist()
        XCTAssertEqual(gate.queueStats().events, 0)
    }

    func testCallsAfterCloseThrowClosed() throws {
        let gate = try openGate(dataDir: makeDataDirectory(for: self), policyJSON: examplePolicyJSON())
        try gate.close()
        XCTAssertThrowsError(try gate.recordEvent(name: "after_close", propertiesJson: nil)) { error in
            XCTAssertEqual(error as? GateError, .Closed)
        }
        XCTAssertFalse(gate.allows(category: "usage_events"))
    }

    func testConsentListenerIsToldOnTheCallingThreadBeforeSetConsentReturns() throws {
        let gate = try openGate(dataDir: makeDataDirectory(for: self), policyJSON: examplePolicyJSON())
        defer { try? gate.close() }
        let listener = RecordingListener()

        gate.setListener(listener: listener)
        XCTAssertEqual(listener.calls.map(\.state.allowedCategories), [[]], "setListener reports the current state once")

        let returned = try gate.setConsent(
            decisions: [PurposeDecision(purpose: "analytics", granted: true)], source: .banner)
        let calls = listener.calls
        XCTAssertEqual(calls.count, 2)
        XCTAssertEqual(calls.last?.state, returned)
        XCTAssertEqual(calls.last?.state.allowedCategories, ["device_info", "usage_events", "account_id"])
        XCTAssertEqual(calls.last?.onCallingThread, true, "the listener ran on another thread")
    }
}

/// A `ConsentListener` that keeps every state it is told, and whether it was
/// told on the thread that made the change (the test's thread).
final class RecordingListener: ConsentListener, @unchecked Sendable {
    struct Call { let state: ConsentState; let onCallingThread: Bool }
    private let lock = NSLock()
    private let testThread = Thread.current
    private var stored: [Call] = []

    var calls: [Call] {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }

    func onConsentChanged(state: ConsentState) {
        let call = Call(state: state, onCallingThread: Thread.current == testThread)
        lock.lock()
        stored.append(call)
        lock.unlock()
    }
}
