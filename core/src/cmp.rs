//! What the ecosystem's consent signals mean for consentgate, by the
//! policy's `interop` block, in its two modes:
//!
//! - **following another CMP** (no `cmp_id`): the `IABTCF_*` / `IABGPP_*`
//!   keys are read through the host's [`KeyValueStore`], the string decoded
//!   and checked against the TCF 2.2/2.3 rules, and turned into decisions for
//!   the mapped purposes — never more permissive than the string (G1): a
//!   purpose is granted only when every TCF purpose, special feature and
//!   vendor it maps to has consent; an invalid or missing string yields no
//!   decision at all, only a report;
//! - **being the CMP** (`cmp_id` set): the TC string (and GPP string) for
//!   the decisions in force, and the full key set to write, stale keys
//!   removed. Nothing is ever written without a `cmp_id`.
//!
//! Also the Google Consent Mode v2 signals and the `can_request_ads` /
//! privacy-options answers. Pure functions of the policy, the granted
//! purposes and the strings; the engine decides when to call them and
//! records the decisions (ledger source `tcf` / `gpp`). Not here: the
//! codecs (`interop`), the consent transaction (`engine/apply`).

use serde::Serialize;

use crate::interop::keys::{KeyMap, KeyValue, TCF_KEY_PREFIX};
use crate::interop::tcf::{self, TcSegment, TcString, TcfKeyOptions, VendorSection};
use crate::interop::{gpp, usp};
use crate::policy::{ConsentModeType, Interop, PurposeMapping};

/// The key a CMP stores its TC string under.
pub const TC_STRING_KEY: &str = "IABTCF_TCString";
/// The key a CMP stores its GPP string under.
pub const GPP_STRING_KEY: &str = "IABGPP_HDR_GppString";

/// The app's default key-value store (Android: the default
/// SharedPreferences; iOS: `UserDefaults.standard`), where ad SDKs read the
/// `IABTCF_*` / `IABGPP_*` keys. Implemented by the host; it must not call
/// the gate back (it is called while the gate holds its store lock, so the
/// keys follow decisions in the order they were made).
#[uniffi::export(with_foreign)]
pub trait KeyValueStore: Send + Sync {
    /// The string stored under `key` (`getString`), if any.
    fn get_string(&self, key: String) -> Option<String>;
    /// The integer stored under `key` (`getInt`), if any.
    fn get_int(&self, key: String) -> Option<i32>;
    /// Applies every change, in order, as one commit (one
    /// `SharedPreferences.Editor.commit()`, or `UserDefaults` sets in a row)
    /// before returning.
    fn write(&self, changes: Vec<KeyWrite>);
}

/// One change to the key-value store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum KeyWrite {
    /// `putString(key, value)`.
    SetString {
        /// Key name.
        key: String,
        /// Value.
        value: String,
    },
    /// `putInt(key, value)` (booleans as 0/1).
    SetInt {
        /// Key name.
        key: String,
        /// Value.
        value: i32,
    },
    /// `remove(key)`.
    Remove {
        /// Key name.
        key: String,
    },
}

/// Which mode the policy's `interop` block chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum InteropMode {
    /// No `cmp_id`: another CMP writes the keys, consentgate reads them.
    Follow,
    /// `cmp_id` set: consentgate writes the TC string and the keys.
    Cmp,
}

/// What became of a consent string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum SignalStatus {
    /// No key-value store has been given yet (`set_key_value_store`).
    NotConnected,
    /// Following: the key is absent; nothing changed.
    Missing,
    /// Following: the string cannot be decoded or breaks a TCF 2.2/2.3
    /// rule (`problem` says which); nothing changed.
    Invalid,
    /// Following: the string is valid and its decisions are in force.
    Applied,
    /// Being the CMP: the string and its keys were written.
    Written,
}

/// The report on one string (TC or GPP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct SignalReport {
    /// What became of it.
    pub status: SignalStatus,
    /// The string read or written.
    pub string: Option<String>,
    /// Its hex sha256 (what the ledger entries it caused keep).
    pub string_hash: Option<String>,
    /// Why it was not applied: the decode error (field and bit offset) or
    /// the broken TCF rules.
    pub problem: Option<String>,
}

impl SignalReport {
    /// A report with only a status.
    pub fn bare(status: SignalStatus) -> Self {
        SignalReport {
            status,
            string: None,
            string_hash: None,
            problem: None,
        }
    }

