// The advertising id from Google Play services, for ConsentGate.advertisingId.
// The core decides whether it may be read; this only reads it, off the main
// thread, and reports limit-ad-tracking back as a platform signal.
package dev.consentgate.android

import android.content.Context
import android.os.Looper
import com.google.android.gms.ads.identifier.AdvertisingIdClient
import dev.consentgate.ConsentGate
import dev.consentgate.AdIdProvider

/**
 * The advertising id from Google Play services. The core calls it only when
 * `advertising_id` is allowed and no platform signal forbids it; the Play
 * services call blocks, so it must not run on the main thread (use
 * [playAdvertisingId], which runs it on the gate's dispatcher, `Dispatchers.IO`
 * by default).
 *
 * When the user has turned ads personalisation off (limit-ad-tracking), the
 * id is not returned and [limitAdTracking] says so; an all-zero id (Android
 * 12+ after the user deleted it) counts as absent in the core.
 */
class PlayAdIdProvider(context: Context) : AdIdProvider {
    private val context: Context = context.applicationContext ?: context

    /** What Play services said about limit-ad-tracking on the last call; null before any call. */
    @Volatile
    var limitAdTracking: Boolean? = null
        private set

    override fun advertisingId(): String? {
        check(Looper.myLooper() != Looper.getMainLooper()) {
            "AdvertisingIdClient blocks: read the advertising id off the main thread (playAdvertisingId does)"
        }
        val info = AdvertisingIdClient.getAdvertisingIdInfo(context)
        val limited = info.isLimitAdTrackingEnabled
        limitAdTracking = limited
        return if (limited) null else info.id
    }
}

/**
 * Reads the Play services advertising id on the gate's dispatcher through the core's
 * rules, and reports limit-ad-tracking to the gate when Play services says it
 * is on (the core then stops asking for the rest of the process's life;
 * signals are not persisted, so the next process start asks again).
 *
 * ```kotlin
 * val adId: String? = gate.playAdvertisingId(context)
 * ```
 */
suspend fun ConsentGate.playAdvertisingId(context: Context): String? {
    val provider = PlayAdIdProvider(context)
    val id = advertisingId(provider)
    if (provider.limitAdTracking == true && !platformSignals.limitAdTracking) {
        setPlatformSignals(platformSignals.copy(limitAdTracking = true))
    }
    return id
}
