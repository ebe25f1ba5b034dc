// The Kotlin side of recording: the bounded buffer recordEvent appends to
// (CaptureBuffer), the events held while the core is still opening, and the
// hand-over of the buffer to the core in batches (Crossing, through the
// core's record_captured). What may be kept is decided from the core's
// answers (the mirrored state, CaptureRules); the core checks every event
// again when it crosses.
package dev.consentgate

import dev.consentgate.ffi.CaptureRules
import dev.consentgate.ffi.CapturedEvent
import dev.consentgate.ffi.ConsentGate as NativeConsentGate
import java.util.ArrayDeque
import java.util.concurrent.ScheduledThreadPoolExecutor
import java.util.concurrent.ThreadFactory
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicLong

/**
 * Events captured on the Kotlin side and not yet handed to the core, with the
 * consent facts they are captured under. Holds no reference to the native
 * object: the core's listener reaches this through the state mirror, and a
 * strong path from the listener to the native object would keep a gate the
 * app never closes alive forever.
 *
 * One lock guards everything here. Capturing reads [usageAllowed] and
 * [version] and appends under it; [onState] (called by the listener before
 * `setConsent` & co. return) updates both and, when `usage_events` is no
 * longer allowed, empties the buffer under it. So an event is either appended
 * before a withdrawal's listener call, and then purged by it, or refused.
 *
 * **While the core opens** ([Phase.LOADING]) nothing is known yet: not the
 * stored decisions, not the rules. Events are *held* as they come, with their
 * capture time, up to [ConsentGate.MAX_HELD_WHILE_LOADING] events and
 * [ConsentGate.MAX_HELD_BYTES_WHILE_LOADING] bytes (the oldest evicted and
 * counted beyond). The first state the core publishes
 * judges them, under this lock and before any consent change can run (writes
 * wait for the open): each is checked with the core's rules (invalid ones are
 * counted), then kept only if that state allows `usage_events` — the stored
 * decisions, which are the ones in force when the event was captured, since
 * no one could change them in between (one gate per data directory) — and
 * dropped and counted otherwise. Kept ones enter the buffer stamped with that
 * state's version, so a withdrawal after the open purges them like any other.
 *
 * **Once open** the buffer is bounded by [CaptureRules] (`max_buffered_events`,
 * `max_buffered_bytes`: never more than the core would keep). When an event
 * does not fit, the oldest buffered ones are evicted (G8: oldest first) and
 * counted; the count reaches the core, and `QueueStats.evicted`, with the next
 * crossing. The recording thread never crosses to the core itself.
 */
internal class CaptureBuffer {
    /** Where the buffer is in the gate's life. */
    enum class Phase { LOADING, OPEN, FAILED, CLOSED }

    /**
     * What [append] did, and what its caller must do next. `RETRY`: the core
     * finished opening after the caller read the (absent) check, so the
     * event was not checked; check it and append again.
     */
    enum class Appended { DROPPED, HELD, QUEUED, QUEUED_ARM_TIMER, QUEUED_CROSS_SOON, RETRY }

    /** What [take] hands to the core: events oldest first, and the host-side drop and eviction counts. */
    class Batch(val events: List<CapturedEvent>, val dropped: Long, val evicted: Long)

    /** What judging the held events came to, for the log (no payload in it). */
    class Judged(val kept: Int, val dropped: Int, val invalid: Int, val firstInvalid: String?)

    private class Held(val name: String, val props: EncodedProperties, val atMs: Long, val bytes: Int)

    private val lock = Any()

    // Everything below is guarded by `lock`.
    private var phase = Phase.LOADING
    private val held = ArrayDeque<Held>()
    private var heldBytes = 0L
    private var check: EventCheck? = null
    private var maxEvents = 1
    private var maxBytes = 1L
    private var crossAt = 1
    private var initialCapacity = 1

    // The events form a ring: `count` of them from `head`, oldest first;
    // `sizes` holds their byte counts (as the core charges them).
    private var ring = arrayOfNulls<CapturedEvent>(0)
    private var sizes = IntArray(0)
    private var head = 0
    private var count = 0
    private var bytes = 0L
    private var dropped = 0L
    private var evicted = 0L
    private var evictedSinceOpen = 0L
    private var usageAllowed = false
    private var version = 0L
    private var timerArmed = false
    private var kickQueued = false

    /** Events waiting to cross (held ones included). */
    val size: Int get() = synchronized(lock) { count + held.size }

    /** Events this buffer evicted because it was full, since open. */
    val evictedTotal: Long get() = synchronized(lock) { evictedSinceOpen }

