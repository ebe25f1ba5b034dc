//! The policy document (SPEC §3): its types, parsing with every validation
//! rule, and the canonical hash the ledger records. A [`Policy`] value is always
//! valid: the only way to get one is [`Policy::parse`], which collects *all*
//! problems with their JSON paths instead of stopping at the first.
//!
//! Not here: what a decision means over time (that is `consent`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

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

impl Policy {
    /// Parses and validates a policy document (SPEC §3).
    ///
    /// Every problem is reported, not just the first, each with the JSON path
    /// it is about (`$` for the document itself) and in a stable order: the
    /// fields of an object in the order SPEC §3 lists them (unknown fields
    /// and missing fields of an object first), array elements by index. Text
    /// that is not JSON at all yields a single issue at `$` with the parser's
    /// line and column.
    ///
    /// ```
    /// # use consentgate::policy::Policy;
    /// let json = r#"{"schema": 1, "policy_id": "demo", "revision": 1,
    ///   "notice_url": "https://example.kz/privacy",
    ///   "controller": {"name": "Example LLP"},
    ///   "purposes": [{"id": "analytics", "kind": "consent"}],
    ///   "categories": [{"id": "usage_events", "requires": ["analitycs"]}],
    ///   "endpoints": [{"id": "kz", "url": "https://collector.example.kz", "regions": ["KZ"]}]}"#;
    /// let issues = Policy::parse(json).unwrap_err();
    /// assert_eq!(issues[0].to_string(), r#"categories[0].requires[0]: unknown purpose "analitycs""#);
    /// ```
    pub fn parse(json: &str) -> Result<Policy, Vec<PolicyIssue>> {
        let value: Value = serde_json::from_str(json).map_err(|e| {
            vec![PolicyIssue {
                path: ROOT.to_owned(),
                message: e.to_string(),
            }]
        })?;
        let mut checker = Checker::default();
        let policy = checker.policy(&value);
        if checker.issues.is_empty() {
            Ok(policy)
        } else {
            Err(checker.issues)
        }
    }
}

// ---------------------------------------------------------------------------
// Validation. The checker walks the `serde_json::Value` by hand so that one
// pass can report every problem; each step records issues and returns a value
// (a placeholder where the input was wrong) so that later, cross-field checks
// still run. The placeholders never escape: any issue means `Err`.

/// Path of the document itself.
const ROOT: &str = "$";

/// Top-level fields, in the order SPEC §3 lists them (and issues are reported).
const POLICY_FIELDS: [&str; 13] = [
    "schema",
    "policy_id",
    "revision",
    "reconsent_below_revision",
    "notice_url",
    "controller",
    "consent_ttl_days",
    "min_age",
    "purposes",
    "categories",
    "endpoints",
    "regions",
    "limits",
];
const POLICY_REQUIRED: [&str; 8] = [
    "schema",
    "policy_id",
    "revision",
    "notice_url",
    "controller",
    "purposes",
    "categories",
    "endpoints",
];
const CONTROLLER_FIELDS: [&str; 3] = ["name", "registration_id", "contact"];
const PURPOSE_FIELDS: [&str; 5] = ["id", "kind", "legal_basis", "sale_or_share", "description"];
const CATEGORY_FIELDS: [&str; 4] = ["id", "requires", "fields", "description"];
const ENDPOINT_FIELDS: [&str; 3] = ["id", "url", "regions"];
const REGION_FIELDS: [&str; 1] = ["min_age"];
const LIMIT_FIELDS: [&str; 6] = [
    "max_batch_events",
    "max_batch_bytes",
    "max_queue_events",
    "max_queue_bytes",
    "event_ttl_days",
    "ledger_retention_days",
];

