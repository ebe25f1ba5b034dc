// The interop view of the consent state as Swift value types (issue 14):
// Google Consent Mode v2 signals, `canRequestAds`, the privacy-options flag
// and the reports on the TC / GPP strings read or written. Converted from
// the core's records; every value is computed by the core.
import Foundation
internal import ConsentGateFFI

/// Which part the policy's `interop` block gives consentgate.
public enum InteropMode: String, Sendable, Equatable, Hashable, Codable {
    /// No `cmp_id`: another CMP (e.g. Google UMP) writes the `IABTCF_*`
    /// keys and consentgate follows them.
    case follow
    /// `cmp_id` set: consentgate is the registered CMP and writes the TC
    /// string and the keys.
    case cmp
}

/// What became of a consent string.
public enum SignalStatus: String, Sendable, Equatable, Hashable, Codable {
    /// No key-value store was given yet (`setKeyValueStore`).
    case notConnected
    /// Following: the key is absent; nothing changed.
    case missing
    /// Following: the string cannot be decoded or breaks a TCF 2.2/2.3 rule
    /// (`SignalReport.problem` says which); nothing changed.
    case invalid
    /// Following: the string is valid and its decisions are in force.
    case applied
    /// Being the CMP: the string and its keys were written.
    case written
}

/// The report on one consent string (TC or GPP).
public struct SignalReport: Sendable, Equatable, Hashable, Codable {
    /// What became of it.
    public var status: SignalStatus
    /// The string read or written.
    public var string: String?
    /// Its hex SHA-256, as the ledger entries it caused keep it.
    public var stringHash: String?
    /// Why it was not applied: the field and bit offset that cannot be
    /// decoded, or the TCF rules it breaks.
    public var problem: String?

    /// A report with these parts.
    public init(status: SignalStatus, string: String? = nil, stringHash: String? = nil, problem: String? = nil) {
        self.status = status
        self.string = string
        self.stringHash = stringHash
        self.problem = problem
    }
}

/// One Google Consent Mode v2 status.
public enum ConsentModeStatus: String, Sendable, Equatable, Hashable, Codable {
    /// `granted`.
    case granted
    /// `denied`.
    case denied
}

/// The four Google Consent Mode v2 signals, for Firebase's
/// `Analytics.setConsent` (`FirebaseConsentMode` passes them on).
public struct ConsentModeSignals: Sendable, Equatable, Hashable, Codable {
    /// `ad_storage`.
    public var adStorage: ConsentModeStatus
    /// `analytics_storage`.
    public var analyticsStorage: ConsentModeStatus
    /// `ad_user_data`.
    public var adUserData: ConsentModeStatus
    /// `ad_personalization`.
    public var adPersonalization: ConsentModeStatus

    /// Signals with these statuses.
    public init(
        adStorage: ConsentModeStatus, analyticsStorage: ConsentModeStatus,
        adUserData: ConsentModeStatus, adPersonalization: ConsentModeStatus
    ) {
        self.adStorage = adStorage
        self.analyticsStorage = analyticsStorage
        self.adUserData = adUserData
        self.adPersonalization = adPersonalization
    }

    /// Every signal denied: what applies before the gate has loaded.
    public static let allDenied = ConsentModeSignals(
        adStorage: .denied, analyticsStorage: .denied, adUserData: .denied, adPersonalization: .denied)

    /// The signals by their Consent Mode names (`ad_storage`, …), as
    /// `"granted"` / `"denied"`: what a web `gtag('consent', …)` call or a
    /// log line takes.
    public var byName: [String: String] {
        [
            "ad_storage": adStorage.rawValue,
            "analytics_storage": analyticsStorage.rawValue,
            "ad_user_data": adUserData.rawValue,
            "ad_personalization": adPersonalization.rawValue,
        ]
    }
}

/// The ecosystem view of the consent state, when the policy has an
/// `interop` block.
public struct InteropState: Sendable, Equatable, Hashable, Codable {
    /// Following another CMP, or being one.
    public var mode: InteropMode
    /// Google Consent Mode v2, from the decisions through the policy's
    /// mapping (and, when following, from the TC string the way Google
    /// reads it).
    public var consentMode: ConsentModeSignals
    /// True only when every advertising purpose is granted and, when
    /// following, the TC string in force is valid and consents to what they
    /// map to: the one line the ad team needs before requesting an ad.
    public var canRequestAds: Bool
    /// True when the app must offer a way back to the privacy choices (a
    /// settings entry), as Google UMP's `privacyOptionsRequirementStatus`.
    public var privacyOptionsRequired: Bool
    /// The TC string read (following) or written (being the CMP).
    public var tcf: SignalReport
    /// The GPP string, when the policy says GPP applies.
    public var gpp: SignalReport?
    /// Whether the GDPR applies, as the ad SDKs are told; nil: undetermined.
    public var gdprApplies: Bool?

    /// A state with these parts.
    public init(
        mode: InteropMode, consentMode: ConsentModeSignals, canRequestAds: Bool,
        privacyOptionsRequired: Bool, tcf: SignalReport, gpp: SignalReport? = nil, gdprApplies: Bool? = nil
    ) {
        self.mode = mode
        self.consentMode = consentMode
        self.canRequestAds = canRequestAds
        self.privacyOptionsRequired = privacyOptionsRequired
        self.tcf = tcf
        self.gpp = gpp
        self.gdprApplies = gdprApplies
    }
}

// MARK: - From the core's types

extension InteropMode {
    init(ffi: ConsentGateFFI.InteropMode) {
        switch ffi {
        case .follow: self = .follow
        case .cmp: self = .cmp
        }
    }
}

extension SignalStatus {
    init(ffi: ConsentGateFFI.SignalStatus) {
        switch ffi {
        case .notConnected: self = .notConnected
        case .missing: self = .missing
        case .invalid: self = .invalid
        case .applied: self = .applied
        case .written: self = .written
        }
    }
}

extension SignalReport {
    init(ffi: ConsentGateFFI.SignalReport) {
        self.init(status: SignalStatus(ffi: ffi.status), string: ffi.string, stringHash: ffi.stringHash, problem: ffi.problem)
    }
}

extension ConsentModeStatus {
    init(ffi: ConsentGateFFI.ConsentModeStatus) {
        switch ffi {
        case .granted: self = .granted
        case .denied: self = .denied
        }
    }
}

extension ConsentModeSignals {
    init(ffi: ConsentGateFFI.ConsentModeSignals) {
        self.init(
            adStorage: ConsentModeStatus(ffi: ffi.adStorage),
            analyticsStorage: ConsentModeStatus(ffi: ffi.analyticsStorage),
            adUserData: ConsentModeStatus(ffi: ffi.adUserData),
            adPersonalization: ConsentModeStatus(ffi: ffi.adPersonalization))
    }
}

extension InteropState {
    init(ffi: ConsentGateFFI.InteropState) {
        self.init(
            mode: InteropMode(ffi: ffi.mode), consentMode: ConsentModeSignals(ffi: ffi.consentMode),
            canRequestAds: ffi.canRequestAds, privacyOptionsRequired: ffi.privacyOptionsRequired,
            tcf: SignalReport(ffi: ffi.tcf), gpp: ffi.gpp.map(SignalReport.init(ffi:)), gdprApplies: ffi.gdprApplies)
    }
}
