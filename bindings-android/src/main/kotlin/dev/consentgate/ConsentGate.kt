// The Kotlin API: ConsentGate. It opens the core on a background thread and
// answers fail-closed meanwhile, keeps three things on the Kotlin side (the
// mirrored state that `allows` and `state` read, the event buffer, the held
// events of the loading phase), and offers every call that needs the core as
// a `suspend` function and as a `...Blocking` twin. Every rule lives in the
// Rust core; this file converts, waits and hands over.
package dev.consentgate

import dev.consentgate.ffi.CaptureRules
import dev.consentgate.ffi.ConsentListener
import dev.consentgate.ffi.FfiConverterSequenceTypeDeletionTicket
import dev.consentgate.ffi.FfiConverterTypeCaptureRules
import dev.consentgate.ffi.FfiConverterTypeConsentListener
import dev.consentgate.ffi.FfiConverterTypeConsentState
import dev.consentgate.ffi.DeletionListener
import dev.consentgate.ffi.EventInput
import dev.consentgate.ffi.GateConfig
import dev.consentgate.ffi.PurposeDecision
import dev.consentgate.ffi.AgeSignal as N_AgeSignal
import dev.consentgate.ffi.ConsentGate as NativeConsentGate
import dev.consentgate.ffi.ConsentState as N_ConsentState
import dev.consentgate.ffi.DeletionTicket as N_DeletionTicket
import dev.consentgate.ffi.FlushReport as N_FlushReport
import dev.consentgate.ffi.timeChanged as nativeTimeChanged
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.withContext
import java.lang.ref.WeakReference
import java.util.concurrent.atomic.AtomicLong

/**
 * The consent gate: nothing about the user is collected before they agree, and
 * nothing is kept after they take consent back. One per data directory, shared
 * by the whole app.
 *
 * ```kotlin
 * val gate = ConsentGate.open(ConsentGateConfig(dataDir, policyJson, appVersion = "1.0.0", region = "KZ"))
 * gate.allows("usage_events")                                  // false: loading, then nothing granted yet
 * gate.recordEvent("app_open")                                 // Held: judged once the stored decisions are known
 * scope.launch {
 *     gate.setConsent(mapOf("analytics" to true), ConsentSource.BANNER)   // waits for the open, then fsyncs
 *     gate.recordEvent("screen_view", mapOf("screen" to "home"))         // Queued
 * }
 * ```
 *
 * [open] returns at once; the core opens on a background thread. Until it has
 * loaded, [state] is [ConsentState.LOADING] and [allows] answers false for
 * everything (fail-closed); events recorded meanwhile are held and judged
 * against the loaded decisions (see [recordEvent]); every call that needs the
 * core waits for the open (the `suspend` forms suspend). [openBlocking] opens
 * on the calling thread instead, for workers and tests.
 *
 * Every call that touches the disk or the network is a `suspend` function
 * that runs on the config's dispatcher (`Dispatchers.IO` by default), with a
 * `...Blocking` twin that runs on the calling thread. [allows], [state],
 * [deletions], [recordEvent] and [recordEvents] never block and make no JNA
 * call. Errors are [GateException]s. All methods are thread-safe.
 */
