//! The request bodies of SPEC §5 as the collector checks them: untrusted JSON in, typed values
//! (or an error message naming the first offending field) out. No I/O, no storage.
//!
//! Closed objects (the batch, `sdk`, `policy`, `device`, each event, the deletion request)
//! reject unknown fields with 422: an SDK sending a field the protocol does not name is leaking
//! data it was never allowed to send. Only `batch_id`, `installation_id` and `events` (and
//! `request_id`, `installation_ids` for a deletion) are required by the collector; every other
//! field, when present, must have its documented type.

use serde_json::{Map, Value};

/// Largest request body accepted after decompression (SPEC §7 collector limit), in bytes.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The device fields a batch may carry (SPEC §3 `device_info.fields`).
pub(crate) const DEVICE_FIELDS: [&str; 9] = [
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

/// The values a consent entry may have.
const CONSENT_VALUES: [&str; 3] = ["granted", "denied", "unset"];

const BATCH_FIELDS: [&str; 11] = [
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
    "events",
];
const EVENT_FIELDS: [&str; 4] = ["seq", "name", "ts", "props"];
const SDK_FIELDS: [&str; 2] = ["name", "version"];
const POLICY_FIELDS: [&str; 2] = ["id", "revision"];
const DELETION_FIELDS: [&str; 6] = [
    "request_id",
    "installation_ids",
    "user_id",
    "requested_at",
    "reason",
    "policy",
];

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// Not JSON, not an object, a required field missing or of the wrong type (400).
    Malformed(String),
    /// Well-formed, but breaks a rule of the protocol (422).
    Unprocessable(String),
}

impl Invalid {
    /// The HTTP status this refusal is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Invalid::Malformed(_) => 400,
            Invalid::Unprocessable(_) => 422,
        }
    }

    /// The message naming the problem.
    pub fn message(&self) -> &str {
        match self {
            Invalid::Malformed(m) | Invalid::Unprocessable(m) => m,
        }
    }
}

/// One event of a batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    /// `seq`, unique within the batch.
    pub seq: i64,
    /// `name`, matching the SPEC §4 pattern.
    pub name: String,
    /// `ts`, as sent.
    pub ts: String,
    /// `props` serialised as JSON, when present.
    pub props: Option<String>,
}

/// A checked `POST /v1/batch` body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Batch {
    /// `batch_id`, the idempotency key.
    pub batch_id: String,
    /// `installation_id`.
    pub installation_id: String,
    /// `user_id`, when the batch carries one.
    pub user_id: Option<String>,
    /// The whole document without `events`, serialised as JSON.
    pub envelope: String,
    /// `events`, in body order.
    pub events: Vec<Event>,
}

/// A checked `POST /v1/deletion` body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Deletion {
    /// `request_id`, the idempotency key.
    pub request_id: String,
    /// Distinct ids, in request order.
    pub installation_ids: Vec<String>,
    /// `user_id`, when given and not empty.
    pub user_id: Option<String>,
    /// `requested_at`, as sent.
    pub requested_at: Option<String>,
    /// `reason`, as sent.
    pub reason: Option<String>,
    /// `policy` serialised as JSON, when present.
    pub policy: Option<String>,
}

fn malformed(message: impl Into<String>) -> Invalid {
    Invalid::Malformed(message.into())
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Invalid> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(malformed("body must be a JSON object")),
        Err(e) => Err(malformed(format!("body is not valid JSON: {e}"))),
    }
}

/// Rejects fields of `object` (at JSON path `path`) that `allowed` does not name.
fn closed(object: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), Invalid> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(Invalid::Unprocessable(format!(
            "{path}{key} is not a field of the protocol"
        ))),
        None => Ok(()),
    }
}

/// A present field, with `null` counted as absent.
fn field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

fn required_id(object: &Map<String, Value>, path: &str) -> Result<String, Invalid> {
    match field(object, path) {
        None => Err(malformed(format!("{path} is missing"))),
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(malformed(format!("{path} must be a non-empty string"))),
    }
}

