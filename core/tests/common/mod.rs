//! Shared helpers for the core's integration tests: policies built in code,
//! a gate opened on a temp directory with a manual clock, and a listener that
//! records what it was told.
#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};

use consentgate::{
    ConsentGate, ConsentListener, ConsentSource, ConsentState, ManualClock, OpenOptions,
    PurposeDecision, UploadRequest,
};
use serde_json::{json, Value};

/// 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600_000;
pub const DAY: i64 = 86_400_000;

/// The example policy of the repository.
pub fn example_kz() -> String {
    example_policy("example-kz.json")
}

/// `examples/policies/<name>`, as shipped.
pub fn example_policy(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/policies")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A small policy at `revision`, with `reconsent_below` and extra consent purposes.
pub fn policy(revision: u32, reconsent_below: u32, extra: &[&str]) -> String {
    let mut purposes = vec![
        json!({"id": "service", "kind": "necessary", "legal_basis": "contract"}),
        json!({"id": "analytics", "kind": "consent"}),
        json!({"id": "advertising", "kind": "consent", "sale_or_share": true}),
    ];
    for p in extra {
        purposes.push(json!({"id": p, "kind": "consent"}));
    }
    let mut categories = vec![
        json!({"id": "device_info", "requires": ["analytics"], "fields": ["os", "model", "locale"]}),
        json!({"id": "advertising_id", "requires": ["advertising"]}),
        json!({"id": "usage_events", "requires": ["analytics"]}),
        json!({"id": "account_id", "requires": ["analytics"]}),
    ];
    for p in extra {
        categories.push(json!({"id": format!("{p}_data"), "requires": [p]}));
    }
    policy_from(json!({
        "schema": 1, "policy_id": "test-app", "revision": revision,
        "reconsent_below_revision": reconsent_below,
        "notice_url": "https://example.kz/privacy",
        "controller": {"name": "Example LLP"},
        "consent_ttl_days": 365, "min_age": 18,
        "purposes": purposes, "categories": categories,
        "endpoints": [{"id": "local", "url": "http://127.0.0.1:9", "regions": ["*"]}],
        "regions": {"EU": {"min_age": 16}},
    }))
}

/// The JSON of a request's gzip-compressed body.
pub fn request_body(req: &UploadRequest) -> Value {
    let mut s = String::new();
    flate2::read::GzDecoder::new(&req.body[..])
        .read_to_string(&mut s)
        .expect("gzip");
    serde_json::from_str(&s).expect("json")
}

pub fn policy_from(v: Value) -> String {
    serde_json::to_string(&v).expect("json")
}

/// Opens a gate on `dir` with a manual clock.
pub fn open(dir: &Path, policy: &str, clock: &Arc<ManualClock>) -> Arc<ConsentGate> {
    open_region(dir, policy, clock, Some("KZ"))
}

pub fn open_region(
    dir: &Path,
    policy: &str,
    clock: &Arc<ManualClock>,
    region: Option<&str>,
) -> Arc<ConsentGate> {
    ConsentGate::open_with(OpenOptions {
        data_dir: dir.to_path_buf(),
        policy_json: Some(policy.to_string()),
        region: region.map(str::to_string),
        app_version: "1.0.0".into(),
        clock: clock.clone(),
    })
    .expect("open")
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(T0))
}

pub fn grant(gate: &ConsentGate, purpose: &str, granted: bool) -> ConsentState {
    gate.set_consent(
        vec![PurposeDecision {
            purpose: purpose.into(),
            granted,
        }],
        ConsentSource::Banner,
    )
    .expect("set_consent")
}

/// Records every state a listener is told.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<ConsentState>>);

impl ConsentListener for Recorder {
    fn on_consent_changed(&self, state: ConsentState) {
        self.0.lock().expect("lock").push(state);
    }
}

/// Rows in every queue table of the store in `dir`, read with a separate
/// connection (what is really on disk).
pub fn rows_on_disk(dir: &Path) -> i64 {
    let c = rusqlite::Connection::open(dir.join(consentgate::DB_FILE)).expect("open db");
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'events_%'")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    tables
        .iter()
        .map(|t| {
            c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .expect("count")
        })
        .sum()
}

/// `policy(1, 0, &[])` with `limits` replaced.
pub fn policy_with_limits(limits: Value) -> String {
    let mut v: Value = serde_json::from_str(&policy(1, 0, &[])).expect("json");
    v["limits"] = limits;
    policy_from(v)
}

/// Records `n` events named `name` and returns their seqs.
pub fn record_n(gate: &ConsentGate, name: &str, n: usize) -> Vec<i64> {
    (0..n)
        .map(|i| {
            match gate
                .record_event(name.into(), Some(format!(r#"{{"i":{i}}}"#)))
                .expect("record")
            {
                consentgate::RecordOutcome::Recorded { seq } => seq,
                other => panic!("not recorded: {other:?}"),
            }
        })
        .collect()
}
