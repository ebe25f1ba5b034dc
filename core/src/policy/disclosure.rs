//! Store disclosures from the policy: the facts Apple's privacy manifest and
//! Google Play's Data safety form ask for, per category (data type, linked to
//! the user or not, used for tracking or not, shared, processed ephemerally)
//! and per purpose (which Apple and Play purposes it is), with defaults for
//! the built-in ids, the checks that reject contradictory facts with their
//! JSON path (run by `Policy::parse`), and [`Policy::disclosures`], the
//! resolved facts every store format is rendered from.
//!
//! Not here: the formats themselves (property list, CSV, Markdown). Those are
//! rendered by the CLI (`consentgate disclose`), so that the mobile library
//! carries no property-list code; only the facts and their rules are the
//! core's.

use serde_json::{Map, Value};

use super::rules::{index, join, quoted, url_host};
use super::{Policy, PolicyIssue, PurposeKind};
use super::{ACCOUNT_ID, ADVERTISING_ID, INSTALL_REFERRER, USAGE_EVENTS};

/// Apple's collected-data types (`NSPrivacyCollectedDataType` + this suffix).
pub const APPLE_DATA_TYPES: [&str; 35] = [
    "Name",
    "EmailAddress",
    "PhoneNumber",
    "PhysicalAddress",
    "OtherUserContactInfo",
    "Health",
    "Fitness",
    "PaymentInfo",
    "CreditInfo",
    "OtherFinancialInfo",
    "PreciseLocation",
    "CoarseLocation",
    "SensitiveInfo",
    "Contacts",
    "EmailsOrTextMessages",
    "PhotosorVideos",
    "AudioData",
    "GameplayContent",
    "CustomerSupport",
    "OtherUserContent",
    "BrowsingHistory",
    "SearchHistory",
    "UserID",
    "DeviceID",
    "PurchaseHistory",
    "ProductInteraction",
    "AdvertisingData",
    "OtherUsageData",
    "CrashData",
    "PerformanceData",
    "OtherDiagnosticData",
    "EnvironmentScanning",
    "Hands",
    "Head",
    "OtherDataTypes",
];

/// Apple's collection purposes (`NSPrivacyCollectedDataTypePurpose` + this suffix).
pub const APPLE_PURPOSES: [&str; 6] = [
    "ThirdPartyAdvertising",
    "DeveloperAdvertising",
    "Analytics",
    "ProductPersonalization",
    "AppFunctionality",
    "Other",
];

/// The Apple purposes that mean advertising: a category used for tracking
/// must serve one of them.
const APPLE_ADVERTISING: [&str; 2] = ["ThirdPartyAdvertising", "DeveloperAdvertising"];

/// One data type of Play's Data safety form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayDataType {
    /// Response ID in the form's CSV, e.g. `PSL_DEVICE_ID`.
    pub id: &'static str,
    /// Question ID of its group, e.g. `PSL_DATA_TYPES_IDENTIFIERS`.
    pub group: &'static str,
    /// The group and type as Play Console shows them.
    pub label: &'static str,
}

const fn play(id: &'static str, group: &'static str, label: &'static str) -> PlayDataType {
    PlayDataType { id, group, label }
}