class ConsentGate private constructor(
    private val windowMs: Long,
    private val captureClock: Clock?,
    private val dispatcherOrNull: CoroutineDispatcher?,
) : AutoCloseable {
    private val mirror = StateMirror()
    private val opening = Opening()
    private val dispatcher: CoroutineDispatcher get() = dispatcherOrNull ?: Dispatchers.IO

    /**
     * The consent state in force: [ConsentState.LOADING] until the core has
     * opened, then updated before [setConsent], [acceptAll], [rejectAll],
     * [setAge], [setPlatformSignals] and [requestDeletion] return, and when
     * the core changes consent on its own (a decision expiring).
     */
    val state: StateFlow<ConsentState> get() = mirror.stateFlow()

    /**
     * The deletion requests made on this device, oldest first (empty while
     * loading); updated when one is created, acknowledged or refused.
     */
    val deletions: StateFlow<List<DeletionTicket>> get() = mirror.deletionsFlow()

    /**
     * Why the core could not be opened, once that is known; null while
     * loading and after a successful open. The gate then stays fail-closed:
     * [state] stays [ConsentState.LOADING], [allows] false, [recordEvent]
     * drops, and every call that needs the core throws this exception.
     */
    val openError: GateException? get() = opening.error

    /**
     * The signals last given to [setPlatformSignals] by this object. The core
     * does not persist them: they start from "not applicable, no limit, no
     * GPC" at every open.
     */
    val platformSignals: PlatformSignals get() = signalsGiven ?: PlatformSignals()

    /** What [setPlatformSignals] last set; null until then (not built at open: see [StateMirror]). */
    @Volatile
    private var signalsGiven: PlatformSignals? = null

    /** True once [close] has been called. */
    val isClosed: Boolean get() = mirror.closed

    /**
     * Waits until the core has opened and returns the loaded state.
     *
     * @throws GateException the open's failure ([openError]), or `Closed`.
     */
    suspend fun awaitLoaded(): ConsentState {
        opening.await()
        return mirror.current
    }

    /** [awaitLoaded] on the calling thread. */
    fun awaitLoadedBlocking(): ConsentState {
        opening.awaitBlocking()
        return mirror.current
    }

    /**
     * True when every purpose that `category` requires is granted; an unknown
     * category, a gate still loading and a closed gate are never allowed.
     *
     * This reads a Kotlin copy of the core's allowed set instead of crossing
     * JNA (tens of microseconds here). The copy is an immutable set replaced
     * in one volatile write by the core's listener, which the core calls on
     * the changing thread before [setConsent] & co. return, and after changes
     * it makes itself; so once a withdrawal returns, every thread reads the
     * new set. Between a change the core makes on its own thread and its
     * listener call, the copy can lag by that one call: the core checks
     * consent again itself when a recorded event crosses to it, at every
     * other capture ([collectDeviceInfo], [advertisingId]) and at send, so
     * nothing is stored or sent on the strength of this answer.
     */
    fun allows(category: String): Boolean = mirror.allowed.contains(category)

    /**
     * Records one usage event, fire-and-forget (like Firebase Analytics'
     * `logEvent` or Glean's `record`): a few microseconds on the calling
     * thread, no JNA call, no I/O. `properties` becomes a JSON object: values
     * may be strings, numbers, booleans, null, nested maps with string keys,
     * lists and arrays.
     *
     * The event is checked here, on the calling thread, against the core's
     * rules (read from the core at open, `CaptureRules`; none is copied into
     * Kotlin): the name must match the core's pattern (a letter, then up to
     * 63 of `A-Z a-z 0-9 _ . -`), the properties must be at most
     * `max_properties_bytes` (16 KiB) of JSON and nest at most
     * `max_properties_depth` (8) levels. A refused event returns
     * [RecordResult.Invalid] with the rule it breaks (the first one per gate
     * is also logged at `WARN`, later ones at `DEBUG`, never with the
     * payload) and counts in [invalidEvents].
     *
     * Then, under one lock with the mirrored consent state ([allows]):
     * - without `usage_events` the event is dropped and counted
     *   ([QueueStats.droppedNoConsent]): [RecordResult.Dropped];
     * - with it, the event is stamped with the capture time (the config's
     *   clock, else the system clock) and the state's version and appended
     *   to the Kotlin buffer: [RecordResult.Queued];
     * - while the core is still opening, the event is held with its capture
     *   time: [RecordResult.Held]. When the core has opened, held events are
     *   checked by the rules above and kept only if the stored decisions —
     *   the ones in force when they were captured — grant `usage_events`;
     *   otherwise they are dropped and counted, so an event recorded while
     *   loading is never kept without consent at its capture time (G3). At
     *   most [MAX_HELD_WHILE_LOADING] events ([MAX_HELD_BYTES_WHILE_LOADING]
     *   bytes) are held; beyond, the oldest are evicted and counted.
     *
     * The buffer crosses to the core in one call on a background thread once
     * 256 events wait, once it is full, or [ConsentGateConfig.bufferWindowMs]
     * after the first, and on the calling thread before consent changes,
     * [queueStats], [persist], [flush], [nextUpload], [exportData] and [close]
     * do anything. It holds at most what the core's rules allow
     * (`max_buffered_events`, `max_buffered_bytes`: the smaller of 8,192
     * events / 1 MiB and the policy's queue bounds); when a new event does not
     * fit, the oldest buffered events are evicted (G8), counted in
     * [evictedEvents] and in [QueueStats.evicted] after the next crossing. At
     * crossing the core checks every event again: it needs consent then, and
     * an event captured before the last withdrawal of `usage_events` is
     * dropped even if consent came back since. A withdrawal also empties the
     * buffer before `setConsent` returns, so nothing recorded before it can
     * be stored or sent (G3).
     *
     * If the core could not be opened ([openError]), events are dropped.
     *
     * @throws IllegalArgumentException for a value JSON cannot represent
     *   (a `Date`, NaN, a non-string key), found while encoding.
     * @throws GateException.Closed after [close].
     */
    fun recordEvent(name: String, properties: Map<String, Any?> = emptyMap()): RecordResult {
        val props = EventJson.encode(properties)
        while (true) {
            val check = mirror.check
            if (check != null) check.problem(name, props)?.let { return mirror.refuse(it) }
            val size = (check?.recordOverheadBytes ?: 0) + Utf8.length(name) + props.utf8Bytes
            val appended = mirror.capture.append(name, props, size, nowMs(), validated = check != null)
            resultOf(appended)?.let { return it }
        }
    }

    /**
     * [recordEvent] for many events: all are encoded and checked first (an
     * encoding failure throws and an invalid event returns
     * [RecordResult.Invalid] naming its index, `events[3]: ...`, and none of
     * them is recorded), then queued, held or dropped together. A batch
     * larger than the free room evicts the oldest buffered events first, and
     * a batch larger than the whole buffer keeps only its newest events (the
     * others are counted as evicted).
     */
    fun recordEvents(events: List<Event>): RecordResult {
        val n = events.size
        if (n == 0) return RecordResult.Queued
        val names = Array(n) { events[it].name }
        val props = Array(n) { EventJson.encode(events[it].properties) }
        while (true) {
            val check = mirror.check
            if (check != null) {
                for (i in 0 until n) check.problem(names[i], props[i])?.let { return mirror.refuse("events[$i]: $it") }
            }
            val overhead = check?.recordOverheadBytes ?: 0
            val sizes = IntArray(n) { overhead + Utf8.length(names[it]) + props[it].utf8Bytes }
            val appended = mirror.capture.appendAll(names, props, sizes, n, nowMs(), validated = check != null)
            resultOf(appended)?.let { return it }
        }
    }

    private fun nowMs(): Long = captureClock?.let { c -> runCatching { c.nowMs() }.getOrNull() } ?: System.currentTimeMillis()

    /** The result of an append, or null when it must be tried again (the core finished opening meanwhile). */
    private fun resultOf(appended: CaptureBuffer.Appended): RecordResult? = when (appended) {
        CaptureBuffer.Appended.RETRY -> null
        CaptureBuffer.Appended.DROPPED -> NoConsent.DROPPED
        CaptureBuffer.Appended.HELD -> RecordResult.Held
        else -> RecordResult.Queued.also { opening.core?.crossing?.dispatch(appended) }
    }

    /**
     * Records one event synchronously: the buffer crosses first (so order is
     * kept), then this event crosses JNA on its own and the core's answer
     * comes back. Tens of microseconds, against a few for [recordEvent]; use
     * it where the app wants the core's own verdict or the sequence number.
     *
     * @return [RecordOutcome.Recorded] with the sequence number, or
     *   [RecordOutcome.Dropped] without `usage_events` consent.
     * @throws GateException.InvalidArgument for a name or properties the core refuses.
     * @throws IllegalArgumentException for a value JSON cannot represent.
     */
    suspend fun recordEventNow(name: String, properties: Map<String, Any?> = emptyMap()): RecordOutcome =
        io { recordEventNowBlocking(name, properties) }

    /** [recordEventNow] on the calling thread. */
    fun recordEventNowBlocking(name: String, properties: Map<String, Any?> = emptyMap()): RecordOutcome {
        val json = EventJson.encode(properties).json
        return Convert.outcome(core(crossFirst = true) { it.recordEvent(name, json) })
    }

    /**
     * [recordEventNow] for many events, in one call across JNA. Every event is
     * checked first: if one is invalid nothing is recorded and the
     * [GateException.InvalidArgument] names its index (`events[1]: ...`).
     */
    suspend fun recordEventsNow(events: List<Event>): List<RecordOutcome> = io { recordEventsNowBlocking(events) }

    /** [recordEventsNow] on the calling thread. */
    fun recordEventsNowBlocking(events: List<Event>): List<RecordOutcome> {
        val inputs = events.map { EventInput(it.name, EventJson.encode(it.properties).json) }
        return core(crossFirst = true) { it.recordEvents(inputs) }.map(Convert::outcome)
    }

    /**
     * Events [recordEvent] and [recordEvents] refused as invalid since [open]:
     * at once, when judged after the open (held ones), or by the core when
     * they crossed (what the check on the calling thread cannot see).
     */
    val invalidEvents: Long get() = mirror.invalid.get()

    /** Events recorded that have not crossed to the core yet (held ones included). */
    val bufferedEvents: Int get() = mirror.capture.size

    /**
     * Events [recordEvent] and [recordEvents] queued or held and then evicted
     * on the Kotlin side because its buffer was full (oldest first), since
     * [open]. They count in [QueueStats.evicted] once the next crossing
     * reports them, together with what the core itself evicts beyond the
     * policy's bounds.
     */
    val evictedEvents: Long get() = mirror.capture.evictedTotal

    /**
     * Applies the user's decisions, e.g. `mapOf("analytics" to true)`, durably
     * (fsync). Denying a purpose purges every queued record that needed it
     * before this returns. `source` is `BANNER`, `SETTINGS` or `API`; it goes
     * into the ledger. Waits for the open.
     *
     * @throws GateException `UnknownPurpose`, `NotWithdrawable` (a necessary
     *   purpose), `AgeRestricted`, `GpcRestricted`, `InvalidArgument` (a source
     *   the core records itself), `Storage`, `Closed`.
     */
    suspend fun setConsent(decisions: Map<String, Boolean>, source: ConsentSource): ConsentState =
        io { setConsentBlocking(decisions, source) }

    /** [setConsent] on the calling thread. */
    fun setConsentBlocking(decisions: Map<String, Boolean>, source: ConsentSource): ConsentState {
        val list = decisions.map { (purpose, granted) -> PurposeDecision(purpose, granted) }
        return Convert.state(core(crossFirst = true) { it.setConsent(list, Convert.source(source)) })
    }

    /** Grants every consent purpose the core allows to be granted (see [setConsent]). */
    suspend fun acceptAll(source: ConsentSource): ConsentState = io { acceptAllBlocking(source) }

    /** [acceptAll] on the calling thread. */
    fun acceptAllBlocking(source: ConsentSource): ConsentState =
        Convert.state(core(crossFirst = true) { it.acceptAll(Convert.source(source)) })

    /** Denies every consent purpose and purges what they covered (see [setConsent]). */
    suspend fun rejectAll(source: ConsentSource): ConsentState = io { rejectAllBlocking(source) }

    /** [rejectAll] on the calling thread. */
    fun rejectAllBlocking(source: ConsentSource): ConsentState =
        Convert.state(core(crossFirst = true) { it.rejectAll(Convert.source(source)) })

    /**
     * Records that the user was shown the policy change in
     * [ConsentState.needsAcknowledgement] (one that needs no new consent):
     * a ledger entry of its own kind, durable, exported as a receipt. The
     * state returned (and [state]) no longer needs it. With nothing due it
     * changes nothing. `source` is `BANNER`, `SETTINGS` or `API`.
     *
     * @throws GateException `InvalidArgument` (a source the core records
     *   itself), `Storage`, `Closed`.
     */
    suspend fun acknowledgePolicy(source: ConsentSource): ConsentState = io { acknowledgePolicyBlocking(source) }

    /** [acknowledgePolicy] on the calling thread. */
    fun acknowledgePolicyBlocking(source: ConsentSource): ConsentState =
        Convert.state(core(crossFirst = false) { it.acknowledgePolicy(Convert.source(source)) })

    /**
     * Reports ATT, limit-ad-tracking and GPC. With GPC, sale-or-share purposes
     * are denied (durably, in the ledger) and cannot be granted while the
     * signal holds.
     */
    suspend fun setPlatformSignals(signals: PlatformSignals): ConsentState = io { setPlatformSignalsBlocking(signals) }

    /** [setPlatformSignals] on the calling thread. */
    fun setPlatformSignalsBlocking(signals: PlatformSignals): ConsentState =
        Convert.state(core(crossFirst = true) { it.setPlatformSignals(Convert.signals(signals)) }).also { signalsGiven = signals }

    /**
     * Reports the user's age (`null`: unknown). Below the policy's minimum age
     * without parental consent every consent purpose is denied, and granting
     * one throws [GateException.AgeRestricted].
     *
     * @throws GateException.InvalidArgument for a negative age.
     */
    suspend fun setAge(ageYears: Int?, parentalConsent: Boolean = false): ConsentState =
        io { setAgeBlocking(ageYears, parentalConsent) }

    /** [setAge] on the calling thread. */
    fun setAgeBlocking(ageYears: Int?, parentalConsent: Boolean = false): ConsentState =
        Convert.state(core(crossFirst = true) { it.setAge(N_AgeSignal(ageYears, parentalConsent)) })

    /**
     * Sets (or clears, with null) the app's user id, category `account_id`:
     * kept on disk and sent only while that category is allowed.
     */
    suspend fun setUserId(userId: String?) = io { setUserIdBlocking(userId) }

    /** [setUserId] on the calling thread. */
    fun setUserIdBlocking(userId: String?) = core(crossFirst = false) { it.setUserId(userId) }

    /**
     * Queue figures; records not yet committed count as queued. Events
     * [recordEvent] buffered cross to the core first, so they count too.
     */
    suspend fun queueStats(): QueueStats = io { queueStatsBlocking() }

    /** [queueStats] on the calling thread. */
    fun queueStatsBlocking(): QueueStats = Convert.stats(core(crossFirst = true) { it.queueStats() })

    /**
     * Writes every buffered record to disk now (otherwise the core does it at
     * least every second, after the Kotlin buffer crossed).
     */
    suspend fun persist() = io { persistBlocking() }

    /** [persist] on the calling thread. */
    fun persistBlocking() = core(crossFirst = true) { it.persist() }

    /** The retained consent ledger, oldest first. */
    suspend fun ledger(): List<LedgerEntry> = io { ledgerBlocking() }

    /** [ledger] on the calling thread. */
    fun ledgerBlocking(): List<LedgerEntry> = core(crossFirst = false) { it.ledger() }.map(Convert::entry)

    /** Verifies the ledger's hash chain; names the first bad entry if any. */
    suspend fun verifyLedger(): LedgerCheck = io { verifyLedgerBlocking() }

    /** [verifyLedger] on the calling thread. */
    fun verifyLedgerBlocking(): LedgerCheck = Convert.check(core(crossFirst = false) { it.verifyLedger() })

    /**
     * Delivers what can be delivered now through `uploader` (deletion
     * requests first, then batches of what is still allowed), one request at
     * a time.
     *
     * When the only thing in the way is a backoff (the previous failure's,
     * which survives restarts) that ends within `maxWaitMs` of this call, it
     * is waited out (suspending; real time) and sending goes on; so after the
     * network comes back, one call delivers. When a request fails during this
     * call, or the backoff ends later than that, it returns at once and
     * [FlushReport.waitMs] says when the next try is due (WorkManager's
     * `Result.retry()` is the usual answer). A request handed out by
     * [nextUpload] and never completed is taken back by the core and sent
     * again under the same id (the backend deduplicates); flushes of one gate
     * run one at a time.
     *
     * @param maxWaitMs the longest backoff waited out in one call, in total.
     */
    suspend fun flush(uploader: Uploader = HttpUploader(), maxWaitMs: Long = DEFAULT_FLUSH_WAIT_MS): FlushReport {
        opening.await()
        val adapter = UploaderAdapter(uploader)
        return flushLoop(maxWaitMs, { withContext(dispatcher) { flushOnce(adapter) } }) { delay(it) }
    }

    /** [flush] on the calling thread (waits with `Thread.sleep`). */
    @JvmOverloads
    fun flushBlocking(uploader: Uploader = HttpUploader(), maxWaitMs: Long = DEFAULT_FLUSH_WAIT_MS): FlushReport {
        val adapter = UploaderAdapter(uploader)
        return flushLoop(maxWaitMs, { flushOnce(adapter) }) { Thread.sleep(it) }
    }

    private fun flushOnce(adapter: UploaderAdapter): N_FlushReport = core(crossFirst = true) { it.flush(adapter) }

    private inline fun flushLoop(maxWaitMs: Long, round: () -> N_FlushReport, pause: (Long) -> Unit): FlushReport {
        require(maxWaitMs >= 0) { "maxWaitMs must not be negative, got $maxWaitMs" }
        val start = System.nanoTime()
        var total = Convert.flush(round())
        while (true) {
            val wait = total.waitMs ?: break
            // A request failed just now: the way is not clear, only a retry later is.
            if (total.retries > 0) break
            val elapsedMs = (System.nanoTime() - start) / 1_000_000
            if (elapsedMs + wait > maxWaitMs) break
            pause(wait)
            val next = Convert.flush(round())
            total = FlushReport(
                requests = total.requests + next.requests,
                batchesDelivered = total.batchesDelivered + next.batchesDelivered,
                eventsDelivered = total.eventsDelivered + next.eventsDelivered,
                eventsRejected = total.eventsRejected + next.eventsRejected,
                retries = total.retries + next.retries,
                deletionsAcknowledged = total.deletionsAcknowledged + next.deletionsAcknowledged,
                deletionsFailed = total.deletionsFailed + next.deletionsFailed,
                waitMs = next.waitMs,
                waitedMs = total.waitedMs + wait,
            )
        }
        return total
    }

    /**
     * For apps that drive uploads themselves (e.g. with an asynchronous HTTP
     * client): the next request to send, a wait, or done. Report each
     * request's end with [completeUpload]; one never reported is taken back
     * by the next [flush] (or [nextUpload] after a restart).
     */
    suspend fun nextUpload(): UploadTask = io { nextUploadBlocking() }

    /** [nextUpload] on the calling thread. */
    fun nextUploadBlocking(): UploadTask = Convert.task(core(crossFirst = true) { it.nextUpload() })

    /** Reports how the request `requestId` from [nextUpload] ended. */
    suspend fun completeUpload(requestId: String, result: UploadResult) = io { completeUploadBlocking(requestId, result) }

    /** [completeUpload] on the calling thread. */
    fun completeUploadBlocking(requestId: String, result: UploadResult) =
        core(crossFirst = false) { it.completeUpload(requestId, Convert.uploadResult(result)) }

    /**
     * The user asks to be forgotten: consent is revoked, local data is wiped,
     * the installation id is rotated, and a ticket is stored that [flush]
     * delivers before anything else, retried until the backend acknowledges
     * it. `reason` goes to the backend (`user_request` when null).
     */
    suspend fun requestDeletion(reason: String? = null): DeletionTicket = io { requestDeletionBlocking(reason) }

    /** [requestDeletion] on the calling thread. */
    @JvmOverloads
    fun requestDeletionBlocking(reason: String? = null): DeletionTicket =
        Convert.ticket(core(crossFirst = true) { it.requestDeletion(reason) })

    /** Every deletion request made on this device, oldest first (also [deletions]). */
    suspend fun deletionRequests(): List<DeletionTicket> = io { deletionRequestsBlocking() }

    /** [deletionRequests] on the calling thread. */
    fun deletionRequestsBlocking(): List<DeletionTicket> =
        core(crossFirst = false) { it.deletionRequests() }.map(Convert::ticket)

    /** Everything stored locally about the user, as one JSON document (the data-subject copy). */
    suspend fun exportData(): String = io { exportDataBlocking() }

    /** [exportData] on the calling thread. */
    fun exportDataBlocking(): String = core(crossFirst = true) { it.exportData() }

    /** The installation id (a random UUID, rotated by a deletion request). */
    suspend fun installationId(): String = io { installationIdBlocking() }

    /** [installationId] on the calling thread. */
    fun installationIdBlocking(): String = core(crossFirst = false) { it.installationId() }

    /**
     * Asks `provider` for the device fields whose category is allowed, and only
     * those; when none is allowed the provider is not called at all. A field
     * the provider fails to read counts as not known.
     */
    suspend fun collectDeviceInfo(provider: DeviceInfoProvider): DeviceInfo = io { collectDeviceInfoBlocking(provider) }

    /** [collectDeviceInfo] on the calling thread. */
    fun collectDeviceInfoBlocking(provider: DeviceInfoProvider): DeviceInfo =
        Convert.device(core(crossFirst = false) { it.collectDeviceInfo(DeviceInfoAdapter(provider)) })

    /**
     * The advertising id, asked of `provider` only when `advertising_id` is
     * allowed, ATT is authorized or not applicable and limit-ad-tracking is off
     * (see [setPlatformSignals]). An all-zero id counts as absent. Null on a
     * closed gate or one that could not be opened.
     */
    suspend fun advertisingId(provider: AdIdProvider): String? = io { advertisingIdBlocking(provider) }

    /** [advertisingId] on the calling thread. */
    fun advertisingIdBlocking(provider: AdIdProvider): String? = try {
        core(crossFirst = false) { it.advertisingId(AdIdAdapter(provider)) }
    } catch (e: GateException) {
        if (mirror.closed || opening.error != null) null else throw e
    }

    /**
     * How the user found the app (the store's install referrer), asked of
     * `provider` only while `install_referrer` is allowed: never before
     * consent. The answer is kept in memory, attached to the batches built
     * while the category stays allowed and shown by [exportData]; withdrawal
     * and deletion drop it. An empty referrer counts as absent. Null on a
     * closed gate or one that could not be opened.
     */
    suspend fun installReferrer(provider: InstallReferrerProvider): InstallReferrer? = io { installReferrerBlocking(provider) }

    /** [installReferrer] on the calling thread. */
    fun installReferrerBlocking(provider: InstallReferrerProvider): InstallReferrer? = try {
        core(crossFirst = false) { it.installReferrer(InstallReferrerAdapter(provider)) }?.let(Convert::referrer)
    } catch (e: GateException) {
        if (mirror.closed || opening.error != null) null else throw e
    }

    /**
     * Connects the app's default key-value store, where ad SDKs read the IAB
     * keys (Android: [dev.consentgate.android.SharedPreferencesKeyValueStore]).
     * With a policy whose `interop` block follows another CMP, its
     * `IABTCF_*` / `IABGPP_*` keys are read now: a valid string becomes
     * decisions (ledger source [ConsentSource.TCF] / [ConsentSource.GPP]),
     * a missing or invalid one changes nothing and is reported in
     * [InteropState.tcf]. Being the CMP (`cmp_id` in the policy), the TC
     * string and the keys of the state in force are written now, and again
     * after every change before the call that made it returns. Without an
     * `interop` block nothing is read or written. The gate keeps the store
     * until it is closed or given another one.
     */
    suspend fun setKeyValueStore(store: KeyValueStore): ConsentState = io { setKeyValueStoreBlocking(store) }

    /** [setKeyValueStore] on the calling thread. */
    fun setKeyValueStoreBlocking(store: KeyValueStore): ConsentState =
        Convert.state(core(crossFirst = true) { it.setKeyValueStore(KeyValueStoreAdapter(store)) })

    /**
     * Tells the gate that another CMP changed the `IABTCF_*` / `IABGPP_*`
     * keys (Android: the SharedPreferences listener of
     * [dev.consentgate.android.SharedPreferencesKeyValueStore] calls it off
     * the main thread): they are read again. A new, valid string becomes
     * decisions, a withdrawal there purges what it covered before this
     * returns (as [setConsent] does); a missing or invalid string changes
     * nothing and is reported in [InteropState.tcf].
     */
    suspend fun interopKeysChanged(): ConsentState = io { interopKeysChangedBlocking() }

    /** [interopKeysChanged] on the calling thread. */
    fun interopKeysChangedBlocking(): ConsentState = Convert.state(core(crossFirst = true) { it.interopKeysChanged() })

    /**
     * True when ads may be requested: the policy has an `interop` block,
     * every advertising purpose is granted and, when following another CMP,
     * its TC string is valid and allows them. The ad team's one line; reads
     * the mirrored state ([InteropState.canRequestAds]) like [allows]: no
     * JNA call, false while loading.
     */
    val canRequestAds: Boolean get() = mirror.current.interop?.canRequestAds == true

    /**
     * Pushes the Google Consent Mode v2 signals to `sink`: now (when the gate
     * has loaded and the policy has an `interop` block) and after every
     * change of them, on the thread that made the change, before
     * [setConsent] & co. return. [dev.consentgate.android.FirebaseConsentMode]
     * uses it. Close the returned handle to stop.
     */
    fun pushConsentMode(sink: ConsentModeSink): AutoCloseable {
        val pusher = ConsentModePusher(this, sink)
        return observeStates(pusher).also { pusher.stateChanged() }
    }

    /** Tells `observer` after every state the mirror publishes, until the handle is closed. */
    internal fun observeStates(observer: StateObserver): AutoCloseable {
        mirror.observers.add(observer)
        return Unobserve(mirror, observer)
    }

    /** The core's latest published state, for the core's functions that take one (the WebView scripts); null while loading. */
    internal fun nativeState(): N_ConsentState? = mirror.native

    /**
     * Hands the Kotlin buffer to the core, commits what is buffered there,
     * stops the core's writer thread, frees the native object and releases
     * the data directory (another gate may open it after this returns).
     * Idempotent. If the core is still opening, waits for it first. Later
     * calls throw [GateException.Closed]; [allows] answers false.
     */
    override fun close() {
        synchronized(mirror) {
            if (mirror.closed) return
            mirror.closed = true
            mirror.allowed = emptySet()
        }
        val core = opening.awaitSettled()
        if (core == null) {
            mirror.capture.take(close = true)
            return
        }
        core.crossing.close {
            try {
                core.ffi.shutdown()
            } catch (e: Exception) {
                ConsentGateLogging.log(LogLevel.WARN, "consentgate: final commit at close failed: ${Convert.error(e).message}")
            } finally {
                core.ffi.destroy()
            }
        }
    }

    /**
     * Waits for the open, then runs `block` on the native object (after the
     * event buffer crossed, when `crossFirst`), turning the core's errors into
     * [GateException]s and "already destroyed" into `Closed`.
     */
    private inline fun <T> core(crossFirst: Boolean, block: (NativeConsentGate) -> T): T {
        val core = opening.awaitBlocking()
        if (mirror.closed) throw GateException.Closed()
        try {
            if (crossFirst) core.crossing.cross()
            return block(core.ffi)
        } catch (e: GateException) {
            throw e
        } catch (e: IllegalStateException) {
            if (mirror.closed) throw GateException.Closed()
            throw e
        } catch (e: Exception) {
            throw Convert.error(e)
        }
    }

    /**
     * Waits (suspending) for the open, then runs `block` on the dispatcher.
     * Not inline: each suspend call is then a tail call without a state
     * machine of its own, which keeps this class small to load and verify
     * on the thread that calls [open].
     */
    private suspend fun <T> io(block: () -> T): T {
        opening.await()
        return withContext(dispatcher) { block() }
    }

    /**
     * Runs on the `consentgate-open` thread (or the caller's, for
     * [openBlocking]): opens the core with `given`, or the config `source`
     * reads, and publishes its state.
     */
    private fun load(given: ConsentGateConfig?, source: (() -> ConsentGateConfig)?) =
        with(Load) { loadCore(given, source) }

    /**
     * The body of [load], in a class of its own: it is loaded and verified
     * on the open thread when it first runs, not with this class on the
     * thread that calls [open].
     */
    private object Load {
        fun ConsentGate.loadCore(given: ConsentGateConfig?, source: (() -> ConsentGateConfig)?) {
            var ffi: NativeConsentGate? = null
            try {
                // The buffer for events recorded while loading, built here
                // rather than on the caller's thread (an event recorded before
                // this line builds it itself).
                mirror.capture
                val config = given ?: checkNotNull(source) { "an open without a config" }.invoke()
                // While consentgate-init sets up the native library (most of a
                // cold start), load the classes needed once the core is open.
                preloadOpenClasses()
                NativeInit.await()
                val ffiConfig = GateConfig(
                    dataDir = config.dataDir.path,
                    policyJson = config.policyJson,
                    region = config.region,
                    appVersion = config.appVersion,
                )
                // The wanted log sink first, so the open's own lines reach it.
                ConsentGateLogging.nativeReady()
                val opened = when (val clock = config.clock) {
                    null -> NativeConsentGate.open(ffiConfig)
                    else -> NativeConsentGate.openWithClock(ffiConfig, ClockAdapter(clock))
                }
                ffi = opened
                val rules = opened.captureRules()
                val check = EventCheck(rules)
                val tickets = opened.deletionRequests().map(Convert::ticket)
                val crossing = Crossing(opened, mirror.capture, mirror.invalid, windowMs)
                synchronized(mirror) {
                    mirror.capture.applyRules(rules, check)
                    mirror.check = check
                    if (!mirror.closed) mirror.setDeletions(tickets)
                }
                // The core calls the listener once now, on this thread: the
                // loaded state is published and the held events are judged
                // against it before any call waiting for the open can run.
                opened.setListener(ListenerBridge(mirror))
                opened.setDeletionListener(DeletionBridge(opened, mirror))
                opening.succeed(Core(opened, crossing))
                if (mirror.capture.size > 0) crossing.soon()
            } catch (e: Throwable) {
                ffi?.let { runCatching { it.shutdown() }; it.destroy() }
                val error = openFailure(e)
                val held = mirror.capture.failOpen()
                ConsentGateLogging.log(
                    LogLevel.ERROR,
                    "consentgate: the gate could not be opened, it stays fail-closed ($held held event(s) let go): ${error.message}",
                )
                opening.fail(error)
            }
        }
    }

    /**
     * What the `consentgate-open` thread runs: first of all it starts the
     * native set-up on `consentgate-init` (started here rather than by
     * `open`, so the caller's thread neither loads [NativeInit] nor starts a
     * second thread), then opens the core.
     */
    internal fun openOnThisThread(given: ConsentGateConfig?, source: (() -> ConsentGateConfig)?) {
        NativeInit.start()
        load(given, source)
    }

    companion object {
        /**
         * Most events [recordEvent] holds while the core opens; beyond, the
         * oldest are evicted and counted. Not a rule of the core (its bounds
         * are unknown until it has opened): a memory bound of this layer for
         * the first few hundred milliseconds of a process, after which the
         * core's bounds apply.
         */
        const val MAX_HELD_WHILE_LOADING: Int = 1_000

        /** Most bytes (UTF-8 of names and properties) [recordEvent] holds while the core opens. */
        const val MAX_HELD_BYTES_WHILE_LOADING: Long = 256L * 1024

        /** The default [ConsentGateConfig.bufferWindowMs] (also what the Android adapters open with), in ms. */
        internal const val DEFAULT_BUFFER_WINDOW_MS: Long = 200

        /** The longest backoff [flush] waits out by default, in ms. */
        const val DEFAULT_FLUSH_WAIT_MS: Long = 10_000

        /**
         * Opens the gate for `config.dataDir` and returns at once (well under
         * a millisecond of the caller's time once the classes are loaded):
         * the native library is loaded and the store opened on a background
         * thread, `consentgate-open`. Until then the gate is fail-closed
         * ([ConsentState.LOADING]); see the class comment. A failure
         * (`InvalidPolicy` naming the JSON path, `Busy`, `Storage`) is
         * [openError], logged at `ERROR`, and thrown by every call that needs
         * the core.
         */
        @JvmStatic
        fun open(config: ConsentGateConfig): ConsentGate =
            start(config.bufferWindowMs, config.clock, config.dispatcher, config, null)

        /**
         * Opens the gate on the calling thread and returns it loaded: for
         * workers and tests. Blocks for the library load and the store's open
         * (tens to hundreds of milliseconds on a cold start).
         *
         * @throws GateException `InvalidPolicy` (before touching the disk),
         *   `Busy`, `Storage`.
         */
        @JvmStatic
        fun openBlocking(config: ConsentGateConfig): ConsentGate {
            NativeInit.start()
            val gate = ConsentGate(config.bufferWindowMs, config.clock, config.dispatcher)
            gate.load(config, null)
            gate.opening.error?.let { throw it }
            return gate
        }

        /**
         * [open] with the config read on the open thread (Android: the policy
         * asset, `noBackupFilesDir`, the package's version), so the caller's
         * thread does no I/O. An exception from `load` is the open's failure.
         * `bufferWindowMs` is not checked again: callers pass a config's
         * (checked by [ConsentGateConfig]) or [DEFAULT_BUFFER_WINDOW_MS].
         */
        internal fun openDeferred(
            bufferWindowMs: Long,
            clock: Clock?,
            dispatcher: CoroutineDispatcher?,
            load: () -> ConsentGateConfig,
        ): ConsentGate = start(bufferWindowMs, clock, dispatcher, null, load)

        /**
         * Makes the gate and starts `consentgate-open` on it. The open
         * thread starts the native set-up as its first statement, so that
         * set-up overlaps the class loading here and on the open thread.
         * Every class loaded here for the first time is time the caller
         * waits (SPEC §9): no lambda (a lambda's first call spins a class at
         * run time) and no class of its own for the task ([Opening] is it).
         */
        private fun start(
            bufferWindowMs: Long,
            clock: Clock?,
            dispatcher: CoroutineDispatcher?,
            given: ConsentGateConfig?,
            source: (() -> ConsentGateConfig)?,
        ): ConsentGate {
            val gate = ConsentGate(bufferWindowMs, clock, dispatcher)
            gate.opening.start(gate, given, source)
            return gate
        }

        /**
         * Tells every open gate of the process that the wall clock jumped
         * (Android: `ACTION_TIME_CHANGED`), so an expiry now due is applied at
         * once. Loads the native library if no gate has yet.
         */
        @JvmStatic
        fun timeChanged() = nativeTimeChanged()

        /** The open's failure as the API's exception. */
        private fun openFailure(e: Throwable): GateException = when (val c = Convert.error(e)) {
            is GateException -> c
            else -> GateException.Internal(
                "the core could not be opened (${c.javaClass.simpleName}: ${c.message}); " +
                    "is libconsentgate in the app (jniLibs) or on jna.library.path?",
            )
        }
    }
}

