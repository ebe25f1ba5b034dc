//! The measurements behind SPEC §9, shared by the criterion benches and the
//! `consentgate-bench --json` report: each function sets up its scene (a gate
//! on a temp directory, a queue of N events, a ledger of M entries) and
//! returns the figure in the unit of its report key.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use consentgate::{
    ConsentGate, ConsentSource, EventInput, ManualClock, OpenOptions, PurposeDecision,
    UploadResult, UploadTask,
};

/// 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600_000;

/// The repository's KZ example policy, with queue bounds raised so that the
/// measured queues really hold every event (the example caps at 20,000).
pub fn policy() -> String {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/policies/example-kz.json"
    ))
    .expect("example policy");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["limits"]["max_queue_events"] = 10_000_000.into();
    v["limits"]["max_queue_bytes"] = (4u64 << 30).into();
    v.to_string()
}

/// Opens a gate on `dir` with a manual clock at [`T0`].
pub fn open(dir: &Path) -> (Arc<ConsentGate>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let gate = ConsentGate::open_with(OpenOptions {
        data_dir: dir.to_path_buf(),
        policy_json: Some(policy()),
        region: Some("KZ".into()),
        app_version: "bench".into(),
        clock: clock.clone(),
    })
    .expect("open");
    (gate, clock)
}

/// Grants or denies analytics.
pub fn analytics(gate: &ConsentGate, granted: bool) {
    gate.set_consent(
        vec![PurposeDecision {
            purpose: "analytics".into(),
            granted,
        }],
        ConsentSource::Settings,
    )
    .expect("set_consent");
}

/// A typical event: one of a handful of names and screens, with a small
/// property object that varies.
pub fn typical(i: usize) -> EventInput {
    const NAMES: [&str; 6] = [
        "screen_view",
        "tap",
        "search",
        "add_to_cart",
        "scroll",
        "app_foreground",
    ];
    const SCREENS: [&str; 5] = ["home", "catalog", "product", "cart", "profile"];
    let h = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
    EventInput {
        name: NAMES[(h % 6) as usize].into(),
        properties_json: Some(format!(
            r#"{{"screen":"{}","pos":{}}}"#,
            SCREENS[(h / 6 % 5) as usize],
            h % 40
        )),
    }
}

/// ~100 bytes of properties.
pub const PROPS_100B: &str = r#"{"screen":"checkout","item_id":"SKU-123456","price":1999,"currency":"KZT","step":3,"ab":"variant_b"}"#;

/// Queues `n` typical events and commits them.
pub fn fill(gate: &ConsentGate, n: usize) {
    let mut i = 0;
    while i < n {
        let k = (n - i).min(10_000);
        gate.record_events((i..i + k).map(typical).collect())
            .expect("record");
        i += k;
    }
    gate.persist().expect("persist");
    assert!(
        gate.queue_stats().events >= n as i64,
        "the queue holds every event"
    );
}

/// Queues 500 typical events a few seconds apart, as a user produces them.
pub fn fill_spaced(gate: &ConsentGate, clock: &ManualClock, n: usize) {
    for i in 0..n {
        clock.advance(500 + ((i as i64 * 7919) % 4500));
        let e = typical(i);
        gate.record_event(e.name, e.properties_json)
            .expect("record");
    }
    gate.persist().expect("persist");
}

/// Nanoseconds per `allows()` call.
pub fn allows_ns(gate: &ConsentGate, iters: u64) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    for _ in 0..iters {
        n += u64::from(std::hint::black_box(
            gate.allows_str(std::hint::black_box("usage_events")),
        ));
    }
    std::hint::black_box(n);
    start.elapsed().as_nanos() as f64 / iters as f64
}

/// Caller-side latency percentiles (p50, p99) of `record_event`, in µs.
pub fn record_latency_us(gate: &ConsentGate, iters: usize, props: Option<&str>) -> (f64, f64) {
    let mut samples = Vec::with_capacity(iters);
    for _ in 0..iters {
        let name = String::from("screen_view");
        let props = props.map(str::to_string);
        let t = Instant::now();
        let out = gate.record_event(name, props);
        samples.push(t.elapsed().as_nanos() as u64);
        std::hint::black_box(out.ok());
    }
    samples.sort_unstable();
    let pct = |p: f64| {
        samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)] as f64 / 1000.0
    };
    (pct(0.50), pct(0.99))
}

