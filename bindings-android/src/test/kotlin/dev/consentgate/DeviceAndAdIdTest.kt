package dev.consentgate

import org.junit.Test
import java.util.Collections
import java.util.concurrent.atomic.AtomicInteger
import kotlin.test.assertEquals
import kotlin.test.assertNull
import kotlin.test.assertTrue

/** Device fields and the advertising id are read only when the core allows it. */
class DeviceAndAdIdTest {
    /** A DeviceInfoProvider written in Kotlin that notes every field it is asked for. */
    private class RecordingProvider : DeviceInfoProvider {
        val asked: MutableList<String> = Collections.synchronizedList(ArrayList())
        private fun ask(field: String, value: String): String = value.also { asked += field }
        override fun os() = ask("os", "Android")
        override fun osVersion() = ask("os_version", "14")
        override fun model() = ask("model", "Pixel 8")
        override fun manufacturer() = ask("manufacturer", "Google")
        override fun locale() = ask("locale", "kk-KZ")
        override fun timezone() = ask("timezone", "Asia/Almaty")
        override fun carrier() = ask("carrier", "Beeline KZ")
        override fun appVersion() = ask("app_version", "1.2.3")
        override fun screen() = ask("screen", "1080x2400")
    }

    private class CountingAdIdProvider(private val id: String?) : AdIdProvider {
        val calls = AtomicInteger()
        override fun advertisingId(): String? = id.also { calls.incrementAndGet() }
    }

    /** The example policy with device_info cut to three fields and carrier moved under advertising. */
    private val splitPolicy: String by lazy {
        val all = "\"fields\": [\"os\", \"os_version\", \"model\", \"manufacturer\", \"locale\", \"timezone\", \"carrier\", \"app_version\", \"screen\"]"
        val advertisingIdCategory = "{\"id\": \"advertising_id\", \"requires\": [\"advertising\"],"
        check(all in Fixtures.policy && advertisingIdCategory in Fixtures.policy)
        Fixtures.policy
            .replace(all, "\"fields\": [\"os\", \"model\", \"locale\"]")
            .replace(
                advertisingIdCategory,
                "{\"id\": \"network_info\", \"requires\": [\"advertising\"], \"fields\": [\"carrier\"]},\n    $advertisingIdCategory",
            )
    }

    @Test
    fun g1_device_provider_is_not_called_before_consent(): Unit = Fixtures.open().use { gate ->
        val provider = RecordingProvider()
        val info = gate.collectDeviceInfoBlocking(provider)
        assertEquals(emptyList(), provider.asked)
        assertEquals(DeviceInfo(null, null, null, null, null, null, null, null, null), info)
    }

    @Test
    fun device_provider_is_asked_only_for_allowed_fields(): Unit = Fixtures.open(policyJson = splitPolicy).use { gate ->
        gate.setConsentBlocking(mapOf("analytics" to true), source = ConsentSource.BANNER)
        val provider = RecordingProvider()
        val info = gate.collectDeviceInfoBlocking(provider)
        assertEquals(setOf("os", "model", "locale"), provider.asked.toSet())
        assertEquals("Pixel 8", info.model)
        assertNull(info.carrier)
        assertNull(info.screen, "a field no category lists must never be asked")

        gate.setConsentBlocking(mapOf("advertising" to true), source = ConsentSource.SETTINGS)
        provider.asked.clear()
        assertEquals("Beeline KZ", gate.collectDeviceInfoBlocking(provider).carrier)
        assertEquals(setOf("os", "model", "locale", "carrier"), provider.asked.toSet())
    }

    @Test
    fun a_throwing_device_provider_leaves_the_field_unknown(): Unit = Fixtures.open().use { gate ->
        gate.setConsentBlocking(mapOf("analytics" to true), source = ConsentSource.BANNER)
        val provider = object : DeviceInfoProvider by RecordingProvider() {
            override fun carrier(): String? = throw SecurityException("no permission")
        }
        val info = gate.collectDeviceInfoBlocking(provider)
        assertNull(info.carrier)
        assertEquals("Android", info.os)
    }

    @Test
    fun advertising_id_needs_advertising_consent(): Unit = Fixtures.open().use { gate ->
        val provider = CountingAdIdProvider("38400000-8cf0-11bd-b23e-10b96e40000d")
        gate.setConsentBlocking(mapOf("analytics" to true), source = ConsentSource.BANNER)
        assertNull(gate.advertisingIdBlocking(provider))
        assertEquals(0, provider.calls.get(), "asked for the id without advertising consent")

        gate.setConsentBlocking(mapOf("advertising" to true), source = ConsentSource.BANNER)
        assertEquals("38400000-8cf0-11bd-b23e-10b96e40000d", gate.advertisingIdBlocking(provider))
        assertEquals(1, provider.calls.get())
    }

    @Test
    fun advertising_id_honours_limit_ad_tracking_and_att(): Unit = Fixtures.open().use { gate ->
        gate.acceptAllBlocking(ConsentSource.BANNER)
        val provider = CountingAdIdProvider("38400000-8cf0-11bd-b23e-10b96e40000d")

        gate.setPlatformSignalsBlocking(PlatformSignals(AttStatus.NOT_APPLICABLE, limitAdTracking = true, gpc = false))
        assertNull(gate.advertisingIdBlocking(provider))
        for (att in listOf(AttStatus.NOT_DETERMINED, AttStatus.DENIED, AttStatus.RESTRICTED)) {
            gate.setPlatformSignalsBlocking(PlatformSignals(att, limitAdTracking = false, gpc = false))
            assertNull(gate.advertisingIdBlocking(provider), "ATT $att")
        }
        assertEquals(0, provider.calls.get(), "the provider was called although a signal forbids it")

        gate.setPlatformSignalsBlocking(PlatformSignals(AttStatus.AUTHORIZED, limitAdTracking = false, gpc = false))
        assertEquals("38400000-8cf0-11bd-b23e-10b96e40000d", gate.advertisingIdBlocking(provider))
        assertEquals(AttStatus.AUTHORIZED, gate.platformSignals.attStatus)
    }

    @Test
    fun an_all_zero_advertising_id_counts_as_absent(): Unit = Fixtures.open().use { gate ->
        gate.acceptAllBlocking(ConsentSource.BANNER)
        assertNull(gate.advertisingIdBlocking { "00000000-0000-0000-0000-000000000000" })
        assertNull(gate.advertisingIdBlocking { throw IllegalStateException("Play services unavailable") })
    }

    @Test
    fun gpc_denies_advertising_and_keeps_it_denied(): Unit = Fixtures.open().use { gate ->
        gate.acceptAllBlocking(ConsentSource.BANNER)
        assertTrue(gate.allows("advertising_id"))
        gate.setPlatformSignalsBlocking(PlatformSignals(AttStatus.NOT_APPLICABLE, limitAdTracking = false, gpc = true))
        assertTrue(gate.state.value.gpc)
        assertEquals(false, gate.allows("advertising_id"))
        assertTrue(gate.allows("usage_events"), "GPC only concerns sale-or-share purposes")
        kotlin.test.assertFailsWith<GateException.GpcRestricted> {
            gate.setConsentBlocking(mapOf("advertising" to true), source = ConsentSource.SETTINGS)
        }
    }
}
