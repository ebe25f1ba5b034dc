package dev.consentgate

import org.junit.Test
import java.util.concurrent.atomic.AtomicInteger
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * The install referrer ("how you found us") through the Kotlin API: the
 * provider is never asked before `install_referrer` (advertising, in the
 * example policy) is allowed, its answer shows in exportData, and a
 * withdrawal drops it.
 */
class ReferrerTest {
    private class Spy(private val answer: InstallReferrer? = REFERRER) : InstallReferrerProvider {
        val calls = AtomicInteger()
        override fun installReferrer(): InstallReferrer? = answer.also { calls.incrementAndGet() }
    }

    @Test
    fun g1_the_provider_is_never_asked_before_consent_and_its_answer_is_exported_after(): Unit =
        Fixtures.open().use { gate ->
            val spy = Spy()
            assertNull(gate.installReferrerBlocking(spy))
            gate.setConsentBlocking(mapOf("analytics" to true), ConsentSource.BANNER)
            assertNull(gate.installReferrerBlocking(spy), "analytics alone does not allow install_referrer")
            assertEquals(0, spy.calls.get(), "never asked before consent")
            assertFalse(gate.exportDataBlocking().contains(REFERRER.referrer))

            gate.setConsentBlocking(mapOf("advertising" to true), ConsentSource.BANNER)
            assertEquals(REFERRER, gate.installReferrerBlocking(spy))
            assertEquals(1, spy.calls.get())
            @Suppress("UNCHECKED_CAST")
            val export = MiniJson.parse(gate.exportDataBlocking()) as Map<String, Any?>
            assertEquals(
                mapOf("referrer" to REFERRER.referrer, "clicked_at_s" to 1_767_225_000.0, "install_began_at_s" to 1_767_225_060.0),
                export["install_referrer_in_memory"],
            )

            // Withdrawal drops it, and the provider is not asked again.
            gate.setConsentBlocking(mapOf("advertising" to false), ConsentSource.SETTINGS)
            assertFalse(gate.exportDataBlocking().contains(REFERRER.referrer))
            assertNull(gate.installReferrerBlocking(spy))
            assertEquals(1, spy.calls.get())
        }

    @Test
    fun unknown_timestamps_empty_referrers_and_failures_count_as_absent(): Unit = Fixtures.open().use { gate ->
        gate.acceptAllBlocking(ConsentSource.BANNER)
        assertEquals(
            InstallReferrer("utm_source=store"),
            gate.installReferrerBlocking(Spy(InstallReferrer("utm_source=store", clickedAtS = 0, installBeganAtS = 0))),
        )
        assertNull(gate.installReferrerBlocking(Spy(InstallReferrer(" "))))
        assertNull(gate.installReferrerBlocking { throw IllegalStateException("Play Store gone") })
        assertNull(gate.installReferrerBlocking(Spy(null)))
    }

    @Test
    fun the_suspend_form_asks_on_the_dispatcher_and_a_deletion_drops_the_answer(): Unit = Fixtures.open().use { gate ->
        gate.acceptAllBlocking(ConsentSource.BANNER)
        val caller = Thread.currentThread()
        var askedOn: Thread? = null
        val answer = kotlinx.coroutines.runBlocking {
            gate.installReferrer { askedOn = Thread.currentThread(); REFERRER }
        }
        assertEquals(REFERRER, answer)
        assertTrue(askedOn != null && askedOn != caller, "asked off the caller's thread")
        assertTrue(gate.exportDataBlocking().contains(REFERRER.referrer))
        gate.requestDeletionBlocking()
        assertFalse(gate.exportDataBlocking().contains(REFERRER.referrer))
    }

    @Test
    fun a_closed_gate_asks_nobody() {
        val gate = Fixtures.open()
        gate.acceptAllBlocking(ConsentSource.BANNER)
        gate.close()
        val spy = Spy()
        assertNull(gate.installReferrerBlocking(spy))
        assertEquals(0, spy.calls.get())
    }

    private companion object {
        val REFERRER = InstallReferrer(
            referrer = "utm_source=partner_app&utm_medium=banner&gclid=abc123",
            clickedAtS = 1_767_225_000,
            installBeganAtS = 1_767_225_060,
        )
    }
}
