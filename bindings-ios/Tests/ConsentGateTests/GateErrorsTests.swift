// Bad input through the public Swift API: every refusal says what is wrong in
// a sentence, and nothing changes (state, ledger, queue). Event names and
// properties, unknown and necessary purposes, the age gate, an invalid
// policy at open, and the sentences of every ConsentGateError.
import Foundation
import XCTest

import ConsentGate

final class GateErrorsTests: XCTestCase {
    private func grantedGate() async throws -> ConsentGate {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        return gate
    }

    private func reason(_ result: RecordResult, file: StaticString = #filePath, line: UInt = #line) -> String {
        guard case let .invalid(reason) = result else {
            XCTFail("expected .invalid, got \(result)", file: file, line: line)
            return ""
        }
        return reason
    }

    func testBadEventNamesAreRefusedNamingTheRule() async throws {
        let gate = try await grantedGate()
        XCTAssertEqual(reason(gate.recordEvent("")), "event name is empty")
        XCTAssertTrue(reason(gate.recordEvent("screen view")).hasPrefix("event name does not match "))
        XCTAssertTrue(reason(gate.recordEvent("1st_open")).hasPrefix("event name does not match "))
        let long = "a" + String(repeating: "b", count: 64)
        let tooLong = reason(gate.recordEvent(long))
        XCTAssertTrue(
            tooLong.hasPrefix("event name is 65 bytes long; the limit is ") || tooLong.hasPrefix("event name does not match"),
            tooLong)
        XCTAssertFalse(tooLong.contains(long), "the reason repeats the name")
        let queued = try await gate.queueStats().events
        XCTAssertEqual(queued, 0)
        XCTAssertEqual(gate.invalidEvents, 4)
    }

    func testPropertiesWithoutAJSONFormAreRefusedNamingTheValueKind() async throws {
        let gate = try await grantedGate()
        let date = reason(gate.recordEvent("app_open", properties: ["at": Date()]))
        XCTAssertTrue(date.hasPrefix("event properties: a Date cannot be written as JSON; use strings"), date)
        let nan = reason(gate.recordEvent("app_open", properties: ["ratio": Double.nan]))
        XCTAssertTrue(nan.hasPrefix("event properties: ") && nan.hasSuffix("has no JSON form"), nan)
        let infinity = reason(gate.recordEvent("app_open", properties: ["ratio": Double.infinity]))
        XCTAssertTrue(infinity.hasSuffix("has no JSON form"), infinity)
        let keys = reason(gate.recordEvent("app_open", properties: ["map": [1: "one", 2: "two"] as [Int: String]]))
        XCTAssertEqual(keys, "event properties: dictionary keys must be strings")
        let queued = try await gate.queueStats().events
        XCTAssertEqual(queued, 0)
    }

    func testPropertiesOverTheSizeLimitAreRefusedWithTheirSizeNotTheirContent() async throws {
        let gate = try await grantedGate()
        let secret = String(repeating: "x", count: 20 * 1024)
        let big = reason(gate.recordEvent("app_open", properties: ["blob": secret]))
        XCTAssertTrue(big.hasPrefix("event properties are "), big)
        XCTAssertTrue(big.hasSuffix("bytes of JSON; the limit is 16384"), big)
        XCTAssertFalse(big.contains("xxxx"), "the reason carries the payload")
        var deep: [String: Any] = ["leaf": 1]
        for _ in 0..<12 { deep = ["d": deep] }
        let nested = reason(gate.recordEvent("app_open", properties: deep))
        XCTAssertTrue(nested.contains("nest"), nested)
        let queued = try await gate.queueStats().events
        XCTAssertEqual(queued, 0)
    }

