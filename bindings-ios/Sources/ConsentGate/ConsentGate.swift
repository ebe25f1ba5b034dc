// ConsentGate: the Swift API of consentgate that app code imports (SPEC §8 iOS).
//
// It owns the Swift idiom around the core — the `ConsentGate` type, its
// non-blocking open with a fail-closed loading state, `async` calls,
// `AsyncStream` state, the Swift-side copy of the allowed set and the event
// buffer — and no rule of its own: every consent rule lives in the Rust
// core, reached through the generated `ConsentGateFFI` module. The same
// design as the Kotlin layer's ConsentGate.kt.
//
// The generated layer is imported `internal`, not re-exported: its types use
// FFI plumbing app code must not see, and its `ConsentGate` class is not the
// one apps use. With an internal import the compiler rejects any public
// declaration here that mentions a ConsentGateFFI type, so nothing leaks.
import Foundation
internal import ConsentGateFFI

/// What `ConsentGate.open(_:)` needs.
public struct ConsentGateConfiguration: Sendable {
    /// The directory of the gate's store. Use `DataDirectory.default()`
    /// (Application Support, excluded from backups: a restored backup must
    /// not bring back a withdrawn grant). One gate per directory.
    public var dataDirectory: URL
    /// The policy document bundled with the app (JSON, SPEC §3).
    public var policyJSON: String
    /// The app's version, recorded in the ledger and in batches.
    public var appVersion: String
    /// The user's region (ISO 3166-1 alpha-2, e.g. `KZ`), if known.
    public var region: String?
    /// A clock for tests or a trusted time source; nil for the system clock.
    public var clock: (any Clock)?
    /// How long recorded events wait on the Swift side before they cross to
    /// the core in one call, in seconds (sooner once 256 wait).
    public var bufferWindow: TimeInterval

    /// A configuration with these values.
    public init(
        dataDirectory: URL, policyJSON: String, appVersion: String, region: String? = nil,
        clock: (any Clock)? = nil, bufferWindow: TimeInterval = 0.2
    ) {
        self.dataDirectory = dataDirectory
        self.policyJSON = policyJSON
        self.appVersion = appVersion
        self.region = region
        self.clock = clock
        self.bufferWindow = bufferWindow
    }
}

/// One event for `ConsentGate.recordEvents(_:)`.
public struct Event {
    /// The event name (the core's pattern: a letter, then up to 63 of `A-Z a-z 0-9 _ . -`).
    public var name: String
    /// Its properties, written as a JSON object; nil for none.
    public var properties: [String: Any]?

    /// An event with this name and these properties.
    public init(_ name: String, properties: [String: Any]? = nil) {
        self.name = name
        self.properties = properties
    }
}