/// The only schema version this SDK reads.
const SCHEMA: u32 = 1;
/// Highest `min_age` accepted (a larger value is surely a typo).
const MAX_MIN_AGE: u32 = 120;
/// The purpose that gates sending data to an endpoint abroad (SPEC §3).
const CROSS_BORDER: &str = "cross_border_transfer";
/// How a URL that fails the scheme rule is described.
const HTTPS_ONLY: &str = "must be https:// (plain http is allowed only for loopback)";

/// Collects issues while building a [`Policy`].
#[derive(Default)]
struct Checker {
    issues: Vec<PolicyIssue>,
}

impl Checker {
    fn push(&mut self, path: &str, message: impl Into<String>) {
        self.issues.push(PolicyIssue {
            path: path.to_owned(),
            message: message.into(),
        });
    }

    fn policy(&mut self, value: &Value) -> Policy {
        let mut policy = Policy {
            schema: SCHEMA,
            policy_id: String::new(),
            revision: 0,
            reconsent_below_revision: 0,
            notice_url: String::new(),
            controller: Controller {
                name: String::new(),
                registration_id: None,
                contact: None,
            },
            consent_ttl_days: None,
            min_age: None,
            purposes: Vec::new(),
            categories: Vec::new(),
            endpoints: Vec::new(),
            regions: BTreeMap::new(),
            limits: Limits::default(),
            hash: String::new(),
            canonical_json: String::new(),
        };
        let Some(doc) = self.object(value, ROOT, &POLICY_FIELDS, &POLICY_REQUIRED) else {
            return policy;
        };
        if let Some(v) = doc.get("schema") {
            let path = "schema";
            if let Some(n) = self.u32_in(v, path, 1, u32::MAX) {
                if n != SCHEMA {
                    self.push(
                        path,
                        format!("unsupported schema {n} (this SDK reads schema {SCHEMA})"),
                    );
                }
            }
        }
        if let Some(v) = doc.get("policy_id") {
            if let Some(s) = self.string(v, "policy_id") {
                if !is_policy_id(s) {
                    self.push(
                        "policy_id",
                        format!(
                            "invalid policy id {} (must match ^[a-z][a-z0-9_-]{{0,63}}$)",
                            quoted(s)
                        ),
                    );
                }
                policy.policy_id = s.to_owned();
            }
        }
        let revision = doc
            .get("revision")
            .and_then(|v| self.u32_in(v, "revision", 1, u32::MAX));
        if let Some(r) = revision {
            policy.revision = r;
        }
        if let Some(v) = doc.get("reconsent_below_revision") {
            let path = "reconsent_below_revision";
            if let Some(n) = self.u32_in(v, path, 0, u32::MAX) {
                match revision {
                    Some(r) if n > r => {
                        self.push(path, format!("must not exceed revision ({r})"));
                    }
                    _ => policy.reconsent_below_revision = n,
                }
            }
        }
        if let Some(v) = doc.get("notice_url") {
            if let Some(url) = self.url(v, "notice_url", UrlUse::Notice) {
                policy.notice_url = url;
            }
        }
        if let Some(v) = doc.get("controller") {
            policy.controller = self.controller(v, "controller");
        }
        if let Some(v) = doc.get("consent_ttl_days") {
            policy.consent_ttl_days = self.u32_in(v, "consent_ttl_days", 1, u32::MAX);
        }
        if let Some(v) = doc.get("min_age") {
            policy.min_age = self.u32_in(v, "min_age", 1, MAX_MIN_AGE);
        }
        let purposes_known = match doc.get("purposes") {
            Some(v) => {
                let parsed = self.purposes(v, "purposes");
                let known = parsed.is_some();
                policy.purposes = parsed.unwrap_or_default();
                known
            }
            None => false,
        };
        if let Some(v) = doc.get("categories") {
            let purposes = purposes_known.then_some(policy.purposes.as_slice());
            policy.categories = self.categories(v, "categories", purposes);
        }
        if let Some(v) = doc.get("endpoints") {
            policy.endpoints = self.endpoints(v, "endpoints");
        }
        if let Some(v) = doc.get("regions") {
            policy.regions = self.regions(v, "regions");
        }
        if let Some(v) = doc.get("limits") {
            policy.limits = self.limits(v, "limits");
        }
        policy.canonical_json = canonical_json(value);
        policy.hash = sha256_hex(policy.canonical_json.as_bytes());
        policy
    }

