package dev.consentgate

import org.junit.After
import org.junit.Test
import java.time.Instant
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicLong
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertTrue

/**
 * The Kotlin-side event buffer behind `recordEvent`: what it holds crosses to
 * the core before anything that must see it, a withdrawal leaves nothing of
 * it anywhere (G3), and invalid events are counted and logged, not lost
 * silently.
 */
class BufferTest {
    private fun granted(gate: ConsentGate) = gate.also {
        it.setConsentBlocking(mapOf("analytics" to true), source = ConsentSource.BANNER)
    }

    private fun queue(gate: ConsentGate): List<*> = MiniJson.parse(gate.exportDataBlocking())["queue"] as List<*>

    @After
    fun quietLogs() {
        ConsentGateLogging.forwardTo(LogLevel.ERROR) { _, _, _ -> }
    }

    @Test
    fun g3_withdrawal_purges_buffered_events_and_none_reach_the_store() {
        val dir = Fixtures.tempDir()
        Fixtures.open(dir, bufferWindowMs = Fixtures.HOLD_MS).use { gate ->
            granted(gate)
            repeat(100) { assertEquals(QUEUED, gate.recordEvent("buffered_marker", mapOf("i" to it))) }
            assertEquals(100, gate.bufferedEvents, "events crossed before anything asked for them")

            gate.setConsentBlocking(mapOf("analytics" to false), source = ConsentSource.SETTINGS)
            assertEquals(0, gate.bufferedEvents)
            assertEquals(0L, gate.queueStatsBlocking().events, "withdrawal left buffered events queued")
            assertEquals(emptyList<Any?>(), queue(gate))
            gate.setConsentBlocking(mapOf("analytics" to true), source = ConsentSource.SETTINGS)
            gate.persistBlocking()
            assertEquals(0L, gate.queueStatsBlocking().events, "buffered events came back with consent")
        }
        Fixtures.open(dir).use { gate ->
            assertEquals(0L, gate.queueStatsBlocking().events, "buffered events reached the store")
            assertEquals(emptyList<Any?>(), queue(gate))
        }
    }

    @Test
    fun g3_reject_all_and_deletion_purge_buffered_events(): Unit =
        Fixtures.open(bufferWindowMs = Fixtures.HOLD_MS).use { gate ->
            gate.acceptAllBlocking(ConsentSource.BANNER)
            repeat(10) { gate.recordEvent("tap") }
            gate.rejectAllBlocking(ConsentSource.SETTINGS)
            assertEquals(0L, gate.queueStatsBlocking().events)

            gate.acceptAllBlocking(ConsentSource.BANNER)
            repeat(10) { gate.recordEvent("tap") }
            gate.requestDeletionBlocking()
            assertEquals(0L, gate.queueStatsBlocking().events)
            assertEquals(emptyList<Any?>(), queue(gate))
        }

    @Test
    fun g3_grant_deny_grant_race_leaves_nothing_after_each_denial() {
        Fixtures.open(Fixtures.memoryDir()).use { gate ->
            val stop = AtomicBoolean(false)
            val queued = AtomicLong()
            val started = CountDownLatch(2)
            val recorders = Executors.newFixedThreadPool(2)
            val futures = (1..2).map { t ->
                recorders.submit {
                    started.countDown()
                    var i = 0
                    while (!stop.get()) {
                        val ok = if (i % 8 == 0) {
                            gate.recordEvents(listOf(Event("batch", mapOf("t" to t)), Event("batch"))) == QUEUED
                        } else {
                            gate.recordEvent("tap", mapOf("t" to t, "i" to i)) == QUEUED
                        }
                        if (ok) queued.incrementAndGet()
                        // Leave the flipper some CPU on a two-core machine.
                        if (++i % 16 == 0) Thread.yield()
                    }
                }
            }
            started.await()
            val failures = Collections.synchronizedList(ArrayList<String>())
            val flipper = Thread {
                try {
                    for (round in 1..ROUNDS) {
                        gate.setConsentBlocking(mapOf("analytics" to true), source = ConsentSource.SETTINGS)
                        if (round % 10 == 0) Thread.sleep(1) // let some rounds buffer more
                        gate.setConsentBlocking(mapOf("analytics" to false), source = ConsentSource.SETTINGS)
                        val left = gate.queueStatsBlocking().events
                        if (left != 0L) failures += "round $round: $left events left after the denial returned"
                        if (failures.size > 5) break
                    }
                } catch (e: Throwable) {
                    failures += "flipper: $e"
                }
            }
            flipper.start()
            flipper.join(300_000)
            assertFalse(flipper.isAlive, "the flipper did not finish")
            stop.set(true)
            futures.forEach { it.get(30, TimeUnit.SECONDS) }
            recorders.shutdown()
            assertEquals(emptyList(), failures)
            assertTrue(queued.get() > 0, "the recorders never got an event queued: the race was not exercised")
            gate.persistBlocking()
            assertEquals(0L, gate.queueStatsBlocking().events)
        }
    }

