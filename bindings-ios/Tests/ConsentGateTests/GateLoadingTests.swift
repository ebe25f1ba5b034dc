// The loading state held open on purpose: a clock that blocks the
// `consentgate-open` thread keeps the gate loading until the test lets it
// go, so what happens meanwhile is checked deterministically (G1:
// fail-closed, events held and judged by the stored decisions and the
// core's rules, the memory bound, calls waiting for the open).
import Foundation
import XCTest

import ConsentGate

/// A clock whose first reading blocks until `release()`: the core reads it
/// first, on the gate's open thread (the test records only after a pause);
/// every later reading answers at once.
private final class GatedClock: Clock, @unchecked Sendable {
    private let released = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var first = true

    func nowMilliseconds() -> Int64 {
        let block = lock.withLock { () -> Bool in
            defer { first = false }
            return first
        }
        if block { released.wait() }
        return Int64(Date().timeIntervalSince1970 * 1000)
    }

    func release() {
        released.signal()
    }
}

final class GateLoadingTests: XCTestCase {
    /// A directory whose stored decisions grant analytics (or not).
    private func storedDirectory(grantingAnalytics: Bool) async throws -> URL {
        let dir = try makeDataDirectory(for: self)
        let gate = try ConsentGate.openBlocking(configuration(dir, policy: try policyJSON()))
        try await gate.setConsent(["analytics": grantingAnalytics], source: .banner)
        gate.close()
        return dir
    }

    /// Opens `dir` with a clock that keeps it loading until released (released at teardown at the latest).
    private func openLoading(_ dir: URL) throws -> (ConsentGate, GatedClock) {
        let clock = GatedClock()
        let gate = ConsentGate.open(configuration(dir, policy: try policyJSON(), clock: clock))
        addTeardownBlock {
            clock.release()
            gate.close()
        }
        return (gate, clock)
    }

    func testG1WhileLoadingTheGateIsFailClosedAndHoldsEvents() async throws {
        let (gate, clock) = try openLoading(try await storedDirectory(grantingAnalytics: true))
        try await Task.sleep(nanoseconds: 50_000_000)
        XCTAssertEqual(gate.currentState, .loading, "the gate loaded past the blocked clock")
        XCTAssertFalse(gate.allows("usage_events"))
        XCTAssertFalse(gate.allows("device_info"))
        XCTAssertEqual(gate.currentDeletions, [])
        XCTAssertEqual(gate.recordEvent("app_open", properties: ["screen": "home"]), .held)
        XCTAssertEqual(gate.recordEvents([Event("screen_view"), Event("app_close")]), .held)
        XCTAssertEqual(gate.bufferedEvents, 3)
        clock.release()
        let loaded = try await gate.awaitLoaded()
        XCTAssertTrue(loaded.allows("usage_events"))
        let queued = try await gate.queueStats().events
        XCTAssertEqual(queued, 3, "the held events were not kept although the stored decisions grant analytics")
    }

    func testG1EventsHeldWhileLoadingAreDroppedWhenTheStoredDecisionsDenyThem() async throws {
        let (gate, clock) = try openLoading(try await storedDirectory(grantingAnalytics: false))
        try await Task.sleep(nanoseconds: 20_000_000)
        XCTAssertEqual(gate.recordEvent("app_open"), .held)
        clock.release()
        try await gate.awaitLoaded()
        XCTAssertFalse(gate.allows("usage_events"))
        let stats = try await gate.queueStats()
        XCTAssertEqual(stats.events, 0)
        XCTAssertEqual(gate.bufferedEvents, 0)
    }

