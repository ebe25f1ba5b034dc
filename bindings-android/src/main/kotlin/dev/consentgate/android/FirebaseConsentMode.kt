// Google Consent Mode v2 for Firebase Analytics: passes the four signals the
// core computes to FirebaseAnalytics.setConsent, now and on every change.
// Nothing else: which signal is granted is the core's rule (the policy's
// interop mapping and, following a CMP, Google's TCF reading).
package dev.consentgate.android

import android.content.Context
import com.google.firebase.analytics.FirebaseAnalytics
import dev.consentgate.ConsentGate
import dev.consentgate.ConsentModeSignals
import dev.consentgate.ConsentModeStatus

/**
 * Keeps Firebase Analytics' Consent Mode v2 in step with the gate:
 *
 * ```kotlin
 * FirebaseConsentMode.attach(gate, context)   // once, e.g. in Application.onCreate
 * ```
 *
 * `setConsent` is called with `AD_STORAGE`, `ANALYTICS_STORAGE`,
 * `AD_USER_DATA` and `AD_PERSONALIZATION` as soon as the gate has loaded, and
 * again whenever one of them changes, before the consent call that changed
 * it returns. Set Firebase's defaults to denied in the manifest
 * (`google_analytics_default_allow_analytics_storage` &co. `false`) so that
 * nothing is collected before the first call. Needs an `interop` block in
 * the policy (without one, nothing is called).
 */
object FirebaseConsentMode {
    /** Attaches the app's `FirebaseAnalytics` instance; close the handle to stop. */
    @JvmStatic
    fun attach(gate: ConsentGate, context: Context): AutoCloseable = attach(gate, FirebaseAnalytics.getInstance(context))

    /** Attaches `analytics`; close the handle to stop. */
    @JvmStatic
    fun attach(gate: ConsentGate, analytics: FirebaseAnalytics): AutoCloseable =
        gate.pushConsentMode { signals -> analytics.setConsent(settings(signals)) }

    private fun settings(s: ConsentModeSignals): Map<FirebaseAnalytics.ConsentType, FirebaseAnalytics.ConsentStatus> = mapOf(
        FirebaseAnalytics.ConsentType.AD_STORAGE to status(s.adStorage),
        FirebaseAnalytics.ConsentType.ANALYTICS_STORAGE to status(s.analyticsStorage),
        FirebaseAnalytics.ConsentType.AD_USER_DATA to status(s.adUserData),
        FirebaseAnalytics.ConsentType.AD_PERSONALIZATION to status(s.adPersonalization),
    )

    private fun status(s: ConsentModeStatus) = when (s) {
        ConsentModeStatus.GRANTED -> FirebaseAnalytics.ConsentStatus.GRANTED
        ConsentModeStatus.DENIED -> FirebaseAnalytics.ConsentStatus.DENIED
    }
}
