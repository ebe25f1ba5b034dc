package dev.consentgate

import org.junit.Test
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import kotlin.test.assertTrue

/** Recording events: properties as JSON, batching, withdrawal purges, threads. */
class EventsTest {
    private fun grantedGate(): ConsentGate =
        Fixtures.open().also { it.setConsentBlocking(mapOf("analytics" to true), source = ConsentSource.BANNER) }

    @Test
    fun properties_reach_the_store_as_the_json_the_app_meant(): Unit = grantedGate().use { gate ->
        val props = mapOf(
            "screen" to "home",
            "quote" to "say \"hi\"\\ \n\t\u0001 Алматы ✓",
            "count" to 3,
            "big" to 9_007_199_254_740_993L,
            "ratio" to 0.25,
            "whole_double" to 2.0,
            "ok" to true,
            "nothing" to null,
            "tags" to listOf("a", 1, false, null),
            "nested" to mapOf("level2" to mapOf("level3" to arrayOf<Any>(1.5, "x"))),
            "unsigned" to 7,
        )
        assertEquals(QUEUED, gate.recordEvent("screen_view", props))
        val export = gate.exportDataBlocking()
        assertTrue("9007199254740993" in export, "a Long lost precision on the way")
        val doc = MiniJson.parse(export)
        val stored = doc["queue"][0]
        assertEquals("screen_view", stored["name"])
        val p = stored["props"]
        assertEquals("home", p["screen"])
        assertEquals(props["quote"], p["quote"])
        assertEquals(3.0, p["count"])
        assertEquals(0.25, p["ratio"])
        assertEquals(2.0, p["whole_double"])
        assertEquals(true, p["ok"])
        assertTrue(p.let { it as Map<*, *> }.containsKey("nothing") && p["nothing"] == null)
        assertEquals(listOf("a", 1.0, false, null), p["tags"])
        assertEquals(listOf(1.5, "x"), p["nested"]["level2"]["level3"])
        assertEquals(7.0, p["unsigned"])
    }

    @Test
    fun export_is_one_json_document_with_the_subject_data(): Unit = grantedGate().use { gate ->
        gate.setUserIdBlocking("user-42")
        gate.recordEvent("login")
        val doc = MiniJson.parse(gate.exportDataBlocking())
        for (key in listOf("installation_id", "policy", "consent", "ledger", "receipts", "queue")) {
            assertTrue((doc as Map<*, *>).containsKey(key), "export has no $key")
        }
        assertEquals(gate.installationIdBlocking(), doc["installation_id"])
        assertEquals("user-42", doc["user_id"])
        assertEquals("aqkol-city-app", doc["policy"]["id"])
        assertEquals("analytics", doc["ledger"][0]["purpose"])
    }

    @Test
    fun bad_event_name_is_a_typed_error_from_record_event_now(): Unit = grantedGate().use { gate ->
        assertFailsWith<GateException.InvalidArgument> { gate.recordEventNowBlocking("9lives") }
        assertFailsWith<GateException.InvalidArgument> { gate.recordEventNowBlocking("has space") }
        assertEquals(0L, gate.queueStatsBlocking().events)
        assertEquals(0L, gate.invalidEvents, "recordEventNow reports by exception, not by the counter")
    }

    @Test
    fun properties_json_cannot_carry_are_refused_before_the_core(): Unit = grantedGate().use { gate ->
        assertFailsWith<IllegalArgumentException> { gate.recordEvent("e", mapOf("when" to java.util.Date())) }
        assertFailsWith<IllegalArgumentException> { gate.recordEvent("e", mapOf("x" to Double.NaN)) }
        assertFailsWith<IllegalArgumentException> { gate.recordEvent("e", mapOf("m" to mapOf(1 to "a"))) }
        // Encoding happens on the caller's thread, so recordEvent refuses these too.
        assertFailsWith<IllegalArgumentException> { gate.recordEventNowBlocking("e", mapOf("x" to Double.NaN)) }
        // The depth rule is the core's: 9 levels is its InvalidArgument, and
        // recordEvent refuses it by the core's own limit (CaptureRules).
        var deep: Map<String, Any?> = mapOf("leaf" to 1)
        repeat(8) { deep = mapOf("n" to deep) }
        assertFailsWith<GateException.InvalidArgument> { gate.recordEventNowBlocking("e", deep) }
        assertIs<RecordResult.Invalid>(gate.recordEvent("e", deep))
        // A number JSON readers cannot read back (beyond a 64-bit float) has no JSON form either.
        assertFailsWith<IllegalArgumentException> { gate.recordEvent("e", mapOf("big" to java.math.BigDecimal("1e400"))) }
        assertEquals(0L, gate.queueStatsBlocking().events)
    }

