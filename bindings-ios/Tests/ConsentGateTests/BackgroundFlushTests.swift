// When the background flush runs next (AdaptersBackgroundTasks.swift, the
// portable part; the BGTaskScheduler calls compile only on iOS), from the
// reports of real flushes against the real core.
import Foundation
import XCTest

import ConsentGate

final class BackgroundFlushTests: XCTestCase {
    private let now = Date(timeIntervalSince1970: 1_780_000_000)

    private func report(waitMs: Int64?) -> FlushReport {
        FlushReport(requests: 1, batchesDelivered: 0, eventsDelivered: 0, eventsRejected: 0, retries: waitMs == nil ? 0 : 1,
                    deletionsAcknowledged: 0, deletionsFailed: 0, waitMs: waitMs, waitedMs: 0)
    }

    func testNothingLeftToSendSchedulesNoBackgroundFlush() {
        XCTAssertNil(BackgroundFlushSchedule.nextRun(after: report(waitMs: nil), now: now))
    }

    func testAShortBackoffWaitsTheMinimumIntervalAndALongOneIsHonoured() {
        XCTAssertEqual(BackgroundFlushSchedule.nextRun(after: report(waitMs: 2_000), now: now),
                       now.addingTimeInterval(BackgroundFlushSchedule.minimumInterval))
        XCTAssertEqual(BackgroundFlushSchedule.nextRun(after: report(waitMs: 3_600_000), now: now),
                       now.addingTimeInterval(3_600))
    }

    func testG6AFlushThatCouldNotReachTheBackendAsksForAnotherRunAndAnEmptyQueueDoesNot() async throws {
        let gate = try openLoaded(try makeDataDirectory(for: self), for: self)
        let empty = try await gate.flush(using: Unreachable(), maxWait: 0)
        XCTAssertNil(BackgroundFlushSchedule.nextRun(after: empty, now: now), "nothing queued: no background run")
        try await gate.requestDeletion(reason: "user_request")
        let offline = try await gate.flush(using: Unreachable(), maxWait: 0)
        XCTAssertEqual(offline.retries, 1)
        let next = try XCTUnwrap(BackgroundFlushSchedule.nextRun(after: offline, now: now), "the deletion must be retried")
        XCTAssertGreaterThanOrEqual(next.timeIntervalSince(now), BackgroundFlushSchedule.minimumInterval)
    }
}

/// An uploader whose network is always down.
private struct Unreachable: Uploader {
    func send(_ request: UploadRequest) -> UploadResult { .networkError(message: "offline") }
}
