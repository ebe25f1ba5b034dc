// The values app code sees: consent state, queue figures, flush reports,
// deletion tickets, ledger entries, upload requests and results, and the
// enums they use. Plain Kotlin types (`Long`/`Int`, never unsigned), all in
// `dev.consentgate`, each printing readably. They mirror the core's records
// one to one; the conversions live in Convert.kt and nowhere else. This file
// holds no rule: what a value means is the core's to decide.
package dev.consentgate

import java.io.File
import kotlinx.coroutines.CoroutineDispatcher

/**
 * How to open a [ConsentGate].
 *
 * @property dataDir where the database lives. It must be excluded from OS
 *   backups (Android: under `Context.noBackupFilesDir`, which
 *   [dev.consentgate.android.ConsentGateAndroid] uses): a restored backup
 *   would bring back decisions the user has since withdrawn, together with
 *   the marker that vouches for them, and the core could not tell.
 * @property policyJson the policy document bundled with the app.
 * @property appVersion the app's version, recorded in the ledger and in batches.
 * @property region the user's region (ISO 3166-1 alpha-2, e.g. `"KZ"`), if known.
 * @property clock a clock for tests or trusted time; `null` uses the system clock.
 *   [ConsentGate.recordEvent] stamps events with it too.
 * @property bufferWindowMs how long [ConsentGate.recordEvent] keeps events on
 *   the Kotlin side, at most, before handing them to the core in the
 *   background (sooner once 256 wait or the buffer is full, and always before
 *   anything that must see them: consent changes, queue figures, persist,
 *   flush, export, close).
 * @property dispatcher where the `suspend` calls run their blocking work;
 *   `null` means `Dispatchers.IO`.
 */
class ConsentGateConfig @JvmOverloads constructor(
    val dataDir: File,
    val policyJson: String,
    val appVersion: String,
    val region: String? = null,
    val clock: Clock? = null,
    val bufferWindowMs: Long = ConsentGate.DEFAULT_BUFFER_WINDOW_MS,
    val dispatcher: CoroutineDispatcher? = null,
) {
    init {
        require(bufferWindowMs >= 0) { "bufferWindowMs must not be negative, got $bufferWindowMs" }
    }

    /** The directory, never the policy text (it can be long). */
    override fun toString(): String = "ConsentGateConfig(dataDir=$dataDir, appVersion=$appVersion, region=$region)"
}

/**
 * One event for [ConsentGate.recordEvents] and [ConsentGate.recordEventsNow].
 *
 * @property name matched against the core's name pattern
 *   (`CaptureRules.name_pattern`: a letter, then up to 63 of `A-Z a-z 0-9 _ . -`).
 * @property properties encoded as a JSON object (see [ConsentGate.recordEvent]).
 */
data class Event(val name: String, val properties: Map<String, Any?> = emptyMap())

/** Where a consent decision came from; written into the ledger. */
enum class ConsentSource {
    /** The user answered the consent banner. */
    BANNER,

    /** The user changed a setting. */
    SETTINGS,

    /** The app decided through the API (e.g. a server-side preference). */
    API,

    /** A Global Privacy Control signal denied a sale-or-share purpose (set by the core). */
    GPC,

    /** The age gate denied consent purposes (set by the core). */
    AGE_GATE,

    /** A decision expired (`consent_ttl_days`, set by the core). */
    EXPIRY,

    /** A deletion request revoked every consent purpose (set by the core). */
    DELETION,

    /** A policy revision invalidated the decision (set by the core). */
    MIGRATION,

    /** Read from another CMP's IAB TCF string (`IABTCF_TCString`; set by the core). */
    TCF,

    /** Read from another CMP's IAB GPP string (`IABGPP_HDR_GppString`; set by the core). */
    GPP,
}

/** The status of one purpose. */
enum class ConsentStatus {
    /** The user agreed (or the purpose is necessary). */
    GRANTED,

    /** The user refused, or a restriction (age gate, GPC, deletion) denied it. */
    DENIED,

    /** No decision in force: counts as denied, and the user should be asked. */
    UNSET,
}

/** Whether a purpose needs the user's consent. */
enum class PurposeKind {
    /** Needed to provide the service: always granted, cannot be withdrawn. */
    NECESSARY,