/**
 * Loads and initializes the classes the open thread uses once the core has
 * opened (conversions, the event check, the crossing, the listeners), so that
 * class loading, a good part of a cold start, overlaps the native set-up on
 * `consentgate-init`. Only Kotlin classes: nothing here calls the core.
 */
private fun preloadOpenClasses() {
    val loader = ConsentGate::class.java.classLoader
    val classes = listOf(
        Core::class.java, Convert::class.java, EventCheck::class.java, Crossing::class.java,
        ListenerBridge::class.java, DeletionBridge::class.java,
        N_ConsentState::class.java, FfiConverterTypeConsentState::class.java,
        CaptureRules::class.java, FfiConverterTypeCaptureRules::class.java,
        FfiConverterSequenceTypeDeletionTicket::class.java, FfiConverterTypeConsentListener::class.java,
        java.util.regex.Pattern::class.java,
    )
    for (c in classes) {
        try {
            Class.forName(c.name, true, loader)
        } catch (e: LinkageError) {
            // Only a head start: the class loads again where it is used, and fails there.
        }
    }
}

/**
 * Runs `wait` (a blocking wait that throws [InterruptedException]) until it
 * returns, then restores the thread's interrupt flag if it was interrupted
 * meanwhile: the open and the native set-up always finish, and an interrupt
 * meant for the caller is not lost.
 */
