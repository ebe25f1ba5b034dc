// The gate shared by many Swift tasks at once, through the public API:
// recording from many tasks while another withdraws (G3: nothing needing
// the purpose is queued once setConsent returns), exact counts from many
// recorders, concurrent consent changes that leave an intact ledger, and
// close racing recorders.
import Foundation
import XCTest

import ConsentGate

/// A flag and counters shared by recording tasks.
private final class Shared: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var withdrawn = false
    private var lateAccepted = 0
    private var total = 0

    var isStopped: Bool { lock.withLock { stopped } }
    func stop() { lock.withLock { stopped = true } }
    func markWithdrawn() { lock.withLock { withdrawn = true } }
    var isWithdrawn: Bool { lock.withLock { withdrawn } }
    func count(_ accepted: Bool, startedAfterWithdrawal: Bool) {
        lock.withLock {
            total += 1
            if accepted && startedAfterWithdrawal { lateAccepted += 1 }
        }
    }
    var acceptedAfterWithdrawal: Int { lock.withLock { lateAccepted } }
    var recorded: Int { lock.withLock { total } }
}

final class GateConcurrencyTests: XCTestCase {
    func testG3WithdrawalPurgesEventsRecordedFromManyTasks() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.acceptAll(source: .banner)
        let shared = Shared()
        let recorders = (0..<8).map { task in
            Task.detached {
                var i = 0
                while !shared.isStopped {
                    let after = shared.isWithdrawn
                    let result = gate.recordEvent("screen_view", properties: ["task": task, "i": i])
                    shared.count(result.isAccepted, startedAfterWithdrawal: after)
                    i += 1
                    if i % 64 == 0 { await Task.yield() }
                }
            }
        }
        try await Task.sleep(nanoseconds: 50_000_000)
        try await gate.setConsent(["analytics": false], source: .settings)
        shared.markWithdrawn()
        XCTAssertFalse(gate.allows("usage_events"))
        let queuedAtReturn = try await gate.queueStats().events
        XCTAssertEqual(queuedAtReturn, 0, "events needing analytics are queued after the withdrawal returned")
        try await Task.sleep(nanoseconds: 20_000_000)
        shared.stop()
        for r in recorders { await r.value }
        XCTAssertGreaterThan(shared.recorded, 100, "the recorders hardly ran")
        XCTAssertEqual(shared.acceptedAfterWithdrawal, 0, "an event recorded after the withdrawal was accepted")
        let stats = try await gate.queueStats()
        XCTAssertEqual(stats.events, 0)
        let json = try await gate.exportData()
        let doc = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        XCTAssertEqual((doc?["queue"] as? [Any])?.count, 0, "the access copy still lists queued events")
    }

    func testG3EveryRoundOfGrantRecordWithdrawFromManyTasksEndsEmpty() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        for round in 0..<5 {
            try await gate.setConsent(["analytics": true], source: .banner)
            let shared = Shared()
            let recorders = (0..<4).map { task in
                Task.detached {
                    var i = 0
                    while !shared.isStopped {
                        let after = shared.isWithdrawn
                        let result = i % 3 == 0
                            ? gate.recordEvents([Event("a", properties: ["t": task]), Event("b")])
                            : gate.recordEvent("screen_view", properties: ["i": i])
                        shared.count(result.isAccepted, startedAfterWithdrawal: after)
                        i += 1
                        if i % 32 == 0 { await Task.yield() }
                    }
                }
            }
            try await Task.sleep(nanoseconds: 10_000_000)
            try await gate.setConsent(["analytics": false], source: .settings)
            shared.markWithdrawn()
            let stats = try await gate.queueStats()
            try await Task.sleep(nanoseconds: 5_000_000)
            shared.stop()
            for r in recorders { await r.value }
            XCTAssertEqual(stats.events, 0, "round \(round): \(stats.events) event(s) queued after the withdrawal")
            XCTAssertEqual(shared.acceptedAfterWithdrawal, 0, "round \(round)")
            let later = try await gate.queueStats().events
            XCTAssertEqual(later, 0, "round \(round)")
        }
    }

    func testStateAndDeletionStreamsEndWhenTheGateCloses() async throws {
        let gate = try ConsentGate.openBlocking(configuration(try makeDataDirectory(for: self), policy: try policyJSON()))
        let states = gate.states
        let deletions = gate.deletions
        let consumer = Task { () -> (Int, Int) in
            var s = 0
            var d = 0
            for await _ in states { s += 1 }
            for await _ in deletions { d += 1 }
            return (s, d)
        }
        try await gate.setConsent(["analytics": true], source: .banner)
        gate.close()
        let (s, d) = await consumer.value
        XCTAssertGreaterThanOrEqual(s, 1)
        XCTAssertGreaterThanOrEqual(d, 1)
        var afterClose = 0
        for await _ in gate.states { afterClose += 1 }
        XCTAssertEqual(afterClose, 0, "a stream taken after close delivers")
    }

    func testG3AnExpiredGrantIsWithdrawnOnATimeChangeAndItsEventsPurged() async throws {
        let clock = ManualClock()
        let gate = try openLoaded(try makeDataDirectory(for: self), clock: clock, for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        for _ in 0..<5 { gate.recordEvent("app_open") }
        try await gate.persist()
        clock.advance(ms: 366 * 24 * 3_600 * 1_000)  // consent_ttl_days is 365
        ConsentGate.timeChanged()
        let expired = await eventually { !gate.allows("usage_events") }
        XCTAssertTrue(expired, "the expired grant still allows usage_events")
        XCTAssertTrue(gate.currentState.needsPrompt)
        XCTAssertEqual(gate.recordEvent("app_open"), .notAllowed)
        let queued = try await gate.queueStats().events
        XCTAssertEqual(queued, 0, "events of an expired grant are still queued")
        let entries = try await gate.ledger()
        XCTAssertEqual(entries.last?.purpose, "analytics")
        XCTAssertEqual(entries.last?.source, .expiry)
    }

    func testEventsRecordedFromManyTasksAreAllQueuedExactlyOnce() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for i in 0..<250 {
                        if i % 50 == 0 {
                            _ = gate.recordEvents((0..<10).map { Event("batch_item", properties: ["t": task, "j": $0]) })
                        } else {
                            gate.recordEvent("screen_view", properties: ["t": task, "i": i])
                        }
                    }
                }
            }
        }
        let stats = try await gate.queueStats()
        XCTAssertEqual(stats.events, 8 * (245 + 50))
        XCTAssertEqual(gate.bufferedEvents, 0, "queueStats hands the Swift buffer to the core first")
        XCTAssertEqual(gate.evictedEvents, 0)
    }

    func testConcurrentConsentChangesLeaveOneConsistentStateAndAnIntactLedger() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<12 {
                group.addTask {
                    let purpose = ["analytics", "advertising", "cross_border_transfer"][i % 3]
                    try await gate.setConsent([purpose: i % 2 == 0], source: .settings)
                }
                group.addTask { _ = gate.allows("usage_events") }
            }
            try await group.waitForAll()
        }
        try await gate.setConsent(["analytics": true, "advertising": false], source: .settings)
        let state = gate.currentState
        XCTAssertEqual(state.status(of: "analytics"), .granted)
        XCTAssertEqual(state.status(of: "advertising"), .denied)
        XCTAssertTrue(gate.allows("usage_events"))
        XCTAssertFalse(gate.allows("advertising_id"))
        let check = try await gate.verifyLedger()
        XCTAssertTrue(check.intact, check.problem ?? "")
        let entries = try await gate.ledger()
        XCTAssertEqual(check.entries, entries.count)
        XCTAssertEqual(entries.map(\.seq), Array(1...Int64(entries.count)), "ledger seqs are not 1…n in order")
    }

    func testTheStatesStreamEndsWithTheLastChangeOfManyTasks() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        let stream = gate.states
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<10 {
                group.addTask { try await gate.setConsent(["analytics": i % 2 == 0], source: .api) }
            }
            try await group.waitForAll()
        }
        let last = try await gate.setConsent(["advertising": true], source: .api)
        var seen: ConsentState?
        for await s in stream {
            seen = s
            if s == last { break }
        }
        XCTAssertEqual(seen, last, "the stream never delivered the latest state")
    }

    func testCloseWhileManyTasksRecordLeavesEveryLaterCallClosed() async throws {
        let gate = try ConsentGate.openBlocking(configuration(try makeDataDirectory(for: self), policy: try policyJSON()))
        try await gate.setConsent(["analytics": true], source: .banner)
        let shared = Shared()
        let recorders = (0..<4).map { _ in
            Task.detached {
                while !shared.isStopped {
                    _ = gate.recordEvent("app_open")
                    await Task.yield()
                }
            }
        }
        try await Task.sleep(nanoseconds: 20_000_000)
        gate.close()
        XCTAssertEqual(gate.recordEvent("app_open"), .closed)
        XCTAssertFalse(gate.allows("usage_events"))
        shared.stop()
        for r in recorders { await r.value }
        do {
            _ = try await gate.setConsent(["analytics": false], source: .settings)
            XCTFail("setConsent after close")
        } catch {
            XCTAssertEqual(error, .closed)
        }
    }
}
