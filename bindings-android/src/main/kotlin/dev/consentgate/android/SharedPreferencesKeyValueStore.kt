// The app's default SharedPreferences as the gate's KeyValueStore, where ad
// SDKs read the IAB keys, and the preference listener that tells the gate when
// another CMP changed them. Reads and writes only what the core asks for; which
// keys, when and with what values is the core's to decide.
package dev.consentgate.android

import android.content.Context
import android.content.SharedPreferences
import dev.consentgate.ConsentGate
import dev.consentgate.ConsentGateLogging
import dev.consentgate.ConsentState
import dev.consentgate.GateException
import dev.consentgate.InteropMode
import dev.consentgate.KeyValueStore
import dev.consentgate.KeyWrite
import dev.consentgate.LogLevel
import java.io.IOException
import java.lang.ref.WeakReference
import java.util.concurrent.Executor
import java.util.concurrent.Executors
import java.util.concurrent.atomic.AtomicBoolean

/**
 * The IAB keys live in the app's default SharedPreferences (the TCF and GPP
 * in-app specifications say so; Google UMP and every TCF vendor SDK use
 * them). [connect] gives it to a gate:
 *
 * ```kotlin
 * val prefs = SharedPreferencesKeyValueStore(context)
 * scope.launch { prefs.connect(gate) }   // following a CMP: read now, and again whenever it changes them
 * ```
 *
 * Writes (being the CMP) are one `Editor.commit()` per change, on the thread
 * of the consent call that made it, so they are on disk before that call
 * returns. Every read answers null for a key of another type.
 */
class SharedPreferencesKeyValueStore(private val prefs: SharedPreferences) : KeyValueStore {
    /** The default SharedPreferences of `context`'s app. */
    constructor(context: Context) : this(defaultSharedPreferences(context))

    /** Held here: SharedPreferences keeps its listeners only weakly. */
    @Volatile
    private var listener: KeyListener? = null

    override fun getString(key: String): String? = try {
        prefs.getString(key, null)
    } catch (e: ClassCastException) {
        null
    }

    override fun getInt(key: String): Int? = try {
        if (prefs.contains(key)) prefs.getInt(key, 0) else null
    } catch (e: ClassCastException) {
        null
    }

    override fun write(changes: List<KeyWrite>) {
        val editor = prefs.edit()
        for (c in changes) {
            when (c) {
                is KeyWrite.SetString -> editor.putString(c.key, c.value)
                is KeyWrite.SetInt -> editor.putInt(c.key, c.value)
                is KeyWrite.Remove -> editor.remove(c.key)
            }
        }
        if (!editor.commit()) throw IOException("SharedPreferences.Editor.commit() failed")
    }

    /**
     * Gives this store to `gate` ([ConsentGate.setKeyValueStore]: following
     * another CMP, its keys are read now) and, until the gate is closed,
     * tells the gate whenever an `IABTCF_`, `IABGPP_` or `IABUSPrivacy_` key
     * changes ([ConsentGate.interopKeysChanged], on a background thread, one
     * call for a burst of keys a CMP commits together; not when the gate is
     * the CMP and wrote them itself). Call it once per gate.
     */
    suspend fun connect(gate: ConsentGate): ConsentState {
        // Listening first: a change between the read and the registration is not missed.
        listen(gate)
        return gate.setKeyValueStore(this)
    }

    /** [connect] on the calling thread (not the main thread: it may read and write the preferences). */
    fun connectBlocking(gate: ConsentGate): ConsentState {
        listen(gate)
        return gate.setKeyValueStoreBlocking(this)
    }

    private fun listen(gate: ConsentGate) {
        val l = KeyListener(WeakReference(gate))
        listener?.let { prefs.unregisterOnSharedPreferenceChangeListener(it) }
        listener = l
        prefs.registerOnSharedPreferenceChangeListener(l)
    }

    /**
     * Called on the main thread once per changed key; hands the re-read to
     * [worker], coalescing the keys of one commit. Holds the gate weakly, and
     * unregisters itself once the gate is gone or closed.
     */
    private class KeyListener(private val gate: WeakReference<ConsentGate>) : SharedPreferences.OnSharedPreferenceChangeListener {
        private val pending = AtomicBoolean(false)

        override fun onSharedPreferenceChanged(sharedPreferences: SharedPreferences, key: String?) {
            val g = gate.get()
            if (g == null || g.isClosed) {
                sharedPreferences.unregisterOnSharedPreferenceChangeListener(this)
                return
            }
            // key == null: the file was cleared (API 30+), which removes the keys too.
            if (key != null && PREFIXES.none { key.startsWith(it) }) return
            // Being the CMP, the gate wrote these keys itself.
            if (g.state.value.interop?.mode == InteropMode.CMP) return
            if (!pending.compareAndSet(false, true)) return
            worker.execute {
                pending.set(false)
                try {
                    gate.get()?.takeUnless { it.isClosed }?.interopKeysChangedBlocking()
                } catch (e: GateException) {
                    ConsentGateLogging.log(LogLevel.WARN, "consentgate: the IAB keys could not be read again: ${e.message}")
                }
            }
        }
    }

    private companion object {
        /** The keys a CMP writes (IAB TCF, GPP and the US Privacy string). */
        val PREFIXES = listOf("IABTCF_", "IABGPP_", "IABUSPrivacy_")

        /** One daemon thread for every store of the process: re-reads run one at a time. */
        val worker: Executor by lazy {
            Executors.newSingleThreadExecutor { r -> Thread(r, "consentgate-interop").apply { isDaemon = true } }
        }

        /**
         * What `PreferenceManager.getDefaultSharedPreferences` opens (that
         * class is deprecated in the platform and would need androidx.preference):
         * `<package>_preferences`, private.
         */
        fun defaultSharedPreferences(context: Context): SharedPreferences {
            val app = context.applicationContext ?: context
            return app.getSharedPreferences(app.packageName + "_preferences", Context.MODE_PRIVATE)
        }
    }
}
