// Device fields from the Android platform, for ConsentGate.collectDeviceInfo.
// The core decides which fields are asked for; this only reads them.
package dev.consentgate.android

import android.content.Context
import android.os.Build
import android.telephony.TelephonyManager
import dev.consentgate.DeviceInfoProvider
import java.util.Locale
import java.util.TimeZone

/**
 * Device fields from the platform: `Build`, the default `Locale` and
 * `TimeZone`, the network operator's name and the screen size. The core calls
 * each method only when the field's category is allowed, so nothing here runs
 * before consent:
 *
 * ```kotlin
 * gate.collectDeviceInfo(AndroidDeviceInfoProvider(context))
 * ```
 *
 * No permission is needed (the operator name is not protected).
 *
 * @param appVersion the app's version; read from the package manager when null.
 */
class AndroidDeviceInfoProvider @JvmOverloads constructor(
    context: Context,
    private val appVersion: String? = null,
) : DeviceInfoProvider {
    private val context: Context = context.applicationContext ?: context

    override fun os(): String = "Android"

    override fun osVersion(): String? = Build.VERSION.RELEASE

    override fun model(): String? = Build.MODEL

    override fun manufacturer(): String? = Build.MANUFACTURER

    override fun locale(): String = Locale.getDefault().toLanguageTag()

    override fun timezone(): String = TimeZone.getDefault().id

    override fun carrier(): String? =
        (context.getSystemService(Context.TELEPHONY_SERVICE) as? TelephonyManager)
            ?.networkOperatorName
            ?.takeIf { it.isNotBlank() }

    override fun appVersion(): String? = appVersion ?: versionName(context)

    override fun screen(): String {
        val m = context.resources.displayMetrics
        return "${m.widthPixels}x${m.heightPixels}"
    }
}

/** The app's `versionName`, or null when the package manager does not know it. */
internal fun versionName(context: Context): String? = try {
    context.packageManager.getPackageInfo(context.packageName, 0).versionName
} catch (e: Exception) {
    null
}
