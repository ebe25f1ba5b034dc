//! The in-app storage keys of the IAB CMP API specifications, as values: the
//! `IABTCF_*` set (TCF CMP API v2, "In-App Details"), the `IABGPP_*` set (GPP
//! CMP API) and `IABUSPrivacy_String`. Apps keep them in Android's default
//! SharedPreferences and iOS's `NSUserDefaults.standardUserDefaults`; readers
//! use `getString` / `getInt`, so every value is a string or an integer
//! ("for mobile all booleans are written as Number"). Building the maps is
//! `tcf::in_app_keys` and `gpp::in_app_keys`; writing them to a store is the
//! host's.

use std::collections::BTreeMap;

use serde::Serialize;

/// Prefix of every TCF key; a CMP that writes a new set removes the keys with
/// this prefix it did not write (a `IABTCF_PublisherRestrictions5` left from
/// an older string would otherwise stay in force).
pub const TCF_KEY_PREFIX: &str = "IABTCF_";

/// Prefix of every GPP key (same rule as [`TCF_KEY_PREFIX`]).
pub const GPP_KEY_PREFIX: &str = "IABGPP_";

/// The US Privacy string's key (IAB `USP API.md`, in-app section).
pub const US_PRIVACY_KEY: &str = "IABUSPrivacy_String";

/// One stored value: `getInt` or `getString` on the platform store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum KeyValue {
    /// An integer (booleans as 0/1).
    Int(i32),
    /// A string.
    Str(String),
}

impl From<bool> for KeyValue {
    fn from(b: bool) -> Self {
        KeyValue::Int(i32::from(b))
    }
}

impl From<String> for KeyValue {
    fn from(s: String) -> Self {
        KeyValue::Str(s)
    }
}

impl From<&str> for KeyValue {
    fn from(s: &str) -> Self {
        KeyValue::Str(s.to_string())
    }
}

/// Key name → value, sorted by name.
pub type KeyMap = BTreeMap<String, KeyValue>;

/// A binary string over 1-based `ids`: character n is `1` when id n+1 is in
/// the set, and the string ends at the highest id (empty for no ids), as
/// the reference `InAppTCData` writes it.
pub(crate) fn binary_string<T: Copy + Into<usize>>(ids: &[T]) -> String {
    let max = ids.iter().map(|&id| id.into()).max().unwrap_or(0);
    let mut out = vec![b'0'; max];
    for &id in ids {
        let id: usize = id.into();
        if id > 0 {
            out[id - 1] = b'1';
        }
    }
    String::from_utf8(out).expect("only ASCII 0 and 1 were written")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_strings_end_at_the_highest_id() {
        assert_eq!(binary_string(&[1u8, 2, 3, 4, 7, 9, 10]), "1111001011");
        assert_eq!(binary_string::<u8>(&[]), "");
        assert_eq!(serde_json::to_string(&KeyValue::from(true)).unwrap(), "1");
    }
}
