package dev.consentgate

import dev.consentgate.ffi.CaptureRules
import dev.consentgate.ffi.CapturedEvent
import dev.consentgate.ffi.GateException
import dev.consentgate.ffi.LogLevel
import dev.consentgate.ffi.ConsentGate as NativeConsentGate
import java.util.concurrent.ScheduledThreadPoolExecutor
import java.util.concurrent.ThreadFactory
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicLong

/**
 * Events captured on the Kotlin side and not yet handed to the core, with the
 * consent facts they are captured under. Holds no reference to the native
 * object: the core's listener reaches this through [StateMirror], and a strong
 * path from the listener to the native object would keep a gate the app never
 * closes alive forever.
 *
 * One lock guards everything here. Capturing reads [usageAllowed] and
 * [version] and appends under it; [onState] (called by the listener before
 * `setConsent` & co. return) updates both and, when `usage_events` is no
 * longer allowed, empties the buffer under it. So an event is either appended
 * before a withdrawal's listener call, and then purged by it, or refused.
 *
 * Bounded by [maxEvents] events and [maxBytes] bytes, as the core's
 * `capture_rules()` says (read once at open: the smaller of the core's
 * host-buffer bounds and the policy's queue bounds), so it never holds more than the core
 * would keep. When an event does not fit, the oldest buffered ones are
 * evicted (G8: oldest first) and counted; the count reaches the core, and
 * `QueueStats.evicted`, with the next crossing. The recording thread never
 * crosses to the core itself.
 *
 * Bytes are counted as the core charges them against `max_queue_bytes`: the
 * UTF-8 length of name and properties plus the rules' per-record overhead
 * ([recordBytes]).
 */
internal class CaptureBuffer(rules: CaptureRules) {
    /** Most events held (`max_buffered_events` of the core's rules). */
    val maxEvents: Int = rules.maxBufferedEvents.coerceIn(1L, Int.MAX_VALUE.toLong()).toInt()

    /** Most bytes held (`max_buffered_bytes` of the core's rules). */
    val maxBytes: Long = rules.maxBufferedBytes.coerceAtLeast(1L)

    /** What the core charges a record besides the UTF-8 bytes of its name and properties. */
    private val overhead: Int = rules.recordOverheadBytes.coerceIn(0L, 1024L).toInt()

    /** What the core charges an event against `max_queue_bytes`. */
    fun recordBytes(name: String, json: String?): Int = overhead + utf8Length(name) + (json?.let(::utf8Length) ?: 0)

    /** A background crossing is started once this many events wait. */
    private val crossAt = minOf(CROSS_AT, maxEvents)
    private val initialCapacity = minOf(INITIAL_CAPACITY, maxEvents)

    private val lock = Any()

    // Everything below is guarded by `lock`. The events form a ring: `count`
    // of them from `head`, oldest first; `sizes` holds their byte counts.
    private var ring = arrayOfNulls<CapturedEvent>(initialCapacity)
    private var sizes = IntArray(initialCapacity)
    private var head = 0
    private var count = 0
    private var bytes = 0L
    private var dropped = 0L
    private var evicted = 0L
    private var evictedSinceOpen = 0L
    private var usageAllowed = false
    private var version = 0L
    private var closed = false
    private var timerArmed = false
    private var kickQueued = false

    /** Events waiting to cross. */
    val size: Int get() = synchronized(lock) { count }

    /** Events this buffer evicted because it was full, since open. */
    val evictedTotal: Long get() = synchronized(lock) { evictedSinceOpen }

    /** What the caller of [append] must do next. */
    enum class Next { NOTHING, ARM_TIMER, CROSS_SOON }

    /** What [take] hands to the core: events oldest first, and the host-side drop and eviction counts. */
    class Batch(val events: List<CapturedEvent>, val dropped: Long, val evicted: Long)

    /**
     * Appends `names[i]`/`jsons[i]` (of `sizes[i]` bytes, see [recordBytes])
     * for `i < count`, all captured at `atMs` under the mirrored consent
     * version, evicting the oldest events when they do not fit; or counts
     * them as dropped when `usage_events` is not allowed. Returns null when
     * dropped.
     */
    fun append(names: Array<String>, jsons: Array<String?>, sizes: IntArray, count: Int, atMs: Long): Next? {
        synchronized(lock) {
            if (closed) throw GateException.Closed()
            if (!usageAllowed) {
                dropped += count
                return null
            }
            val evictedBefore = evicted
            // The oldest of a batch larger than the whole buffer would only be
            // evicted by its own newest events: count them without building them.
            val first = maxOf(0, count - maxEvents)
            evictLocked(first.toLong())
            val v = version
            for (i in first until count) {
                makeRoomLocked(sizes[i])
                pushLocked(CapturedEvent(names[i], jsons[i], atMs, v), sizes[i])
            }
            return nextLocked(evicted != evictedBefore)
        }
    }

