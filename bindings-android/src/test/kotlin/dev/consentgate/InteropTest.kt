package dev.consentgate

import org.junit.Test
import java.io.File
import java.security.MessageDigest
import java.util.Collections
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * The policy's `interop` block through the Kotlin API, with an in-memory
 * KeyValueStore standing in for the default SharedPreferences: following
 * another CMP (a fake CMP writes `IABTCF_TCString`), being the CMP (the keys
 * written before the consent call returns), and the Consent Mode v2 signals.
 */
class InteropTest {
    /** SharedPreferences in memory: strings and ints, and every commit. */
    class MemoryStore : KeyValueStore {
        private val values = Collections.synchronizedMap(HashMap<String, Any>())
        val commits: MutableList<List<KeyWrite>> = Collections.synchronizedList(ArrayList())

        override fun getString(key: String): String? = values[key] as? String
        override fun getInt(key: String): Int? = values[key] as? Int
        override fun write(changes: List<KeyWrite>) {
            commits += changes
            for (c in changes) {
                when (c) {
                    is KeyWrite.SetString -> values[c.key] = c.value
                    is KeyWrite.SetInt -> values[c.key] = c.value
                    is KeyWrite.Remove -> values.remove(c.key)
                }
            }
        }

        /** What another CMP (e.g. Google UMP) does: commit its string under the IAB key. */
        fun cmpWrites(tcString: String) {
            values["IABTCF_TCString"] = tcString
            values["IABTCF_gdprApplies"] = 1
        }
    }

    private fun example(name: String) = File(Fixtures.root, "examples/policies/$name").readText()

    private val follow by lazy { example("example-eu.json") }
    private val cmp by lazy { example("example-eu-cmp.json") }

    /** A TC string of core/tests/vectors/tcf.json (IAB's and the generated test strings). */
    private fun vector(prefix: String): String {
        @Suppress("UNCHECKED_CAST")
        val doc = MiniJson.parse(File(Fixtures.root, "core/tests/vectors/tcf.json").readText()) as Map<String, Any?>
        @Suppress("UNCHECKED_CAST")
        val v = (doc["vectors"] as List<Map<String, Any?>>).first { (it["id"] as String).startsWith(prefix) }
        return v["tc_string"] as String
    }

    /**
     * A valid TCF 2.3 string as a registered CMP writes it for these choices:
     * made by a second gate with the example CMP policy, which maps
     * analytics to TCF purposes 1, 8, 9 and advertising to 1, 2, 3, 4, 7 and vendor 755.
     */
    private fun cmpString(decisions: Map<String, Boolean>): String {
        val store = MemoryStore()
        Fixtures.open(policyJson = cmp).use { other ->
            other.setKeyValueStoreBlocking(store)
            other.setConsentBlocking(decisions, ConsentSource.BANNER)
        }
        return assertNotNull(store.getString("IABTCF_TCString"))
    }

    private fun sha256(s: String) =
        MessageDigest.getInstance("SHA-256").digest(s.toByteArray()).joinToString("") { "%02x".format(it) }

    private fun ConsentState.sourceOf(purpose: String) = purposes.first { it.id == purpose }.source

    // ---- following another CMP ----

    @Test
    fun g1_following_a_cmp_its_valid_string_becomes_decisions_with_source_tcf(): Unit =
        Fixtures.open(policyJson = follow).use { gate ->
            val store = MemoryStore()
            // tcf-04: purposes 1, 2, 3, 4, 7, 9, 10 and vendor 755, but not purpose 8.
            val string = vector("tcf-04")
            store.cmpWrites(string)
            val state = gate.setKeyValueStoreBlocking(store)
            assertEquals(ConsentStatus.GRANTED, state.statusOf("advertising"))
            // analytics maps to purposes 1, 8, 9: 8 is refused, so it is never granted (G1).
            assertEquals(ConsentStatus.DENIED, state.statusOf("analytics"))
            assertEquals(ConsentSource.TCF, state.sourceOf("advertising"))
            val interop = assertNotNull(state.interop)
            assertEquals(InteropMode.FOLLOW, interop.mode)
            assertEquals(SignalReport(SignalStatus.APPLIED, string, sha256(string), null), interop.tcf)
            // The mirror follows at once: allows() answers from the string's decisions.
            assertTrue(gate.allows("advertising_id"))
            assertFalse(gate.allows("usage_events"))
            assertEquals(state, gate.state.value)
            val fromTcf = gate.ledgerBlocking().filter { it.source == ConsentSource.TCF }
            assertEquals(setOf("analytics", "advertising"), fromTcf.map { it.purpose }.toSet())
            assertTrue(fromTcf.all { it.signalHash == sha256(string) }, "$fromTcf")
            assertTrue(gate.verifyLedgerBlocking().intact)
            assertEquals(emptyList(), store.commits, "following never writes a key")
        }

