// Background flushes with BGTaskScheduler: the app declares a task
// identifier in its Info.plist (`BGTaskSchedulerPermittedIdentifiers`, an SDK
// cannot), registers it with the gate at launch, and the gate flushes in the
// task and schedules the next one. When the next run is due is decided from
// the flush's own answer (`FlushReport.waitMs`); that part is plain Swift,
// tested on Linux. The BackgroundTasks part compiles only on iOS.
import Foundation
#if canImport(BackgroundTasks)
import BackgroundTasks
#endif

/// When a background flush should run next.
public enum BackgroundFlushSchedule {
    /// The shortest interval between two background flushes the gate asks
    /// for (iOS decides the real time; it rarely runs tasks more often).
    public static let minimumInterval: TimeInterval = 15 * 60

    /// The earliest begin date of the next background flush after one that
    /// reported `report`, or nil when nothing is left to send (`report.waitMs`
    /// is nil: the queue and the deletion requests are empty). A backoff
    /// longer than `minimumInterval` is honoured.
    public static func nextRun(after report: FlushReport, now: Date = Date()) -> Date? {
        guard let waitMs = report.waitMs else { return nil }
        return now.addingTimeInterval(max(minimumInterval, Double(waitMs) / 1000))
    }
}

#if canImport(BackgroundTasks) && os(iOS)
extension ConsentGate {
    /// Registers the background flush task `identifier` (listed in the app's
    /// `BGTaskSchedulerPermittedIdentifiers`); call it before the app
    /// finishes launching, as BGTaskScheduler requires. Each run flushes
    /// through `uploader`, completes the task (successful when no request
    /// failed) and schedules the next run when something is left to send.
    /// Returns false when iOS refused the registration.
    @discardableResult
    public func registerBackgroundFlush(identifier: String, uploader: any Uploader = URLSessionUploader()) -> Bool {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { [weak self] task in
            guard let self else { return task.setTaskCompleted(success: true) }
            let work = Task {
                do {
                    let report = try await self.flush(using: uploader)
                    if let next = BackgroundFlushSchedule.nextRun(after: report) {
                        try? self.scheduleBackgroundFlush(identifier: identifier, earliest: next)
                    }
                    task.setTaskCompleted(success: report.retries == 0)
                } catch {
                    try? self.scheduleBackgroundFlush(identifier: identifier)
                    task.setTaskCompleted(success: false)
                }
            }
            task.expirationHandler = { work.cancel() }
        }
    }

    /// Asks iOS to run the background flush `identifier` once the network is
    /// available, not before `earliest` (by default `minimumInterval` from now).
    /// Call it when the app goes to the background.
    public func scheduleBackgroundFlush(identifier: String, earliest: Date? = nil) throws {
        let request = BGProcessingTaskRequest(identifier: identifier)
        request.requiresNetworkConnectivity = true
        request.requiresExternalPower = false
        request.earliestBeginDate = earliest ?? Date().addingTimeInterval(BackgroundFlushSchedule.minimumInterval)
        try BGTaskScheduler.shared.submit(request)
    }
}
#endif