fn optional_string(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, Invalid> {
    match field(object, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(malformed(format!("{path} must be a string"))),
    }
}

fn optional_object<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, Invalid> {
    match field(object, key) {
        None => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(malformed(format!("{path} must be an object"))),
    }
}

/// Checks the optional `policy: {id, revision}` of `object`.
fn check_policy(object: &Map<String, Value>) -> Result<(), Invalid> {
    let Some(policy) = optional_object(object, "policy", "policy")? else {
        return Ok(());
    };
    closed(policy, "policy.", &POLICY_FIELDS)?;
    match policy.get("id") {
        Some(Value::String(_)) => {}
        None => return Err(malformed("policy.id is missing")),
        Some(_) => return Err(malformed("policy.id must be a string")),
    }
    match policy.get("revision") {
        Some(v) if v.is_u64() => Ok(()),
        None => Err(malformed("policy.revision is missing")),
        Some(_) => Err(malformed("policy.revision must be a non-negative integer")),
    }
}

/// Whether `name` matches `^[A-Za-z][A-Za-z0-9_.\-]{0,63}$` (SPEC §4 event names).
fn valid_event_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_alphabetic()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn parse_event(index: usize, value: &Value) -> Result<Event, Invalid> {
    let path = format!("events[{index}]");
    let Value::Object(event) = value else {
        return Err(malformed(format!("{path} must be an object")));
    };
    closed(event, &format!("{path}."), &EVENT_FIELDS)?;
    let seq = match event.get("seq") {
        None => return Err(malformed(format!("{path}.seq is missing"))),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| malformed(format!("{path}.seq must be an integer")))?,
    };
    let name = match event.get("name") {
        None => return Err(malformed(format!("{path}.name is missing"))),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(malformed(format!("{path}.name must be a string"))),
    };
    if !valid_event_name(&name) {
        return Err(Invalid::Unprocessable(format!(
            "{path}.name does not match ^[A-Za-z][A-Za-z0-9_.\\-]{{0,63}}$"
        )));
    }
    let ts = match event.get("ts") {
        None => return Err(malformed(format!("{path}.ts is missing"))),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(malformed(format!("{path}.ts must be a string"))),
    };
    let props = match field(event, "props") {
        None => None,
        Some(v @ Value::Object(_)) => Some(v.to_string()),
        Some(_) => return Err(malformed(format!("{path}.props must be an object"))),
    };
    Ok(Event {
        seq,
        name,
        ts,
        props,
    })
}

/// Checks a `POST /v1/batch` body (already decompressed).
pub(crate) fn parse_batch(body: &[u8]) -> Result<Batch, Invalid> {
    let mut doc = parse_object(body)?;
    let batch_id = required_id(&doc, "batch_id")?;
    let installation_id = required_id(&doc, "installation_id")?;
    let events = match doc.get("events") {
        None => return Err(malformed("events is missing")),
        Some(Value::Array(events)) => events
            .iter()
            .enumerate()
            .map(|(i, e)| parse_event(i, e))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(malformed("events must be an array")),
    };
    optional_string(&doc, "sent_at", "sent_at")?;
    optional_string(&doc, "app_version", "app_version")?;
    optional_string(&doc, "advertising_id", "advertising_id")?;
    let user_id = optional_string(&doc, "user_id", "user_id")?;
    if let Some(sdk) = optional_object(&doc, "sdk", "sdk")? {
        closed(sdk, "sdk.", &SDK_FIELDS)?;
        for key in SDK_FIELDS {
            optional_string(sdk, key, &format!("sdk.{key}"))?;
        }
    }
    check_policy(&doc)?;
    if let Some(consent) = optional_object(&doc, "consent", "consent")? {
        for (purpose, value) in consent {
            if !value.as_str().is_some_and(|v| CONSENT_VALUES.contains(&v)) {
                return Err(Invalid::Unprocessable(format!(
                    "consent.{purpose} must be \"granted\", \"denied\" or \"unset\""
                )));
            }
        }
    }
    if let Some(device) = optional_object(&doc, "device", "device")? {
        for (key, value) in device {
            if !DEVICE_FIELDS.contains(&key.as_str()) {
                return Err(Invalid::Unprocessable(format!(
                    "device.{key} is not a device field of the protocol"
                )));
            }
            if !value.is_string() {
                return Err(malformed(format!("device.{key} must be a string")));
            }
        }
    }
    // Checked after the required fields so a missing id is reported as such.
    closed(&doc, "", &BATCH_FIELDS)?;

    let mut seen = std::collections::HashSet::with_capacity(events.len());
    if let Some((i, e)) = events.iter().enumerate().find(|(_, e)| !seen.insert(e.seq)) {
        return Err(Invalid::Unprocessable(format!(
            "events[{i}].seq {} repeats an earlier seq of the batch",
            e.seq
        )));
    }

    doc.remove("events");
    Ok(Batch {
        batch_id,
        installation_id,
        user_id,
        envelope: Value::Object(doc).to_string(),
        events,
    })
}