    @Test
    fun g1_a_missing_or_invalid_string_changes_nothing_and_is_reported(): Unit =
        Fixtures.open(policyJson = follow).use { gate ->
            val store = MemoryStore()
            assertEquals(SignalStatus.MISSING, gate.setKeyValueStoreBlocking(store).interop?.tcf?.status)

            // tcf-07 decodes but claims legitimate interest for purposes 3 to 5 (TCF 2.2 forbids it).
            store.cmpWrites(vector("tcf-07"))
            var state = gate.interopKeysChangedBlocking()
            val invalid = assertNotNull(state.interop).tcf
            assertEquals(SignalStatus.INVALID, invalid.status)
            assertTrue(invalid.problem.orEmpty().contains("3"), "the broken rule is named: ${invalid.problem}")
            assertTrue(state.purposes.all { it.source == null })

            // tcf-09 cannot be decoded: the field and the bit offset are named.
            store.cmpWrites(vector("tcf-09"))
            state = gate.interopKeysChangedBlocking()
            val problem = assertNotNull(state.interop?.tcf?.problem)
            assertTrue(problem.contains(" at bit "), problem)
            assertEquals(emptyList(), gate.ledgerBlocking(), "nothing changed")
            assertEquals(SignalStatus.INVALID, gate.state.value.interop?.tcf?.status, "the mirror carries the report")

            // A valid string, then garbage: the decisions stay, but no ad is requested on garbage.
            store.cmpWrites(cmpString(mapOf("analytics" to true, "advertising" to true)))
            gate.interopKeysChangedBlocking()
            assertTrue(gate.canRequestAds)
            store.cmpWrites("not a tc string")
            state = gate.interopKeysChangedBlocking()
            assertEquals(ConsentStatus.GRANTED, state.statusOf("advertising"))
            assertEquals(SignalStatus.INVALID, state.interop?.tcf?.status)
            assertFalse(gate.canRequestAds)
            assertEquals(ConsentModeStatus.DENIED, state.consentMode?.adStorage)
        }

    @Test
    fun g3_a_withdrawal_through_the_other_cmp_purges_queued_events(): Unit =
        Fixtures.open(policyJson = follow).use { gate ->
            val store = MemoryStore()
            store.cmpWrites(cmpString(mapOf("analytics" to true, "advertising" to true)))
            assertEquals(ConsentStatus.GRANTED, gate.setKeyValueStoreBlocking(store).statusOf("analytics"))
            repeat(20) { assertEquals(QUEUED, gate.recordEvent("screen_view", mapOf("n" to it))) }
            assertEquals(20, gate.queueStatsBlocking().events)

            // The user withdraws analytics in the other CMP's settings (purposes 1, 8, 9 go).
            store.cmpWrites(cmpString(mapOf("analytics" to false, "advertising" to true)))
            val state = gate.interopKeysChangedBlocking()
            assertEquals(ConsentStatus.DENIED, state.statusOf("analytics"))
            assertFalse(gate.allows("usage_events"))
            assertEquals(0, gate.queueStatsBlocking().events, "queued events purged with the withdrawal")
            assertEquals(NO_CONSENT, gate.recordEvent("screen_view"))
            val last = gate.ledgerBlocking().last { it.purpose == "analytics" }
            assertEquals(ConsentSource.TCF to ConsentStatus.DENIED, last.source to last.status)
        }

    @Test
    fun the_suspend_forms_read_the_keys_too(): Unit = Fixtures.open(policyJson = follow).use { gate ->
        val store = MemoryStore()
        kotlinx.coroutines.runBlocking {
            assertEquals(SignalStatus.MISSING, gate.setKeyValueStore(store).interop?.tcf?.status)
            store.cmpWrites(vector("tcf-04"))
            assertEquals(ConsentStatus.GRANTED, gate.interopKeysChanged().statusOf("advertising"))
        }
    }

