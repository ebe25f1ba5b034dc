package dev.consentgate

import dev.consentgate.ffi.AdIdProvider
import dev.consentgate.ffi.AgeSignal
import dev.consentgate.ffi.AttStatus
import dev.consentgate.ffi.Clock
import dev.consentgate.ffi.ConsentListener
import dev.consentgate.ffi.ConsentSource
import dev.consentgate.ffi.ConsentState
import dev.consentgate.ffi.DeletionListener
import dev.consentgate.ffi.DeletionTicket
import dev.consentgate.ffi.DeviceInfo
import dev.consentgate.ffi.DeviceInfoProvider
import dev.consentgate.ffi.EventInput
import dev.consentgate.ffi.FlushReport
import dev.consentgate.ffi.GateConfig
import dev.consentgate.ffi.GateException
import dev.consentgate.ffi.LedgerCheck
import dev.consentgate.ffi.LedgerEntry
import dev.consentgate.ffi.ConsentGate as NativeConsentGate
import dev.consentgate.ffi.PlatformSignals
import dev.consentgate.ffi.PurposeDecision
import dev.consentgate.ffi.CaptureRules
import dev.consentgate.ffi.QueueStats
import dev.consentgate.ffi.RecordOutcome
import dev.consentgate.ffi.UploadRequest
import dev.consentgate.ffi.UploadResult
import dev.consentgate.ffi.UploadTask
import dev.consentgate.ffi.Uploader
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import java.io.File
import java.lang.ref.WeakReference

/**
 * How to open a [ConsentGate].
 *
 * @property dataDir where the database lives (Android: `Context.noBackupFilesDir`,
 *   so it is never restored onto another device).
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
 */
class ConsentGateConfig(
    val dataDir: File,
    val policyJson: String,
    val appVersion: String,
    val region: String? = null,
    val clock: Clock? = null,
    val bufferWindowMs: Long = 200,
) {
    init {
        require(bufferWindowMs >= 0) { "bufferWindowMs must not be negative" }
    }
}

/**
 * One event for [ConsentGate.recordEvents].
 *
 * @property name `^[A-Za-z][A-Za-z0-9_.\-]{0,63}$`, checked by the core.
 * @property properties encoded as a JSON object (see [ConsentGate.recordEvent]).
 */
data class Event(val name: String, val properties: Map<String, Any?> = emptyMap())

/**
 * The consent gate: nothing about the user is collected before they agree, and
 * nothing is kept after they take consent back. One per data directory, shared
 * by the whole app.
 *
 * ```kotlin
 * ConsentGate.open(ConsentGateConfig(dataDir, policyJson, appVersion = "1.0.0", region = "KZ")).use { gate ->
 *     gate.allows("usage_events")                      // false: nothing granted yet
 *     gate.setConsent(mapOf("analytics" to true), source = ConsentSource.BANNER)
 *     gate.recordEvent("screen_view", mapOf("screen" to "home"))
 * }
 * ```
 *
 * Every rule lives in the Rust core; this class converts Kotlin types and keeps
 * three things on the Kotlin side, all fed by the core's listener: [state],
 * the set of allowed categories that [allows] reads without crossing JNA, and
 * a buffer of recorded events that crosses JNA in batches ([recordEvent]).
 *
 * Errors are the core's typed exceptions, subclasses of [GateException]. Calls
 * that change consent write durably to disk (fsync): call them off the main
 * thread. All methods are thread-safe.
 */
