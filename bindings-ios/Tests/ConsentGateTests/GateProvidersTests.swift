// The device facts through the public Swift API: the device-info and
// advertising-id providers are asked only for what the user allowed (G2),
// and the platform's signals (App Tracking Transparency, limit ad tracking,
// Global Privacy Control) close what they must whatever the banner said;
// the Consent Mode signals handed to an observer follow the decisions.
import Foundation
import XCTest

import ConsentGate

/// Counts every field the core asks for and answers a fixed value.
private final class SpyDeviceInfo: DeviceInfoProvider, @unchecked Sendable {
    private let lock = NSLock()
    private var asked: [String] = []

    var calls: [String] {
        lock.lock()
        defer { lock.unlock() }
        return asked
    }

    private func answer(_ field: String, _ value: String) -> String? {
        lock.lock()
        asked.append(field)
        lock.unlock()
        return value
    }

    func os() -> String? { answer("os", "iOS") }
    func osVersion() -> String? { answer("os_version", "18.1") }
    func model() -> String? { answer("model", "iPhone16,1") }
    func manufacturer() -> String? { answer("manufacturer", "Apple") }
    func locale() -> String? { answer("locale", "kk-KZ") }
    func timezone() -> String? { answer("timezone", "Asia/Almaty") }
    func carrier() -> String? { answer("carrier", "Beeline KZ") }
    func appVersion() -> String? { answer("app_version", "1.0.0") }
    func screen() -> String? { answer("screen", "1179x2556") }
}

/// Counts how often the IDFA is read.
private final class SpyAdvertisingID: AdvertisingIDProvider, @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    let id = "6D92078A-8246-4BA4-AE5B-76104861E7DC"

    var calls: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }

    func advertisingID() -> String? {
        lock.lock()
        count += 1
        lock.unlock()
        return id
    }
}

/// Answers only the model: the other fields take the protocol's defaults.
private struct ModelOnly: DeviceInfoProvider {
    func model() -> String? { "iPhone16,1" }
}

