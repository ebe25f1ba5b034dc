//! `tcf decode`, `tcf keys`, `gpp decode` (pure: a string in, JSON out,
//! with the field names of the IAB reference decoders used by the shared
//! vector files) and the interop view of `status`: when the policy has an
//! `interop` block and is a registered CMP, the key set the gate writes
//! (into an in-memory store here, so nothing on the machine changes).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use consentgate::interop::gpp;
use consentgate::interop::tcf::{self, TcfKeyOptions};
use consentgate::{ConsentGate, InteropMode, KeyValueStore, KeyWrite};
use serde_json::Value;

use crate::args::{GppCommand, TcfCommand};
use crate::commands::json;
use crate::failure::{Failure, Report};

/// `tcf decode` / `tcf keys`.
pub fn tcf(command: TcfCommand) -> Result<Report, Failure> {
    let (TcfCommand::Decode { string } | TcfCommand::Keys { string }) = &command;
    let tc = tcf::decode(string)
        .map_err(|e| Failure::bad_input(format!("cannot decode the TC string: {e}")))?;
    match command {
        TcfCommand::Decode { .. } => {
            let mut out = tcf::view::decoded(&tc);
            out["policy_check_tcf22_23"] = tcf::view::policy_check(&tcf::check(&tc));
            json(serde_json::to_string_pretty(&out))
        }
        TcfCommand::Keys { string } => json(serde_json::to_string_pretty(&tcf::in_app_keys(
            &string,
            &tc,
            &TcfKeyOptions::default(),
        ))),
    }
}

/// `gpp decode`.
pub fn gpp(command: GppCommand) -> Result<Report, Failure> {
    let GppCommand::Decode { string } = command;
    let decoded = gpp::decode(&string)
        .map_err(|e| Failure::bad_input(format!("cannot decode the GPP string: {e}")))?;
    json(serde_json::to_string_pretty(&gpp::view::decoded(&decoded)))
}

/// The key-value store of `status`: in memory, so inspecting writes nothing.
#[derive(Default)]
struct Memory(Mutex<BTreeMap<String, Value>>);

impl KeyValueStore for Memory {
    fn get_string(&self, key: String) -> Option<String> {
        self.0
            .lock()
            .ok()?
            .get(&key)
            .and_then(|v| v.as_str().map(str::to_string))
    }
    fn get_int(&self, key: String) -> Option<i32> {
        self.0
            .lock()
            .ok()?
            .get(&key)
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok())
    }
    fn write(&self, changes: Vec<KeyWrite>) {
        let Ok(mut map) = self.0.lock() else { return };
        for c in changes {
            match c {
                KeyWrite::SetString { key, value } => {
                    map.insert(key, value.into());
                }
                KeyWrite::SetInt { key, value } => {
                    map.insert(key, value.into());
                }
                KeyWrite::Remove { key } => {
                    map.remove(&key);
                }
            }
        }
    }
}

/// `status`: the consent state; for a registered CMP also `keys`, the
/// `IABTCF_*` / `IABGPP_*` set the app's store holds for that state.
pub fn status(gate: &ConsentGate) -> Result<Report, Failure> {
    let state = gate.consent_state();
    let is_cmp = state
        .interop
        .as_ref()
        .is_some_and(|i| i.mode == InteropMode::Cmp);
    if !is_cmp {
        return json(serde_json::to_string_pretty(&state));
    }
    let memory = Arc::new(Memory::default());
    let state = gate.set_key_value_store(memory.clone())?;
    let mut out = serde_json::to_value(&state).map_err(|e| {
        Failure::from(consentgate::GateError::Internal {
            message: format!("cannot serialise the answer: {e}"),
        })
    })?;
    let keys = memory.0.lock().map(|m| m.clone()).unwrap_or_default();
    out["keys"] = Value::Object(keys.into_iter().collect());
    json(serde_json::to_string_pretty(&out))
}