    /**
     * The core's rules, known once it has opened (before its first state is
     * published): the bounds of the buffer and the check for held events.
     */
    fun applyRules(rules: CaptureRules, check: EventCheck) {
        synchronized(lock) {
            this.check = check
            maxEvents = rules.maxBufferedEvents.coerceIn(1L, Int.MAX_VALUE.toLong()).toInt()
            maxBytes = rules.maxBufferedBytes.coerceAtLeast(1L)
            crossAt = minOf(CROSS_AT, maxEvents)
            initialCapacity = minOf(INITIAL_CAPACITY, maxEvents)
            ring = arrayOfNulls(initialCapacity)
            sizes = IntArray(initialCapacity)
        }
    }

    /**
     * Appends one event of `size` bytes (see [ConsentGate.recordEvent]),
     * captured at `atMs`: held while loading, appended under the mirrored
     * consent version when `usage_events` is allowed (evicting the oldest
     * events when it does not fit), counted as dropped otherwise.
     * `validated` says whether the caller checked it with the core's rules.
     *
     * @throws GateException.Closed after close.
     */
    fun append(name: String, props: EncodedProperties, size: Int, atMs: Long, validated: Boolean): Appended {
        synchronized(lock) {
            when (phase) {
                Phase.CLOSED -> throw GateException.Closed()
                Phase.FAILED -> return Appended.DROPPED
                Phase.LOADING -> {
                    holdLocked(Held(name, props, atMs, Utf8.length(name) + props.utf8Bytes))
                    return Appended.HELD
                }
                Phase.OPEN -> if (!validated) return Appended.RETRY
            }
            if (!usageAllowed) {
                dropped++
                return Appended.DROPPED
            }
            val evictedBefore = evicted
            makeRoomLocked(size)
            pushLocked(CapturedEvent(name, props.json, atMs, version), size)
            return nextLocked(evicted != evictedBefore)
        }
    }

    /**
     * [append] for `n` events at once (all or none): `names[i]`, `props[i]`,
     * `sizes[i]`. A batch larger than the whole buffer keeps its newest events.
     */
    fun appendAll(
        names: Array<String>,
        props: Array<EncodedProperties>,
        sizes: IntArray,
        n: Int,
        atMs: Long,
        validated: Boolean,
    ): Appended {
        synchronized(lock) {
            when (phase) {
                Phase.CLOSED -> throw GateException.Closed()
                Phase.FAILED -> return Appended.DROPPED
                Phase.LOADING -> {
                    for (i in 0 until n) holdLocked(Held(names[i], props[i], atMs, Utf8.length(names[i]) + props[i].utf8Bytes))
                    return Appended.HELD
                }
                Phase.OPEN -> if (!validated) return Appended.RETRY
            }
            if (!usageAllowed) {
                dropped += n
                return Appended.DROPPED
            }
            val evictedBefore = evicted
            // The oldest of a batch larger than the whole buffer would only be
            // evicted by its own newest events: count them without building them.
            val first = maxOf(0, n - maxEvents)
            evictLocked(first.toLong())
            val v = version
            for (i in first until n) {
                makeRoomLocked(sizes[i])
                pushLocked(CapturedEvent(names[i], props[i].json, atMs, v), sizes[i])
            }
            return nextLocked(evicted != evictedBefore)
        }
    }

    private fun holdLocked(e: Held) {
        while (held.isNotEmpty() &&
            (held.size >= ConsentGate.MAX_HELD_WHILE_LOADING || heldBytes + e.bytes > ConsentGate.MAX_HELD_BYTES_WHILE_LOADING)
        ) {
            heldBytes -= held.removeFirst().bytes
            evictLocked(1)
        }
        held.addLast(e)
        heldBytes += e.bytes
    }

    /**
     * Evicts the oldest events until one of `size` bytes fits. An event
     * larger than [maxBytes] on its own is kept alone: the core evicts it
     * and counts it.
     */
    private fun makeRoomLocked(size: Int) {
        while (count > 0 && (count >= maxEvents || bytes + size > maxBytes)) {
            val slot = head
            bytes -= sizes[slot]
            ring[slot] = null
            head = if (slot + 1 == ring.size) 0 else slot + 1
            count--
            evictLocked(1)
        }
    }

    private fun evictLocked(n: Long) {
        evicted += n
        evictedSinceOpen += n
    }

    private fun pushLocked(e: CapturedEvent, size: Int) {
        if (count == ring.size) grow() // count < maxEvents here: makeRoomLocked made room
        var slot = head + count
        if (slot >= ring.size) slot -= ring.size
        ring[slot] = e
        sizes[slot] = size
        count++
        bytes += size
    }

