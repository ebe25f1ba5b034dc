//! The policy document (SPEC §3) through the public API: the shipped example
//! policies parse, and every validation rule reports the problem a policy
//! author would need to fix, at the JSON path where it is.

use std::path::{Path, PathBuf};

use consentgate::policy::{Policy, PolicyIssue, DEVICE_FIELDS, MAX_IDS};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------
// helpers

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies")
}

fn example(name: &str) -> String {
    let path = examples_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The smallest valid document; tests break one thing at a time.
fn minimal() -> Value {
    json!({
        "schema": 1,
        "policy_id": "demo",
        "revision": 1,
        "notice_url": "https://example.kz/privacy",
        "controller": {"name": "Example LLP"},
        "purposes": [
            {"id": "service", "kind": "necessary"},
            {"id": "analytics", "kind": "consent"}
        ],
        "categories": [{"id": "usage_events", "requires": ["analytics"]}],
        "endpoints": [{"id": "kz", "url": "https://collector.example.kz", "regions": ["KZ"]}]
    })
}

/// `doc` with the value at JSON pointer `pointer` set (added if absent).
fn with(mut doc: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a '/'");
    let target = doc.pointer_mut(parent).expect("parent exists");
    match target {
        Value::Object(map) => {
            map.insert(key.to_owned(), value);
        }
        Value::Array(items) => {
            let i: usize = key.parse().expect("array index");
            if i == items.len() {
                items.push(value);
            } else {
                items[i] = value;
            }
        }
        _ => panic!("{parent} is not a container"),
    }
    doc
}

/// `doc` without the field at `pointer`.
fn without(mut doc: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a '/'");
    doc.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("parent object")
        .remove(key)
        .expect("field exists");
    doc
}

fn parse(doc: &Value) -> Result<Policy, Vec<PolicyIssue>> {
    Policy::parse(&doc.to_string())
}

fn parse_ok(doc: &Value) -> Policy {
    match parse(doc) {
        Ok(p) => p,
        Err(issues) => panic!("expected a valid policy, got {:?}", lines(&issues)),
    }
}

/// The issues as the `path: message` lines a user sees.
fn lines(issues: &[PolicyIssue]) -> Vec<String> {
    issues.iter().map(ToString::to_string).collect()
}

fn issues(doc: &Value) -> Vec<String> {
    match parse(doc) {
        Ok(_) => panic!("expected issues, the policy was accepted"),
        Err(issues) => lines(&issues),
    }
}

fn issues_of(json: &str) -> Vec<String> {
    match Policy::parse(json) {
        Ok(_) => panic!("expected issues, the policy was accepted"),
        Err(issues) => lines(&issues),
    }
}

const HTTPS_ONLY: &str = "must be https:// (plain http is allowed only for loopback)";

// ---------------------------------------------------------------------------
// the shipped examples

#[test]
fn kazakhstan_example_policy_parses_with_the_promises_of_the_seed_policies() {
    let p = Policy::parse(&example("example-kz.json")).expect("example-kz.json is valid");
    assert_eq!(p.schema, 1);
    assert_eq!(p.policy_id, "aqkol-city-app");
    assert_eq!((p.revision, p.reconsent_below_revision), (1, 1));
    assert!(p.notice_url.starts_with("https://"));
    assert_eq!(
        p.controller.registration_id.as_deref().map(str::len),
        Some(12)
    );
    assert!(p.controller.contact.is_some());
    assert_eq!(p.consent_ttl_days, Some(365));
    assert_eq!(p.min_age_for(Some("KZ")), Some(18));
    assert_eq!(p.min_age_for(None), Some(18));

    let ids: Vec<&str> = p.purposes.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "service",
            "analytics",
            "advertising",
            "cross_border_transfer"
        ]
    );
    let advertising = &p.purposes[p.purpose_index("advertising").unwrap()];
    assert!(advertising.sale_or_share);

    let device = p.category_index("device_info").unwrap();
    assert_eq!(p.categories[device].fields, DEVICE_FIELDS);
    assert_eq!(
        p.category_purpose_mask(device),
        1 << p.purpose_index("analytics").unwrap()
    );
    for field in DEVICE_FIELDS {
        assert_eq!(p.category_of_field(field), Some(device));
    }

    // Data of Kazakhstan users stays in Kazakhstan; anyone else goes abroad.
    let (kz, abroad) = p.endpoint_for(Some("KZ")).unwrap();
    assert_eq!((kz.id.as_str(), abroad), ("kz", false));
    assert!(kz.url.ends_with(".kz"));
    let (eu, abroad) = p.endpoint_for(Some("DE")).unwrap();
    assert_eq!((eu.id.as_str(), abroad), ("eu", true));

    assert_eq!(p.limits.ledger_retention_days, 1095);
    assert_eq!(p.limits.event_ttl_days, 30);
    assert_eq!(p.hash.len(), 64);
}

