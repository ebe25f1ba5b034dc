//! The policy document (SPEC §3): its types, the lookups every other module
//! uses (purpose and category indices, masks, the endpoint for a region), and
//! the ids the core treats specially, resolved once at parse time
//! ([`Reserved`]). A [`Policy`] value is always valid: the only way to get
//! one is [`Policy::parse`] (in `parse`), which collects *all* problems with
//! their JSON paths instead of stopping at the first.
//!
//! Store disclosure facts (Apple, Play) and their checks are in
//! `disclosure`.
//!
//! Not here: what a decision means over time (that is `consent`).

mod disclosure;
mod parse;
mod rules;

pub use disclosure::{
    AccessedApi, CategoryDisclosure, Disclosures, PlayDataType, PurposeDisclosure,
    APPLE_DATA_TYPES, APPLE_PURPOSES, PLAY_DATA_TYPES, PLAY_PURPOSES, SDK_ACCESSED_APIS,
};
pub use parse::interop::{CmpRegistration, ConsentModeType, Interop, PurposeMapping};

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Category id of the app's user id (SPEC §2): kept and sent only while allowed.
pub const ACCOUNT_ID: &str = "account_id";
/// Category id of the platform advertising id.
pub const ADVERTISING_ID: &str = "advertising_id";
/// Category id of usage events (`record_event`).
pub const USAGE_EVENTS: &str = "usage_events";
/// Category id of the install referrer (how the user found the app), asked of
/// an `InstallReferrerProvider` only while allowed.
pub const INSTALL_REFERRER: &str = "install_referrer";
/// Purpose id that gates sending data to an endpoint abroad (SPEC §3).
pub const CROSS_BORDER_TRANSFER: &str = "cross_border_transfer";

/// The ids the core treats specially, resolved when the policy is parsed;
/// `None` when the policy does not define them (then what they gate is never
/// allowed, except `cross_border_transfer`, whose absence means no transfer
/// needs consent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reserved {
    /// Index of the `account_id` category.
    pub account_id: Option<usize>,
    /// Index of the `advertising_id` category.
    pub advertising_id: Option<usize>,
    /// Index of the `usage_events` category.
    pub usage_events: Option<usize>,
    /// Index of the `install_referrer` category.
    pub install_referrer: Option<usize>,
    /// Index of the `cross_border_transfer` purpose.
    pub cross_border_transfer: Option<usize>,
}

/// Most purposes, and most categories, a policy may define: the gate keeps
/// both sets as 64-bit masks so `allows()` is one load and one bit test.
pub const MAX_IDS: usize = 64;

/// Device fields the SDK knows how to ask a `DeviceInfoProvider` for.
pub const DEVICE_FIELDS: [&str; 9] = [
    "os",
    "os_version",
    "model",
    "manufacturer",
    "locale",
    "timezone",
    "carrier",
    "app_version",
    "screen",
];

/// One problem in a policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyIssue {
    /// JSON path, e.g. `categories[1].requires[0]`; `$` for the document itself.
    pub path: String,
    /// What is wrong, e.g. `unknown purpose "analitycs"`.
    pub message: String,
}

impl fmt::Display for PolicyIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Whether a purpose needs the user's consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum PurposeKind {
    /// Needed to provide the service or by law: always granted, never withdrawn.
    Necessary,
    /// Off until the user grants it.
    Consent,
}

/// A purpose of processing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purpose {
    /// Id, `^[a-z][a-z0-9_]{0,63}$`.
    pub id: String,
    /// `necessary` or `consent`.
    pub kind: PurposeKind,
    /// Optional legal basis for necessary purposes (`contract`, `legal_obligation`, …).
    pub legal_basis: Option<String>,
    /// True when the purpose is a sale or share of data (denied under GPC).
    pub sale_or_share: bool,
}

/// A category of collected data and the purposes it requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Id, e.g. `usage_events`.
    pub id: String,
    /// Indices into [`Policy::purposes`]; all must be granted.
    pub requires: Vec<usize>,
    /// Device fields collected under this category (see [`DEVICE_FIELDS`]).
    pub fields: Vec<String>,
}

/// A collector endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Id, e.g. `kz`.
    pub id: String,
    /// Base URL without trailing slash; `https://` or loopback `http://`.
    pub url: String,
    /// ISO 3166-1 alpha-2 region codes served, or `*` for any.
    pub regions: Vec<String>,
}

/// The data controller named in receipts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    /// Legal name.
    pub name: String,
    /// Registration number (BIN in Kazakhstan), if given.
    pub registration_id: Option<String>,
    /// Contact for data-subject requests, if given.
    pub contact: Option<String>,
}

