// Consent inside web content: the portable half of the WebView glue. It
// decides what the host evaluates when — the core's user script (the SDK's
// consentgate.js with this WebView's nonce and the state in force) for the
// start of every page, and the core's update script on every change — and
// hands both to a WebViewHost. The Android adapter
// (dev.consentgate.android.ConsentWebView) is the host on a real WebView.
// The scripts are the core's (webview_user_script / webview_update_script);
// nothing here builds page state or reads a rule.
package dev.consentgate

import dev.consentgate.ffi.webviewScript
import dev.consentgate.ffi.webviewUpdateScript
import dev.consentgate.ffi.webviewUserScript
import java.security.SecureRandom

/**
 * What [WebViewConsent] needs of a web view. Both calls may come from any
 * thread, in the order they must take effect; the host moves them to its UI
 * thread without reordering them.
 */
interface WebViewHost {
    /**
     * From now on, run `script` at the start of every page, before the
     * page's own scripts (Android: `WebViewCompat.addDocumentStartJavaScript`,
     * replacing the previous one).
     */
    fun setDocumentStartScript(script: String)

    /** Runs `script` in the page showing now (Android: `evaluateJavascript`). */
    fun evaluate(script: String)
}

/**
 * Gives the pages of one web view `window.consentgate`, a read-only view of
 * the gate's decisions, and (with an `interop` block in the policy) the IAB
 * `__tcfapi` / `__gpp` entry points answering from the app's current strings.
 *
 * At construction and after every change of the consent state it gives
 * `host` the script for the start of every page (the state in force; while
 * the gate is loading, the script with nothing allowed), and after every
 * change it also evaluates the update for the page showing, whose scripts
 * then see the new state and get a `change` event. Both carry a nonce made
 * here for this web view and never shown to the page: page scripts can read
 * decisions, never change them nor fake an update.
 */
class WebViewConsent(private val gate: ConsentGate, private val host: WebViewHost) : AutoCloseable {
    private val nonce: String = newNonce()
    private val lock = Any()

    /** The version last handed to the host (guarded by [lock]); -1: the loading script. */
    private var version = Long.MIN_VALUE
    private var closed = false

    /** The script to run at the start of every page now. */
    @Volatile
    var documentStartScript: String = ""
        private set

    private val observation: AutoCloseable

    init {
        observation = gate.observeStates(StateObserver { changed(pushUpdate = true) })
        changed(pushUpdate = false)
    }

    /** True when `category` is allowed now ([ConsentGate.allows]): what a host's read-only bridge answers. */
    fun allows(category: String): Boolean = gate.allows(category)

    /** Stops following the gate; the host keeps what it was given. */
    override fun close() {
        synchronized(lock) { closed = true }
        observation.close()
    }

    private fun changed(pushUpdate: Boolean) {
        synchronized(lock) {
            if (closed) return
            val native = gate.nativeState()
            if (native == null) {
                if (version != Long.MIN_VALUE) return
                version = -1
                documentStartScript = "${webviewScript().trimEnd()}(\"$nonce\",null);\n"
                host.setDocumentStartScript(documentStartScript)
                return
            }
            // Two threads' changes may arrive in either order: only newer states go out.
            if (native.version <= version) return
            version = native.version
            documentStartScript = webviewUserScript(nonce, native)
            host.setDocumentStartScript(documentStartScript)
            if (pushUpdate) host.evaluate(webviewUpdateScript(nonce, native))
        }
    }

    private companion object {
        val random = SecureRandom()
        const val ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

        /** 32 random letters and digits, about 190 bits (the core takes 16 to 128 of `A-Z a-z 0-9 - _`). */
        fun newNonce(): String = String(CharArray(32) { ALPHABET[random.nextInt(ALPHABET.length)] })
    }
}