    /** Doubles the ring (up to [maxEvents]), unwrapping it. */
    private fun grow() {
        val capacity = minOf(maxOf(ring.size * 2, 1), maxEvents)
        val r = arrayOfNulls<CapturedEvent>(capacity)
        val s = IntArray(capacity)
        val tail = minOf(count, ring.size - head)
        ring.copyInto(r, 0, head, head + tail)
        ring.copyInto(r, tail, 0, count - tail)
        sizes.copyInto(s, 0, head, head + tail)
        sizes.copyInto(s, tail, 0, count - tail)
        ring = r
        sizes = s
        head = 0
    }

    /** Starts over with an empty ring of `capacity` slots (the old one is no longer touched here). */
    private fun resetLocked(capacity: Int) {
        ring = arrayOfNulls(capacity)
        sizes = IntArray(capacity)
        head = 0
        count = 0
        bytes = 0
    }

    private fun nextLocked(evictedNow: Boolean): Appended = when {
        // Full (evicting) or enough waiting: cross in the background, once.
        evictedNow || count >= crossAt ->
            if (kickQueued) Appended.QUEUED else Appended.QUEUED_CROSS_SOON.also { kickQueued = true }
        timerArmed -> Appended.QUEUED
        else -> Appended.QUEUED_ARM_TIMER.also { timerArmed = true }
    }

    /**
     * The core's consent state changed (called under the mirror's lock, with
     * versions that only go up). The first call after the open judges the
     * held events (see the class comment) and returns what it did; later
     * calls return null. Without `usage_events` every buffered event is
     * purged: each was captured under an earlier version at which it was
     * allowed, so a withdrawal happened since, and the core would drop it at
     * crossing anyway. The drop and eviction counts stay for the next crossing.
     */
    fun onState(usageAllowed: Boolean, version: Long): Judged? {
        synchronized(lock) {
            if (phase == Phase.CLOSED || phase == Phase.FAILED) return null
            this.usageAllowed = usageAllowed
            this.version = version
            val judged = if (phase == Phase.LOADING) judgeHeldLocked() else null
            if (!usageAllowed && count > 0) resetLocked(initialCapacity)
            return judged
        }
    }

    private fun judgeHeldLocked(): Judged {
        val check = checkNotNull(check) { "applyRules runs before the first state is published" }
        phase = Phase.OPEN
        var kept = 0
        var refused = 0
        var invalid = 0
        var firstInvalid: String? = null
        for (e in held) {
            val problem = check.problem(e.name, e.props)
            when {
                problem != null -> {
                    invalid++
                    if (firstInvalid == null) firstInvalid = problem
                }
                !usageAllowed -> refused++
                else -> {
                    val size = check.recordOverheadBytes + e.bytes
                    makeRoomLocked(size)
                    pushLocked(CapturedEvent(e.name, e.props.json, e.atMs, version), size)
                    kept++
                }
            }
        }
        held.clear()
        heldBytes = 0
        dropped += refused
        return Judged(kept, refused, invalid, firstInvalid)
    }

    /** The core could not be opened: held events are let go; later ones are dropped. Returns how many were held. */
    fun failOpen(): Int {
        synchronized(lock) {
            if (phase != Phase.LOADING) return 0
            phase = Phase.FAILED
            val n = held.size
            held.clear()
            heldBytes = 0
            return n
        }
    }

    /**
     * Takes what is buffered and the host-side drop and eviction counts
     * (which restart from zero); `close` also refuses later captures. Null
     * when there is nothing to hand over (or while loading: held events wait
     * for their judgement).
     */
    fun take(close: Boolean): Batch? {
        synchronized(lock) {
            timerArmed = false
            kickQueued = false
            if (close) {
                if (phase == Phase.LOADING) {
                    held.clear()
                    heldBytes = 0
                }
                phase = Phase.CLOSED
                usageAllowed = false
            }
            if (count == 0 && dropped == 0L && evicted == 0L) return null
            val events: List<CapturedEvent> = if (count == 0) emptyList() else RingSlice(ring, head, count)
            if (count > 0) resetLocked(count.coerceIn(initialCapacity, maxOf(initialCapacity, crossAt)))
            val batch = Batch(events, dropped, evicted)
            dropped = 0
            evicted = 0
            return batch
        }
    }

    /** A crossing failed: its counts wait for the next one (nothing is dropped silently). */
    fun restoreCounts(dropped: Long, evicted: Long) {
        synchronized(lock) {
            this.dropped += dropped
            this.evicted += evicted
        }
    }