    /** Needs the user's consent. */
    CONSENT,
}

/** Why the app should show the banner. */
enum class PromptReason {
    /** The user has not decided yet. */
    NO_DECISION,

    /** A policy revision made earlier decisions stale. */
    POLICY_CHANGED,

    /** The policy has a purpose the user was never asked about. */
    NEW_PURPOSE,

    /** A decision is older than the policy's `consent_ttl_days`. */
    EXPIRED,
}

/** App Tracking Transparency status (iOS); `NOT_APPLICABLE` on Android. */
enum class AttStatus {
    /** The platform has no ATT (Android, older iOS). */
    NOT_APPLICABLE,

    /** The user has not been asked yet. */
    NOT_DETERMINED,

    /** Tracking is restricted (parental controls, MDM). */
    RESTRICTED,

    /** The user refused tracking. */
    DENIED,

    /** The user allowed tracking. */
    AUTHORIZED,
}

/** Why an event was not kept. */
enum class DropReason {
    /** `usage_events` is not allowed (or the policy defines no such category). */
    NO_CONSENT,
}

/** Severity of a log line, most severe first. */
enum class LogLevel {
    /** Something failed. */
    ERROR,

    /** Something was refused or skipped. */
    WARN,

    /** Lifecycle: opened, closed, uploaded. */
    INFO,

    /** Details for debugging (still no personal data). */
    DEBUG,

    /** Everything, payloads included: never enable in production. */
    TRACE,
}

/**
 * One purpose of the policy and its status now.
 *
 * @property id the purpose id, e.g. `"analytics"`.
 * @property kind necessary or consent.
 * @property status the status in force.
 * @property decidedAtMs when the decision in force was made (null for unset and necessary).
 * @property expiresAtMs when the decision in force stops counting (`consent_ttl_days`).
 * @property source how the decision in force was made.
 * @property reason why the purpose is unset, when it is.
 */
data class PurposeState(
    val id: String,
    val kind: PurposeKind,
    val status: ConsentStatus,
    val decidedAtMs: Long?,
    val expiresAtMs: Long?,
    val source: ConsentSource?,
    val reason: PromptReason?,
)

/**
 * The store was found unusable (damaged, foreign, rolled back) and replaced
 * by a fresh, fail-closed one: every earlier decision is gone, so the app
 * should say why it asks again.
 *
 * @property reason why the old file could not be used (no personal data).
 * @property movedTo where the old file was moved.
 */
data class StoreRecovery(val reason: String, val movedTo: String)

/**
 * The consent state the app renders its banner and settings from
 * ([ConsentGate.state]).
 *
 * Until the core has opened, the state is [LOADING]: [isLoading] is true,
 * nothing is allowed (fail-closed, G1), [needsPrompt] is false (do not show
 * a banner before the stored decisions are known) and [purposes] is empty.
 *
 * @property isLoading true until the core has loaded the stored decisions.
 * @property policyId the policy id (empty while loading).
 * @property revision the policy revision in force.
 * @property needsPrompt true when any consent purpose is unset: show the banner.
 * @property promptReasons the distinct reasons, in a stable order.
 * @property purposes every purpose of the policy, in policy order.
 * @property allowedCategories ids of the categories allowed now, in policy order.
 * @property ageRestricted true while the age gate forces consent purposes to denied.
 * @property gpc true while a Global Privacy Control signal is in force.
 * @property storeRecovery set when the store was set aside and started afresh.
 * @property version increases with every committed change in this process
 *   (-1 while loading).
 * @property needsAcknowledgement set when the policy changed since the user
 *   was last shown it in a way that needs no new consent: show the change
 *   (its notice URL), then call [ConsentGate.acknowledgePolicy]. Continued
 *   use never clears it; a change that needs consent sets [needsPrompt] instead.
 * @property interop the ecosystem view (TC/GPP strings, Consent Mode v2,
 *   can-request-ads) when the policy has an `interop` block; null otherwise
 *   and while loading.
 */
