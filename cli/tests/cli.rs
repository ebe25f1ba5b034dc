//! End-to-end tests of the `consentgate` binary: each runs the built command
//! on a fresh temporary data directory with the example Kazakhstan policy and
//! checks what a QA engineer or support agent would see (stdout, stderr, exit
//! code), following the walkthroughs of the CLI issues.

mod common;

use common::{consentgate, on, POLICY};
use serde_json::Value;

fn purpose<'a>(state: &'a Value, id: &str) -> &'a Value {
    state["purposes"]
        .as_array()
        .expect("purposes array")
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("purpose {id} in {state}"))
}

fn assert_consent_purposes_unset(state: &Value) {
    for id in ["analytics", "advertising", "cross_border_transfer"] {
        assert_eq!(purpose(state, id)["status"], "unset", "{id} in {state}");
    }
}

#[test]
fn g1_g5_consent_walkthrough_allows_follows_decisions_and_ledger_catches_tampering() {
    let d = tempfile::tempdir().expect("temp dir");
    let d = d.path();

    let status = on(d, &["--policy", POLICY, "status"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let state = status.json();
    assert_eq!(state["needs_prompt"], true);
    assert_consent_purposes_unset(&state);

    let blocked = on(d, &["allows", "usage_events"]);
    assert_eq!((blocked.code, blocked.stdout.trim()), (1, "blocked"));

    let grant = on(d, &["consent", "grant", "analytics"]);
    assert_eq!(grant.code, 0, "{}", grant.stderr);
    assert_eq!(purpose(&grant.json(), "analytics")["status"], "granted");

    let allowed = on(d, &["allows", "usage_events"]);
    assert_eq!((allowed.code, allowed.stdout.trim()), (0, "allowed"));

    let deny = on(d, &["consent", "deny", "analytics"]);
    assert_eq!(deny.code, 0, "{}", deny.stderr);
    let blocked = on(d, &["allows", "usage_events"]);
    assert_eq!((blocked.code, blocked.stdout.trim()), (1, "blocked"));

    let necessary = on(d, &["consent", "deny", "service"]);
    assert_eq!(necessary.code, 2);
    assert!(
        necessary.stderr.starts_with("error: "),
        "{}",
        necessary.stderr
    );
    assert!(
        necessary.stderr.contains("necessary"),
        "{}",
        necessary.stderr
    );

    let verify = on(d, &["ledger", "verify"]);
    assert_eq!(
        (verify.code, verify.stdout.trim()),
        (0, "intact: 2 entries"),
        "{}",
        verify.stderr
    );

    let db = rusqlite::Connection::open(d.join("consentgate.db")).expect("open the store");
    let edited = db
        .execute("UPDATE ledger SET status='granted' WHERE seq=2", [])
        .expect("edit a ledger row");
    assert_eq!(edited, 1);
    drop(db);
    let verify = on(d, &["ledger", "verify"]);
    assert_eq!(verify.code, 1, "{}", verify.stderr);
    assert!(
        verify.stdout.starts_with("broken at entry 2: "),
        "{}",
        verify.stdout
    );
}

#[test]
fn policy_check_prints_a_summary_or_every_error_with_its_path() {
    let ok = consentgate(&["policy", "check", POLICY]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    for word in [
        "aqkol-city-app",
        "analytics (consent)",
        "service (necessary)",
        "advertising_id requires advertising",
    ] {
        assert!(
            ok.stdout.contains(word),
            "{word} missing from {}",
            ok.stdout
        );
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let broken = dir.path().join("broken.json");
    let text = std::fs::read_to_string(POLICY)
        .expect("example policy")
        .replace(
            r#""requires": ["advertising"]"#,
            r#""requires": ["analitycs"]"#,
        )
        .replace(r#""revision": 1,"#, r#""revision": 1, "revison": 2,"#)
        .replace("https://eu.collector", "http://eu.collector");
    std::fs::write(&broken, text).expect("write broken.json");

    let bad = consentgate(&["policy", "check", broken.to_str().expect("utf-8 path")]);
    assert_eq!(bad.code, 2);
    assert!(bad.stdout.is_empty(), "{}", bad.stdout);
    let lines: Vec<&str> = bad.stderr.lines().collect();
    assert!(lines.len() >= 3, "one line per error: {}", bad.stderr);
    assert!(
        lines.contains(&r#"categories[1].requires[0]: unknown purpose "analitycs""#),
        "{}",
        bad.stderr
    );
    assert!(
        lines.iter().any(|l| l.starts_with("revison: ")),
        "{}",
        bad.stderr
    );
    assert!(
        lines.iter().any(|l| l.starts_with("endpoints[1].url: ")),
        "{}",
        bad.stderr
    );

    let missing = consentgate(&["policy", "check", "/nonexistent/policy.json"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("/nonexistent/policy.json"),
        "{}",
        missing.stderr
    );
}

#[test]
fn g1_corrupt_store_is_set_aside_and_status_starts_fail_closed() {
    let d = tempfile::tempdir().expect("temp dir");
    let d = d.path();
    assert_eq!(
        on(d, &["--policy", POLICY, "consent", "grant", "analytics"]).code,
        0
    );

    std::fs::write(d.join("consentgate.db"), vec![0x5a; 8192]).expect("overwrite the store");
    for sidecar in ["consentgate.db-wal", "consentgate.db-shm"] {
        let _ = std::fs::remove_file(d.join(sidecar));
    }

    let status = on(d, &["--policy", POLICY, "status"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let state = status.json();
    assert!(!state["store_recovery"].is_null(), "{state}");
    assert_consent_purposes_unset(&state);
    let set_aside = || {
        std::fs::read_dir(d)
            .expect("list data dir")
            .filter_map(|e| e.ok())
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("consentgate.db.corrupt-")
            })
    };
    // `status` only reads (a copy): the damaged file is where it was.
    assert!(!set_aside(), "status set the store aside");
    // A command that writes sets it aside and starts fail-closed.
    let blocked = on(d, &["--policy", POLICY, "allows", "usage_events"]);
    assert_eq!(blocked.code, 1, "{}", blocked.stderr);
    assert!(
        set_aside(),
        "no consentgate.db.corrupt-* beside the new store"
    );
}

#[test]
fn g2_g3_event_walkthrough_records_only_with_consent_and_withdrawal_purges() {
    let d = tempfile::tempdir().expect("temp dir");
    let d = d.path();

    let dropped = on(
        d,
        &[
            "--policy",
            POLICY,
            "event",
            "record",
            "screen_view",
            r#"{"screen":"home"}"#,
        ],
    );
    assert_eq!(
        (dropped.code, dropped.stdout.trim()),
        (0, "dropped no_consent"),
        "{}",
        dropped.stderr
    );

    assert_eq!(on(d, &["consent", "grant", "analytics"]).code, 0);
    let recorded = on(
        d,
        &["event", "record", "screen_view", r#"{"screen":"home"}"#],
    );
    assert_eq!(
        (recorded.code, recorded.stdout.trim()),
        (0, "recorded 1"),
        "{}",
        recorded.stderr
    );

    let stats = on(d, &["queue", "stats"]);
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    assert_eq!(
        stats.json()["events"],
        1,
        "the event is on disk after the process exits"
    );

    assert_eq!(on(d, &["consent", "deny", "analytics"]).code, 0);
    assert_eq!(
        on(d, &["queue", "stats"]).json()["events"],
        0,
        "withdrawal purged the queue"
    );

    let bad = on(d, &["event", "record", "bad name!", "{}"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stdout.is_empty(), "{}", bad.stdout);
    assert!(
        bad.stderr.starts_with("error: ") && bad.stderr.contains("name"),
        "{}",
        bad.stderr
    );
}

#[test]
fn event_record_count_records_many_events_in_one_run() {
    let d = tempfile::tempdir().expect("temp dir");
    let d = d.path();
    let dropped = on(
        d,
        &[
            "--policy", POLICY, "event", "record", "tap", "--count", "250",
        ],
    );
    assert_eq!(
        (dropped.code, dropped.stdout.trim()),
        (0, "dropped no_consent (250 events)"),
        "{}",
        dropped.stderr
    );

    assert_eq!(on(d, &["consent", "grant", "analytics"]).code, 0);
    let one = on(d, &["event", "record", "tap"]);
    assert_eq!(one.stdout.trim(), "recorded 1");
    let many = on(
        d,
        &["event", "record", "tap", "{\"n\":1}", "--count", "25000"],
    );
    assert_eq!(
        (many.code, many.stdout.trim()),
        (0, "recorded 2..25001"),
        "{}",
        many.stderr
    );
    let stats = on(d, &["queue", "stats"]).json();
    // The policy caps the queue at 20,000 events: the oldest were evicted and counted (G8).
    assert_eq!(stats["events"], 20_000, "{stats}");
    assert_eq!(stats["evicted"], 5_001, "{stats}");

    for bad in [
        &["event", "record", "tap", "--count", "0"][..],
        &["event", "record", "bad name", "--count", "2"],
    ] {
        let run = on(d, bad);
        assert_eq!(run.code, 2, "{bad:?}: {}", run.stderr);
    }
}

#[test]
fn now_makes_a_decision_expire_after_consent_ttl_days() {
    let d = tempfile::tempdir().expect("temp dir");
    let d = d.path();
    let granted = on(
        d,
        &[
            "--policy",
            POLICY,
            "--now",
            "2026-01-01T00:00:00Z",
            "consent",
            "grant",
            "analytics",
        ],
    );
    assert_eq!(granted.code, 0, "{}", granted.stderr);
    assert_eq!(purpose(&granted.json(), "analytics")["status"], "granted");

    let later = on(d, &["--now", "2027-06-01T00:00:00Z", "status"]);
    assert_eq!(later.code, 0, "{}", later.stderr);
    let state = later.json();
    let analytics = purpose(&state, "analytics");
    assert_eq!(analytics["status"], "unset", "{state}");
    assert_eq!(analytics["reason"], "expired", "{state}");
    assert_eq!(state["needs_prompt"], true);

    let bad = on(d, &["--now", "yesterday", "status"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--now"), "{}", bad.stderr);
}

#[test]
fn export_is_json_with_installation_id_and_ledger() {
    let d = tempfile::tempdir().expect("temp dir");
    let d = d.path();
    assert_eq!(
        on(
            d,
            &[
                "--policy",
                POLICY,
                "consent",
                "accept-all",
                "--source",
                "banner"
            ]
        )
        .code,
        0
    );

    let export = on(d, &["export"]);
    assert_eq!(export.code, 0, "{}", export.stderr);
    let doc = export.json();
    let id = doc["installation_id"].as_str().expect("installation_id");
    assert!(!id.is_empty());
    let ledger = doc["ledger"].as_array().expect("ledger array");
    assert_eq!(
        ledger.len(),
        3,
        "one entry per consent purpose granted: {doc}"
    );
    assert!(ledger
        .iter()
        .all(|e| e["source"] == "banner" && e["installation_id"] == id));
}

#[test]
fn unknown_command_is_a_usage_error_and_help_is_not() {
    let unknown = consentgate(&["frobnicate"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("frobnicate"), "{}", unknown.stderr);

    let help = consentgate(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("status"), "{}", help.stdout);
}

#[test]
fn data_dir_without_policy_needs_one() {
    let d = tempfile::tempdir().expect("temp dir");
    let run = on(d.path(), &["status"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(run.stderr.contains("--policy"), "{}", run.stderr);
    assert!(
        !d.path().join("consentgate.db").exists(),
        "a failed first run leaves no empty store behind"
    );

    // A --data-dir that is a file is bad input, named as such.
    let file = d.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let policy = POLICY;
    for args in [
        vec!["--policy", policy, "status"],
        vec!["--policy", policy, "consent", "grant", "analytics"],
    ] {
        let run = on(&file, &args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("is a file, not a directory"),
            "{}",
            run.stderr
        );
    }

    let no_dir = consentgate(&["status"]);
    assert_eq!(no_dir.code, 2);
    assert!(no_dir.stderr.contains("--data-dir"), "{}", no_dir.stderr);
}