/// Play's data types, in the order Play Console lists them.
pub const PLAY_DATA_TYPES: [PlayDataType; 38] = [
    play(
        "PSL_NAME",
        "PSL_DATA_TYPES_PERSONAL",
        "Personal info / Name",
    ),
    play(
        "PSL_EMAIL",
        "PSL_DATA_TYPES_PERSONAL",
        "Personal info / Email address",
    ),
    play(
        "PSL_USER_ACCOUNT",
        "PSL_DATA_TYPES_PERSONAL",
        "Personal info / User IDs",
    ),
    play(
        "PSL_ADDRESS",
        "PSL_DATA_TYPES_PERSONAL",
        "Personal info / Address",
    ),
    play(
        "PSL_PHONE",
        "PSL_DATA_TYPES_PERSONAL",
        "Personal info / Phone number",
    ),
    play(
        "PSL_RACE_ETHNICITY",
        "PSL_DATA_TYPES_PERSONAL",
        "Personal info / Race and ethnicity",
    ),
    play(
        "PSL_POLITICAL_RELIGIOUS",
        "PSL_DATA_TYPES_PERSONAL",
        "Personal info / Political or religious beliefs",
    ),
    play(
        "PSL_SEXUAL_ORIENTATION_GENDER_IDENTITY",
        "PSL_DATA_TYPES_PERSONAL",
        "Personal info / Sexual orientation",
    ),
    play(
        "PSL_OTHER_PERSONAL",
        "PSL_DATA_TYPES_PERSONAL",
        "Personal info / Other info",
    ),
    play(
        "PSL_CREDIT_DEBIT_BANK_ACCOUNT_NUMBER",
        "PSL_DATA_TYPES_FINANCIAL",
        "Financial info / User payment info",
    ),
    play(
        "PSL_PURCHASE_HISTORY",
        "PSL_DATA_TYPES_FINANCIAL",
        "Financial info / Purchase history",
    ),
    play(
        "PSL_CREDIT_SCORE",
        "PSL_DATA_TYPES_FINANCIAL",
        "Financial info / Credit score",
    ),
    play(
        "PSL_OTHER",
        "PSL_DATA_TYPES_FINANCIAL",
        "Financial info / Other financial info",
    ),
    play(
        "PSL_APPROX_LOCATION",
        "PSL_DATA_TYPES_LOCATION",
        "Location / Approximate location",
    ),
    play(
        "PSL_PRECISE_LOCATION",
        "PSL_DATA_TYPES_LOCATION",
        "Location / Precise location",
    ),
    play(
        "PSL_WEB_BROWSING_HISTORY",
        "PSL_DATA_TYPES_SEARCH_AND_BROWSING",
        "Web browsing / Web browsing history",
    ),
    play(
        "PSL_EMAILS",
        "PSL_DATA_TYPES_EMAIL_AND_TEXT",
        "Messages / Emails",
    ),
    play(
        "PSL_SMS_CALL_LOG",
        "PSL_DATA_TYPES_EMAIL_AND_TEXT",
        "Messages / SMS or MMS",
    ),
    play(
        "PSL_OTHER_MESSAGES",
        "PSL_DATA_TYPES_EMAIL_AND_TEXT",
        "Messages / Other in-app messages",
    ),
    play(
        "PSL_PHOTOS",
        "PSL_DATA_TYPES_PHOTOS_AND_VIDEOS",
        "Photos and videos / Photos",
    ),
    play(
        "PSL_VIDEOS",
        "PSL_DATA_TYPES_PHOTOS_AND_VIDEOS",
        "Photos and videos / Videos",
    ),
    play(
        "PSL_AUDIO",
        "PSL_DATA_TYPES_AUDIO",
        "Audio files / Voice or sound recordings",
    ),
    play(
        "PSL_MUSIC",
        "PSL_DATA_TYPES_AUDIO",
        "Audio files / Music files",
    ),
    play(
        "PSL_OTHER_AUDIO",
        "PSL_DATA_TYPES_AUDIO",
        "Audio files / Other audio files",
    ),
    play(
        "PSL_HEALTH",
        "PSL_DATA_TYPES_HEALTH_AND_FITNESS",
        "Health and fitness / Health info",
    ),
    play(
        "PSL_FITNESS",
        "PSL_DATA_TYPES_HEALTH_AND_FITNESS",
        "Health and fitness / Fitness info",
    ),
    play(
        "PSL_CONTACTS",
        "PSL_DATA_TYPES_CONTACTS",
        "Contacts / Contacts",
    ),
    play(
        "PSL_CALENDAR",
        "PSL_DATA_TYPES_CALENDAR",
        "Calendar / Calendar events",
    ),
    play(
        "PSL_CRASH_LOGS",
        "PSL_DATA_TYPES_APP_PERFORMANCE",
        "App info and performance / Crash logs",
    ),
    play(
        "PSL_PERFORMANCE_DIAGNOSTICS",
        "PSL_DATA_TYPES_APP_PERFORMANCE",
        "App info and performance / Diagnostics",
    ),
    play(
        "PSL_OTHER_PERFORMANCE",
        "PSL_DATA_TYPES_APP_PERFORMANCE",
        "App info and performance / Other app performance data",
    ),
    play(
        "PSL_FILES_AND_DOCS",
        "PSL_DATA_TYPES_FILES_AND_DOCS",
        "Files and docs / Files and docs",
    ),
    play(
        "PSL_USER_INTERACTION",
        "PSL_DATA_TYPES_APP_ACTIVITY",
        "App activity / App interactions",
    ),
    play(
        "PSL_IN_APP_SEARCH_HISTORY",
        "PSL_DATA_TYPES_APP_ACTIVITY",
        "App activity / In-app search history",
    ),
    play(
        "PSL_APPS_ON_DEVICE",
        "PSL_DATA_TYPES_APP_ACTIVITY",
        "App activity / Installed apps",
    ),
    play(
        "PSL_USER_GENERATED_CONTENT",
        "PSL_DATA_TYPES_APP_ACTIVITY",
        "App activity / Other user-generated content",
    ),
    play(
        "PSL_OTHER_APP_ACTIVITY",
        "PSL_DATA_TYPES_APP_ACTIVITY",
        "App activity / Other actions",
    ),
    play(
        "PSL_DEVICE_ID",
        "PSL_DATA_TYPES_IDENTIFIERS",
        "Device or other IDs / Device or other IDs",
    ),
];