    fn controller(&mut self, value: &Value, path: &str) -> Controller {
        let mut controller = Controller {
            name: String::new(),
            registration_id: None,
            contact: None,
        };
        let Some(map) = self.object(value, path, &CONTROLLER_FIELDS, &["name"]) else {
            return controller;
        };
        if let Some(v) = map.get("name") {
            let p = join(path, "name");
            if let Some(s) = self.string(v, &p) {
                if s.trim().is_empty() {
                    self.push(&p, "must not be empty");
                }
                controller.name = s.to_owned();
            }
        }
        if let Some(v) = map.get("registration_id") {
            controller.registration_id = self
                .string(v, &join(path, "registration_id"))
                .map(str::to_owned);
        }
        if let Some(v) = map.get("contact") {
            controller.contact = self.string(v, &join(path, "contact")).map(str::to_owned);
        }
        controller
    }

    /// `None` when `value` is not an array (so categories skip the
    /// "unknown purpose" check instead of repeating one error many times).
    fn purposes(&mut self, value: &Value, path: &str) -> Option<Vec<Purpose>> {
        let items = self.array(value, path)?;
        if items.is_empty() {
            self.push(path, "must list at least one purpose");
        }
        if items.len() > MAX_IDS {
            self.push(
                path,
                format!(
                    "at most {MAX_IDS} purposes are allowed, found {}",
                    items.len()
                ),
            );
        }
        let mut purposes: Vec<Purpose> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = index(path, i);
            // One entry per element, even a broken one, so that indices match
            // the document and an id that *is* there is found by categories.
            let mut purpose = Purpose {
                id: String::new(),
                kind: PurposeKind::Consent,
                legal_basis: None,
                sale_or_share: false,
            };
            if let Some(map) = self.object(item, &path, &PURPOSE_FIELDS, &["id", "kind"]) {
                if let Some(v) = map.get("id") {
                    let p = join(&path, "id");
                    purpose.id = self.id(v, &p);
                    if !purpose.id.is_empty() && purposes.iter().any(|q| q.id == purpose.id) {
                        self.push(&p, format!("duplicate purpose {}", quoted(&purpose.id)));
                    }
                }
                let mut kind = None;
                if let Some(v) = map.get("kind") {
                    kind = match v.as_str() {
                        Some("necessary") => Some(PurposeKind::Necessary),
                        Some("consent") => Some(PurposeKind::Consent),
                        _ => {
                            self.push(&join(&path, "kind"), r#"expected "necessary" or "consent""#);
                            None
                        }
                    };
                }
                if let Some(v) = map.get("legal_basis") {
                    purpose.legal_basis = self
                        .string(v, &join(&path, "legal_basis"))
                        .map(str::to_owned);
                }
                if let Some(v) = map.get("sale_or_share") {
                    purpose.sale_or_share = self
                        .boolean(v, &join(&path, "sale_or_share"))
                        .unwrap_or(false);
                }
                if let Some(v) = map.get("description") {
                    self.string(v, &join(&path, "description"));
                }
                if kind == Some(PurposeKind::Necessary) {
                    if purpose.id == CROSS_BORDER {
                        self.push(
                            &join(&path, "kind"),
                            format!(r#"{CROSS_BORDER} must be kind "consent" (sending data abroad needs the user's consent)"#),
                        );
                    }
                    if purpose.sale_or_share {
                        self.push(
                            &join(&path, "sale_or_share"),
                            "a necessary purpose cannot be a sale or share of data",
                        );
                    }
                }
                purpose.kind = kind.unwrap_or(PurposeKind::Consent);
            }
            purposes.push(purpose);
        }
        Some(purposes)
    }

    /// `purposes` is `None` when the document's purposes could not be read.
    fn categories(
        &mut self,
        value: &Value,
        path: &str,
        purposes: Option<&[Purpose]>,
    ) -> Vec<Category> {
        let Some(items) = self.array(value, path) else {
            return Vec::new();
        };
        if items.len() > MAX_IDS {
            self.push(
                path,
                format!(
                    "at most {MAX_IDS} categories are allowed, found {}",
                    items.len()
                ),
            );
        }
        let mut categories: Vec<Category> = Vec::with_capacity(items.len());
        // Device field -> the category that first claimed it.
        let mut field_owner: BTreeMap<String, String> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            let path = index(path, i);
            let mut category = Category {
                id: String::new(),
                requires: Vec::new(),
                fields: Vec::new(),
            };
            if let Some(map) = self.object(item, &path, &CATEGORY_FIELDS, &["id", "requires"]) {
                if let Some(v) = map.get("id") {
                    let p = join(&path, "id");
                    category.id = self.id(v, &p);
                    if !category.id.is_empty() && categories.iter().any(|c| c.id == category.id) {
                        self.push(&p, format!("duplicate category {}", quoted(&category.id)));
                    }
                }
                if let Some(v) = map.get("requires") {
                    category.requires = self.requires(v, &join(&path, "requires"), purposes);
                }
                if let Some(v) = map.get("fields") {
                    let owner = if category.id.is_empty() {
                        path.clone()
                    } else {
                        category.id.clone()
                    };
                    category.fields =
                        self.fields(v, &join(&path, "fields"), &owner, &mut field_owner);
                }
                if let Some(v) = map.get("description") {
                    self.string(v, &join(&path, "description"));
                }
            }
            categories.push(category);
        }
        categories
    }

