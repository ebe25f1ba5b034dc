// App Tracking Transparency and the IDFA, for the gate's platform signals and
// `ConsentGate.advertisingID(using:)`. The ATT status is read here and handed
// to the core, which decides what it allows; the IDFA is read only when the
// core asks (advertising_id allowed, ATT authorized), and the core treats an
// all-zero IDFA as none. The Apple parts compile only where the frameworks
// exist; the status mapping is plain Swift, tested on Linux.
import Foundation
#if canImport(AppTrackingTransparency)
import AppTrackingTransparency
#endif
#if canImport(AdSupport)
import AdSupport
#endif

extension TrackingAuthorization {
    /// The status from `ATTrackingManager.AuthorizationStatus.rawValue`
    /// (0 not determined, 1 restricted, 2 denied, 3 authorized). A value
    /// a later iOS adds counts as `.notDetermined`: not allowed, fail-closed.
    public init(attStatusRawValue rawValue: UInt) {
        switch rawValue {
        case 1: self = .restricted
        case 2: self = .denied
        case 3: self = .authorized
        default: self = .notDetermined
        }
    }
}

extension PlatformSignals {
    /// These signals with `trackingAuthorization` replaced, the others kept.
    public func with(trackingAuthorization: TrackingAuthorization) -> PlatformSignals {
        var copy = self
        copy.trackingAuthorization = trackingAuthorization
        return copy
    }
}

#if canImport(AppTrackingTransparency)
extension TrackingAuthorization {
    /// `status` as the gate's.
    public init(_ status: ATTrackingManager.AuthorizationStatus) {
        self.init(attStatusRawValue: status.rawValue)
    }

    /// The app's ATT status now (`ATTrackingManager.trackingAuthorizationStatus`).
    public static var current: TrackingAuthorization {
        TrackingAuthorization(ATTrackingManager.trackingAuthorizationStatus)
    }

    /// Shows the system's tracking prompt (once per install; later calls
    /// answer at once) and returns the answer. Needs
    /// `NSUserTrackingUsageDescription` in the app's Info.plist, and an
    /// active app. Pass the answer to the gate:
    ///
    /// ```swift
    /// let att = await TrackingAuthorization.request()
    /// try await gate.setPlatformSignals(gate.platformSignals.with(trackingAuthorization: att))
    /// ```
    public static func request() async -> TrackingAuthorization {
        TrackingAuthorization(await ATTrackingManager.requestTrackingAuthorization())
    }
}

extension PlatformSignals {
    /// What the platform says now: the ATT status (limit-ad-tracking is
    /// folded into ATT since iOS 14; iOS sends no Global Privacy Control).
    public static var current: PlatformSignals {
        PlatformSignals(trackingAuthorization: .current)
    }
}
#endif

#if canImport(AdSupport)
/// The IDFA from `ASIdentifierManager`. The core calls it only when
/// `advertising_id` is allowed and ATT is authorized (give the gate the ATT
/// status first, `PlatformSignals.current`), and treats the all-zero IDFA
/// iOS returns without authorization as none:
///
/// ```swift
/// let idfa: String? = try await gate.advertisingID(using: IDFAProvider())
/// ```
public struct IDFAProvider: AdvertisingIDProvider {
    /// A provider reading `ASIdentifierManager.shared()`.
    public init() {}

    /// The IDFA as iOS gives it (all zeros without ATT authorization).
    public func advertisingID() -> String? {
        ASIdentifierManager.shared().advertisingIdentifier.uuidString
    }
}
#endif