    func testHeldEventsBreakingTheCoresRulesAreRefusedAtOpenAndCounted() async throws {
        let (gate, clock) = try openLoading(try await storedDirectory(grantingAnalytics: true))
        try await Task.sleep(nanoseconds: 20_000_000)
        XCTAssertEqual(gate.recordEvent("bad name!"), .held, "the core's rules are not known while loading")
        XCTAssertEqual(gate.recordEvent("blob", properties: ["b": String(repeating: "x", count: 20_000)]), .held)
        XCTAssertEqual(gate.recordEvent("app_open"), .held)
        let logs = LogCapture(maxLevel: .debug)
        addTeardownBlock { ConsentGateLogging.stop() }
        clock.release()
        try await gate.awaitLoaded()
        let queued = try await gate.queueStats().events
        XCTAssertEqual(queued, 1)
        XCTAssertEqual(gate.invalidEvents, 2)
        XCTAssertTrue(
            logs.messages.contains { $0.contains("2 event(s) recorded while loading refused as invalid") }, "\(logs.messages)")
        XCTAssertFalse(logs.messages.contains { $0.contains("bad name!") }, "the refused name was logged")
    }

    func testG8HoldingWhileLoadingIsBoundedAndEvictsTheOldest() async throws {
        let (gate, clock) = try openLoading(try await storedDirectory(grantingAnalytics: true))
        try await Task.sleep(nanoseconds: 20_000_000)
        for i in 0..<(ConsentGate.maxHeldWhileLoading + 5) {
            XCTAssertEqual(gate.recordEvent("app_open", properties: ["i": i]), .held)
        }
        XCTAssertEqual(gate.bufferedEvents, ConsentGate.maxHeldWhileLoading)
        XCTAssertEqual(gate.evictedEvents, 5)
        clock.release()
        try await gate.awaitLoaded()
        let json = try await gate.exportData()
        let doc = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let queue = doc?["queue"] as? [[String: Any]] ?? []
        XCTAssertEqual(queue.count, ConsentGate.maxHeldWhileLoading)
        XCTAssertEqual((queue.first?["props"] as? [String: Any])?["i"] as? Int, 5, "the oldest were not the ones evicted")
    }

    func testG8HoldingWhileLoadingIsBoundedInBytesToo() async throws {
        let (gate, clock) = try openLoading(try await storedDirectory(grantingAnalytics: true))
        try await Task.sleep(nanoseconds: 20_000_000)
        let blob = String(repeating: "x", count: 15_000)
        for i in 0..<20 { XCTAssertEqual(gate.recordEvent("blob", properties: ["i": i, "b": blob]), .held) }
        XCTAssertLessThanOrEqual(gate.bufferedEvents * 15_000, ConsentGate.maxHeldBytesWhileLoading)
        XCTAssertGreaterThan(gate.evictedEvents, 0, "300 KB held past the 256 KiB bound")
        XCTAssertEqual(gate.bufferedEvents + gate.evictedEvents, 20)
        clock.release()
        try await gate.awaitLoaded()
        let queued = try await gate.queueStats().events
        XCTAssertEqual(queued, 20 - gate.evictedEvents)
    }

    func testCallsMadeWhileLoadingWaitForTheOpenAndThenRun() async throws {
        let (gate, clock) = try openLoading(try await storedDirectory(grantingAnalytics: false))
        try await Task.sleep(nanoseconds: 20_000_000)
        let change = Task { try await gate.setConsent(["analytics": true], source: .settings) }
        try await Task.sleep(nanoseconds: 50_000_000)
        XCTAssertEqual(gate.currentState, .loading)
        clock.release()
        let state = try await change.value
        XCTAssertTrue(state.allows("usage_events"))
        XCTAssertTrue(gate.allows("usage_events"))
    }

    func testCloseDuringTheOpenLeavesTheGateClosedAndTheDirectoryFree() async throws {
        let dir = try await storedDirectory(grantingAnalytics: true)
        let (gate, clock) = try openLoading(dir)
        try await Task.sleep(nanoseconds: 20_000_000)
        XCTAssertEqual(gate.recordEvent("app_open"), .held)
        let closer = Thread { gate.close() }
        closer.start()
        try await Task.sleep(nanoseconds: 20_000_000)
        clock.release()
        let closed = await eventually { gate.isClosed }
        XCTAssertTrue(closed)
        XCTAssertFalse(gate.allows("usage_events"))
        let reopened = await eventually {
            guard let g = try? ConsentGate.openBlocking(configuration(dir, policy: try policyJSON())) else { return false }
            g.close()
            return true
        }
        XCTAssertTrue(reopened, "the directory stayed held after a close during the open")
    }
}
