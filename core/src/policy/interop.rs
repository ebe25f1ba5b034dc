//! The policy's optional `interop` block: how the app's own purposes map to
//! the ecosystem's signals (IAB TCF purposes, special features and vendors,
//! and Google Consent Mode v2's four types), the publisher's country, whether
//! GPP applies, and — only when the app really is a registered CMP — its
//! `cmp_id`, `cmp_version` and vendor-list version. Validated like the rest
//! of SPEC §3: unknown fields are errors, every problem is named by its JSON
//! path (`interop.purposes.advertising.tcf_purposes[2]: …`).
//!
//! Not here: what a TC string means for a decision (`cmp`), the codecs
//! (`interop`).

use serde_json::Value;

use super::Checker;
use crate::policy::rules::{index, is_region_code, join, quoted};
use crate::policy::{Purpose, PurposeKind};

/// The four Google Consent Mode v2 consent types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum ConsentModeType {
    /// `ad_storage`: storage (cookies, device ids) for advertising.
    AdStorage,
    /// `analytics_storage`: storage for analytics.
    AnalyticsStorage,
    /// `ad_user_data`: sending user data to Google for advertising.
    AdUserData,
    /// `ad_personalization`: personalised advertising (remarketing).
    AdPersonalization,
}

impl ConsentModeType {
    /// All four, in Google's documented order.
    pub const ALL: [ConsentModeType; 4] = [
        ConsentModeType::AdStorage,
        ConsentModeType::AnalyticsStorage,
        ConsentModeType::AdUserData,
        ConsentModeType::AdPersonalization,
    ];

    /// The policy spelling, e.g. `ad_user_data`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentModeType::AdStorage => "ad_storage",
            ConsentModeType::AnalyticsStorage => "analytics_storage",
            ConsentModeType::AdUserData => "ad_user_data",
            ConsentModeType::AdPersonalization => "ad_personalization",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// How one consent purpose of the policy maps to the ecosystem's signals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurposeMapping {
    /// Index into [`super::Policy::purposes`] (a `consent` purpose).
    pub purpose: usize,
    /// TCF purposes (1–11) that must all be consented for this purpose.
    pub tcf_purposes: Vec<u8>,
    /// TCF special features (1–2) that must all be opted in.
    pub special_features: Vec<u8>,
    /// GVL vendor ids that must all have consent.
    pub vendors: Vec<u16>,
    /// Consent Mode types this purpose grants (together with every other
    /// purpose mapped to the same type).
    pub consent_mode: Vec<ConsentModeType>,
}

/// A registered CMP's identity: only with it does consentgate write TC strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmpRegistration {
    /// The CMP id the IAB registered (2–4095).
    pub cmp_id: u16,
    /// The CMP's version (0–4095, default 1).
    pub cmp_version: u16,
    /// The GVL version the mapping's vendors were taken from (1–4095).
    pub vendor_list_version: u16,
    /// Language of the consent screen, ISO 639-1 upper case (default `EN`).
    pub consent_language: String,
}

/// The validated `interop` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interop {
    /// The publisher's country (`IABTCF_PublisherCC`), ISO 3166-1 alpha-2.
    pub publisher_cc: String,
    /// `IABTCF_gdprApplies` as the app knows it; `None` = undetermined.
    pub gdpr_applies: Option<bool>,
    /// True when GPP applies: its string is read when following a CMP and
    /// written (with a `tcfeuv2` section) when being one.
    pub gpp: bool,
    /// One mapping per mapped purpose, in the order written.
    pub mappings: Vec<PurposeMapping>,
    /// Set only for a registered CMP ("be the CMP" mode).
    pub cmp: Option<CmpRegistration>,
}

impl Interop {
    /// The mapping of purpose `index`, if it has one.
    pub fn mapping_of(&self, index: usize) -> Option<&PurposeMapping> {
        self.mappings.iter().find(|m| m.purpose == index)
    }
}

