// The values app code sees: consent state, queue figures, flush reports,
// deletion tickets, ledger entries, device fields, what recording an event
// came to, and the enums they use. Plain Swift value types (`Int`/`Int64`,
// never unsigned), all `Sendable` and `Equatable`, `Codable` where a value is
// data. They mirror the core's records one to one; the conversions live in
// Convert.swift and nowhere else. This file holds no rule: what a value
// means is the core's to decide.
import Foundation

/// Where a consent decision came from; written into the ledger.
public enum ConsentSource: String, Sendable, Equatable, Hashable, Codable, CaseIterable {
    /// The user answered the consent banner.
    case banner
    /// The user changed a setting.
    case settings
    /// The app decided through the API (e.g. a server-side preference).
    case api
    /// A Global Privacy Control signal denied a sale-or-share purpose (set by the core).
    case gpc
    /// The age gate denied consent purposes (set by the core).
    case ageGate = "age_gate"
    /// A decision expired (`consent_ttl_days`, set by the core).
    case expiry
    /// A deletion request revoked every consent purpose (set by the core).
    case deletion
    /// A policy revision invalidated the decision (set by the core).
    case migration
    /// Read from another CMP's IAB TCF string (set by the core).
    case tcf
    /// Read from another CMP's IAB GPP string (set by the core).
    case gpp
}

/// The status of one purpose.
public enum ConsentStatus: String, Sendable, Equatable, Hashable, Codable, CaseIterable {
    /// The user agreed (or the purpose is necessary).
    case granted
    /// The user refused, or a restriction (age gate, GPC, deletion) denied it.
    case denied
    /// No decision in force: counts as denied, and the user should be asked.
    case unset
}

/// Whether a purpose needs the user's consent.
public enum PurposeKind: String, Sendable, Equatable, Hashable, Codable, CaseIterable {
    /// Needed to provide the service: always granted, cannot be withdrawn.
    case necessary
    /// Needs the user's consent.
    case consent
}

/// Why the app should show the banner.
public enum PromptReason: String, Sendable, Equatable, Hashable, Codable, CaseIterable {
    /// The user has not decided yet.
    case noDecision = "no_decision"
    /// A policy revision made earlier decisions stale.
    case policyChanged = "policy_changed"
    /// The policy has a purpose the user was never asked about.
    case newPurpose = "new_purpose"
    /// A decision is older than the policy's `consent_ttl_days`.
    case expired
}

/// One purpose of the policy and its status now.
public struct PurposeState: Sendable, Equatable, Hashable, Codable {
    /// The purpose id, e.g. `analytics`.
    public var id: String
    /// Necessary or consent.
    public var kind: PurposeKind
    /// The status in force.
    public var status: ConsentStatus
    /// When the decision in force was made, ms since the epoch (nil for unset and necessary).
    public var decidedAtMs: Int64?
    /// When the decision in force stops counting (`consent_ttl_days`), ms since the epoch.
    public var expiresAtMs: Int64?
    /// How the decision in force was made.
    public var source: ConsentSource?
    /// Why the purpose is unset, when it is.
    public var reason: PromptReason?

    /// A purpose state with these fields.
    public init(
        id: String, kind: PurposeKind, status: ConsentStatus, decidedAtMs: Int64? = nil,
        expiresAtMs: Int64? = nil, source: ConsentSource? = nil, reason: PromptReason? = nil
    ) {
        self.id = id
        self.kind = kind
        self.status = status
        self.decidedAtMs = decidedAtMs
        self.expiresAtMs = expiresAtMs
        self.source = source
        self.reason = reason
    }
}

/// The store was found unusable (damaged, foreign, rolled back) and replaced
/// by a fresh, fail-closed one: every earlier decision is gone, so the app
/// should say why it asks again.
public struct StoreRecovery: Sendable, Equatable, Hashable, Codable {
    /// Why the old file could not be used (no personal data).
    public var reason: String
    /// Where the old file was moved.
    public var movedTo: String
    /// True when the old store's deletion requests could not be read: the app
    /// should offer to ask for deletion again.
    public var deletionRequestsUnreadable: Bool

    /// A recovery with these fields.
    public init(reason: String, movedTo: String, deletionRequestsUnreadable: Bool = false) {
        self.reason = reason
        self.movedTo = movedTo
        self.deletionRequestsUnreadable = deletionRequestsUnreadable
    }
}