#[test]
fn eu_example_policy_parses_and_keeps_eu_users_on_the_eu_endpoint() {
    let p = Policy::parse(&example("example-eu.json")).expect("example-eu.json is valid");
    assert_eq!(p.min_age_for(None), Some(16));
    assert_eq!(p.min_age_for(Some("FR")), Some(15));
    assert_eq!(p.min_age_for(Some("ES")), Some(16));
    let (eu, abroad) = p.endpoint_for(Some("DE")).unwrap();
    assert_eq!((eu.id.as_str(), abroad), ("eu", false));
    let (fallback, abroad) = p.endpoint_for(Some("US")).unwrap();
    assert!(abroad, "the * endpoint is cross-border for {}", fallback.id);
    let (_, abroad) = p.endpoint_for(None).unwrap();
    assert!(abroad, "an unknown region never counts as local");
    let kz = Policy::parse(&example("example-kz.json")).unwrap();
    let ids = |p: &Policy| -> Vec<String> { p.purposes.iter().map(|x| x.id.clone()).collect() };
    assert_eq!(ids(&p), ids(&kz));
    let cats = |p: &Policy| -> Vec<String> { p.categories.iter().map(|x| x.id.clone()).collect() };
    assert_eq!(cats(&p), cats(&kz));
}

#[test]
fn spec_section_3_example_parses() {
    let doc = json!({
      "schema": 1, "policy_id": "example-app", "revision": 4, "reconsent_below_revision": 3,
      "notice_url": "https://example.kz/privacy",
      "controller": {"name": "Example LLP", "registration_id": "123456789012", "contact": "privacy@example.kz"},
      "consent_ttl_days": 365, "min_age": 18,
      "purposes": [
        {"id": "service",   "kind": "necessary", "legal_basis": "contract"},
        {"id": "analytics", "kind": "consent"},
        {"id": "advertising", "kind": "consent", "sale_or_share": true},
        {"id": "cross_border_transfer", "kind": "consent"}
      ],
      "categories": [
        {"id": "device_info", "requires": ["analytics"],
         "fields": ["os", "os_version", "model", "manufacturer", "locale", "timezone", "carrier", "app_version", "screen"]},
        {"id": "advertising_id", "requires": ["advertising"]},
        {"id": "usage_events", "requires": ["analytics"]},
        {"id": "account_id", "requires": ["analytics"]}
      ],
      "endpoints": [
        {"id": "kz", "url": "https://collector.example.kz", "regions": ["KZ"]},
        {"id": "eu", "url": "https://eu.collector.example.com", "regions": ["*"]}
      ],
      "regions": {"EU": {"min_age": 16}, "KZ": {"min_age": 18}},
      "limits": {"max_batch_events": 500, "max_batch_bytes": 262144, "max_queue_events": 20000,
                 "max_queue_bytes": 20971520, "event_ttl_days": 30, "ledger_retention_days": 1095}
    });
    let p = parse_ok(&doc);
    assert_eq!(p.revision, 4);
    assert_eq!(p.reconsent_below_revision, 3);
    assert_eq!(p.min_age_for(Some("EU")), Some(16));
}

// ---------------------------------------------------------------------------
// every problem, with its path, in order

#[test]
fn broken_document_lists_every_problem_with_its_path_in_document_order() {
    let json = r#"{
      "schema": 2,
      "policy_id": "Example App",
      "revision": "4",
      "reconsent_below_revision": 1.5,
      "notice_url": "http://example.kz/privacy",
      "controller": {"nmae": "Example LLP"},
      "consent_ttl_days": 0,
      "min_age": 200,
      "purposes": [
        {"id": "service", "kind": "necessary", "sale_or_share": true},
        {"id": "analytics", "kind": "optional"},
        {"id": "analytics", "kind": "consent"},
        {"id": "cross_border_transfer", "kind": "necessary"}
      ],
      "categories": [
        {"id": "device_info", "requires": ["analytics"], "fields": ["os", "model", "modle"]},
        {"id": "usage_events", "requires": ["analitycs"], "fields": ["model"]},
        {"id": "Usage", "requires": []}
      ],
      "endpoints": [
        {"id": "kz", "url": "https://collector.example.kz", "regions": ["kz"]},
        {"id": "kz", "url": "ftp://eu.example.com", "regions": []}
      ],
      "regions": {"Kazakhstan": {"min_age": 18, "max_age": 99}},
      "limits": {"max_batch_events": 50000, "event_ttl_days": -1},
      "colour": "blue"
    }"#;
    let expected = [
        r#"colour: unknown field "colour""#,
        r#"schema: unsupported schema 2 (this SDK reads schema 1)"#,
        r#"policy_id: invalid policy id "Example App" (must match ^[a-z][a-z0-9_-]{0,63}$)"#,
        r#"revision: expected a positive integer"#,
        r#"reconsent_below_revision: expected a non-negative integer"#,
        r#"notice_url: must be https:// (plain http is allowed only for loopback)"#,
        r#"controller.nmae: unknown field "nmae""#,
        r#"controller: missing field "name""#,
        r#"consent_ttl_days: expected a positive integer"#,
        r#"min_age: must be between 1 and 120"#,
        r#"purposes[0].sale_or_share: a necessary purpose cannot be a sale or share of data"#,
        r#"purposes[1].kind: expected "necessary" or "consent""#,
        r#"purposes[2].id: duplicate purpose "analytics""#,
        r#"purposes[3].kind: cross_border_transfer must be kind "consent" (sending data abroad needs the user's consent)"#,
        r#"categories[0].fields[2]: unknown device field "modle""#,
        r#"categories[1].requires[0]: unknown purpose "analitycs""#,
        r#"categories[1].fields[0]: device field "model" already belongs to category "device_info""#,
        r#"categories[2].id: invalid id "Usage" (must match ^[a-z][a-z0-9_]{0,63}$)"#,
        r#"categories[2].requires: must list at least one purpose"#,
        r#"endpoints[0].regions[0]: invalid region "kz" (use an ISO 3166-1 alpha-2 code such as "KZ", or "*")"#,
        r#"endpoints[1].id: duplicate endpoint "kz""#,
        r#"endpoints[1].url: must be https:// (plain http is allowed only for loopback)"#,
        r#"endpoints[1].regions: must list at least one region code or "*""#,
        r#"regions.Kazakhstan: invalid region "Kazakhstan" (use an ISO 3166-1 alpha-2 code such as "KZ")"#,
        r#"regions.Kazakhstan.max_age: unknown field "max_age""#,
        r#"limits.event_ttl_days: expected a positive integer"#,
        r#"limits.max_batch_events: max_batch_events (50000) must not exceed max_queue_events (20000)"#,
    ];
    assert_eq!(issues_of(json), expected);
}

