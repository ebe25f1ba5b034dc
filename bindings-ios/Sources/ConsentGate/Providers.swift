// What the app supplies to the gate: an uploader (the HTTP), device-field and
// advertising-id providers, a clock, the platform signals. Swift protocols and
// value types of this module; the adapters below turn them into the core's
// callback interfaces (ConsentGateFFI, imported `internal`), converting types.
// The core decides when each one is called; nothing here does.
import Foundation
internal import ConsentGateFFI

/// One HTTP header of an upload request.
public struct HTTPHeader: Sendable, Equatable, Hashable, Codable {
    /// Header name, e.g. `Content-Encoding`.
    public var name: String
    /// Header value.
    public var value: String

    /// A header `name: value`.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A request the core built for the collector (SPEC §6): send it as it is.
public struct UploadRequest: Sendable, Equatable, Hashable {
    /// The batch or deletion request id (also the idempotency key).
    public var requestID: String
    /// Always `POST`.
    public var method: String
    /// The full URL.
    public var url: URL
    /// Headers to send (content type and encoding, user agent, idempotency key).
    public var headers: [HTTPHeader]
    /// The gzip-compressed JSON body.
    public var body: Data

    /// A request with these parts.
    public init(requestID: String, method: String, url: URL, headers: [HTTPHeader], body: Data) {
        self.requestID = requestID
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// How sending an `UploadRequest` ended.
public enum UploadResult: Sendable, Equatable, Hashable {
    /// The server answered with `status`; `retryAfterSeconds` is its `Retry-After`,
    /// `body` its response body (deletion receipts are read from it).
    case http(status: Int, retryAfterSeconds: Int64? = nil, body: String? = nil)
    /// No answer: DNS, connect, TLS, timeout or a dropped connection (retried
    /// with backoff). `message` is never logged above debug.
    case networkError(message: String)
}

/// Sends the requests the core builds (`ConsentGate.flush(using:)`).
/// `URLSessionUploader` is the default; supply your own for a custom stack or
/// a test double. It is called on a background thread and may block.
public protocol Uploader: Sendable {
    /// Sends `request` as it is and reports how it ended. Never throws:
    /// report failures as `.networkError`.
    func send(_ request: UploadRequest) -> UploadResult
}

/// Reads the advertising id (IDFA). The core calls it only when
/// `advertising_id` is allowed and no platform signal forbids it.
public protocol AdvertisingIDProvider: Sendable {
    /// The advertising id, or nil when there is none (an all-zero IDFA is none).
    func advertisingID() -> String?
}

/// Milliseconds since the epoch, for tests or a trusted time source.
public protocol Clock: Sendable {
    /// Now, in milliseconds since 1970-01-01T00:00:00Z.
    func nowMilliseconds() -> Int64
}

/// Device fields. The core asks only for the fields whose category is
/// allowed; a field left nil counts as not known. Every field defaults to nil.
public protocol DeviceInfoProvider: Sendable {
    /// Operating system, e.g. `iOS`.
    func os() -> String?
    /// Operating system version.
    func osVersion() -> String?
    /// Device model.
    func model() -> String?
    /// Device manufacturer.
    func manufacturer() -> String?
    /// Locale as a BCP 47 tag.
    func locale() -> String?
    /// Time zone id.
    func timezone() -> String?
    /// Network operator name.
    func carrier() -> String?
    /// The app's version.
    func appVersion() -> String?
    /// Screen size, `WIDTHxHEIGHT` in pixels.
    func screen() -> String?
}

extension DeviceInfoProvider {
    /// Not known.
    public func os() -> String? { nil }
    /// Not known.
    public func osVersion() -> String? { nil }
    /// Not known.
    public func model() -> String? { nil }
    /// Not known.
    public func manufacturer() -> String? { nil }
    /// Not known.
    public func locale() -> String? { nil }
    /// Not known.
    public func timezone() -> String? { nil }
    /// Not known.
    public func carrier() -> String? { nil }
    /// Not known.
    public func appVersion() -> String? { nil }
    /// Not known.
    public func screen() -> String? { nil }
}

/// App Tracking Transparency status, as the core judges it (SPEC §8).
public enum TrackingAuthorization: String, Sendable, Equatable, Hashable, Codable {
    /// The platform has no ATT (older iOS, Linux).
    case notApplicable
    /// The user has not been asked yet: tracking is not allowed.
    case notDetermined
    /// Restricted by parental controls or device management: not allowed.
    case restricted
    /// The user refused tracking.
    case denied
    /// The user allowed tracking.
    case authorized
}

/// What the platform says, independent of the app's consent UI: the core
/// reads no advertising id unless ATT is authorized (where ATT applies) and
/// limit ad tracking is off (the user's decisions, and so `allows`, stay as
/// they are), and denies sale-or-share purposes under a Global Privacy
/// Control signal.
public struct PlatformSignals: Sendable, Equatable, Hashable, Codable {
    /// ATT status.
    public var trackingAuthorization: TrackingAuthorization
    /// The system's limit-ad-tracking switch.
    public var limitAdTracking: Bool
    /// A Global Privacy Control signal.
    public var globalPrivacyControl: Bool

    /// Signals; the defaults say nothing (no ATT, no limit, no GPC).
    public init(
        trackingAuthorization: TrackingAuthorization = .notApplicable,
        limitAdTracking: Bool = false,
        globalPrivacyControl: Bool = false
    ) {
        self.trackingAuthorization = trackingAuthorization
        self.limitAdTracking = limitAdTracking
        self.globalPrivacyControl = globalPrivacyControl
    }
}

// MARK: - To and from the core's types

extension PlatformSignals {
    var ffi: ConsentGateFFI.PlatformSignals {
        let att: AttStatus
        switch trackingAuthorization {
        case .notApplicable: att = .notApplicable
        case .notDetermined: att = .notDetermined
        case .restricted: att = .restricted
        case .denied: att = .denied
        case .authorized: att = .authorized
        }
        return ConsentGateFFI.PlatformSignals(attStatus: att, limitAdTracking: limitAdTracking, gpc: globalPrivacyControl)
    }
}

extension UploadRequest {
    /// The core's request as this module's; nil only if the core built a URL
    /// Foundation cannot parse (then the upload is a network error).
    init?(ffi r: ConsentGateFFI.UploadRequest) {
        guard let url = URL(string: r.url) else { return nil }
        self.init(
            requestID: r.requestId, method: r.method, url: url,
            headers: r.headers.map { HTTPHeader(name: $0.name, value: $0.value) }, body: r.body)
    }
}

extension UploadResult {
    var ffi: ConsentGateFFI.UploadResult {
        switch self {
        case let .http(status, retryAfterSeconds, body):
            return .http(status: Int32(clamping: status), retryAfterS: retryAfterSeconds, body: body)
        case let .networkError(message):
            return .networkError(message: message)
        }
    }
}

/// The app's uploader as the core's.
final class UploaderAdapter: ConsentGateFFI.Uploader {
    private let uploader: any Uploader
    init(_ uploader: any Uploader) { self.uploader = uploader }

    func send(request: ConsentGateFFI.UploadRequest) -> ConsentGateFFI.UploadResult {
        guard let r = UploadRequest(ffi: request) else {
            return .networkError(message: "the collector URL is not a valid URL")
        }
        return uploader.send(r).ffi
    }
}

/// The app's clock as the core's.
final class ClockAdapter: ConsentGateFFI.Clock {
    private let clock: any Clock
    init(_ clock: any Clock) { self.clock = clock }
    func nowMs() -> Int64 { clock.nowMilliseconds() }
}

/// The app's device provider as the core's.
final class DeviceInfoAdapter: ConsentGateFFI.DeviceInfoProvider {
    private let p: any DeviceInfoProvider
    init(_ p: any DeviceInfoProvider) { self.p = p }
    func os() -> String? { p.os() }
    func osVersion() -> String? { p.osVersion() }
    func model() -> String? { p.model() }
    func manufacturer() -> String? { p.manufacturer() }
    func locale() -> String? { p.locale() }
    func timezone() -> String? { p.timezone() }
    func carrier() -> String? { p.carrier() }
    func appVersion() -> String? { p.appVersion() }
    func screen() -> String? { p.screen() }
}

/// The app's advertising-id provider as the core's.
final class AdvertisingIDAdapter: ConsentGateFFI.AdIdProvider {
    private let p: any AdvertisingIDProvider
    init(_ p: any AdvertisingIDProvider) { self.p = p }
    func advertisingId() -> String? { p.advertisingID() }
}

/// What `ConsentGate.nextUpload()` hands an app that drives uploads itself.
public enum UploadTask: Sendable, Equatable, Hashable {
    /// Send this request, then report how it ended with `ConsentGate.completeUpload(_:result:)`.
    case upload(UploadRequest)
    /// Nothing may be sent for `milliseconds` (a backoff); ask again after.
    case wait(milliseconds: Int64)
    /// Nothing left to send.
    case done
}