    @Test
    fun record_events_queues_a_batch(): Unit = grantedGate().use { gate ->
        val events = (1..100).map { Event("item_viewed", mapOf("index" to it)) }
        assertEquals(QUEUED, gate.recordEvents(events))
        assertEquals(100L, gate.queueStatsBlocking().events)
        val indexes = (MiniJson.parse(gate.exportDataBlocking())["queue"] as List<*>).map { it["props"]["index"] }
        assertEquals((1..100).map { it.toDouble() }, indexes, "events kept their order")
        gate.setConsentBlocking(mapOf("analytics" to false), source = ConsentSource.SETTINGS)
        assertEquals(NO_CONSENT, gate.recordEvents(events), "queued without consent")
    }

    @Test
    fun record_events_now_batches_in_one_call(): Unit = grantedGate().use { gate ->
        val events = (1..100).map { Event("item_viewed", mapOf("index" to it)) }
        val outcomes = gate.recordEventsNowBlocking(events)
        assertEquals(100, outcomes.size)
        val seqs = outcomes.map { (it as RecordOutcome.Recorded).seq }
        assertEquals(seqs.sorted(), seqs)
        assertEquals(100, seqs.toSet().size)
        assertEquals(100L, gate.queueStatsBlocking().events)
    }

    @Test
    fun record_events_refuses_the_whole_batch_when_one_is_invalid(): Unit = grantedGate().use { gate ->
        val e = assertFailsWith<GateException.InvalidArgument> {
            gate.recordEventsNowBlocking(listOf(Event("fine"), Event("not fine!"), Event("fine_too")))
        }
        assertTrue("events[1]" in e.detail, e.detail)
        assertEquals(0L, gate.queueStatsBlocking().events)
    }

    @Test
    fun g3_withdrawal_purges_queued_events(): Unit = grantedGate().use { gate ->
        gate.recordEvents((1..50).map { Event("persisted", mapOf("i" to it)) })
        gate.persistBlocking()
        repeat(10) { gate.recordEvent("buffered") }
        gate.recordEventNowBlocking("in_the_core")
        assertEquals(61L, gate.queueStatsBlocking().events)

        gate.setConsentBlocking(mapOf("analytics" to false), source = ConsentSource.SETTINGS)
        assertEquals(0L, gate.queueStatsBlocking().events, "withdrawal left queued events")
        assertEquals(NO_CONSENT, gate.recordEvent("after"))
        assertEquals(RecordOutcome.Dropped(DropReason.NO_CONSENT), gate.recordEventNowBlocking("after"))
        gate.persistBlocking()
        assertEquals(0L, gate.queueStatsBlocking().events)
        val doc = MiniJson.parse(gate.exportDataBlocking())
        assertEquals(emptyList<Any?>(), doc["queue"])
    }

    @Test
    fun g3_withdrawal_racing_recording_threads_leaves_nothing(): Unit = grantedGate().use { gate ->
        val stop = AtomicBoolean(false)
        val recorded = AtomicInteger()
        val started = CountDownLatch(4)
        val pool = Executors.newFixedThreadPool(4)
        repeat(4) {
            pool.execute {
                started.countDown()
                while (!stop.get()) {
                    if (gate.recordEvent("tap", mapOf("k" to "v")) == QUEUED) recorded.incrementAndGet()
                }
            }
        }
        started.await()
        while (recorded.get() < 200) Thread.sleep(1)
        gate.setConsentBlocking(mapOf("analytics" to false), source = ConsentSource.SETTINGS)
        assertEquals(0L, gate.queueStatsBlocking().events, "an event survived the withdrawal")
        stop.set(true)
        pool.shutdown()
        assertTrue(pool.awaitTermination(30, TimeUnit.SECONDS))
        gate.persistBlocking()
        assertEquals(0L, gate.queueStatsBlocking().events, "an event was recorded after the withdrawal returned")
    }

    @Test
    fun many_threads_record_concurrently_through_jna(): Unit = grantedGate().use { gate ->
        val threads = 8
        val perThread = 250
        val pool = Executors.newFixedThreadPool(threads)
        val seqs = java.util.concurrent.ConcurrentHashMap.newKeySet<Long>()
        val go = CountDownLatch(1)
        val futures = (1..threads).map { t ->
            pool.submit {
                go.await()
                repeat(perThread) { i ->
                    val outcome = if (i % 10 == 0) {
                        gate.recordEventsNowBlocking(listOf(Event("batched", mapOf("t" to t)))).single()
                    } else {
                        gate.recordEventNowBlocking("tap", mapOf("thread" to t, "i" to i))
                    }
                    seqs += (outcome as RecordOutcome.Recorded).seq
                }
            }
        }
        go.countDown()
        futures.forEach { it.get(60, TimeUnit.SECONDS) }
        pool.shutdown()
        assertEquals(threads * perThread, seqs.size, "sequence numbers must be unique")
        gate.persistBlocking()
        assertEquals((threads * perThread).toLong(), gate.queueStatsBlocking().events)
    }
}