    /** The events of a ring the buffer handed over (and no longer touches), oldest first. */
    private class RingSlice(
        private val ring: Array<CapturedEvent?>,
        private val head: Int,
        override val size: Int,
    ) : AbstractList<CapturedEvent>() {
        override fun get(index: Int): CapturedEvent {
            if (index < 0 || index >= size) throw IndexOutOfBoundsException("index $index, size $size")
            val slot = head + index
            return ring[if (slot >= ring.size) slot - ring.size else slot]!!
        }
    }

    companion object {
        /** Hand events to the core in the background once this many wait (fewer under a smaller policy bound). */
        const val CROSS_AT = 256

        private const val INITIAL_CAPACITY = 64
    }
}

/**
 * Hands the [CaptureBuffer] to the core: on one shared background thread when
 * [CaptureBuffer.CROSS_AT] events wait, when the buffer is full (evicting), or
 * `windowMs` after the first one; and on the calling thread before anything
 * that must see them (consent changes, queue figures, persist, flush, export,
 * close). Never on a recording thread. One crossing at a time, in capture
 * order: a synchronous crossing waits for a background one in flight, so when
 * it returns every event captured before it is in the core.
 */
internal class Crossing(
    private val ffi: NativeConsentGate,
    private val buffer: CaptureBuffer,
    private val invalid: AtomicLong,
    private val windowMs: Long,
) {
    private val crossLock = Any()

    /** Guarded by [crossLock]: the native object is shut down. */
    private var nativeGone = false

    private val task = Runnable {
        try {
            cross()
        } catch (e: Throwable) {
            ConsentGateLogging.log(LogLevel.WARN, "consentgate: background crossing failed: ${e.javaClass.simpleName}")
        }
    }

    /** Starts what [CaptureBuffer.append] asked for: nothing, a timer, or a crossing soon. */
    fun dispatch(next: CaptureBuffer.Appended) {
        when (next) {
            CaptureBuffer.Appended.QUEUED_ARM_TIMER -> executor.schedule(task, windowMs, TimeUnit.MILLISECONDS)
            CaptureBuffer.Appended.QUEUED_CROSS_SOON -> executor.execute(task)
            else -> {}
        }
    }

    /** Crosses soon in the background (events judged at open are waiting). */
    fun soon() {
        executor.schedule(task, windowMs, TimeUnit.MILLISECONDS)
    }

    /** Hands everything buffered to the core now, on this thread. */
    fun cross() {
        synchronized(crossLock) {
            if (nativeGone) return
            deliver(buffer.take(close = false) ?: return)
        }
    }

    /** Crosses what is left, refuses later captures, then runs `shutdown` (no crossing can run after it). */
    fun close(shutdown: () -> Unit) {
        synchronized(crossLock) {
            val taken = buffer.take(close = true)
            if (nativeGone) return
            nativeGone = true
            try {
                if (taken != null) deliver(taken)
            } finally {
                shutdown()
            }
        }
    }

    private fun deliver(batch: CaptureBuffer.Batch) {
        val report = try {
            ffi.recordCaptured(batch.events, batch.dropped, batch.evicted)
        } catch (e: Exception) {
            // Only a closed or broken core gets here; the caller's own call
            // to it reports that. The counts wait for the next crossing.
            // Class name only: messages stay payload-free.
            buffer.restoreCounts(batch.dropped, batch.evicted)
            ConsentGateLogging.log(
                LogLevel.WARN,
                "consentgate: ${batch.events.size} captured events could not be handed to the core: ${e.javaClass.simpleName}",
            )
            return
        }
        if (batch.evicted > 0) {
            ConsentGateLogging.log(
                LogLevel.DEBUG,
                "consentgate: ${batch.evicted} recorded event(s) evicted on the Kotlin side (buffer full, oldest first)",
            )
        }
        if (report.invalid > 0) {
            // Only what the check on the caller's thread cannot see gets here.
            invalid.addAndGet(report.invalid.toLong())
            ConsentGateLogging.log(
                LogLevel.WARN,
                "consentgate: ${report.invalid} invalid recorded event(s) skipped by the core; first: ${report.firstInvalid}",
            )
        }
    }

    companion object {
        /**
         * One daemon thread for every gate of the process, started on first
         * use and ended after a few idle seconds, so it neither keeps the
         * JVM alive nor keeps a gate the app forgot to close reachable.
         */
        private val executor: ScheduledThreadPoolExecutor by lazy {
            val factory = ThreadFactory { r -> Thread(r, "consentgate-crossing").apply { isDaemon = true } }
            ScheduledThreadPoolExecutor(1, factory).apply {
                setKeepAliveTime(5, TimeUnit.SECONDS)
                allowCoreThreadTimeOut(true)
                removeOnCancelPolicy = true
            }
        }
    }
}