    /** [append] for one event, without the arrays. */
    fun append(name: String, json: String?, size: Int, atMs: Long): Next? {
        synchronized(lock) {
            if (closed) throw GateException.Closed()
            if (!usageAllowed) {
                dropped++
                return null
            }
            val evictedBefore = evicted
            makeRoomLocked(size)
            pushLocked(CapturedEvent(name, json, atMs, version), size)
            return nextLocked(evicted != evictedBefore)
        }
    }

    /**
     * Evicts the oldest events until one of `size` bytes fits. An event
     * larger than [maxBytes] on its own is kept alone: the core evicts it
     * (or refuses it as invalid) and counts it.
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

    private fun nextLocked(evictedNow: Boolean): Next = when {
        // Full (evicting) or enough waiting: cross in the background, once.
        evictedNow || count >= crossAt -> if (kickQueued) Next.NOTHING else Next.CROSS_SOON.also { kickQueued = true }
        timerArmed -> Next.NOTHING
        else -> Next.ARM_TIMER.also { timerArmed = true }
    }

    /**
     * The core's consent state changed (called under the mirror's lock, with
     * versions that only go up). Without `usage_events` every buffered event
     * is purged: each was captured under an earlier version at which it was
     * allowed, so a withdrawal happened since, and the core would drop it
     * at crossing anyway. The drop and eviction counts stay for the next
     * crossing.
     */
    fun onState(usageAllowed: Boolean, version: Long) {
        synchronized(lock) {
            if (closed) return
            this.usageAllowed = usageAllowed
            this.version = version
            if (!usageAllowed && count > 0) resetLocked(initialCapacity)
        }
    }

    /**
     * Takes what is buffered and the host-side drop and eviction counts
     * (which restart from zero); `close` also refuses later captures. Null
     * when there is nothing to hand over.
     */
    fun take(close: Boolean): Batch? {
        synchronized(lock) {
            timerArmed = false
            kickQueued = false
            if (close) {
                closed = true
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

        /**
         * UTF-8 length of well-formed UTF-16 (the encoder and [EventJson.crossableName]
         * leave no lone surrogate): a surrogate pair is 4 bytes, 2 per char.
         */
        private fun utf8Length(s: String): Int {
            var n = s.length
            for (i in 0 until s.length) {
                val c = s[i]
                if (c >= '\u0080') n += if (c < '\u0800' || c.isSurrogate()) 1 else 2
            }
            return n
        }
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
    private val nowMs: () -> Long,
    private val windowMs: Long,
) {
    private val crossLock = Any()

    /** Guarded by [crossLock]: the native object is shut down. */
    private var nativeGone = false

    /** Events the core refused as invalid when they crossed. */
    val invalid = AtomicLong()

    private val task = Runnable {
        try {
            cross()
        } catch (e: Throwable) {
            ConsentGateLogging.log(LogLevel.WARN, "consentgate: background crossing failed: ${e.javaClass.simpleName}")
        }
    }

    /** Captures one event; false when `usage_events` is not allowed (counted as dropped). */
    fun record(name: String, json: String?): Boolean {
        val size = buffer.recordBytes(name, json)
        val next = buffer.append(name, json, size, nowMs()) ?: return false
        dispatch(next)
        return true
    }

    /** Captures `count` events at once; returns how many were accepted (`count` or 0). */
    fun recordAll(names: Array<String>, jsons: Array<String?>, count: Int): Int {
        if (count == 0) return 0
        val sizes = IntArray(count) { buffer.recordBytes(names[it], jsons[it]) }
        val next = buffer.append(names, jsons, sizes, count, nowMs()) ?: return 0
        dispatch(next)
        return count
    }

    private fun dispatch(next: CaptureBuffer.Next) {
        when (next) {
            CaptureBuffer.Next.NOTHING -> {}
            CaptureBuffer.Next.ARM_TIMER -> executor.schedule(task, windowMs, TimeUnit.MILLISECONDS)
            CaptureBuffer.Next.CROSS_SOON -> executor.execute(task)
        }
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
            invalid.addAndGet(report.invalid.toLong())
            ConsentGateLogging.log(
                LogLevel.WARN,
                "consentgate: ${report.invalid} invalid recorded event(s) skipped; first: ${report.firstInvalid}",
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
