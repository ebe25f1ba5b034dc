// "How you found us" from Google Play: the Play Install Referrer API as the
// gate's InstallReferrerProvider. The core decides whether it may be asked
// (only while install_referrer is allowed); this only connects to the Play
// Store service, reads the referrer and disconnects, off the main thread.
package dev.consentgate.android

import android.content.Context
import android.os.Looper
import android.os.RemoteException
import com.android.installreferrer.api.InstallReferrerClient
import com.android.installreferrer.api.InstallReferrerStateListener
import dev.consentgate.ConsentGate
import dev.consentgate.InstallReferrer
import dev.consentgate.InstallReferrerProvider
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger

/**
 * The install referrer from the Play Store (`com.android.installreferrer`).
 * The core calls it only while `install_referrer` is allowed, never before
 * consent; each call connects to the Play Store service, waits at most
 * [timeoutMs] for it, reads the referrer and disconnects. It blocks, so it
 * must not run on the main thread (use [playInstallReferrer], which runs it
 * on the gate's dispatcher). No Play Store, an older one without the API, or
 * a failed connection: null.
 */
class PlayInstallReferrerProvider @JvmOverloads constructor(
    context: Context,
    private val timeoutMs: Long = DEFAULT_TIMEOUT_MS,
) : InstallReferrerProvider {
    private val context: Context = context.applicationContext ?: context

    /** The Play Store's answer to the last connection (`InstallReferrerResponse`); null before any call or on a timeout. */
    @Volatile
    var lastResponseCode: Int? = null
        private set

    override fun installReferrer(): InstallReferrer? {
        check(Looper.myLooper() != Looper.getMainLooper()) {
            "the Play Install Referrer API blocks here: ask for the referrer off the main thread (playInstallReferrer does)"
        }
        val client = InstallReferrerClient.newBuilder(context).build()
        val done = CountDownLatch(1)
        val code = AtomicInteger(InstallReferrerClient.InstallReferrerResponse.SERVICE_DISCONNECTED)
        try {
            client.startConnection(object : InstallReferrerStateListener {
                override fun onInstallReferrerSetupFinished(responseCode: Int) {
                    code.set(responseCode)
                    done.countDown()
                }

                override fun onInstallReferrerServiceDisconnected() {
                    done.countDown()
                }
            })
            if (!done.await(timeoutMs, TimeUnit.MILLISECONDS)) {
                lastResponseCode = null
                return null
            }
            lastResponseCode = code.get()
            if (code.get() != InstallReferrerClient.InstallReferrerResponse.OK) return null
            val details = client.installReferrer
            return InstallReferrer(
                referrer = details.installReferrer ?: return null,
                clickedAtS = details.referrerClickTimestampSeconds,
                installBeganAtS = details.installBeginTimestampSeconds,
            )
        } catch (e: RemoteException) {
            return null
        } finally {
            runCatching { client.endConnection() }
        }
    }

    companion object {
        /** How long [installReferrer] waits for the Play Store service by default, in ms. */
        const val DEFAULT_TIMEOUT_MS: Long = 5_000
    }
}

/**
 * Asks the Play Store for the install referrer through the core's rules, on
 * the gate's dispatcher: null without `install_referrer` consent (the Play
 * Store is then not contacted at all), when there is none, or on failure.
 * The answer rides on the next batches while the category stays allowed.
 *
 * ```kotlin
 * scope.launch { gate.playInstallReferrer(context) }   // after the user agreed
 * ```
 */
suspend fun ConsentGate.playInstallReferrer(context: Context): InstallReferrer? =
    installReferrer(PlayInstallReferrerProvider(context))