/// Play's purposes (Response IDs) and how Play Console names them.
pub const PLAY_PURPOSES: [(&str, &str); 7] = [
    ("PSL_APP_FUNCTIONALITY", "App functionality"),
    ("PSL_ANALYTICS", "Analytics"),
    ("PSL_DEVELOPER_COMMUNICATIONS", "Developer communications"),
    (
        "PSL_FRAUD_PREVENTION_SECURITY",
        "Fraud prevention, security, and compliance",
    ),
    ("PSL_ADVERTISING", "Advertising or marketing"),
    ("PSL_PERSONALIZATION", "Personalization"),
    ("PSL_ACCOUNT_MANAGEMENT", "Account management"),
];

/// A required-reason API the SDK itself uses (`NSPrivacyAccessedAPITypes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessedApi {
    /// `NSPrivacyAccessedAPIType`, e.g. `NSPrivacyAccessedAPICategoryFileTimestamp`.
    pub category: &'static str,
    /// `NSPrivacyAccessedAPITypeReasons`, e.g. `C617.1`.
    pub reasons: &'static [&'static str],
}

/// The required-reason APIs consentgate's own code calls on iOS: the bundled
/// SQLite stats its files inside the app container (FileTimestamp, C617.1),
/// and the Swift `UserDefaultsKeyValueStore` reads and writes the in-app
/// `IABTCF_*` / `IABGPP_*` keys in the app's own defaults (UserDefaults, CA92.1).
/// The same list is in `bindings-ios/Sources/ConsentGate/PrivacyInfo.xcprivacy`.
pub const SDK_ACCESSED_APIS: [AccessedApi; 2] = [
    AccessedApi {
        category: "NSPrivacyAccessedAPICategoryFileTimestamp",
        reasons: &["C617.1"],
    },
    AccessedApi {
        category: "NSPrivacyAccessedAPICategoryUserDefaults",
        reasons: &["CA92.1"],
    },
];

