//! The `IABTCF_*` keys of the TCF CMP API v2 ("In-App Details") for one TC
//! string, with the values the IAB reference `InAppTCData`
//! (`@iabtechlabtcf/cmpapi`) builds: numbers and booleans as integers,
//! binary strings ending at the highest id that is set, and one
//! `IABTCF_PublisherRestrictions{purpose}` per restricted purpose whose
//! character n is the restriction type for vendor n+1, `_` where that vendor
//! has none (all as long as the highest restricted vendor id).

use std::collections::BTreeMap;

use super::{TcString, VendorSection};
use crate::interop::keys::{binary_string, KeyMap, KeyValue, TCF_KEY_PREFIX};

/// What the string itself does not say but the key set holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcfKeyOptions {
    /// `IABTCF_gdprApplies`: 1 or 0; `None` leaves it unset (undetermined).
    /// A CMP that writes a TC string writes 1, the default.
    pub gdpr_applies: Option<bool>,
    /// `IABTCF_AddtlConsent`, Google's Additional Consent string, passed
    /// through as given (`2~1.35.41.101~dv.9.21.81`).
    pub addtl_consent: Option<String>,
    /// `IABTCF_CmpSdkID`: the registered CMP id of the SDK writing the keys.
    pub cmp_sdk_id: Option<u16>,
    /// `IABTCF_CmpSdkVersion`.
    pub cmp_sdk_version: Option<u16>,
}

impl Default for TcfKeyOptions {
    fn default() -> Self {
        TcfKeyOptions {
            gdpr_applies: Some(true),
            addtl_consent: None,
            cmp_sdk_id: None,
            cmp_sdk_version: None,
        }
    }
}

/// The key set for `tc`, whose text form is `tc_string` (stored as
/// `IABTCF_TCString` exactly as given).
pub fn in_app_keys(tc_string: &str, tc: &TcString, options: &TcfKeyOptions) -> KeyMap {
    let mut keys = KeyMap::new();
    let mut put = |name: &str, value: KeyValue| {
        keys.insert(format!("{TCF_KEY_PREFIX}{name}"), value);
    };
    if let Some(id) = options.cmp_sdk_id {
        put("CmpSdkID", KeyValue::Int(i32::from(id)));
    }
    if let Some(version) = options.cmp_sdk_version {
        put("CmpSdkVersion", KeyValue::Int(i32::from(version)));
    }
    if let Some(applies) = options.gdpr_applies {
        put("gdprApplies", applies.into());
    }
    put("TCString", tc_string.into());
    put(
        "PolicyVersion",
        KeyValue::Int(i32::from(tc.tcf_policy_version)),
    );
    put("PublisherCC", tc.publisher_cc.as_str().into());
    put("PurposeOneTreatment", tc.purpose_one_treatment.into());
    put("UseNonStandardTexts", tc.use_non_standard_texts.into());
    put(
        "PurposeConsents",
        binary_string(&tc.purposes_consent).into(),
    );
    put(
        "PurposeLegitimateInterests",
        binary_string(&tc.purposes_li_transparency).into(),
    );
    put(
        "SpecialFeaturesOptIns",
        binary_string(&tc.special_feature_opt_ins).into(),
    );
    put(
        "VendorConsents",
        binary_string(&tc.vendor_consents.vendors).into(),
    );
    put(
        "VendorLegitimateInterests",
        binary_string(&tc.vendor_legitimate_interests.vendors).into(),
    );
    let disclosed = tc
        .disclosed_vendors()
        .map(|d: &VendorSection| d.vendors.as_slice());
    put(
        "DisclosedVendors",
        binary_string(disclosed.unwrap_or_default()).into(),
    );
    let publisher = tc.publisher_tc().cloned().unwrap_or_default();
    put(
        "PublisherConsent",
        binary_string(&publisher.purposes_consent).into(),
    );
    put(
        "PublisherLegitimateInterests",
        binary_string(&publisher.purposes_li_transparency).into(),
    );
    put(
        "PublisherCustomPurposesConsents",
        binary_string(&publisher.custom_purposes_consent).into(),
    );
    put(
        "PublisherCustomPurposesLegitimateInterests",
        binary_string(&publisher.custom_purposes_li_transparency).into(),
    );
    if let Some(ac) = &options.addtl_consent {
        put("AddtlConsent", ac.as_str().into());
    }
    for (purpose, value) in restriction_strings(tc) {
        put(&format!("PublisherRestrictions{purpose}"), value.into());
    }
    keys
}

/// Purpose id → its restriction string, for every purpose with a
/// restricted vendor. A vendor listed twice for one purpose keeps the type
/// of the later entry.
fn restriction_strings(tc: &TcString) -> BTreeMap<u8, String> {
    let max = tc
        .publisher_restrictions
        .iter()
        .flat_map(|r| r.vendors.iter().copied())
        .max()
        .map_or(0, usize::from);
    let mut out: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
    for restriction in tc
        .publisher_restrictions
        .iter()
        .filter(|r| !r.vendors.is_empty())
    {
        let chars = out
            .entry(restriction.purpose_id)
            .or_insert_with(|| vec![b'_'; max]);
        // Vendor 0 is not an id (decoding refuses it); a hand-built model may hold it.
        for &vendor in restriction.vendors.iter().filter(|&&v| v > 0) {
            chars[usize::from(vendor) - 1] = b'0' + restriction.restriction_type.code();
        }
    }
    out.into_iter()
        .map(|(p, chars)| {
            (
                p,
                String::from_utf8(chars).expect("only ASCII _ and digits were written"),
            )
        })
        .collect()
}