internal inline fun awaitUninterruptibly(wait: () -> Unit) {
    var interrupted = false
    while (true) {
        try {
            wait()
            break
        } catch (e: InterruptedException) {
            interrupted = true
        }
    }
    if (interrupted) Thread.currentThread().interrupt()
}

/** The open core: the native object and the crossing that feeds it. */
private class Core(val ffi: NativeConsentGate, val crossing: Crossing)

/**
 * The outcome of the background open, waited for by blocking calls (the
 * object's monitor) and by suspending ones (continuations resumed when it
 * settles). A plain monitor rather than `java.util.concurrent` latches and
 * queues: this is built by `open` on the caller's thread, where every class
 * loaded for the first time is start-up time (SPEC §9).
 */
@Suppress("PLATFORM_CLASS_MAPPED_TO_KOTLIN")
private class Opening : Runnable {
    /** What the open thread opens with; set by [start] before the thread starts, cleared by [run]. */
    private var gate: ConsentGate? = null
    private var given: ConsentGateConfig? = null
    private var source: (() -> ConsentGateConfig)? = null

    /** Starts `consentgate-open`, which opens `gate` with `given` or what `source` reads. */
    fun start(gate: ConsentGate, given: ConsentGateConfig?, source: (() -> ConsentGateConfig)?) {
        this.gate = gate
        this.given = given
        this.source = source
        val thread = Thread(this, "consentgate-open")
        thread.isDaemon = true
        thread.start()
    }

