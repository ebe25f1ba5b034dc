// Recording events through the public Swift API: recordEvent with dictionary
// and Encodable properties, recordEvents all-or-nothing, recordEventNow with
// the core's sequence numbers, and what the queue and the access copy
// (exportData) then hold; and what is kept of the decisions: the ledger and
// its check, the access copy, a reopen (G4), ConsentState as Codable.
import Foundation
import XCTest

import ConsentGate

final class GateRecordingTests: XCTestCase {
    private func grantedGate() async throws -> ConsentGate {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        return gate
    }

    /// The `queue` array of the access copy.
    private func exportedQueue(_ gate: ConsentGate) async throws -> [[String: Any]] {
        let json = try await gate.exportData()
        let doc = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        return doc?["queue"] as? [[String: Any]] ?? []
    }

    func testG2RecordedPropertiesReachTheQueueAsTheirJSON() async throws {
        let gate = try await grantedGate()
        let result = gate.recordEvent(
            "screen_view",
            properties: ["screen": "home", "count": 3, "ratio": 0.5, "on": true, "none": NSNull(),
                         "tags": ["a", "b"], "nested": ["depth": 2]])
        XCTAssertEqual(result, .queued)
        let queue = try await exportedQueue(gate)
        XCTAssertEqual(queue.count, 1)
        XCTAssertEqual(queue.first?["name"] as? String, "screen_view")
        let props = queue.first?["props"] as? [String: Any]
        XCTAssertEqual(props?["screen"] as? String, "home")
        XCTAssertEqual(props?["count"] as? Int, 3)
        XCTAssertEqual(props?["ratio"] as? Double, 0.5)
        XCTAssertEqual(props?["on"] as? Bool, true)
        XCTAssertTrue(props?["none"] is NSNull)
        XCTAssertEqual(props?["tags"] as? [String], ["a", "b"])
        XCTAssertEqual((props?["nested"] as? [String: Any])?["depth"] as? Int, 2)
    }

    private struct Purchase: Encodable {
        let sku: String
        let quantity: Int
        let gift: Bool
    }

    func testG2EncodablePropertiesAreRecordedThroughJSONEncoder() async throws {
        let gate = try await grantedGate()
        XCTAssertEqual(gate.recordEvent("purchase", encoding: Purchase(sku: "A-1", quantity: 2, gift: false)), .queued)
        let props = try await exportedQueue(gate).first?["props"] as? [String: Any]
        XCTAssertEqual(props?["sku"] as? String, "A-1")
        XCTAssertEqual(props?["quantity"] as? Int, 2)
        XCTAssertEqual(props?["gift"] as? Bool, false)
    }

    func testEncodablePropertiesThatAreNotAnObjectAreRefusedWithTheReason() async throws {
        let gate = try await grantedGate()
        let result = gate.recordEvent("purchase", encoding: [1, 2, 3])
        guard case let .invalid(reason) = result else { return XCTFail("got \(result)") }
        XCTAssertTrue(reason.hasPrefix("event properties must encode to a JSON object"), reason)
        let queued = try await gate.queueStats().events
        XCTAssertEqual(queued, 0)
        XCTAssertEqual(gate.invalidEvents, 1)
    }

    func testRecordEventsQueuesEveryEventInOrder() async throws {
        let gate = try await grantedGate()
        let result = gate.recordEvents([
            Event("app_open"), Event("screen_view", properties: ["screen": "map"]), Event("app_close"),
        ])
        XCTAssertEqual(result, .queued)
        let names = try await exportedQueue(gate).compactMap { $0["name"] as? String }
        XCTAssertEqual(names, ["app_open", "screen_view", "app_close"])
    }

    func testRecordEventsIsAllOrNothingAndNamesTheIndexOfTheBadEvent() async throws {
        let gate = try await grantedGate()
        let badName = gate.recordEvents([Event("app_open"), Event("screen_view"), Event("9lives")])
        guard case let .invalid(reason) = badName else { return XCTFail("got \(badName)") }
        XCTAssertTrue(reason.hasPrefix("events[2]: event name does not match"), reason)
        let badProperties = gate.recordEvents([Event("app_open", properties: ["at": Date()])])
        guard case let .invalid(reason2) = badProperties else { return XCTFail("got \(badProperties)") }
        XCTAssertTrue(reason2.hasPrefix("events[0]: event properties: a Date cannot be written as JSON"), reason2)
        let queued = try await gate.queueStats().events
        XCTAssertEqual(queued, 0, "no event of a refused batch is recorded")
        XCTAssertEqual(gate.recordEvents([]), .queued, "an empty batch records nothing and is not an error")
    }