/// The consent gate: nothing about the user is collected before they agree,
/// and nothing is kept after they take consent back. One per data
/// directory, shared by the whole app.
///
/// ```swift
/// let gate = ConsentGate.open(ConsentGateConfiguration(
///     dataDirectory: try DataDirectory.default(), policyJSON: policy, appVersion: "1.0.0", region: "KZ"))
/// gate.allows("usage_events")          // false: loading, then nothing granted yet
/// gate.recordEvent("app_open")         // .held: judged once the stored decisions are known
/// try await gate.setConsent(["analytics": true], source: .banner)
/// gate.recordEvent("screen_view", properties: ["screen": "home"])   // .queued
/// ```
///
/// `open(_:)` returns at once; the core opens on a background thread. Until
/// it has loaded, `currentState` is `ConsentState.loading` and `allows`
/// answers false for everything (fail-closed, G1); events recorded meanwhile
/// are held and judged against the loaded decisions; every call that needs
/// the core waits for the open. `allows`, `currentState`, `recordEvent` and
/// `recordEvents` never block on I/O; every call that touches the disk or
/// the network is `async` and runs on a background queue, never on the
/// cooperative thread pool. Errors are `ConsentGateError`s. Thread-safe.
public final class ConsentGate: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by a lock (see StateMirror, Opening).

    /// Most events `recordEvent` holds while the core opens; beyond, the
    /// oldest are evicted and counted. A memory bound of this layer for the
    /// first moments of a process (the core's bounds are unknown until it
    /// has opened), not a rule of the core.
    public static let maxHeldWhileLoading = 1_000

    /// Most bytes (UTF-8 of names and properties) `recordEvent` holds while the core opens.
    public static let maxHeldBytesWhileLoading = 256 * 1024

    /// The longest backoff `flush(using:maxWait:)` waits out by default, in seconds.
    public static let defaultFlushWait: TimeInterval = 10

    private let mirror = StateMirror()
    private let opening = Opening()
    private let window: TimeInterval
    private let clock: (any Clock)?
    private let signalsLock = Lock()
    private var signals = PlatformSignals()  // guarded by signalsLock

    /// The queue blocking core calls run on (fsync, network): never the caller's, never the cooperative pool.
    private static let io = DispatchQueue(label: "dev.consentgate.io", qos: .utility, attributes: .concurrent)

    private init(window: TimeInterval, clock: (any Clock)?) {
        self.window = window
        self.clock = clock
    }

    deinit {
        close()
    }

    // MARK: - Opening

    /// Opens the gate for `configuration.dataDirectory` and returns at once:
    /// the store is opened on a background thread. Until then the gate is
    /// fail-closed (`ConsentState.loading`). A failure (`invalidPolicy`
    /// naming the JSON path, `busy`, `storage`) becomes `openError`, is
    /// logged at `error`, and is thrown by every call that needs the core.
    public static func open(_ configuration: ConsentGateConfiguration) -> ConsentGate {
        let gate = ConsentGate(window: configuration.bufferWindow, clock: configuration.clock)
        let thread = Thread { gate.load(configuration) }
        thread.name = "consentgate-open"
        thread.qualityOfService = .userInitiated
        thread.start()
        return gate
    }

    /// Opens the gate on the calling thread and returns it loaded: for
    /// background work and tests. Blocks for the store's open.
    /// - Throws: `ConsentGateError.invalidPolicy` (before touching the disk), `.busy`, `.storage`.
    public static func openBlocking(_ configuration: ConsentGateConfiguration) throws(ConsentGateError) -> ConsentGate {
        let gate = ConsentGate(window: configuration.bufferWindow, clock: configuration.clock)
        gate.load(configuration)
        if let error = gate.opening.error { throw error }
        return gate
    }

    /// Opens the gate off the caller's thread and returns it once loaded.
    public static func opened(_ configuration: ConsentGateConfiguration) async throws(ConsentGateError) -> ConsentGate {
        let gate = open(configuration)
        _ = try await gate.awaitLoaded()
        return gate
    }

    /// Tells every open gate of the process that the wall clock jumped
    /// (`UIApplication.significantTimeChangeNotification`), so an expiry
    /// now due is applied at once.
    public static func timeChanged() {
        ConsentGateFFI.timeChanged()
    }

    /// Waits until the core has opened and returns the loaded state.
    /// - Throws: the open's failure (`openError`), or `.closed`.
    @discardableResult
    public func awaitLoaded() async throws(ConsentGateError) -> ConsentState {
        _ = try await opening.await()
        if mirror.isClosed { throw .closed }
        return currentState
    }

    /// Why the core could not be opened; nil while loading and after a
    /// successful open. The gate then stays fail-closed: `currentState`
    /// stays `.loading`, `allows` false, `recordEvent` drops.
    public var openError: ConsentGateError? { opening.error }

    /// True once `close()` has been called.
    public var isClosed: Bool { mirror.isClosed }

    // MARK: - State

    /// The consent state in force: `ConsentState.loading` until the core has
    /// opened, then updated before `setConsent` & co. return, and when the
    /// core changes consent on its own (a decision expiring).
    public var currentState: ConsentState { mirror.current }

    /// The state now, then every change, newest first when the consumer is
    /// slow (like a `StateFlow`: an intermediate state may be skipped, the
    /// latest never is). Ends when the gate is closed.
    public var states: AsyncStream<ConsentState> { mirror.stateStream() }

    /// The deletion requests made on this device, oldest first (empty while
    /// loading); current when `requestDeletion`, `flush` and `completeUpload` return.
    public var currentDeletions: [DeletionTicket] { mirror.currentDeletions }

    /// The deletion requests now, then after every change of one (created,
    /// acknowledged, refused). Ends when the gate is closed.
    public var deletions: AsyncStream<[DeletionTicket]> { mirror.deletionStream() }

    /// True when every purpose `category` requires is granted; an unknown
    /// category, a gate still loading and a closed gate are never allowed.
    ///
    /// Reads a Swift copy of the core's allowed set instead of crossing the
    /// FFI. The core's listener replaces it on the changing thread before
    /// `setConsent` & co. return, so once a withdrawal returns every thread
    /// reads the new set. The core checks consent again itself when a
    /// recorded event crosses to it, at every other capture and at send.
    @inline(__always)
    public func allows(_ category: String) -> Bool {
        mirror.allows(category)
    }

    /// True when ads may be requested (IAB TCF / Consent Mode `ad_storage`
    /// semantics of the policy's `interop` block); false without one.
    public var canRequestAds: Bool { currentState.interop?.canRequestAds ?? false }

    /// The platform signals last given to `setPlatformSignals(_:)` by this
    /// object. The core does not persist them: they start from "not
    /// applicable, no limit, no GPC" at every open.
    public var platformSignals: PlatformSignals { signalsLock.withLock { signals } }

    // MARK: - Recording

    /// Records one usage event, fire-and-forget: a few microseconds on the
    /// calling thread, no FFI call, no I/O. `properties` becomes a JSON
    /// object: strings, numbers, booleans, `NSNull`, nested dictionaries
    /// with `String` keys and arrays.
    ///
    /// The event is checked here against the core's rules (read from the
    /// core at open; none is copied into Swift): the name must match the
    /// core's pattern (a letter, then up to 63 of `A-Z a-z 0-9 _ . -`), the
    /// properties must be at most 16 KiB of JSON and nest at most 8 levels.
    /// A refused event returns `.invalid(reason:)` naming the rule (logged at
    /// `warn` the first time, never with the payload).
    ///
    /// Then: without `usage_events` it is dropped and counted
    /// (`.notAllowed`); with it, it is stamped with the capture time and the
    /// consent version and buffered (`.queued`); while the core is opening
    /// it is held (`.held`) and kept at open only if the stored decisions
    /// grant `usage_events`. A withdrawal empties the buffer before
    /// `setConsent` returns, so nothing recorded before it is stored or sent (G3).
    @discardableResult
    public func recordEvent(_ name: String, properties: [String: Any]? = nil) -> RecordResult {
        let encoded: EncodedProperties
        do {
            encoded = try EventJSON.encode(properties)
        } catch {
            return mirror.refuse(error.reason)
        }
        return record(name, encoded)
    }

    /// `recordEvent(_:properties:)` with properties from an `Encodable`
    /// value (through `JSONEncoder`); it must encode to a JSON object.
    @discardableResult
    public func recordEvent<P: Encodable>(_ name: String, encoding properties: P) -> RecordResult {
        let encoded: EncodedProperties
        do {
            encoded = try EventJSON.encode(encodable: properties)
        } catch {
            return mirror.refuse(error.reason)
        }
        return record(name, encoded)
    }

    private func record(_ name: String, _ encoded: EncodedProperties) -> RecordResult {
        while true {
            let check = mirror.check
            if let check, let problem = check.problem(name: name, properties: encoded) {
                return mirror.refuse(problem)
            }
            let size = (check?.recordOverheadBytes ?? 0) + name.utf8.count + encoded.utf8Bytes
            let appended = mirror.capture.append(
                name: name, properties: encoded, size: size, atMs: nowMs(), validated: check != nil)
            if let result = result(of: appended) { return result }
        }
    }

    /// `recordEvent` for many events: all are encoded and checked first (an
    /// invalid one returns `.invalid` naming its index, `events[3]: …`, and
    /// none is recorded), then queued, held or dropped together.
    @discardableResult
    public func recordEvents(_ events: [Event]) -> RecordResult {
        if events.isEmpty { return .queued }
        var encoded: [EncodedProperties] = []
        encoded.reserveCapacity(events.count)
        for (i, e) in events.enumerated() {
            do {
                encoded.append(try EventJSON.encode(e.properties))
            } catch {
                return mirror.refuse("events[\(i)]: \(error.reason)")
            }
        }
        let names = events.map(\.name)
        while true {
            let check = mirror.check
            if let check {
                for i in names.indices {
                    if let problem = check.problem(name: names[i], properties: encoded[i]) {
                        return mirror.refuse("events[\(i)]: \(problem)")
                    }
                }
            }
            let overhead = check?.recordOverheadBytes ?? 0
            let sizes = names.indices.map { overhead + names[$0].utf8.count + encoded[$0].utf8Bytes }
            let appended = mirror.capture.appendAll(
                names: names, properties: encoded, sizes: sizes, atMs: nowMs(), validated: check != nil)
            if let result = result(of: appended) { return result }
        }
    }

    /// Records one event synchronously with the core's own verdict and
    /// sequence number: the buffer crosses first (order is kept), then this
    /// event crosses on its own. Tens of microseconds; `recordEvent` is the usual call.
    /// - Throws: `.invalidArgument` for a name or properties the core refuses, `.closed`.
    public func recordEventNow(_ name: String, properties: [String: Any]? = nil) async throws(ConsentGateError) -> RecordOutcome {
        let json: String?
        do {
            json = try EventJSON.encode(properties).json
        } catch {
            throw .invalidArgument(detail: error.reason)
        }
        return try await io(crossFirst: true) { try Convert.outcome($0.recordEvent(name: name, propertiesJson: json)) }
    }

    /// Events refused as invalid since open (at once, when judged at open, or by the core).
    public var invalidEvents: Int { mirror.invalid.current }

    /// Events recorded that have not crossed to the core yet (held ones included).
    public var bufferedEvents: Int { mirror.capture.count }

    /// Events evicted on the Swift side because its buffer was full (oldest first), since open.
    public var evictedEvents: Int { mirror.capture.evictedTotal }

    private func nowMs() -> Int64 {
        if let clock { return clock.nowMilliseconds() }
        return Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    private func result(of appended: CaptureBuffer.Appended) -> RecordResult? {
        switch appended {
        case .retry: return nil
        case .dropped: return .notAllowed
        case .held: return .held
        case .closed: return .closed
        case .queued: return .queued
        case .queuedArmTimer, .queuedCrossSoon:
            // Once per window or per 256 events: only then is the core looked up.
            opening.core?.crossing.dispatch(appended)
            return .queued
        }
    }

    // MARK: - Consent

    /// Applies the user's decisions, e.g. `["analytics": true]`, durably
    /// (fsync). Denying a purpose purges every queued record that needed it
    /// before this returns. `source` is `.banner`, `.settings` or `.api`.
    /// - Throws: `.unknownPurpose`, `.notWithdrawable`, `.ageRestricted`,
    ///   `.gpcRestricted`, `.invalidArgument`, `.storage`, `.closed`.
    @discardableResult
    public func setConsent(_ decisions: [String: Bool], source: ConsentSource) async throws(ConsentGateError) -> ConsentState {
        let list = decisions.sorted { $0.key < $1.key }.map {
            ConsentGateFFI.PurposeDecision(purpose: $0.key, granted: $0.value)
        }
        return try await change { try $0.setConsent(decisions: list, source: Convert.source(source)) }
    }

    /// Grants every consent purpose of the policy.
    @discardableResult
    public func acceptAll(source: ConsentSource) async throws(ConsentGateError) -> ConsentState {
        try await change { try $0.acceptAll(source: Convert.source(source)) }
    }

    /// Denies every consent purpose of the policy (purging what needed them).
    @discardableResult
    public func rejectAll(source: ConsentSource) async throws(ConsentGateError) -> ConsentState {
        try await change { try $0.rejectAll(source: Convert.source(source)) }
    }

    /// Records that the user was shown the policy change in
    /// `ConsentState.needsAcknowledgement` (a ledger entry of kind
    /// `acknowledgement`); a no-op when nothing is due.
    @discardableResult
    public func acknowledgePolicy(source: ConsentSource) async throws(ConsentGateError) -> ConsentState {
        try await change { try $0.acknowledgePolicy(source: Convert.source(source)) }
    }

    /// The user's age (nil: unknown) and whether a parent consented; below
    /// the policy's minimum age consent purposes are denied.
    @discardableResult
    public func setAge(_ ageYears: Int?, parentalConsent: Bool = false) async throws(ConsentGateError) -> ConsentState {
        let age = ageYears.map { Int32(clamping: $0) }
        return try await change { try $0.setAge(age: ConsentGateFFI.AgeSignal(ageYears: age, parentalConsent: parentalConsent)) }
    }

    /// The platform's privacy signals (App Tracking Transparency, limit ad
    /// tracking, Global Privacy Control); the core applies them at once.
    @discardableResult
    public func setPlatformSignals(_ signals: PlatformSignals) async throws(ConsentGateError) -> ConsentState {
        let state = try await change { try $0.setPlatformSignals(signals: signals.ffi) }
        signalsLock.withLock { self.signals = signals }
        return state
    }

    /// The app's user id for batches, or nil to stop sending one.
    public func setUserID(_ userID: String?) async throws(ConsentGateError) {
        try await io(crossFirst: false) { try $0.setUserId(userId: userID) }
    }

    private func change(
        _ body: @escaping @Sendable (ConsentGateFFI.ConsentGate) throws -> ConsentGateFFI.ConsentState
    ) async throws(ConsentGateError) -> ConsentState {
        let native = try await io(crossFirst: true, body)
        // The listener published it already (same thread, before the call
        // returned); publishing again only makes sure of it.
        mirror.publish(native)
        return mirror.current
    }

    // MARK: - Queue, ledger, export

    /// Queue figures (after the Swift buffer crossed).
    public func queueStats() async throws(ConsentGateError) -> QueueStats {
        try await io(crossFirst: true) { Convert.stats($0.queueStats()) }
    }

    /// Commits everything buffered to disk now (the core does it in groups on its own).
    public func persist() async throws(ConsentGateError) {
        try await io(crossFirst: true) { try $0.persist() }
    }

    /// The consent ledger, oldest first.
    public func ledger() async throws(ConsentGateError) -> [LedgerEntry] {
        try await io(crossFirst: false) { try $0.ledger().map(Convert.entry) }
    }

    /// Checks that every ledger entry chains to the previous one.
    public func verifyLedger() async throws(ConsentGateError) -> LedgerCheck {
        try await io(crossFirst: false) { try Convert.check($0.verifyLedger()) }
    }

    /// Everything stored about this user on this device, as JSON (a data access request).
    public func exportData() async throws(ConsentGateError) -> String {
        try await io(crossFirst: true) { try $0.exportData() }
    }

    /// The installation id (random, rotated by a deletion request).
    public func installationID() async throws(ConsentGateError) -> String {
        try await io(crossFirst: false) { $0.installationId() }
    }

    // MARK: - Capture of device facts

    /// The device fields whose categories are allowed, read from `provider`
    /// (only those are asked for); nil fields are not allowed or not known.
    public func collectDeviceInfo(_ provider: any DeviceInfoProvider) async throws(ConsentGateError) -> DeviceInfo {
        let adapter = DeviceInfoAdapter(provider)
        return try await io(crossFirst: false) { try Convert.device($0.collectDeviceInfo(provider: adapter)) }
    }

    /// The advertising id from `provider`, asked only when `advertising_id`
    /// is allowed and no platform signal forbids it; nil otherwise.
    public func advertisingID(_ provider: any AdvertisingIDProvider) async throws(ConsentGateError) -> String? {
        let adapter = AdvertisingIDAdapter(provider)
        return try await io(crossFirst: false) { $0.advertisingId(provider: adapter) }
    }

    // MARK: - Delivery

    /// Delivers what can be delivered now through `uploader` (deletion
    /// requests first, then batches of what is still allowed), one request
    /// at a time. When the only thing in the way is a backoff that ends
    /// within `maxWait` of this call, it is waited out (`Task.sleep`) and
    /// sending goes on, so after the network comes back one call delivers.
    /// When a request fails during this call, or the backoff ends later, it
    /// returns and `FlushReport.waitMs` says when the next try is due. A
    /// request handed out by `nextUpload()` and never completed is taken back
    /// and sent again under the same id (the backend deduplicates).
    /// - Parameter maxWait: the longest backoff waited out in one call, in seconds.
    public func flush(
        using uploader: any Uploader = URLSessionUploader(), maxWait: TimeInterval = ConsentGate.defaultFlushWait
    ) async throws(ConsentGateError) -> FlushReport {
        guard maxWait >= 0 else { throw .invalidArgument(detail: "maxWait must not be negative, got \(maxWait)") }
        let adapter = UploaderAdapter(uploader)
        let start = Date()
        var total = try await io(crossFirst: true) { try Convert.flush($0.flush(uploader: adapter)) }
        while let wait = total.waitMs, total.retries == 0 {
            let elapsedMs = Date().timeIntervalSince(start) * 1000
            if elapsedMs + Double(wait) > maxWait * 1000 { break }
            do {
                try await Task.sleep(nanoseconds: UInt64(max(0, wait)) * 1_000_000)
            } catch {
                break  // cancelled: report what was done
            }
            let next = try await io(crossFirst: true) { try Convert.flush($0.flush(uploader: adapter)) }
            total = FlushReport(
                requests: total.requests + next.requests,
                batchesDelivered: total.batchesDelivered + next.batchesDelivered,
                eventsDelivered: total.eventsDelivered + next.eventsDelivered,
                eventsRejected: total.eventsRejected + next.eventsRejected,
                retries: total.retries + next.retries,
                deletionsAcknowledged: total.deletionsAcknowledged + next.deletionsAcknowledged,
                deletionsFailed: total.deletionsFailed + next.deletionsFailed,
                waitMs: next.waitMs,
                waitedMs: total.waitedMs + wait)
        }
        // The deletion listener refreshes off-thread; `currentDeletions` is current once this returns.
        let mirror = self.mirror
        _ = try? await io(crossFirst: false) { _ in mirror.refreshDeletions() }
        return total
    }

    /// For apps that drive uploads themselves: the next request to send, a
    /// wait, or done. Report each request's end with `completeUpload(_:result:)`.
    public func nextUpload() async throws(ConsentGateError) -> UploadTask {
        try await io(crossFirst: true) { gate throws -> UploadTask in
            switch try gate.nextUpload() {
            case let .upload(request):
                guard let r = UploadRequest(ffi: request) else {
                    try gate.completeUpload(
                        requestId: request.requestId, result: .networkError(message: "the collector URL is not a valid URL"))
                    return .wait(milliseconds: 0)
                }
                return .upload(r)
            case let .wait(ms): return .wait(milliseconds: ms)
            case .done: return .done
            }
        }
    }

    /// Reports how the request `requestID` from `nextUpload()` ended.
    public func completeUpload(_ requestID: String, result: UploadResult) async throws(ConsentGateError) {
        let r = result.ffi
        let mirror = self.mirror
        try await io(crossFirst: false) {
            try $0.completeUpload(requestId: requestID, result: r)
            mirror.refreshDeletions()  // as in flush: an acknowledgement shows in `currentDeletions` at return
        }
    }

    /// The user asks to be forgotten: every consent purpose is revoked and
    /// everything queued purged at once, durably; the request is kept and
    /// sent to every endpoint by later flushes until acknowledged, across
    /// restarts and offline periods (G5).
    @discardableResult
    public func requestDeletion(reason: String? = nil) async throws(ConsentGateError) -> DeletionTicket {
        let ticket = try await io(crossFirst: true) { try Convert.ticket($0.requestDeletion(reason: reason)) }
        mirror.refreshDeletions()
        return ticket
    }

    /// Every deletion request made on this device, oldest first.
    public func deletionRequests() async throws(ConsentGateError) -> [DeletionTicket] {
        try await io(crossFirst: false) { $0.deletionRequests().map(Convert.ticket) }
    }

    // MARK: - Interop (IAB TCF / GPP, Consent Mode)

    /// Connects the store where CMPs keep the IAB keys (`UserDefaults` for
    /// `UserDefaultsKeyValueStore`): in `follow` mode the core reads another
    /// CMP's strings from it and re-reads when they change; in `cmp` mode it
    /// writes its own before a consent change returns.
    @discardableResult
    public func setKeyValueStore(_ store: any KeyValueStore) async throws(ConsentGateError) -> ConsentState {
        let queue = DispatchQueue(label: "dev.consentgate.interop", qos: .utility)
        let adapter = KeyValueStoreAdapter(store, queue: queue) { [weak self] in
            guard let self else { return }
            Task { _ = try? await self.interopKeysChanged() }
        }
        let state = try await change { try $0.setKeyValueStore(store: adapter) }
        adapter.start()
        return state
    }

    /// Tells the core the IAB keys may have changed (the connected store
    /// does it on its own when it can observe changes).
    @discardableResult
    public func interopKeysChanged() async throws(ConsentGateError) -> ConsentState {
        try await change { try $0.interopKeysChanged() }
    }

    /// Calls `sink` with the Consent Mode signals now and whenever they
    /// change (e.g. to `Analytics.setConsent` of Firebase), until the
    /// returned observation is cancelled. Nothing is called without an
    /// `interop.consent_mode` mapping in the policy.
    public func observeConsentMode(_ sink: @escaping @Sendable (ConsentModeSignals) -> Void) -> StateObservation {
        let last = LastSignals()
        return mirror.observe { state in
            guard let signals = state.consentMode, last.changed(to: signals) else { return }
            sink(signals)
        }
    }

    /// The core's latest state, for the core's functions that take one (web view scripts); nil while loading.
    func nativeState() -> ConsentGateFFI.ConsentState? { mirror.native }

    /// Keeps `host`'s `window.consentgate` (and, with an `interop` block,
    /// `__tcfapi` / `__gpp`) in step with this gate: see `ConsentWebViewBridge`.
    public func webViewBridge(host: any ConsentWebViewHost) -> ConsentWebViewBridge {
        let mirror = self.mirror
        return ConsentWebViewBridge(host: host, currentState: { mirror.native }, changes: mirror.stateStream())
    }

    // MARK: - Closing

    /// Hands the Swift buffer to the core, commits it, stops the core's
    /// writer and releases the data directory (another gate may open it
    /// after this returns). Blocks for that final commit; idempotent; waits
    /// for an open in progress. Later calls throw `.closed`; `allows` answers false.
    public func close() {
        guard mirror.markClosed() else { return }
        guard let core = opening.awaitSettled() else {
            _ = mirror.capture.take(close: true)
            return
        }
        core.crossing.close {
            do {
                try core.ffi.close()
            } catch {
                ConsentGateLogging.log(.warn, "consentgate: final commit at close failed: \(Convert.error(error))")
            }
        }
    }

    // MARK: - Internals

    /// Waits for the open, then runs `body` on the I/O queue (after the
    /// buffer crossed, when `crossFirst`), turning the core's errors into
    /// `ConsentGateError`s.
    private func io<T: Sendable>(
        crossFirst: Bool, _ body: @escaping @Sendable (ConsentGateFFI.ConsentGate) throws -> T
    ) async throws(ConsentGateError) -> T {
        let core = try await opening.await()
        if mirror.isClosed { throw .closed }
        let mirror = self.mirror
        let result: Result<T, ConsentGateError> = await withCheckedContinuation { continuation in
            ConsentGate.io.async {
                if mirror.isClosed { return continuation.resume(returning: .failure(.closed)) }
                do {
                    if crossFirst { core.crossing.cross() }
                    continuation.resume(returning: .success(try body(core.ffi)))
                } catch {
                    continuation.resume(returning: .failure(mirror.isClosed ? .closed : Convert.error(error)))
                }
            }
        }
        return try result.get()
    }

    /// Runs on `consentgate-open` (or the caller, for `openBlocking`): opens the core and publishes its state.
    private func load(_ configuration: ConsentGateConfiguration) {
        var opened: ConsentGateFFI.ConsentGate?
        do {
            let config = ConsentGateFFI.GateConfig(
                dataDir: configuration.dataDirectory.path, policyJson: configuration.policyJSON,
                region: configuration.region, appVersion: configuration.appVersion)
            let ffi: ConsentGateFFI.ConsentGate
            if let clock = configuration.clock {
                ffi = try ConsentGateFFI.ConsentGate.openWithClock(config: config, clock: ClockAdapter(clock))
            } else {
                ffi = try ConsentGateFFI.ConsentGate.open(config: config)
            }
            opened = ffi
            let rules = ffi.captureRules()
            let check = try EventCheck(rules: rules)
            let crossing = Crossing(ffi: ffi, buffer: mirror.capture, invalidCount: mirror.invalid, window: window)
            mirror.capture.apply(rules: rules, check: check)
            mirror.attach(ffi: ffi, check: check)
            // The core calls the listener once now, on this thread: the
            // loaded state is published and the held events are judged
            // against it before any call waiting for the open can run.
            ffi.setListener(listener: ListenerBridge(mirror))
            ffi.setDeletionListener(listener: DeletionBridge(mirror))
            mirror.refreshDeletions()
            opening.succeed(Core(ffi: ffi, crossing: crossing))
            if mirror.capture.count > 0 { crossing.soon() }
        } catch {
            if let opened { try? opened.close() }
            let e = Convert.error(error)
            let held = mirror.capture.failOpen()
            ConsentGateLogging.log(
                .error, "consentgate: the gate could not be opened, it stays fail-closed (\(held) held event(s) let go): \(e)")
            opening.fail(e)
        }
    }
}