/// The consent state the app renders its banner and settings from
/// (`ConsentGate.currentState`, `ConsentGate.states`).
///
/// Until the core has opened, the state is `ConsentState.loading`:
/// `isLoading` is true, nothing is allowed (fail-closed, G1), `needsPrompt`
/// is false (do not show a banner before the stored decisions are known) and
/// `purposes` is empty.
public struct ConsentState: Sendable, Equatable, Hashable, Codable {
    /// True until the core has loaded the stored decisions.
    public var isLoading: Bool
    /// The policy id (empty while loading).
    public var policyID: String
    /// The policy revision in force (0 while loading).
    public var revision: Int64
    /// True when any consent purpose is unset: show the banner.
    public var needsPrompt: Bool
    /// The distinct reasons, in a stable order.
    public var promptReasons: [PromptReason]
    /// Set when the policy changed in a way that needs no new consent but
    /// must be shown to the user: show the notice, then call
    /// `ConsentGate.acknowledgePolicy(source:)`. Nil otherwise (and while loading).
    public var needsAcknowledgement: PolicyChange?
    /// Every purpose of the policy, in policy order.
    public var purposes: [PurposeState]
    /// Ids of the categories allowed now, in policy order.
    public var allowedCategories: [String]
    /// True while the age gate forces consent purposes to denied.
    public var ageRestricted: Bool
    /// True while a Global Privacy Control signal is in force.
    public var gpc: Bool
    /// Set when the store was set aside and started afresh.
    public var storeRecovery: StoreRecovery?
    /// Increases with every committed change in this process (-1 while loading).
    public var version: Int64
    /// The IAB / Consent Mode view, when the policy has an `interop` block
    /// (nil otherwise and while loading).
    public var interop: InteropState?

    /// A state with these fields (the SDK builds them; tests and previews may too).
    public init(
        isLoading: Bool, policyID: String, revision: Int64, needsPrompt: Bool,
        promptReasons: [PromptReason], needsAcknowledgement: PolicyChange? = nil, purposes: [PurposeState],
        allowedCategories: [String], ageRestricted: Bool, gpc: Bool, storeRecovery: StoreRecovery?,
        version: Int64, interop: InteropState? = nil
    ) {
        self.isLoading = isLoading
        self.policyID = policyID
        self.revision = revision
        self.needsPrompt = needsPrompt
        self.promptReasons = promptReasons
        self.needsAcknowledgement = needsAcknowledgement
        self.purposes = purposes
        self.allowedCategories = allowedCategories
        self.ageRestricted = ageRestricted
        self.gpc = gpc
        self.storeRecovery = storeRecovery
        self.version = version
        self.interop = interop
    }

    /// The state before the core has loaded: nothing allowed, no prompt yet.
    public static let loading = ConsentState(
        isLoading: true, policyID: "", revision: 0, needsPrompt: false, promptReasons: [],
        purposes: [], allowedCategories: [], ageRestricted: false, gpc: false, storeRecovery: nil,
        version: -1)

    /// The status of `purpose`, or nil when the policy defines no such purpose (or while loading).
    public func status(of purpose: String) -> ConsentStatus? {
        purposes.first { $0.id == purpose }?.status
    }

    /// True when `category` is allowed in this state (what `ConsentGate.allows` answers for it).
    public func allows(_ category: String) -> Bool {
        allowedCategories.contains(category)
    }

    /// The Google Consent Mode v2 signals, when the policy maps them (`interop.consent_mode`).
    public var consentMode: ConsentModeSignals? { interop?.consentMode }

    /// True when the app must offer a way to change the choices later (a
    /// privacy options entry point), as Google UMP's `privacyOptionsRequirementStatus`.
    public var privacyOptionsRequired: Bool { interop?.privacyOptionsRequired ?? false }
}

/// A policy revision the user must be shown, with no new consent needed
/// (`ConsentState.needsAcknowledgement`).
public struct PolicyChange: Sendable, Equatable, Hashable, Codable {
    /// The revision the user last saw.
    public var fromRevision: Int64
    /// The revision in force.
    public var toRevision: Int64
    /// Where the notice of the change is (the policy's `notice_url`).
    public var noticeURL: String

    /// A change with these fields.
    public init(fromRevision: Int64, toRevision: Int64, noticeURL: String) {
        self.fromRevision = fromRevision
        self.toRevision = toRevision
        self.noticeURL = noticeURL
    }
}

/// What a ledger entry records.
public enum LedgerKind: String, Sendable, Equatable, Hashable, Codable, CaseIterable {
    /// A consent decision for `purpose`.
    case decision
    /// The user was shown a policy change that needed no new consent.
    case acknowledgement
}

