package dev.consentgate

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Test
import java.util.Collections
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertTrue

/** Consent decisions through the Kotlin API: fail-closed start, round trips, StateFlow, errors. */
class ConsentFlowTest {
    private val categories = listOf("device_info", "advertising_id", "usage_events", "account_id")

    @Test
    fun g1_fresh_install_allows_nothing_and_drops_events(): Unit = Fixtures.open().use { gate ->
        categories.forEach { assertFalse(gate.allows(it), "$it allowed on a fresh install") }
        assertFalse(gate.allows("no_such_category"))
        val state = gate.state.value
        assertTrue(state.needsPrompt)
        assertTrue(PromptReason.NO_DECISION in state.promptReasons)
        assertEquals(emptyList(), state.allowedCategories)
        state.purposes.filter { it.kind == PurposeKind.CONSENT }
            .forEach { assertEquals(ConsentStatus.UNSET, it.status, it.id) }

        assertEquals(NO_CONSENT, gate.recordEvent("screen_view"), "an event was queued without consent")
        assertEquals(0, gate.bufferedEvents)
        assertEquals(RecordOutcome.Dropped(DropReason.NO_CONSENT), gate.recordEventNowBlocking("screen_view"))
        val stats = gate.queueStatsBlocking()
        assertEquals(0L, stats.events)
        assertEquals(2L, stats.droppedNoConsent, "the Kotlin-side drop and the core's both count")
    }

    @Test
    fun g4_consent_round_trip_survives_reopen() {
        val dir = Fixtures.tempDir()
        Fixtures.open(dir).use { gate ->
            val state = gate.setConsentBlocking(mapOf("analytics" to true, "advertising" to false), source = ConsentSource.BANNER)
            assertTrue(gate.allows("usage_events"))
            assertTrue(gate.allows("device_info"))
            assertFalse(gate.allows("advertising_id"))
            assertEquals(state, gate.state.value)
            assertEquals(ConsentStatus.GRANTED, state.purposes.single { it.id == "analytics" }.status)
        }
        Fixtures.open(dir).use { gate ->
            assertTrue(gate.allows("usage_events"), "decision lost across close/open")
            assertFalse(gate.allows("advertising_id"))
            val analytics = gate.ledgerBlocking().single { it.purpose == "analytics" }
            assertEquals(ConsentStatus.GRANTED, analytics.status)
            assertEquals(ConsentSource.BANNER, analytics.source)
            assertEquals("1.2.3", analytics.appVersion)
            assertTrue(gate.verifyLedgerBlocking().intact)
        }
    }

    @Test
    fun state_flow_emits_each_committed_change(): Unit = runBlocking {
        Fixtures.open().use { gate ->
            val seen = Collections.synchronizedList(ArrayList<Boolean>())
            val collector = launch(Dispatchers.Default) {
                gate.state.collect { seen += "usage_events" in it.allowedCategories }
            }
            withTimeout(5_000) { gate.state.first { !it.allowedCategories.contains("usage_events") } }

            gate.setConsentBlocking(mapOf("analytics" to true), source = ConsentSource.BANNER)
            // The flow holds the new state before setConsent returns...
            assertTrue("usage_events" in gate.state.value.allowedCategories)
            // ...and a collector on another thread sees it.
            withTimeout(5_000) { while (seen.lastOrNull() != true) kotlinx.coroutines.delay(5) }

            gate.setConsentBlocking(mapOf("analytics" to false), source = ConsentSource.SETTINGS)
            assertFalse("usage_events" in gate.state.value.allowedCategories)
            withTimeout(5_000) { while (seen.lastOrNull() != false) kotlinx.coroutines.delay(5) }
            collector.cancel()
            assertTrue(seen.size >= 3, "expected at least three emissions, saw $seen")
        }
    }

    @Test
    fun allows_mirror_is_current_on_every_thread_once_a_change_returns(): Unit = Fixtures.open().use { gate ->
        repeat(20) { i ->
            val grant = i % 2 == 0
            gate.setConsentBlocking(mapOf("analytics" to grant), source = ConsentSource.SETTINGS)
            var seenElsewhere: Boolean? = null
            Thread { seenElsewhere = gate.allows("usage_events") }.apply { start(); join() }
            assertEquals(grant, seenElsewhere, "round $i")
            assertEquals(grant, "usage_events" in gate.state.value.allowedCategories)
        }
    }