/// A subscription to a gate's state changes (`ConsentGate.observeConsentMode(_:)`).
/// Cancel it, or release it, to stop.
public final class StateObservation: @unchecked Sendable {
    // @unchecked: `onCancel` is guarded by `lock`.
    private let lock = Lock()
    private var onCancel: (@Sendable () -> Void)?

    init(onCancel: @escaping @Sendable () -> Void) {
        self.onCancel = onCancel
    }

    deinit {
        cancel()
    }

    /// Stops the observation. Idempotent.
    public func cancel() {
        let f = lock.withLock { () -> (@Sendable () -> Void)? in
            let f = onCancel
            onCancel = nil
            return f
        }
        f?()
    }
}

/// The Consent Mode signals last pushed, so a sink hears only changes.
private final class LastSignals: @unchecked Sendable {
    private let lock = Lock()
    private var last: ConsentModeSignals?  // guarded by lock

    func changed(to signals: ConsentModeSignals) -> Bool {
        lock.withLock {
            if last == signals { return false }
            last = signals
            return true
        }
    }
}

/// The open core: the native object and the crossing that feeds it.
private final class Core: Sendable {
    let ffi: ConsentGateFFI.ConsentGate
    let crossing: Crossing
    init(ffi: ConsentGateFFI.ConsentGate, crossing: Crossing) {
        self.ffi = ffi
        self.crossing = crossing
    }
}