/// Events per second from `record_events` until they are committed to SQLite.
pub fn persist_events_per_s(gate: &ConsentGate, n: usize) -> f64 {
    let events: Vec<Vec<EventInput>> = (0..n)
        .step_by(1000)
        .map(|s| (s..(s + 1000).min(n)).map(typical).collect())
        .collect();
    let start = Instant::now();
    for chunk in events {
        gate.record_events(chunk).expect("record");
    }
    gate.persist().expect("persist");
    let rate = n as f64 / start.elapsed().as_secs_f64();
    assert!(
        gate.queue_stats().events >= n as i64,
        "every event is on disk"
    );
    rate
}

/// Plain rusqlite: `n` rows in one prepared-statement transaction, rows/s.
pub fn raw_sqlite_rows_per_s(dir: &Path, n: usize) -> f64 {
    let c = rusqlite::Connection::open(dir.join("raw.db")).expect("open");
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE t(seq INTEGER PRIMARY KEY, ts INTEGER, name TEXT, props TEXT, bytes INTEGER);",
    )
    .expect("schema");
    let start = Instant::now();
    let tx = c.unchecked_transaction().expect("tx");
    {
        let mut st = tx
            .prepare("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)")
            .expect("prepare");
        for i in 0..n {
            let props = format!(r#"{{"screen":"home","i":{i}}}"#);
            st.execute(rusqlite::params![i as i64, T0, "screen_view", props, 40])
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
    n as f64 / start.elapsed().as_secs_f64()
}

/// Milliseconds for a withdrawal with `n` events queued on disk.
pub fn withdraw_ms(dir: &Path, n: usize) -> f64 {
    let (gate, _) = open(dir);
    analytics(&gate, true);
    fill(&gate, n);
    let start = Instant::now();
    analytics(&gate, false);
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(gate.queue_stats().events, 0);
    ms
}

/// Prepares a data dir with `events` queued and about `ledger` ledger entries.
pub fn prepare_open(dir: &Path, events: usize, ledger: usize) {
    let (gate, _) = open(dir);
    for i in 0..ledger / 2 {
        let granted = i % 2 == 0;
        gate.set_consent(
            vec![PurposeDecision {
                purpose: "advertising".into(),
                granted,
            }],
            ConsentSource::Settings,
        )
        .expect("flip");
        gate.set_consent(
            vec![PurposeDecision {
                purpose: "cross_border_transfer".into(),
                granted,
            }],
            ConsentSource::Settings,
        )
        .expect("flip");
    }
    analytics(&gate, true);
    fill(&gate, events);
    gate.close().expect("close");
}

/// Milliseconds for `open` on a prepared data dir.
pub fn open_ms(dir: &Path) -> f64 {
    let start = Instant::now();
    let (gate, _) = open(dir);
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    std::hint::black_box(gate.allows_str("usage_events"));
    ms
}

/// (milliseconds to build and gzip one batch of 500 events, gzip bytes per event).
pub fn batch_500(gate: &ConsentGate, clock: &ManualClock, rounds: usize) -> (f64, f64) {
    let mut best = f64::MAX;
    let mut bytes = 0usize;
    for _ in 0..rounds {
        let start = Instant::now();
        let task = gate.next_upload().expect("next_upload");
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        let UploadTask::Upload { request } = task else {
            panic!("expected a batch, got {task:?}")
        };
        best = best.min(ms);
        bytes = request.body.len();
        gate.complete_upload(
            request.request_id,
            UploadResult::Http {
                status: 503,
                retry_after_s: None,
                body: None,
            },
        )
        .expect("complete");
        clock.advance(600_000);
    }
    (best, bytes as f64 / 500.0)
}

/// Writer wake-ups per minute of an idle open gate (SPEC §9
/// `idle_wakeups_per_min`, target 0): a gate on the system clock, consent
/// given, a few events committed and left queued (so an expiry, a TTL and
/// the ledger all have work in the future), then `seconds` of nothing,
/// counted by the writer itself. Nothing else in the process may move a
/// `ManualClock` meanwhile (that wakes every writer, as a clock jump should).
pub fn idle_wakeups_per_min(dir: &Path, seconds: u64) -> f64 {
    let gate = ConsentGate::open_with(OpenOptions {
        data_dir: dir.to_path_buf(),
        policy_json: Some(policy()),
        region: Some("KZ".into()),
        app_version: "bench".into(),
        clock: Arc::new(consentgate::SystemClock),
    })
    .expect("open");
    analytics(&gate, true);
    for i in 0..10 {
        let e = typical(i);
        gate.record_event(e.name, e.properties_json)
            .expect("record");
    }
    // Let the writer commit them (it wakes for that), then count.
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    let before = gate.writer_wakeups();
    std::thread::sleep(std::time::Duration::from_secs(seconds));
    let woke = gate.writer_wakeups() - before;
    woke as f64 * 60.0 / seconds as f64
}
