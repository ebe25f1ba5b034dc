// Opens the app's one ConsentGate from Android resources without blocking
// the caller: the policy asset, noBackupFilesDir and the package's version are
// read on the gate's open thread. Also the Logcat bridge. No consent rule here.
package dev.consentgate.android

import android.content.Context
import android.util.Log
import dev.consentgate.ConsentGate
import dev.consentgate.ConsentGateConfig
import dev.consentgate.ConsentGateLogging
import dev.consentgate.GateException
import dev.consentgate.LogLevel
import java.io.File
import java.io.IOException

/**
 * Opens the app's one [ConsentGate] from Android resources:
 *
 * ```kotlin
 * class App : Application() {
 *     lateinit var gate: ConsentGate
 *     override fun onCreate() {
 *         super.onCreate()
 *         gate = ConsentGateAndroid.open(this, policyAsset = "consentgate/policy.json", region = "KZ")  // returns at once
 *         FlushWorker.schedule(this)
 *         BackgroundFlush.install(this)
 *     }
 * }
 * ```
 */
object ConsentGateAndroid {
    /** Where [open] looks for the policy in the app's assets by default. */
    const val DEFAULT_POLICY_ASSET = "consentgate/policy.json"

    /** Subdirectory of `noBackupFilesDir` that holds the store. */
    const val DATA_DIR_NAME = "consentgate"

    @Volatile
    private var gate: ConsentGate? = null

    /** The gate opened in this process, unless it was closed or could not be opened. */
    @JvmStatic
    val current: ConsentGate? get() = gate?.takeIf { !it.isClosed && it.openError == null }

    /**
     * Opens the gate once per process (later calls return the same gate;
     * after a failed open or a close, they open a new one). Returns at once,
     * safe on the main thread: the asset is read and the store opened on the
     * gate's `consentgate-open` thread, and the gate answers fail-closed
     * until then (see [ConsentGate.open]).
     *
     * The database lives in `noBackupFilesDir/consentgate`, which Auto Backup
     * and device-to-device transfer never copy. That matters for consent: a
     * restored backup would bring back grants the user has since withdrawn,
     * together with the head marker that vouches for them, and the core could
     * not tell it from the real store; events queued under them would be sent.
     *
     * @param policyAsset the policy document in the app's assets.
     * @param region the user's region (e.g. `"KZ"`); null keeps the stored one.
     * @param appVersion the app's version; the package's `versionName` when null.
     * @return the gate; a missing or unreadable asset is its
     *   [ConsentGate.openError] (`InvalidPolicy`), like an invalid policy.
     */
    @JvmStatic
    @JvmOverloads
    fun open(
        context: Context,
        policyAsset: String = DEFAULT_POLICY_ASSET,
        region: String? = null,
        appVersion: String? = null,
    ): ConsentGate = synchronized(this) {
        current?.let { return it }
        val app = context.applicationContext ?: context
        val opened = ConsentGate.openDeferred(ConsentGate.DEFAULT_BUFFER_WINDOW_MS, clock = null, dispatcher = null) {
            ConsentGateConfig(
                dataDir = File(app.noBackupFilesDir, DATA_DIR_NAME),
                policyJson = readAsset(app, policyAsset),
                appVersion = appVersion ?: versionName(app) ?: "unknown",
                region = region,
            )
        }
        gate = opened
        opened
    }

    private fun readAsset(app: Context, asset: String): String = try {
        app.assets.open(asset).use { it.readBytes().toString(Charsets.UTF_8) }
    } catch (e: IOException) {
        val detail = "the policy asset \"$asset\" could not be read (${e.javaClass.simpleName}); " +
            "put the policy in src/main/assets/$asset"
        throw GateException.InvalidPolicy(path = "$", detail = detail, errors = listOf("$: $detail"))
    }

    /**
     * Sends consentgate's log lines at `maxLevel` and above to Logcat (tag
     * `consentgate`). Cheap: safe to call first thing in `onCreate`.
     */
    @JvmStatic
    @JvmOverloads
    fun logToLogcat(maxLevel: LogLevel = LogLevel.INFO) {
        ConsentGateLogging.forwardTo(maxLevel) { level, _, message ->
            val priority = when (level) {
                LogLevel.ERROR -> Log.ERROR
                LogLevel.WARN -> Log.WARN
                LogLevel.INFO -> Log.INFO
                LogLevel.DEBUG -> Log.DEBUG
                LogLevel.TRACE -> Log.VERBOSE
            }
            Log.println(priority, "consentgate", message)
        }
    }
}