/// The outcome of the background open, waited for by blocking calls (a
/// condition) and by async ones (continuations resumed when it settles).
private final class Opening: @unchecked Sendable {
    // @unchecked: every field is guarded by `condition`.
    private let condition = NSCondition()
    private var settled = false
    private var coreValue: Core?
    private var errorValue: ConsentGateError?
    private var waiters: [CheckedContinuation<Void, Never>] = []

    var core: Core? {
        condition.lock()
        defer { condition.unlock() }
        return coreValue
    }

    var error: ConsentGateError? {
        condition.lock()
        defer { condition.unlock() }
        return errorValue
    }

    func succeed(_ c: Core) { settle(core: c, error: nil) }

    func fail(_ e: ConsentGateError) { settle(core: nil, error: e) }

    private func settle(core: Core?, error: ConsentGateError?) {
        condition.lock()
        coreValue = core
        errorValue = error
        settled = true
        let waiting = waiters
        waiters = []
        condition.broadcast()
        condition.unlock()
        for w in waiting { w.resume() }
    }

    /// The core once open; throws the open's failure. Suspends while loading.
    func await() async throws(ConsentGateError) -> Core {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            condition.lock()
            if settled {
                condition.unlock()
                c.resume()
            } else {
                waiters.append(c)
                condition.unlock()
            }
        }
        return try result()
    }

    /// Waits (blocking) for the open to settle: the core, or nil when it failed.
    func awaitSettled() -> Core? {
        condition.lock()
        defer { condition.unlock() }
        while !settled { condition.wait() }
        return coreValue
    }

    private func result() throws(ConsentGateError) -> Core {
        condition.lock()
        defer { condition.unlock() }
        if let coreValue { return coreValue }
        throw errorValue ?? .internal(detail: "the open settled without a result")
    }
}

