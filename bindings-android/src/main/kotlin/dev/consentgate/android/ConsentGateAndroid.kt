package dev.consentgate.android

import android.content.Context
import android.util.Log
import dev.consentgate.ConsentGate
import dev.consentgate.ConsentGateConfig
import dev.consentgate.ConsentGateLogging
import dev.consentgate.ffi.LogLevel
import java.io.File

/**
 * Opens the app's one [ConsentGate] from Android resources:
 *
 * ```kotlin
 * class App : Application() {
 *     override fun onCreate() {
 *         super.onCreate()
 *         val gate = ConsentGateAndroid.open(this, policyAsset = "consentgate/policy.json", region = "KZ")
 *         FlushWorker.schedule(this)
 *     }
 * }
 * ```
 */
object ConsentGateAndroid {
    /** Where [open] looks for the policy in the app's assets by default. */
    const val DEFAULT_POLICY_ASSET = "consentgate/policy.json"

    @Volatile
    private var gate: ConsentGate? = null

    /** The gate opened in this process, if it is still open. */
    @JvmStatic
    val current: ConsentGate? get() = gate?.takeIf { !it.isClosed }

    /**
     * Opens the gate once per process (later calls return the same open gate).
     * The database lives in `noBackupFilesDir/consentgate`, so neither Auto
     * Backup nor a device transfer carries consent or events to another device.
     * Reads an asset and the disk: call it off the main thread if you can.
     *
     * @param policyAsset the policy document in the app's assets.
     * @param region the user's region (e.g. `"KZ"`); null keeps the stored one.
     * @param appVersion the app's version; the package's `versionName` when null.
     * @throws dev.consentgate.GateException `InvalidPolicy` naming the JSON path.
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
        val policy = app.assets.open(policyAsset).use { it.readBytes().toString(Charsets.UTF_8) }
        val opened = ConsentGate.open(
            ConsentGateConfig(
                dataDir = File(app.noBackupFilesDir, "consentgate"),
                policyJson = policy,
                appVersion = appVersion ?: versionName(app) ?: "unknown",
                region = region,
            ),
        )
        gate = opened
        opened
    }

    /** Sends consentgate's log lines at `maxLevel` and above to Logcat (tag `consentgate`). */
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