    @Test
    fun g3_events_captured_before_a_withdrawal_never_land_after_consent_returns() {
        Fixtures.open(Fixtures.memoryDir()).use { gate ->
            gate.setConsentBlocking(mapOf("analytics" to true), source = ConsentSource.SETTINGS)
            val stop = AtomicBoolean(false)
            // Per event: the consent version the mirror showed after recordEvent
            // returned. The buffer stamps an event with the version current
            // when it was appended, which is no newer than this one.
            val seenAfter = java.util.concurrent.ConcurrentHashMap<Long, Long>()
            val recorders = Executors.newFixedThreadPool(2)
            val futures = (0..1).map { t ->
                recorders.submit {
                    var i = 0L
                    while (!stop.get()) {
                        val id = t * 1_000_000_000L + i
                        if (gate.recordEvent("tap", mapOf("id" to id)) == QUEUED) seenAfter[id] = gate.state.value.version
                        if (++i % 16 == 0L) Thread.yield()
                    }
                }
            }
            // Deny and grant back to back: events captured under one grant may
            // still be buffered, or crossing, when the next grant is in force.
            var lastDeny = 0L
            repeat(ROUNDS) {
                lastDeny = gate.setConsentBlocking(mapOf("analytics" to false), source = ConsentSource.SETTINGS).version
                gate.setConsentBlocking(mapOf("analytics" to true), source = ConsentSource.SETTINGS)
            }
            Thread.sleep(50)
            stop.set(true)
            futures.forEach { it.get(30, TimeUnit.SECONDS) }
            recorders.shutdown()
            val survivors = queue(gate).map { (it["props"]["id"] as Double).toLong() }
            assertTrue(survivors.isNotEmpty(), "nothing recorded after the last grant")
            val stale = survivors.filter { seenAfter.getValue(it) < lastDeny }
            assertEquals(emptyList(), stale, "events captured before the last withdrawal (version $lastDeny) landed")
        }
    }

    @Test
    fun invalid_event_via_record_event_is_refused_at_once_counted_and_logged_without_payload() {
        val lines = Collections.synchronizedList(ArrayList<Triple<LogLevel, String, String>>())
        ConsentGateLogging.forwardTo(LogLevel.DEBUG) { level, target, message -> lines += Triple(level, target, message) }
        Fixtures.open(bufferWindowMs = Fixtures.HOLD_MS).use { gate ->
            granted(gate)
            var deep: Map<String, Any?> = mapOf("leaf" to "secret-leaf-value")
            repeat(8) { deep = mapOf("n" to deep) }
            // Refused on the calling thread, with the rule, before anything is queued.
            val badName = assertIs<RecordResult.Invalid>(gate.recordEvent("9lives", mapOf("card" to "secret-card-4111")))
            assertTrue("event name" in badName.reason, badName.reason)
            val tooDeep = assertIs<RecordResult.Invalid>(gate.recordEvent("fine", deep))
            assertTrue("nested 9 levels deep; the limit is 8" in tooDeep.reason, tooDeep.reason)
            assertEquals(2L, gate.invalidEvents, "counted at once, not when the buffer crosses")
            assertEquals(0, gate.bufferedEvents, "an invalid event was buffered")
            assertEquals(QUEUED, gate.recordEvent("valid_one"))

            assertEquals(1L, gate.queueStatsBlocking().events, "only the valid event is queued")
            assertEquals(2L, gate.invalidEvents)
            // The first refusal is a warning, later ones are debug lines; none carries the payload.
            val refusals = lines.filter { "invalid" in it.third }
            assertEquals(listOf(LogLevel.WARN, LogLevel.DEBUG), refusals.map { it.first }, lines.toString())
            assertTrue(refusals.all { it.second.startsWith("consentgate") }, refusals.toString())
            val leaked = lines.filter { l -> listOf("secret", "9lives").any { it in l.third } }
            assertEquals(emptyList(), leaked, "a payload reached the log")

            // The synchronous variant reports the same problem as a typed error.
            assertFailsWith<GateException.InvalidArgument> { gate.recordEventNowBlocking("9lives") }
            assertFailsWith<GateException.InvalidArgument> { gate.recordEventNowBlocking("fine", deep) }
            assertEquals(2L, gate.invalidEvents)
            assertEquals(1L, gate.queueStatsBlocking().events)
        }
    }