/// The Swift side of the core's consent state, shared by the gate and its listeners.
final class StateMirror: @unchecked Sendable {
    // @unchecked: everything mutable is guarded by `lock`; `capture`, `invalid` lock themselves.
    private let lock = Lock()
    private var allowed: [String] = []
    private var state = ConsentState.loading
    private var nativeValue: ConsentGateFFI.ConsentState?
    private var published: Int64 = -1
    private var closed = false
    private var checkValue: EventCheck?
    private var ffi: ConsentGateFFI.ConsentGate?
    private var tickets: [DeletionTicket] = []
    private var stateContinuations: [UUID: AsyncStream<ConsentState>.Continuation] = [:]
    private var deletionContinuations: [UUID: AsyncStream<[DeletionTicket]>.Continuation] = [:]
    private var observers: [UUID: @Sendable (ConsentState) -> Void] = [:]
    private var warned = false

    /// Events recorded and not yet crossed.
    let capture = CaptureBuffer()
    /// Events refused as invalid since open.
    let invalid = Counter()

    var current: ConsentState { lock.withLock { state } }
    var native: ConsentGateFFI.ConsentState? { lock.withLock { nativeValue } }
    var check: EventCheck? { lock.withLock { checkValue } }
    var isClosed: Bool { lock.withLock { closed } }
    var currentDeletions: [DeletionTicket] { lock.withLock { tickets } }