class ConsentGate private constructor(
    private val ffi: NativeConsentGate,
    private val mirror: StateMirror,
    private val crossing: Crossing,
) : AutoCloseable {

    /**
     * The consent state in force. Updated before [setConsent], [acceptAll],
     * [rejectAll], [setAge] and [setPlatformSignals] return, and also when the
     * core changes consent on its own (a decision expiring).
     */
    val state: StateFlow<ConsentState> = mirror.flow.asStateFlow()

    /**
     * The deletion requests made on this device, oldest first; updated when
     * one is created, acknowledged or refused.
     */
    val deletions: StateFlow<List<DeletionTicket>> = mirror.deletions.asStateFlow()

    /**
     * The signals last given to [setPlatformSignals] by this object. The core
     * does not persist them: they start from "not applicable, no limit, no
     * GPC" at every open.
     */
    @Volatile
    var platformSignals: PlatformSignals = PlatformSignals(AttStatus.NOT_APPLICABLE, false, false)
        private set

    /** True once [close] has been called. */
    val isClosed: Boolean get() = mirror.closed

    /**
     * Applies the user's decisions, e.g. `mapOf("analytics" to true)`. Denying a
     * purpose purges every queued record that needed it before this returns.
     * `source` is `BANNER`, `SETTINGS` or `API`; it goes into the ledger.
     *
     * @throws GateException `UnknownPurpose`, `NotWithdrawable` (a necessary
     *   purpose), `AgeRestricted`, `GpcRestricted`, `Storage`, `Closed`.
     */
    fun setConsent(decisions: Map<String, Boolean>, source: ConsentSource): ConsentState {
        val list = decisions.map { (purpose, granted) -> PurposeDecision(purpose, granted) }
        return callAfterCrossing { it.setConsent(list, source) }
    }

    /** Grants every consent purpose the core allows to be granted. */
    fun acceptAll(source: ConsentSource): ConsentState = callAfterCrossing { it.acceptAll(source) }

    /** Denies every consent purpose and purges what they covered. */
    fun rejectAll(source: ConsentSource): ConsentState = callAfterCrossing { it.rejectAll(source) }

    /**
     * True when every purpose that `category` requires is granted; an unknown
     * category, or a closed gate, is never allowed.
     *
     * This reads a Kotlin copy of the core's allowed set instead of crossing
     * JNA (tens of microseconds here). The copy is an immutable set replaced
     * in one volatile write by the core's listener, which the core calls on
     * the changing thread before [setConsent] & co. return, and after changes
     * it makes itself; so once a withdrawal returns, every thread reads the
     * new set. Between a change the core makes on its own thread and its
     * listener call, the copy can lag by that one call: the core checks
     * consent again itself when a recorded event crosses to it (and drops
     * one captured before a withdrawal, see [recordEvent]), at every other
     * capture ([collectDeviceInfo], [advertisingId]) and at send, so nothing
     * is stored or sent on the strength of this answer.
     */
    fun allows(category: String): Boolean = mirror.allowed.contains(category)

    /**
     * Records one usage event, fire-and-forget (like Firebase Analytics'
     * `logEvent` or Glean's `record`): a few microseconds on the calling
     * thread, no JNA call, no I/O. `properties` becomes a JSON object: values
     * may be strings, numbers, booleans, null, nested maps with string keys,
     * lists and arrays.
     *
     * Without `usage_events` consent (read from the same mirrored state as
     * [allows]) the event is dropped and counted ([QueueStats.droppedNoConsent]),
     * and false is returned. With it, the event is stamped with the capture
     * time (the config's clock, else the system clock) and the consent
     * state's version, appended to a Kotlin buffer and true is returned. The
     * buffer crosses to the core in one call on a background thread once 256
     * events wait, once it is full, or [ConsentGateConfig.bufferWindowMs]
     * after the first, and on the calling thread before [setConsent],
     * [acceptAll], [rejectAll], [setAge], [setPlatformSignals],
     * [requestDeletion], [queueStats], [persist], [flush], [nextUpload],
     * [exportData] and [close] do anything. This call never crosses itself.
     *
     * The buffer holds at most `min(8192, max_queue_events)` events and
     * `min(1 MiB, max_queue_bytes)` bytes (counted as the core counts them:
     * UTF-8 of name and properties, plus 16 per event), the policy's queue
     * bounds read once at [open]. When a new event does not fit, because
     * events are recorded faster than the core takes them, the oldest
     * buffered events are evicted (G8: oldest first), counted in
     * [evictedEvents], and added to [QueueStats.evicted] at the next
     * crossing; the caller is never slowed down and nothing is lost silently.
     *
     * At crossing the core checks every event again: it needs consent then,
     * and an event captured before the last withdrawal of `usage_events` is
     * dropped even if consent came back since. A withdrawal also empties the
     * buffer before `setConsent` returns, so nothing recorded before it can
     * be stored or sent (G3).
     *
     * The core validates name and properties at crossing, long after this
     * returned: an invalid event is skipped, counted in [invalidEvents] and
     * reported once per crossing through [ConsentGateLogging] (at `WARN`,
     * without the payload). Use [recordEventNow] to get the typed error
     * instead.
     *
     * @return true when the event was queued, false when it was dropped for
     *   lack of consent.
     * @throws IllegalArgumentException for a value JSON cannot represent
     *   (found while encoding, on this thread).
     * @throws GateException.Closed after [close].
     */
    fun recordEvent(name: String, properties: Map<String, Any?> = emptyMap()): Boolean =
        crossing.record(EventJson.crossableName(name), EventJson.encode(properties))

    /**
     * [recordEvent] for many events: all are encoded first (an encoding
     * failure queues none of them), then queued together or dropped together.
     * A batch larger than the free room evicts the oldest buffered events
     * first, and a batch larger than the whole buffer keeps only its newest
     * events (the others are counted as evicted, see [recordEvent]).
     *
     * @return how many were queued: `events.size`, or 0 without consent.
     */
    fun recordEvents(events: List<Event>): Int {
        val n = events.size
        val names = arrayOfNulls<String>(n)
        val jsons = arrayOfNulls<String>(n)
        for ((i, e) in events.withIndex()) {
            names[i] = EventJson.crossableName(e.name)
            jsons[i] = EventJson.encode(e.properties)
        }
        @Suppress("UNCHECKED_CAST")
        return crossing.recordAll(names as Array<String>, jsons, n)
    }

    /**
     * Records one event synchronously: the buffer crosses first (so order is
     * kept), then this event crosses JNA on its own and the core's answer
     * comes back. Tens of microseconds, against a few for [recordEvent]; use
     * it where the app wants the typed error or the sequence number.
     *
     * @return [RecordOutcome.Recorded] with the sequence number, or
     *   [RecordOutcome.Dropped] without `usage_events` consent.
     * @throws GateException.InvalidArgument for a bad name or properties the
     *   core refuses (too big, too deep).
     * @throws IllegalArgumentException for a value JSON cannot represent.
     */
    fun recordEventNow(name: String, properties: Map<String, Any?> = emptyMap()): RecordOutcome {
        val json = EventJson.encode(properties)
        return callAfterCrossing { it.recordEvent(name, json) }
    }

    /**
     * [recordEventNow] for many events, in one call across JNA. Every event is
     * checked first: if one is invalid nothing is recorded and the
     * [GateException.InvalidArgument] names its index (`events[1]: ...`).
     */
    fun recordEventsNow(events: List<Event>): List<RecordOutcome> {
        val inputs = events.map { EventInput(it.name, EventJson.encode(it.properties)) }
        return callAfterCrossing { it.recordEvents(inputs) }
    }

    /**
     * Events [recordEvent] queued that the core refused as invalid when they
     * crossed (bad name, properties too big or too deep), since [open].
     */
    val invalidEvents: Long get() = crossing.invalid.get()

    /** Events [recordEvent] queued that have not crossed to the core yet. */
    val bufferedEvents: Int get() = mirror.capture.size

    /**
     * Events [recordEvent] and [recordEvents] queued and then evicted on the
     * Kotlin side because its buffer was full (oldest first), since [open].
     * They count in [QueueStats.evicted] once the next crossing reports them,
     * together with what the core itself evicts beyond the policy's bounds.
     */
    val evictedEvents: Long get() = mirror.capture.evictedTotal

    /**
     * Asks `provider` for the device fields whose category is allowed, and only
     * those; when none is allowed the provider is not called at all. An
     * exception thrown by the provider counts as "not known" for that field.
     */
    fun collectDeviceInfo(provider: DeviceInfoProvider): DeviceInfo =
        call { it.collectDeviceInfo(GuardedDeviceInfoProvider(provider)) }

    /**
     * The advertising id, asked of `provider` only when `advertising_id` is
     * allowed, ATT is authorized or not applicable and limit-ad-tracking is off
     * (see [setPlatformSignals]). An all-zero id counts as absent. Returns null
     * on a closed gate.
     */
    fun advertisingId(provider: AdIdProvider): String? {
        if (mirror.closed) return null
        return try {
            ffi.advertisingId(GuardedAdIdProvider(provider))
        } catch (e: IllegalStateException) {
            if (mirror.closed) null else throw e
        }
    }

    /** [advertisingId] with the provider as a lambda. */
    fun advertisingId(provider: () -> String?): String? =
        advertisingId(object : AdIdProvider {
            override fun advertisingId(): String? = provider()
        })

    /**
     * Reports ATT, limit-ad-tracking and GPC. With GPC, sale-or-share purposes
     * are denied and cannot be granted while the signal holds.
     */
    fun setPlatformSignals(signals: PlatformSignals): ConsentState =
        callAfterCrossing { it.setPlatformSignals(signals) }.also { platformSignals = signals }

    /**
     * Reports the user's age. Below the policy's minimum age without parental
     * consent every consent purpose is denied, and granting one throws
     * [GateException] `AgeRestricted`.
     */
    fun setAge(age: AgeSignal): ConsentState = callAfterCrossing { it.setAge(age) }

    /**
     * [setAge] from plain numbers; `ageYears = null` means unknown.
     *
     * @throws GateException.InvalidArgument for a negative age.
     */
    fun setAge(ageYears: Int?, parentalConsent: Boolean = false): ConsentState {
        return setAge(AgeSignal(ageYears, parentalConsent))
    }

    /**
     * Sets (or clears, with null) the app's user id, category `account_id`:
     * kept on disk and sent only while that category is allowed.
     */
    fun setUserId(userId: String?) = call { it.setUserId(userId) }

    /**
     * Queue figures; records not yet committed count as queued. Events
     * [recordEvent] buffered cross to the core first, so they count too.
     */
    fun queueStats(): QueueStats = callAfterCrossing { it.queueStats() }

    /**
     * Writes every buffered record to disk now (otherwise the core does it at
     * least every second, after the Kotlin buffer crossed).
     */
    fun persist() = callAfterCrossing { it.persist() }

    /** The retained consent ledger, oldest first. */
    fun ledger(): List<LedgerEntry> = call { it.ledger() }

    /** Verifies the ledger's hash chain; names the first bad entry if any. */
    fun verifyLedger(): LedgerCheck = call { it.verifyLedger() }

    /**
     * Sends everything that may be sent now through `uploader`, one request at
     * a time (deletion requests first), and stops at the first backoff
     * ([FlushReport.waitMs]). Blocking network I/O: call it off the main
     * thread (Android: [dev.consentgate.android.FlushWorker] does).
     */
    @JvmOverloads
    fun flush(uploader: Uploader = HttpUploader()): FlushReport =
        callAfterCrossing { it.flush(GuardedUploader(uploader)) }

    /**
     * For apps that drive uploads themselves (e.g. with an asynchronous HTTP
     * client): the next request to send, a wait, or done. Report each
     * request's end with [completeUpload].
     */
    fun nextUpload(): UploadTask = callAfterCrossing { it.nextUpload() }

    /** Reports how the request `requestId` from [nextUpload] ended. */
    fun completeUpload(requestId: String, result: UploadResult) = call { it.completeUpload(requestId, result) }

    /**
     * The user asks to be forgotten: consent is revoked, local data is wiped,
     * the installation id is rotated, and a ticket is stored that [flush]
     * delivers before anything else, retried until the backend acknowledges
     * it. `reason` goes to the backend (`user_request` when null).
     */
    @JvmOverloads
    fun requestDeletion(reason: String? = null): DeletionTicket = callAfterCrossing { it.requestDeletion(reason) }

    /** Every deletion request made on this device, oldest first (also [deletions]). */
    fun deletionRequests(): List<DeletionTicket> = call { it.deletionRequests() }

    /** Everything stored locally about the user, as one JSON document. */
    fun exportData(): String = callAfterCrossing { it.exportData() }

    /** The installation id (a random UUID, rotated by a deletion request). */
    fun installationId(): String = call { it.installationId() }

    /**
     * Hands the Kotlin buffer to the core, commits what is buffered there,
     * stops the core's writer thread and frees the native object. Idempotent.
     * Later calls throw [GateException] `Closed`; [allows] answers false.
     */
    override fun close() {
        synchronized(mirror) {
            if (mirror.closed) return
            mirror.closed = true
            mirror.allowed = emptySet()
        }
        crossing.close {
            try {
                ffi.shutdown()
            } finally {
                ffi.destroy()
            }
        }
    }

    /**
     * Runs `block` on the native object, turning "already destroyed" into the
     * core's own `Closed` error so callers handle one exception type.
     */
    private inline fun <T> call(block: (NativeConsentGate) -> T): T {
        if (mirror.closed) throw GateException.Closed()
        try {
            return block(ffi)
        } catch (e: IllegalStateException) {
            if (mirror.closed) throw GateException.Closed()
            throw e
        }
    }

    /** [call] after the event buffer crossed to the core, for calls that must see every recorded event. */
    private inline fun <T> callAfterCrossing(block: (NativeConsentGate) -> T): T = call {
        crossing.cross()
        block(it)
    }

    companion object {
        /**
         * Opens the gate for `config.dataDir`. Fails with [GateException]
         * `InvalidPolicy` (naming the JSON path of each problem) before
         * touching the disk when the policy is invalid.
         */
        @JvmStatic
        fun open(config: ConsentGateConfig): ConsentGate {
            val ffiConfig = GateConfig(
                dataDir = config.dataDir.path,
                policyJson = config.policyJson,
                region = config.region,
                appVersion = config.appVersion,
            )
            val clock = config.clock?.let(::GuardedClock)
            val ffi = when (clock) {
                null -> NativeConsentGate.open(ffiConfig)
                else -> NativeConsentGate.openWithClock(ffiConfig, clock)
            }
            try {
                // The policy's queue bounds size the capture buffer (read once).
                val mirror = StateMirror(ffi.consentState(), ffi.deletionRequests(), ffi.captureRules())
                val now: () -> Long = if (clock == null) System::currentTimeMillis else clock::nowMs
                val crossing = Crossing(ffi, mirror.capture, now, config.bufferWindowMs)
                // The core calls the listener once now, so `allows`, `state`
                // and the capture buffer are current before `open` returns.
                ffi.setListener(ListenerBridge(ffi, mirror))
                ffi.setDeletionListener(DeletionBridge(ffi, mirror))
                return ConsentGate(ffi, mirror, crossing)
            } catch (e: Throwable) {
                runCatching { ffi.shutdown() }
                ffi.destroy()
                throw e
            }
        }
    }
}

