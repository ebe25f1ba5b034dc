package dev.consentgate

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Test
import java.io.File
import java.time.Instant
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicReference
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertNull
import kotlin.test.assertSame
import kotlin.test.assertTrue

/**
 * The non-blocking open: `open` returns before the core has loaded, the gate
 * is fail-closed meanwhile (G1), events recorded then are held and judged
 * against the loaded decisions (G3), writes wait for the load, and a failed
 * open is reported and stays fail-closed.
 */
class LoadingTest {
    /**
     * A clock that keeps the core's open waiting (the core reads the clock
     * while it opens, on the `consentgate-open` thread) until [release], so a
     * test sees the gate while it is loading. Other threads read it freely.
     */
    private class HeldOpenClock(private val inner: ManualClock = ManualClock(System.currentTimeMillis())) : Clock {
        private val gate = CountDownLatch(1)

        override fun nowMs(): Long {
            if (Thread.currentThread().name == "consentgate-open") gate.await(60, TimeUnit.SECONDS)
            return inner.nowMs()
        }

        fun release() = gate.countDown()

        fun advanceMs(ms: Long) = inner.advanceMs(ms)
    }

    private val categories = listOf("device_info", "advertising_id", "usage_events", "account_id")

    private fun queue(gate: ConsentGate): List<*> = MiniJson.parse(gate.exportDataBlocking())["queue"] as List<*>

    /** A data directory whose stored decision for analytics is `granted`. */
    private fun storeWithAnalytics(granted: Boolean): File = Fixtures.tempDir().also { dir ->
        Fixtures.open(dir).use { it.setConsentBlocking(mapOf("analytics" to granted), ConsentSource.BANNER) }
    }

    @After
    fun quietLogs() {
        ConsentGateLogging.forwardTo(LogLevel.ERROR) { _, _, _ -> }
    }

    @Test
    fun g1_open_returns_while_the_core_loads_and_the_loading_state_is_fail_closed() {
        val dir = storeWithAnalytics(granted = true)
        val clock = HeldOpenClock()
        ConsentGate.open(Fixtures.config(dir, clock = clock)).use { gate ->
            // The core is still opening (held by the clock): nothing is allowed.
            val loading = gate.state.value
            assertTrue(loading.isLoading)
            assertEquals(ConsentState.LOADING, loading)
            assertFalse(loading.needsPrompt, "a banner must not be shown before the stored decisions are known")
            categories.forEach { assertFalse(gate.allows(it), "$it allowed while loading") }
            assertNull(gate.openError)
            assertEquals(emptyList(), gate.deletions.value)

            clock.release()
            val loaded = gate.awaitLoadedBlocking()
            assertFalse(loaded.isLoading)
            assertTrue(gate.allows("usage_events"), "the stored grant did not come back after the load")
            assertEquals(loaded, gate.state.value)
        }
    }

    @Test
    fun g3_events_recorded_while_loading_are_kept_when_the_stored_decisions_granted_them() {
        val dir = storeWithAnalytics(granted = true)
        val clock = HeldOpenClock()
        ConsentGate.open(Fixtures.config(dir, clock = clock, bufferWindowMs = Fixtures.HOLD_MS)).use { gate ->
            val capturedAt = clock.nowMs()
            assertSame(RecordResult.Held, gate.recordEvent("while_loading", mapOf("i" to 1)))
            assertSame(RecordResult.Held, gate.recordEvents(listOf(Event("batch_while_loading"))))
            assertEquals(2, gate.bufferedEvents)
            clock.advanceMs(5_000)
            clock.release()
            gate.awaitLoadedBlocking()
            assertEquals(QUEUED, gate.recordEvent("after_load"))

            val stored = queue(gate)
            assertEquals(listOf("while_loading", "batch_while_loading", "after_load"), stored.map { it["name"] })
            val times = stored.map { Instant.parse(it["ts"] as String).toEpochMilli() }
            assertEquals(listOf(capturedAt, capturedAt, capturedAt + 5_000), times, "the capture time was not kept")
            assertEquals(0L, gate.queueStatsBlocking().droppedNoConsent)
        }
    }

