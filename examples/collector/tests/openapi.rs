//! `openapi.json` describes SPEC §5 field for field, and the collector agrees with it: it
//! accepts the documented examples and refuses, naming the field, what the document's schemas
//! forbid (on SQLite and on PostgreSQL).

mod common;

use std::collections::BTreeSet;

use common::{get, id, post, start, Engine};
use consentgate_collector::{InstallationInfo, Stats};
use serde_json::{json, Value};

on_both_engines!(
    the_documented_examples_are_accepted_and_the_document_is_served,
    the_collector_refuses_what_the_document_forbids,
);

const DOC: &str = include_str!("../openapi.json");

fn doc() -> Value {
    serde_json::from_str(DOC).expect("openapi.json is JSON")
}

/// Follows `$ref`s (local ones only) until a concrete value.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("non-local $ref {reference}"));
            let target = doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {reference}"));
            resolve(doc, target)
        }
        None => value,
    }
}

/// `value[key]`, resolved.
fn at<'a>(doc: &'a Value, value: &'a Value, key: &str) -> &'a Value {
    let child = value
        .get(key)
        .unwrap_or_else(|| panic!("no {key:?} in {value}"));
    resolve(doc, child)
}

fn property_names(schema: &Value) -> BTreeSet<&str> {
    schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("no properties in {schema}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

fn operation<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    doc["paths"]
        .get(path)
        .and_then(|p| p.get(method))
        .unwrap_or_else(|| panic!("no {method} {path}"))
}

fn request_schema<'a>(doc: &'a Value, path: &str) -> &'a Value {
    let body = at(doc, operation(doc, path, "post"), "requestBody");
    resolve(doc, &body["content"]["application/json"]["schema"])
}