/// Device fields the core allowed and the provider knew; nil when not allowed or not known.
public struct DeviceInfo: Sendable, Equatable, Hashable, Codable {
    /// Operating system, e.g. `iOS`.
    public var os: String?
    /// Operating system version.
    public var osVersion: String?
    /// Device model.
    public var model: String?
    /// Device manufacturer.
    public var manufacturer: String?
    /// Locale as a BCP 47 tag.
    public var locale: String?
    /// Time zone id.
    public var timezone: String?
    /// Network operator name.
    public var carrier: String?
    /// The app's version.
    public var appVersion: String?
    /// Screen size, `WIDTHxHEIGHT` in pixels.
    public var screen: String?

    /// Device fields; every one defaults to nil.
    public init(
        os: String? = nil, osVersion: String? = nil, model: String? = nil, manufacturer: String? = nil,
        locale: String? = nil, timezone: String? = nil, carrier: String? = nil, appVersion: String? = nil,
        screen: String? = nil
    ) {
        self.os = os
        self.osVersion = osVersion
        self.model = model
        self.manufacturer = manufacturer
        self.locale = locale
        self.timezone = timezone
        self.carrier = carrier
        self.appVersion = appVersion
        self.screen = screen
    }
}

/// Queue figures (`ConsentGate.queueStats()`).
public struct QueueStats: Sendable, Equatable, Hashable, Codable {
    /// Records queued (buffered ones included).
    public var events: Int
    /// What they cost against `max_queue_bytes`.
    public var bytes: Int
    /// Capture time of the oldest queued record, ms since the epoch.
    public var oldestMs: Int64?
    /// Records evicted beyond the queue bounds (oldest first, G8), since install.
    public var evicted: Int
    /// Events dropped for lack of consent, since install.
    public var droppedNoConsent: Int
    /// Events acknowledged by the backend, since install.
    public var delivered: Int
    /// Events the backend refused (4xx), since install.
    public var rejected: Int

    /// Figures with these values.
    public init(
        events: Int, bytes: Int, oldestMs: Int64?, evicted: Int, droppedNoConsent: Int, delivered: Int,
        rejected: Int
    ) {
        self.events = events
        self.bytes = bytes
        self.oldestMs = oldestMs
        self.evicted = evicted
        self.droppedNoConsent = droppedNoConsent
        self.delivered = delivered
        self.rejected = rejected
    }
}

/// What `ConsentGate.flush(using:maxWait:)` did.
public struct FlushReport: Sendable, Equatable, Hashable, Codable {
    /// Requests sent.
    public var requests: Int
    /// Event batches the backend acknowledged.
    public var batchesDelivered: Int
    /// Events in them.
    public var eventsDelivered: Int
    /// Events the backend refused (4xx): dropped and counted.
    public var eventsRejected: Int
    /// Requests that failed and will be retried (network error, 408, 429, 5xx).
    public var retries: Int
    /// Deletion requests the backend acknowledged.
    public var deletionsAcknowledged: Int
    /// Deletion requests the backend refused (4xx).
    public var deletionsFailed: Int
    /// When something is still waiting: how long until the next try is due, in ms.
    public var waitMs: Int64?
    /// How long this call waited out backoffs before sending again, in ms.
    public var waitedMs: Int64

    /// A report with these figures.
    public init(
        requests: Int, batchesDelivered: Int, eventsDelivered: Int, eventsRejected: Int, retries: Int,
        deletionsAcknowledged: Int, deletionsFailed: Int, waitMs: Int64?, waitedMs: Int64
    ) {
        self.requests = requests
        self.batchesDelivered = batchesDelivered
        self.eventsDelivered = eventsDelivered
        self.eventsRejected = eventsRejected
        self.retries = retries
        self.deletionsAcknowledged = deletionsAcknowledged
        self.deletionsFailed = deletionsFailed
        self.waitMs = waitMs
        self.waitedMs = waitedMs
    }
}

/// Where a deletion request stands.
public enum DeletionStatus: Sendable, Equatable, Hashable, Codable {
    /// Not yet acknowledged by every endpoint; retried until it is.
    case pending
    /// Every endpoint acknowledged; `receiptID` is the backend's receipt id,
    /// `status` is `accepted` or `completed`, as the backend said.
    case acknowledged(receiptID: String, status: String)
    /// The backend refused it with HTTP `httpStatus` (4xx other than 408/429); not retried.
    case failed(httpStatus: Int)
}

/// A request to be forgotten (`ConsentGate.requestDeletion(reason:)`).
public struct DeletionTicket: Sendable, Equatable, Hashable, Codable, Identifiable {
    /// Its id (also the idempotency key).
    public var requestID: String
    /// When it was made, ms since the epoch.
    public var createdAtMs: Int64
    /// Every installation id whose data reached an endpoint.
    public var installationIDs: [String]
    /// Every endpoint it is sent to.
    public var endpoints: [String]
    /// What the app gave as the reason.
    public var reason: String?
    /// Where it stands.
    public var status: DeletionStatus