    /** The open thread (Thread.start orders the fields' writes before it). */
    override fun run() {
        val gate = gate ?: return
        val given = given
        val source = source
        this.gate = null
        this.given = null
        this.source = null
        gate.openOnThisThread(given, source)
    }
    /** Guarded by `this`; null once settled. */
    private var waiters: ArrayList<kotlinx.coroutines.CancellableContinuation<Unit>>? = ArrayList(0)

    /** True once the open succeeded or failed; set under `this`, after [core] or [error]. */
    @Volatile
    private var settled = false

    /** Set once, before [settled]. */
    @Volatile
    var core: Core? = null
        private set

    /** Set once, before [settled]. */
    @Volatile
    var error: GateException? = null
        private set

    fun succeed(c: Core) {
        core = c
        settle()
    }

    fun fail(e: GateException) {
        error = e
        settle()
    }

    private fun settle() {
        val waiting = synchronized(this) {
            settled = true
            (this as Object).notifyAll()
            waiters.also { waiters = null }
        }
        waiting?.forEach { if (it.isActive) it.resumeWith(Result.success(Unit)) }
    }

    /** The core, once open; throws the open's failure. Blocks while loading. */
    fun awaitBlocking(): Core {
        if (!settled) {
            awaitUninterruptibly { synchronized(this) { while (!settled) (this as Object).wait() } }
        }
        return result()
    }

