// The portable parts of the platform adapters (AdaptersTracking.swift,
// AdaptersUIKit.swift): the ATT status mapping, and the device fields as the
// UIKit provider formats them. The UIKit / AppTrackingTransparency / AdSupport
// calls themselves compile only on Apple platforms.
import Foundation
import XCTest

import ConsentGate

final class PlatformAdaptersTests: XCTestCase {
    func testATTStatusRawValuesMapToTheGatesTrackingAuthorization() {
        // ATTrackingManager.AuthorizationStatus: 0 notDetermined, 1 restricted, 2 denied, 3 authorized.
        XCTAssertEqual(TrackingAuthorization(attStatusRawValue: 0), .notDetermined)
        XCTAssertEqual(TrackingAuthorization(attStatusRawValue: 1), .restricted)
        XCTAssertEqual(TrackingAuthorization(attStatusRawValue: 2), .denied)
        XCTAssertEqual(TrackingAuthorization(attStatusRawValue: 3), .authorized)
    }

    func testG1AnATTStatusAFutureIOSAddsCountsAsNotDeterminedNeverAuthorized() {
        XCTAssertEqual(TrackingAuthorization(attStatusRawValue: 4), .notDetermined)
        XCTAssertEqual(TrackingAuthorization(attStatusRawValue: .max), .notDetermined)
    }

    func testReplacingTheATTStatusKeepsTheOtherPlatformSignals() {
        let signals = PlatformSignals(trackingAuthorization: .notDetermined, limitAdTracking: true, globalPrivacyControl: true)
        XCTAssertEqual(
            signals.with(trackingAuthorization: .authorized),
            PlatformSignals(trackingAuthorization: .authorized, limitAdTracking: true, globalPrivacyControl: true))
    }

    func testDeviceLocaleIsReportedAsABCP47TagNotFoundationsUnderscoreForm() {
        XCTAssertEqual(SystemDeviceInfoProvider.languageTag(Locale(identifier: "de_DE")), "de-DE")
        XCTAssertEqual(SystemDeviceInfoProvider.languageTag(Locale(identifier: "kk_KZ")), "kk-KZ")
        XCTAssertEqual(SystemDeviceInfoProvider.languageTag(Locale(identifier: "zh_Hant_TW")), "zh-Hant-TW")
        XCTAssertNil(SystemDeviceInfoProvider.languageTag(Locale(identifier: "")))
    }

    func testScreenSizeIsPixelsShorterSideFirstAndNoneForAnEmptyScreen() {
        XCTAssertEqual(SystemDeviceInfoProvider.screenSize(width: 2532, height: 1170), "1170x2532")
        XCTAssertEqual(SystemDeviceInfoProvider.screenSize(width: 1170, height: 2532), "1170x2532")
        XCTAssertNil(SystemDeviceInfoProvider.screenSize(width: 0, height: 2532))
        XCTAssertNil(SystemDeviceInfoProvider.screenSize(width: .nan, height: 2532))
    }

    func testModelIdentifierIsTheSimulatedModelOnTheSimulatorAndTheMachineElsewhere() {
        XCTAssertEqual(
            SystemDeviceInfoProvider.hardwareModelIdentifier(environment: ["SIMULATOR_MODEL_IDENTIFIER": "iPhone15,2"]),
            "iPhone15,2")
        let machine = SystemDeviceInfoProvider.hardwareModelIdentifier(environment: [:])
        XCTAssertNotNil(machine)
        XCTAssertFalse(machine?.contains("\0") ?? true, "the C string's terminator leaked into the model")
        #if arch(x86_64)
        XCTAssertEqual(machine, "x86_64")
        #elseif arch(arm64)
        XCTAssertTrue(machine == "arm64" || machine == "aarch64", machine ?? "nil")
        #endif
    }

    func testDeviceProviderAnswersItsFieldsAndNeverACarrier() {
        let provider = SystemDeviceInfoProvider(
            osName: "iOS", osVersionString: "17.4", modelIdentifier: "iPhone15,2", manufacturerName: "Apple",
            appVersionString: "2.1.0", screenSize: "1170x2532",
            fixedLocale: Locale(identifier: "de_DE"), fixedTimeZone: TimeZone(identifier: "Europe/Berlin"))
        XCTAssertEqual(provider.os(), "iOS")
        XCTAssertEqual(provider.osVersion(), "17.4")
        XCTAssertEqual(provider.model(), "iPhone15,2")
        XCTAssertEqual(provider.manufacturer(), "Apple")
        XCTAssertEqual(provider.appVersion(), "2.1.0")
        XCTAssertEqual(provider.screen(), "1170x2532")
        XCTAssertEqual(provider.locale(), "de-DE")
        XCTAssertEqual(provider.timezone(), "Europe/Berlin")
        XCTAssertNil(provider.carrier(), "iOS 16+ answers a placeholder carrier: report none")
    }

    func testDeviceProviderReadsTheCurrentTimeZoneAtEachCallWhenNoneIsFixed() {
        let provider = SystemDeviceInfoProvider()
        XCTAssertEqual(provider.timezone(), TimeZone.current.identifier)
        XCTAssertNil(provider.os())
    }

    func testAppVersionIsTheBundlesShortVersionString() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-\(UUID().uuidString).bundle")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let plist = try PropertyListSerialization.data(
            fromPropertyList: ["CFBundleShortVersionString": "3.2.1", "CFBundleIdentifier": "dev.consentgate.test"],
            format: .xml, options: 0)
        #if canImport(Darwin)
        let infoDir = dir.appendingPathComponent("Contents", isDirectory: true)
        #else
        let infoDir = dir
        #endif
        try FileManager.default.createDirectory(at: infoDir, withIntermediateDirectories: true)
        try plist.write(to: infoDir.appendingPathComponent("Info.plist"))
        let bundle = try XCTUnwrap(Bundle(url: dir))
        XCTAssertEqual(SystemDeviceInfoProvider.appVersion(of: bundle), "3.2.1")
    }
}