    @Test
    fun a_store_that_throws_counts_as_empty_and_never_reaches_the_core(): Unit =
        Fixtures.open(policyJson = follow).use { gate ->
            val broken = object : KeyValueStore {
                override fun getString(key: String): String? = throw IllegalStateException("disk gone")
                override fun getInt(key: String): Int? = throw IllegalStateException("disk gone")
                override fun write(changes: List<KeyWrite>) = throw IllegalStateException("disk gone")
            }
            assertEquals(SignalStatus.MISSING, gate.setKeyValueStoreBlocking(broken).interop?.tcf?.status)
            assertEquals(emptyList(), gate.ledgerBlocking())
        }

    // ---- being the CMP ----

    @Test
    fun being_the_cmp_the_string_and_keys_are_written_before_set_consent_returns(): Unit =
        Fixtures.open(policyJson = cmp).use { gate ->
            val store = MemoryStore()
            gate.setKeyValueStoreBlocking(store)
            // Connected: the refused state of a fresh install is written at once.
            assertEquals("", store.getString("IABTCF_PurposeConsents"))
            assertEquals(4095, store.getInt("IABTCF_CmpSdkID"))
            val commits = store.commits.size

            var state = gate.setConsentBlocking(mapOf("advertising" to true), ConsentSource.BANNER)
            assertEquals(commits + 1, store.commits.size, "one commit per change")
            // Purpose 1 is mapped by analytics too: consented only once both are granted.
            assertEquals("0111001", store.getString("IABTCF_PurposeConsents"))
            assertFalse(state.interop!!.canRequestAds)

            state = gate.setConsentBlocking(mapOf("analytics" to true), ConsentSource.BANNER)
            val interop = assertNotNull(state.interop)
            assertEquals(InteropMode.CMP, interop.mode)
            assertEquals(SignalStatus.WRITTEN, interop.tcf.status)
            assertEquals(store.getString("IABTCF_TCString"), interop.tcf.string)
            assertEquals("111100111", store.getString("IABTCF_PurposeConsents"))
            assertEquals("DE", store.getString("IABTCF_PublisherCC"))
            assertEquals(1, store.getInt("IABTCF_gdprApplies"))
            // GPP applies in this policy: the string with its tcfeuv2 section.
            assertEquals("2", store.getString("IABGPP_GppSID"))
            assertEquals(store.getString("IABTCF_TCString"), store.getString("IABGPP_2_TCString"))
            assertEquals(SignalStatus.WRITTEN, interop.gpp?.status)
            assertTrue(interop.canRequestAds && gate.canRequestAds)
            assertTrue(state.privacyOptionsRequired)
        }

    @Test
    fun g6_being_the_cmp_reject_all_and_deletion_write_the_refused_state(): Unit =
        Fixtures.open(policyJson = cmp).use { gate ->
            val store = MemoryStore()
            gate.setKeyValueStoreBlocking(store)
            gate.acceptAllBlocking(ConsentSource.BANNER)
            assertNotEquals("", store.getString("IABTCF_PurposeConsents"))
            gate.rejectAllBlocking(ConsentSource.BANNER)
            assertEquals("", store.getString("IABTCF_PurposeConsents"))
            assertEquals("", store.getString("IABTCF_VendorConsents"))

            gate.acceptAllBlocking(ConsentSource.BANNER)
            assertEquals(755, store.getString("IABTCF_VendorConsents")?.length)
            val written = store.getString("IABTCF_TCString")
            gate.requestDeletionBlocking()
            assertNotEquals(written, store.getString("IABTCF_TCString"), "a fresh, refusing string")
            assertEquals("", store.getString("IABTCF_PurposeConsents"))
            assertEquals("", store.getString("IABTCF_VendorConsents"))
            assertEquals("", store.getString("IABTCF_SpecialFeaturesOptIns"))
            val cm = assertNotNull(gate.state.value.consentMode)
            assertEquals(ConsentModeStatus.DENIED, cm.adStorage)
            assertEquals(ConsentModeStatus.DENIED, cm.analyticsStorage)
            assertFalse(gate.canRequestAds)
        }

    @Test
    fun following_nothing_is_ever_written(): Unit = Fixtures.open(policyJson = follow).use { gate ->
        val store = MemoryStore()
        gate.setKeyValueStoreBlocking(store)
        gate.acceptAllBlocking(ConsentSource.BANNER)
        gate.requestDeletionBlocking()
        assertEquals(emptyList(), store.commits)
    }

    // ---- Google Consent Mode v2 ----