fn header_names<'a>(doc: &'a Value, op: &'a Value) -> BTreeSet<&'a str> {
    op["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| resolve(doc, p))
        .filter(|p| p["in"] == "header")
        .map(|p| p["name"].as_str().expect("name"))
        .collect()
}

fn json_keys(value: Value) -> BTreeSet<String> {
    value.as_object().expect("object").keys().cloned().collect()
}

#[test]
fn openapi_names_every_field_of_the_batch_in_spec_section_5() {
    let doc = doc();
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.0"));
    let batch = request_schema(&doc, "/v1/batch");
    assert_eq!(
        property_names(batch),
        set(&[
            "batch_id",
            "installation_id",
            "sent_at",
            "sdk",
            "app_version",
            "policy",
            "consent",
            "device",
            "advertising_id",
            "user_id",
            "events"
        ])
    );
    assert_eq!(batch["additionalProperties"], false);
    assert_eq!(
        property_names(at(&doc, &batch["properties"], "sdk")),
        set(&["name", "version"])
    );
    assert_eq!(
        property_names(at(&doc, &batch["properties"], "policy")),
        set(&["id", "revision"])
    );

    let consent = at(&doc, &batch["properties"], "consent");
    assert_eq!(
        consent["additionalProperties"]["enum"],
        serde_json::json!(["granted", "denied", "unset"])
    );

    let device = at(&doc, &batch["properties"], "device");
    assert_eq!(
        property_names(device),
        set(&[
            "os",
            "os_version",
            "model",
            "manufacturer",
            "locale",
            "timezone",
            "carrier",
            "app_version",
            "screen"
        ])
    );
    assert_eq!(device["additionalProperties"], false);
    for (name, field) in device["properties"].as_object().expect("device fields") {
        assert_eq!(field["type"], "string", "device.{name}");
    }

    let events = at(&doc, &batch["properties"], "events");
    assert_eq!(events["type"], "array");
    let event = at(&doc, events, "items");
    assert_eq!(property_names(event), set(&["seq", "name", "ts", "props"]));
    assert_eq!(event["properties"]["seq"]["type"], "integer");
    assert_eq!(event["properties"]["props"]["type"], "object");
}

#[test]
fn openapi_names_every_field_of_the_deletion_request_and_receipt() {
    let doc = doc();
    let request = request_schema(&doc, "/v1/deletion");
    assert_eq!(
        property_names(request),
        set(&[
            "request_id",
            "installation_ids",
            "user_id",
            "requested_at",
            "reason",
            "policy"
        ])
    );
    assert_eq!(request["properties"]["installation_ids"]["minItems"], 1);
    assert_eq!(
        property_names(at(&doc, &request["properties"], "policy")),
        set(&["id", "revision"])
    );

    let responses = &operation(&doc, "/v1/deletion", "post")["responses"];
    for status in ["200", "202"] {
        let receipt = resolve(
            &doc,
            &at(&doc, responses, status)["content"]["application/json"]["schema"],
        );
        assert_eq!(
            property_names(receipt),
            set(&["receipt_id", "status"]),
            "{status}"
        );
        assert_eq!(
            receipt["properties"]["status"]["enum"],
            serde_json::json!(["accepted", "completed"])
        );
    }
}

#[test]
fn openapi_posts_carry_the_headers_and_responses_of_spec_section_5() {
    let doc = doc();
    for path in ["/v1/batch", "/v1/deletion"] {
        let op = operation(&doc, path, "post");
        assert!(
            header_names(&doc, op).is_superset(&set(&[
                "Content-Encoding",
                "Idempotency-Key",
                "User-Agent"
            ])),
            "{path}"
        );
        let encoding = op["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .map(|p| resolve(&doc, p))
            .find(|p| p["name"] == "Content-Encoding")
            .expect("Content-Encoding");
        assert_eq!(encoding["schema"]["enum"], serde_json::json!(["gzip"]));

        let responses = &op["responses"];
        for status in ["200", "400", "408", "413", "422", "429", "5XX"] {
            let response = at(&doc, responses, status);
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{path} {status}"
            );
        }
        assert!(
            at(&doc, responses, "429")["headers"]
                .get("Retry-After")
                .is_some(),
            "{path}"
        );
    }

    // The client behaviour of SPEC §5 is spelled out for batches.
    let responses = &operation(&doc, "/v1/batch", "post")["responses"];
    let says = |status: &str, word: &str| {
        let description = at(&doc, responses, status)["description"]
            .as_str()
            .expect("description");
        assert!(
            description.contains(word),
            "{status} should say {word:?}: {description}"
        );
    };
    for status in ["400", "413", "422"] {
        says(status, "drops");
    }
    for status in ["408", "429", "5XX"] {
        says(status, "retries");
    }
    says("429", "Retry-After");
    says("200", "batch_id");
}

#[test]
fn collector_only_endpoints_are_tagged_and_match_the_library_types() {
    let doc = doc();
    let tags = |op: &Value| -> Vec<String> {
        op["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|t| t.as_str().expect("tag").to_owned())
            .collect()
    };
    for (path, method) in [("/v1/batch", "post"), ("/v1/deletion", "post")] {
        assert_eq!(tags(operation(&doc, path, method)), ["protocol"], "{path}");
    }
    for path in [
        "/v1/stats",
        "/v1/installations/{installation_id}",
        "/healthz",
        "/openapi.json",
    ] {
        assert_eq!(
            tags(operation(&doc, path, "get")),
            ["reference collector"],
            "{path}"
        );
    }

    let schema_of = |path: &str| {
        let ok = at(&doc, &operation(&doc, path, "get")["responses"], "200");
        resolve(&doc, &ok["content"]["application/json"]["schema"]).clone()
    };
    let stats_fields = json_keys(serde_json::to_value(Stats::default()).expect("stats"));
    let documented: BTreeSet<String> = property_names(&schema_of("/v1/stats"))
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(documented, stats_fields);
    let info_fields = json_keys(serde_json::to_value(InstallationInfo::default()).expect("info"));
    let documented: BTreeSet<String> =
        property_names(&schema_of("/v1/installations/{installation_id}"))
            .into_iter()
            .map(str::to_owned)
            .collect();
    assert_eq!(documented, info_fields);
}

fn the_documented_examples_are_accepted_and_the_document_is_served(engine: &Engine) {
    let doc = doc();
    let (collector, _db) = start(engine, 0.0, 0);
    let addr = collector.addr();

    let example = |path: &str| request_schema_example(&doc, path);
    let batch = example("/v1/batch");
    let reply = post(
        addr,
        "/v1/batch",
        batch["batch_id"].as_str().expect("id"),
        &batch,
    )
    .expect("answered");
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let deletion = example("/v1/deletion");
    let reply = post(
        addr,
        "/v1/deletion",
        deletion["request_id"].as_str().expect("id"),
        &deletion,
    )
    .expect("answered");
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        collector.stats().events,
        0,
        "the example deletion erases the example batch"
    );

    assert_eq!(get(addr, "/openapi.json").json(), doc);
}

fn request_schema_example(doc: &Value, path: &str) -> Value {
    let body = at(doc, operation(doc, path, "post"), "requestBody");
    body["content"]["application/json"]["example"].clone()
}

/// For each request schema: every property the schema requires, removed, is refused 400 with
/// "<field> is missing"; every property, set to `null` (a value no documented field admits)
/// or to a value of another JSON type, is refused 400 naming the field; a property the schema
/// does not name is refused 422; every `format: uuid` and `format: date-time` field, given a
/// string off its format, is refused 400 naming the field.
fn the_collector_refuses_what_the_document_forbids(engine: &Engine) {
    let doc = doc();
    let (collector, _db) = start(engine, 0.0, 0);
    let addr = collector.addr();
    for (path, id_field) in [("/v1/batch", "batch_id"), ("/v1/deletion", "request_id")] {
        let schema = request_schema(&doc, path);
        let example = request_schema_example(&doc, path);
        let send = |body: &Value| {
            let key = body[id_field].as_str().unwrap_or("no-id").to_owned();
            post(addr, path, &key, body).expect("answered")
        };
        let refused = |body: &Value, status: u16, field: &str, case: &str| {
            let reply = send(body);
            assert_eq!(reply.status, status, "{path} {case}: {:?}", reply.json());
            assert!(
                reply.error().starts_with(field),
                "{path} {case}: the error should name {field}: {}",
                reply.error()
            );
        };
        let required: Vec<&str> = schema["required"]
            .as_array()
            .expect("required")
            .iter()
            .map(|v| v.as_str().expect("name"))
            .collect();
        for field in &required {
            let mut body = example.clone();
            body.as_object_mut().expect("object").remove(*field);
            refused(&body, 400, &format!("{field} is missing"), "missing");
        }
        for (field, property) in schema["properties"].as_object().expect("properties") {
            let property = resolve(&doc, property);
            let mut body = example.clone();
            body[field] = Value::Null;
            refused(&body, 400, field, "null");
            let other_type = match property["type"].as_str().expect("type") {
                "string" => json!(42),
                _ => json!("a string"),
            };
            let mut body = example.clone();
            body[field] = other_type;
            refused(&body, 400, field, "wrong type");
            if matches!(property["format"].as_str(), Some("uuid" | "date-time")) {
                let mut body = example.clone();
                body[field] = json!("not-in-format");
                refused(&body, 400, field, "off format");
            }
        }
        let mut body = example.clone();
        body["email"] = json!("someone@example.kz");
        refused(&body, 422, "email is not a field", "unknown field");
    }
    // Nothing refused was stored; the schema's integer bounds hold too.
    assert_eq!(collector.stats().batches, 0);
    let revision =
        &resolve(&doc, &doc["components"]["schemas"]["PolicyRef"])["properties"]["revision"];
    let maximum = revision["maximum"].as_u64().expect("revision maximum");
    let mut body = request_schema_example(&doc, "/v1/batch");
    body["batch_id"] = json!(id("bounds"));
    body["policy"]["revision"] = json!(maximum + 1);
    let reply = post(addr, "/v1/batch", &id("bounds"), &body).expect("answered");
    assert_eq!(reply.status, 400);
    assert!(
        reply.error().starts_with("policy.revision"),
        "{}",
        reply.error()
    );
    body["policy"]["revision"] = json!(maximum);
    let reply = post(addr, "/v1/batch", &id("bounds"), &body).expect("answered");
    assert_eq!(reply.status, 200, "{:?}", reply.json());
}