    /// A linear scan of a few short strings: cheaper than hashing one.
    @inline(__always)
    func allows(_ category: String) -> Bool {
        lock.withLock { allowed.contains(category) }
    }

    func attach(ffi: ConsentGateFFI.ConsentGate, check: EventCheck) {
        lock.withLock {
            self.ffi = ffi
            self.checkValue = check
        }
    }

    /// Publishes `native` unless a newer state is already published.
    func publish(_ native: ConsentGateFFI.ConsentState) {
        let converted = Convert.state(native)
        let allowedNow = converted.allowedCategories
        var judged: CaptureBuffer.Judged?
        let told: [@Sendable (ConsentState) -> Void]? = lock.withLock {
            if native.version < published || closed { return nil }
            let fresh = native.version != published
            published = native.version
            nativeValue = native
            // The set and the buffer first: a consumer reacting to the stream may call `allows`.
            allowed = allowedNow
            judged = capture.onState(usageAllowed: allowedNow.contains(StateMirror.usageEvents), version: native.version)
            if let judged { invalid.add(judged.invalid) }
            state = converted
            guard fresh || judged != nil else { return nil }
            for c in stateContinuations.values { c.yield(converted) }
            return Array(observers.values)
        }
        if let judged { report(judged) }
        for o in told ?? [] { o(converted) }
    }

