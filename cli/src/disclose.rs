//! `consentgate disclose`: the app's store disclosures rendered from the
//! core's resolved facts ([`Disclosures`]): Apple's `PrivacyInfo.xcprivacy`
//! (a property list written with the `plist` crate), Google Play's Data
//! safety answers as CSV in the layout Play Console's "Import from CSV"
//! takes (one row per question and response: `Question ID (machine
//! readable)`, `Response ID (machine readable)`, `Response value`, `Answer
//! requirement`, `Human-friendly question label`), and a Markdown summary
//! for the privacy page.
//!
//! Rendering lives here, not in the core, so the mobile library carries no
//! property-list code: the core owns the facts and the rules that check
//! them; this module only writes formats. Several categories with the same
//! store data type become one entry (purposes united; linked, tracking and
//! shared if any is; optional only if all are).

use consentgate::policy::{
    CategoryDisclosure, Disclosures, PlayDataType, PurposeKind, PLAY_PURPOSES,
};
use plist::{Dictionary, Value};

/// Apple's prefix of collected-data types.
const APPLE_TYPE_PREFIX: &str = "NSPrivacyCollectedDataType";
/// Apple's prefix of collection purposes.
const APPLE_PURPOSE_PREFIX: &str = "NSPrivacyCollectedDataTypePurpose";

/// One store data type and everything collected as it.
struct Entry<'a, T> {
    data_type: T,
    categories: Vec<&'a CategoryDisclosure>,
}

fn group<'a, T: PartialEq + Copy>(
    d: &'a Disclosures,
    key: impl Fn(&CategoryDisclosure) -> T,
) -> Vec<Entry<'a, T>> {
    let mut out: Vec<Entry<'a, T>> = Vec::new();
    for c in &d.categories {
        let k = key(c);
        match out.iter_mut().find(|e| e.data_type == k) {
            Some(e) => e.categories.push(c),
            None => out.push(Entry {
                data_type: k,
                categories: vec![c],
            }),
        }
    }
    out
}

fn union<'a>(lists: impl Iterator<Item = &'a Vec<&'static str>>) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for l in lists {
        for x in l {
            if !out.contains(x) {
                out.push(x);
            }
        }
    }
    out
}

/// `PrivacyInfo.xcprivacy` as XML.
pub fn apple(d: &Disclosures) -> Result<String, String> {
    let mut root = Dictionary::new();
    root.insert("NSPrivacyTracking".into(), Value::Boolean(d.tracking));
    root.insert(
        "NSPrivacyTrackingDomains".into(),
        Value::Array(
            d.tracking_domains
                .iter()
                .map(|h| Value::String(h.clone()))
                .collect(),
        ),
    );
    let types = group(d, |c| c.apple_data_type)
        .into_iter()
        .map(|e| {
            let mut t = Dictionary::new();
            t.insert(
                "NSPrivacyCollectedDataType".into(),
                Value::String(format!("{APPLE_TYPE_PREFIX}{}", e.data_type)),
            );
            t.insert(
                "NSPrivacyCollectedDataTypeLinked".into(),
                Value::Boolean(e.categories.iter().any(|c| c.linked)),
            );
            t.insert(
                "NSPrivacyCollectedDataTypeTracking".into(),
                Value::Boolean(e.categories.iter().any(|c| c.tracking)),
            );
            t.insert(
                "NSPrivacyCollectedDataTypePurposes".into(),
                Value::Array(
                    union(e.categories.iter().map(|c| &c.apple_purposes))
                        .into_iter()
                        .map(|p| Value::String(format!("{APPLE_PURPOSE_PREFIX}{p}")))
                        .collect(),
                ),
            );
            Value::Dictionary(t)
        })
        .collect();
    root.insert("NSPrivacyCollectedDataTypes".into(), Value::Array(types));
    root.insert(
        "NSPrivacyAccessedAPITypes".into(),
        Value::Array(
            d.accessed_apis
                .iter()
                .map(|api| {
                    let mut a = Dictionary::new();
                    a.insert(
                        "NSPrivacyAccessedAPIType".into(),
                        Value::String(api.category.into()),
                    );
                    a.insert(
                        "NSPrivacyAccessedAPITypeReasons".into(),
                        Value::Array(
                            api.reasons
                                .iter()
                                .map(|r| Value::String((*r).into()))
                                .collect(),
                        ),
                    );
                    Value::Dictionary(a)
                })
                .collect(),
        ),
    );
    let mut out = Vec::new();
    Value::Dictionary(root)
        .to_writer_xml(&mut out)
        .map_err(|e| format!("cannot write the property list: {e}"))?;
    let mut text = String::from_utf8(out).map_err(|e| e.to_string())?;
    text.push('\n');
    Ok(text)
}