    @Test
    fun a_string_utf8_cannot_carry_costs_only_its_own_event(): Unit =
        Fixtures.open(bufferWindowMs = Fixtures.HOLD_MS).use { gate ->
            granted(gate)
            val lone = "\uD800"
            assertEquals(QUEUED, gate.recordEvent("before", mapOf("emoji" to "\uD83D\uDE00 ok")))
            assertIs<RecordResult.Invalid>(gate.recordEvent("bad${lone}name"))
            val badProps = assertIs<RecordResult.Invalid>(gate.recordEvent("bad_props", mapOf("v" to "x${lone}y")))
            assertTrue("lone surrogate" in badProps.reason, badProps.reason)
            assertEquals(QUEUED, gate.recordEvent("after"))
            assertEquals(2L, gate.queueStatsBlocking().events, "the batch was lost with its malformed events")
            assertEquals(2L, gate.invalidEvents)
            val stored = queue(gate)
            assertEquals(listOf("before", "after"), stored.map { it["name"] })
            assertEquals("\uD83D\uDE00 ok", stored[0]["props"]["emoji"])
        }

    @Test
    fun buffered_events_count_in_queue_stats(): Unit = Fixtures.open(bufferWindowMs = Fixtures.HOLD_MS).use { gate ->
        granted(gate)
        repeat(5) { gate.recordEvent("screen_view", mapOf("screen" to "home")) }
        assertEquals(5, gate.bufferedEvents)
        val stats = gate.queueStatsBlocking()
        assertEquals(0, gate.bufferedEvents, "queueStats did not cross first")
        assertEquals(5L, stats.events)
        assertTrue(stats.bytes > 0L)
        // Drops made on the Kotlin side are counted too.
        gate.setConsentBlocking(mapOf("analytics" to false), source = ConsentSource.SETTINGS)
        repeat(3) { assertEquals(NO_CONSENT, gate.recordEvent("screen_view")) }
        assertEquals(3L, gate.queueStatsBlocking().droppedNoConsent)
    }

    @Test
    fun close_crosses_what_is_buffered() {
        val dir = Fixtures.tempDir()
        Fixtures.open(dir, bufferWindowMs = Fixtures.HOLD_MS).use { gate ->
            granted(gate)
            repeat(7) { gate.recordEvent("before_close", mapOf("i" to it)) }
            assertEquals(7, gate.bufferedEvents)
        }
        Fixtures.open(dir).use { gate ->
            assertEquals(7L, gate.queueStatsBlocking().events, "events buffered at close were lost")
            assertEquals((0..6).map { it.toDouble() }, queue(gate).map { it["props"]["i"] })
        }
    }

    @Test
    fun events_cross_in_the_background_by_time_and_by_count() {
        Fixtures.open(bufferWindowMs = 50).use { gate ->
            granted(gate)
            gate.recordEvent("soon")
            awaitTrue("the window did not cross the buffer") { gate.bufferedEvents == 0 }
        }
        Fixtures.open(bufferWindowMs = Fixtures.HOLD_MS).use { gate ->
            granted(gate)
            repeat(255) { gate.recordEvent("tap") }
            Thread.sleep(100)
            assertEquals(255, gate.bufferedEvents, "crossed before the window or the count")
            gate.recordEvent("tap")
            awaitTrue("256 waiting events did not cross") { gate.bufferedEvents == 0 }
            assertEquals(256L, gate.queueStatsBlocking().events)
        }
    }