    /// Re-reads the deletion requests from the core and publishes them.
    func refreshDeletions() {
        guard let ffi = lock.withLock({ closed ? nil : self.ffi }) else { return }
        let all = ffi.deletionRequests().map(Convert.ticket)
        lock.withLock {
            guard !closed, all != tickets else { return }
            tickets = all
            for c in deletionContinuations.values { c.yield(all) }
        }
    }

    /// Marks the mirror closed (fail-closed from now on) and ends every stream. False when already closed.
    func markClosed() -> Bool {
        let ended: ([AsyncStream<ConsentState>.Continuation], [AsyncStream<[DeletionTicket]>.Continuation])? =
            lock.withLock {
                if closed { return nil }
                closed = true
                allowed = []
                observers = [:]
                defer {
                    stateContinuations = [:]
                    deletionContinuations = [:]
                }
                return (Array(stateContinuations.values), Array(deletionContinuations.values))
            }
        guard let ended else { return false }
        ended.0.forEach { $0.finish() }
        ended.1.forEach { $0.finish() }
        return true
    }

    func stateStream() -> AsyncStream<ConsentState> {
        let (stream, continuation) = AsyncStream<ConsentState>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        lock.withLock {
            if closed {
                continuation.finish()
                return
            }
            continuation.yield(state)
            stateContinuations[id] = continuation
        }
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            self.lock.withLock { _ = self.stateContinuations.removeValue(forKey: id) }
        }
        return stream
    }

    func deletionStream() -> AsyncStream<[DeletionTicket]> {
        let (stream, continuation) = AsyncStream<[DeletionTicket]>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        lock.withLock {
            if closed {
                continuation.finish()
                return
            }
            continuation.yield(tickets)
            deletionContinuations[id] = continuation
        }
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            self.lock.withLock { _ = self.deletionContinuations.removeValue(forKey: id) }
        }
        return stream
    }

    /// Calls `observer` with the state now (when loaded) and after every change, on the changing thread.
    func observe(_ observer: @escaping @Sendable (ConsentState) -> Void) -> StateObservation {
        let id = UUID()
        let now: ConsentState? = lock.withLock {
            if closed { return nil }
            observers[id] = observer
            return state.isLoading ? nil : state
        }
        if let now { observer(now) }
        return StateObservation { [weak self] in
            guard let self else { return }
            self.lock.withLock { _ = self.observers.removeValue(forKey: id) }
        }
    }

    /// Counts an event refused on the calling thread and returns the result saying why.
    func refuse(_ reason: String) -> RecordResult {
        invalid.add(1)
        let first = lock.withLock { () -> Bool in
            defer { warned = true }
            return !warned
        }
        ConsentGateLogging.log(first ? .warn : .debug, "consentgate: an event was refused as invalid: \(reason)")
        return .invalid(reason: reason)
    }

    private func report(_ j: CaptureBuffer.Judged) {
        if j.invalid > 0 {
            ConsentGateLogging.log(
                .warn,
                "consentgate: \(j.invalid) event(s) recorded while loading refused as invalid; first: \(j.firstInvalid ?? "?")")
        }
        if j.kept + j.dropped > 0 {
            ConsentGateLogging.log(
                .debug, "consentgate: events recorded while loading: \(j.kept) kept, \(j.dropped) dropped (no consent)")
        }
    }

    static let usageEvents = "usage_events"
}

/// Receives the core's consent changes on the changing thread.
private final class ListenerBridge: ConsentGateFFI.ConsentListener, @unchecked Sendable {
    private weak var mirror: StateMirror?
    init(_ mirror: StateMirror) { self.mirror = mirror }

    func onConsentChanged(state: ConsentGateFFI.ConsentState) {
        mirror?.publish(state)
    }
}

/// Refreshes the mirrored deletion requests when a ticket changes (from the core's whole list).
private final class DeletionBridge: ConsentGateFFI.DeletionListener, @unchecked Sendable {
    private weak var mirror: StateMirror?
    init(_ mirror: StateMirror) { self.mirror = mirror }

    func onDeletionChanged(ticket: ConsentGateFFI.DeletionTicket) {
        // Not on this thread: the core may hold its store lock while it notifies.
        guard let mirror else { return }
        DispatchQueue.global(qos: .utility).async { mirror.refreshDeletions() }
    }
}
