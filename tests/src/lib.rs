//! Shared pieces of the reliability suites: a policy pointed at a local
//! collector, a seeded random source, the soak switch, and the one figures
//! line every suite prints at its end.

use std::path::Path;
use std::sync::Arc;

use consentgate::{
    Clock, ConsentGate, ConsentSource, ConsentState, GateError, OpenOptions, PurposeDecision,
};

/// True when `CONSENTGATE_SOAK=1`: suites scale their sizes up.
pub fn soak() -> bool {
    std::env::var("CONSENTGATE_SOAK").is_ok_and(|v| v == "1")
}

/// `normal` in a normal run, `soak` under `CONSENTGATE_SOAK=1`.
pub fn scale(normal: usize, soak_size: usize) -> usize {
    if soak() {
        soak_size
    } else {
        normal
    }
}

/// Opens a gate on `dir` as an app in `region` would, with `clock`.
pub fn open_gate(
    dir: &Path,
    policy: &str,
    region: &str,
    clock: Arc<dyn Clock>,
) -> Result<Arc<ConsentGate>, GateError> {
    ConsentGate::open_with(OpenOptions {
        data_dir: dir.to_path_buf(),
        policy_json: Some(policy.to_string()),
        region: Some(region.into()),
        app_version: "consentgate-tests".into(),
        clock,
    })
}

/// Grants or denies one purpose from the app's settings screen.
pub fn decide(gate: &ConsentGate, purpose: &str, granted: bool) -> Result<ConsentState, GateError> {
    gate.set_consent(
        vec![PurposeDecision {
            purpose: purpose.into(),
            granted,
        }],
        ConsentSource::Settings,
    )
}

/// The repository's KZ example policy with every endpoint pointed at `url`.
pub fn policy_for(url: &str) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/policies/example-kz.json"
    );
    let text = std::fs::read_to_string(path).expect("example policy");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("policy json");
    for e in v["endpoints"].as_array_mut().expect("endpoints") {
        e["url"] = serde_json::Value::from(url);
    }
    serde_json::to_string(&v).expect("json")
}

/// A small deterministic random source (splitmix64), so a failing run can be
/// replayed from its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The seed of this run: `CONSENTGATE_SEED` or the clock.
pub fn seed() -> u64 {
    std::env::var("CONSENTGATE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// Prints the suite's closing figures line, e.g.
/// `crash_recovery: 200 kills, 0 violations`.
pub fn figures(suite: &str, what: &str, violations: usize) {
    println!("{suite}: {what}, {violations} violations");
}

/// Events stored by the collector, and how many `(installation, seq)` pairs
/// it holds more than once (a batch counted twice).
pub fn collector_events(db: &Path) -> (i64, i64) {
    let c = rusqlite::Connection::open(db).expect("collector db");
    let total: i64 = c
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .expect("count");
    let dup: i64 = c
        .query_row(
            "SELECT count(*) FROM (SELECT b.installation_id, e.seq FROM events e JOIN batches b USING (batch_key) \
             GROUP BY 1, 2 HAVING count(*) > 1)",
            [],
            |r| r.get(0),
        )
        .expect("dups");
    (total, dup)
}
