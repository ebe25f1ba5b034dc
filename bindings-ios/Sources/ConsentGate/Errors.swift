// The one error type app code catches, ConsentGateError, with a description
// a developer can act on for every case. It mirrors the core's GateError
// case for case (Convert.swift maps one to the other, in one place); the
// sentences follow the core's own texts and the Kotlin layer's. Nothing
// here decides whether something is an error: the core does.
import Foundation

/// Every failure of a `ConsentGate` call. Cases carry the facts (`purpose`,
/// `path`, …); `errorDescription` is a sentence naming what is wrong and,
/// where there is one, what to do.
///
/// ```swift
/// do {
///     try await gate.setConsent(["service": false], source: .settings)
/// } catch ConsentGateError.notWithdrawable(let purpose) {
///     showMessage("\(purpose) is needed to provide the service")
/// }
/// ```
public enum ConsentGateError: Error, LocalizedError, Sendable, Equatable, Hashable {
    /// The policy document is not valid: `path` is the JSON path of the first
    /// problem (e.g. `categories[1].requires[0]`), `detail` what is wrong
    /// there, `errors` every problem as one `path: message` line each.
    case invalidPolicy(path: String, detail: String, errors: [String])
    /// An argument was rejected; `detail` names the argument and the rule.
    case invalidArgument(detail: String)
    /// The purpose is not defined by the policy.
    case unknownPurpose(purpose: String)
    /// The user is below the policy's minimum age (`minimumAge`) without
    /// parental consent, so consent purposes cannot be granted.
    case ageRestricted(purpose: String, minimumAge: Int)
    /// A necessary purpose cannot be withdrawn.
    case notWithdrawable(purpose: String)
    /// A Global Privacy Control signal is in force and the purpose is a sale
    /// or share of data, so it cannot be granted while the signal holds.
    case gpcRestricted(purpose: String)
    /// The local store failed (disk full, read-only, I/O error). Consent is
    /// unchanged; the call can be retried. `detail` never holds personal data.
    case storage(detail: String)
    /// The gate was closed (`ConsentGate.close()`).
    case closed
    /// Another gate (in this process or another) holds `dataDirectory`.
    case busy(dataDirectory: String)
    /// A bug in consentgate: an internal invariant failed. Please report it.
    case `internal`(detail: String)

    /// A sentence naming what is wrong and what to do about it.
    public var errorDescription: String? {
        switch self {
        case let .invalidPolicy(path, detail, errors):
            let more = errors.count > 1 ? " (and \(errors.count - 1) more problem(s), listed in errors)" : ""
            return "invalid policy: \(path): \(detail)\(more)"
        case let .invalidArgument(detail):
            return "invalid argument: \(detail)"
        case let .unknownPurpose(purpose):
            return "unknown purpose \"\(purpose)\": the policy does not define it"
        case let .ageRestricted(purpose, minimumAge):
            return "cannot grant \"\(purpose)\": the user is under the minimum age of \(minimumAge) without parental consent"
        case let .notWithdrawable(purpose):
            return "purpose \"\(purpose)\" is necessary for the service and cannot be withdrawn"
        case let .gpcRestricted(purpose):
            return "cannot grant \"\(purpose)\": a Global Privacy Control signal is in force and the purpose is a sale or share of data"
        case let .storage(detail):
            return "storage failure: \(detail) (nothing was changed; the call can be retried)"
        case .closed:
            return "the ConsentGate was closed; open a new one"
        case let .busy(dataDirectory):
            return "data directory \(dataDirectory) is in use by another ConsentGate (in this process or another): "
                + "one gate per directory is allowed; share the open one, or close it first"
        case let .internal(detail):
            return "internal error in consentgate: \(detail) (please report it)"
        }
    }
}

extension ConsentGateError: CustomStringConvertible {
    /// The same sentence as `errorDescription`, so `print(error)` and string
    /// interpolation read well too.
    public var description: String { errorDescription ?? "consentgate error" }
}
