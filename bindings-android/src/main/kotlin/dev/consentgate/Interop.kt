// The ecosystem's consent signals on the Kotlin side (the policy's `interop`
// block): the key-value store an app hands the gate (where ad SDKs read the
// IABTCF_* / IABGPP_* keys) and its adapter to the core's callback, the
// interop view of the consent state (TC/GPP string reports, Google Consent
// Mode v2 signals, can-request-ads, privacy-options), and the hook that pushes
// Consent Mode to an analytics SDK on every change. What a string means, which
// keys are written and what each signal is: the core decides; this file only
// carries values across.
package dev.consentgate

import dev.consentgate.ffi.KeyValueStore as NativeKeyValueStore
import dev.consentgate.ffi.KeyWrite as NativeKeyWrite

/**
 * The app's default key-value store, where ad SDKs read the IAB keys
 * (Android: the default SharedPreferences, see
 * [dev.consentgate.android.SharedPreferencesKeyValueStore]). Given to
 * [ConsentGate.setKeyValueStore]; the core reads `IABTCF_TCString` &co. from
 * it when following another CMP, and writes the whole key set through it when
 * it is the CMP (`cmp_id` in the policy).
 *
 * The core calls it while it holds its store lock, so that the keys follow
 * the decisions in the order they were made: an implementation must not call
 * the gate back, and should not block for long. An exception thrown here is
 * logged and counts as "no value" (reads) or "not written" (writes).
 */
interface KeyValueStore {
    /** The string stored under `key`, or null when there is none (or it is not a string). */
    fun getString(key: String): String?

    /** The integer stored under `key`, or null when there is none (or it is not an integer). */
    fun getInt(key: String): Int?

    /**
     * Applies every change, in order, as one commit (Android: one
     * `SharedPreferences.Editor.commit()`), before returning.
     */
    fun write(changes: List<KeyWrite>)
}

/** One change the core makes to the [KeyValueStore]. */
sealed class KeyWrite {
    /** The key changed. */
    abstract val key: String

    /** `putString(key, value)`. */
    data class SetString(override val key: String, val value: String) : KeyWrite()

    /** `putInt(key, value)` (booleans are 0 and 1). */
    data class SetInt(override val key: String, val value: Int) : KeyWrite()

    /** `remove(key)`. */
    data class Remove(override val key: String) : KeyWrite()
}

/** Which mode the policy's `interop` block chooses. */
enum class InteropMode {
    /** No `cmp_id`: another CMP (e.g. Google UMP) writes the keys, the gate reads them. */
    FOLLOW,

    /** `cmp_id` set: the gate is the app's registered CMP and writes the TC string and the keys. */
    CMP,
}

/** What became of a consent string (TC or GPP). */
enum class SignalStatus {
    /** No key-value store was given yet ([ConsentGate.setKeyValueStore]). */
    NOT_CONNECTED,

    /** Following: the key is absent; nothing changed. */
    MISSING,

    /** Following: the string cannot be decoded or breaks a TCF 2.2/2.3 rule ([SignalReport.problem]); nothing changed. */
    INVALID,

    /** Following: the string is valid and its decisions are in force. */
    APPLIED,

    /** Being the CMP: the string and its keys were written. */
    WRITTEN,
}

/**
 * The report on one consent string.
 *
 * @property status what became of it.
 * @property string the string read or written.
 * @property stringHash its hex sha256 (what the ledger entries it caused keep).
 * @property problem why it was not applied: the decode error (field and bit
 *   offset) or the TCF rules it breaks.
 */
data class SignalReport(
    val status: SignalStatus,
    val string: String?,
    val stringHash: String?,
    val problem: String?,
)

/** One Google Consent Mode v2 status. */
enum class ConsentModeStatus {
    /** `GRANTED`. */
    GRANTED,

    /** `DENIED`. */
    DENIED,
}

/**
 * The four Google Consent Mode v2 signals, as `FirebaseAnalytics.setConsent`
 * takes them (see [dev.consentgate.android.FirebaseConsentMode]).
 *
 * @property adStorage `ad_storage`.
 * @property analyticsStorage `analytics_storage`.
 * @property adUserData `ad_user_data`.
 * @property adPersonalization `ad_personalization`.
 */
data class ConsentModeSignals(
    val adStorage: ConsentModeStatus,
    val analyticsStorage: ConsentModeStatus,
    val adUserData: ConsentModeStatus,
    val adPersonalization: ConsentModeStatus,
)

/**
 * The interop view of the consent state ([ConsentState.interop]), present
 * when the policy has an `interop` block.
 *
 * @property mode following another CMP, or being one.
 * @property consentMode the Consent Mode v2 signals, from the decisions
 *   through the policy's mapping (and, when following, from the TC string the
 *   way Google reads it).
 * @property canRequestAds true only when every advertising purpose is granted
 *   and, when following, the TC string in force is valid and allows them
 *   (also [ConsentGate.canRequestAds]).
 * @property privacyOptionsRequired true when the settings screen must offer a
 *   way back to the privacy choices (some consent purpose has a decision).
 * @property tcf the TC string read (following) or written (being the CMP).
 * @property gpp the GPP string, when the policy says GPP applies.
 * @property gdprApplies whether the GDPR applies as the ad SDKs are told; null
 *   when undetermined.
 */
data class InteropState(
    val mode: InteropMode,
    val consentMode: ConsentModeSignals,
    val canRequestAds: Boolean,
    val privacyOptionsRequired: Boolean,
    val tcf: SignalReport,
    val gpp: SignalReport?,
    val gdprApplies: Boolean?,
)

/**
 * Told the Consent Mode v2 signals: once when attached (if the gate has
 * loaded) and whenever they change. [dev.consentgate.android.FirebaseConsentMode]
 * passes them to `FirebaseAnalytics.setConsent`; any other SDK that takes
 * Consent Mode can be attached the same way.
 */
fun interface ConsentModeSink {
    /** The signals in force now. Must not block; an exception is logged and dropped. */
    fun setConsent(signals: ConsentModeSignals)
}

/** The app's store as the core's: an exception is logged (never the values) and never reaches the core. */
internal class KeyValueStoreAdapter(private val store: KeyValueStore) : NativeKeyValueStore {
    override fun getString(key: String): String? = try {
        store.getString(key)
    } catch (e: Exception) {
        failed("read $key", e)
        null
    }

    override fun getInt(key: String): Int? = try {
        store.getInt(key)
    } catch (e: Exception) {
        failed("read $key", e)
        null
    }

    override fun write(changes: List<NativeKeyWrite>) {
        try {
            store.write(changes.map(Convert::keyWrite))
        } catch (e: Exception) {
            failed("write ${changes.size} key(s)", e)
        }
    }

    private fun failed(what: String, e: Exception) {
        ConsentGateLogging.log(LogLevel.WARN, "consentgate: the KeyValueStore failed to $what (${e.javaClass.simpleName})")
    }
}
