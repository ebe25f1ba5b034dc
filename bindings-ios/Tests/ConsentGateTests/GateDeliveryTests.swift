// Delivery through the public Swift API against the reference collector on
// loopback HTTP: flush through URLSessionUploader with exact counts on both
// sides, withdrawal before a flush (G3), a deletion request that survives
// the collector being down and a restart (G6), backoff reported by
// flush(maxWait:), the manual nextUpload/completeUpload drive, and logs
// that carry no personal data (G9).
import Foundation
import XCTest

import ConsentGate

final class GateDeliveryTests: XCTestCase {
    /// A collector's URL with nothing listening on it any more (the network is down).
    private func deadCollectorURL() throws -> URL {
        let collector = try CollectorProcess(directory: try makeDataDirectory(for: self), testCase: self)
        collector.stop()
        return collector.baseURL
    }

    private func stats(_ collector: CollectorProcess) async throws -> [String: Any] {
        let (status, json) = try await collector.getJSON("v1/stats")
        XCTAssertEqual(status, 200)
        return json
    }

    func testFlushThroughURLSessionUploaderDeliversExactlyWhatWasRecorded() async throws {
        let collector = try CollectorProcess(directory: try makeDataDirectory(for: self), testCase: self)
        let gate = try openLoaded(
            try makeDataDirectory(for: self), policy: try policyJSON(endpointsAt: collector.baseURL), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        for i in 0..<25 { gate.recordEvent("screen_view", properties: ["i": i]) }
        let report = try await gate.flush(using: URLSessionUploader())
        XCTAssertEqual(report.eventsDelivered, 25)
        XCTAssertEqual(report.batchesDelivered, 1)
        XCTAssertEqual(report.eventsRejected, 0)
        XCTAssertEqual(report.retries, 0)
        XCTAssertNil(report.waitMs)
        let server = try await stats(collector)
        XCTAssertEqual(server["events"] as? Int, 25)
        XCTAssertEqual(server["batches"] as? Int, 1)
        XCTAssertEqual(server["duplicates"] as? Int, 0)
        let queue = try await gate.queueStats()
        XCTAssertEqual(queue.events, 0)
        XCTAssertEqual(queue.delivered, 25)
        let again = try await gate.flush(using: URLSessionUploader())
        XCTAssertEqual(again.requests, 0, "a second flush with nothing queued sent something")
    }

    func testG3EventsWithdrawnBeforeAFlushNeverReachTheCollector() async throws {
        let collector = try CollectorProcess(directory: try makeDataDirectory(for: self), testCase: self)
        let gate = try openLoaded(
            try makeDataDirectory(for: self), policy: try policyJSON(endpointsAt: collector.baseURL), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        for _ in 0..<10 { gate.recordEvent("app_open") }
        try await gate.setConsent(["analytics": false], source: .settings)
        let report = try await gate.flush(using: URLSessionUploader())
        XCTAssertEqual(report.eventsDelivered, 0)
        let server = try await stats(collector)
        XCTAssertEqual(server["events"] as? Int, 0)
    }

    func testG6DeletionWaitsWhileTheCollectorIsDownAndIsAcknowledgedAfterARestart() async throws {
        let url = try deadCollectorURL()
        let dir = try makeDataDirectory(for: self)
        let policy = try policyJSON(endpointsAt: url)
        var ticketID = ""
        do {
            let gate = try ConsentGate.openBlocking(configuration(dir, policy: policy))
            try await gate.acceptAll(source: .banner)
            gate.recordEvent("app_open")
            var stream = gate.deletions.makeAsyncIterator()
            let initial = await stream.next()
            XCTAssertEqual(initial, [])
            let ticket = try await gate.requestDeletion(reason: "user asked in settings")
            ticketID = ticket.requestID
            XCTAssertEqual(ticket.status, .pending)
            XCTAssertEqual(ticket.reason, "user asked in settings")
            XCTAssertEqual(gate.currentDeletions.map(\.requestID), [ticketID])
            let streamed = await stream.next()
            XCTAssertEqual(streamed?.map(\.requestID), [ticketID])
            XCTAssertFalse(gate.allows("usage_events"), "a deletion request revokes every consent purpose")
            let queued = try await gate.queueStats().events
            XCTAssertEqual(queued, 0, "a deletion request purges the queue")
            let report = try await gate.flush(using: URLSessionUploader(timeout: 2), maxWait: 0)
            XCTAssertEqual(report.deletionsAcknowledged, 0)
            XCTAssertNotNil(report.waitMs, "a failed send reports when to try again")
            XCTAssertEqual(gate.currentDeletions.first?.status, .pending)
            gate.close()
        }
        let collector = try CollectorProcess(
            directory: try makeDataDirectory(for: self), port: url.port ?? 0, testCase: self)
        let gate = try openLoaded(dir, policy: policy, for: self)
        XCTAssertEqual(gate.currentDeletions.map(\.requestID), [ticketID], "the request survived the restart")
        XCTAssertEqual(gate.currentDeletions.first?.status, .pending)
        let report = try await gate.flush(using: URLSessionUploader(), maxWait: 30)
        XCTAssertGreaterThanOrEqual(report.deletionsAcknowledged, 1)
        let seenAtReturn = gate.currentDeletions.first?.status
        let tickets = try await gate.deletionRequests()
        XCTAssertEqual(seenAtReturn, tickets.first?.status, "currentDeletions lags behind the flush that acknowledged")
        guard case let .acknowledged(receiptID, status)? = tickets.first?.status else {
            return XCTFail("the ticket is \(String(describing: tickets.first?.status))")
        }
        XCTAssertFalse(receiptID.isEmpty)
        XCTAssertTrue(["accepted", "completed"].contains(status), status)
        let mirrored = await eventually { gate.currentDeletions.first?.status == tickets.first?.status }
        XCTAssertTrue(mirrored, "currentDeletions still says \(String(describing: gate.currentDeletions.first?.status))")
        let server = try await stats(collector)
        XCTAssertEqual(server["deletions"] as? Int, 1)
    }

    func testG6CurrentDeletionsIsCurrentWhenCompleteUploadReturns() async throws {
        // The deletion listener refreshes off-thread: repeated, so a lagging mirror shows.
        let policy = try policyJSON()  // nothing is sent: the test answers every request itself
        for round in 0..<50 {
            let gate = try ConsentGate.openBlocking(configuration(try makeDataDirectory(for: self), policy: policy))
            defer { gate.close() }
            try await gate.acceptAll(source: .banner)
            let ticket = try await gate.requestDeletion()
            XCTAssertEqual(gate.currentDeletions, [ticket], "round \(round): requestDeletion returned before the mirror")
            var answered = 0
            while case let .upload(request) = try await gate.nextUpload(), answered < 4 {
                try await gate.completeUpload(
                    request.requestID,
                    result: .http(status: 200, body: #"{"receipt_id":"receipt-\#(round)","status":"completed"}"#))
                answered += 1
            }
            XCTAssertGreaterThan(answered, 0)
            XCTAssertEqual(
                gate.currentDeletions.first?.status, .acknowledged(receiptID: "receipt-\(round)", status: "completed"),
                "round \(round): currentDeletions lags behind completeUpload")
        }
    }

    func testFlushWithMaxWaitZeroReturnsTheBackoffInsteadOfWaiting() async throws {
        let gate = try openLoaded(
            try makeDataDirectory(for: self), policy: try policyJSON(endpointsAt: try deadCollectorURL()), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        gate.recordEvent("app_open")
        let failed = try await gate.flush(using: URLSessionUploader(timeout: 2), maxWait: 0)
        XCTAssertEqual(failed.eventsDelivered, 0)
        XCTAssertGreaterThanOrEqual(failed.retries, 1)
        let started = Date()
        let backoff = try await gate.flush(using: URLSessionUploader(timeout: 2), maxWait: 0)
        XCTAssertLessThan(Date().timeIntervalSince(started), 1, "maxWait 0 waited")
        XCTAssertEqual(backoff.requests, 0, "a request was sent during the backoff")
        XCTAssertEqual(backoff.waitedMs, 0)
        XCTAssertGreaterThan(backoff.waitMs ?? 0, 0)
        let queued = try await gate.queueStats().events
        XCTAssertEqual(queued, 1, "the event waits for the network")
    }

    func testFlushHonoursRetryAfterThenWaitsItOutAndDelivers() async throws {
        let collector = try CollectorProcess(directory: try makeDataDirectory(for: self), testCase: self)
        let gate = try openLoaded(
            try makeDataDirectory(for: self), policy: try policyJSON(endpointsAt: collector.baseURL), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        for _ in 0..<5 { gate.recordEvent("app_open") }
        let busy = ScriptedUploader(first: .http(status: 503, retryAfterSeconds: 1, body: nil))
        let refused = try await gate.flush(using: busy, maxWait: 0)
        XCTAssertEqual(refused.retries, 1)
        XCTAssertEqual(refused.eventsDelivered, 0)
        XCTAssertGreaterThanOrEqual(refused.waitMs ?? 0, 900, "Retry-After: 1 was not honoured: \(refused)")
        let report = try await gate.flush(using: busy, maxWait: 5)
        XCTAssertEqual(report.eventsDelivered, 5)
        XCTAssertGreaterThan(report.waitedMs, 0, "the backoff was not waited out")
        XCTAssertEqual(busy.sent, 2, "the batch was sent \(busy.sent) times")
        let server = try await stats(collector)
        XCTAssertEqual(server["events"] as? Int, 5)
    }

    func testG6ADeletionRefusedWithA4xxIsMarkedFailedAndNotRetried() async throws {
        let gate = try openLoaded(
            try makeDataDirectory(for: self), policy: try policyJSON(endpointsAt: try deadCollectorURL()), for: self)
        try await gate.acceptAll(source: .banner)
        let ticket = try await gate.requestDeletion()
        let forbidden = ScriptedUploader(first: .http(status: 403, retryAfterSeconds: nil, body: nil), always: true)
        let report = try await gate.flush(using: forbidden, maxWait: 0)
        XCTAssertGreaterThanOrEqual(report.deletionsFailed, 1)
        let tickets = try await gate.deletionRequests()
        XCTAssertEqual(tickets.map(\.requestID), [ticket.requestID])
        XCTAssertEqual(tickets.first?.status, .failed(httpStatus: 403))
        let sent = forbidden.sent
        _ = try await gate.flush(using: forbidden, maxWait: 0)
        XCTAssertEqual(forbidden.sent, sent, "a refused deletion was sent again")
    }

    func testManualUploadDriveWithNextUploadAndCompleteUpload() async throws {
        let collector = try CollectorProcess(directory: try makeDataDirectory(for: self), testCase: self)
        let gate = try openLoaded(
            try makeDataDirectory(for: self), policy: try policyJSON(endpointsAt: collector.baseURL), for: self)
        let nothing = try await gate.nextUpload()
        XCTAssertEqual(nothing, .done)
        try await gate.setConsent(["analytics": true], source: .banner)
        for name in ["app_open", "screen_view", "app_close"] { gate.recordEvent(name) }
        guard case let .upload(request) = try await gate.nextUpload() else { return XCTFail("nothing to upload") }
        XCTAssertEqual(request.method, "POST")
        XCTAssertTrue(request.url.absoluteString.hasPrefix(collector.baseURL.absoluteString), request.url.absoluteString)
        XCTAssertTrue(request.headers.contains(HTTPHeader(name: "Content-Encoding", value: "gzip")), "\(request.headers)")
        XCTAssertFalse(request.body.isEmpty)
        try await gate.completeUpload(request.requestID, result: .networkError(message: "offline"))
        guard case let .wait(ms) = try await gate.nextUpload() else { return XCTFail("no backoff after a failure") }
        XCTAssertGreaterThan(ms, 0)
        // The backoff is over once the flush waits it out; the same batch goes again.
        let report = try await gate.flush(using: URLSessionUploader(), maxWait: 30)
        XCTAssertEqual(report.eventsDelivered, 3)
        let done = try await gate.nextUpload()
        XCTAssertEqual(done, .done)
        let server = try await stats(collector)
        XCTAssertEqual(server["events"] as? Int, 3)
        XCTAssertEqual(server["duplicates"] as? Int, 0)
    }

    func testManualUploadSentByTheAppIsCountedDelivered() async throws {
        let collector = try CollectorProcess(directory: try makeDataDirectory(for: self), testCase: self)
        let gate = try openLoaded(
            try makeDataDirectory(for: self), policy: try policyJSON(endpointsAt: collector.baseURL), for: self)
        try await gate.setConsent(["analytics": true], source: .banner)
        for _ in 0..<4 { gate.recordEvent("app_open") }
        guard case let .upload(request) = try await gate.nextUpload() else { return XCTFail("nothing to upload") }
        let result = URLSessionUploader().send(request)
        guard case .http(200..<300, _, _) = result else { return XCTFail("the collector answered \(result)") }
        try await gate.completeUpload(request.requestID, result: result)
        let done = try await gate.nextUpload()
        XCTAssertEqual(done, .done)
        let stats = try await gate.queueStats()
        XCTAssertEqual(stats.delivered, 4)
        XCTAssertEqual(stats.events, 0)
    }

    func testG9DebugLogsCarryNoEventNamesPropertiesOrIdentifiers() async throws {
        let logs = LogCapture(maxLevel: .debug)
        addTeardownBlock { ConsentGateLogging.stop() }
        let collector = try CollectorProcess(directory: try makeDataDirectory(for: self), testCase: self)
        let gate = try openLoaded(
            try makeDataDirectory(for: self), policy: try policyJSON(endpointsAt: collector.baseURL), for: self)
        let firstInstallation = try await gate.installationID()
        try await gate.acceptAll(source: .banner)
        try await gate.setUserID("user-7731-secret")
        gate.recordEvent("checkout_complete", properties: ["card_last4": "4242-secret"])
        gate.recordEvent("checkout complete!", properties: ["card_last4": "4242-secret"])  // refused: logged at warn
        gate.recordEvent("checkout_complete", properties: ["at": Date()])  // refused: logged at debug
        _ = try await gate.flush(using: URLSessionUploader())
        _ = try await gate.requestDeletion(reason: "reason-secret")
        _ = try await gate.flush(using: URLSessionUploader())
        let rotated = try await gate.installationID()
        XCTAssertNotEqual(rotated, firstInstallation, "a deletion request rotates the installation id")
        gate.close()
        let messages = logs.messages
        XCTAssertFalse(messages.isEmpty, "nothing was logged at all: the capture does not work")
        for secret in ["checkout", "4242-secret", "user-7731-secret", "reason-secret", firstInstallation, rotated] {
            let leaks = messages.filter { $0.contains(secret) }
            XCTAssertEqual(leaks, [], "\(secret) was logged")
        }
    }
}

/// Answers `first` to the first request (every request when `always`), then
/// sends through URLSessionUploader; counts the requests.
private final class ScriptedUploader: Uploader, @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private let first: UploadResult
    private let always: Bool
    private let real = URLSessionUploader(timeout: 5)

    init(first: UploadResult, always: Bool = false) {
        self.first = first
        self.always = always
    }

    var sent: Int { lock.withLock { count } }

    func send(_ request: UploadRequest) -> UploadResult {
        let n = lock.withLock { () -> Int in
            count += 1
            return count
        }
        return n == 1 || always ? first : real.send(request)
    }
}
