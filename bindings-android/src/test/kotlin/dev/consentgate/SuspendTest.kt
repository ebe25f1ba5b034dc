package dev.consentgate

import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Test
import java.util.Collections
import java.util.concurrent.Executors
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertTrue

/** The `suspend` forms: they give the blocking forms' answers and do their work on the injected dispatcher. */
class SuspendTest {
    private val pool = Executors.newSingleThreadExecutor { r -> Thread(r, "injected-io").apply { isDaemon = true } }
    private val dispatcher = pool.asCoroutineDispatcher()

    /** Thread names seen by the host callbacks the core calls on the calling thread. */
    private val threads: MutableList<String> = Collections.synchronizedList(ArrayList())

    private fun note() {
        threads += Thread.currentThread().name
    }

    @After
    fun stopPool() {
        pool.shutdownNow()
    }

    private fun openOnPool(): ConsentGate {
        val base = Fixtures.config()
        val config = ConsentGateConfig(
            dataDir = base.dataDir,
            policyJson = base.policyJson,
            appVersion = base.appVersion,
            region = base.region,
            dispatcher = dispatcher,
        )
        return ConsentGate.open(config)
    }

    @Test
    fun every_suspend_form_answers_like_its_blocking_twin_on_the_injected_dispatcher(): Unit = runBlocking {
        openOnPool().use { gate ->
            assertFalse(gate.awaitLoaded().isLoading)
            val granted = gate.setConsent(mapOf("analytics" to true), ConsentSource.BANNER)
            assertTrue(granted.allows("usage_events"))
            assertEquals(granted, gate.state.value)

            val device = gate.collectDeviceInfo(object : DeviceInfoProvider {
                override fun os(): String = "Android".also { note() }
            })
            assertEquals("Android", device.os)

            gate.recordEvent("buffered")
            assertIs<RecordOutcome.Recorded>(gate.recordEventNow("now"))
            assertEquals(2, gate.recordEventsNow(listOf(Event("a"), Event("b"))).size)
            gate.persist()
            assertEquals(4L, gate.queueStats().events)
            assertEquals(gate.queueStatsBlocking(), gate.queueStats())

            gate.setUserId("user-1")
            assertTrue(gate.setAge(30).allowedCategories.contains("usage_events"))
            assertTrue(gate.acceptAll(ConsentSource.SETTINGS).allows("advertising_id"))
            assertEquals(
                "38400000-8cf0-11bd-b23e-10b96e40000d",
                gate.advertisingId { "38400000-8cf0-11bd-b23e-10b96e40000d".also { note() } },
            )
            assertTrue(gate.setPlatformSignals(PlatformSignals(gpc = true)).gpc)
            assertEquals(PlatformSignals(gpc = true), gate.platformSignals)
            assertFalse(gate.rejectAll(ConsentSource.SETTINGS).allows("usage_events"))

            assertEquals(gate.ledgerBlocking(), gate.ledger())
            assertTrue(gate.verifyLedger().intact)
            assertEquals(gate.installationIdBlocking(), gate.installationId())
            assertTrue(gate.exportData().contains("\"ledger\""))

            val ticket = gate.requestDeletion("user_request")
            assertEquals(listOf(ticket), gate.deletionRequests())
            val report = gate.flush(Uploader { note(); UploadResult.NetworkError("offline") }, maxWaitMs = 0)
            assertEquals(1, report.retries)
            assertIs<UploadTask.Wait>(gate.nextUpload(), "the failed deletion request is not backing off")
            gate.completeUpload("no-such-request", UploadResult.Http(200)) // an unknown id is ignored

            // The core called each host callback on the thread of the call: the injected one.
            assertEquals(listOf("injected-io", "injected-io", "injected-io"), threads.toList())
        }
    }

    @Test
    fun suspend_forms_throw_the_same_typed_errors(): Unit = runBlocking {
        openOnPool().use { gate ->
            val e = runCatching { gate.setConsent(mapOf("service" to false), ConsentSource.SETTINGS) }.exceptionOrNull()
            assertIs<GateException.NotWithdrawable>(e)
            assertEquals("service", e.purpose)
            gate.close()
            assertIs<GateException.Closed>(runCatching { gate.queueStats() }.exceptionOrNull())
        }
    }
}
