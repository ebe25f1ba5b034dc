// The Android half of consent inside WebViews: installs the SDK's script into
// a WebView at the start of every page (androidx.webkit's document-start
// scripts where the WebView supports them, else from the app's
// onPageStarted), evaluates the core's update on every change, and adds a
// read-only JavaScript interface. What is evaluated when is WebViewConsent's
// (portable, tested); the scripts are the core's.
package dev.consentgate.android

import android.os.Looper
import android.webkit.JavascriptInterface
import android.webkit.WebView
import androidx.webkit.ScriptHandler
import androidx.webkit.WebViewCompat
import androidx.webkit.WebViewFeature
import dev.consentgate.ConsentGate
import dev.consentgate.WebViewConsent
import dev.consentgate.WebViewHost

/**
 * Gives the pages of `webView` the gate's decisions (`window.consentgate`,
 * and `__tcfapi` / `__gpp` with an `interop` block):
 *
 * ```kotlin
 * val consent = ConsentWebView.install(webView, gate)   // on the main thread, before loadUrl
 * webView.loadUrl("https://example.com/app-page")
 * // in onDestroy: consent.close()
 * ```
 *
 * Where the WebView supports `DOCUMENT_START_SCRIPT` (WebView 83+ with
 * androidx.webkit 1.5+), the script runs before the page's own scripts in
 * every frame whose origin matches `allowedOriginRules`, and is replaced
 * with the new state on every change. Elsewhere, call [onPageStarted] from
 * your `WebViewClient.onPageStarted` (main frame only). Every change is also
 * evaluated in the page showing, whose scripts get a `change` event.
 *
 * The JavaScript interface `consentgateAndroid` answers `allows(category)`
 * from the app's current decisions, in every frame and before any script
 * ran; it has no other method, so the page can read decisions, never change
 * them.
 */
class ConsentWebView private constructor(
    private val webView: WebView,
    gate: ConsentGate,
    private val allowedOriginRules: Set<String>,
) : AutoCloseable {
    private val documentStart = WebViewFeature.isFeatureSupported(WebViewFeature.DOCUMENT_START_SCRIPT)

    /** The registered document-start script (main thread only). */
    private var handler: ScriptHandler? = null

    @Volatile
    private var closed = false

    private val consent: WebViewConsent

    init {
        webView.addJavascriptInterface(ReadOnlyBridge(gate), JS_INTERFACE)
        consent = WebViewConsent(gate, Host())
    }

    /**
     * Without document-start support: evaluates the script for the new page.
     * Call it from `WebViewClient.onPageStarted`; does nothing where the
     * document-start script already ran.
     */
    fun onPageStarted() {
        if (!documentStart && !closed) webView.evaluateJavascript(consent.documentStartScript, null)
    }

    /** Stops following the gate and removes the script and the interface (from the next page on). */
    override fun close() {
        if (closed) return
        closed = true
        consent.close()
        onMain {
            handler?.remove()
            handler = null
            webView.removeJavascriptInterface(JS_INTERFACE)
        }
    }

    /** Runs `block` on the main thread: now when already there (so a page loaded next sees it), else posted in order. */
    private fun onMain(block: () -> Unit) {
        if (Looper.myLooper() == Looper.getMainLooper()) block() else webView.post(block)
    }

    private inner class Host : WebViewHost {
        override fun setDocumentStartScript(script: String) {
            if (!documentStart) return
            onMain {
                if (!closed) {
                    handler?.remove()
                    handler = WebViewCompat.addDocumentStartJavaScript(webView, script, allowedOriginRules)
                }
            }
        }

        override fun evaluate(script: String) {
            onMain { if (!closed) webView.evaluateJavascript(script, null) }
        }
    }

    /** What `consentgateAndroid` offers a page: reads only. */
    internal class ReadOnlyBridge(private val gate: ConsentGate) {
        @JavascriptInterface
        fun allows(category: String?): Boolean = category != null && gate.allows(category)
    }

    companion object {
        /** The name of the read-only JavaScript interface. */
        const val JS_INTERFACE = "consentgateAndroid"

        /**
         * Installs the gate's decisions into `webView`; call on the main
         * thread before the first `loadUrl`. `allowedOriginRules` are the
         * origins whose frames get the document-start script (`"*"`: all;
         * e.g. `setOf("https://example.com")` to keep third-party frames out).
         */
        @JvmStatic
        @JvmOverloads
        fun install(webView: WebView, gate: ConsentGate, allowedOriginRules: Set<String> = setOf("*")): ConsentWebView =
            ConsentWebView(webView, gate, allowedOriginRules)
    }
}