/// Checks a `POST /v1/deletion` body (already decompressed).
pub(crate) fn parse_deletion(body: &[u8]) -> Result<Deletion, Invalid> {
    let doc = parse_object(body)?;
    let request_id = required_id(&doc, "request_id")?;
    let ids = match doc.get("installation_ids") {
        None => return Err(malformed("installation_ids is missing")),
        Some(Value::Array(ids)) if ids.is_empty() => {
            return Err(malformed("installation_ids must not be empty"))
        }
        Some(Value::Array(ids)) => ids,
        Some(_) => return Err(malformed("installation_ids must be an array")),
    };
    let mut installation_ids: Vec<String> = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        match id {
            Value::String(s) if !s.is_empty() => {
                if !installation_ids.contains(s) {
                    installation_ids.push(s.clone());
                }
            }
            _ => {
                return Err(malformed(format!(
                    "installation_ids[{i}] must be a non-empty string"
                )))
            }
        }
    }
    let user_id = optional_string(&doc, "user_id", "user_id")?.filter(|u| !u.is_empty());
    let requested_at = optional_string(&doc, "requested_at", "requested_at")?;
    let reason = optional_string(&doc, "reason", "reason")?;
    check_policy(&doc)?;
    closed(&doc, "", &DELETION_FIELDS)?;
    Ok(Deletion {
        request_id,
        installation_ids,
        user_id,
        requested_at,
        reason,
        policy: field(&doc, "policy").map(Value::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn batch(value: Value) -> Result<Batch, Invalid> {
        parse_batch(value.to_string().as_bytes())
    }

    fn full_batch() -> Value {
        json!({
            "batch_id": "b1", "installation_id": "i1", "sent_at": "2025-01-01T00:00:00Z",
            "sdk": {"name": "consentgate", "version": "0.1.0"}, "app_version": "1.2.3",
            "policy": {"id": "example-app", "revision": 4},
            "consent": {"analytics": "granted", "advertising": "denied", "x": "unset"},
            "device": {"os": "Android", "model": "Pixel"},
            "advertising_id": "ad", "user_id": "u1",
            "events": [
                {"seq": 1, "name": "screen_view", "ts": "2025-01-01T00:00:00Z", "props": {"a": 1}},
                {"seq": 2, "name": "tap", "ts": "2025-01-01T00:00:01Z"}
            ]
        })
    }

    #[test]
    fn full_batch_is_accepted_and_events_are_split_off() {
        let b = batch(full_batch()).expect("valid batch");
        assert_eq!(b.batch_id, "b1");
        assert_eq!(b.user_id.as_deref(), Some("u1"));
        assert_eq!(b.events.len(), 2);
        assert_eq!(b.events[0].props.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(b.events[1].props, None);
        assert!(!b.envelope.contains("events"));
    }

    #[test]
    fn every_refusal_names_the_field() {
        let cases: Vec<(&str, Value, u16, &str)> = vec![
            ("batch_id", json!(null), 400, "batch_id is missing"),
            ("installation_id", json!(7), 400, "installation_id must be"),
            ("events", json!({}), 400, "events must be an array"),
            (
                "consent",
                json!({"analytics": "yes"}),
                422,
                "consent.analytics",
            ),
            ("device", json!({"imei": "1"}), 422, "device.imei"),
            ("device", json!({"os": 1}), 400, "device.os"),
            ("policy", json!({"id": "p"}), 400, "policy.revision"),
            ("sdk", json!({"name": 1}), 400, "sdk.name"),
            ("email", json!("a@b"), 422, "email is not a field"),
            (
                "events",
                json!([{"seq": "1", "name": "a", "ts": "t"}]),
                400,
                "events[0].seq",
            ),
            (
                "events",
                json!([{"seq": 1, "name": "1bad", "ts": "t"}]),
                422,
                "events[0].name",
            ),
            (
                "events",
                json!([{"seq": 1, "name": "a", "ts": "t"}, {"seq": 1, "name": "a", "ts": "t"}]),
                422,
                "events[1].seq 1 repeats",
            ),
            (
                "events",
                json!([{"seq": 1, "name": "a", "ts": "t", "props": []}]),
                400,
                "events[0].props",
            ),
        ];
        for (key, value, status, needle) in cases {
            let mut doc = full_batch();
            doc[key] = value;
            let err = batch(doc).expect_err(needle);
            assert_eq!(err.status(), status, "{needle}: {err:?}");
            assert!(err.message().contains(needle), "{needle}: {err:?}");
        }
    }

    #[test]
    fn non_json_is_malformed() {
        let err = parse_batch(b"{nope").expect_err("not JSON");
        assert_eq!(err.status(), 400);
        assert!(err.message().contains("not valid JSON"));
        let err = parse_batch(b"[]").expect_err("not an object");
        assert!(err.message().contains("JSON object"));
    }

    #[test]
    fn deletion_is_checked() {
        let ok = json!({"request_id": "r", "installation_ids": ["a", "b", "a"], "user_id": "u",
            "requested_at": "t", "reason": "user_request", "policy": {"id": "p", "revision": 1}});
        let d = parse_deletion(ok.to_string().as_bytes()).expect("valid deletion");
        assert_eq!(d.installation_ids, ["a", "b"]);
        assert_eq!(d.user_id.as_deref(), Some("u"));

        let empty = json!({"request_id": "r", "installation_ids": []});
        let err = parse_deletion(empty.to_string().as_bytes()).expect_err("empty ids");
        assert!(err.message().contains("installation_ids must not be empty"));
        let missing = json!({"installation_ids": ["a"]});
        let err = parse_deletion(missing.to_string().as_bytes()).expect_err("no request id");
        assert!(err.message().contains("request_id is missing"));
    }

    #[test]
    fn event_names_follow_the_spec() {
        assert!(valid_event_name("screen_view"));
        assert!(valid_event_name("a.b-c_9"));
        assert!(valid_event_name(&"a".repeat(64)));
        assert!(!valid_event_name(&"a".repeat(65)));
        assert!(!valid_event_name(""));
        assert!(!valid_event_name("_x"));
        assert!(!valid_event_name("a b"));
    }
}
