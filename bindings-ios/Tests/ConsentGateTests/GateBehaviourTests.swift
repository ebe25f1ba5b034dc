// What an iOS app relies on, through the public Swift API against the real
// core: many tasks recording while another withdraws (G3), delivery over
// loopback HTTP with URLSessionUploader to the reference collector (exact
// counts), a request to be forgotten made offline and delivered after a
// reopen (G6), bad input refused at once with a sentence and nothing changed
// (G7), providers asked only for what is allowed (G1), and the open's failure.
import Foundation
import XCTest

import ConsentGate

final class GateBehaviourTests: XCTestCase {
    // MARK: G3

    func testG3WithdrawalPurgesEventsRecordedFromManyTasks() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        let withdrawn = WithdrawnFlag()
        // Eight tasks record as fast as they can while another task withdraws.
        try await withThrowingTaskGroup(of: Int.self) { group in
            for t in 0..<8 {
                group.addTask {
                    var acceptedAfter = 0
                    for i in 0..<2_000 {
                        let wasWithdrawn = withdrawn.isSet
                        let r = gate.recordEvent("tap", properties: ["task": t, "i": i])
                        // Once setConsent has returned, nothing may be queued any more.
                        if wasWithdrawn, r.isAccepted { acceptedAfter += 1 }
                    }
                    return acceptedAfter
                }
            }
            group.addTask {
                try await Task.sleep(nanoseconds: 2_000_000)
                try await gate.setConsent(["analytics": false], source: .settings)
                withdrawn.set()
                return 0
            }
            var acceptedAfterWithdrawal = 0
            for try await n in group { acceptedAfterWithdrawal += n }
            XCTAssertEqual(acceptedAfterWithdrawal, 0, "events were accepted after the withdrawal returned")
        }
        let stats = try await gate.queueStats()
        XCTAssertEqual(stats.events, 0, "nothing needing analytics is queued after the withdrawal")
        let export = try await gate.exportData()
        XCTAssertFalse(export.contains("\"tap\""), "no recorded event survives in the export")
    }

    // MARK: delivery

    func testG2EventsReachTheCollectorOverLoopbackThroughURLSessionUploaderWithExactCounts() async throws {
        let collector = try CollectorProcess(directory: try makeDataDirectory(for: self), testCase: self)
        let gate = try openLoaded(
            try makeDataDirectory(for: self), policy: try policyJSON(endpointsAt: collector.baseURL), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        for i in 0..<25 { gate.recordEvent("screen_view", properties: ["n": i]) }
        XCTAssertEqual(gate.recordEvents((0..<5).map { Event("item_viewed", properties: ["id": "a\($0)"]) }), .queued)
        let report = try await gate.flush(using: URLSessionUploader())
        XCTAssertEqual(report.eventsDelivered, 30)
        XCTAssertEqual(report.retries, 0)
        XCTAssertNil(report.waitMs, "nothing left to send")
        let (status, stats) = try await collector.getJSON("v1/stats")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(stats["events"] as? Int, 30, "the collector stored exactly what was recorded")
        let after = try await gate.queueStats()
        XCTAssertEqual(after.events, 0)
        XCTAssertEqual(after.delivered, 30)
    }

    func testG6ADeletionMadeWithTheCollectorDownIsPendingThenAcknowledgedAfterAReopen() async throws {
        let dataDir = try makeDataDirectory(for: self)
        let collectorDir = try makeDataDirectory(for: self)
        let down = try CollectorProcess(directory: collectorDir, testCase: self)
        let policy = try policyJSON(endpointsAt: down.baseURL)
        down.stop()  // the network goes away; the policy still names its address

        let gate = try ConsentGate.openBlocking(configuration(dataDir, policy: policy))
        try await gate.setConsent(["analytics": true], source: .banner)
        let ticket = try await gate.requestDeletion(reason: "user_request")
        XCTAssertEqual(ticket.status, .pending)
        let offline = try await gate.flush(using: URLSessionUploader(timeout: 2), maxWait: 0)
        XCTAssertEqual(offline.deletionsAcknowledged, 0)
        XCTAssertGreaterThan(offline.retries, 0)
        XCTAssertNotNil(offline.waitMs, "the request waits for the next try")
        XCTAssertEqual(gate.currentDeletions.map(\.status), [.pending])
        gate.close()

        // The same address comes back; the app starts again.
        let port = Int(down.baseURL.port ?? 0)
        let up = try CollectorProcess(directory: collectorDir, port: port, testCase: self)
        XCTAssertEqual(up.baseURL.port, down.baseURL.port)
        let reopened = try openLoaded(dataDir, policy: policy, for: self)
        let kept = try await reopened.deletionRequests().map(\.requestID)
        XCTAssertEqual(kept, [ticket.requestID], "kept across the restart")
        var stream = reopened.deletions.makeAsyncIterator()
        let first = await stream.next()
        XCTAssertEqual(first?.map(\.status), [.pending])
        // A backoff survives the restart: flush waits it out (up to 10 s by default).
        let report = try await reopened.flush(using: URLSessionUploader())
        XCTAssertEqual(report.deletionsAcknowledged, 1)
        let tickets = try await reopened.deletionRequests()
        guard case let .acknowledged(receiptID, status)? = tickets.first?.status else {
            return XCTFail("not acknowledged: \(tickets)")
        }
        XCTAssertFalse(receiptID.isEmpty)
        XCTAssertTrue(["accepted", "completed"].contains(status))
        let published = await eventually { reopened.currentDeletions.first?.status == tickets.first?.status }
        XCTAssertTrue(published, "currentDeletions follows the acknowledgement")
    }

    // MARK: G7

    func testG7BadEventsAreRefusedAtOnceWithTheRuleAndNothingIsQueued() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        XCTAssertEqual(gate.recordEvent(""), .invalid(reason: "event name is empty"))
        guard case let .invalid(pattern) = gate.recordEvent("9 lives") else { return XCTFail("a bad name was accepted") }
        XCTAssertTrue(pattern.hasPrefix("event name does not match"), pattern)
        guard case let .invalid(long) = gate.recordEvent("a" + String(repeating: "b", count: 70)) else {
            return XCTFail("a 71-byte name was accepted")
        }
        XCTAssertTrue(long.contains("the limit is 64") || long.contains("does not match"), long)
        guard case let .invalid(big) = gate.recordEvent("upload", properties: ["blob": String(repeating: "x", count: 20_000)]) else {
            return XCTFail("20 KB of properties were accepted")
        }
        XCTAssertEqual(big, "event properties are 20011 bytes of JSON; the limit is 16384")
        guard case let .invalid(date) = gate.recordEvent("when", properties: ["at": Date()]) else {
            return XCTFail("a Date was accepted")
        }
        XCTAssertTrue(date.contains("cannot be written as JSON"), date)
        guard case let .invalid(nan) = gate.recordEvent("nan", properties: ["x": Double.nan]) else {
            return XCTFail("NaN was accepted")
        }
        XCTAssertTrue(nan.contains("no JSON form"), nan)
        guard case let .invalid(keys) = gate.recordEvent("keys", properties: ["m": [1: "one"]]) else {
            return XCTFail("a dictionary with Int keys was accepted")
        }
        XCTAssertTrue(keys.contains("keys must be strings"), keys)
        var deep: [String: Any] = ["leaf": 1]
        for _ in 0..<10 { deep = ["d": deep] }
        guard case let .invalid(depth) = gate.recordEvent("deep", properties: deep) else {
            return XCTFail("11 levels were accepted")
        }
        XCTAssertTrue(depth.contains("the limit is 8"), depth)
        XCTAssertEqual(gate.invalidEvents, 8)
        let stats = try await gate.queueStats()
        XCTAssertEqual(stats.events, 0, "nothing invalid was queued")
    }

    func testG7RecordEventsIsAllOrNothingAndNamesTheBadIndex() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        let result = gate.recordEvents([Event("ok_one"), Event("ok_two"), Event("bad name"), Event("ok_three")])
        guard case let .invalid(reason) = result else { return XCTFail("got \(result)") }
        XCTAssertTrue(reason.hasPrefix("events[2]: "), reason)
        let none = try await gate.queueStats()
        XCTAssertEqual(none.events, 0, "none of the batch was recorded")
        struct Purchase: Encodable { let item: String; let cents: Int }
        XCTAssertEqual(gate.recordEvent("purchase", encoding: Purchase(item: "tea", cents: 990)), .queued)
        XCTAssertEqual(gate.recordEvents([Event("a"), Event("b", properties: ["k": "v"])]), .queued)
        guard case let .recorded(seq) = try await gate.recordEventNow("now", properties: ["k": 1]) else {
            return XCTFail("recordEventNow did not record")
        }
        XCTAssertGreaterThan(seq, 0)
        let export = try await gate.exportData()
        XCTAssertTrue(export.contains("\"purchase\""), "the Encodable event is stored")
        XCTAssertTrue(export.contains("cents") && export.contains("990"), "with its properties: \(export.prefix(2000))")
        let all = try await gate.queueStats()
        XCTAssertEqual(all.events, 4)
    }

    func testG7RefusedConsentChangesSayWhyInASentenceAndChangeNothing() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        let before = gate.currentState
        let entries = try await gate.ledger().count
        await assertThrows(try await gate.setConsent(["analitycs": true], source: .banner),
                           .unknownPurpose(purpose: "analitycs"),
                           "unknown purpose \"analitycs\": the policy does not define it")
        await assertThrows(try await gate.setConsent(["service": false], source: .settings),
                           .notWithdrawable(purpose: "service"),
                           "purpose \"service\" is necessary for the service and cannot be withdrawn")
        do {
            _ = try await gate.setConsent(["analytics": true], source: .gpc)
            XCTFail("a source the core records itself was accepted")
        } catch {
            guard case .invalidArgument = error else { return XCTFail("got \(error)") }
        }
        XCTAssertEqual(gate.currentState, before, "nothing changed")
        let after = try await gate.ledger().count
        XCTAssertEqual(after, entries, "nothing written to the ledger")
    }

    func testG7UnderTheMinimumAgeConsentIsRefusedNamingTheAge() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        let restricted = try await gate.setAge(10)
        XCTAssertTrue(restricted.ageRestricted)
        do {
            _ = try await gate.setConsent(["analytics": true], source: .banner)
            XCTFail("a child's grant was accepted")
        } catch {
            guard case let .ageRestricted(purpose, minimumAge) = error else { return XCTFail("got \(error)") }
            XCTAssertEqual(purpose, "analytics")
            XCTAssertGreaterThan(minimumAge, 10)
            XCTAssertTrue(error.localizedDescription.contains("under the minimum age of \(minimumAge)"))
        }
        XCTAssertFalse(gate.allows("usage_events"))
        try await gate.setAge(10, parentalConsent: true)
        try await gate.setConsent(["analytics": true], source: .banner)
        XCTAssertTrue(gate.allows("usage_events"), "with a parent's consent the grant is accepted")
    }

    func testAnInvalidPolicyLeavesTheGateFailClosedAndNamesTheJSONPath() async throws {
        let policy = try editedPolicyJSON { p in
            var categories = p["categories"] as? [[String: Any]] ?? []
            categories[1]["requires"] = ["analitycs"]
            p["categories"] = categories
        }
        let gate = ConsentGate.open(configuration(try makeDataDirectory(for: self), policy: policy))
        addTeardownBlock { gate.close() }
        do {
            _ = try await gate.awaitLoaded()
            XCTFail("an invalid policy opened")
        } catch {
            guard case let .invalidPolicy(path, detail, _) = error else { return XCTFail("got \(error)") }
            XCTAssertEqual(path, "categories[1].requires[0]")
            XCTAssertTrue(detail.contains("analitycs"), detail)
            XCTAssertTrue(error.localizedDescription.hasPrefix("invalid policy: categories[1].requires[0]: "))
        }
        XCTAssertNotNil(gate.openError)
        XCTAssertTrue(gate.currentState.isLoading, "the state stays the loading one")
        XCTAssertFalse(gate.allows("usage_events"))
        XCTAssertEqual(gate.recordEvent("app_open"), .notAllowed)
        do {
            _ = try await gate.queueStats()
            XCTFail("a call after a failed open succeeded")
        } catch {
            guard case .invalidPolicy = error else { return XCTFail("got \(error)") }
        }
    }

    // MARK: G1 providers

    func testG1DeviceFieldsAndTheIDFAAreAskedForOnlyWhileAllowed() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        let device = SpyDevice()
        let idfa = SpyIDFA()
        let before = try await gate.collectDeviceInfo(device)
        XCTAssertEqual(before, DeviceInfo())
        XCTAssertEqual(device.asked, [], "no field is read before consent")
        let noID = try await gate.advertisingID(idfa)
        XCTAssertNil(noID)
        XCTAssertEqual(idfa.calls, 0)

        try await gate.setConsent(["analytics": true, "advertising": true], source: .banner)
        try await gate.setPlatformSignals(PlatformSignals(trackingAuthorization: .denied))
        XCTAssertTrue(gate.allows("advertising_id"), "consent is granted; ATT gates the read of the IDFA itself")
        let blocked = try await gate.advertisingID(idfa)
        XCTAssertNil(blocked)
        XCTAssertEqual(idfa.calls, 0, "the IDFA is not read while ATT denies it")
        let info = try await gate.collectDeviceInfo(device)
        XCTAssertEqual(info.os, "iOS")
        XCTAssertFalse(device.asked.isEmpty)

        try await gate.setPlatformSignals(PlatformSignals(trackingAuthorization: .authorized))
        XCTAssertEqual(gate.platformSignals.trackingAuthorization, .authorized)
        let id = try await gate.advertisingID(idfa)
        XCTAssertEqual(id, "6D92078A-8246-4BA4-AE5B-76104861E7DC")
        XCTAssertEqual(idfa.calls, 1)

        try await gate.setConsent(["advertising": false], source: .settings)
        let withdrawn = try await gate.advertisingID(idfa)
        XCTAssertNil(withdrawn)
        XCTAssertEqual(idfa.calls, 1, "not asked again after the withdrawal")
    }

    // MARK: values

    func testStatesAreCodableValuesWithSignedIntegers() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        let state = try await gate.acceptAll(source: .banner)
        let decoded = try JSONDecoder().decode(ConsentState.self, from: try JSONEncoder().encode(state))
        XCTAssertEqual(decoded, state)
        let revision: Int64 = state.revision
        XCTAssertEqual(revision, 1)
        let stats: QueueStats = try await gate.queueStats()
        let events: Int = stats.events
        XCTAssertEqual(events, 0)
        let entries = try await gate.ledger()
        XCTAssertEqual(entries.map(\.kind), Array(repeating: .decision, count: entries.count))
        let check = try await gate.verifyLedger()
        XCTAssertTrue(check.intact)
        XCTAssertEqual(check.entries, entries.count)
    }

    // MARK: helpers

    private func assertThrows(
        _ call: @autoclosure () async throws -> ConsentState, _ expected: ConsentGateError, _ sentence: String,
        file: StaticString = #filePath, line: UInt = #line
    ) async {
        do {
            _ = try await call()
            XCTFail("expected \(expected)", file: file, line: line)
        } catch {
            XCTAssertEqual(error as? ConsentGateError, expected, file: file, line: line)
            XCTAssertEqual(error.localizedDescription, sentence, file: file, line: line)
        }
    }
}

/// Set once by the withdrawing task, read by the recording ones.
private final class WithdrawnFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// A device provider that notes which fields it was asked for.
private final class SpyDevice: DeviceInfoProvider, @unchecked Sendable {
    private let lock = NSLock()
    private var fields: [String] = []
    var asked: [String] { lock.withLock { fields } }
    private func note(_ f: String, _ v: String) -> String? {
        lock.withLock { fields.append(f) }
        return v
    }
    func os() -> String? { note("os", "iOS") }
    func osVersion() -> String? { note("os_version", "18.2") }
    func model() -> String? { note("model", "iPhone16,1") }
}

/// An IDFA provider that counts its calls.
private final class SpyIDFA: AdvertisingIDProvider, @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    var calls: Int { lock.withLock { n } }
    func advertisingID() -> String? {
        lock.withLock { n += 1 }
        return "6D92078A-8246-4BA4-AE5B-76104861E7DC"
    }
}