data class ConsentState(
    val isLoading: Boolean,
    val policyId: String,
    val revision: Long,
    val needsPrompt: Boolean,
    val promptReasons: List<PromptReason>,
    val purposes: List<PurposeState>,
    val allowedCategories: List<String>,
    val ageRestricted: Boolean,
    val gpc: Boolean,
    val storeRecovery: StoreRecovery?,
    val version: Long,
    val needsAcknowledgement: PolicyChange? = null,
    val interop: InteropState? = null,
) {
    /** The Google Consent Mode v2 signals in force; null without an `interop` block (or while loading). */
    val consentMode: ConsentModeSignals? get() = interop?.consentMode

    /** True when the settings screen must offer the privacy choices again (false without an `interop` block). */
    val privacyOptionsRequired: Boolean get() = interop?.privacyOptionsRequired == true

    /** The status of `purpose`, or null when the policy defines no such purpose (or while loading). */
    fun statusOf(purpose: String): ConsentStatus? = purposes.firstOrNull { it.id == purpose }?.status

    /** True when `category` is allowed in this state (what [ConsentGate.allows] answers for it). */
    fun allows(category: String): Boolean = category in allowedCategories

    companion object {
        // java.util's empty lists, not Kotlin's emptyList(): `open` builds this
        // on the caller's thread, and the first emptyList() of a process loads
        // kotlin-stdlib's whole CollectionsKt facade (~15 ms of CPU on a cold
        // JVM here), which the open thread then loads instead, in parallel.

        /** The state before the core has loaded: nothing allowed, no prompt yet. */
        @JvmField
        val LOADING: ConsentState = ConsentState(
            isLoading = true,
            policyId = "",
            revision = 0,
            needsPrompt = false,
            promptReasons = java.util.Collections.emptyList(),
            purposes = java.util.Collections.emptyList(),
            allowedCategories = java.util.Collections.emptyList(),
            ageRestricted = false,
            gpc = false,
            storeRecovery = null,
            version = -1,
        )
    }
}

/**
 * A policy change to show the user, who need not consent again
 * ([ConsentState.needsAcknowledgement]).
 *
 * @property fromRevision the revision the user was last shown.
 * @property toRevision the revision in force, to acknowledge.
 * @property noticeUrl where the notice of [toRevision] is published.
 */
data class PolicyChange(val fromRevision: Long, val toRevision: Long, val noticeUrl: String)

/** What a [LedgerEntry] records. */
enum class LedgerKind {
    /** One purpose's new status. */
    DECISION,

    /** The user was shown a policy change that needs no new consent ([ConsentGate.acknowledgePolicy]). */
    ACKNOWLEDGEMENT,
}

/**
 * Platform signals that restrict collection ([ConsentGate.setPlatformSignals]).
 *
 * @property attStatus App Tracking Transparency (iOS); `NOT_APPLICABLE` on Android.
 * @property limitAdTracking the user limited ad tracking (Android: ads personalisation off).
 * @property gpc a Global Privacy Control signal is in force.
 */
data class PlatformSignals(
    val attStatus: AttStatus = AttStatus.NOT_APPLICABLE,
    val limitAdTracking: Boolean = false,
    val gpc: Boolean = false,
)

/** Device fields the core allowed and the provider knew; null when not allowed or not known. */
data class DeviceInfo(
    /** Operating system, e.g. `Android`. */
    val os: String? = null,
    /** Operating system version. */
    val osVersion: String? = null,
    /** Device model. */
    val model: String? = null,
    /** Device manufacturer. */
    val manufacturer: String? = null,
    /** Locale as a BCP 47 tag. */
    val locale: String? = null,
    /** Time zone id. */
    val timezone: String? = null,
    /** Network operator name. */
    val carrier: String? = null,
    /** The app's version. */
    val appVersion: String? = null,
    /** Screen size, `WIDTHxHEIGHT` in pixels. */
    val screen: String? = null,
)

/**
 * How the user found the app, as the store recorded it ([ConsentGate.installReferrer]).
 *
 * @property referrer the referrer string, e.g. `utm_source=partner_app&utm_medium=banner`.
 * @property clickedAtS when the user clicked the referring link, seconds since the epoch; null when unknown.
 * @property installBeganAtS when the install began, seconds since the epoch; null when unknown.
 */
data class InstallReferrer(
    val referrer: String,
    val clickedAtS: Long? = null,
    val installBeganAtS: Long? = null,
)