    /// The report on a string read from another CMP (hash `hash`): applied,
    /// or invalid for `problem`.
    fn read(string: String, hash: String, problem: Option<String>) -> Self {
        SignalReport {
            status: if problem.is_some() {
                SignalStatus::Invalid
            } else {
                SignalStatus::Applied
            },
            string: Some(string),
            string_hash: Some(hash),
            problem,
        }
    }

    /// The report on a string consentgate wrote, with its hash.
    fn written(string: String) -> Self {
        SignalReport {
            status: SignalStatus::Written,
            string_hash: Some(string_hash(&string)),
            string: Some(string),
            problem: None,
        }
    }
}

/// One Consent Mode v2 status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum ConsentModeStatus {
    /// `GRANTED`.
    Granted,
    /// `DENIED`.
    Denied,
}

/// The four Google Consent Mode v2 signals, for
/// `FirebaseAnalytics.setConsent` / `Analytics.setConsent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct ConsentModeSignals {
    /// `ad_storage`.
    pub ad_storage: ConsentModeStatus,
    /// `analytics_storage`.
    pub analytics_storage: ConsentModeStatus,
    /// `ad_user_data`.
    pub ad_user_data: ConsentModeStatus,
    /// `ad_personalization`.
    pub ad_personalization: ConsentModeStatus,
}

/// The interop view of the consent state (present when the policy has an
/// `interop` block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct InteropState {
    /// Following another CMP, or being one.
    pub mode: InteropMode,
    /// Google Consent Mode v2, from the decisions through the mapping (and,
    /// when following, from the TC string the way Google reads it).
    pub consent_mode: ConsentModeSignals,
    /// True only when every advertising purpose (those mapped to an `ad_*`
    /// Consent Mode type) is granted and, when following, the TC string in
    /// force is valid and consents to what they map to.
    pub can_request_ads: bool,
    /// True when the app must offer a way back to the privacy choices (a
    /// settings entry): some consent purpose has a decision in force.
    pub privacy_options_required: bool,
    /// The TC string read (following) or written (being the CMP).
    pub tcf: SignalReport,
    /// The GPP string, when the policy says GPP applies.
    pub gpp: Option<SignalReport>,
    /// Whether the GDPR applies, as the ad SDKs are told: following, the
    /// `IABTCF_gdprApplies` the other CMP wrote (the policy's
    /// `gdpr_applies` while it wrote none); being the CMP, what consentgate
    /// writes (the policy's, true when the policy leaves it out). `None`:
    /// undetermined.
    pub gdpr_applies: Option<bool>,
}

/// Where a string-driven decision came from (the ledger source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignalSource {
    /// `IABTCF_TCString`.
    Tcf,
    /// `IABGPP_HDR_GppString`.
    Gpp,
}

/// What the keys said, as read when following another CMP.
#[derive(Debug, Clone, Default)]
pub(crate) struct Read {
    /// The report on `IABTCF_TCString` (or the GPP `tcfeuv2` section).
    pub tcf: Option<SignalReport>,
    /// The report on the GPP string.
    pub gpp: Option<SignalReport>,
    /// The valid TC string in force, and where it came from.
    pub tc: Option<(TcString, SignalSource, String)>,
    /// `IABTCF_gdprApplies` (1 or 0; anything else is undetermined).
    pub gdpr_applies: Option<bool>,
    /// The GPP string's hash when one of its US sections opts out of sale,
    /// sharing or targeted advertising.
    pub us_opt_out: Option<String>,
}

/// Hex sha256 of a consent string.
pub(crate) fn string_hash(s: &str) -> String {
    crate::policy::sha256_hex(s.as_bytes())
}