    fn requires(&mut self, value: &Value, path: &str, purposes: Option<&[Purpose]>) -> Vec<usize> {
        let Some(items) = self.array(value, path) else {
            return Vec::new();
        };
        if items.is_empty() {
            self.push(path, "must list at least one purpose");
        }
        let mut requires = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let p = index(path, i);
            let Some(name) = self.string(item, &p) else {
                continue;
            };
            let Some(purposes) = purposes else {
                continue;
            };
            match purposes.iter().position(|q| q.id == name) {
                Some(ix) if requires.contains(&ix) => {
                    self.push(&p, format!("purpose {} is listed twice", quoted(name)));
                }
                Some(ix) => requires.push(ix),
                None => self.push(&p, format!("unknown purpose {}", quoted(name))),
            }
        }
        requires
    }

    fn fields(
        &mut self,
        value: &Value,
        path: &str,
        owner: &str,
        field_owner: &mut BTreeMap<String, String>,
    ) -> Vec<String> {
        let Some(items) = self.array(value, path) else {
            return Vec::new();
        };
        let mut fields = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let p = index(path, i);
            let Some(name) = self.string(item, &p) else {
                continue;
            };
            if !DEVICE_FIELDS.contains(&name) {
                self.push(&p, format!("unknown device field {}", quoted(name)));
                continue;
            }
            if let Some(first) = field_owner.get(name) {
                self.push(
                    &p,
                    format!(
                        "device field {} already belongs to category {}",
                        quoted(name),
                        quoted(first)
                    ),
                );
                continue;
            }
            field_owner.insert(name.to_owned(), owner.to_owned());
            fields.push(name.to_owned());
        }
        fields
    }

    fn endpoints(&mut self, value: &Value, path: &str) -> Vec<Endpoint> {
        let Some(items) = self.array(value, path) else {
            return Vec::new();
        };
        if items.is_empty() {
            self.push(path, "must list at least one endpoint");
        }
        let mut endpoints: Vec<Endpoint> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = index(path, i);
            let mut endpoint = Endpoint {
                id: String::new(),
                url: String::new(),
                regions: Vec::new(),
            };
            if let Some(map) = self.object(item, &path, &ENDPOINT_FIELDS, &ENDPOINT_FIELDS) {
                if let Some(v) = map.get("id") {
                    let p = join(&path, "id");
                    endpoint.id = self.id(v, &p);
                    if !endpoint.id.is_empty() && endpoints.iter().any(|e| e.id == endpoint.id) {
                        self.push(&p, format!("duplicate endpoint {}", quoted(&endpoint.id)));
                    }
                }
                if let Some(v) = map.get("url") {
                    if let Some(url) = self.url(v, &join(&path, "url"), UrlUse::Endpoint) {
                        endpoint.url = url;
                    }
                }
                if let Some(v) = map.get("regions") {
                    endpoint.regions = self.endpoint_regions(v, &join(&path, "regions"));
                }
            }
            endpoints.push(endpoint);
        }
        endpoints
    }

    fn endpoint_regions(&mut self, value: &Value, path: &str) -> Vec<String> {
        let Some(items) = self.array(value, path) else {
            return Vec::new();
        };
        if items.is_empty() {
            self.push(path, r#"must list at least one region code or "*""#);
        }
        let mut regions = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let p = index(path, i);
            let Some(code) = self.string(item, &p) else {
                continue;
            };
            if code == "*" || is_region_code(code) {
                regions.push(code.to_owned());
            } else {
                self.push(
                    &p,
                    format!(
                        r#"invalid region {} (use an ISO 3166-1 alpha-2 code such as "KZ", or "*")"#,
                        quoted(code)
                    ),
                );
            }
        }
        regions
    }

    fn regions(&mut self, value: &Value, path: &str) -> BTreeMap<String, RegionOverride> {
        let mut regions = BTreeMap::new();
        // Keys are region codes, not field names, so this object is walked
        // here rather than through `object`.
        let Some(map) = value.as_object() else {
            self.push(path, "expected an object");
            return regions;
        };
        for (code, v) in map {
            let p = join(path, code);
            if !is_region_code(code) {
                self.push(
                    &p,
                    format!(
                        r#"invalid region {} (use an ISO 3166-1 alpha-2 code such as "KZ")"#,
                        quoted(code)
                    ),
                );
            }
            let mut region = RegionOverride::default();
            if let Some(fields) = self.object(v, &p, &REGION_FIELDS, &[]) {
                if let Some(age) = fields.get("min_age") {
                    region.min_age = self.u32_in(age, &join(&p, "min_age"), 1, MAX_MIN_AGE);
                }
            }
            regions.insert(code.clone(), region);
        }
        regions
    }

    fn limits(&mut self, value: &Value, path: &str) -> Limits {
        let mut limits = Limits::default();
        let Some(map) = self.object(value, path, &LIMIT_FIELDS, &[]) else {
            return limits;
        };
        // Fields present but wrong: their cross-checks would only add noise.
        let mut broken: Vec<&str> = Vec::new();
        for (name, slot) in [
            ("max_batch_events", &mut limits.max_batch_events),
            ("max_batch_bytes", &mut limits.max_batch_bytes),
            ("max_queue_events", &mut limits.max_queue_events),
            ("max_queue_bytes", &mut limits.max_queue_bytes),
            ("event_ttl_days", &mut limits.event_ttl_days),
            ("ledger_retention_days", &mut limits.ledger_retention_days),
        ] {
            if let Some(v) = map.get(name) {
                match self.integer(v, &join(path, name), 1, u64::MAX) {
                    Some(n) => *slot = n,
                    None => broken.push(name),
                }
            }
        }
        // A batch larger than the queue could never fill: the queue would
        // evict before the batch is complete.
        for (batch, queue, batch_max, queue_max) in [
            (
                "max_batch_events",
                "max_queue_events",
                limits.max_batch_events,
                limits.max_queue_events,
            ),
            (
                "max_batch_bytes",
                "max_queue_bytes",
                limits.max_batch_bytes,
                limits.max_queue_bytes,
            ),
        ] {
            if batch_max > queue_max && !broken.contains(&batch) && !broken.contains(&queue) {
                // Point at a field the author wrote (the other may be a default).
                let at = if map.contains_key(batch) {
                    batch
                } else {
                    queue
                };
                self.push(
                    &join(path, at),
                    format!("{batch} ({batch_max}) must not exceed {queue} ({queue_max})"),
                );
            }
        }
        limits
    }

    // -- typed accessors: each reports a wrong type at `path` ---------------

    /// `value` as an object whose keys are all in `allowed` and which has
    /// every key in `required`.
    fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        allowed: &[&str],
        required: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(map) = value.as_object() else {
            self.push(path, "expected an object");
            return None;
        };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                self.push(&join(path, key), format!("unknown field {}", quoted(key)));
            }
        }
        for key in required {
            if !map.contains_key(*key) {
                self.push(path, format!("missing field {}", quoted(key)));
            }
        }
        Some(map)
    }

    fn array<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v Vec<Value>> {
        let items = value.as_array();
        if items.is_none() {
            self.push(path, "expected an array");
        }
        items
    }

    fn string<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v str> {
        let s = value.as_str();
        if s.is_none() {
            self.push(path, "expected a string");
        }
        s
    }

    fn boolean(&mut self, value: &Value, path: &str) -> Option<bool> {
        let b = value.as_bool();
        if b.is_none() {
            self.push(path, "expected true or false");
        }
        b
    }

    /// A JSON integer (not `1.0`, not `"1"`) in `lo..=hi`.
    fn integer(&mut self, value: &Value, path: &str, lo: u64, hi: u64) -> Option<u64> {
        let kind = if lo == 0 {
            "expected a non-negative integer"
        } else {
            "expected a positive integer"
        };
        match value.as_u64() {
            Some(n) if n >= lo && n <= hi => Some(n),
            Some(0) => {
                self.push(path, kind);
                None
            }
            Some(_) => {
                self.push(path, format!("must be between {lo} and {hi}"));
                None
            }
            // Without serde_json's arbitrary_precision an integer beyond
            // u64 arrives as a float; call it out of range, not "not an integer".
            None if value
                .as_f64()
                .is_some_and(|f| f.fract() == 0.0 && f >= u64::MAX as f64) =>
            {
                self.push(path, format!("must be between {lo} and {hi}"));
                None
            }
            None => {
                self.push(path, kind);
                None
            }
        }
    }

    fn u32_in(&mut self, value: &Value, path: &str, lo: u32, hi: u32) -> Option<u32> {
        self.integer(value, path, u64::from(lo), u64::from(hi))
            .and_then(|n| u32::try_from(n).ok())
    }

    /// An id string. A string that breaks the id rule is still returned, so
    /// that references to it are not reported a second time as unknown.
    fn id(&mut self, value: &Value, path: &str) -> String {
        let Some(s) = self.string(value, path) else {
            return String::new();
        };
        if !is_id(s) {
            self.push(
                path,
                format!(
                    "invalid id {} (must match ^[a-z][a-z0-9_]{{0,63}}$)",
                    quoted(s)
                ),
            );
        }
        s.to_owned()
    }

    /// A URL that passes [`check_url`]; endpoint URLs lose one trailing slash.
    fn url(&mut self, value: &Value, path: &str, usage: UrlUse) -> Option<String> {
        let s = self.string(value, path)?;
        if let Err(message) = check_url(s, usage) {
            self.push(path, message);
            return None;
        }
        let s = match usage {
            UrlUse::Endpoint => s.strip_suffix('/').unwrap_or(s),
            UrlUse::Notice => s,
        };
        Some(s.to_owned())
    }
}