    @Test
    fun capture_time_is_kept_when_events_cross_later() {
        val clock = ManualClock()
        val capturedAt = clock.nowMs()
        Fixtures.open(clock = clock, bufferWindowMs = Fixtures.HOLD_MS).use { gate ->
            granted(gate)
            gate.recordEvent("captured_early")
            gate.recordEvents(listOf(Event("batch_early")))
            clock.advanceMs(3_600_000)
            gate.recordEvent("captured_late")
            val times = queue(gate).associate { it["name"] to Instant.parse(it["ts"] as String).toEpochMilli() }
            assertEquals(capturedAt, times["captured_early"], "the crossing time replaced the capture time")
            assertEquals(capturedAt, times["batch_early"])
            assertEquals(capturedAt + 3_600_000, times["captured_late"])
        }
    }

    @Test
    fun many_threads_record_through_the_buffer_without_silent_loss(): Unit = Fixtures.open().use { gate ->
        granted(gate)
        val threads = 8
        val perThread = 2_000
        val pool = Executors.newFixedThreadPool(threads)
        val go = CountDownLatch(1)
        val futures = (1..threads).map { t ->
            pool.submit {
                go.await()
                repeat(perThread) { i ->
                    if (i % 10 == 0) {
                        check(gate.recordEvents(listOf(Event("batched", mapOf("thread" to t, "i" to i)))) == QUEUED)
                    } else {
                        check(QUEUED == gate.recordEvent("tap", mapOf("thread" to t, "i" to i)))
                    }
                }
            }
        }
        go.countDown()
        futures.forEach { it.get(60, TimeUnit.SECONDS) }
        pool.shutdown()
        // Eight threads on two cores can outrun the crossing thread: the
        // buffer then evicts its oldest events rather than slowing them
        // down. Every event is either queued or counted as evicted, and the
        // core (16,000 events, under its bound of 20,000) evicts nothing.
        val stats = gate.queueStatsBlocking()
        assertEquals((threads * perThread).toLong(), stats.events + stats.evicted, "events lost silently")
        assertEquals(gate.evictedEvents, stats.evicted)
        assertEquals(0L, stats.droppedNoConsent)
        assertEquals(0L, gate.invalidEvents)
        // No event is queued twice.
        val keys = queue(gate).map { it["props"]["thread"] to it["props"]["i"] }
        assertEquals(keys.size, keys.toSet().size)
        assertEquals(stats.events, keys.size.toLong())
    }

    @Test
    fun g8_a_batch_larger_than_the_buffer_keeps_its_newest_events_and_counts_the_rest() {
        val policy = Fixtures.policyWithLimits(maxQueueEvents = SMALL_QUEUE.toLong(), maxBatchEvents = 100)
        Fixtures.open(policyJson = policy, bufferWindowMs = Fixtures.HOLD_MS).use { gate ->
            granted(gate)
            val total = 5_000
            val t0 = System.nanoTime()
            assertEquals(QUEUED, gate.recordEvents(List(total) { Event("flood", mapOf("id" to it)) }))
            val callMs = (System.nanoTime() - t0) / 1e6
            // Counted on the calling thread, in the same step as the append.
            assertEquals((total - SMALL_QUEUE).toLong(), gate.evictedEvents)
            assertTrue(gate.bufferedEvents <= SMALL_QUEUE)

            gate.persistBlocking()
            val stats = gate.queueStatsBlocking()
            assertTrue(stats.events <= SMALL_QUEUE.toLong(), "${stats.events} events queued (call: $callMs ms)")
            assertTrue(stats.evicted > 0L)
            assertEquals(total.toLong(), stats.events + stats.evicted + stats.droppedNoConsent, "events lost silently")
            assertEquals(SMALL_QUEUE.toLong(), stats.events)
            assertEquals((total - SMALL_QUEUE).toLong(), stats.evicted)
            // Oldest first: the newest events are the ones kept, in order.
            val ids = queue(gate).map { (it["props"]["id"] as Double).toInt() }
            assertEquals((total - SMALL_QUEUE until total).toList(), ids)
        }
    }