final class GateProvidersTests: XCTestCase {
    func testG2DeviceInfoProviderIsNotAskedAnythingWithoutConsent() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        let spy = SpyDeviceInfo()
        let info = try await gate.collectDeviceInfo(spy)
        XCTAssertEqual(spy.calls, [], "asked for \(spy.calls) before any consent")
        XCTAssertEqual(info, DeviceInfo())
    }

    func testG2DeviceInfoIsReadOnceAnalyticsIsGrantedAndStopsAfterWithdrawal() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        let spy = SpyDeviceInfo()
        let info = try await gate.collectDeviceInfo(spy)
        XCTAssertEqual(Set(spy.calls).count, 9, "asked \(spy.calls)")
        XCTAssertEqual(spy.calls.count, 9, "a field was asked twice: \(spy.calls)")
        XCTAssertEqual(info.os, "iOS")
        XCTAssertEqual(info.model, "iPhone16,1")
        XCTAssertEqual(info.timezone, "Asia/Almaty")
        XCTAssertEqual(info.screen, "1179x2556")
        try await gate.setConsent(["analytics": false], source: .settings)
        let after = SpyDeviceInfo()
        let withdrawn = try await gate.collectDeviceInfo(after)
        XCTAssertEqual(after.calls, [])
        XCTAssertEqual(withdrawn, DeviceInfo())
    }

    func testDeviceInfoFieldsAProviderDoesNotKnowStayNil() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        let info = try await gate.collectDeviceInfo(ModelOnly())
        XCTAssertEqual(info.model, "iPhone16,1")
        XCTAssertNil(info.os)
        XCTAssertNil(info.carrier)
    }

    func testG2AdvertisingIDIsReadOnlyWhenAdvertisingIsGranted() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        let spy = SpyAdvertisingID()
        try await gate.setConsent(["analytics": true], source: .banner)
        let denied = try await gate.advertisingID(spy)
        XCTAssertNil(denied)
        XCTAssertEqual(spy.calls, 0, "the IDFA was read with advertising not granted")
        try await gate.setConsent(["advertising": true], source: .banner)
        let granted = try await gate.advertisingID(spy)
        XCTAssertEqual(granted, spy.id)
        XCTAssertEqual(spy.calls, 1)
    }

    func testATTDeniedKeepsTheIDFAUnreadEvenWhenTheBannerGrantedAdvertising() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.acceptAll(source: .banner)
        try await gate.setPlatformSignals(PlatformSignals(trackingAuthorization: .denied))
        XCTAssertEqual(gate.platformSignals.trackingAuthorization, .denied)
        XCTAssertTrue(gate.allows("usage_events"), "ATT says nothing about first-party analytics")
        let spy = SpyAdvertisingID()
        let id = try await gate.advertisingID(spy)
        XCTAssertNil(id)
        XCTAssertEqual(spy.calls, 0, "the IDFA was read with ATT denied")
        for status in [TrackingAuthorization.notDetermined, .restricted] {
            try await gate.setPlatformSignals(PlatformSignals(trackingAuthorization: status))
            let none = try await gate.advertisingID(spy)
            XCTAssertNil(none, "IDFA read under ATT \(status)")
        }
        XCTAssertEqual(spy.calls, 0)
        try await gate.setPlatformSignals(PlatformSignals(trackingAuthorization: .authorized))
        let authorized = try await gate.advertisingID(spy)
        XCTAssertEqual(authorized, spy.id, "the user's grant applies again once ATT authorizes")
        XCTAssertEqual(spy.calls, 1)
    }

    func testLimitAdTrackingKeepsTheIDFAUnread() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.acceptAll(source: .banner)
        try await gate.setPlatformSignals(PlatformSignals(trackingAuthorization: .authorized, limitAdTracking: true))
        let spy = SpyAdvertisingID()
        let id = try await gate.advertisingID(spy)
        XCTAssertNil(id)
        XCTAssertEqual(spy.calls, 0)
    }

    func testAnAllZeroIDFACountsAsNone() async throws {
        struct Zeroes: AdvertisingIDProvider {
            func advertisingID() -> String? { "00000000-0000-0000-0000-000000000000" }
        }
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.acceptAll(source: .banner)
        let id = try await gate.advertisingID(Zeroes())
        XCTAssertNil(id)
    }

    func testGPCRefusesTheSaleOrSharePurposeAndSaysWhy() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        let state = try await gate.setPlatformSignals(PlatformSignals(globalPrivacyControl: true))
        XCTAssertTrue(state.gpc)
        let entries = try await gate.ledger().count
        do {
            try await gate.setConsent(["advertising": true], source: .banner)
            XCTFail("advertising (sale_or_share) granted under GPC")
        } catch {
            XCTAssertEqual(error, .gpcRestricted(purpose: "advertising"))
            XCTAssertTrue(error.localizedDescription.contains("Global Privacy Control"))
        }
        XCTAssertFalse(gate.allows("advertising_id"))
        let after = try await gate.ledger().count
        XCTAssertEqual(after, entries)
        let analytics = try await gate.setConsent(["analytics": true], source: .banner)
        XCTAssertTrue(analytics.allows("usage_events"), "GPC leaves purposes that are not a sale or share alone")
    }

    func testGPCArrivingAfterAGrantWithdrawsTheSaleOrSharePurpose() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.acceptAll(source: .banner)
        XCTAssertTrue(gate.allows("advertising_id"))
        try await gate.setPlatformSignals(PlatformSignals(globalPrivacyControl: true))
        XCTAssertFalse(gate.allows("advertising_id"))
        XCTAssertFalse(gate.allows("install_referrer"))
        XCTAssertTrue(gate.allows("usage_events"))
    }

    func testConsentModeSignalsFollowDecisionsAndStopWhenCancelled() async throws {
        let gate = try openLoaded(
            try makeDataDirectory(for: self), policy: try policyJSON("example-eu.json"), region: "DE", for: self)
        let heard = SignalLog()
        let observation = gate.observeConsentMode { heard.append($0) }
        XCTAssertEqual(heard.all.last?.analyticsStorage, .denied, "the signals now were not delivered at once")
        XCTAssertEqual(heard.all.last?.adStorage, .denied)
        XCTAssertFalse(gate.canRequestAds)
        try await gate.setConsent(["analytics": true], source: .banner)
        XCTAssertEqual(heard.all.last?.analyticsStorage, .granted)
        XCTAssertEqual(heard.all.last?.adStorage, .denied)
        let count = heard.all.count
        try await gate.setConsent(["cross_border_transfer": true], source: .banner)
        XCTAssertEqual(heard.all.count, count, "a change that leaves the signals alone was delivered")
        observation.cancel()
        try await gate.setConsent(["advertising": true], source: .banner)
        XCTAssertEqual(heard.all.count, count, "a cancelled observation still hears changes")
    }

    func testWithoutAConsentModeMappingTheSinkIsNeverCalled() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        let heard = SignalLog()
        let observation = gate.observeConsentMode { heard.append($0) }
        try await gate.acceptAll(source: .banner)
        XCTAssertEqual(heard.all, [])
        XCTAssertFalse(gate.canRequestAds, "no interop block: ads are never said to be allowed")
        observation.cancel()
    }
}

/// Consent Mode signals a sink heard, in order.
private final class SignalLog: @unchecked Sendable {
    private let lock = NSLock()
    private var signals: [ConsentModeSignals] = []
    func append(_ s: ConsentModeSignals) { lock.withLock { signals.append(s) } }
    var all: [ConsentModeSignals] { lock.withLock { signals } }
}
