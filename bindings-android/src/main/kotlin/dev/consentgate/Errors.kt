// The one exception type app code catches, GateException, with a message a
// developer can act on for every case. It mirrors the core's GateError
// variant for variant (Convert.kt maps one to the other, in one place); the
// sentences follow the core's own Display texts. Nothing here decides
// whether something is an error: the core does.
package dev.consentgate

/**
 * Every failure of a [ConsentGate] call. Subclasses carry the facts as
 * fields (`purpose`, `path`, …); [message] is a sentence naming what is
 * wrong and, where there is one, what to do.
 *
 * ```kotlin
 * try {
 *     gate.setConsentBlocking(mapOf("service" to false), ConsentSource.SETTINGS)
 * } catch (e: GateException.NotWithdrawable) {
 *     showMessage("${e.purpose} is needed to provide the service")
 * }
 * ```
 */
sealed class GateException(override val message: String) : Exception(message) {
    /**
     * The policy document is not valid (or could not be read).
     *
     * @property path JSON path of the first problem, e.g. `categories[1].requires[0]`.
     * @property detail what is wrong there.
     * @property errors every problem in the document, one `path: message` line each.
     */
    class InvalidPolicy(val path: String, val detail: String, val errors: List<String>) :
        GateException(policyMessage(path, detail, errors.size))

    /**
     * An argument was rejected.
     *
     * @property detail which argument and which rule, e.g. `events[1]: event name must start with a letter`.
     */
    class InvalidArgument(val detail: String) : GateException("invalid argument: $detail")

    /**
     * The purpose is not defined by the policy.
     *
     * @property purpose the id that was given.
     */
    class UnknownPurpose(val purpose: String) :
        GateException("unknown purpose \"$purpose\": the policy does not define it")

    /**
     * The user is below the policy's minimum age without parental consent, so
     * consent purposes cannot be granted.
     *
     * @property purpose the purpose the app tried to grant.
     * @property minAge the minimum age in force for the region.
     */
    class AgeRestricted(val purpose: String, val minAge: Int) : GateException(
        "cannot grant \"$purpose\": the user is under the minimum age of $minAge without parental consent",
    )

    /**
     * A necessary purpose cannot be withdrawn.
     *
     * @property purpose the purpose the app tried to deny.
     */
    class NotWithdrawable(val purpose: String) :
        GateException("purpose \"$purpose\" is necessary for the service and cannot be withdrawn")

    /**
     * The purpose is a sale or share of data and a Global Privacy Control
     * signal is in force, so it cannot be granted while the signal holds.
     *
     * @property purpose the purpose the app tried to grant.
     */
    class GpcRestricted(val purpose: String) : GateException(
        "cannot grant \"$purpose\": a Global Privacy Control signal is in force and the purpose is a sale or share of data",
    )

    /**
     * The local store failed (disk full, read-only, I/O error). Consent is
     * unchanged; the call can be retried.
     *
     * @property detail what the storage layer reported (never personal data).
     */
    class Storage(val detail: String) :
        GateException("storage failure: $detail (nothing was changed; the call can be retried)")

    /** The gate was closed ([ConsentGate.close]). */
    class Closed : GateException("the ConsentGate was closed; open a new one")

    /**
     * Another gate (in this process or another) holds the data directory.
     *
     * @property dataDir the directory that is held.
     */
    class Busy(val dataDir: String) : GateException(
        "data directory $dataDir is in use by another ConsentGate (in this process or another): " +
            "one gate per directory is allowed; share the open one, or close it first",
    )

    /**
     * A bug in consentgate: an internal invariant failed. Please report it.
     *
     * @property detail what failed.
     */
    class Internal(val detail: String) : GateException("internal error in consentgate: $detail (please report it)")

    private companion object {
        fun policyMessage(path: String, detail: String, problems: Int): String {
            val more = if (problems > 1) " (and ${problems - 1} more problem(s), listed in errors)" else ""
            return "invalid policy: $path: $detail$more"
        }
    }
}