    func testRecordEventsWithoutConsentDropsThemAll() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        XCTAssertEqual(gate.recordEvents([Event("app_open"), Event("app_close")]), .notAllowed)
        let stats = try await gate.queueStats()
        XCTAssertEqual(stats.events, 0)
    }

    func testRecordEventNowReturnsTheCoresIncreasingSequenceNumbers() async throws {
        let gate = try await grantedGate()
        gate.recordEvent("app_open")  // buffered: crosses first, so it keeps its place
        let first = try await gate.recordEventNow("screen_view", properties: ["screen": "home"])
        let second = try await gate.recordEventNow("screen_view")
        guard case let .recorded(a) = first, case let .recorded(b) = second else {
            return XCTFail("got \(first), \(second)")
        }
        XCTAssertGreaterThan(b, a)
        let seqs = try await exportedQueue(gate).compactMap { ($0["seq"] as? NSNumber)?.int64Value }
        XCTAssertEqual(seqs.count, 3)
        XCTAssertEqual(seqs.last, b)
        XCTAssertEqual(seqs, seqs.sorted(), "the buffered event crossed before the synchronous one")
        let names = try await exportedQueue(gate).compactMap { $0["name"] as? String }
        XCTAssertEqual(names.first, "app_open")
    }

    func testRecordEventNowWithoutConsentIsDroppedAndInvalidOnesThrow() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        let outcome = try await gate.recordEventNow("app_open")
        XCTAssertEqual(outcome, .droppedNoConsent)
        try await gate.setConsent(["analytics": true], source: .banner)
        do {
            _ = try await gate.recordEventNow("bad name!")
            XCTFail("a name with a space and ! was accepted")
        } catch {
            guard case let .invalidArgument(detail) = error else { return XCTFail("got \(error)") }
            XCTAssertFalse(detail.isEmpty)
            XCTAssertTrue(error.localizedDescription.hasPrefix("invalid argument: "), error.localizedDescription)
        }
        let queued = try await gate.queueStats().events
        XCTAssertEqual(queued, 0)
    }

    func testBufferedEventsCrossToTheCoreOnTheirOwnAfterTheWindow() async throws {
        let dir = try makeDataDirectory(for: self)
        var config = configuration(dir, policy: try policyJSON())
        config.bufferWindow = 0.05
        let gate = try ConsentGate.openBlocking(config)
        addTeardownBlock { gate.close() }
        try await gate.setConsent(["analytics": true], source: .banner)
        for _ in 0..<3 { gate.recordEvent("app_open") }
        let crossed = await eventually { gate.bufferedEvents == 0 }
        XCTAssertTrue(crossed, "\(gate.bufferedEvents) event(s) still wait on the Swift side")
        let queued = try await gate.queueStats().events
        XCTAssertEqual(queued, 3)
    }

    func testEventsHeldWhileAFailingOpenLoadsAreLetGo() async throws {
        let gate = ConsentGate.open(configuration(try makeDataDirectory(for: self), policy: "{}"))
        addTeardownBlock { gate.close() }
        let result = gate.recordEvent("app_open")
        XCTAssertTrue(result == .held || result == .notAllowed, "got \(result)")
        _ = try? await gate.awaitLoaded()
        XCTAssertNotNil(gate.openError)
        XCTAssertEqual(gate.bufferedEvents, 0, "a failed open keeps held events in memory")
        XCTAssertEqual(gate.recordEvent("app_open"), .notAllowed)
    }

    func testG3EventsRecordedAfterAWithdrawalAreDroppedAndCounted() async throws {
        let gate = try await grantedGate()
        XCTAssertEqual(gate.recordEvent("app_open"), .queued)
        try await gate.rejectAll(source: .settings)
        for _ in 0..<5 { XCTAssertEqual(gate.recordEvent("screen_view"), .notAllowed) }
        let queue = try await exportedQueue(gate)
        XCTAssertTrue(queue.isEmpty, "the queue still holds \(queue.count) record(s)")
    }
}