/** The Kotlin side of the core's consent state, shared by the gate and its listener. */
internal class StateMirror(initial: ConsentState, tickets: List<DeletionTicket>, rules: CaptureRules) {
    val flow = MutableStateFlow(initial)
    val deletions = MutableStateFlow(tickets)

    /** Events recorded and not yet crossed, with the consent facts they are captured under. */
    val capture = CaptureBuffer(rules)

    /** Allowed category ids; an immutable set, swapped whole. Empty (fail-closed) until the core says otherwise. */
    @Volatile
    var allowed: Set<String> = emptySet()

    @Volatile
    var closed = false

    /**
     * Publishes `state` unless a newer one (higher `version`) is already
     * published; callers hold the monitor of this object.
     */
    fun publish(state: ConsentState) {
        if (closed || state.version < flow.value.version) return
        // The set and the buffer first: a collector reacting to the flow may call `allows`.
        val set = HashSet(state.allowedCategories)
        allowed = set
        capture.onState(USAGE_EVENTS in set, state.version)
        flow.value = state
    }

    private companion object {
        const val USAGE_EVENTS = "usage_events"
    }
}

/**
 * Receives the core's consent changes. Holds the native object weakly so that
 * a gate the app forgets to close can still be collected (the core holds this
 * listener for as long as the native object lives).
 */