/// Queue and retention limits (G8). Defaults are those of SPEC §3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most events in one upload batch.
    pub max_batch_events: u64,
    /// Most uncompressed bytes of events in one upload batch.
    pub max_batch_bytes: u64,
    /// Most events kept queued; the oldest are evicted beyond it.
    pub max_queue_events: u64,
    /// Most bytes of events kept queued; the oldest are evicted beyond it.
    pub max_queue_bytes: u64,
    /// Events older than this are purged.
    pub event_ttl_days: u64,
    /// Ledger entries older than this are pruned (the chain stays verifiable).
    pub ledger_retention_days: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_batch_events: 500,
            max_batch_bytes: 262_144,
            max_queue_events: 20_000,
            max_queue_bytes: 20_971_520,
            event_ttl_days: 30,
            ledger_retention_days: 1095,
        }
    }
}

/// A validated policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Schema version of the document (1).
    pub schema: u32,
    /// Id of the policy, e.g. `example-app`.
    pub policy_id: String,
    /// Revision, increasing with each published change.
    pub revision: u32,
    /// Decisions made under a lower revision count as unset (0 = never).
    pub reconsent_below_revision: u32,
    /// Where the privacy notice is published.
    pub notice_url: String,
    /// Who is responsible for the data.
    pub controller: Controller,
    /// Decisions older than this count as unset; `None` = never expire.
    pub consent_ttl_days: Option<u32>,
    /// Minimum age without parental consent; `None` = no age gate.
    pub min_age: Option<u32>,
    /// Purposes in document order.
    pub purposes: Vec<Purpose>,
    /// Categories in document order.
    pub categories: Vec<Category>,
    /// Endpoints in document order (at least one).
    pub endpoints: Vec<Endpoint>,
    /// Region overrides keyed by region code.
    pub regions: BTreeMap<String, RegionOverride>,
    /// Queue and retention limits.
    pub limits: Limits,
    /// The specially treated ids, resolved.
    pub reserved: Reserved,
    /// The `interop` block: mapping to TCF / GPP / Consent Mode, and the
    /// mode (following another CMP, or being one with `cmp_id`).
    pub interop: Option<Interop>,
    /// Hex sha256 of the canonical serialization (sorted keys, no spaces).
    pub hash: String,
    /// The canonical serialization itself (what is stored and hashed).
    pub canonical_json: String,
}

/// Per-region settings that override the document's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegionOverride {
    /// Minimum age in this region.
    pub min_age: Option<u32>,
}

impl Policy {
    /// Index of the purpose with this id.
    pub fn purpose_index(&self, id: &str) -> Option<usize> {
        self.purposes.iter().position(|p| p.id == id)
    }

    /// Index of the category with this id.
    pub fn category_index(&self, id: &str) -> Option<usize> {
        self.categories.iter().position(|c| c.id == id)
    }

    /// Bit mask of the categories allowed when `granted` purposes are granted.
    pub fn allowed_categories(&self, granted: u64) -> u64 {
        (0..self.categories.len()).fold(0u64, |m, i| {
            if self.category_purpose_mask(i) & !granted == 0 {
                m | (1u64 << i)
            } else {
                m
            }
        })
    }

    /// Bit mask of the purposes a category requires.
    pub fn category_purpose_mask(&self, category: usize) -> u64 {
        self.categories[category]
            .requires
            .iter()
            .fold(0u64, |m, &p| m | (1u64 << p))
    }

    /// Minimum age in force for `region` (a region override wins).
    pub fn min_age_for(&self, region: Option<&str>) -> Option<u32> {
        region
            .and_then(|r| self.regions.get(r))
            .and_then(|o| o.min_age)
            .or(self.min_age)
    }

    /// The endpoint serving `region` and whether it is a cross-border
    /// destination (it does not list the region explicitly).
    pub fn endpoint_for(&self, region: Option<&str>) -> Option<(&Endpoint, bool)> {
        self.endpoints.iter().find_map(|e| {
            let explicit = region.is_some_and(|r| e.regions.iter().any(|x| x == r));
            if explicit {
                Some((e, false))
            } else if e.regions.iter().any(|x| x == "*") {
                Some((e, true))
            } else {
                None
            }
        })
    }

    /// The category that collects device field `field`, if any.
    pub fn category_of_field(&self, field: &str) -> Option<usize> {
        self.categories
            .iter()
            .position(|c| c.fields.iter().any(|f| f == field))
    }
}

/// Hex sha256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}
