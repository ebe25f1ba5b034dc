// The policy's `interop` block through the public Swift API, with an
// in-memory KeyValueStore standing in for UserDefaults: following another CMP
// (a fake CMP writes `IABTCF_TCString`), being the CMP (the keys written
// before the consent call returns), the Consent Mode v2 signals pushed on
// change, and UserDefaultsKeyValueStore end to end. The same behaviour as
// the Kotlin InteropTest, on the same example policies and TC strings.
import Foundation
import XCTest

import ConsentGate

final class InteropTests: XCTestCase {
    private func follow() throws -> String { try policyJSON("example-eu.json") }
    private func cmp() throws -> String { try policyJSON("example-eu-cmp.json") }

    /// A TC string of core/tests/vectors/tcf.json.
    private func vector(_ prefix: String) throws -> String {
        let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("core/tests/vectors/tcf.json"))
        let doc = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let vectors = doc?["vectors"] as? [[String: Any]] ?? []
        guard let s = vectors.first(where: { ($0["id"] as? String)?.hasPrefix(prefix) == true })?["tc_string"] as? String else {
            throw TestSetupError("no TC string \(prefix) in core/tests/vectors/tcf.json")
        }
        return s
    }

    /// The string the example CMP policy writes for these choices, made by a second gate.
    private func cmpString(_ decisions: [String: Bool]) async throws -> String {
        let store = MemoryStore()
        let other = try openLoaded(try makeDataDirectory(for: self), policy: try cmp(), region: "DE", for: self)
        try await other.setKeyValueStore(store)
        try await other.setConsent(decisions, source: .banner)
        other.close()
        return try XCTUnwrap(store.string(forKey: "IABTCF_TCString"))
    }

    func testG1FollowingACMPItsValidStringBecomesDecisionsWithSourceTCF() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), policy: try follow(), region: "DE", for: self)
        let store = MemoryStore()
        let string = try vector("tcf-04")  // purposes 1, 2, 3, 4, 7, 9, 10 and vendor 755, not 8
        store.cmpWrites(string)
        let state = try await gate.setKeyValueStore(store)
        XCTAssertEqual(state.status(of: "advertising"), .granted)
        XCTAssertEqual(state.status(of: "analytics"), .denied, "purpose 8 is refused, so analytics never is granted")
        XCTAssertEqual(state.purposes.first { $0.id == "advertising" }?.source, .tcf)
        XCTAssertEqual(state.interop?.mode, .follow)
        XCTAssertEqual(state.interop?.tcf.status, .applied)
        XCTAssertEqual(state.interop?.tcf.string, string)
        XCTAssertTrue(gate.allows("advertising_id"), "allows follows at once")
        XCTAssertFalse(gate.allows("usage_events"))
        XCTAssertEqual(gate.currentState, state)
        let fromTCF = try await gate.ledger().filter { $0.source == .tcf }
        XCTAssertEqual(Set(fromTCF.map(\.purpose)), ["analytics", "advertising"])
        XCTAssertTrue(fromTCF.allSatisfy { $0.signalHash == state.interop?.tcf.stringHash })
        XCTAssertEqual(store.commits, [], "following never writes a key")
    }

    func testG1AnInvalidStringChangesNothingAndIsReported() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), policy: try follow(), region: "DE", for: self)
        let store = MemoryStore()
        let missing = try await gate.setKeyValueStore(store)
        XCTAssertEqual(missing.interop?.tcf.status, .missing)
        store.cmpWrites(try vector("tcf-09"))
        let state = try await gate.interopKeysChanged()
        XCTAssertEqual(state.interop?.tcf.status, .invalid)
        XCTAssertTrue(state.interop?.tcf.problem?.contains(" at bit ") == true, "\(state.interop?.tcf.problem ?? "")")
        let entries = try await gate.ledger()
        XCTAssertEqual(entries, [], "nothing changed")
        XCTAssertFalse(gate.canRequestAds)
    }

    func testG3AWithdrawalThroughTheOtherCMPPurgesQueuedEvents() async throws {
        let granted = try await cmpString(["analytics": true, "advertising": true])
        let withdrawn = try await cmpString(["analytics": false, "advertising": true])
        let gate = try openLoaded(try makeDataDirectory(for: self), policy: try follow(), region: "DE", for: self)
        let store = MemoryStore()
        store.cmpWrites(granted)
        let state = try await gate.setKeyValueStore(store)
        XCTAssertEqual(state.status(of: "analytics"), .granted)
        for i in 0..<20 { XCTAssertEqual(gate.recordEvent("screen_view", properties: ["n": i]), .queued) }
        store.cmpWrites(withdrawn)
        let after = try await gate.interopKeysChanged()
        XCTAssertEqual(after.status(of: "analytics"), .denied)
        XCTAssertFalse(gate.allows("usage_events"))
        let stats = try await gate.queueStats()
        XCTAssertEqual(stats.events, 0, "queued events purged with the withdrawal")
        XCTAssertEqual(gate.recordEvent("screen_view"), .notAllowed)
    }

    func testBeingTheCMPTheKeysAreWrittenBeforeSetConsentReturnsAndDeletionWritesTheRefusedState() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), policy: try cmp(), region: "DE", for: self)
        let store = MemoryStore()
        try await gate.setKeyValueStore(store)
        XCTAssertEqual(store.string(forKey: "IABTCF_PurposeConsents"), "", "a fresh install writes the refused state")
        XCTAssertEqual(store.integer(forKey: "IABTCF_CmpSdkID"), 4095)
        let state = try await gate.setConsent(["analytics": true, "advertising": true], source: .banner)
        XCTAssertEqual(state.interop?.mode, .cmp)
        XCTAssertEqual(state.interop?.tcf.status, .written)
        XCTAssertEqual(store.string(forKey: "IABTCF_TCString"), state.interop?.tcf.string)
        XCTAssertEqual(store.string(forKey: "IABTCF_PurposeConsents"), "111100111")
        XCTAssertEqual(store.string(forKey: "IABTCF_PublisherCC"), "DE")
        XCTAssertEqual(store.integer(forKey: "IABTCF_gdprApplies"), 1)
        XCTAssertEqual(store.string(forKey: "IABGPP_GppSID"), "2")
        XCTAssertTrue(gate.canRequestAds)
        XCTAssertTrue(state.privacyOptionsRequired)
        let written = store.string(forKey: "IABTCF_TCString")
        try await gate.requestDeletion()
        XCTAssertNotEqual(store.string(forKey: "IABTCF_TCString"), written, "a fresh, refusing string")
        XCTAssertEqual(store.string(forKey: "IABTCF_PurposeConsents"), "")
        XCTAssertEqual(store.string(forKey: "IABTCF_VendorConsents"), "")
        XCTAssertEqual(gate.currentState.consentMode, .allDenied)
        XCTAssertFalse(gate.canRequestAds)
    }

    func testConsentModeSignalsFollowTheMappingAndAreToldOnlyOnChange() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), policy: try cmp(), region: "DE", for: self)
        try await gate.setKeyValueStore(MemoryStore())
        let told = Told()
        let observation = gate.observeConsentMode { told.append($0) }
        XCTAssertEqual(told.all, [.allDenied], "the signals in force are told at once")
        try await gate.setConsent(["analytics": true], source: .banner)
        try await gate.setConsent(["analytics": true], source: .settings)  // same signals: not told again
        try await gate.setConsent(["advertising": true], source: .banner)
        XCTAssertEqual(told.all, [
            .allDenied,
            ConsentModeSignals(adStorage: .denied, analyticsStorage: .granted, adUserData: .denied, adPersonalization: .denied),
            ConsentModeSignals(adStorage: .granted, analyticsStorage: .granted, adUserData: .granted, adPersonalization: .granted),
        ])
        XCTAssertEqual(gate.currentState.consentMode?.byName["ad_storage"], "granted")
        observation.cancel()
        try await gate.rejectAll(source: .settings)
        XCTAssertEqual(told.all.count, 3, "nothing is told after cancel")
    }

    func testUserDefaultsKeyValueStoreCarriesTheKeysBothWays() async throws {
        let suite = "consentgate-test-\(UUID().uuidString)"
        let defaults = try XCTUnwrap(UserDefaults(suiteName: suite))
        addTeardownBlock { defaults.removePersistentDomain(forName: suite) }
        let store = UserDefaultsKeyValueStore(defaults: defaults, notificationCenter: NotificationCenter())
        // Being the CMP: the keys land in UserDefaults, where ad SDKs read them.
        let cmpGate = try openLoaded(try makeDataDirectory(for: self), policy: try cmp(), region: "DE", for: self)
        try await cmpGate.setKeyValueStore(store)
        try await cmpGate.acceptAll(source: .banner)
        let tcString = try XCTUnwrap(defaults.string(forKey: "IABTCF_TCString"))
        XCTAssertEqual(defaults.integer(forKey: "IABTCF_gdprApplies"), 1)
        cmpGate.close()
        // Following: another gate reads the same keys back as decisions.
        let follower = try openLoaded(try makeDataDirectory(for: self), policy: try follow(), region: "DE", for: self)
        let state = try await follower.setKeyValueStore(store)
        XCTAssertEqual(state.interop?.tcf.string, tcString)
        XCTAssertEqual(state.status(of: "advertising"), .granted)
    }
}