/// What a URL is for: an endpoint URL is a base that `/v1/...` is appended
/// to, so it may not carry a query or fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UrlUse {
    Notice,
    Endpoint,
}

/// The URL rule of SPEC §3: `https://` with a host, or plain `http://` to a
/// loopback host (`127.0.0.1`, `localhost`, `[::1]`) for development.
fn check_url(url: &str, usage: UrlUse) -> Result<(), String> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".to_owned());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(HTTPS_ONLY.to_owned());
    };
    let https = scheme.eq_ignore_ascii_case("https");
    if !https && !scheme.eq_ignore_ascii_case("http") {
        return Err(HTTPS_ONLY.to_owned());
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err("must not contain a user name or password".to_owned());
    }
    let (host, port) = split_host_port(authority);
    if host.is_empty() {
        return Err("must have a host".to_owned());
    }
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p > 0);
        if !valid {
            return Err(format!("invalid port {}", quoted(port)));
        }
    }
    if !is_host(host) {
        return Err(format!("invalid host {}", quoted(host)));
    }
    if !https && !is_loopback(host) {
        return Err(HTTPS_ONLY.to_owned());
    }
    if usage == UrlUse::Endpoint && tail.contains(['?', '#']) {
        return Err(
            "must not have a query or fragment (it is the base of /v1/... paths)".to_owned(),
        );
    }
    Ok(())
}