/// A warning for stderr when the manifest names tracking domains: iOS fails
/// every request to them until the user allows tracking.
pub fn apple_warning(d: &Disclosures) -> Option<String> {
    (!d.tracking_domains.is_empty()).then(|| {
        format!(
            "note: NSPrivacyTrackingDomains lists {} because {} is used for tracking; iOS fails requests to these hosts until the user allows tracking (ATT), uploads without the advertising id included",
            d.tracking_domains.join(", "),
            d.categories
                .iter()
                .filter(|c| c.tracking)
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// Mappings a person should check before publishing, as `note:` lines.
pub fn review_notes(d: &Disclosures) -> Vec<String> {
    d.categories
        .iter()
        .filter_map(|c| c.review.map(|r| format!("note: {}: {r}", c.id)))
        .collect()
}

fn csv_cell(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_owned()
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        ""
    }
}

/// The Data safety answers as CSV for Play Console's import.
pub fn play(d: &Disclosures) -> String {
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut row = |q: &str, r: &str, v: &str, req: &str, label: &str| {
        rows.push([q.into(), r.into(), v.into(), req.into(), label.into()]);
    };
    row(
        "Question ID (machine readable)",
        "Response ID (machine readable)",
        "Response value",
        "Answer requirement",
        "Human-friendly question label",
    );
    let entries = group(d, |c| c.play_data_type);
    row(
        "PSL_DATA_COLLECTION_COLLECTS_PERSONAL_DATA",
        "",
        if entries.is_empty() { "false" } else { "true" },
        "REQUIRED",
        "Does your app collect or share any of the required user data types?",
    );
    row(
        "PSL_DATA_COLLECTION_ENCRYPTED_IN_TRANSIT",
        "",
        if d.encrypted_in_transit {
            "true"
        } else {
            "false"
        },
        "MAYBE_REQUIRED",
        "Is all of the user data collected by your app encrypted in transit?",
    );
    // consentgate's request_deletion erases local data and sends a durable
    // deletion request to every endpoint that received data.
    row(
        "PSL_SUPPORT_DATA_DELETION_BY_USER",
        "DATA_DELETION_YES",
        "true",
        "SINGLE_CHOICE",
        "Do you provide a way for users to request that their data is deleted? / Yes",
    );
    for e in &entries {
        let t: PlayDataType = e.data_type;
        let ids: Vec<&str> = e.categories.iter().map(|c| c.id.as_str()).collect();
        row(
            t.group,
            t.id,
            "true",
            "MULTIPLE_CHOICE",
            &format!("{} (consentgate: {})", t.label, ids.join(", ")),
        );
    }
    for e in &entries {
        let t = e.data_type;
        let base = format!("PSL_DATA_USAGE_RESPONSES:{}", t.id);
        let name = t.label.rsplit(" / ").next().unwrap_or(t.label);
        let shared = e.categories.iter().any(|c| c.shared);
        let ephemeral = e.categories.iter().all(|c| c.ephemeral);
        let optional = e.categories.iter().all(|c| c.optional);
        let purposes = union(e.categories.iter().map(|c| &c.play_purposes));
        let sharing = union(
            e.categories
                .iter()
                .filter(|c| c.shared)
                .map(|c| &c.play_purposes),
        );
        let q = format!("{base}:PSL_DATA_USAGE_COLLECTION_AND_SHARING");
        row(
            &q,
            "PSL_DATA_USAGE_ONLY_COLLECTED",
            "true",
            "MULTIPLE_CHOICE",
            &format!("{name} / Collected"),
        );
        row(
            &q,
            "PSL_DATA_USAGE_ONLY_SHARED",
            yes(shared),
            "MULTIPLE_CHOICE",
            &format!("{name} / Shared"),
        );
        row(
            &format!("{base}:PSL_DATA_USAGE_EPHEMERAL"),
            "",
            if ephemeral { "true" } else { "false" },
            "MAYBE_REQUIRED",
            &format!("{name} / Processed ephemerally?"),
        );
        let q = format!("{base}:DATA_USAGE_USER_CONTROL");
        row(
            &q,
            "PSL_DATA_USAGE_USER_CONTROL_OPTIONAL",
            yes(optional),
            "SINGLE_CHOICE",
            &format!("{name} / Users can choose whether this data is collected"),
        );
        row(
            &q,
            "PSL_DATA_USAGE_USER_CONTROL_REQUIRED",
            yes(!optional),
            "SINGLE_CHOICE",
            &format!("{name} / Data collection is required"),
        );
        for (question, chosen, verb) in [
            ("COLLECTION", &purposes, "collected"),
            ("SHARING", &sharing, "shared"),
        ] {
            for (id, label) in PLAY_PURPOSES {
                row(
                    &format!("{base}:DATA_USAGE_{question}_PURPOSE"),
                    id,
                    yes(chosen.contains(&id)),
                    "MULTIPLE_CHOICE",
                    &format!("{name} / Why is this user data {verb}? / {label}"),
                );
            }
        }
    }
    let mut out = String::new();
    for r in rows {
        out.push_str(&r.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A human-readable summary for the privacy page.
pub fn markdown(d: &Disclosures) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# What {} collects, and why\n\n",
        md_cell(&d.controller)
    ));
    out.push_str(&format!(
        "Generated by consentgate from policy `{}`, revision {}. The full privacy notice: <{}>.\n\n",
        d.policy_id, d.revision, d.notice_url
    ));
    out.push_str("Nothing below is collected before you agree to the purpose it needs, except what is marked *needed for the service*. You can take consent back at any time in the app's privacy settings: what was waiting to be sent for that purpose is deleted at once.\n\n");
    out.push_str("| Data | Purposes | Your choice | Shared with third parties | Used to track you | Linked to you |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- |\n");
    for c in &d.categories {
        let what = match &c.description {
            Some(desc) => format!("**{}**: {}", c.id, md_cell(desc)),
            None => format!("**{}**", c.id),
        };
        let choice = if c.optional {
            "asked first (off until you agree)"
        } else {
            "needed for the service"
        };
        let yn = |b: bool| if b { "yes" } else { "no" };
        out.push_str(&format!(
            "| {what} | {} | {choice} | {} | {} | {} |\n",
            c.purposes.join(", "),
            yn(c.shared),
            yn(c.tracking),
            yn(c.linked)
        ));
    }
    out.push_str("\n## Purposes\n\n");
    for p in &d.purposes {
        let kind = match p.kind {
            PurposeKind::Necessary => "needed for the service, no consent asked",
            PurposeKind::Consent => "only with your consent, which you can withdraw",
        };
        let share = if p.sale_or_share {
            "; shared with third parties, so a Global Privacy Control signal refuses it"
        } else {
            ""
        };
        match &p.description {
            Some(desc) => out.push_str(&format!(
                "- **{}**: {} ({kind}{share})\n",
                p.id,
                md_cell(desc)
            )),
            None => out.push_str(&format!("- **{}** ({kind}{share})\n", p.id)),
        }
    }
    out.push_str("\n## Your rights\n\n");
    out.push_str("- **Deletion**: the app's \"delete my data\" erases what is stored on your device at once and sends a deletion request to every server that received your data; it is retried until the server confirms.\n");
    out.push_str("- **Access**: the app can export everything it stores about you, with the record of every consent decision.\n");
    if let Some(contact) = &d.contact {
        out.push_str(&format!(
            "- **Contact**: {} ({})\n",
            md_cell(&d.controller),
            md_cell(contact)
        ));
    }
    out
}