    func testUnknownPurposeIsRefusedAndNothingChanges() async throws {
        let gate = try await grantedGate()
        let before = gate.currentState
        let entries = try await gate.ledger().count
        do {
            try await gate.setConsent(["marketing": true, "advertising": true], source: .settings)
            XCTFail("an unknown purpose was accepted")
        } catch {
            XCTAssertEqual(error, .unknownPurpose(purpose: "marketing"))
            XCTAssertEqual(error.localizedDescription, "unknown purpose \"marketing\": the policy does not define it")
        }
        XCTAssertEqual(gate.currentState, before)
        XCTAssertFalse(gate.allows("advertising_id"), "the valid decision of a refused call was applied")
        let after = try await gate.ledger().count
        XCTAssertEqual(after, entries)
    }

    func testNecessaryPurposeCannotBeWithdrawnAndNothingChanges() async throws {
        let gate = try await grantedGate()
        let before = gate.currentState
        let entries = try await gate.ledger().count
        do {
            try await gate.setConsent(["service": false], source: .settings)
            XCTFail("service was withdrawn")
        } catch {
            XCTAssertEqual(error, .notWithdrawable(purpose: "service"))
            XCTAssertEqual(
                error.localizedDescription, "purpose \"service\" is necessary for the service and cannot be withdrawn")
        }
        XCTAssertEqual(gate.currentState, before)
        XCTAssertEqual(gate.currentState.status(of: "service"), .granted)
        let after = try await gate.ledger().count
        XCTAssertEqual(after, entries)
    }