/// Built-in category defaults: (id, Apple data type, Play data type, review note).
const CATEGORY_DEFAULTS: [(&str, &str, &str, Option<&str>); 6] = [
    ("device_info", "OtherDiagnosticData", "PSL_PERFORMANCE_DIAGNOSTICS", None),
    (ADVERTISING_ID, "DeviceID", "PSL_DEVICE_ID", None),
    (USAGE_EVENTS, "ProductInteraction", "PSL_USER_INTERACTION", None),
    (ACCOUNT_ID, "UserID", "PSL_USER_ACCOUNT", None),
    ("precise_location", "PreciseLocation", "PSL_PRECISE_LOCATION", None),
    (
        INSTALL_REFERRER,
        "AdvertisingData",
        "PSL_OTHER_APP_ACTIVITY",
        Some("neither store has a type for install referrers: AdvertisingData / \"Other actions\" is a judgment call, review it; if referrers reach ad networks for attribution, set \"tracking\": true"),
    ),
];

/// Categories whose data consentgate itself queues or attaches to batches and
/// sends: never processed ephemerally.
const SDK_STORED: [&str; 5] = [
    "device_info",
    ADVERTISING_ID,
    USAGE_EVENTS,
    ACCOUNT_ID,
    INSTALL_REFERRER,
];

const CATEGORY_FACTS: [&str; 6] = [
    "apple_data_type",
    "linked",
    "tracking",
    "play_data_type",
    "shared",
    "ephemeral",
];
const PURPOSE_FACTS: [&str; 2] = ["apple", "play"];

/// What one category discloses, resolved (explicit facts over defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryDisclosure {
    /// The category id.
    pub id: String,
    /// The policy's description of the category, if any.
    pub description: Option<String>,
    /// Ids of the purposes the category requires, in policy order.
    pub purposes: Vec<String>,
    /// Apple data type, without the `NSPrivacyCollectedDataType` prefix.
    pub apple_data_type: &'static str,
    /// Linked to the user's identity (Apple).
    pub linked: bool,
    /// Used to track the user (Apple's definition).
    pub tracking: bool,
    /// Apple purposes, from the purposes the category requires.
    pub apple_purposes: Vec<&'static str>,
    /// Play data type.
    pub play_data_type: PlayDataType,
    /// Play purposes (Response IDs), from the purposes the category requires.
    pub play_purposes: Vec<&'static str>,
    /// Shared with third parties (Play).
    pub shared: bool,
    /// Processed ephemerally (Play).
    pub ephemeral: bool,
    /// True when the user can refuse it: some required purpose needs consent
    /// (Play's "optional").
    pub optional: bool,
    /// A mapping a person should check before publishing, if any.
    pub review: Option<&'static str>,
}

/// One purpose as the disclosures describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurposeDisclosure {
    /// The purpose id.
    pub id: String,
    /// `necessary` or `consent`.
    pub kind: PurposeKind,
    /// The policy's description of the purpose, if any.
    pub description: Option<String>,
    /// A sale or share of data.
    pub sale_or_share: bool,
}

/// Everything the store formats are rendered from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disclosures {
    /// The policy id.
    pub policy_id: String,
    /// The policy revision.
    pub revision: u32,
    /// Where the privacy notice is.
    pub notice_url: String,
    /// The controller's name.
    pub controller: String,
    /// The controller's contact, if given.
    pub contact: Option<String>,
    /// Purposes in policy order.
    pub purposes: Vec<PurposeDisclosure>,
    /// Categories in policy order.
    pub categories: Vec<CategoryDisclosure>,
    /// Some category is used for tracking (`NSPrivacyTracking`).
    pub tracking: bool,
    /// Hosts of the endpoints that receive tracking data (every endpoint,
    /// since any may receive any allowed category), when `tracking`.
    pub tracking_domains: Vec<String>,
    /// Every endpoint is `https://` (Play: encrypted in transit).
    pub encrypted_in_transit: bool,
    /// The SDK's own required-reason APIs.
    pub accessed_apis: &'static [AccessedApi],
}

