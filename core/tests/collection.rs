//! Gated collection through the public API: events are queued only with
//! consent (G1, G2), withdrawal purges memory and disk on every path (G3),
//! providers are asked only for what is allowed, the queue is bounded (G8),
//! and nothing personal reaches the logs above trace (G9).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use consentgate::{
    AdIdProvider, AgeSignal, AttStatus, ConsentSource, DeviceInfoProvider, DropReason, EventInput,
    GateError, PlatformSignals, RecordOutcome,
};
use serde_json::json;

#[test]
fn g1_events_before_consent_are_dropped_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    for _ in 0..5 {
        let out = gate
            .record_event("screen_view".into(), Some(r#"{"screen":"home"}"#.into()))
            .unwrap();
        assert_eq!(
            out,
            RecordOutcome::Dropped {
                reason: DropReason::NoConsent
            }
        );
    }
    gate.persist().unwrap();
    let stats = gate.queue_stats();
    assert_eq!((stats.events, stats.dropped_no_consent), (0, 5));
    assert_eq!(rows_on_disk(dir.path()), 0);
    let export = gate.export_data().unwrap();
    assert!(!export.contains("screen_view"));
}

#[test]
fn g2_events_are_queued_only_while_usage_events_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let gate = open(dir.path(), &example_kz(), &c);
    grant(&gate, "analytics", true);
    let seqs = record_n(&gate, "tap", 3);
    assert_eq!(seqs, vec![1, 2, 3]);
    assert_eq!(
        gate.queue_stats().events,
        3,
        "buffered records count as queued"
    );
    gate.persist().unwrap();
    assert_eq!(rows_on_disk(dir.path()), 3);
    grant(&gate, "analytics", false);
    let out = gate.record_event("tap".into(), None).unwrap();
    assert_eq!(
        out,
        RecordOutcome::Dropped {
            reason: DropReason::NoConsent
        }
    );
    gate.close().unwrap();
    // Sequence numbers keep increasing across restarts.
    let gate = open(dir.path(), &example_kz(), &c);
    grant(&gate, "analytics", true);
    assert_eq!(record_n(&gate, "tap", 1), vec![4]);
}

#[test]
fn g3_withdrawal_purges_buffered_and_persisted_records() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    grant(&gate, "analytics", true);
    record_n(&gate, "persisted", 100);
    gate.persist().unwrap();
    record_n(&gate, "buffered", 50);
    assert_eq!(gate.queue_stats().events, 150);
    grant(&gate, "analytics", false);
    assert_eq!(gate.queue_stats().events, 0);
    assert_eq!(
        rows_on_disk(dir.path()),
        0,
        "purged on disk when the call returned"
    );
    gate.persist().unwrap();
    assert_eq!(
        rows_on_disk(dir.path()),
        0,
        "nothing buffered survives to a later commit"
    );
}

#[test]
fn g3_every_revoking_path_purges() {
    type Revoke = fn(&consentgate::ConsentGate);
    let paths: [(&str, Revoke); 3] = [
        ("reject_all", |g| {
            g.reject_all(ConsentSource::Settings).unwrap();
        }),
        ("age_gate", |g| {
            g.set_age(AgeSignal {
                age_years: Some(12),
                parental_consent: false,
            })
            .unwrap();
        }),
        ("gpc", |g| {
            g.set_platform_signals(PlatformSignals {
                gpc: true,
                ..Default::default()
            })
            .unwrap();
        }),
    ];
    // usage_events needs a sale-or-share purpose here, so GPC revokes it too.
    let mut v: serde_json::Value = serde_json::from_str(&policy(1, 0, &[])).unwrap();
    v["categories"][2]["requires"] = json!(["analytics", "advertising"]);
    let p = policy_from(v);
    for (name, revoke) in paths {
        let dir = tempfile::tempdir().unwrap();
        let gate = open(dir.path(), &p, &clock());
        gate.accept_all(ConsentSource::Banner).unwrap();
        record_n(&gate, "e", 20);
        gate.persist().unwrap();
        record_n(&gate, "e", 5);
        revoke(&gate);
        assert_eq!(gate.queue_stats().events, 0, "{name}");
        assert_eq!(rows_on_disk(dir.path()), 0, "{name}");
    }
}