    @Test
    fun consent_mode_follows_the_mapping_per_type_and_is_pushed_on_every_change(): Unit =
        Fixtures.open(policyJson = cmp).use { gate ->
            gate.setKeyValueStoreBlocking(MemoryStore())
            val pushed = Collections.synchronizedList(ArrayList<ConsentModeSignals>())
            val handle = gate.pushConsentMode { pushed += it }
            val denied = ConsentModeSignals(
                ConsentModeStatus.DENIED, ConsentModeStatus.DENIED, ConsentModeStatus.DENIED, ConsentModeStatus.DENIED,
            )
            assertEquals(listOf(denied), pushed, "pushed at once, fail-closed")
            assertFalse(gate.state.value.privacyOptionsRequired)

            gate.setConsentBlocking(mapOf("analytics" to true), ConsentSource.BANNER)
            val analytics = denied.copy(analyticsStorage = ConsentModeStatus.GRANTED)
            assertEquals(analytics, pushed.last(), "pushed before setConsent returned")
            assertFalse(gate.canRequestAds)
            assertTrue(gate.state.value.privacyOptionsRequired)

            gate.setConsentBlocking(mapOf("cross_border_transfer" to true), ConsentSource.BANNER)
            assertEquals(2, pushed.size, "a change that leaves the signals alone pushes nothing")

            gate.setConsentBlocking(mapOf("advertising" to true), ConsentSource.BANNER)
            val all = ConsentModeSignals(
                ConsentModeStatus.GRANTED, ConsentModeStatus.GRANTED, ConsentModeStatus.GRANTED, ConsentModeStatus.GRANTED,
            )
            assertEquals(all, pushed.last())
            assertTrue(gate.canRequestAds)
            assertEquals(
                "ConsentModeSignals(adStorage=GRANTED, analyticsStorage=GRANTED, adUserData=GRANTED, adPersonalization=GRANTED)",
                gate.state.value.consentMode.toString(),
            )

            handle.close()
            gate.rejectAllBlocking(ConsentSource.SETTINGS)
            assertEquals(3, pushed.size, "nothing pushed once closed")
            assertEquals(denied, gate.state.value.consentMode)
        }

    @Test
    fun following_google_reads_the_tcf_purposes_on_top_of_the_mapping(): Unit =
        Fixtures.open(policyJson = follow).use { gate ->
            val store = MemoryStore()
            store.cmpWrites(cmpString(mapOf("analytics" to true, "advertising" to true)))
            val pushed = Collections.synchronizedList(ArrayList<ConsentModeSignals>())
            gate.pushConsentMode { pushed += it }
            gate.setKeyValueStoreBlocking(store)
            val all = ConsentModeSignals(
                ConsentModeStatus.GRANTED, ConsentModeStatus.GRANTED, ConsentModeStatus.GRANTED, ConsentModeStatus.GRANTED,
            )
            assertEquals(all, pushed.last())
            assertTrue(gate.canRequestAds)
            // The user then refuses advertising in consentgate: every ad type is denied
            // although the string still consents.
            gate.setConsentBlocking(mapOf("advertising" to false), ConsentSource.SETTINGS)
            assertEquals(all.copy(adStorage = ConsentModeStatus.DENIED, adUserData = ConsentModeStatus.DENIED, adPersonalization = ConsentModeStatus.DENIED), pushed.last())
            assertFalse(gate.canRequestAds)
        }

    @Test
    fun without_an_interop_block_there_is_no_interop_view_and_nothing_is_pushed_or_written(): Unit =
        Fixtures.open().use { gate ->
            val store = MemoryStore()
            val pushed = ArrayList<ConsentModeSignals>()
            gate.pushConsentMode { pushed += it }
            val state = gate.setKeyValueStoreBlocking(store)
            gate.acceptAllBlocking(ConsentSource.BANNER)
            assertNull(state.interop)
            assertNull(gate.state.value.consentMode)
            assertFalse(gate.state.value.privacyOptionsRequired)
            assertFalse(gate.canRequestAds)
            assertEquals(emptyList(), pushed)
            assertEquals(emptyList(), store.commits)
        }

    @Test
    fun while_loading_no_ads_and_no_consent_mode() {
        assertNull(ConsentState.LOADING.interop)
        assertNull(ConsentState.LOADING.consentMode)
        assertFalse(ConsentState.LOADING.privacyOptionsRequired)
    }
}