    /** [awaitBlocking], suspending instead. */
    suspend fun await(): Core {
        if (!settled) {
            kotlinx.coroutines.suspendCancellableCoroutine { c ->
                // Settled before the add: nobody will resume it, so resume here.
                val added = synchronized(this) { waiters?.add(c) ?: false }
                if (!added) c.resumeWith(Result.success(Unit))
            }
        }
        return result()
    }

    /** Waits for the open to settle, whatever the outcome: the core, or null when it failed. */
    fun awaitSettled(): Core? = try {
        awaitBlocking()
    } catch (e: GateException) {
        null
    }

    private fun result(): Core = core ?: throw (error ?: GateException.Internal("the open settled without a result"))
}

/**
 * The Kotlin side of the core's consent state, shared by the gate and its
 * listeners. Built by `open` on the caller's thread, so it holds plain
 * volatile fields at first: the two `StateFlow`s (kotlinx.coroutines' flow
 * classes) are made when first asked for, and the event buffer by the open
 * thread or the first event, whichever comes first. A flow made late starts
 * from the state published last, under the same lock as [publish], so no
 * state is missed.
 */
internal class StateMirror {
    /** The state published last ([ConsentState.LOADING] until the core has opened). */
    val current: ConsentState get() = last ?: ConsentState.LOADING