    @Test
    fun g3_an_event_recorded_while_loading_is_never_kept_when_usage_was_not_granted_at_capture_time() {
        // Denied in the store, then granted right after the load, before the
        // held events have crossed: they must still be dropped (they were
        // captured while the decision in force was the stored denial).
        for (stored in listOf<Boolean?>(false, null)) {
            val dir = if (stored == null) Fixtures.tempDir() else storeWithAnalytics(granted = stored)
            val clock = HeldOpenClock()
            ConsentGate.open(Fixtures.config(dir, clock = clock, bufferWindowMs = Fixtures.HOLD_MS)).use { gate ->
                repeat(5) { assertSame(RecordResult.Held, gate.recordEvent("while_denied", mapOf("i" to it))) }
                val granting = Thread { gate.setConsentBlocking(mapOf("analytics" to true), ConsentSource.BANNER) }
                granting.start()
                Thread.sleep(50)
                assertTrue(granting.isAlive, "setConsent ran before the gate had loaded")
                clock.release()
                granting.join(30_000)
                assertTrue(gate.allows("usage_events"))
                assertEquals(QUEUED, gate.recordEvent("after_grant"))

                assertEquals(listOf("after_grant"), queue(gate).map { it["name"] }, "stored decision $stored")
                assertEquals(5L, gate.queueStatsBlocking().droppedNoConsent, "the held events were not counted as dropped")
            }
        }
    }

    @Test
    fun writes_made_while_loading_wait_for_the_load_and_the_suspend_forms_suspend(): Unit = runBlocking {
        val clock = HeldOpenClock()
        ConsentGate.open(Fixtures.config(clock = clock)).use { gate ->
            val state = async(Dispatchers.Default) { gate.setConsent(mapOf("analytics" to true), ConsentSource.BANNER) }
            val stats = async(Dispatchers.Default) { gate.queueStats() }
            val loaded = async(Dispatchers.Default) { gate.awaitLoaded() }
            Thread.sleep(100)
            assertFalse(state.isCompleted || stats.isCompleted || loaded.isCompleted, "a call finished before the load")
            clock.release()
            withTimeout(30_000) {
                assertTrue("usage_events" in state.await().allowedCategories)
                stats.await()
                assertFalse(loaded.await().isLoading)
            }
            assertTrue(gate.allows("usage_events"))
        }
    }

    @Test
    fun events_held_while_loading_are_checked_with_the_core_rules_and_bounded() {
        val dir = storeWithAnalytics(granted = true)
        val clock = HeldOpenClock()
        ConsentGate.open(Fixtures.config(dir, clock = clock, bufferWindowMs = Fixtures.HOLD_MS)).use { gate ->
            // Not checkable yet (the rules come from the core): held, then judged.
            assertSame(RecordResult.Held, gate.recordEvent("9lives"))
            assertSame(RecordResult.Held, gate.recordEvent("big", mapOf("blob" to "x".repeat(20_000))))
            val held = ConsentGate.MAX_HELD_WHILE_LOADING
            repeat(held + 200) { gate.recordEvent("flood", mapOf("i" to it)) }
            assertEquals(held, gate.bufferedEvents, "more than the loading bound is held")
            assertEquals(202L, gate.evictedEvents, "evictions beyond the loading bound were not counted")
            clock.release()
            gate.awaitLoadedBlocking()

            val stats = gate.queueStatsBlocking()
            assertEquals(0L, gate.invalidEvents, "the two invalid events were evicted first, oldest first")
            assertEquals(held.toLong(), stats.events)
            assertEquals(202L, stats.evicted)
            val ids = queue(gate).map { (it["props"]["i"] as Double).toInt() }
            assertEquals((200 until held + 200).toList(), ids, "not the newest events were kept")
        }
        // The check itself: invalid events recorded while loading are refused at the load.
        val clock2 = HeldOpenClock()
        ConsentGate.open(Fixtures.config(storeWithAnalytics(granted = true), clock = clock2, bufferWindowMs = Fixtures.HOLD_MS)).use { gate ->
            gate.recordEvent("9lives")
            gate.recordEvent("big", mapOf("blob" to "x".repeat(20_000)))
            gate.recordEvent("fine")
            clock2.release()
            gate.awaitLoadedBlocking()
            assertEquals(2L, gate.invalidEvents)
            assertEquals(listOf("fine"), queue(gate).map { it["name"] })
        }
    }