/**
 * Queue figures ([ConsentGate.queueStats]).
 *
 * @property events records queued (buffered ones included).
 * @property bytes what they cost against `max_queue_bytes`.
 * @property oldestMs capture time of the oldest queued record.
 * @property evicted records evicted beyond the queue bounds (oldest first, G8), since install.
 * @property droppedNoConsent events dropped for lack of consent, since install.
 * @property delivered events acknowledged by the backend, since install.
 * @property rejected events the backend refused (4xx), since install.
 */
data class QueueStats(
    val events: Long,
    val bytes: Long,
    val oldestMs: Long?,
    val evicted: Long,
    val droppedNoConsent: Long,
    val delivered: Long,
    val rejected: Long,
)

/**
 * What [ConsentGate.flush] did.
 *
 * @property requests requests sent.
 * @property batchesDelivered event batches the backend acknowledged.
 * @property eventsDelivered events in them.
 * @property eventsRejected events the backend refused (4xx): dropped and counted.
 * @property retries requests that failed and will be retried (network error, 408, 429, 5xx).
 * @property deletionsAcknowledged deletion requests the backend acknowledged.
 * @property deletionsFailed deletion requests the backend refused (4xx).
 * @property waitMs when something is still waiting: how long until the next try is due.
 * @property waitedMs how long this call waited out backoffs before sending again.
 */
data class FlushReport(
    val requests: Int,
    val batchesDelivered: Int,
    val eventsDelivered: Long,
    val eventsRejected: Long,
    val retries: Int,
    val deletionsAcknowledged: Int,
    val deletionsFailed: Int,
    val waitMs: Long?,
    val waitedMs: Long,
)

/** Where a deletion request stands. */
sealed class DeletionStatus {
    /** Not yet acknowledged by every endpoint; retried until it is. */
    data object Pending : DeletionStatus()

    /**
     * Every endpoint acknowledged; the last receipt is kept.
     *
     * @property receiptId the backend's receipt id.
     * @property status `accepted` or `completed`, as the backend said.
     */
    data class Acknowledged(val receiptId: String, val status: String) : DeletionStatus()

    /**
     * The backend refused it (4xx other than 408/429); not retried.
     *
     * @property status the HTTP status.
     */
    data class Failed(val status: Int) : DeletionStatus()
}

/**
 * A request to be forgotten ([ConsentGate.requestDeletion]).
 *
 * @property requestId its id (also the idempotency key).
 * @property createdAtMs when it was made.
 * @property installationIds every installation id whose data reached an endpoint.
 * @property endpoints every endpoint it is sent to.
 * @property reason what the app gave as the reason.
 * @property status where it stands.
 */
data class DeletionTicket(
    val requestId: String,
    val createdAtMs: Long,
    val installationIds: List<String>,
    val endpoints: List<String>,
    val reason: String?,
    val status: DeletionStatus,
)

/**
 * One entry of the hash-chained consent ledger.
 *
 * @property seq position in the ledger.
 * @property txn the change it belongs to (one change can write several entries).
 * @property atMs when.
 * @property purpose the purpose decided.
 * @property status the decision.
 * @property source who decided.
 * @property policyId the policy in force.
 * @property revision its revision.
 * @property policyHash its canonical hash.
 * @property appVersion the app's version.
 * @property region the region in force.
 * @property installationId the installation id then.
 * @property prevHash the previous entry's hash.
 * @property hash this entry's hash.
 * @property kind a decision, or an acknowledgement (then [purpose] is empty
 *   and [status] is `UNSET`).
 * @property acknowledgedFrom for an acknowledgement, the revision shown before ([revision] is the one acknowledged).
 * @property signalHash for a decision read from another CMP's string
 *   ([ConsentSource.TCF] / [ConsentSource.GPP]): the string's hex sha256.
 */
data class LedgerEntry(
    val seq: Long,
    val txn: Long,
    val atMs: Long,
    val purpose: String,
    val status: ConsentStatus,
    val source: ConsentSource,
    val policyId: String,
    val revision: Long,
    val policyHash: String,
    val appVersion: String,
    val region: String?,
    val installationId: String,
    val prevHash: String,
    val hash: String,
    val kind: LedgerKind = LedgerKind.DECISION,
    val acknowledgedFrom: Long? = null,
    val signalHash: String? = null,
)