    /** The state published last; null while loading (so that `open` does not load ConsentState). */
    @Volatile
    private var last: ConsentState? = null

    /** The deletion tickets published last (empty while loading). */
    @Volatile
    var deletionTickets: List<DeletionTicket> = java.util.Collections.emptyList() // see ConsentState.LOADING
        private set

    // Guarded by this object's monitor; read-only views cached in the volatile fields.
    private var flow: MutableStateFlow<ConsentState>? = null
    private var deletionsSink: MutableStateFlow<List<DeletionTicket>>? = null

    @Volatile
    private var stateView: StateFlow<ConsentState>? = null

    @Volatile
    private var deletionsView: StateFlow<List<DeletionTicket>>? = null

    @Volatile
    private var captureOrNull: CaptureBuffer? = null

    /** Events recorded and not yet crossed, with the consent facts they are captured under. */
    val capture: CaptureBuffer
        get() = captureOrNull ?: synchronized(this) { captureOrNull ?: CaptureBuffer().also { captureOrNull = it } }

    /** [ConsentGate.state]: made on first use, starting from [current]. */
    fun stateFlow(): StateFlow<ConsentState> = stateView ?: synchronized(this) {
        stateView ?: MutableStateFlow(current).also { flow = it }.asStateFlow().also { stateView = it }
    }