private class ListenerBridge(gate: NativeConsentGate, private val mirror: StateMirror) : ConsentListener {
    private val gate = WeakReference(gate)

    override fun onConsentChanged(state: ConsentState) {
        try {
            synchronized(mirror) {
                // Two threads' notifications can arrive in either order; the
                // state read here, under the lock, is the latest committed one,
                // so the last publication always wins with the newest state.
                val latest = gate.get()?.let { runCatching { it.consentState() }.getOrNull() } ?: state
                mirror.publish(latest)
            }
        } catch (e: Exception) {
            // Never throw into the core: it would surface as a panic there.
        }
    }
}

/** Refreshes [StateMirror.deletions] when a ticket changes; same reasoning as [ListenerBridge]. */
private class DeletionBridge(gate: NativeConsentGate, private val mirror: StateMirror) : DeletionListener {
    private val gate = WeakReference(gate)

    override fun onDeletionChanged(ticket: DeletionTicket) {
        try {
            synchronized(mirror) {
                if (mirror.closed) return
                val all = gate.get()?.let { runCatching { it.deletionRequests() }.getOrNull() }
                mirror.deletions.value = all
                    ?: (mirror.deletions.value.filter { it.requestId != ticket.requestId } + ticket)
            }
        } catch (e: Exception) {
            // Never throw into the core.
        }
    }
}