#[test]
fn issues_expose_path_and_message_separately() {
    let issues = parse(&with(minimal(), "/controller/nmae", json!("x"))).unwrap_err();
    assert_eq!(
        issues,
        [PolicyIssue {
            path: "controller.nmae".into(),
            message: r#"unknown field "nmae""#.into(),
        }]
    );
}

#[test]
fn text_that_is_not_json_is_one_issue_at_the_root_with_line_and_column() {
    let got = issues_of("{\n  \"schema\": 1,\n  oops\n}");
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("$: "), "{got:?}");
    assert!(got[0].contains("line 3 column 3"), "{got:?}");
    assert_eq!(issues_of("").len(), 1);
}

#[test]
fn a_document_that_is_not_an_object_is_rejected_at_the_root() {
    assert_eq!(issues_of("[]"), ["$: expected an object"]);
    assert_eq!(issues_of("\"policy\""), ["$: expected an object"]);
}

// ---------------------------------------------------------------------------
// structure: unknown, missing and mistyped fields

#[test]
fn unknown_fields_are_errors_at_every_level() {
    let doc = minimal();
    let doc = with(doc, "/revison", json!(2));
    let doc = with(doc, "/purposes/1/descripton", json!("x"));
    let doc = with(doc, "/categories/0/field", json!(["os"]));
    let doc = with(doc, "/endpoints/0/region", json!("KZ"));
    let doc = with(doc, "/limits", json!({"max_events": 5}));
    let doc = with(doc, "/regions", json!({"KZ": {"age": 18}}));
    assert_eq!(
        issues(&doc),
        [
            r#"revison: unknown field "revison""#,
            r#"purposes[1].descripton: unknown field "descripton""#,
            r#"categories[0].field: unknown field "field""#,
            r#"endpoints[0].region: unknown field "region""#,
            r#"regions.KZ.age: unknown field "age""#,
            r#"limits.max_events: unknown field "max_events""#,
        ]
    );
}