impl Policy {
    /// The store disclosures of this policy, or every reason they cannot be
    /// made, each with its JSON path: a category the SDK has no defaults for
    /// and that declares no `disclosure`, or one whose purposes map to no
    /// store purpose.
    pub fn disclosures(&self) -> Result<Disclosures, Vec<PolicyIssue>> {
        let doc: Value = serde_json::from_str(&self.canonical_json).unwrap_or(Value::Null);
        let mut issues = Vec::new();
        let resolved = resolve(&doc, self, &mut issues, true);
        if !issues.is_empty() {
            return Err(issues);
        }
        let purposes = self
            .purposes
            .iter()
            .enumerate()
            .map(|(i, p)| PurposeDisclosure {
                id: p.id.clone(),
                kind: p.kind,
                description: description(&doc, "purposes", i),
                sale_or_share: p.sale_or_share,
            })
            .collect();
        let categories: Vec<CategoryDisclosure> = resolved.into_iter().flatten().collect();
        let tracking = categories.iter().any(|c| c.tracking);
        let mut tracking_domains = Vec::new();
        if tracking {
            for e in &self.endpoints {
                let host = url_host(&e.url).to_owned();
                if !tracking_domains.contains(&host) {
                    tracking_domains.push(host);
                }
            }
        }
        Ok(Disclosures {
            policy_id: self.policy_id.clone(),
            revision: self.revision,
            notice_url: self.notice_url.clone(),
            controller: self.controller.name.clone(),
            contact: self.controller.contact.clone(),
            purposes,
            categories,
            tracking,
            tracking_domains,
            encrypted_in_transit: self.endpoints.iter().all(|e| e.url.starts_with("https://")),
            accessed_apis: &SDK_ACCESSED_APIS,
        })
    }
}

/// The checks `Policy::parse` runs: explicit disclosure facts are well formed
/// and do not contradict each other or the purposes. Missing facts are not
/// an error here (a policy without them still gates data); they are
/// reported by [`Policy::disclosures`].
pub(super) fn check(doc: &Value, policy: &Policy) -> Vec<PolicyIssue> {
    let mut issues = Vec::new();
    resolve(doc, policy, &mut issues, false);
    issues
}

fn push(issues: &mut Vec<PolicyIssue>, path: String, message: impl Into<String>) {
    issues.push(PolicyIssue {
        path,
        message: message.into(),
    });
}

/// Appends the items of `from` that `to` does not hold yet, in order.
fn add_new(to: &mut Vec<&'static str>, from: &[&'static str]) {
    for x in from {
        if !to.contains(x) {
            to.push(x);
        }
    }
}

/// The `disclosure` object of item `i` of `list` (`purposes`, `categories`), as written.
fn facts_of<'d>(doc: &'d Value, list: &str, i: usize) -> Option<&'d Value> {
    doc.get(list)?.get(i)?.get("disclosure")
}

fn description(doc: &Value, list: &str, i: usize) -> Option<String> {
    doc.get(list)?
        .get(i)?
        .get("description")?
        .as_str()
        .map(str::to_owned)
}

/// Apple and Play purposes of purpose `i`: explicit, or the defaults for
/// necessary purposes and the `analytics`, `advertising` and
/// `cross_border_transfer` ids. `None`: no mapping.
type StorePurposes = Option<(Vec<&'static str>, Vec<&'static str>)>;

fn purpose_defaults(policy: &Policy, i: usize) -> StorePurposes {
    let p = &policy.purposes[i];
    if p.kind == PurposeKind::Necessary {
        return Some((vec!["AppFunctionality"], vec!["PSL_APP_FUNCTIONALITY"]));
    }
    match p.id.as_str() {
        "analytics" => Some((vec!["Analytics"], vec!["PSL_ANALYTICS"])),
        "advertising" if p.sale_or_share => {
            Some((vec!["ThirdPartyAdvertising"], vec!["PSL_ADVERTISING"]))
        }
        "advertising" => Some((vec!["DeveloperAdvertising"], vec!["PSL_ADVERTISING"])),
        // A condition on where data goes, not a use of it.
        super::CROSS_BORDER_TRANSFER => Some((Vec::new(), Vec::new())),
        _ => None,
    }
}