    /** [ConsentGate.deletions]: made on first use, starting from [deletionTickets]. */
    fun deletionsFlow(): StateFlow<List<DeletionTicket>> = deletionsView ?: synchronized(this) {
        deletionsView ?: MutableStateFlow(deletionTickets).also { deletionsSink = it }.asStateFlow().also { deletionsView = it }
    }

    /** Publishes the deletion tickets; callers hold the monitor of this object. */
    fun setDeletions(tickets: List<DeletionTicket>) {
        deletionTickets = tickets
        deletionsSink?.value = tickets
    }

    /** Events refused as invalid since open (at once, when judged after the open, or by the core). */
    val invalid = AtomicLong()

    /** The check with the core's rules; null until the core has opened. */
    @Volatile
    var check: EventCheck? = null

    /** Allowed category ids; an immutable set, swapped whole. Empty (fail-closed) until the core says otherwise. */
    @Volatile
    var allowed: Set<String> = java.util.Collections.emptySet() // see ConsentState.LOADING

    @Volatile
    var closed = false

    /** The core's state last published, for the calls that need the core's own record. */
    @Volatile
    var native: N_ConsentState? = null

    /** Told after every publish ([ConsentGate.observeStates]). */
    val observers = java.util.concurrent.CopyOnWriteArrayList<StateObserver>()

    /** The highest version published (guarded by this object's monitor). */
    private var published = -1L

    /** True once an invalid event was logged at WARN (guarded by this object's monitor). */
    private var warned = false

    /**
     * Publishes `state` unless a newer one is already published; callers hold
     * the monitor of this object. Returns what judging the held events came
     * to when this is the first state after the open.
     */
    fun publish(state: ConsentState, nativeState: N_ConsentState? = null): CaptureBuffer.Judged? {
        if (state.version < published) return null
        published = state.version
        if (nativeState != null) native = nativeState
        // The set and the buffer first: a collector reacting to the flow may call `allows`.
        val set = HashSet(state.allowedCategories)
        val judged = capture.onState(USAGE_EVENTS in set, state.version)
        judged?.let { invalid.addAndGet(it.invalid.toLong()) }
        if (closed) return judged
        allowed = set
        last = state
        flow?.value = state
        return judged
    }

    /** Tells the observers (outside the lock); one that throws is logged and the others still told. */
    fun notifyObservers() {
        if (closed) return
        for (o in observers) {
            try {
                o.stateChanged()
            } catch (e: Exception) {
                ConsentGateLogging.log(LogLevel.WARN, "consentgate: a state observer failed (${e.javaClass.simpleName})")
            }
        }
    }

    /** Counts an event refused on the calling thread and returns the result saying why. */
    fun refuse(reason: String): RecordResult {
        invalid.incrementAndGet()
        val first = synchronized(this) { !warned.also { warned = true } }
        ConsentGateLogging.log(
            if (first) LogLevel.WARN else LogLevel.DEBUG,
            "consentgate: an event was refused as invalid: $reason",
        )
        return RecordResult.Invalid(reason)
    }

    /** Logs what judging the held events came to (outside the lock). */
    fun report(j: CaptureBuffer.Judged) {
        if (j.invalid > 0) {
            ConsentGateLogging.log(
                LogLevel.WARN,
                "consentgate: ${j.invalid} event(s) recorded while loading refused as invalid; first: ${j.firstInvalid}",
            )
        }
        if (j.kept + j.dropped > 0) {
            ConsentGateLogging.log(
                LogLevel.DEBUG,
                "consentgate: events recorded while loading: ${j.kept} kept, ${j.dropped} dropped (no consent)",
            )
        }
    }
}

/**
 * The category whose grant keeps events recorded while loading. A top-level
 * constant, not a companion's: a companion object is one more class for
 * `open` to load on the caller's thread.
 */
private const val USAGE_EVENTS = "usage_events"

/**
 * Receives the core's consent changes. The core hands over its latest
 * committed state (read when it notifies), and two threads' notifications
 * that arrive in either order are sorted by [StateMirror.publish], which
 * keeps the newest version: nothing to read back across JNA.
 */
private class ListenerBridge(private val mirror: StateMirror) : ConsentListener {
    override fun onConsentChanged(state: N_ConsentState) {
        try {
            val judged = synchronized(mirror) { mirror.publish(Convert.state(state), state) }
            judged?.let(mirror::report)
            mirror.notifyObservers()
        } catch (e: Exception) {
            // Never throw into the core: it would surface as a panic there.
        }
    }
}

/**
 * Refreshes [StateMirror.deletions] when a ticket changes, from the core's
 * whole list (the notification carries one ticket). Holds the native object
 * weakly so that a gate the app forgets to close can still be collected (the
 * core holds this listener for as long as the native object lives).
 */
private class DeletionBridge(gate: NativeConsentGate, private val mirror: StateMirror) : DeletionListener {
    private val gate = WeakReference(gate)

    override fun onDeletionChanged(ticket: N_DeletionTicket) {
        try {
            synchronized(mirror) {
                if (mirror.closed) return
                val all = gate.get()?.let { runCatching { it.deletionRequests() }.getOrNull() }
                mirror.setDeletions(
                    all?.map(Convert::ticket)
                        ?: (mirror.deletionTickets.filter { it.requestId != ticket.requestId } + Convert.ticket(ticket)),
                )
            }
        } catch (e: Exception) {
            // Never throw into the core.
        }
    }
}

/** Told after the gate's mirrored state changed, on the changing thread; reads what it needs from the gate. */
internal fun interface StateObserver {
    fun stateChanged()
}

/** The handle [ConsentGate.observeStates] returns. */
private class Unobserve(private val mirror: StateMirror, private val observer: StateObserver) : AutoCloseable {
    override fun close() {
        mirror.observers.remove(observer)
    }
}

/** What a failed append returns: one instance, no allocation, made on the first drop rather than at open. */
private object NoConsent {
    @JvmField
    val DROPPED = RecordResult.Dropped(DropReason.NO_CONSENT)
}

/** Pushes the Consent Mode signals to a sink when they differ from the last ones pushed. */
private class ConsentModePusher(private val gate: ConsentGate, private val sink: ConsentModeSink) : StateObserver {
    private var last: ConsentModeSignals? = null

    @Synchronized
    override fun stateChanged() {
        val signals = gate.state.value.consentMode ?: return
        if (signals == last) return
        last = signals
        try {
            sink.setConsent(signals)
        } catch (e: Exception) {
            ConsentGateLogging.log(LogLevel.WARN, "consentgate: the Consent Mode sink failed (${e.javaClass.simpleName})")
        }
    }
}
