//! Store disclosure facts of the policy through the public API
//! (`Policy::parse`, `Policy::disclosures`): the built-in defaults an app
//! team would otherwise re-type into Apple's and Play's forms, explicit facts
//! overriding them, and every contradiction or gap reported at its JSON path.

mod common;

use common::example_policy;
use consentgate::policy::{Disclosures, Policy, PolicyIssue};
use serde_json::{json, Value};

fn minimal() -> Value {
    json!({
        "schema": 1,
        "policy_id": "demo",
        "revision": 1,
        "notice_url": "https://example.kz/privacy",
        "controller": {"name": "Example LLP"},
        "purposes": [
            {"id": "service", "kind": "necessary"},
            {"id": "analytics", "kind": "consent"},
            {"id": "advertising", "kind": "consent", "sale_or_share": true}
        ],
        "categories": [
            {"id": "usage_events", "requires": ["analytics"]},
            {"id": "advertising_id", "requires": ["advertising"]}
        ],
        "endpoints": [{"id": "kz", "url": "https://collector.example.kz:8443/base", "regions": ["KZ"]}]
    })
}

fn lines(issues: &[PolicyIssue]) -> Vec<String> {
    issues.iter().map(ToString::to_string).collect()
}

fn parse_issues(doc: &Value) -> Vec<String> {
    match Policy::parse(&doc.to_string()) {
        Ok(_) => panic!("expected issues, the policy was accepted"),
        Err(issues) => lines(&issues),
    }
}

fn parsed(doc: &Value) -> Policy {
    Policy::parse(&doc.to_string()).unwrap_or_else(|i| panic!("policy rejected: {:?}", lines(&i)))
}

fn disclosures(doc: &Value) -> Disclosures {
    parsed(doc)
        .disclosures()
        .unwrap_or_else(|i| panic!("disclosures refused: {:?}", lines(&i)))
}

fn disclosure_issues(doc: &Value) -> Vec<String> {
    match parsed(doc).disclosures() {
        Ok(_) => panic!("expected the disclosures to be refused"),
        Err(issues) => lines(&issues),
    }
}

fn set_category_disclosure(mut doc: Value, i: usize, facts: Value) -> Value {
    doc["categories"][i]["disclosure"] = facts;
    doc
}

#[test]
fn both_example_policies_resolve_every_category_from_the_built_in_defaults() {
    for name in ["example-kz.json", "example-eu.json"] {
        let policy = Policy::parse(&example_policy(name)).expect("example parses");
        let d = policy.disclosures().expect("example discloses");
        let ids: Vec<&str> = d.categories.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "device_info",
                "advertising_id",
                "usage_events",
                "account_id",
                "install_referrer"
            ],
            "{name}: every category, in policy order"
        );
        let facts: Vec<(&str, &str, &str, bool, bool, bool, bool)> = d
            .categories
            .iter()
            .map(|c| {
                (
                    c.id.as_str(),
                    c.apple_data_type,
                    c.play_data_type.id,
                    c.linked,
                    c.tracking,
                    c.shared,
                    c.optional,
                )
            })
            .collect();
        // The policy has an account id, so every batch may be linked to it;
        // the advertising purpose is a share, so the ad id is shared and
        // used for tracking; every category needs consent.
        assert_eq!(
            facts,
            [
                (
                    "device_info",
                    "OtherDiagnosticData",
                    "PSL_PERFORMANCE_DIAGNOSTICS",
                    true,
                    false,
                    false,
                    true
                ),
                (
                    "advertising_id",
                    "DeviceID",
                    "PSL_DEVICE_ID",
                    true,
                    true,
                    true,
                    true
                ),
                (
                    "usage_events",
                    "ProductInteraction",
                    "PSL_USER_INTERACTION",
                    true,
                    false,
                    false,
                    true
                ),
                (
                    "account_id",
                    "UserID",
                    "PSL_USER_ACCOUNT",
                    true,
                    false,
                    false,
                    true
                ),
                (
                    "install_referrer",
                    "AdvertisingData",
                    "PSL_OTHER_APP_ACTIVITY",
                    true,
                    false,
                    true,
                    true
                ),
            ],
            "{name}"
        );
        let ad = &d.categories[1];
        assert_eq!(ad.apple_purposes, ["ThirdPartyAdvertising"]);
        assert_eq!(ad.play_purposes, ["PSL_ADVERTISING"]);
        assert_eq!(d.categories[0].apple_purposes, ["Analytics"]);
        assert!(
            d.categories[4].review.is_some(),
            "the referrer mapping is flagged for review"
        );
        assert_eq!(d.categories[4].apple_purposes, ["ThirdPartyAdvertising"]);
        assert!(d.tracking && d.encrypted_in_transit);
        let hosts: Vec<String> = policy
            .endpoints
            .iter()
            .map(|e| e.url.trim_start_matches("https://").to_owned())
            .collect();
        assert_eq!(d.tracking_domains, hosts, "{name}: every endpoint host");
    }
}