const INTEROP_FIELDS: [&str; 9] = [
    "publisher_cc",
    "gdpr_applies",
    "gpp",
    "purposes",
    "cmp_id",
    "cmp_version",
    "vendor_list_version",
    "consent_language",
    "description",
];
const MAPPING_FIELDS: [&str; 4] = [
    "tcf_purposes",
    "special_features",
    "vendors",
    "consent_mode",
];
/// Purposes TCF v2.2 defines (GVL v3).
const TCF_PURPOSES: u8 = 11;
/// Special features TCF v2.2 defines.
const SPECIAL_FEATURES: u8 = 2;

impl Checker {
    /// The `interop` block at `path`; `purposes` are the policy's, when they
    /// could be read (otherwise purpose names are not checked).
    pub(super) fn interop(
        &mut self,
        value: &Value,
        path: &str,
        purposes: Option<&[Purpose]>,
    ) -> Option<Interop> {
        let map = self.object(value, path, &INTEROP_FIELDS, &["publisher_cc", "purposes"])?;
        let mut out = Interop {
            publisher_cc: String::new(),
            gdpr_applies: None,
            gpp: false,
            mappings: Vec::new(),
            cmp: None,
        };
        if let Some(v) = map.get("publisher_cc") {
            let p = join(path, "publisher_cc");
            if let Some(s) = self.string(v, &p) {
                if is_region_code(s) {
                    out.publisher_cc = s.to_owned();
                } else {
                    self.push(
                        &p,
                        format!(
                            r#"invalid country {} (an ISO 3166-1 alpha-2 code such as "DE")"#,
                            quoted(s)
                        ),
                    );
                }
            }
        }
        if let Some(v) = map.get("gdpr_applies") {
            out.gdpr_applies = self.boolean(v, &join(path, "gdpr_applies"));
        }
        if let Some(v) = map.get("gpp") {
            out.gpp = self.boolean(v, &join(path, "gpp")).unwrap_or(false);
        }
        if let Some(v) = map.get("purposes") {
            out.mappings = self.mappings(v, &join(path, "purposes"), purposes);
        }
        let cmp_id = map
            .get("cmp_id")
            .and_then(|v| self.integer(v, &join(path, "cmp_id"), 2, 4095));
        if !map.contains_key("cmp_id") {
            for f in ["cmp_version", "vendor_list_version", "consent_language"] {
                if map.contains_key(f) {
                    self.push(
                        &join(path, f),
                        "only a registered CMP writes TC strings: allowed only with cmp_id",
                    );
                }
            }
        }
        if let Some(cmp_id) = cmp_id {
            let cmp_version = match map.get("cmp_version") {
                Some(v) => self
                    .integer(v, &join(path, "cmp_version"), 0, 4095)
                    .unwrap_or(1),
                None => 1,
            };
            let vendor_list_version = match map.get("vendor_list_version") {
                Some(v) => self
                    .integer(v, &join(path, "vendor_list_version"), 1, 4095)
                    .unwrap_or(1),
                None => {
                    self.push(
                        path,
                        r#"missing field "vendor_list_version" (required with cmp_id)"#,
                    );
                    1
                }
            };
            let mut consent_language = "EN".to_owned();
            if let Some(v) = map.get("consent_language") {
                let p = join(path, "consent_language");
                if let Some(s) = self.string(v, &p) {
                    if s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()) {
                        consent_language = s.to_owned();
                    } else {
                        self.push(
                            &p,
                            format!(
                                r#"invalid language {} (ISO 639-1 in upper case, e.g. "EN")"#,
                                quoted(s)
                            ),
                        );
                    }
                }
            }
            out.cmp = Some(CmpRegistration {
                cmp_id: cmp_id as u16,
                cmp_version: cmp_version as u16,
                vendor_list_version: vendor_list_version as u16,
                consent_language,
            });
        }
        if let Some(v) = map.get("description") {
            self.string(v, &join(path, "description"));
        }
        Some(out)
    }

    /// `purposes`: an object keyed by policy purpose id.
    fn mappings(
        &mut self,
        value: &Value,
        path: &str,
        purposes: Option<&[Purpose]>,
    ) -> Vec<PurposeMapping> {
        let mut out = Vec::new();
        let Some(map) = value.as_object() else {
            self.push(path, "expected an object keyed by purpose id");
            return out;
        };
        if map.is_empty() {
            self.push(path, "must map at least one purpose");
        }
        for (id, v) in map {
            let p = join(path, id);
            let found = match purposes {
                Some(list) => match list.iter().position(|x| &x.id == id) {
                    Some(i) if list[i].kind == PurposeKind::Consent => Some(i),
                    Some(_) => {
                        self.push(
                            &p,
                            format!(
                                "purpose {} is necessary: only consent purposes follow a signal",
                                quoted(id)
                            ),
                        );
                        None
                    }
                    None => {
                        self.push(&p, format!("unknown purpose {}", quoted(id)));
                        None
                    }
                },
                None => None,
            };
            let Some(fields) = self.object(v, &p, &MAPPING_FIELDS, &[]) else {
                continue;
            };
            let mut m = PurposeMapping {
                purpose: found.unwrap_or(0),
                tcf_purposes: Vec::new(),
                special_features: Vec::new(),
                vendors: Vec::new(),
                consent_mode: Vec::new(),
            };
            if let Some(v) = fields.get("tcf_purposes") {
                m.tcf_purposes = self.id_list(v, &join(&p, "tcf_purposes"), TCF_PURPOSES);
            }
            if let Some(v) = fields.get("special_features") {
                m.special_features =
                    self.id_list(v, &join(&p, "special_features"), SPECIAL_FEATURES);
            }
            if let Some(v) = fields.get("vendors") {
                m.vendors = self.id_list(v, &join(&p, "vendors"), u16::MAX);
            }
            if let Some(v) = fields.get("consent_mode") {
                let cp = join(&p, "consent_mode");
                if let Some(items) = self.array(v, &cp) {
                    for (i, item) in items.iter().enumerate() {
                        let ip = index(&cp, i);
                        let Some(s) = self.string(item, &ip) else {
                            continue;
                        };
                        match ConsentModeType::parse(s) {
                            Some(t) if m.consent_mode.contains(&t) => {
                                self.push(&ip, format!("{} listed twice", quoted(s)));
                            }
                            Some(t) => m.consent_mode.push(t),
                            None => self.push(
                                &ip,
                                format!(
                                    "unknown consent mode type {} (ad_storage, analytics_storage, \
                                     ad_user_data or ad_personalization)",
                                    quoted(s)
                                ),
                            ),
                        }
                    }
                }
            }
            if fields.is_empty() {
                self.push(
                    &p,
                    "maps to nothing: give tcf_purposes, special_features, vendors or consent_mode",
                );
            }
            if found.is_some() {
                out.push(m);
            }
        }
        out
    }

    /// An array of distinct ids in `1..=max`, sorted on return.
    fn id_list<T: Copy + Ord + std::fmt::Display + Into<u64> + TryFrom<u64>>(
        &mut self,
        value: &Value,
        path: &str,
        max: T,
    ) -> Vec<T> {
        let mut out = Vec::new();
        let Some(items) = self.array(value, path) else {
            return out;
        };
        for (i, item) in items.iter().enumerate() {
            let ip = index(path, i);
            // In 1..=max, so the conversion back to T always succeeds.
            let Some(id) = self
                .integer(item, &ip, 1, max.into())
                .and_then(|n| T::try_from(n).ok())
            else {
                continue;
            };
            if out.contains(&id) {
                self.push(&ip, format!("{id} listed twice"));
            } else {
                out.push(id);
            }
        }
        out.sort_unstable();
        out
    }
}
