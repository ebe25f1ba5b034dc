// What the app supplies to the gate: an uploader (the HTTP), device-field,
// advertising-id and install-referrer providers, a clock. Kotlin interfaces in dev.consentgate; the
// adapters below turn them into the core's callback interfaces and make sure
// no exception ever travels back into the core (it would be a panic there).
// The core decides when each is called; nothing here does.
package dev.consentgate

import dev.consentgate.ffi.AdIdProvider as NativeAdIdProvider
import dev.consentgate.ffi.Clock as NativeClock
import dev.consentgate.ffi.DeviceInfoProvider as NativeDeviceInfoProvider
import dev.consentgate.ffi.InstallReferrer as NativeInstallReferrer
import dev.consentgate.ffi.InstallReferrerProvider as NativeInstallReferrerProvider
import dev.consentgate.ffi.UploadRequest as NativeUploadRequest
import dev.consentgate.ffi.UploadResult as NativeUploadResult
import dev.consentgate.ffi.Uploader as NativeUploader

/**
 * Sends the requests the core builds ([ConsentGate.flush]). [HttpUploader]
 * is the default; supply your own to use OkHttp, Cronet or a test double.
 * Return [UploadResult.NetworkError] when there was no answer; an exception
 * thrown here counts as a network error too (retried with backoff).
 */
fun interface Uploader {
    /** Sends `request` as it is and reports how it ended. Blocking. */
    fun send(request: UploadRequest): UploadResult
}

/**
 * Reads the advertising id. The core calls it only when `advertising_id` is
 * allowed and no platform signal forbids it. Return null when there is none;
 * an exception counts as "no id".
 */
fun interface AdIdProvider {
    /** The advertising id, or null. */
    fun advertisingId(): String?
}

/**
 * Reads how the user found the app: the store's install referrer (Android:
 * [dev.consentgate.android.PlayInstallReferrerProvider]). The core calls it
 * only while `install_referrer` is allowed, never before consent. It may
 * block briefly (a store connection): [ConsentGate.installReferrer] runs it
 * on the gate's dispatcher. Return null when there is none; an exception
 * counts as "none".
 */
fun interface InstallReferrerProvider {
    /** The referrer the store recorded for this install, or null. */
    fun installReferrer(): InstallReferrer?
}

/** Milliseconds since the epoch, for tests or trusted time. */
fun interface Clock {
    /** Now, in ms since 1970-01-01T00:00:00Z. */
    fun nowMs(): Long
}

/**
 * Device fields. The core asks only for the fields whose category is
 * allowed; a field left at its default (null), or one that throws, counts
 * as not known.
 */
interface DeviceInfoProvider {
    /** Operating system, e.g. `Android`. */
    fun os(): String? = null

    /** Operating system version. */
    fun osVersion(): String? = null

    /** Device model. */
    fun model(): String? = null

    /** Device manufacturer. */
    fun manufacturer(): String? = null

    /** Locale as a BCP 47 tag. */
    fun locale(): String? = null

    /** Time zone id. */
    fun timezone(): String? = null

    /** Network operator name. */
    fun carrier(): String? = null

    /** The app's version. */
    fun appVersion(): String? = null

    /** Screen size, `WIDTHxHEIGHT` in pixels. */
    fun screen(): String? = null
}

/** The app's uploader as the core's, converting types; an exception is a network error (retried). */
internal class UploaderAdapter(private val u: Uploader) : NativeUploader {
    override fun send(request: NativeUploadRequest): NativeUploadResult = try {
        Convert.uploadResult(u.send(Convert.uploadRequest(request)))
    } catch (e: Exception) {
        NativeUploadResult.NetworkError("${e.javaClass.simpleName}: ${e.message}")
    }
}

/** The host clock as the core's; a failing reading falls back to the system clock. */
internal class ClockAdapter(private val clock: Clock) : NativeClock {
    override fun nowMs(): Long = try {
        clock.nowMs()
    } catch (e: Exception) {
        System.currentTimeMillis()
    }
}

/** The app's device provider as the core's: a failing field is "not known". */
internal class DeviceInfoAdapter(private val p: DeviceInfoProvider) : NativeDeviceInfoProvider {
    private inline fun field(read: () -> String?): String? = try {
        read()
    } catch (e: Exception) {
        null
    }

    override fun os() = field { p.os() }
    override fun osVersion() = field { p.osVersion() }
    override fun model() = field { p.model() }
    override fun manufacturer() = field { p.manufacturer() }
    override fun locale() = field { p.locale() }
    override fun timezone() = field { p.timezone() }
    override fun carrier() = field { p.carrier() }
    override fun appVersion() = field { p.appVersion() }
    override fun screen() = field { p.screen() }
}

/** The app's advertising-id provider as the core's: a failure means "no id". */
internal class AdIdAdapter(private val p: AdIdProvider) : NativeAdIdProvider {
    override fun advertisingId(): String? = try {
        p.advertisingId()
    } catch (e: Exception) {
        null
    }
}

/** The app's install-referrer provider as the core's: a failure means "none". */
internal class InstallReferrerAdapter(private val p: InstallReferrerProvider) : NativeInstallReferrerProvider {
    override fun installReferrer(): NativeInstallReferrer? = try {
        p.installReferrer()?.let(Convert::referrer)
    } catch (e: Exception) {
        null
    }
}
