// Google Consent Mode v2 into Firebase Analytics: the gate's four signals
// (from the policy's `interop.consent_mode` mapping, decided by the core)
// passed to `Analytics.setConsent` whenever they change. Compiles only where
// FirebaseAnalytics is linked; nothing here decides a signal.
#if canImport(FirebaseAnalytics)
import FirebaseAnalytics

extension ConsentGate {
    /// Calls `Analytics.setConsent` with the gate's Consent Mode signals now
    /// (once loaded) and on every change, until the returned observation is
    /// cancelled or released. Keep it for the app's lifetime, e.g.
    /// `consentModeToFirebase = gate.forwardConsentModeToFirebase()`.
    public func forwardConsentModeToFirebase() -> StateObservation {
        observeConsentMode { signals in
            func status(_ s: ConsentModeStatus) -> FirebaseAnalytics.ConsentStatus {
                s == .granted ? .granted : .denied
            }
            Analytics.setConsent([
                .adStorage: status(signals.adStorage),
                .analyticsStorage: status(signals.analyticsStorage),
                .adUserData: status(signals.adUserData),
                .adPersonalization: status(signals.adPersonalization),
            ])
        }
    }
}
#endif
