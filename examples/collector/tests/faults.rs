//! `--fail-rate`: injected 500s, 429s and dropped connections, before handling and after
//! commit, and the exactly-once delivery that deduplication still guarantees under them, on
//! SQLite and on PostgreSQL.

mod common;

use std::thread;

use common::{batch, deletion, get, id, post_batch, post_deletion, start, Engine, Reply};

on_both_engines!(
    fail_rate_one_only_produces_500_429_and_drops_never_a_200,
    fail_rate_half_with_retries_delivers_every_batch_exactly_once,
    concurrent_clients_under_faults_still_deliver_exactly_once,
);
use serde_json::Value;

/// What a client saw for one attempt.
#[derive(Debug, PartialEq)]
enum Attempt {
    Delivered(Reply),
    Retry,
}

fn classify(result: std::io::Result<Reply>) -> Attempt {
    match result {
        Ok(reply) if reply.status == 200 => Attempt::Delivered(reply),
        Ok(reply) => {
            assert!(
                matches!(reply.status, 500 | 429),
                "only injected faults expected, got {} {:?}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            );
            if reply.status == 429 {
                assert_eq!(reply.header("Retry-After"), Some("1"));
            }
            Attempt::Retry
        }
        // A dropped connection: the SDK's "network error".
        Err(_) => Attempt::Retry,
    }
}

/// Sends until delivered, like the SDK (without its backoff: the test has no time to wait).
fn deliver(send: impl Fn() -> std::io::Result<Reply>) -> Value {
    for _ in 0..200 {
        if let Attempt::Delivered(reply) = classify(send()) {
            return reply.json();
        }
    }
    panic!("not delivered in 200 attempts");
}

fn fail_rate_one_only_produces_500_429_and_drops_never_a_200(engine: &Engine) {
    let (collector, _db) = start(engine, 1.0, 7);
    let addr = collector.addr();
    for i in 0..60 {
        let result = if i % 2 == 0 {
            post_batch(addr, &batch(&id(&format!("b-{i}")), &id("inst-a"), 2))
        } else {
            post_deletion(
                addr,
                &deletion(&id(&format!("d-{i}")), &[&id("inst-a")], None),
            )
        };
        assert_eq!(classify(result), Attempt::Retry, "attempt {i} succeeded");
    }
    let stats = collector.stats();
    assert_eq!(
        stats.injected_500 + stats.injected_429 + stats.injected_drop,
        60
    );
    assert!(stats.injected_500 > 0 && stats.injected_429 > 0 && stats.injected_drop > 0);
    assert_eq!(stats.injected_after_commit, 0, "nothing was ever handled");
    assert_eq!((stats.batches, stats.events, stats.deletions), (0, 0, 0));

    // GET requests never fail.
    for _ in 0..20 {
        assert_eq!(get(addr, "/v1/stats").status, 200);
        assert_eq!(get(addr, "/healthz").status, 200);
    }
}

fn fail_rate_half_with_retries_delivers_every_batch_exactly_once(engine: &Engine) {
    let (collector, _db) = start(engine, 0.5, 2024);
    let addr = collector.addr();
    let mut sent_events = 0;
    let mut duplicates_seen = 0;
    for i in 0..40 {
        let events = i % 5 + 1;
        sent_events += events as u64;
        let doc = batch(
            &id(&format!("b-{i}")),
            &id(&format!("inst-{}", i % 3)),
            events,
        );
        let answer = deliver(|| post_batch(addr, &doc));
        match answer["status"].as_str() {
            Some("accepted") => assert_eq!(answer["events"], events),
            Some("duplicate") => duplicates_seen += 1,
            other => panic!("unexpected status {other:?}"),
        }
    }

    let stats = collector.stats();
    assert_eq!(stats.batches, 40);
    assert_eq!(stats.events, sent_events, "every event exactly once");
    assert!(
        stats.injected_after_commit > 0,
        "seed never faulted after commit: {stats:?}"
    );
    // Each fault after commit makes the (sequential) client resend a stored batch, and the
    // next resend that gets through is a duplicate — whose answer may be faulted in turn.
    assert_eq!(stats.duplicates, stats.injected_after_commit);
    assert!(
        duplicates_seen > 0 && duplicates_seen <= stats.duplicates,
        "{stats:?}"
    );
    assert!(stats.injected_500 > 0 && stats.injected_429 > 0 && stats.injected_drop > 0);

    // A deletion retried through faults is processed once and keeps its first receipt.
    let doc = deletion(&id("del-1"), &[&id("inst-0")], None);
    let first = deliver(|| post_deletion(addr, &doc));
    let second = deliver(|| post_deletion(addr, &doc));
    assert_eq!(first["receipt_id"], second["receipt_id"]);
    assert_eq!(collector.stats().deletions, 1);
    assert_eq!(collector.installation(&id("inst-0")).events, 0);
}

fn concurrent_clients_under_faults_still_deliver_exactly_once(engine: &Engine) {
    let (collector, _db) = start(engine, 0.5, 99);
    let addr = collector.addr();
    thread::scope(|s| {
        for client in 0..4 {
            s.spawn(move || {
                for i in 0..10 {
                    let doc = batch(
                        &id(&format!("c{client}-b{i}")),
                        &id(&format!("inst-{client}")),
                        3,
                    );
                    deliver(|| post_batch(addr, &doc));
                }
            });
        }
    });
    let stats = collector.stats();
    assert_eq!(
        (stats.batches, stats.events, stats.installations),
        (40, 120, 4)
    );
}