/// Reads and checks the strings a CMP left in `kv`.
pub(crate) fn read(interop: &Interop, kv: &dyn KeyValueStore) -> Read {
    let mut out = Read {
        gdpr_applies: match kv.get_int(format!("{TCF_KEY_PREFIX}gdprApplies")) {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        ..Read::default()
    };
    let text = kv
        .get_string(TC_STRING_KEY.into())
        .filter(|s| !s.is_empty());
    let gpp_text = if interop.gpp {
        kv.get_string(GPP_STRING_KEY.into())
            .filter(|s| !s.is_empty())
    } else {
        None
    };
    let mut gpp_tc = None;
    if let Some(g) = &gpp_text {
        let hash = string_hash(g);
        let problem = match gpp::decode(g) {
            Ok(decoded) => {
                // Sections are in header order: the TCF EU one's text is the
                // matching `~`-separated part after the header.
                gpp_tc = decoded
                    .sections
                    .iter()
                    .enumerate()
                    .find_map(|(i, s)| match s {
                        gpp::GppSection::TcfEuV2(tc) => {
                            let text = g.split('~').nth(1 + i).unwrap_or_default();
                            Some((tc.clone(), text.to_string()))
                        }
                        _ => None,
                    });
                if opts_out(&decoded) {
                    out.us_opt_out = Some(hash.clone());
                }
                None
            }
            Err(e) => Some(e.to_string()),
        };
        out.gpp = Some(SignalReport::read(g.clone(), hash, problem));
    } else if interop.gpp {
        out.gpp = Some(SignalReport::bare(SignalStatus::Missing));
    }
    let (text, source, decoded) = match (text, gpp_tc) {
        (Some(t), _) => {
            let d = tcf::decode(&t).map_err(|e| e.to_string());
            (t, SignalSource::Tcf, d)
        }
        (None, Some((tc, t))) => (t, SignalSource::Gpp, Ok(tc)),
        (None, None) => {
            out.tcf = Some(SignalReport::bare(SignalStatus::Missing));
            return out;
        }
    };
    let hash = string_hash(&text);
    let problem = match &decoded {
        Err(e) => Some(e.clone()),
        Ok(tc) => {
            let findings = tcf::check(tc);
            (!findings.is_empty()).then(|| {
                findings
                    .iter()
                    .map(|f| f.reason())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        }
    };
    out.tcf = Some(SignalReport::read(text, hash.clone(), problem.clone()));
    if let (Ok(tc), None) = (decoded, problem) {
        out.tc = Some((tc, source, hash));
    }
    out
}

/// True when a US section of `g` says the user opted out of the sale or
/// sharing of their data or of targeted advertising (MSPA: 1 = opted out).
fn opts_out(g: &gpp::GppString) -> bool {
    g.sections.iter().any(|s| match s {
        gpp::GppSection::UspV1(u) => u.opt_out_sale == usp::UspFlag::Yes,
        gpp::GppSection::UsNat(n) => {
            n.sale_opt_out == 1 || n.sharing_opt_out == 1 || n.targeted_advertising_opt_out == 1
        }
        gpp::GppSection::UsCa(c) => c.sale_opt_out == 1 || c.sharing_opt_out == 1,
        gpp::GppSection::UsVa(v) => v.sale_opt_out == 1 || v.targeted_advertising_opt_out == 1,
        _ => false,
    })
}

/// True when `tc` consents to everything mapping `m` needs.
fn tc_allows(tc: &TcString, m: &PurposeMapping) -> bool {
    m.tcf_purposes
        .iter()
        .all(|p| tc.purposes_consent.contains(p))
        && m.special_features
            .iter()
            .all(|f| tc.special_feature_opt_ins.contains(f))
        && m.vendors
            .iter()
            .all(|v| tc.vendor_consents.vendors.contains(v))
}

/// The decision the TC string makes for each purpose it drives: those whose
/// mapping names TCF purposes, special features or vendors. `(purpose, granted)`.
pub(crate) fn decisions_from(interop: &Interop, tc: &TcString) -> Vec<(usize, bool)> {
    interop
        .mappings
        .iter()
        .filter(|m| {
            !(m.tcf_purposes.is_empty() && m.special_features.is_empty() && m.vendors.is_empty())
        })
        .map(|m| (m.purpose, tc_allows(tc, m)))
        .collect()
}

/// The Consent Mode v2 signals for `granted` purposes. A type is granted
/// when at least one purpose maps to it and all of those are granted. When
/// following a CMP, `tc` is the valid string in force (`None`: no valid
/// string, so every `ad_*` type is denied) and Google's TCF reading applies
/// on top: purpose 1 refused → `ad_storage` and `ad_user_data` denied, 3 or
/// 4 → `ad_personalization`, 7 → `ad_user_data`; `analytics_storage` comes
/// from the mapping only.
pub(crate) fn consent_mode(
    interop: &Interop,
    granted: u64,
    following: Option<Option<&TcString>>,
) -> ConsentModeSignals {
    let by_mapping =
        |t: ConsentModeType| all_mapped_granted(interop, granted, |m| m.consent_mode.contains(&t));
    let tcf = |p: u8| match following {
        None => true,
        Some(None) => false,
        Some(Some(tc)) => tc.purposes_consent.contains(&p),
    };
    let status = |g: bool| {
        if g {
            ConsentModeStatus::Granted
        } else {
            ConsentModeStatus::Denied
        }
    };
    ConsentModeSignals {
        ad_storage: status(by_mapping(ConsentModeType::AdStorage) && tcf(1)),
        analytics_storage: status(by_mapping(ConsentModeType::AnalyticsStorage)),
        ad_user_data: status(by_mapping(ConsentModeType::AdUserData) && tcf(1) && tcf(7)),
        ad_personalization: status(
            by_mapping(ConsentModeType::AdPersonalization) && tcf(3) && tcf(4),
        ),
    }
}

/// The `can_request_ads` answer (see [`InteropState::can_request_ads`]).
pub(crate) fn can_request_ads(
    interop: &Interop,
    granted: u64,
    following: Option<Option<&TcString>>,
) -> bool {
    let is_ad = |m: &PurposeMapping| {
        m.consent_mode.iter().any(|t| {
            matches!(
                t,
                ConsentModeType::AdStorage
                    | ConsentModeType::AdUserData
                    | ConsentModeType::AdPersonalization
            )
        })
    };
    all_mapped_granted(interop, granted, is_ad)
        && match following {
            None => true,
            Some(None) => false,
            Some(Some(tc)) => interop
                .mappings
                .iter()
                .filter(|m| is_ad(m))
                .all(|m| tc_allows(tc, m)),
        }
}

/// True when at least one mapping passes `test` and the purposes of all
/// that do are in `granted`.
fn all_mapped_granted(
    interop: &Interop,
    granted: u64,
    test: impl Fn(&PurposeMapping) -> bool,
) -> bool {
    let mut mapped = interop.mappings.iter().filter(|m| test(m)).peekable();
    mapped.peek().is_some() && mapped.all(|m| granted & (1u64 << m.purpose) != 0)
}

/// Deciseconds since the epoch of the start of the UTC day of `now_ms`
/// (Created and LastUpdated hold a day-level time since 2021).
fn day_ds(now_ms: i64) -> u64 {
    let day = now_ms.max(0) / crate::clock::DAY_MS * crate::clock::DAY_MS;
    (day / 100) as u64
}

/// The TC string a registered CMP writes for `granted` purposes: service
/// specific, policy version 4, a TCF purpose, special feature or vendor
/// consented only when every policy purpose mapped to it is granted, no
/// legitimate interest claimed, every mapped vendor disclosed (TCF 2.3).
pub(crate) fn tc_string_for(interop: &Interop, granted: u64, now_ms: i64) -> Option<TcString> {
    let cmp = interop.cmp.as_ref()?;
    let purposes_consent: Vec<u8> = (1..=11u8)
        .filter(|p| all_mapped_granted(interop, granted, |m| m.tcf_purposes.contains(p)))
        .collect();
    let special_feature_opt_ins: Vec<u8> = (1..=2u8)
        .filter(|f| all_mapped_granted(interop, granted, |m| m.special_features.contains(f)))
        .collect();
    let mut all_vendors: Vec<u16> = interop
        .mappings
        .iter()
        .flat_map(|m| m.vendors.iter().copied())
        .collect();
    all_vendors.sort_unstable();
    all_vendors.dedup();
    let consented: Vec<u16> = all_vendors
        .iter()
        .copied()
        .filter(|v| all_mapped_granted(interop, granted, |m| m.vendors.contains(v)))
        .collect();
    let day = day_ds(now_ms);
    Some(TcString {
        created_ds: day,
        last_updated_ds: day,
        cmp_id: cmp.cmp_id,
        cmp_version: cmp.cmp_version,
        consent_screen: 1,
        consent_language: cmp.consent_language.clone(),
        vendor_list_version: cmp.vendor_list_version,
        tcf_policy_version: 4,
        is_service_specific: true,
        use_non_standard_texts: false,
        special_feature_opt_ins,
        purposes_consent,
        purposes_li_transparency: Vec::new(),
        purpose_one_treatment: false,
        publisher_cc: interop.publisher_cc.clone(),
        vendor_consents: VendorSection::from_vendors(consented),
        vendor_legitimate_interests: VendorSection::from_vendors(Vec::new()),
        publisher_restrictions: Vec::new(),
        segments: vec![TcSegment::DisclosedVendors(VendorSection::from_vendors(
            all_vendors,
        ))],
    })
}

/// What a registered CMP writes: the strings and the full key set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Written {
    /// The report on the TC string (status `written`, the string, its hash).
    pub tcf: SignalReport,
    /// The report on the GPP string, when GPP applies and it was encoded.
    pub gpp: Option<SignalReport>,
    /// Every key and its value.
    pub keys: KeyMap,
}

/// The strings and keys for `tc` (see [`tc_string_for`]).
pub(crate) fn written(interop: &Interop, tc: &TcString) -> Option<Written> {
    let cmp = interop.cmp.as_ref()?;
    let tc_string = match tcf::encode(tc) {
        Ok(s) => s,
        Err(e) => {
            // The model is built from a validated policy: cannot happen.
            log::error!("consentgate: the TC string could not be written: {e}");
            return None;
        }
    };
    let mut keys = tcf::in_app_keys(
        &tc_string,
        tc,
        &TcfKeyOptions {
            gdpr_applies: Some(interop.gdpr_applies.unwrap_or(true)),
            addtl_consent: None,
            cmp_sdk_id: Some(cmp.cmp_id),
            cmp_sdk_version: Some(cmp.cmp_version),
        },
    );
    let mut gpp_string = None;
    if interop.gpp {
        let g = gpp::GppString {
            sections: vec![gpp::GppSection::TcfEuV2(tc.clone())],
        };
        if let Ok(text) = gpp::encode(&g) {
            if let Ok(more) = gpp::in_app_keys(&text, &gpp::GppKeyOptions::default()) {
                keys.extend(more);
            }
            gpp_string = Some(text);
        }
    }
    Some(Written {
        tcf: SignalReport::written(tc_string),
        gpp: gpp_string.map(SignalReport::written),
        keys,
    })
}

/// The writes that replace whatever a CMP left in the store with `keys`:
/// every key set, and every `IABTCF_*` key a CMP may write that `keys` does
/// not hold removed (a restriction or a consent from an older string must
/// not stay in force); likewise the `IABGPP_*` keys consentgate writes, but
/// only when it writes GPP (`own_gpp`): otherwise they may be another
/// CMP's (a US one) and are left alone.
pub(crate) fn key_writes(keys: &KeyMap, own_gpp: bool) -> Vec<KeyWrite> {
    let mut out = set_writes(keys);
    let mut known: Vec<String> = [
        "CmpSdkID",
        "CmpSdkVersion",
        "PolicyVersion",
        "gdprApplies",
        "PublisherCC",
        "PurposeOneTreatment",
        "UseNonStandardTexts",
        "UseNonStandardStacks",
        "TCString",
        "VendorConsents",
        "VendorLegitimateInterests",
        "DisclosedVendors",
        "PurposeConsents",
        "PurposeLegitimateInterests",
        "SpecialFeaturesOptIns",
        "PublisherConsent",
        "PublisherLegitimateInterests",
        "PublisherCustomPurposesConsents",
        "PublisherCustomPurposesLegitimateInterests",
        "AddtlConsent",
    ]
    .iter()
    .map(|k| format!("{TCF_KEY_PREFIX}{k}"))
    .collect();
    known.extend((1..=24).map(|p| format!("{TCF_KEY_PREFIX}PublisherRestrictions{p}")));
    if own_gpp {
        known.extend(
            [
                "IABGPP_HDR_Version",
                "IABGPP_HDR_Sections",
                "IABGPP_HDR_GppString",
                "IABGPP_GppSID",
                "IABGPP_2_String",
                "IABGPP_2_TCString",
            ]
            .iter()
            .map(|k| k.to_string()),
        );
    }
    out.extend(
        known
            .into_iter()
            .filter(|k| !keys.contains_key(k))
            .map(|key| KeyWrite::Remove { key }),
    );
    out
}

/// One set operation per key of `keys`, in key order.
pub(crate) fn set_writes(keys: &KeyMap) -> Vec<KeyWrite> {
    keys.iter()
        .map(|(k, v)| match v {
            KeyValue::Int(n) => KeyWrite::SetInt {
                key: k.clone(),
                value: *n,
            },
            KeyValue::Str(s) => KeyWrite::SetString {
                key: k.clone(),
                value: s.clone(),
            },
        })
        .collect()
}