    @Test
    fun accept_all_then_reject_all(): Unit = Fixtures.open().use { gate ->
        val accepted = gate.acceptAllBlocking(ConsentSource.BANNER)
        assertFalse(accepted.needsPrompt)
        categories.forEach { assertTrue(gate.allows(it), it) }
        gate.rejectAllBlocking(ConsentSource.SETTINGS)
        categories.forEach { assertFalse(gate.allows(it), it) }
        assertFalse(gate.state.value.needsPrompt, "rejecting is a decision too")
        val sources = gate.ledgerBlocking().map { it.source }.toSet()
        assertEquals(setOf(ConsentSource.BANNER, ConsentSource.SETTINGS), sources)
    }

    @Test
    fun withdrawing_a_necessary_purpose_is_a_typed_error(): Unit = Fixtures.open().use { gate ->
        val e = assertFailsWith<GateException.NotWithdrawable> {
            gate.setConsentBlocking(mapOf("service" to false), source = ConsentSource.SETTINGS)
        }
        assertEquals("service", e.purpose)
        assertTrue(gate.ledgerBlocking().isEmpty(), "a refused change wrote to the ledger")
    }

    @Test
    fun unknown_purpose_is_a_typed_error(): Unit = Fixtures.open().use { gate ->
        val e = assertFailsWith<GateException.UnknownPurpose> {
            gate.setConsentBlocking(mapOf("analitycs" to true), source = ConsentSource.BANNER)
        }
        assertEquals("analitycs", e.purpose)
        assertFalse(gate.allows("usage_events"))
    }

    @Test
    fun bad_policy_names_the_json_path() {
        val typo = Fixtures.policy.replace("\"requires\": [\"advertising\"]", "\"requires\": [\"advertizing\"]")
        check(typo != Fixtures.policy)
        val e = assertFailsWith<GateException.InvalidPolicy> { Fixtures.open(policyJson = typo) }
        assertEquals("categories[1].requires[0]", e.path)
        assertTrue("categories[1].requires[0]" in e.message, e.message)
        assertTrue(e.errors.any { "advertizing" in it }, e.errors.toString())
    }

    @Test
    fun app_cannot_claim_a_source_the_core_records_itself(): Unit = Fixtures.open().use { gate ->
        assertFailsWith<GateException.InvalidArgument> {
            gate.setConsentBlocking(mapOf("analytics" to true), source = ConsentSource.AGE_GATE)
        }
    }

    @Test
    fun age_gate_denies_and_refuses_grants(): Unit = Fixtures.open().use { gate ->
        gate.acceptAllBlocking(ConsentSource.BANNER)
        val state = gate.setAgeBlocking(15)
        assertTrue(state.ageRestricted)
        assertFalse(gate.allows("usage_events"))
        val e = assertFailsWith<GateException.AgeRestricted> { gate.acceptAllBlocking(ConsentSource.BANNER) }
        assertEquals(18, e.minAge)
        assertFailsWith<GateException.InvalidArgument> { gate.setAgeBlocking(-1) }
        gate.setAgeBlocking(15, parentalConsent = true)
        gate.setConsentBlocking(mapOf("analytics" to true), source = ConsentSource.BANNER)
        assertTrue(gate.allows("usage_events"))
    }

    @Test
    fun decisions_expire_with_the_injected_clock() {
        val dir = Fixtures.tempDir()
        val clock = ManualClock()
        Fixtures.open(dir, clock = clock).use { it.setConsentBlocking(mapOf("analytics" to true), source = ConsentSource.BANNER) }
        clock.advanceDays(366)
        Fixtures.open(dir, clock = clock).use { gate ->
            assertFalse(gate.allows("usage_events"), "a decision older than consent_ttl_days still counts")
            assertTrue(PromptReason.EXPIRED in gate.state.value.promptReasons)
        }
    }

    @Test
    fun closed_gate_fails_closed_with_a_typed_error() {
        val gate = Fixtures.open()
        gate.acceptAllBlocking(ConsentSource.BANNER)
        gate.close()
        gate.close() // idempotent
        assertTrue(gate.isClosed)
        assertFalse(gate.allows("usage_events"))
        assertFailsWith<GateException.Closed> { gate.recordEvent("screen_view") }
        assertFailsWith<GateException.Closed> { gate.recordEventNowBlocking("screen_view") }
        assertFailsWith<GateException.Closed> { gate.setConsentBlocking(mapOf("analytics" to false), ConsentSource.SETTINGS) }
        assertIs<GateException>(runCatching { gate.queueStatsBlocking() }.exceptionOrNull())
        assertEquals(null, gate.advertisingIdBlocking { "38400000-8cf0-11bd-b23e-10b96e40000d" })
    }
}