#[test]
fn without_an_account_id_nothing_is_linked_and_without_a_share_nothing_tracks() {
    let mut doc = minimal();
    doc["purposes"][2]["sale_or_share"] = json!(false);
    let d = disclosures(&doc);
    assert!(d
        .categories
        .iter()
        .all(|c| !c.linked && !c.tracking && !c.shared));
    assert!(!d.tracking && d.tracking_domains.is_empty());
    assert_eq!(d.categories[1].apple_purposes, ["DeveloperAdvertising"]);
}

#[test]
fn tracking_domains_are_the_endpoint_hosts_without_port_or_path() {
    let d = disclosures(&minimal());
    assert_eq!(d.tracking_domains, ["collector.example.kz"]);
}

#[test]
fn explicit_facts_override_the_defaults() {
    let doc = set_category_disclosure(
        minimal(),
        0,
        json!({"apple_data_type": "OtherUsageData", "linked": true, "play_data_type": "PSL_OTHER_APP_ACTIVITY"}),
    );
    let d = disclosures(&doc);
    let c = &d.categories[0];
    assert_eq!(
        (c.apple_data_type, c.play_data_type.id, c.linked),
        ("OtherUsageData", "PSL_OTHER_APP_ACTIVITY", true)
    );
}

#[test]
fn a_custom_category_and_purpose_disclose_what_they_declare() {
    let mut doc = minimal();
    doc["purposes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "fraud", "kind": "consent",
                     "disclosure": {"apple": ["AppFunctionality"], "play": ["PSL_FRAUD_PREVENTION_SECURITY"]}}));
    doc["categories"].as_array_mut().unwrap().push(json!({
        "id": "coarse_location", "requires": ["fraud"],
        "disclosure": {"apple_data_type": "CoarseLocation", "play_data_type": "PSL_APPROX_LOCATION", "ephemeral": true}
    }));
    let d = disclosures(&doc);
    let c = &d.categories[2];
    assert_eq!(c.apple_purposes, ["AppFunctionality"]);
    assert_eq!(c.play_purposes, ["PSL_FRAUD_PREVENTION_SECURITY"]);
    assert!(c.ephemeral && c.optional && !c.tracking);
}

#[test]
fn tracking_without_an_advertising_purpose_is_rejected_with_its_path() {
    let doc = set_category_disclosure(minimal(), 0, json!({"tracking": true}));
    assert_eq!(
        parse_issues(&doc),
        [
            r#"categories[0].disclosure.tracking: tracking without an advertising purpose: category "usage_events" requires only "analytics" (none maps to ThirdPartyAdvertising or DeveloperAdvertising)"#
        ]
    );
}

#[test]
fn not_shared_contradicts_a_sale_or_share_purpose() {
    let doc = set_category_disclosure(minimal(), 1, json!({"shared": false}));
    assert_eq!(
        parse_issues(&doc),
        [
            r#"categories[1].disclosure.shared: contradicts purpose "advertising", which is a sale or share of data (sale_or_share: true)"#
        ]
    );
}

#[test]
fn data_the_sdk_queues_and_uploads_is_never_ephemeral() {
    let doc = set_category_disclosure(minimal(), 0, json!({"ephemeral": true}));
    assert_eq!(
        parse_issues(&doc),
        [
            r#"categories[0].disclosure.ephemeral: consentgate keeps "usage_events" in memory or on disk and uploads it in batches: it is not processed ephemerally"#
        ]
    );
}