    @Test
    fun a_failed_open_is_reported_and_the_gate_stays_fail_closed() {
        val lines = java.util.Collections.synchronizedList(ArrayList<Pair<LogLevel, String>>())
        ConsentGateLogging.forwardTo(LogLevel.WARN) { level, _, message -> lines += level to message }
        val typo = Fixtures.policy.replace("\"requires\": [\"advertising\"]", "\"requires\": [\"advertizing\"]")
        val gate = ConsentGate.open(Fixtures.config(policyJson = typo))
        val e = assertFailsWith<GateException.InvalidPolicy> { gate.awaitLoadedBlocking() }
        assertEquals("categories[1].requires[0]", e.path)
        assertSame(e, gate.openError)
        assertTrue(gate.state.value.isLoading, "a gate that could not open left the loading state")
        assertFalse(gate.allows("usage_events"))
        assertEquals(RecordResult.Dropped(DropReason.NO_CONSENT), gate.recordEvent("after_failure"))
        assertSame(e, assertFailsWith<GateException.InvalidPolicy> { gate.setConsentBlocking(mapOf("analytics" to true), ConsentSource.BANNER) })
        assertNull(gate.advertisingIdBlocking { "38400000-8cf0-11bd-b23e-10b96e40000d" })
        assertTrue(lines.any { it.first == LogLevel.ERROR && "could not be opened" in it.second && "categories[1]" in it.second }, lines.toString())
        gate.close()
        assertFailsWith<GateException.InvalidPolicy> { ConsentGate.openBlocking(Fixtures.config(policyJson = typo)) }
    }

    @Test
    fun one_gate_per_directory_a_second_open_is_busy_until_the_first_closes() {
        val dir = Fixtures.tempDir()
        val first = Fixtures.open(dir)
        val second = ConsentGate.open(Fixtures.config(dir))
        val busy = assertFailsWith<GateException.Busy> { second.awaitLoadedBlocking() }
        assertEquals(dir.path, busy.dataDir)
        assertTrue(dir.path in busy.message && "one gate per directory" in busy.message, busy.message)
        assertFailsWith<GateException.Busy> { ConsentGate.openBlocking(Fixtures.config(dir)) }
        second.close()
        first.close()
        // close released the directory: the next open succeeds at once.
        ConsentGate.openBlocking(Fixtures.config(dir)).use { assertFalse(it.state.value.isLoading) }
    }

    @Test
    fun open_blocking_returns_a_loaded_gate(): Unit = ConsentGate.openBlocking(Fixtures.config()).use { gate ->
        assertFalse(gate.state.value.isLoading)
        assertTrue(gate.state.value.needsPrompt)
        assertEquals("aqkol-city-app", gate.state.value.policyId)
        assertEquals(NO_CONSENT, gate.recordEvent("fresh_install"))
    }

    @Test
    fun close_while_loading_waits_for_the_open_and_keeps_granted_held_events() {
        val dir = storeWithAnalytics(granted = true)
        val clock = HeldOpenClock()
        val gate = ConsentGate.open(Fixtures.config(dir, clock = clock, bufferWindowMs = Fixtures.HOLD_MS))
        gate.recordEvent("held_at_close")
        val closed = AtomicReference<Throwable?>()
        val closer = Thread { closed.set(runCatching { gate.close() }.exceptionOrNull()) }
        closer.start()
        Thread.sleep(50)
        assertTrue(gate.isClosed)
        assertFalse(gate.allows("usage_events"))
        clock.release()
        closer.join(30_000)
        assertFalse(closer.isAlive)
        assertNull(closed.get())
        assertFailsWith<GateException.Closed> { gate.queueStatsBlocking() }
        Fixtures.open(dir).use { assertEquals(listOf("held_at_close"), queue(it).map { e -> e["name"] }) }
    }
}
