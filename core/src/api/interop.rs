//! The exported calls of the ecosystem's consent signals (the policy's
//! `interop` block): connecting the app's key-value store, telling the gate
//! another CMP changed its keys, and the one-line answers for the ad team
//! (`can_request_ads`, Consent Mode). Each delegates to the engine.

use std::sync::Arc;

use super::ConsentGate;
use crate::cmp::{ConsentModeSignals, KeyValueStore, KeyWrite};
use crate::consent::ConsentState;
use crate::error::GateError;

#[uniffi::export]
impl ConsentGate {
    /// Connects the app's default key-value store (Android: the default
    /// SharedPreferences; iOS: `UserDefaults.standard`). Following another
    /// CMP, its `IABTCF_*` / `IABGPP_*` keys are read now; being the CMP
    /// (`cmp_id` in the policy), the TC string and keys of the state in
    /// force are written now, and again after every change before the call
    /// that made it returns. Without an `interop` block nothing is read or
    /// written.
    pub fn set_key_value_store(
        &self,
        store: Arc<dyn KeyValueStore>,
    ) -> Result<ConsentState, GateError> {
        Ok(self.engine.set_key_value_store(store)?)
    }

    /// The host saw another CMP change the `IABTCF_*` / `IABGPP_*` keys
    /// (`OnSharedPreferenceChangeListener`,
    /// `UserDefaults.didChangeNotification`): read them again. A new, valid
    /// string becomes decisions (ledger source `tcf` / `gpp`; a withdrawal
    /// purges, G3); a missing or invalid one changes nothing and is
    /// reported in `ConsentState.interop`.
    pub fn interop_keys_changed(&self) -> Result<ConsentState, GateError> {
        Ok(self.engine.interop_keys_changed()?)
    }

    /// True when ads may be requested: every advertising purpose is granted
    /// and, when following a CMP, its TC string is valid and allows them.
    /// False without an `interop` block.
    pub fn can_request_ads(&self) -> bool {
        self.engine
            .with_interop(|i| i.can_request_ads)
            .unwrap_or(false)
    }

    /// The Google Consent Mode v2 signals in force (`None` without an
    /// `interop` block), for `FirebaseAnalytics.setConsent`.
    pub fn consent_mode(&self) -> Option<ConsentModeSignals> {
        self.engine.with_interop(|i| i.consent_mode)
    }

    /// Being the CMP: the keys last written to the key-value store (set
    /// operations only), empty before the first write or when following.
    pub fn written_keys(&self) -> Vec<KeyWrite> {
        self.engine.written_keys()
    }
}
