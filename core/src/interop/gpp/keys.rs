//! The `IABGPP_*` keys of the GPP CMP API ("In-App Details") for one GPP
//! string: `IABGPP_HDR_Version`, `IABGPP_HDR_Sections` and `IABGPP_GppSID`
//! (ids joined by `_`), `IABGPP_HDR_GppString`, and `IABGPP_[id]_String` for
//! each section. Also `IABGPP_2_TCString` beside `IABGPP_2_String` (the EEA
//! section document and the TCF CTV examples use that name, the core spec
//! the other) and `IABUSPrivacy_String` when the string has a `uspv1`
//! section, so readers of either convention find the signal. The parsed
//! per-field keys (`IABGPP_TCFEU2_…`) are not written.

use super::{decode, GppDecodeError};
use crate::interop::keys::{KeyMap, KeyValue, US_PRIVACY_KEY};

/// What the string itself does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GppKeyOptions {
    /// The section ids in force for this user (`IABGPP_GppSID`); `None`
    /// means every section in the string.
    pub applicable_sections: Option<Vec<u16>>,
}

/// The key set for the GPP string `text` (decoded first, so a string that
/// does not decode yields no keys).
pub fn in_app_keys(text: &str, options: &GppKeyOptions) -> Result<KeyMap, GppDecodeError> {
    let gpp = decode(text)?;
    let ids = gpp.header().section_ids;
    let joined = |ids: &[u16]| ids.iter().map(u16::to_string).collect::<Vec<_>>().join("_");
    let mut keys = KeyMap::new();
    keys.insert(
        "IABGPP_HDR_Version".into(),
        KeyValue::Str(super::GPP_VERSION.to_string()),
    );
    keys.insert("IABGPP_HDR_Sections".into(), KeyValue::Str(joined(&ids)));
    keys.insert("IABGPP_HDR_GppString".into(), text.into());
    let in_force = options.applicable_sections.as_deref().unwrap_or(&ids);
    keys.insert("IABGPP_GppSID".into(), KeyValue::Str(joined(in_force)));
    for (&id, section_text) in ids.iter().zip(text.split('~').skip(1)) {
        keys.insert(format!("IABGPP_{id}_String"), section_text.into());
        match id {
            2 => {
                keys.insert("IABGPP_2_TCString".into(), section_text.into());
            }
            6 => {
                keys.insert(US_PRIVACY_KEY.into(), section_text.into());
            }
            _ => {}
        }
    }
    Ok(keys)
}