#[test]
fn malformed_facts_name_the_field_and_what_was_expected() {
    let doc = set_category_disclosure(
        minimal(),
        0,
        json!({"apple_data_type": "DeviceId", "play_data_type": "Device or other IDs", "linked": "yes", "trackng": true}),
    );
    let issues = parse_issues(&doc);
    assert_eq!(
        issues[0],
        r#"categories[0].disclosure.trackng: unknown field "trackng""#
    );
    let mut doc = set_category_disclosure(
        minimal(),
        0,
        json!({"apple_data_type": "DeviceId", "play_data_type": "Device or other IDs", "linked": "yes"}),
    );
    doc["purposes"][1]["disclosure"] = json!({"apple": ["Analytic"], "play": "PSL_ANALYTICS"});
    let issues = parse_issues(&doc);
    assert!(issues.iter().any(|i| i.starts_with(r#"purposes[1].disclosure.apple[0]: unknown Apple purpose "Analytic" (expected one of ThirdPartyAdvertising"#)), "{issues:?}");
    assert!(
        issues.contains(&"purposes[1].disclosure.play: expected an array".to_owned()),
        "{issues:?}"
    );
    assert!(
        issues.iter().any(|i| i.starts_with(
            r#"categories[0].disclosure.apple_data_type: unknown Apple data type "DeviceId""#
        )),
        "{issues:?}"
    );
    assert!(issues.iter().any(|i| i.starts_with(r#"categories[0].disclosure.play_data_type: unknown Play data type "Device or other IDs""#)), "{issues:?}");
    assert!(
        issues.contains(&"categories[0].disclosure.linked: expected true or false".to_owned()),
        "{issues:?}"
    );
}

#[test]
fn a_custom_category_with_facts_needs_both_data_types() {
    let mut doc = minimal();
    doc["categories"].as_array_mut().unwrap().push(json!({
        "id": "crash_reports", "requires": ["service"], "disclosure": {"apple_data_type": "CrashData"}
    }));
    assert_eq!(
        parse_issues(&doc),
        [
            r#"categories[2].disclosure: missing field "play_data_type" (category "crash_reports" has no built-in default)"#
        ]
    );
}

#[test]
fn a_policy_without_facts_still_gates_but_cannot_disclose_custom_ids() {
    let mut doc = minimal();
    doc["purposes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "personalisation", "kind": "consent"}));
    doc["categories"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "crash_reports", "requires": ["service"]}));
    doc["categories"].as_array_mut().unwrap().push(json!({"id": "usage_events_2", "requires": ["personalisation"],
        "disclosure": {"apple_data_type": "OtherUsageData", "play_data_type": "PSL_OTHER_APP_ACTIVITY"}}));
    assert_eq!(
        disclosure_issues(&doc),
        [
            r#"categories[2]: category "crash_reports" has no built-in disclosure facts; add "disclosure": {"apple_data_type": ..., "play_data_type": ...}"#,
            r#"purposes[3]: purpose "personalisation" has no built-in store mapping; add "disclosure": {"apple": [...], "play": [...]}"#,
        ]
    );
}

#[test]
fn a_category_gated_only_by_cross_border_transfer_maps_to_no_store_purpose() {
    let mut doc = minimal();
    doc["purposes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "cross_border_transfer", "kind": "consent"}));
    doc["categories"][0]["requires"] = json!(["cross_border_transfer"]);
    assert_eq!(
        disclosure_issues(&doc),
        [
            r#"categories[0].requires: none of "cross_border_transfer" maps to a store purpose; add "disclosure" to one of these purposes"#
        ]
    );
}

#[test]
fn install_referrer_requires_advertising_by_default_else_analytics() {
    let mut doc = minimal();
    let push = |doc: &mut Value| {
        doc["categories"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "install_referrer"}))
    };
    push(&mut doc);
    let policy = Policy::parse(&doc.to_string()).expect("parses");
    assert_eq!(
        policy.categories[2].requires,
        [policy.purpose_index("advertising").unwrap()]
    );

    let mut doc = minimal();
    doc["purposes"].as_array_mut().unwrap().remove(2);
    doc["categories"].as_array_mut().unwrap().remove(1);
    push(&mut doc);
    let policy = Policy::parse(&doc.to_string()).expect("parses");
    assert_eq!(
        policy.categories[1].requires,
        [policy.purpose_index("analytics").unwrap()]
    );

    doc["purposes"].as_array_mut().unwrap().remove(1);
    doc["categories"].as_array_mut().unwrap().remove(0);
    assert_eq!(
        parse_issues(&doc),
        [
            r#"categories[0]: missing field "requires" (install_referrer defaults to the "advertising" or "analytics" purpose, and the policy defines neither)"#
        ]
    );

    // Only the referrer has a default: any other category must say.
    let mut doc = minimal();
    doc["categories"][0]
        .as_object_mut()
        .unwrap()
        .remove("requires");
    assert_eq!(
        parse_issues(&doc),
        [r#"categories[0]: missing field "requires""#]
    );
}