/// Reads `purposes[i].disclosure`; records problems; `None` when absent or broken.
fn purpose_facts(doc: &Value, i: usize, issues: &mut Vec<PolicyIssue>) -> StorePurposes {
    let path = join(&index("purposes", i), "disclosure");
    let value = facts_of(doc, "purposes", i)?;
    let map = object(value, &path, &PURPOSE_FACTS, issues)?;
    let mut ok = true;
    let mut list = |key: &str, known: &[&'static str], what: &str| -> Vec<&'static str> {
        let p = join(&path, key);
        let Some(v) = map.get(key) else {
            push(
                issues,
                path.clone(),
                format!("missing field {}", quoted(key)),
            );
            ok = false;
            return Vec::new();
        };
        let Some(items) = v.as_array() else {
            push(issues, p, "expected an array");
            ok = false;
            return Vec::new();
        };
        let mut out = Vec::new();
        for (j, item) in items.iter().enumerate() {
            let pj = index(&p, j);
            match item.as_str().and_then(|s| known.iter().find(|k| **k == s)) {
                Some(k) if out.contains(k) => {
                    push(issues, pj, format!("{} is listed twice", quoted(k)));
                    ok = false;
                }
                Some(k) => out.push(*k),
                None => {
                    push(
                        issues,
                        pj,
                        format!(
                            "unknown {what} {} (expected one of {})",
                            item,
                            known.join(", ")
                        ),
                    );
                    ok = false;
                }
            }
        }
        out
    };
    let apple = list("apple", &APPLE_PURPOSES, "Apple purpose");
    let play_ids: Vec<&'static str> = PLAY_PURPOSES.iter().map(|(id, _)| *id).collect();
    let play = list("play", &play_ids, "Play purpose");
    ok.then_some((apple, play))
}

/// Resolves every category's facts; records problems in `issues`. With
/// `complete`, a category or purpose without any facts is a problem too.
fn resolve(
    doc: &Value,
    policy: &Policy,
    issues: &mut Vec<PolicyIssue>,
    complete: bool,
) -> Vec<Option<CategoryDisclosure>> {
    let purposes: Vec<StorePurposes> = (0..policy.purposes.len())
        .map(|i| {
            if facts_of(doc, "purposes", i).is_some() {
                purpose_facts(doc, i, issues)
            } else {
                purpose_defaults(policy, i)
            }
        })
        .collect();
    let mut reported_purposes = Vec::new();
    let has_account = policy.reserved.account_id.is_some();
    let mut out = Vec::with_capacity(policy.categories.len());
    for (ci, category) in policy.categories.iter().enumerate() {
        let path = index("categories", ci);
        let defaults = CATEGORY_DEFAULTS.iter().find(|(id, ..)| *id == category.id);
        let explicit = facts_of(doc, "categories", ci);
        let facts_path = join(&path, "disclosure");
        let map = match explicit {
            Some(v) => match object(v, &facts_path, &CATEGORY_FACTS, issues) {
                Some(m) => Some(m),
                None => {
                    out.push(None);
                    continue;
                }
            },
            None => None,
        };
        // Purposes of the category, mapped.
        let mut apple_purposes: Vec<&'static str> = Vec::new();
        let mut play_purposes: Vec<&'static str> = Vec::new();
        let mut unmapped = false;
        for &pi in &category.requires {
            match &purposes[pi] {
                Some((apple, play)) => {
                    add_new(&mut apple_purposes, apple);
                    add_new(&mut play_purposes, play);
                }
                None => {
                    unmapped = true;
                    let has_facts = facts_of(doc, "purposes", pi).is_some();
                    if complete && !has_facts && !reported_purposes.contains(&pi) {
                        reported_purposes.push(pi);
                        push(
                            issues,
                            index("purposes", pi),
                            format!(
                                r#"purpose {} has no built-in store mapping; add "disclosure": {{"apple": [...], "play": [...]}}"#,
                                quoted(&policy.purposes[pi].id)
                            ),
                        );
                    }
                }
            }
        }
        let sale = category
            .requires
            .iter()
            .find(|&&pi| policy.purposes[pi].sale_or_share)
            .map(|&pi| policy.purposes[pi].id.clone());
        let advertising = apple_purposes.iter().any(|a| APPLE_ADVERTISING.contains(a));
        let requires_ids: Vec<String> = category
            .requires
            .iter()
            .map(|&pi| policy.purposes[pi].id.clone())
            .collect();

        let mut ok = true;
        let string_fact = |key: &str, issues: &mut Vec<PolicyIssue>| -> Option<Option<&str>> {
            match map.and_then(|m| m.get(key)) {
                None => Some(None),
                Some(Value::String(s)) => Some(Some(s.as_str())),
                Some(_) => {
                    push(issues, join(&facts_path, key), "expected a string");
                    None
                }
            }
        };
        let bool_fact = |key: &str, issues: &mut Vec<PolicyIssue>| -> Option<Option<bool>> {
            match map.and_then(|m| m.get(key)) {
                None => Some(None),
                Some(Value::Bool(b)) => Some(Some(*b)),
                Some(_) => {
                    push(issues, join(&facts_path, key), "expected true or false");
                    None
                }
            }
        };

        let apple_type = data_type(
            string_fact("apple_data_type", issues),
            (&APPLE_DATA_TYPES, |t| t, defaults.map(|d| d.1)),
            |s| {
                format!(
                    "unknown Apple data type {} (expected one of {})",
                    quoted(s),
                    APPLE_DATA_TYPES.join(", ")
                )
            },
            (&facts_path, "apple_data_type", &mut ok, issues),
        );
        let play_type = data_type(
            string_fact("play_data_type", issues),
            (&PLAY_DATA_TYPES, |t| t.id, defaults.map(|d| d.2)),
            |s| {
                format!(
                    "unknown Play data type {} (expected a Response ID such as \"PSL_DEVICE_ID\"; see PLAY_DATA_TYPES)",
                    quoted(s)
                )
            },
            (&facts_path, "play_data_type", &mut ok, issues),
        );
        if defaults.is_none() && map.is_some() {
            for (key, value) in [
                ("apple_data_type", apple_type.is_some()),
                ("play_data_type", play_type.is_some()),
            ] {
                if !value && map.is_some_and(|m| !m.contains_key(key)) {
                    push(
                        issues,
                        facts_path.clone(),
                        format!(
                            "missing field {} (category {} has no built-in default)",
                            quoted(key),
                            quoted(&category.id)
                        ),
                    );
                    ok = false;
                }
            }
        }
        if defaults.is_none() && map.is_none() && complete {
            push(
                issues,
                path.clone(),
                format!(
                    r#"category {} has no built-in disclosure facts; add "disclosure": {{"apple_data_type": ..., "play_data_type": ...}}"#,
                    quoted(&category.id)
                ),
            );
            ok = false;
        }

        let tracking = bool_fact("tracking", issues);
        let shared = bool_fact("shared", issues);
        let ephemeral = bool_fact("ephemeral", issues);
        let linked = bool_fact("linked", issues);
        let (Some(tracking), Some(shared), Some(ephemeral), Some(linked)) =
            (tracking, shared, ephemeral, linked)
        else {
            out.push(None);
            continue;
        };
        // Contradictions, at the fact that was written.
        if tracking == Some(true) && !advertising && !unmapped {
            push(
                issues,
                join(&facts_path, "tracking"),
                format!(
                    "tracking without an advertising purpose: category {} requires only {} (none maps to ThirdPartyAdvertising or DeveloperAdvertising)",
                    quoted(&category.id),
                    requires_ids.iter().map(|s| quoted(s)).collect::<Vec<_>>().join(", ")
                ),
            );
            ok = false;
        }
        if shared == Some(false) {
            if let Some(p) = &sale {
                push(
                    issues,
                    join(&facts_path, "shared"),
                    format!(
                        "contradicts purpose {p:?}, which is a sale or share of data (sale_or_share: true)"
                    ),
                );
                ok = false;
            }
        }
        if ephemeral == Some(true) && SDK_STORED.contains(&category.id.as_str()) {
            push(
                issues,
                join(&facts_path, "ephemeral"),
                format!(
                    "consentgate keeps {} in memory or on disk and uploads it in batches: it is not processed ephemerally",
                    quoted(&category.id)
                ),
            );
            ok = false;
        }
        if complete && !unmapped && (apple_purposes.is_empty() || play_purposes.is_empty()) {
            push(
                issues,
                join(&path, "requires"),
                format!(
                    "none of {} maps to a store purpose; add \"disclosure\" to one of these purposes",
                    requires_ids.iter().map(|s| quoted(s)).collect::<Vec<_>>().join(", ")
                ),
            );
            ok = false;
        }
        let (Some(apple_data_type), Some(play_data_type)) = (apple_type, play_type) else {
            out.push(None);
            continue;
        };
        if !ok || unmapped {
            out.push(None);
            continue;
        }
        let default_tracking = category.id == ADVERTISING_ID && sale.is_some() && advertising;
        out.push(Some(CategoryDisclosure {
            id: category.id.clone(),
            description: description(doc, "categories", ci),
            purposes: requires_ids,
            apple_data_type,
            // While the policy has an account id, every batch may carry it.
            linked: linked.unwrap_or(category.id == ACCOUNT_ID || has_account),
            tracking: tracking.unwrap_or(default_tracking),
            apple_purposes,
            play_data_type,
            play_purposes,
            shared: shared.unwrap_or(sale.is_some()),
            ephemeral: ephemeral.unwrap_or(false),
            optional: category
                .requires
                .iter()
                .any(|&pi| policy.purposes[pi].kind == PurposeKind::Consent),
            review: defaults.and_then(|d| d.3),
        }));
    }
    out
}

/// A data-type fact: the explicit one if `known` (ids by `id`) has it, else
/// the problem `unknown` describes, recorded at `facts.key`; without one, the
/// built-in `default`. `fact` is what `string_fact` read (`None`: not a
/// string, already recorded).
fn data_type<T: Copy>(
    fact: Option<Option<&str>>,
    (known, id, default): (&[T], impl Fn(&T) -> &str, Option<&str>),
    unknown: impl FnOnce(&str) -> String,
    (facts, key, ok, issues): (&str, &str, &mut bool, &mut Vec<PolicyIssue>),
) -> Option<T> {
    let find = |s: &str| known.iter().find(|t| id(t) == s).copied();
    match fact {
        Some(Some(s)) => {
            let found = find(s);
            if found.is_none() {
                push(issues, join(facts, key), unknown(s));
                *ok = false;
            }
            found
        }
        Some(None) => default.and_then(find),
        None => {
            *ok = false;
            None
        }
    }
}

/// `value` as an object with only `allowed` keys; records problems.
fn object<'v>(
    value: &'v Value,
    path: &str,
    allowed: &[&str],
    issues: &mut Vec<PolicyIssue>,
) -> Option<&'v Map<String, Value>> {
    let Some(map) = value.as_object() else {
        push(issues, path.to_owned(), "expected an object");
        return None;
    };
    let mut ok = true;
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            push(
                issues,
                join(path, key),
                format!("unknown field {}", quoted(key)),
            );
            ok = false;
        }
    }
    ok.then_some(map)
}