    func testBelowTheMinimumAgeConsentCannotBeGranted() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        let aged = try await gate.setAge(16)
        XCTAssertTrue(aged.ageRestricted)
        let entries = try await gate.ledger().count
        do {
            try await gate.setConsent(["analytics": true], source: .banner)
            XCTFail("a 16-year-old granted analytics under min_age 18")
        } catch {
            XCTAssertEqual(error, .ageRestricted(purpose: "analytics", minimumAge: 18))
            XCTAssertEqual(
                error.localizedDescription,
                "cannot grant \"analytics\": the user is under the minimum age of 18 without parental consent")
        }
        XCTAssertFalse(gate.allows("usage_events"))
        let after = try await gate.ledger().count
        XCTAssertEqual(after, entries)
        try await gate.setAge(16, parentalConsent: true)
        let granted = try await gate.setConsent(["analytics": true], source: .banner)
        XCTAssertTrue(granted.allows("usage_events"), "parental consent lifts the age gate")
    }

    func testAnInvalidPolicyLeavesTheGateLoadingAndNamesTheJSONPath() async throws {
        let policy = try editedPolicyJSON { p in
            var categories = p["categories"] as? [[String: Any]] ?? []
            categories[1]["requires"] = ["no_such_purpose"]
            p["categories"] = categories
        }
        let gate = ConsentGate.open(configuration(try makeDataDirectory(for: self), policy: policy))
        addTeardownBlock { gate.close() }
        do {
            _ = try await gate.awaitLoaded()
            XCTFail("an invalid policy loaded")
        } catch {
            guard case let .invalidPolicy(path, detail, errors) = error else { return XCTFail("got \(error)") }
            XCTAssertEqual(path, "categories[1].requires[0]")
            XCTAssertTrue(detail.contains("no_such_purpose"), detail)
            XCTAssertFalse(errors.isEmpty)
            XCTAssertTrue(error.localizedDescription.hasPrefix("invalid policy: categories[1].requires[0]: "))
        }
        XCTAssertEqual(gate.openError, gate.openError.map { $0 })
        guard case .invalidPolicy = gate.openError else { return XCTFail("openError is \(String(describing: gate.openError))") }
        XCTAssertEqual(gate.currentState, .loading)
        XCTAssertFalse(gate.allows("usage_events"))
        XCTAssertFalse(gate.allows("device_info"))
        XCTAssertEqual(gate.recordEvent("app_open"), .notAllowed)
        do {
            _ = try await gate.queueStats()
            XCTFail("queueStats on a gate that failed to open")
        } catch {
            guard case .invalidPolicy = error else { return XCTFail("got \(error)") }
        }
    }

    func testOpenBlockingThrowsTheInvalidPolicyBeforeTouchingTheDisk() throws {
        let dir = try makeDataDirectory(for: self)
        XCTAssertThrowsError(try ConsentGate.openBlocking(configuration(dir, policy: "{\"schema\": 1}"))) { error in
            guard case .invalidPolicy(let path, _, _)? = error as? ConsentGateError else { return XCTFail("got \(error)") }
            XCTAssertFalse(path.isEmpty)
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(left, [], "an invalid policy wrote \(left)")
    }

    func testOpenedThrowsTheInvalidPolicyAndAnInvalidRegionIsNamed() async throws {
        let dir = try makeDataDirectory(for: self)
        do {
            _ = try await ConsentGate.opened(configuration(dir, policy: "[1, 2]"))
            XCTFail("a JSON array opened as a policy")
        } catch {
            guard case .invalidPolicy = error else { return XCTFail("got \(error)") }
        }
        do {
            _ = try await ConsentGate.opened(configuration(dir, policy: try policyJSON(), region: "kz"))
            XCTFail("a lower-case region was accepted")
        } catch {
            XCTAssertTrue(error.localizedDescription.contains("ISO 3166-1 alpha-2"), error.localizedDescription)
        }
    }

    func testFlushRefusesANegativeMaxWait() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        do {
            _ = try await gate.flush(using: URLSessionUploader(), maxWait: -1)
            XCTFail("a negative maxWait was accepted")
        } catch {
            XCTAssertEqual(error.localizedDescription, "invalid argument: maxWait must not be negative, got -1.0")
        }
    }

    func testAUserIDOutOfBoundsIsRefusedWithItsLengthNotItsValue() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        for (id, length) in [("", 0), (String(repeating: "u", count: 300), 300)] {
            do {
                try await gate.setUserID(id)
                XCTFail("a user id of \(length) bytes was accepted")
            } catch {
                XCTAssertEqual(error, .invalidArgument(detail: "user id must be 1 to 256 bytes, got \(length)"))
                XCTAssertEqual(error.localizedDescription, "invalid argument: user id must be 1 to 256 bytes, got \(length)")
            }
        }
        let json = try await gate.exportData()
        let doc = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        XCTAssertTrue(doc?["user_id"] is NSNull, "a refused user id was stored")
    }

    func testAwaitLoadedOnAClosedGateThrowsClosed() async throws {
        let gate = try await ConsentGate.opened(configuration(try makeDataDirectory(for: self), policy: try policyJSON()))
        let loaded = try await gate.awaitLoaded()
        XCTAssertFalse(loaded.isLoading)
        gate.close()
        do {
            _ = try await gate.awaitLoaded()
            XCTFail("awaitLoaded after close")
        } catch {
            XCTAssertEqual(error, .closed)
        }
        XCTAssertNil(gate.openError, "a closed gate is not a failed open")
    }

    func testAcknowledgePolicyWithNothingDueChangesNothing() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        let before = try await gate.setConsent(["analytics": true], source: .banner)
        XCTAssertNil(before.needsAcknowledgement)
        let entries = try await gate.ledger().count
        let after = try await gate.acknowledgePolicy(source: .settings)
        XCTAssertEqual(after.purposes, before.purposes)
        XCTAssertNil(after.needsAcknowledgement)
        let afterCount = try await gate.ledger().count
        XCTAssertEqual(afterCount, entries, "a no-op acknowledgement wrote to the ledger")
    }

    /// Swift's check on the calling thread and the core's own verdict (recordEventNow) agree.
    private func assertSameVerdict(
        _ gate: ConsentGate, _ name: String, _ properties: [String: Any]?, file: StaticString = #filePath, line: UInt = #line
    ) async throws {
        let swift = gate.recordEvent(name, properties: properties)
        var coreAccepted = true
        do {
            _ = try await gate.recordEventNow(name, properties: properties)
        } catch {
            guard case .invalidArgument = error else { throw error }
            coreAccepted = false
        }
        XCTAssertEqual(
            swift.isAccepted, coreAccepted, "\(name.prefix(20))… (\(name.utf8.count) bytes): Swift says \(swift), the core \(coreAccepted)",
            file: file, line: line)
    }

    func testTheSwiftSideCheckAgreesWithTheCoreOnNamesAtAndAroundTheLimits() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        let names = [
            "a", "A", "a.b-c_d9", "a" + String(repeating: "b", count: 63), "a" + String(repeating: "b", count: 64),
            "_x", "-x", "9x", "x y", "x/y", "экран", "café", "x\u{0}", "x\n",
        ]
        for name in names { try await assertSameVerdict(gate, name, nil) }
        XCTAssertEqual(gate.recordEvent("a" + String(repeating: "b", count: 63)), .queued, "64 bytes is within the limit")
    }

    func testTheSwiftSideCheckAgreesWithTheCoreOnPropertySizeAndNesting() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        // {"b":"…"} is 8 bytes of JSON around the string.
        for n in [16_375, 16_376, 16_377] {
            try await assertSameVerdict(gate, "blob", ["b": String(repeating: "x", count: n)])
        }
        XCTAssertEqual(gate.recordEvent("blob", properties: ["b": String(repeating: "x", count: 16_376)]), .queued)
        try await assertSameVerdict(gate, "blob", ["b": String(repeating: "\u{44F}", count: 8_188)])  // 2 bytes each
        try await assertSameVerdict(gate, "blob", ["b": String(repeating: "\"", count: 8_189)])  // escaped: 2 bytes each
        for depth in 1...11 {
            var nested: [String: Any] = ["leaf": 1]
            for _ in 1..<depth { nested = ["d": nested] }
            try await assertSameVerdict(gate, "deep", nested)
            var arrays: Any = 1
            for _ in 1..<depth { arrays = [arrays] }
            try await assertSameVerdict(gate, "deep", ["a": arrays])
        }
        let invalid = gate.invalidEvents
        _ = try await gate.queueStats()
        XCTAssertEqual(gate.invalidEvents, invalid, "the core refused an event Swift had queued")
    }

    func testAGateReleasedWithoutCloseFreesItsDirectory() async throws {
        let dir = try makeDataDirectory(for: self)
        let policy = try policyJSON()
        do {
            let gate = try ConsentGate.openBlocking(configuration(dir, policy: policy))
            try await gate.setConsent(["analytics": true], source: .banner)
            _ = gate
        }
        let reopened = await eventually {
            guard let gate = try? ConsentGate.openBlocking(configuration(dir, policy: policy)) else { return false }
            gate.close()
            return true
        }
        XCTAssertTrue(reopened, "the directory is still held: something keeps the released gate alive")
    }

    func testEveryErrorDescriptionIsASentenceNamingItsFacts() {
        let cases: [(ConsentGateError, String)] = [
            (.invalidPolicy(path: "purposes[0].id", detail: "missing", errors: ["a", "b"]), "purposes[0].id"),
            (.invalidArgument(detail: "user id is empty"), "user id is empty"),
            (.unknownPurpose(purpose: "x"), "\"x\""),
            (.ageRestricted(purpose: "analytics", minimumAge: 18), "18"),
            (.notWithdrawable(purpose: "service"), "\"service\""),
            (.gpcRestricted(purpose: "advertising"), "Global Privacy Control"),
            (.storage(detail: "disk full"), "disk full"),
            (.closed, "closed"),
            (.busy(dataDirectory: "/tmp/d"), "/tmp/d"),
            (.internal(detail: "bad"), "please report it"),
        ]
        for (error, fact) in cases {
            let text = error.localizedDescription
            XCTAssertTrue(text.contains(fact), "\(text) does not name \(fact)")
            XCTAssertEqual("\(error)", text, "description and errorDescription differ")
            XCTAssertEqual(text.first.map { $0.isLowercase || $0 == "\"" }, true)
            XCTAssertGreaterThan(text.split(separator: " ").count, 3, "\(text) is not a sentence")
        }
        XCTAssertTrue(
            ConsentGateError.invalidPolicy(path: "p", detail: "d", errors: ["1", "2", "3"]).localizedDescription
                .hasSuffix("(and 2 more problem(s), listed in errors)"))
    }
}