#[test]
fn unusual_field_names_are_quoted_in_the_path() {
    let doc = with(minimal(), "/controller/e-mail", json!("a@b.kz"));
    assert_eq!(
        issues(&doc),
        [r#"controller["e-mail"]: unknown field "e-mail""#]
    );
}

#[test]
fn missing_required_fields_are_reported_on_the_object_that_lacks_them() {
    for field in [
        "schema",
        "policy_id",
        "revision",
        "notice_url",
        "controller",
        "purposes",
        "categories",
        "endpoints",
    ] {
        let doc = without(minimal(), &format!("/{field}"));
        assert_eq!(issues(&doc), [format!(r#"$: missing field "{field}""#)]);
    }
    assert_eq!(
        issues(&without(minimal(), "/controller/name")),
        [r#"controller: missing field "name""#]
    );
    assert_eq!(
        issues(&without(minimal(), "/purposes/1/kind")),
        [r#"purposes[1]: missing field "kind""#]
    );
    assert_eq!(
        issues(&without(minimal(), "/categories/0/requires")),
        [r#"categories[0]: missing field "requires""#]
    );
    assert_eq!(
        issues(&without(minimal(), "/endpoints/0/url")),
        [r#"endpoints[0]: missing field "url""#]
    );
}

#[test]
fn optional_fields_take_their_defaults_when_absent() {
    let p = parse_ok(&minimal());
    assert_eq!(p.reconsent_below_revision, 0);
    assert_eq!(p.consent_ttl_days, None);
    assert_eq!(p.min_age, None);
    assert!(p.regions.is_empty());
    assert_eq!(p.limits, consentgate::policy::Limits::default());
    assert_eq!(p.controller.registration_id, None);
    assert_eq!(p.controller.contact, None);
    assert_eq!(p.purposes[0].legal_basis, None);
    assert!(!p.purposes[1].sale_or_share);
    assert!(p.categories[0].fields.is_empty());
}

#[test]
fn wrong_types_say_what_was_expected() {
    let doc = minimal();
    let doc = with(doc, "/controller", json!("Example LLP"));
    let doc = with(doc, "/purposes/1/sale_or_share", json!("no"));
    let doc = with(doc, "/purposes/1/legal_basis", json!(7));
    let doc = with(doc, "/categories/0/requires", json!("analytics"));
    let doc = with(doc, "/endpoints/0/regions", json!({"KZ": true}));
    let doc = with(doc, "/regions", json!(["KZ"]));
    assert_eq!(
        issues(&doc),
        [
            "controller: expected an object",
            "purposes[1].legal_basis: expected a string",
            "purposes[1].sale_or_share: expected true or false",
            "categories[0].requires: expected an array",
            "endpoints[0].regions: expected an array",
            "regions: expected an object",
        ]
    );
    assert_eq!(
        issues(&with(minimal(), "/purposes", json!({}))),
        ["purposes: expected an array"]
    );
    assert_eq!(
        issues(&with(minimal(), "/endpoints/0/id", json!(1))),
        ["endpoints[0].id: expected a string"]
    );
}

#[test]
fn null_is_not_accepted_for_an_optional_field() {
    assert_eq!(
        issues(&with(minimal(), "/min_age", Value::Null)),
        ["min_age: expected a positive integer"]
    );
}

// ---------------------------------------------------------------------------
// integers

#[test]
fn integers_must_be_json_integers_not_strings_or_fractions() {
    for bad in [
        json!("4"),
        json!(1.5),
        json!(1.0),
        json!(-1),
        json!(0),
        json!(true),
    ] {
        assert_eq!(
            issues(&with(minimal(), "/revision", bad.clone())),
            ["revision: expected a positive integer"],
            "{bad}"
        );
    }
    assert_eq!(
        issues(&with(minimal(), "/reconsent_below_revision", json!(-1))),
        ["reconsent_below_revision: expected a non-negative integer"]
    );
}

#[test]
fn integers_beyond_their_range_name_the_range() {
    assert_eq!(
        issues(&with(minimal(), "/revision", json!(5_000_000_000u64))),
        ["revision: must be between 1 and 4294967295"]
    );
    assert_eq!(
        issues_of(
            &minimal()
                .to_string()
                .replace(r#""revision":1"#, r#""revision":100000000000000000000"#)
        ),
        ["revision: must be between 1 and 4294967295"]
    );
    assert_eq!(
        issues_of(&minimal().to_string().replace(
            r#""schema":1"#,
            r#""schema":1,"limits":{"max_queue_bytes":100000000000000000000}"#
        )),
        ["limits.max_queue_bytes: must be between 1 and 18446744073709551615"]
    );
    let p = parse_ok(&with(
        with(minimal(), "/revision", json!(u32::MAX)),
        "/limits",
        json!({"max_queue_bytes": u64::MAX}),
    ));
    assert_eq!(p.revision, u32::MAX);
    assert_eq!(p.limits.max_queue_bytes, u64::MAX);
}

// ---------------------------------------------------------------------------
// top-level fields

#[test]
fn only_schema_1_is_understood() {
    assert_eq!(parse_ok(&minimal()).schema, 1);
    assert_eq!(
        issues(&with(minimal(), "/schema", json!(2))),
        ["schema: unsupported schema 2 (this SDK reads schema 1)"]
    );
    assert_eq!(
        issues(&with(minimal(), "/schema", json!("1"))),
        ["schema: expected a positive integer"]
    );
}

#[test]
fn policy_id_is_lower_case_with_digits_underscores_and_hyphens() {
    for ok in ["example-app", "aqkol_city_2", "a"] {
        assert_eq!(
            parse_ok(&with(minimal(), "/policy_id", json!(ok))).policy_id,
            ok
        );
    }
    for bad in ["Example", "1app", "-app", "my app", "", &"a".repeat(65)] {
        assert_eq!(
            issues(&with(minimal(), "/policy_id", json!(bad))),
            [format!(
                "policy_id: invalid policy id {} (must match ^[a-z][a-z0-9_-]{{0,63}}$)",
                json!(bad)
            )]
        );
    }
}

#[test]
fn reconsent_below_revision_may_not_exceed_the_revision() {
    let doc = with(minimal(), "/revision", json!(4));
    let p = parse_ok(&with(doc.clone(), "/reconsent_below_revision", json!(4)));
    assert_eq!(p.reconsent_below_revision, 4);
    assert_eq!(
        parse_ok(&with(doc.clone(), "/reconsent_below_revision", json!(0)))
            .reconsent_below_revision,
        0
    );
    assert_eq!(
        issues(&with(doc, "/reconsent_below_revision", json!(5))),
        ["reconsent_below_revision: must not exceed revision (4)"]
    );
}

#[test]
fn controller_needs_a_non_empty_name_and_may_give_registration_and_contact() {
    let doc = with(
        minimal(),
        "/controller",
        json!({"name": "ТОО «Пример»", "registration_id": "190340008121", "contact": "privacy@example.kz"}),
    );
    let c = parse_ok(&doc).controller;
    assert_eq!(c.name, "ТОО «Пример»");
    assert_eq!(c.registration_id.as_deref(), Some("190340008121"));
    assert_eq!(c.contact.as_deref(), Some("privacy@example.kz"));
    assert_eq!(
        issues(&with(minimal(), "/controller/name", json!("  "))),
        ["controller.name: must not be empty"]
    );
    assert_eq!(
        issues(&with(
            minimal(),
            "/controller/registration_id",
            json!(190340008121u64)
        )),
        ["controller.registration_id: expected a string"]
    );
}

#[test]
fn consent_ttl_days_must_be_at_least_one_day() {
    assert_eq!(
        parse_ok(&with(minimal(), "/consent_ttl_days", json!(1))).consent_ttl_days,
        Some(1)
    );
    assert_eq!(
        issues(&with(minimal(), "/consent_ttl_days", json!(0))),
        ["consent_ttl_days: expected a positive integer"]
    );
}

#[test]
fn min_age_is_between_1_and_120() {
    for ok in [1, 18, 120] {
        assert_eq!(
            parse_ok(&with(minimal(), "/min_age", json!(ok))).min_age,
            Some(ok)
        );
    }
    assert_eq!(
        issues(&with(minimal(), "/min_age", json!(0))),
        ["min_age: expected a positive integer"]
    );
    assert_eq!(
        issues(&with(minimal(), "/min_age", json!(121))),
        ["min_age: must be between 1 and 120"]
    );
}

// ---------------------------------------------------------------------------
// ids

#[test]
fn ids_must_be_lower_snake_case_of_at_most_64_characters() {
    let longest = format!("a{}", "b".repeat(63));
    let p = parse_ok(&with(minimal(), "/categories/0/id", json!(longest)));
    assert_eq!(p.categories[0].id, longest);
    for (pointer, path) in [
        ("/purposes/0/id", "purposes[0].id"),
        ("/categories/0/id", "categories[0].id"),
        ("/endpoints/0/id", "endpoints[0].id"),
    ] {
        for bad in ["Service", "1st", "_x", "kz-1", "", &format!("{longest}c")] {
            let doc = with(minimal(), pointer, json!(bad));
            let got = issues(&doc);
            assert_eq!(
                got[0],
                format!(
                    "{path}: invalid id {} (must match ^[a-z][a-z0-9_]{{0,63}}$)",
                    json!(bad)
                )
            );
            // A bad purpose id is still the purpose's name: nothing else is blamed.
            assert_eq!(got.len(), 1, "{got:?}");
        }
    }
}

#[test]
fn duplicate_ids_are_reported_at_the_second_occurrence() {
    let doc = with(
        minimal(),
        "/purposes/2",
        json!({"id": "analytics", "kind": "consent"}),
    );
    let doc = with(
        doc,
        "/categories/1",
        json!({"id": "usage_events", "requires": ["service"]}),
    );
    let doc = with(
        doc,
        "/endpoints/1",
        json!({"id": "kz", "url": "https://b.example.kz", "regions": ["*"]}),
    );
    assert_eq!(
        issues(&doc),
        [
            r#"purposes[2].id: duplicate purpose "analytics""#,
            r#"categories[1].id: duplicate category "usage_events""#,
            r#"endpoints[1].id: duplicate endpoint "kz""#,
        ]
    );
}

#[test]
fn more_than_64_purposes_or_categories_are_rejected() {
    let purposes: Vec<Value> = (0..=MAX_IDS)
        .map(|i| json!({"id": format!("p{i}"), "kind": "consent"}))
        .collect();
    let categories: Vec<Value> = (0..=MAX_IDS)
        .map(|i| json!({"id": format!("c{i}"), "requires": ["p0"]}))
        .collect();
    let doc = with(minimal(), "/purposes", json!(purposes));
    let doc = with(doc, "/categories", json!(categories));
    assert_eq!(
        issues(&doc),
        [
            "purposes: at most 64 purposes are allowed, found 65",
            "categories: at most 64 categories are allowed, found 65",
        ]
    );
    let doc = with(minimal(), "/purposes", json!(purposes[..MAX_IDS]));
    let doc = with(doc, "/categories", json!(categories[..MAX_IDS]));
    let p = parse_ok(&doc);
    assert_eq!((p.purposes.len(), p.categories.len()), (64, 64));
}

// ---------------------------------------------------------------------------
// purposes

#[test]
fn purposes_must_not_be_empty() {
    assert_eq!(
        issues(&with(
            with(minimal(), "/purposes", json!([])),
            "/categories",
            json!([])
        )),
        ["purposes: must list at least one purpose"]
    );
}

#[test]
fn purpose_kind_is_necessary_or_consent() {
    let p = parse_ok(&minimal());
    assert_eq!(
        p.purposes[0].kind,
        consentgate::policy::PurposeKind::Necessary
    );
    assert_eq!(
        p.purposes[1].kind,
        consentgate::policy::PurposeKind::Consent
    );
    for bad in [json!("Consent"), json!("legitimate_interest"), json!(true)] {
        assert_eq!(
            issues(&with(minimal(), "/purposes/1/kind", bad)),
            [r#"purposes[1].kind: expected "necessary" or "consent""#]
        );
    }
}

#[test]
fn purpose_keeps_legal_basis_and_sale_or_share_and_accepts_a_description() {
    let doc = with(
        minimal(),
        "/purposes/1",
        json!({"id": "advertising", "kind": "consent", "legal_basis": "consent",
               "sale_or_share": true, "description": "Реклама"}),
    );
    let doc = with(doc, "/categories/0/requires/0", json!("advertising"));
    let p = parse_ok(&doc);
    assert_eq!(p.purposes[1].legal_basis.as_deref(), Some("consent"));
    assert!(p.purposes[1].sale_or_share);
}

#[test]
fn cross_border_transfer_can_only_be_a_consent_purpose() {
    let doc = with(
        minimal(),
        "/purposes/2",
        json!({"id": "cross_border_transfer", "kind": "necessary", "legal_basis": "contract"}),
    );
    assert_eq!(
        issues(&doc),
        [
            r#"purposes[2].kind: cross_border_transfer must be kind "consent" (sending data abroad needs the user's consent)"#
        ]
    );
    let doc = with(
        minimal(),
        "/purposes/2",
        json!({"id": "cross_border_transfer", "kind": "consent"}),
    );
    parse_ok(&doc);
}

#[test]
fn a_necessary_purpose_cannot_be_a_sale_or_share() {
    assert_eq!(
        issues(&with(minimal(), "/purposes/0/sale_or_share", json!(true))),
        ["purposes[0].sale_or_share: a necessary purpose cannot be a sale or share of data"]
    );
    parse_ok(&with(minimal(), "/purposes/0/sale_or_share", json!(false)));
}

// ---------------------------------------------------------------------------
// categories

#[test]
fn a_category_requiring_an_undefined_purpose_names_it() {
    let doc = with(
        minimal(),
        "/categories/1",
        json!({"id": "device_info", "requires": ["analitycs"]}),
    );
    assert_eq!(
        issues(&doc),
        [r#"categories[1].requires[0]: unknown purpose "analitycs""#]
    );
}

#[test]
fn category_requires_are_stored_as_purpose_indices() {
    let doc = with(
        minimal(),
        "/categories/1",
        json!({"id": "account_id", "requires": ["analytics", "service"]}),
    );
    let p = parse_ok(&doc);
    assert_eq!(p.categories[0].requires, [1]);
    assert_eq!(p.categories[1].requires, [1, 0]);
    assert_eq!(p.category_purpose_mask(1), 0b11);
}

#[test]
fn a_category_must_require_at_least_one_purpose_once() {
    assert_eq!(
        issues(&with(minimal(), "/categories/0/requires", json!([]))),
        ["categories[0].requires: must list at least one purpose"]
    );
    assert_eq!(
        issues(&with(
            minimal(),
            "/categories/0/requires",
            json!(["analytics", "analytics"])
        )),
        [r#"categories[0].requires[1]: purpose "analytics" is listed twice"#]
    );
    assert_eq!(
        issues(&with(minimal(), "/categories/0/requires/0", json!(1))),
        ["categories[0].requires[0]: expected a string"]
    );
}

#[test]
fn categories_may_be_empty() {
    let p = parse_ok(&with(minimal(), "/categories", json!([])));
    assert!(p.categories.is_empty());
}

#[test]
fn device_fields_must_be_known_names() {
    let doc = with(
        minimal(),
        "/categories/0/fields",
        json!(["os", "locale", "model", "modle"]),
    );
    assert_eq!(
        issues(&doc),
        [r#"categories[0].fields[3]: unknown device field "modle""#]
    );
    let p = parse_ok(&with(
        minimal(),
        "/categories/0/fields",
        json!(DEVICE_FIELDS),
    ));
    assert_eq!(p.categories[0].fields, DEVICE_FIELDS);
}

#[test]
fn a_device_field_belongs_to_one_category_only() {
    let doc = with(minimal(), "/categories/0/fields", json!(["os", "model"]));
    let doc = with(
        doc,
        "/categories/1",
        json!({"id": "device_info", "requires": ["analytics"], "fields": ["carrier", "model"]}),
    );
    assert_eq!(
        issues(&doc),
        [
            r#"categories[1].fields[1]: device field "model" already belongs to category "usage_events""#
        ]
    );
    assert_eq!(
        issues(&with(
            minimal(),
            "/categories/0/fields",
            json!(["os", "os"])
        )),
        [
            r#"categories[0].fields[1]: device field "os" already belongs to category "usage_events""#
        ]
    );
}

// ---------------------------------------------------------------------------
// endpoints and URLs

#[test]
fn at_least_one_endpoint_is_required() {
    assert_eq!(
        issues(&with(minimal(), "/endpoints", json!([]))),
        ["endpoints: must list at least one endpoint"]
    );
}

#[test]
fn endpoint_regions_are_country_codes_or_star() {
    let p = parse_ok(&with(
        minimal(),
        "/endpoints/0/regions",
        json!(["KZ", "UZ", "*"]),
    ));
    assert_eq!(p.endpoints[0].regions, ["KZ", "UZ", "*"]);
    assert_eq!(
        issues(&with(
            minimal(),
            "/endpoints/0/regions",
            json!(["KAZ", "kz", "**"])
        )),
        [
            r#"endpoints[0].regions[0]: invalid region "KAZ" (use an ISO 3166-1 alpha-2 code such as "KZ", or "*")"#,
            r#"endpoints[0].regions[1]: invalid region "kz" (use an ISO 3166-1 alpha-2 code such as "KZ", or "*")"#,
            r#"endpoints[0].regions[2]: invalid region "**" (use an ISO 3166-1 alpha-2 code such as "KZ", or "*")"#,
        ]
    );
    assert_eq!(
        issues(&with(minimal(), "/endpoints/0/regions", json!([]))),
        [r#"endpoints[0].regions: must list at least one region code or "*""#]
    );
}

#[test]
fn loopback_http_endpoints_are_allowed_for_development() {
    for url in [
        "http://127.0.0.1",
        "http://127.0.0.1:8080",
        "http://localhost:3000/collector",
        "http://[::1]:9000",
    ] {
        let p = parse_ok(&with(minimal(), "/endpoints/0/url", json!(url)));
        assert_eq!(p.endpoints[0].url, url);
    }
}

#[test]
fn plain_http_to_any_other_host_is_rejected() {
    for url in [
        "http://collector.example.kz",
        "http://10.0.0.2:8080",
        "http://127.0.0.1.nip.io",
        "http://localhost.example.kz",
        "ftp://collector.example.kz",
        "collector.example.kz",
    ] {
        assert_eq!(
            issues(&with(minimal(), "/endpoints/0/url", json!(url))),
            [format!("endpoints[0].url: {HTTPS_ONLY}")],
            "{url}"
        );
    }
}

#[test]
fn malformed_urls_are_rejected_with_the_reason() {
    let cases = [
        ("https://", "must have a host"),
        (
            "http://localhost@collector.example.kz",
            "must not contain a user name or password",
        ),
        (
            "https://collector.example.kz:70000",
            r#"invalid port "70000""#,
        ),
        (
            "https://collector example.kz",
            "must not contain spaces or control characters",
        ),
        (
            "https://collector_1.example.kz",
            r#"invalid host "collector_1.example.kz""#,
        ),
        (
            "https://collector.example.kz/?token=1",
            "must not have a query or fragment (it is the base of /v1/... paths)",
        ),
    ];
    for (url, message) in cases {
        assert_eq!(
            issues(&with(minimal(), "/endpoints/0/url", json!(url))),
            [format!("endpoints[0].url: {message}")],
            "{url}"
        );
    }
}

#[test]
fn endpoint_url_loses_one_trailing_slash() {
    let p = parse_ok(&with(
        minimal(),
        "/endpoints/0/url",
        json!("https://collector.example.kz/"),
    ));
    assert_eq!(p.endpoints[0].url, "https://collector.example.kz");
    let p = parse_ok(&with(
        minimal(),
        "/endpoints/0/url",
        json!("https://example.kz/collector/"),
    ));
    assert_eq!(p.endpoints[0].url, "https://example.kz/collector");
}

#[test]
fn notice_url_follows_the_same_https_rule_and_may_carry_a_query() {
    assert_eq!(
        issues(&with(
            minimal(),
            "/notice_url",
            json!("http://example.kz/privacy")
        )),
        [format!("notice_url: {HTTPS_ONLY}")]
    );
    let url = "https://example.kz/privacy?lang=kk#cookies";
    assert_eq!(
        parse_ok(&with(minimal(), "/notice_url", json!(url))).notice_url,
        url
    );
    assert_eq!(
        parse_ok(&with(
            minimal(),
            "/notice_url",
            json!("http://localhost:8000/privacy/")
        ))
        .notice_url,
        "http://localhost:8000/privacy/"
    );
}

// ---------------------------------------------------------------------------
// regions and limits

#[test]
fn region_overrides_set_min_age_per_country() {
    let doc = with(minimal(), "/min_age", json!(18));
    let doc = with(doc, "/regions", json!({"DE": {"min_age": 16}, "KZ": {}}));
    let p = parse_ok(&doc);
    assert_eq!(p.min_age_for(Some("DE")), Some(16));
    assert_eq!(p.min_age_for(Some("KZ")), Some(18));
    assert_eq!(p.min_age_for(Some("FR")), Some(18));
}

#[test]
fn region_keys_are_two_capital_letters_and_values_only_hold_min_age() {
    let doc = with(
        minimal(),
        "/regions",
        json!({"kz": {"min_age": 18}, "KZ": {"min_age": 0, "max_age": 65}, "UZ": 18}),
    );
    assert_eq!(
        issues(&doc),
        [
            r#"regions.KZ.max_age: unknown field "max_age""#,
            "regions.KZ.min_age: expected a positive integer",
            "regions.UZ: expected an object",
            r#"regions.kz: invalid region "kz" (use an ISO 3166-1 alpha-2 code such as "KZ")"#,
        ]
    );
}

#[test]
fn limits_default_to_the_spec_values_and_can_be_overridden_one_by_one() {
    let doc = with(
        minimal(),
        "/limits",
        json!({"event_ttl_days": 7, "ledger_retention_days": 1095}),
    );
    let limits = parse_ok(&doc).limits;
    assert_eq!(limits.event_ttl_days, 7);
    assert_eq!(limits.ledger_retention_days, 1095);
    assert_eq!(limits.max_batch_events, 500);
    assert_eq!(limits.max_batch_bytes, 262_144);
    assert_eq!(limits.max_queue_events, 20_000);
    assert_eq!(limits.max_queue_bytes, 20_971_520);
}

#[test]
fn limits_must_be_positive_integers() {
    let doc = with(
        minimal(),
        "/limits",
        json!({"max_batch_events": 0, "max_batch_bytes": "1k", "event_ttl_days": 2.5}),
    );
    assert_eq!(
        issues(&doc),
        [
            "limits.max_batch_events: expected a positive integer",
            "limits.max_batch_bytes: expected a positive integer",
            "limits.event_ttl_days: expected a positive integer",
        ]
    );
}

#[test]
fn a_batch_may_not_be_larger_than_the_queue() {
    let doc = with(
        minimal(),
        "/limits",
        json!({"max_batch_events": 100, "max_queue_events": 100, "max_batch_bytes": 1024, "max_queue_bytes": 1024}),
    );
    parse_ok(&doc);
    let doc = with(
        minimal(),
        "/limits",
        json!({"max_batch_events": 101, "max_queue_events": 100, "max_batch_bytes": 2048, "max_queue_bytes": 1024}),
    );
    assert_eq!(
        issues(&doc),
        [
            "limits.max_batch_events: max_batch_events (101) must not exceed max_queue_events (100)",
            "limits.max_batch_bytes: max_batch_bytes (2048) must not exceed max_queue_bytes (1024)",
        ]
    );
    // Against a default, the field the author wrote is blamed.
    assert_eq!(
        issues(&with(minimal(), "/limits", json!({"max_queue_events": 10}))),
        ["limits.max_queue_events: max_batch_events (500) must not exceed max_queue_events (10)"]
    );
}

// ---------------------------------------------------------------------------
// canonical form and hash

#[test]
fn policy_hash_ignores_whitespace_and_key_order() {
    let compact = example("example-kz.json");
    let value: Value = serde_json::from_str(&compact).unwrap();
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    // Reverse the top-level key order by hand.
    let map = value.as_object().unwrap();
    let reversed = format!(
        "{{ {} }}",
        map.iter()
            .rev()
            .map(|(k, v)| format!("{}:\n\t{}", json!(k), v))
            .collect::<Vec<_>>()
            .join(" ,\n")
    );
    let a = Policy::parse(&compact).unwrap();
    let b = Policy::parse(&pretty).unwrap();
    let c = Policy::parse(&reversed).unwrap();
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.hash, c.hash);
    assert_eq!(a.canonical_json, c.canonical_json);
    // Escapes that spell the same string do not change the hash either.
    let escaped = compact.replace("Акколь", "\\u0410\\u043a\\u043a\\u043e\\u043b\\u044c");
    assert_ne!(escaped, compact);
    assert_eq!(Policy::parse(&escaped).unwrap().hash, a.hash);
}

#[test]
fn policy_hash_changes_when_any_value_changes() {
    let base = parse_ok(&minimal());
    for (pointer, value) in [
        ("/revision", json!(2)),
        ("/purposes/1/kind", json!("necessary")),
        ("/endpoints/0/url", json!("https://collector2.example.kz")),
        ("/controller/contact", json!("dpo@example.kz")),
        ("/categories/0/description", json!("events")),
    ] {
        let changed = parse_ok(&with(minimal(), pointer, value));
        assert_ne!(changed.hash, base.hash, "{pointer}");
    }
}

#[test]
fn policy_hash_is_the_sha256_of_the_canonical_json() {
    let p = Policy::parse(&example("example-eu.json")).unwrap();
    let digest = Sha256::digest(p.canonical_json.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(p.hash, hex);
    // Canonical: sorted keys, no whitespace outside strings.
    assert!(p
        .canonical_json
        .starts_with(r#"{"categories":[{"fields":["os","os_version","#));
    let reparsed: Value = serde_json::from_str(&p.canonical_json).unwrap();
    assert_eq!(serde_json::to_string(&reparsed).unwrap(), p.canonical_json);
    assert!(!p.canonical_json.contains(": "));
    assert!(!p.canonical_json.contains('\n'));
}