/**
 * The result of [ConsentGate.verifyLedger].
 *
 * @property intact true when every entry chains to the previous one.
 * @property entries entries checked.
 * @property firstBadSeq the first entry that does not, if any.
 * @property problem what is wrong with it.
 */
data class LedgerCheck(val intact: Boolean, val entries: Long, val firstBadSeq: Long?, val problem: String?)

/**
 * What [ConsentGate.recordEvent] and [ConsentGate.recordEvents] did, decided
 * on the calling thread.
 */
sealed class RecordResult {
    /** True when the event is kept for now ([Queued] or [Held]). */
    abstract val accepted: Boolean

    /** In the Kotlin buffer: `usage_events` is allowed and the event is valid. */
    data object Queued : RecordResult() {
        override val accepted: Boolean get() = true
    }

    /**
     * Recorded while the gate was loading: held with its capture time, then
     * checked by the core's rules and kept only if the stored decisions
     * granted `usage_events` (dropped and counted otherwise).
     */
    data object Held : RecordResult() {
        override val accepted: Boolean get() = true
    }

    /**
     * Not kept, nothing written.
     *
     * @property reason why.
     */
    data class Dropped(val reason: DropReason) : RecordResult() {
        override val accepted: Boolean get() = false
    }

    /**
     * Refused: the name or the properties break the core's rules.
     *
     * @property reason which rule, e.g. `event properties are 20012 bytes of JSON; the limit is 16384`
     *   (never the payload; a batch names the index, `events[3]: ...`).
     */
    data class Invalid(val reason: String) : RecordResult() {
        override val accepted: Boolean get() = false
    }
}

/** What the core did with an event recorded synchronously ([ConsentGate.recordEventNow]). */
sealed class RecordOutcome {
    /**
     * Queued.
     *
     * @property seq its sequence number (increasing).
     */
    data class Recorded(val seq: Long) : RecordOutcome()

    /**
     * Not queued, and nothing written.
     *
     * @property reason why.
     */
    data class Dropped(val reason: DropReason) : RecordOutcome()
}

/**
 * One HTTP header of an [UploadRequest].
 *
 * @property name header name.
 * @property value header value.
 */
data class HttpHeader(val name: String, val value: String)

/**
 * A request the core built for the host to send, byte for byte.
 *
 * @property requestId the id to report with [ConsentGate.completeUpload] (also the idempotency key).
 * @property method the HTTP method.
 * @property url where to send it.
 * @property headers every header to send.
 * @property body the (gzip) body.
 */
class UploadRequest(
    val requestId: String,
    val method: String,
    val url: String,
    val headers: List<HttpHeader>,
    val body: ByteArray,
) {
    /** Same id, method, URL, headers and body bytes. */
    override fun equals(other: Any?): Boolean = other is UploadRequest && requestId == other.requestId &&
        method == other.method && url == other.url && headers == other.headers && body.contentEquals(other.body)

    override fun hashCode(): Int = requestId.hashCode()

    /** Without the body, which may hold personal data. */
    override fun toString(): String = "UploadRequest($method $url, requestId=$requestId, ${headers.size} headers, ${body.size} bytes)"
}

/** How sending an [UploadRequest] ended. */
sealed class UploadResult {
    /**
     * The server answered.
     *
     * @property status the HTTP status.
     * @property retryAfterS `Retry-After` in seconds, if the server sent one.
     * @property body the response body, if any (deletion receipts are read from it).
     */
    data class Http(val status: Int, val retryAfterS: Long? = null, val body: String? = null) : UploadResult()

    /**
     * No answer: DNS, connect, TLS, timeout or a dropped connection.
     *
     * @property message what failed (not logged above debug).
     */
    data class NetworkError(val message: String) : UploadResult()
}

/** What [ConsentGate.nextUpload] says to do. */
sealed class UploadTask {
    /**
     * Send this request, then report how it ended with [ConsentGate.completeUpload].
     *
     * @property request the request.
     */
    data class Send(val request: UploadRequest) : UploadTask()

    /**
     * Nothing may be sent before `ms` milliseconds have passed (backoff).
     *
     * @property ms how long to wait.
     */
    data class Wait(val ms: Long) : UploadTask()

    /** Nothing to send now. */
    data object Done : UploadTask()
}