/// UserDefaults in memory: strings and integers, and every change applied.
private final class MemoryStore: KeyValueStore, @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: Any] = [:]
    private var applied: [[KeyValueChange]] = []

    var commits: [[KeyValueChange]] { lock.withLock { applied } }

    func string(forKey key: String) -> String? { lock.withLock { values[key] as? String } }
    func integer(forKey key: String) -> Int? { lock.withLock { values[key] as? Int } }
    func apply(_ changes: [KeyValueChange]) {
        lock.withLock {
            applied.append(changes)
            for c in changes {
                switch c {
                case let .setString(key, value): values[key] = value
                case let .setInt(key, value): values[key] = value
                case let .remove(key): values[key] = nil
                }
            }
        }
    }

    /// What another CMP (e.g. Google UMP) does: store its string under the IAB key.
    func cmpWrites(_ tcString: String) {
        lock.withLock {
            values["IABTCF_TCString"] = tcString
            values["IABTCF_gdprApplies"] = 1
        }
    }
}

/// The Consent Mode signals told, in order.
private final class Told: @unchecked Sendable {
    private let lock = NSLock()
    private var signals: [ConsentModeSignals] = []
    var all: [ConsentModeSignals] { lock.withLock { signals } }
    func append(_ s: ConsentModeSignals) { lock.withLock { signals.append(s) } }
}
