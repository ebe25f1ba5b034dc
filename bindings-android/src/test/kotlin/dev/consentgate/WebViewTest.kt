package dev.consentgate

import org.junit.Test
import java.io.File
import java.util.Collections
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotEquals
import kotlin.test.assertNotNull
import kotlin.test.assertTrue

/**
 * The portable half of the WebView glue with a fake web view: what is
 * installed for the start of every page and what is evaluated when consent
 * changes. (The script itself runs in headless Chromium in core/tests/webview.rs.)
 */
class WebViewTest {
    /** Records what the glue hands a web view, in order. */
    private class FakeWebView : WebViewHost {
        val startScripts: MutableList<String> = Collections.synchronizedList(ArrayList())
        val evaluated: MutableList<String> = Collections.synchronizedList(ArrayList())
        override fun setDocumentStartScript(script: String) {
            startScripts += script
        }

        override fun evaluate(script: String) {
            evaluated += script
        }
    }

    private val sdkScript by lazy { File(Fixtures.root, "core/webview/consentgate.js").readText().trimEnd() }

    /** The nonce a start script was made with: the first argument after the SDK's function. */
    private fun nonceOf(startScript: String): String {
        assertTrue(startScript.startsWith(sdkScript), "the SDK's script, as shipped")
        return assertNotNull(Regex("^\\(\"([A-Za-z0-9_-]{16,128})\",").find(startScript.substring(sdkScript.length))).groupValues[1]
    }

    /** The `allowed` list of a script's state (the core writes it as `"allowed":[...]`). */
    private fun allowedIn(script: String): List<String> {
        val list = assertNotNull(Regex("\"allowed\":\\[([^\\]]*)\\]").find(script), script.takeLast(400)).groupValues[1]
        return if (list.isEmpty()) emptyList() else list.split(',').map { it.trim('"') }
    }

    @Test
    fun every_page_starts_with_the_sdks_script_and_the_state_in_force(): Unit = Fixtures.open().use { gate ->
        gate.setConsentBlocking(mapOf("analytics" to true), ConsentSource.BANNER)
        val web = FakeWebView()
        WebViewConsent(gate, web).use { consent ->
            assertEquals(1, web.startScripts.size)
            val start = web.startScripts.single()
            assertEquals(start, consent.documentStartScript)
            val nonce = nonceOf(start)
            assertEquals(32, nonce.length)
            assertEquals(gate.state.value.allowedCategories, allowedIn(start))
            assertEquals(emptyList(), web.evaluated, "nothing to update before a change")
        }
    }

    @Test
    fun every_change_is_evaluated_in_the_page_and_replaces_the_start_script(): Unit = Fixtures.open().use { gate ->
        val web = FakeWebView()
        WebViewConsent(gate, web).use { consent ->
            val nonce = nonceOf(web.startScripts.single())
            assertFalse("usage_events" in allowedIn(web.startScripts.single()))

            gate.setConsentBlocking(mapOf("analytics" to true), ConsentSource.BANNER)
            // Before setConsent returned: the page showing got the update, with the nonce.
            val update = web.evaluated.single()
            assertTrue(update.startsWith("window.__consentgateUpdate&&window.__consentgateUpdate(\"$nonce\","), update)
            assertTrue("usage_events" in allowedIn(update))
            assertEquals(2, web.startScripts.size)
            assertTrue("usage_events" in allowedIn(consent.documentStartScript), "the next page starts with the new state")
            assertEquals(nonce, nonceOf(consent.documentStartScript), "one nonce per web view")
            assertTrue(consent.allows("usage_events"))

            gate.rejectAllBlocking(ConsentSource.SETTINGS)
            assertEquals(2, web.evaluated.size)
            assertFalse("usage_events" in allowedIn(web.evaluated.last()))
            assertFalse(consent.allows("usage_events"))
        }
        // Closed: nothing more reaches the web view.
        gate.acceptAllBlocking(ConsentSource.BANNER)
        assertEquals(2, web.evaluated.size)
    }

    @Test
    fun each_web_view_has_its_own_nonce(): Unit = Fixtures.open().use { gate ->
        val a = FakeWebView()
        val b = FakeWebView()
        WebViewConsent(gate, a).use {
            WebViewConsent(gate, b).use {
                assertNotEquals(nonceOf(a.startScripts.single()), nonceOf(b.startScripts.single()))
            }
        }
    }

    @Test
    fun a_gate_that_never_loaded_gives_pages_the_script_with_nothing_allowed() {
        val gate = ConsentGate.open(Fixtures.config(policyJson = "{\"schema\": 1}"))
        gate.use {
            runCatching { gate.awaitLoadedBlocking() }
            assertNotNull(gate.openError)
            val web = FakeWebView()
            WebViewConsent(gate, web).use { consent ->
                val start = web.startScripts.single()
                val nonce = nonceOf(start)
                assertEquals("$sdkScript(\"$nonce\",null);\n", start)
                assertFalse(consent.allows("usage_events"))
            }
        }
    }

    @Test
    fun with_an_interop_block_pages_get_the_strings_in_force_for_tcfapi(): Unit =
        Fixtures.open(policyJson = File(Fixtures.root, "examples/policies/example-eu-cmp.json").readText()).use { gate ->
            val store = InteropTest.MemoryStore()
            gate.setKeyValueStoreBlocking(store)
            val web = FakeWebView()
            WebViewConsent(gate, web).use {
                gate.acceptAllBlocking(ConsentSource.BANNER)
                val tcString = assertNotNull(store.getString("IABTCF_TCString"))
                val update = web.evaluated.last()
                assertTrue(update.contains("\"tcString\":\"$tcString\""), "getTCData answers with the string written")
                assertTrue(web.startScripts.last().contains("\"tcString\":\"$tcString\""))
            }
        }
}