/** Uploader that never throws into the core: an exception is a network error (retried). */
private class GuardedUploader(private val u: Uploader) : Uploader {
    override fun send(request: UploadRequest): UploadResult = try {
        u.send(request)
    } catch (e: Exception) {
        UploadResult.NetworkError("${e.javaClass.simpleName}: ${e.message}")
    }
}

/** Host clock that never throws into the core; a failing reading falls back to the system clock. */
private class GuardedClock(private val clock: Clock) : Clock {
    override fun nowMs(): Long = try {
        clock.nowMs()
    } catch (e: Exception) {
        System.currentTimeMillis()
    }
}

/** Device provider that never throws into the core: a failing field is "not known". */
private class GuardedDeviceInfoProvider(private val p: DeviceInfoProvider) : DeviceInfoProvider {
    private inline fun field(read: () -> String?): String? = try {
        read()
    } catch (e: Exception) {
        null
    }

    override fun os() = field { p.os() }
    override fun osVersion() = field { p.osVersion() }
    override fun model() = field { p.model() }
    override fun manufacturer() = field { p.manufacturer() }
    override fun locale() = field { p.locale() }
    override fun timezone() = field { p.timezone() }
    override fun carrier() = field { p.carrier() }
    override fun appVersion() = field { p.appVersion() }
    override fun screen() = field { p.screen() }
}

/** Advertising id provider that never throws into the core: a failure means "no id". */
private class GuardedAdIdProvider(private val p: AdIdProvider) : AdIdProvider {
    override fun advertisingId(): String? = try {
        p.advertisingId()
    } catch (e: Exception) {
        null
    }
}