#[test]
fn g3_expiry_noticed_at_open_purges() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    {
        let gate = open(dir.path(), &example_kz(), &c);
        grant(&gate, "analytics", true);
        record_n(&gate, "e", 10);
    }
    c.set(T0 + 20 * DAY);
    {
        let gate = open(dir.path(), &example_kz(), &c);
        assert_eq!(gate.queue_stats().events, 10, "within TTL and consent");
    }
    c.set(T0 + 366 * DAY);
    let gate = open(dir.path(), &example_kz(), &c);
    assert_eq!(gate.queue_stats().events, 0);
    assert_eq!(rows_on_disk(dir.path()), 0);
}

#[test]
fn g3_concurrent_recorders_never_outlive_a_withdrawal() {
    // tmpfs when there is one: thousands of fsynced consent commits.
    let base = std::path::Path::new("/dev/shm");
    let dir = if base.is_dir() {
        tempfile::tempdir_in(base).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let gate = open(dir.path(), &example_kz(), &clock());
    let stop = Arc::new(AtomicBool::new(false));
    let recorders: Vec<_> = (0..4)
        .map(|t| {
            let gate = gate.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut recorded = 0u64;
                let mut last_seq = 0;
                while !stop.load(Ordering::Relaxed) {
                    let events: Vec<EventInput> = (0..8)
                        .map(|i| EventInput {
                            name: format!("t{t}"),
                            properties_json: Some(format!(r#"{{"i":{i}}}"#)),
                        })
                        .collect();
                    for out in gate.record_events(events).unwrap() {
                        if let RecordOutcome::Recorded { seq } = out {
                            assert!(seq > last_seq, "seq goes up within a thread");
                            last_seq = seq;
                            recorded += 1;
                        }
                    }
                }
                recorded
            })
        })
        .collect();
    let flips = 2000;
    for i in 0..flips {
        grant(&gate, "analytics", true);
        if i % 7 == 0 {
            gate.persist().unwrap(); // races the writer thread too
        }
        grant(&gate, "analytics", false);
        assert_eq!(
            gate.queue_stats().events,
            0,
            "flip {i}: a record outlived the withdrawal"
        );
        if i % 100 == 0 {
            assert_eq!(
                rows_on_disk(dir.path()),
                0,
                "flip {i}: on disk after withdrawal"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    let recorded: u64 = recorders.into_iter().map(|h| h.join().unwrap()).sum();
    gate.persist().unwrap();
    assert_eq!(rows_on_disk(dir.path()), 0);
    assert!(recorded > 0, "the recorders did record between flips");
    let stats = gate.queue_stats();
    assert!(stats.dropped_no_consent > 0);
    println!("g3 concurrency: {flips} withdrawals, {recorded} records captured, {} dropped, 0 violations", stats.dropped_no_consent);
}

#[test]
fn invalid_events_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    grant(&gate, "analytics", true);
    let cases: [(&str, Option<&str>, &str); 6] = [
        ("bad name!", Some("{}"), "character"),
        ("", None, "empty"),
        ("1st", None, "start with a letter"),
        ("ok", Some("[1,2]"), "JSON object"),
        ("ok", Some(r#"{"a":"#), "not valid JSON"),
        (
            "ok",
            Some(&*Box::leak(
                format!("{}1{}", r#"{"a":"#.repeat(9), "}".repeat(9)).into_boxed_str(),
            )),
            "9 levels",
        ),
    ];
    for (name, props, why) in cases {
        match gate.record_event(name.into(), props.map(str::to_string)) {
            Err(GateError::InvalidArgument { message }) => {
                assert!(message.contains(why), "{name:?}: {message}")
            }
            other => panic!("{name:?} {props:?}: {other:?}"),
        }
    }
    let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(17 * 1024));
    assert!(matches!(
        gate.record_event("ok".into(), Some(big)),
        Err(GateError::InvalidArgument { .. })
    ));
    // A bad event in a batch refuses the whole batch and names its index.
    let err = gate
        .record_events(vec![
            EventInput {
                name: "good".into(),
                properties_json: None,
            },
            EventInput {
                name: "bad name".into(),
                properties_json: None,
            },
        ])
        .unwrap_err();
    assert!(err.to_string().contains("events[1]"), "{err}");
    assert_eq!(gate.queue_stats().events, 0);
}

#[derive(Default)]
struct SpyDevice(Mutex<Vec<&'static str>>);

impl DeviceInfoProvider for SpyDevice {
    fn os(&self) -> Option<String> {
        self.0.lock().unwrap().push("os");
        Some("Android".into())
    }
    fn os_version(&self) -> Option<String> {
        self.0.lock().unwrap().push("os_version");
        Some("15".into())
    }
    fn model(&self) -> Option<String> {
        self.0.lock().unwrap().push("model");
        Some("MODEL-XYZ-99".into())
    }
    fn manufacturer(&self) -> Option<String> {
        self.0.lock().unwrap().push("manufacturer");
        Some("Acme".into())
    }
    fn locale(&self) -> Option<String> {
        self.0.lock().unwrap().push("locale");
        Some("kk-KZ".into())
    }
    fn timezone(&self) -> Option<String> {
        self.0.lock().unwrap().push("timezone");
        Some("Asia/Almaty".into())
    }
    fn carrier(&self) -> Option<String> {
        self.0.lock().unwrap().push("carrier");
        Some("CARRIER-77".into())
    }
    fn app_version(&self) -> Option<String> {
        self.0.lock().unwrap().push("app_version");
        Some("1.0".into())
    }
    fn screen(&self) -> Option<String> {
        self.0.lock().unwrap().push("screen");
        Some("1080x2400".into())
    }
}

#[test]
fn g1_device_provider_is_not_called_before_consent_and_only_for_allowed_fields() {
    // os/model/locale need analytics; carrier needs advertising.
    let mut v: serde_json::Value = serde_json::from_str(&policy(1, 0, &[])).unwrap();
    v["categories"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "network_info", "requires": ["advertising"], "fields": ["carrier"]}));
    let p = policy_from(v);
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &p, &clock());
    let spy = Arc::new(SpyDevice::default());
    let info = gate.collect_device_info(spy.clone()).unwrap();
    assert!(info.is_empty());
    assert!(
        spy.0.lock().unwrap().is_empty(),
        "provider called without consent"
    );
    grant(&gate, "analytics", true);
    let info = gate.collect_device_info(spy.clone()).unwrap();
    assert_eq!(*spy.0.lock().unwrap(), vec!["os", "model", "locale"]);
    assert_eq!(info.model.as_deref(), Some("MODEL-XYZ-99"));
    assert_eq!(info.carrier, None);
    spy.0.lock().unwrap().clear();
    grant(&gate, "advertising", true);
    gate.collect_device_info(spy.clone()).unwrap();
    assert_eq!(
        *spy.0.lock().unwrap(),
        vec!["os", "model", "locale", "carrier"]
    );
}

struct FixedAdId(Option<String>, AtomicBool);

impl AdIdProvider for FixedAdId {
    fn advertising_id(&self) -> Option<String> {
        self.1.store(true, Ordering::SeqCst);
        self.0.clone()
    }
}

fn ad(id: &str) -> Arc<FixedAdId> {
    Arc::new(FixedAdId(Some(id.into()), AtomicBool::new(false)))
}

#[test]
fn advertising_id_follows_consent_att_and_limit_ad_tracking() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    let id = "38400000-8cf0-11bd-b23e-10b96e40000d";
    let p = ad(id);
    assert_eq!(gate.advertising_id(p.clone()), None);
    assert!(!p.1.load(Ordering::SeqCst), "asked without consent");
    grant(&gate, "advertising", true);
    assert_eq!(
        gate.advertising_id(ad(id)),
        Some(id.into()),
        "Android: ATT not applicable"
    );
    for att in [
        AttStatus::NotDetermined,
        AttStatus::Denied,
        AttStatus::Restricted,
    ] {
        gate.set_platform_signals(PlatformSignals {
            att_status: att,
            ..Default::default()
        })
        .unwrap();
        let p = ad(id);
        assert_eq!(gate.advertising_id(p.clone()), None, "{att:?}");
        assert!(!p.1.load(Ordering::SeqCst), "asked under {att:?}");
    }
    gate.set_platform_signals(PlatformSignals {
        att_status: AttStatus::Authorized,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(gate.advertising_id(ad(id)), Some(id.into()));
    gate.set_platform_signals(PlatformSignals {
        limit_ad_tracking: true,
        ..Default::default()
    })
    .unwrap();
    let p = ad(id);
    assert_eq!(gate.advertising_id(p.clone()), None);
    assert!(!p.1.load(Ordering::SeqCst), "asked under limit-ad-tracking");
    gate.set_platform_signals(PlatformSignals::default())
        .unwrap();
    assert_eq!(
        gate.advertising_id(ad("00000000-0000-0000-0000-000000000000")),
        None,
        "zero id is absent"
    );
    assert_eq!(
        gate.advertising_id(Arc::new(FixedAdId(None, AtomicBool::new(false)))),
        None
    );
}

#[test]
fn g1_user_id_is_written_only_while_account_id_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let gate = open(dir.path(), &example_kz(), &c);
    let meta = |dir: &std::path::Path| -> Option<String> {
        let conn = rusqlite::Connection::open(dir.join(consentgate::DB_FILE)).unwrap();
        conn.query_row("SELECT value FROM meta WHERE key = 'user_id'", [], |r| {
            r.get(0)
        })
        .ok()
    };
    gate.set_user_id(Some("USER-ID-777".into())).unwrap();
    assert_eq!(meta(dir.path()), None, "written without consent");
    grant(&gate, "analytics", true);
    gate.set_user_id(Some("USER-ID-777".into())).unwrap();
    assert_eq!(meta(dir.path()).as_deref(), Some("USER-ID-777"));
    grant(&gate, "analytics", false);
    assert_eq!(meta(dir.path()), None, "kept after withdrawal");
    assert!(matches!(
        gate.set_user_id(Some(String::new())),
        Err(GateError::InvalidArgument { .. })
    ));
}

#[test]
fn g8_queue_count_bound_evicts_oldest_first_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let p = policy_with_limits(json!({"max_queue_events": 100, "max_batch_events": 10}));
    let gate = open(dir.path(), &p, &c);
    grant(&gate, "analytics", true);
    record_n(&gate, "e", 250);
    gate.persist().unwrap();
    let stats = gate.queue_stats();
    assert_eq!((stats.events, stats.evicted), (100, 150));
    let export: serde_json::Value = serde_json::from_str(&gate.export_data().unwrap()).unwrap();
    let seqs: Vec<u64> = export["queue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (151..=250).collect::<Vec<_>>(), "the newest are kept");
    gate.close().unwrap();
    let gate = open(dir.path(), &p, &c);
    assert_eq!(
        gate.queue_stats().evicted,
        150,
        "the count survives restarts"
    );
}

#[test]
fn g8_queue_byte_bound_evicts_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy_with_limits(json!({"max_queue_bytes": 20000, "max_batch_bytes": 1000}));
    let gate = open(dir.path(), &p, &clock());
    grant(&gate, "analytics", true);
    let props = format!(r#"{{"pad":"{}"}}"#, "x".repeat(900));
    for _ in 0..100 {
        gate.record_event("big".into(), Some(props.clone()))
            .unwrap();
    }
    gate.persist().unwrap();
    let stats = gate.queue_stats();
    assert!(stats.bytes <= 20000, "{stats:?}");
    assert!(stats.events >= 18 && stats.events < 25, "{stats:?}");
    assert_eq!(stats.evicted, 100 - stats.events);
}

#[test]
fn g8_events_older_than_the_ttl_are_purged_at_open_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    {
        let gate = open(dir.path(), &example_kz(), &c);
        gate.set_consent(
            vec![consentgate::PurposeDecision {
                purpose: "analytics".into(),
                granted: true,
            }],
            ConsentSource::Banner,
        )
        .unwrap();
        record_n(&gate, "old", 10);
        gate.persist().unwrap();
        c.set(T0 + 10 * DAY);
        record_n(&gate, "newer", 5);
    }
    c.set(T0 + 31 * DAY);
    let gate = open(dir.path(), &example_kz(), &c);
    let stats = gate.queue_stats();
    assert_eq!((stats.events, stats.evicted), (5, 10));
    assert_eq!(stats.oldest_ms, Some(T0 + 10 * DAY));
}

/// Captures every log line with its level.
#[derive(Default)]
struct Capture(Mutex<Vec<(consentgate::LogLevel, String)>>);

impl consentgate::Logger for Capture {
    fn log(&self, level: consentgate::LogLevel, _target: String, message: String) {
        self.0.lock().unwrap().push((level, message));
    }
}

#[test]
fn g9_payloads_ids_and_device_values_never_reach_logs_above_trace() {
    let capture = Arc::new(Capture::default());
    consentgate::set_logger(capture.clone(), consentgate::LogLevel::Trace);
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    gate.accept_all(ConsentSource::Banner).unwrap();
    gate.set_user_id(Some("USER-ID-777".into())).unwrap();
    gate.collect_device_info(Arc::new(SpyDevice::default()))
        .unwrap();
    gate.advertising_id(ad("AD-ID-31337")).unwrap();
    for _ in 0..20 {
        gate.record_event(
            "secret_screen".into(),
            Some(r#"{"card":"SECRET-PAYLOAD-42"}"#.into()),
        )
        .unwrap();
    }
    assert!(gate
        .record_event("bad name SECRET-NAME-9".into(), None)
        .is_err());
    gate.persist().unwrap();
    gate.reject_all(ConsentSource::Settings).unwrap();
    let installation = gate.installation_id();
    gate.close().unwrap();
    drop(gate);
    // A damaged store logs too.
    std::fs::write(dir.path().join(consentgate::DB_FILE), b"junk").unwrap();
    let _ = open(dir.path(), &example_kz(), &clock());

    let lines = capture.0.lock().unwrap();
    let secrets = [
        "SECRET-PAYLOAD-42",
        "USER-ID-777",
        "MODEL-XYZ-99",
        "CARRIER-77",
        "AD-ID-31337",
        "SECRET-NAME-9",
        installation.as_str(),
    ];
    let mut above_trace = 0;
    for (level, line) in lines.iter() {
        if *level == consentgate::LogLevel::Trace {
            continue;
        }
        above_trace += 1;
        for s in secrets {
            assert!(!line.contains(s), "{s} logged at {level:?}: {line}");
        }
    }
    assert!(
        above_trace >= 5,
        "the test saw too few lines to mean anything: {above_trace}"
    );
    assert!(
        lines
            .iter()
            .any(|(l, m)| *l == consentgate::LogLevel::Trace && m.contains("secret_screen")),
        "trace capture works"
    );
}

#[test]
fn g3_host_buffered_events_captured_before_a_withdrawal_never_land() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    let v1 = grant(&gate, "analytics", true).version;
    let captured = |v: i64, name: &str| consentgate::CapturedEvent {
        name: name.into(),
        properties_json: Some(r#"{"k":1}"#.into()),
        captured_at_ms: T0 - 5_000,
        consent_version: v,
    };
    let r = gate
        .record_captured(vec![captured(v1, "early"), captured(v1, "bad name")], 3, 2)
        .unwrap();
    assert_eq!((r.recorded, r.invalid), (1, 1));
    assert!(r.first_invalid.unwrap().contains("character"));
    grant(&gate, "analytics", false);
    let v3 = grant(&gate, "analytics", true).version;
    assert!(v3 > v1);
    // Captured under v1, before the withdrawal: dropped although granted again.
    let r = gate
        .record_captured(vec![captured(v1, "stale"), captured(v3, "fresh")], 0, 0)
        .unwrap();
    assert_eq!((r.recorded, r.dropped_no_consent), (1, 1));
    let doc: serde_json::Value = serde_json::from_str(&gate.export_data().unwrap()).unwrap();
    let names: Vec<&str> = doc["queue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["fresh"],
        "the withdrawal purged 'early'; 'stale' never landed"
    );
    assert_eq!(
        doc["queue"][0]["ts"], "2025-12-31T23:59:55.000Z",
        "the host's capture time is kept"
    );
    assert!(
        gate.queue_stats().dropped_no_consent >= 4,
        "host drops are counted"
    );
    assert_eq!(gate.queue_stats().evicted, 2, "host evictions are counted");
    let rules = gate.capture_rules();
    assert_eq!(rules.max_queue_events, 20_000);
    assert_eq!(
        rules.max_buffered_events, 8192,
        "a host buffer never holds more than the core's own bound"
    );
}

struct Throwing;
impl consentgate::ConsentListener for Throwing {
    fn on_consent_changed(&self, _: consentgate::ConsentState) {
        panic!("host listener threw");
    }
}

#[test]
fn g7_a_listener_that_throws_does_not_undo_or_break_anything() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let gate = open(dir.path(), &example_kz(), &c);
    gate.set_listener(Arc::new(Throwing));
    let st = grant(&gate, "analytics", true);
    assert!(gate.allows("usage_events".into()));
    assert!(st.version > 0);
    record_n(&gate, "e", 3);
    // The writer thread calls the listener on expiry: it must survive it.
    c.set(T0 + 366 * DAY);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while gate.allows("usage_events".into()) {
        assert!(std::time::Instant::now() < deadline, "expiry never applied");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    c.set(T0 + 367 * DAY);
    grant(&gate, "analytics", true);
    record_n(&gate, "after", 2);
    gate.persist().unwrap();
    assert_eq!(rows_on_disk(dir.path()), 2, "the writer still commits");
}