/// Splits `host[:port]`, where host may be a bracketed IPv6 literal.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        if let Some(close) = authority.find(']') {
            let (host, rest) = authority.split_at(close + 1);
            return match rest.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None if rest.is_empty() => (host, None),
                // Garbage after `]`: report it as part of the host.
                None => (authority, None),
            };
        }
        return (authority, None);
    }
    match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

/// An ASCII host name (dot-separated labels of letters, digits and `-`), an
/// IPv4 address, or a bracketed IPv6 literal.
fn is_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return !inner.is_empty()
            && inner.contains(':')
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

fn is_loopback(host: &str) -> bool {
    host == "127.0.0.1" || host == "[::1]" || host.eq_ignore_ascii_case("localhost")
}

/// `^[a-z][a-z0-9_]{0,63}$`: purpose, category and endpoint ids.
fn is_id(s: &str) -> bool {
    let b = s.as_bytes();
    matches!(b.first(), Some(b'a'..=b'z'))
        && b.len() <= 64
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

/// `^[a-z][a-z0-9_-]{0,63}$`: like an id, but `-` is allowed too, as in the
/// `"example-app"` of SPEC §3 (a policy id is only a label, never a key in a
/// mask or a wire field name).
fn is_policy_id(s: &str) -> bool {
    let b = s.as_bytes();
    matches!(b.first(), Some(b'a'..=b'z'))
        && b.len() <= 64
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

/// `^[A-Z]{2}$`.
fn is_region_code(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// `parent.key`, or `parent["key"]` when the key is not a plain name; a
/// top-level field's path is just its name.
fn join(parent: &str, key: &str) -> String {
    let plain = key
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match (parent == ROOT, plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{}]", quoted(key)),
    }
}

fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// `s` as a JSON string literal, so that odd characters in a message stay visible.
fn quoted(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// The document with object keys sorted and no insignificant whitespace.
///
/// This is byte for byte what `serde_json::to_string` gives for a `Value`
/// whose map is the default `BTreeMap`; sorting here as well keeps the hash
/// stable even if some crate in the build enables serde_json's
/// `preserve_order` feature (features are unified across a build).
fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&quoted(key));
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        // Scalars print the same whatever the map type.
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_rule_is_lower_snake_case_up_to_64_chars() {
        assert!(is_id("a"));
        assert!(is_id("cross_border_transfer"));
        assert!(is_id(&format!("a{}", "b".repeat(63))));
        assert!(!is_id(&format!("a{}", "b".repeat(64))));
        for bad in ["", "_a", "1a", "Analytics", "a-b", "a b", "аналитика"] {
            assert!(!is_id(bad), "{bad:?} passed");
        }
        assert!(is_policy_id("example-app"));
        assert!(!is_policy_id("-app"));
    }

    #[test]
    fn region_codes_are_two_capital_letters() {
        assert!(is_region_code("KZ"));
        for bad in ["kz", "KAZ", "K", "", "К1", "ҚЗ"] {
            assert!(!is_region_code(bad), "{bad:?} passed");
        }
    }

    #[test]
    fn url_rule() {
        use UrlUse::{Endpoint, Notice};
        for ok in [
            "https://collector.example.kz",
            "https://collector.example.kz:8443/base/",
            "HTTPS://Example.KZ",
            "https://10.0.0.1",
            "https://[2001:db8::1]:443",
            "http://127.0.0.1",
            "http://127.0.0.1:8080/x",
            "http://localhost:3000",
            "http://[::1]:9000/",
        ] {
            assert_eq!(check_url(ok, Endpoint), Ok(()), "{ok}");
        }
        assert_eq!(
            check_url("https://example.kz/privacy?lang=ru#top", Notice),
            Ok(())
        );
        let cases = [
            ("http://example.kz", HTTPS_ONLY.to_owned()),
            ("http://127.0.0.1.nip.io", HTTPS_ONLY.to_owned()),
            ("http://localhost.evil.com", HTTPS_ONLY.to_owned()),
            ("http://[::2]", HTTPS_ONLY.to_owned()),
            ("ftp://example.kz", HTTPS_ONLY.to_owned()),
            ("example.kz", HTTPS_ONLY.to_owned()),
            ("https://", "must have a host".to_owned()),
            ("https:///path", "must have a host".to_owned()),
            (
                "http://localhost@evil.com",
                "must not contain a user name or password".to_owned(),
            ),
            ("https://example.kz:0", r#"invalid port "0""#.to_owned()),
            (
                "https://example.kz:99999",
                r#"invalid port "99999""#.to_owned(),
            ),
            ("https://example.kz:", r#"invalid port """#.to_owned()),
            (
                "https://exa_mple.kz",
                r#"invalid host "exa_mple.kz""#.to_owned(),
            ),
            (
                "https://example..kz",
                r#"invalid host "example..kz""#.to_owned(),
            ),
            (
                "https://пример.kz",
                r#"invalid host "пример.kz""#.to_owned(),
            ),
            (
                "https://example.kz/ x",
                "must not contain spaces or control characters".to_owned(),
            ),
            (
                "https://example.kz/?a=1",
                "must not have a query or fragment (it is the base of /v1/... paths)".to_owned(),
            ),
        ];
        for (url, message) in cases {
            assert_eq!(check_url(url, Endpoint), Err(message), "{url}");
        }
    }

    #[test]
    fn paths_quote_keys_that_are_not_plain_names() {
        assert_eq!(join(ROOT, "limits"), "limits");
        assert_eq!(join("controller", "nmae"), "controller.nmae");
        assert_eq!(join("regions", "K Z"), r#"regions["K Z"]"#);
        assert_eq!(join(ROOT, "a\"b"), r#"$["a\"b"]"#);
        assert_eq!(index("purposes", 2), "purposes[2]");
    }

    #[test]
    fn canonical_json_matches_serde_json_with_sorted_keys() {
        let value: Value = serde_json::from_str(
            r#"{"b": [1, {"z": null, "a": "é\n\"q\""}], "a": true, "c": -2, "d": 1.5}"#,
        )
        .unwrap();
        let canonical = canonical_json(&value);
        assert_eq!(
            canonical,
            r#"{"a":true,"b":[1,{"a":"é\n\"q\"","z":null}],"c":-2,"d":1.5}"#
        );
        // Same bytes as serde_json's own writer (given keys already in order,
        // which holds for its default map whatever the input order).
        let sorted: Value = serde_json::from_str(&canonical).unwrap();
        assert_eq!(serde_json::to_string(&sorted).unwrap(), canonical);
    }
}
