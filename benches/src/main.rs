//! `consentgate-bench --json`: quick versions of every SPEC §9 measurement,
//! printed as one JSON object with each figure beside its target.
//!
//! ```text
//! cargo run --release -p consentgate-bench -- --json
//! ```
//! Kotlin/JNA figures are written by `bindings-android/jvm-test.sh --bench`
//! to `target/consentgate-kotlin-bench.json`, the Swift ones by
//! `bindings-ios/swift-test.sh --bench` to `target/consentgate-swift-bench.json`
//! and the collector's by its load script to
//! `target/consentgate-collector-bench.json`; each is included when present.
//! `idle_wakeups_per_min` watches an idle gate for 60 s
//! (`CONSENTGATE_IDLE_SECONDS` to change it) while the library is built.

use std::path::{Path, PathBuf};
use std::process::Command;

use consentgate_bench::*;
use serde_json::{json, Map, Value};

/// (report key, target, true when lower is better).
const TARGETS: &[(&str, f64, bool)] = &[
    ("allows_ns", 20.0, true),
    ("record_p50_us", 0.4, true),
    ("record_p99_us", 2.0, true),
    ("record_props_p50_us", 2.0, true),
    ("persist_events_per_s", 400_000.0, false),
    ("withdraw_100k_ms", 50.0, true),
    ("open_100k_ms", 30.0, true),
    ("batch_500_ms", 5.0, true),
    ("wire_bytes_per_event", 40.0, true),
    ("cdylib_bytes", 2.0 * 1024.0 * 1024.0, true),
    ("kotlin_allows_us", 0.2, true),
    ("kotlin_record_event_us", 5.0, true),
    ("kotlin_record_events_100_us", 100.0, true),
    ("idle_wakeups_per_min", 0.0, true),
    ("kotlin_open_main_thread_ms", 5.0, true),
    ("kotlin_cold_first_allows_ms", 250.0, true),
    ("swift_allows_ns", 50.0, true),
    ("swift_record_event_us", 1.0, true),
    ("swift_record_events_100_us", 50.0, true),
    ("swift_open_caller_ms", 5.0, true),
    ("collector_sqlite_events_per_s", 400_000.0, false),
    ("collector_pg_events_per_s", 150_000.0, false),
];

/// Figures measured outside this program, included when their file exists:
/// the Kotlin JVM bench, the Swift bench, the collector load script.
const OTHER_REPORTS: &[&str] = &[
    "target/consentgate-kotlin-bench.json",
    "target/consentgate-swift-bench.json",
    "target/consentgate-collector-bench.json",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Size of the release cdylib after `strip`, building it if needed, the way
/// the shipped libraries are built: `cargo rustc --crate-type cdylib`, as
/// `bindings-android/build.gradle.kts` does (built together with the rlib and
/// the staticlib of `Cargo.toml`'s crate types, the same library is ~260 KB
/// larger). Its own target directory keeps `target/release` as the other
/// builds leave it.
fn cdylib_bytes() -> Option<f64> {
    let root = workspace();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .args([
            "rustc",
            "--release",
            "-q",
            "-p",
            "consentgate",
            "--lib",
            "--crate-type",
            "cdylib",
            "--target-dir",
            "target/size",
        ])
        .current_dir(&root)
        .status()
        .ok()?
        .success();
    if !ok {
        return None;
    }
    let lib = root.join("target/size/release/libconsentgate.so");
    let out = std::env::temp_dir().join("consentgate-stripped.so");
    Command::new("strip")
        .arg("-o")
        .arg(&out)
        .arg(&lib)
        .status()
        .ok()?
        .success()
        .then_some(())?;
    Some(std::fs::metadata(out).ok()?.len() as f64)
}

fn main() {
    let json_out = std::env::args().any(|a| a == "--json");
    let mut figures: Map<String, Value> = Map::new();
    let mut put = |k: &str, v: f64| {
        figures.insert(k.into(), json!(v));
    };

    let dir = tempfile::tempdir().expect("tmp");
    let (gate, _) = open(dir.path());
    analytics(&gate, true);
    put(
        "allows_ns",
        median((0..5).map(|_| allows_ns(&gate, 5_000_000)).collect()),
    );
    let (p50, p99) = record_latency_us(&gate, 200_000, None);
    put("record_p50_us", p50);
    put("record_p99_us", p99);
    put(
        "record_props_p50_us",
        record_latency_us(&gate, 200_000, Some(PROPS_100B)).0,
    );
    gate.close().expect("close");

    let n = 400_000;
    let d = tempfile::tempdir().expect("tmp");
    let (gate, _) = open(d.path());
    analytics(&gate, true);
    put("persist_events_per_s", persist_events_per_s(&gate, n));
    drop(gate);
    let d = tempfile::tempdir().expect("tmp");
    put("raw_sqlite_rows_per_s", raw_sqlite_rows_per_s(d.path(), n));

    put(
        "withdraw_100k_ms",
        median(
            (0..3)
                .map(|_| withdraw_ms(tempfile::tempdir().expect("tmp").path(), 100_000))
                .collect(),
        ),
    );
    let d = tempfile::tempdir().expect("tmp");
    prepare_open(d.path(), 100_000, 10_000);
    put(
        "open_100k_ms",
        median((0..5).map(|_| open_ms(d.path())).collect()),
    );

    let d = tempfile::tempdir().expect("tmp");
    let (gate, clock) = open(d.path());
    analytics(&gate, true);
    fill_spaced(&gate, &clock, 500);
    let (ms, per_event) = batch_500(&gate, &clock, 20);
    put("batch_500_ms", ms);
    put("wire_bytes_per_event", per_event);
    drop(gate);

    // The idle gate is watched while the library builds (another process:
    // nothing here moves a clock meanwhile).
    let idle_seconds = std::env::var("CONSENTGATE_IDLE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let idle_dir = tempfile::tempdir().expect("tmp");
    let idle_path = idle_dir.path().to_path_buf();
    let idle = std::thread::spawn(move || idle_wakeups_per_min(&idle_path, idle_seconds));
    if let Some(bytes) = cdylib_bytes() {
        put("cdylib_bytes", bytes);
    }
    put("idle_wakeups_per_min", idle.join().expect("idle watch"));
    for file in OTHER_REPORTS {
        let Ok(text) = std::fs::read_to_string(workspace().join(file)) else {
            continue;
        };
        if let Ok(Value::Object(k)) = serde_json::from_str::<Value>(&text) {
            for (key, v) in k {
                if let Some(x) = v.as_f64() {
                    put(&key, x);
                }
            }
        }
    }

    let mut report = Map::new();
    let mut all_met = true;
    for (key, target, lower) in TARGETS {
        let Some(v) = figures.get(*key).and_then(Value::as_f64) else {
            report.insert(
                (*key).into(),
                json!({"value": null, "target": target, "met": null}),
            );
            continue;
        };
        let met = if *lower { v <= *target } else { v >= *target };
        all_met &= met;
        report.insert(
            (*key).into(),
            json!({"value": v, "target": target, "met": met}),
        );
    }
    for (k, v) in &figures {
        if !report.contains_key(k) {
            report.insert(k.clone(), json!({"value": v}));
        }
    }
    report.insert("all_met".into(), json!(all_met));
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&Value::Object(report)).expect("json")
        );
    } else {
        for (k, v) in &report {
            println!("{k:28} {v}");
        }
    }
}
