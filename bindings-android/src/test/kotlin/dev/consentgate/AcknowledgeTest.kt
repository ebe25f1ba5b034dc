package dev.consentgate

import kotlinx.coroutines.runBlocking
import org.junit.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * Acknowledged policy changes through the Kotlin API: a revision that needs no
 * new consent shows up as [ConsentState.needsAcknowledgement] (in the
 * StateFlow too), survives use and reopening, and [ConsentGate.acknowledgePolicy]
 * records it in the ledger and the export.
 */
class AcknowledgeTest {
    private val revision2 = Fixtures.policy.replaceFirst("\"revision\": 1,", "\"revision\": 2,").also {
        check(it != Fixtures.policy) { "the example policy has no \"revision\": 1" }
    }
    private val shown = PolicyChange(fromRevision = 1, toRevision = 2, noticeUrl = "https://aqkol-city.kz/privacy")

    /** A user who accepted under revision 1; the app now ships revision 2. */
    private fun decidedThenRevision2(): java.io.File {
        val dir = Fixtures.tempDir()
        Fixtures.open(dir).use { it.acceptAllBlocking(ConsentSource.BANNER) }
        return dir
    }

    @Test
    fun a_revision_needing_no_consent_is_due_until_acknowledged(): Unit = runBlocking {
        val dir = decidedThenRevision2()
        Fixtures.open(dir, policyJson = revision2).use { gate ->
            val state = gate.state.value
            assertEquals(shown, state.needsAcknowledgement)
            assertFalse(state.needsPrompt, "no new consent is needed")
            assertTrue(gate.allows("usage_events"))

            // Continued use does not acknowledge anything.
            assertEquals(QUEUED, gate.recordEvent("screen_view"))
            gate.persist()
            assertEquals(shown, gate.state.value.needsAcknowledgement)

            val acknowledged = gate.acknowledgePolicy(ConsentSource.BANNER)
            assertNull(acknowledged.needsAcknowledgement)
            assertEquals(acknowledged, gate.state.value)

            val entry = gate.ledger().last()
            assertEquals(LedgerKind.ACKNOWLEDGEMENT, entry.kind)
            assertEquals(1L, entry.acknowledgedFrom)
            assertEquals(2L, entry.revision)
            assertEquals(ConsentSource.BANNER, entry.source)
            assertEquals("", entry.purpose)
            assertTrue(gate.ledger().dropLast(1).all { it.kind == LedgerKind.DECISION })
            assertTrue(gate.verifyLedger().intact)

            @Suppress("UNCHECKED_CAST")
            val receipts = MiniJson.parse(gate.exportData()).let { (it as Map<String, Any?>)["receipts"] as List<Map<String, Any?>> }
            assertEquals("acknowledgement", receipts.last()["kind"])
        }
        Fixtures.open(dir, policyJson = revision2).use { gate ->
            assertNull(gate.state.value.needsAcknowledgement, "due again after reopening")
        }
    }

    @Test
    fun reopening_leaves_it_due_and_acknowledging_twice_writes_one_entry() {
        val dir = decidedThenRevision2()
        Fixtures.open(dir, policyJson = revision2).close()
        Fixtures.open(dir, policyJson = revision2).use { gate ->
            assertEquals(shown, gate.state.value.needsAcknowledgement)
            gate.acknowledgePolicyBlocking(ConsentSource.SETTINGS)
            val entries = gate.ledgerBlocking().size
            val again = gate.acknowledgePolicyBlocking(ConsentSource.SETTINGS)
            assertNull(again.needsAcknowledgement)
            assertEquals(entries, gate.ledgerBlocking().size, "nothing was due the second time")
        }
    }

    @Test
    fun a_fresh_install_owes_nothing_and_core_sources_are_refused() {
        Fixtures.open().use { gate ->
            assertNull(gate.state.value.needsAcknowledgement)
            assertFailsWith<GateException.InvalidArgument> { gate.acknowledgePolicyBlocking(ConsentSource.MIGRATION) }
        }
    }
}