/// What the gate keeps of the user's decisions: the ledger and its check,
/// the access copy, decisions surviving a reopen (G4), and ConsentState as Codable.
final class GateDecisionRecordTests: XCTestCase {
    func testG5LedgerRecordsEveryDecisionAndVerifiesIntact() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        try await gate.setConsent(["advertising": false], source: .settings)
        try await gate.setConsent(["analytics": false], source: .settings)
        let entries = try await gate.ledger()
        let decisions = entries.filter { $0.kind == .decision && $0.purpose != "service" }
        XCTAssertEqual(decisions.map(\.purpose), ["analytics", "advertising", "analytics"], "\(entries.map(\.purpose))")
        XCTAssertEqual(decisions.map(\.status), [.granted, .denied, .denied])
        XCTAssertEqual(decisions.map(\.source), [.banner, .settings, .settings])
        XCTAssertEqual(Set(entries.map(\.policyID)), ["aqkol-city-app"])
        XCTAssertEqual(Set(entries.map(\.appVersion)), ["1.0.0"])
        XCTAssertEqual(Set(entries.map(\.region)), ["KZ"])
        for (previous, next) in zip(entries, entries.dropFirst()) {
            XCTAssertEqual(next.prevHash, previous.hash, "entry \(next.seq) does not chain")
        }
        let check = try await gate.verifyLedger()
        XCTAssertEqual(check, LedgerCheck(intact: true, entries: entries.count, firstBadSeq: nil, problem: nil))
    }

    func testExportDataHoldsTheDecisionsTheLedgerAndTheInstallationID() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        try await gate.setUserID("account-17")
        gate.recordEvent("app_open")
        let json = try await gate.exportData()
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let installation = try await gate.installationID()
        XCTAssertEqual(doc["installation_id"] as? String, installation)
        XCTAssertEqual(doc["user_id"] as? String, "account-17")
        XCTAssertEqual(doc["region"] as? String, "KZ")
        let ledger = try await gate.ledger()
        XCTAssertEqual((doc["ledger"] as? [Any])?.count, ledger.count)
        XCTAssertEqual((doc["queue"] as? [Any])?.count, 1)
        XCTAssertEqual((doc["policy"] as? [String: Any])?["id"] as? String, "aqkol-city-app")
    }

    func testG4DecisionsPersistAcrossAReopen() async throws {
        let dir = try makeDataDirectory(for: self)
        let policy = try policyJSON()
        let before: ConsentState
        let ledgerBefore: [LedgerEntry]
        do {
            let gate = try ConsentGate.openBlocking(configuration(dir, policy: policy))
            try await gate.setConsent(
                ["analytics": true, "advertising": false, "cross_border_transfer": false], source: .banner)
            XCTAssertFalse(gate.currentState.needsPrompt)
            gate.recordEvent("app_open")
            try await gate.persist()
            before = gate.currentState
            ledgerBefore = try await gate.ledger()
            gate.close()
        }
        let gate = try openLoaded(dir, policy: policy, for: self)
        let after = gate.currentState
        XCTAssertFalse(after.needsPrompt, "the banner is asked for again after a restart")
        XCTAssertEqual(after.status(of: "analytics"), .granted)
        XCTAssertEqual(after.status(of: "advertising"), .denied)
        XCTAssertEqual(after.purposes, before.purposes)
        XCTAssertTrue(gate.allows("usage_events"))
        XCTAssertFalse(gate.allows("advertising_id"))
        let ledgerAfter = try await gate.ledger()
        XCTAssertEqual(ledgerAfter, ledgerBefore)
        let queued = try await gate.queueStats().events
        XCTAssertEqual(queued, 1, "the persisted event is still queued")
    }

    func testConsentStateRoundTripsThroughCodable() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        let state = try await gate.setConsent(["analytics": true, "advertising": false], source: .banner)
        let data = try JSONEncoder().encode(state)
        let decoded = try JSONDecoder().decode(ConsentState.self, from: data)
        XCTAssertEqual(decoded, state)
        XCTAssertTrue(decoded.allows("usage_events"))
        XCTAssertEqual(decoded.status(of: "advertising"), .denied)
        let loading = try JSONDecoder().decode(ConsentState.self, from: try JSONEncoder().encode(ConsentState.loading))
        XCTAssertEqual(loading, .loading)
        XCTAssertTrue(loading.isLoading)
    }
}