    @Test
    fun g8_recording_faster_than_crossing_evicts_the_oldest_and_nothing_is_silent() {
        val policy = Fixtures.policyWithLimits(maxQueueEvents = SMALL_QUEUE.toLong(), maxBatchEvents = 100)
        Fixtures.open(policyJson = policy).use { gate ->
            // Drops for lack of consent count too.
            repeat(100) { assertEquals(NO_CONSENT, gate.recordEvent("before_consent")) }
            granted(gate)
            val total = 5_000
            // A tight loop, with background crossings (at 256 events, and
            // whenever the buffer is full) racing it.
            for (i in 0 until total) {
                if (i % 100 == 50) {
                    assertEquals(QUEUED, gate.recordEvents(List(10) { Event("flood", mapOf("id" to i + it)) }))
                } else if (i % 100 !in 51..59) {
                    assertEquals(QUEUED, gate.recordEvent("flood", mapOf("id" to i)))
                }
            }
            gate.persistBlocking()
            val stats = gate.queueStatsBlocking()
            val recorded = (100 + total).toLong()
            assertTrue(stats.events <= SMALL_QUEUE.toLong(), "${stats.events} events queued")
            assertTrue(stats.evicted > 0L)
            assertEquals(recorded, stats.events + stats.evicted + stats.droppedNoConsent, "events lost silently")
            assertEquals(100L, stats.droppedNoConsent)
            assertTrue(gate.evictedEvents <= stats.evicted)
            // Whatever the buffer or the core evicted, the newest events are
            // the ones kept: an event the buffer evicts has SMALL_QUEUE newer ones.
            val ids = queue(gate).map { (it["props"]["id"] as Double).toInt() }
            assertEquals((total - SMALL_QUEUE until total).toList(), ids)
            println("BufferTest: tight loop of $total events, ${gate.evictedEvents} evicted on the Kotlin side, ${stats.evicted} in all")
        }
    }

    @Test
    fun g8_the_byte_bound_counts_bytes_as_the_core_does() {
        val maxBytes = 4_096L
        val policy = Fixtures.policyWithLimits(maxQueueBytes = maxBytes, maxBatchBytes = 2_048)
        Fixtures.open(policyJson = policy, bufferWindowMs = Fixtures.HOLD_MS).use { gate ->
            granted(gate)
            // Cyrillic (2 bytes a char in UTF-8) and an emoji (a surrogate pair, 4 bytes).
            val props = mapOf("greeting" to "Привет, мир \uD83D\uDE00")
            val json = "{\"greeting\":\"Привет, мир \uD83D\uDE00\"}"
            val size = "wave".toByteArray(Charsets.UTF_8).size + json.toByteArray(Charsets.UTF_8).size + 16
            val fits = (maxBytes / size).toInt()
            val total = 1_000
            assertEquals(QUEUED, gate.recordEvents(List(total) { Event("wave", props) }))
            assertEquals((total - fits).toLong(), gate.evictedEvents)

            val stats = gate.queueStatsBlocking()
            assertEquals(fits.toLong(), stats.events)
            assertEquals((fits * size).toLong(), stats.bytes, "the buffer and the core count bytes differently")
            assertEquals((total - fits).toLong(), stats.evicted)
            assertEquals(props["greeting"], queue(gate).last()["props"]["greeting"])
        }
    }

    private companion object {
        /** Grant/deny rounds of the race test: 2,000 consent changes. */
        const val ROUNDS = 1000

        /** `max_queue_events` of the eviction tests' policy, below the buffer's own 8,192. */
        const val SMALL_QUEUE = 300
    }

    private fun awaitTrue(message: String, condition: () -> Boolean) {
        val deadline = System.nanoTime() + 10_000_000_000L
        while (!condition()) {
            assertTrue(System.nanoTime() < deadline, message)
            Thread.sleep(5)
        }
    }
}
