// The SDK's own privacy manifest, as the package ships it: a valid property
// list that declares no tracking, no collected data and exactly the
// required-reason APIs the SDK uses.
import Foundation
import XCTest

@testable import ConsentGate

final class PrivacyManifestTests: XCTestCase {
    /// The manifest from the ConsentGate target's resource bundle, parsed.
    private func packagedManifest() throws -> [String: Any] {
        let url = try XCTUnwrap(
            Bundle.module.url(forResource: "PrivacyInfo", withExtension: "xcprivacy"),
            "PrivacyInfo.xcprivacy is not in the ConsentGate resource bundle")
        let data = try Data(contentsOf: url)
        var format = PropertyListSerialization.PropertyListFormat.binary
        let plist = try PropertyListSerialization.propertyList(from: data, options: [], format: &format)
        XCTAssertEqual(format, .xml, "Xcode expects the manifest as an XML plist")
        return try XCTUnwrap(plist as? [String: Any], "the manifest's root is not a dictionary")
    }

    /// Swift sources of the ConsentGate target (read from the package).
    private func wrapperSources() throws -> [String] {
        let dir = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/ConsentGate")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".swift") }
        XCTAssertFalse(names.isEmpty, "no Swift sources found in \(dir.path)")
        return try names.map { try String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8) }
    }

    /// `NSPrivacyAccessedAPITypes` as category → reasons.
    private func accessedAPIs(_ manifest: [String: Any]) throws -> [String: [String]] {
        let entries = try XCTUnwrap(manifest["NSPrivacyAccessedAPITypes"] as? [[String: Any]])
        var apis: [String: [String]] = [:]
        for entry in entries {
            let category = try XCTUnwrap(entry["NSPrivacyAccessedAPIType"] as? String)
            XCTAssertNil(apis[category], "\(category) is declared twice")
            apis[category] = try XCTUnwrap(entry["NSPrivacyAccessedAPITypeReasons"] as? [String])
        }
        return apis
    }

    func testPrivacyManifestDeclaresNoTrackingAndNoCollectedData() throws {
        let manifest = try packagedManifest()
        XCTAssertEqual(manifest["NSPrivacyTracking"] as? Bool, false)
        XCTAssertEqual((manifest["NSPrivacyTrackingDomains"] as? [Any])?.count, 0)
        XCTAssertEqual((manifest["NSPrivacyCollectedDataTypes"] as? [Any])?.count, 0)
        XCTAssertEqual(
            Set(manifest.keys),
            ["NSPrivacyTracking", "NSPrivacyTrackingDomains", "NSPrivacyCollectedDataTypes", "NSPrivacyAccessedAPITypes"])
    }

    func testPrivacyManifestDeclaresFileTimestampsForSQLite() throws {
        let apis = try accessedAPIs(packagedManifest())
        XCTAssertEqual(apis["NSPrivacyAccessedAPICategoryFileTimestamp"], ["C617.1"])
    }

    func testPrivacyManifestDeclaresUserDefaultsExactlyWhenTheSDKUsesIt() throws {
        let apis = try accessedAPIs(packagedManifest())
        let usesUserDefaults = try wrapperSources().contains { $0.contains("UserDefaults") }
        if usesUserDefaults {
            XCTAssertEqual(apis["NSPrivacyAccessedAPICategoryUserDefaults"], ["CA92.1"],
                           "the sources use UserDefaults: declare CA92.1")
        } else {
            XCTAssertNil(apis["NSPrivacyAccessedAPICategoryUserDefaults"],
                         "UserDefaults is declared but no source of the ConsentGate target uses it")
        }
        XCTAssertEqual(Set(apis.keys).subtracting([
            "NSPrivacyAccessedAPICategoryFileTimestamp", "NSPrivacyAccessedAPICategoryUserDefaults",
        ]), [], "a required-reason API category the SDK was not shown to use")
    }
}
