package dev.consentgate

import org.junit.Test
import kotlin.reflect.KClass
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue

/** What a developer reads: exception messages as sentences, sealed results that print readably. */
class MessagesTest {
    /** A message reads as a sentence: not empty, not a `field=value` dump. */
    private fun assertSentence(e: GateException, vararg words: String) {
        val m = e.message
        assertTrue(m.length > 20, "too short to say anything: \"$m\"")
        assertFalse(Regex("""\b\w+=""").containsMatchIn(m), "reads like a field dump: \"$m\"")
        words.forEach { assertTrue(it in m, "\"$m\" does not mention $it") }
        assertEquals(m, e.localizedMessage)
    }

    @Test
    fun every_gate_exception_the_api_throws_is_a_sentence() {
        val dir = Fixtures.tempDir()
        Fixtures.open(dir).use { gate ->
            assertSentence(
                assertFailsWith<GateException.UnknownPurpose> { gate.setConsentBlocking(mapOf("analitycs" to true), ConsentSource.BANNER) },
                "\"analitycs\"", "the policy does not define it",
            )
            assertSentence(
                assertFailsWith<GateException.NotWithdrawable> { gate.setConsentBlocking(mapOf("service" to false), ConsentSource.SETTINGS) },
                "\"service\"", "cannot be withdrawn",
            )
            assertSentence(
                assertFailsWith<GateException.InvalidArgument> { gate.setConsentBlocking(mapOf("analytics" to true), ConsentSource.AGE_GATE) },
                "invalid argument",
            )
            assertSentence(assertFailsWith<GateException.InvalidArgument> { gate.recordEventNowBlocking("9lives") }, "event name")
            assertSentence(
                assertFailsWith<GateException.InvalidArgument> { gate.recordEventsNowBlocking(listOf(Event("ok"), Event("not ok"))) },
                "events[1]",
            )
            gate.setAgeBlocking(15)
            assertSentence(
                assertFailsWith<GateException.AgeRestricted> { gate.acceptAllBlocking(ConsentSource.BANNER) },
                "minimum age of 18", "parental consent",
            )
            gate.setAgeBlocking(30)
            gate.setPlatformSignalsBlocking(PlatformSignals(gpc = true))
            assertSentence(
                assertFailsWith<GateException.GpcRestricted> { gate.setConsentBlocking(mapOf("advertising" to true), ConsentSource.SETTINGS) },
                "\"advertising\"", "Global Privacy Control",
            )
            assertSentence(assertFailsWith<GateException.Busy> { ConsentGate.openBlocking(Fixtures.config(dir)) }, dir.path, "one gate per directory")
        }
        val closed = Fixtures.open()
        closed.close()
        val e = assertFailsWith<GateException.Closed> { closed.queueStatsBlocking() }
        assertEquals("the ConsentGate was closed; open a new one", e.message)

        val typo = Fixtures.policy.replace("\"requires\": [\"advertising\"]", "\"requires\": [\"advertizing\"]")
        assertSentence(
            assertFailsWith<GateException.InvalidPolicy> { ConsentGate.openBlocking(Fixtures.config(policyJson = typo)) },
            "invalid policy", "categories[1].requires[0]",
        )
        // The two the API cannot be made to throw here say what they are, too.
        assertSentence(GateException.Storage("disk I/O error"), "storage failure: disk I/O error", "retried")
        assertSentence(GateException.Internal("invariant failed"), "internal error", "report")
    }

    @Test
    fun sealed_results_and_values_print_readably() {
        assertEquals("Pending", DeletionStatus.Pending.toString())
        assertEquals("Acknowledged(receiptId=r-1, status=accepted)", DeletionStatus.Acknowledged("r-1", "accepted").toString())
        assertEquals("Queued", RecordResult.Queued.toString())
        assertEquals("Held", RecordResult.Held.toString())
        assertEquals("Dropped(reason=NO_CONSENT)", RecordResult.Dropped(DropReason.NO_CONSENT).toString())
        assertEquals("Recorded(seq=7)", RecordOutcome.Recorded(7).toString())
        assertEquals("Done", UploadTask.Done.toString())
        val request = UploadRequest("id-1", "POST", "https://example.com/v1/batch", listOf(HttpHeader("a", "b")), ByteArray(12))
        assertEquals("UploadRequest(POST https://example.com/v1/batch, requestId=id-1, 1 headers, 12 bytes)", request.toString())

        // Every object of every sealed type of the API prints its name, never `Type$Name@1f2e3d`.
        val sealed: List<KClass<*>> = listOf(
            DeletionStatus::class, RecordResult::class, RecordOutcome::class, UploadTask::class, UploadResult::class,
            GateException::class,
        )
        for (type in sealed) {
            for (sub in type.sealedSubclasses) {
                val o = sub.objectInstance ?: continue
                assertEquals(sub.simpleName, o.toString(), "$type")
            }
        }
    }
}