    /// The request id, for `Identifiable` (SwiftUI lists).
    public var id: String { requestID }

    /// A ticket with these fields.
    public init(
        requestID: String, createdAtMs: Int64, installationIDs: [String], endpoints: [String],
        reason: String?, status: DeletionStatus
    ) {
        self.requestID = requestID
        self.createdAtMs = createdAtMs
        self.installationIDs = installationIDs
        self.endpoints = endpoints
        self.reason = reason
        self.status = status
    }
}

/// One entry of the hash-chained consent ledger.
public struct LedgerEntry: Sendable, Equatable, Hashable, Codable {
    /// Position in the ledger, from 1.
    public var seq: Int64
    /// The change it belongs to (one change can write several entries).
    public var txn: Int64
    /// When, ms since the epoch.
    public var atMs: Int64
    /// A decision or an acknowledgement.
    public var kind: LedgerKind
    /// The purpose decided.
    public var purpose: String
    /// The decision.
    public var status: ConsentStatus
    /// Who decided.
    public var source: ConsentSource
    /// The policy in force.
    public var policyID: String
    /// Its revision.
    public var revision: Int64
    /// For an acknowledgement: the revision the user saw before.
    public var acknowledgedFrom: Int64?
    /// Its canonical hash.
    public var policyHash: String
    /// The app's version.
    public var appVersion: String
    /// The region in force.
    public var region: String?
    /// The installation id then.
    public var installationID: String
    /// For a decision read from another CMP's string: the string's sha256.
    public var signalHash: String?
    /// The previous entry's hash.
    public var prevHash: String
    /// This entry's hash.
    public var hash: String

    /// An entry with these fields.
    public init(
        seq: Int64, txn: Int64, atMs: Int64, kind: LedgerKind = .decision, purpose: String,
        status: ConsentStatus, source: ConsentSource, policyID: String, revision: Int64,
        acknowledgedFrom: Int64? = nil, policyHash: String, appVersion: String, region: String?,
        installationID: String, signalHash: String?, prevHash: String, hash: String
    ) {
        self.seq = seq
        self.txn = txn
        self.atMs = atMs
        self.kind = kind
        self.purpose = purpose
        self.status = status
        self.source = source
        self.policyID = policyID
        self.revision = revision
        self.acknowledgedFrom = acknowledgedFrom
        self.policyHash = policyHash
        self.appVersion = appVersion
        self.region = region
        self.installationID = installationID
        self.signalHash = signalHash
        self.prevHash = prevHash
        self.hash = hash
    }
}

/// The result of `ConsentGate.verifyLedger()`.
public struct LedgerCheck: Sendable, Equatable, Hashable, Codable {
    /// True when every entry chains to the previous one.
    public var intact: Bool
    /// Entries checked.
    public var entries: Int
    /// The first entry that does not, if any.
    public var firstBadSeq: Int64?
    /// What is wrong with it.
    public var problem: String?

    /// A check result with these fields.
    public init(intact: Bool, entries: Int, firstBadSeq: Int64?, problem: String?) {
        self.intact = intact
        self.entries = entries
        self.firstBadSeq = firstBadSeq
        self.problem = problem
    }
}

/// What `ConsentGate.recordEvent(_:properties:)` did, decided on the calling thread.
public enum RecordResult: Sendable, Equatable, Hashable, Codable {
    /// In the gate's buffer: `usage_events` is allowed and the event is valid.
    case queued
    /// Recorded while the gate was loading: held with its capture time, then
    /// checked by the core's rules and kept only if the stored decisions
    /// grant `usage_events` (dropped and counted otherwise).
    case held
    /// Not kept, nothing written: `usage_events` is not allowed (or the gate
    /// could not be opened).
    case notAllowed
    /// Refused: the name or the properties break the core's rules, or a
    /// property has no JSON form. `reason` names the rule, never the payload,
    /// e.g. `event properties are 20012 bytes of JSON; the limit is 16384`.
    case invalid(reason: String)
    /// The gate was closed; nothing was recorded.
    case closed

    /// True when the event is kept for now (`queued` or `held`).
    public var isAccepted: Bool {
        switch self {
        case .queued, .held: return true
        case .notAllowed, .invalid, .closed: return false
        }
    }
}

/// The core's own verdict on an event recorded synchronously
/// (`ConsentGate.recordEventNow(_:properties:)`).
public enum RecordOutcome: Sendable, Equatable, Hashable, Codable {
    /// Stored in the queue under sequence number `seq`.
    case recorded(seq: Int64)
    /// Not stored, nothing written: `usage_events` is not allowed.
    case droppedNoConsent
}
