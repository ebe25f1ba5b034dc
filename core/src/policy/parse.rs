//! Parsing and validation of the policy document: a hand-written walk over
//! the `serde_json::Value` that reports every problem with its JSON path, the
//! URL and id rules of SPEC §3, and the canonical serialization that is
//! hashed. The result is a [`Policy`] with its [`Reserved`] ids resolved.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::rules::{
    canonical_json, check_url, index, is_id, is_policy_id, is_region_code, join, quoted, UrlUse,
    ROOT,
};
use super::*;

/// The `interop` block (its own file: it grows with the ecosystem's signals).
#[path = "interop.rs"]
pub(super) mod interop;

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

/// Top-level fields, in the order SPEC §3 lists them (and issues are reported).
const POLICY_FIELDS: [&str; 14] = [
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
    "interop",
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
const PURPOSE_FIELDS: [&str; 6] = [
    "id",
    "kind",
    "legal_basis",
    "sale_or_share",
    "description",
    "disclosure",
];
const CATEGORY_FIELDS: [&str; 5] = ["id", "requires", "fields", "description", "disclosure"];
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
const CROSS_BORDER: &str = CROSS_BORDER_TRANSFER;

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
            reserved: Reserved::default(),
            interop: None,
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
        if let Some(v) = doc.get("interop") {
            let purposes = purposes_known.then_some(policy.purposes.as_slice());
            policy.interop = self.interop(v, "interop", purposes);
        }
        policy.reserved = Reserved {
            account_id: policy.category_index(ACCOUNT_ID),
            advertising_id: policy.category_index(ADVERTISING_ID),
            usage_events: policy.category_index(USAGE_EVENTS),
            install_referrer: policy.category_index(INSTALL_REFERRER),
            cross_border_transfer: policy.purpose_index(CROSS_BORDER_TRANSFER),
        };
        self.issues.extend(super::disclosure::check(value, &policy));
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
            if let Some(map) = self.object(item, &path, &CATEGORY_FIELDS, &["id"]) {
                if let Some(v) = map.get("id") {
                    let p = join(&path, "id");
                    category.id = self.id(v, &p);
                    if !category.id.is_empty() && categories.iter().any(|c| c.id == category.id) {
                        self.push(&p, format!("duplicate category {}", quoted(&category.id)));
                    }
                }
                match map.get("requires") {
                    Some(v) => {
                        category.requires = self.requires(v, &join(&path, "requires"), purposes)
                    }
                    None => self.default_requires(&mut category, &path, purposes),
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

    /// A category without `requires`: only `install_referrer` has a default,
    /// the policy's `advertising` purpose, else its `analytics` purpose
    /// (referrers carry campaign and ad-click ids: attribution is
    /// advertising measurement first).
    fn default_requires(
        &mut self,
        category: &mut Category,
        path: &str,
        purposes: Option<&[Purpose]>,
    ) {
        if category.id != INSTALL_REFERRER {
            self.push(path, r#"missing field "requires""#);
            return;
        }
        let Some(purposes) = purposes else { return };
        match ["advertising", "analytics"]
            .iter()
            .find_map(|id| purposes.iter().position(|p| p.id == *id))
        {
            Some(ix) => category.requires = vec![ix],
            None => self.push(
                path,
                r#"missing field "requires" (install_referrer defaults to the "advertising" or "analytics" purpose, and the policy defines neither)"#,
            ),
        }
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
