//! The collector's side of SPEC §5 without faults: batches are stored once, refusals name the
//! problem, deletions erase and answer with a stable receipt.

mod common;

use std::thread;

use common::{batch, deletion, get, post, post_batch, post_deletion, request, start};
use consentgate_collector::{InstallationInfo, Stats};
use serde_json::json;

#[test]
fn batch_is_accepted_and_counted() {
    let (collector, _dir) = start(0.0, 0);
    let reply = post_batch(collector.addr(), &batch("b-1", "inst-a", 3)).expect("answered");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"status": "accepted", "events": 3}));

    let stats = collector.stats();
    assert_eq!(
        (stats.batches, stats.events, stats.installations),
        (1, 3, 1)
    );
    assert_eq!(stats.duplicates, 0);
    let info = collector.installation("inst-a");
    assert_eq!((info.batches, info.events, info.deleted), (1, 3, false));
}

#[test]
fn same_batch_id_twice_is_counted_once() {
    let (collector, _dir) = start(0.0, 0);
    let doc = batch("b-1", "inst-a", 4);
    assert_eq!(
        post_batch(collector.addr(), &doc).expect("first").status,
        200
    );
    let again = post_batch(collector.addr(), &doc).expect("second");
    assert_eq!(again.status, 200);
    assert_eq!(again.json(), json!({"status": "duplicate"}));

    let stats = collector.stats();
    assert_eq!((stats.batches, stats.events, stats.duplicates), (1, 4, 1));
}

#[test]
fn concurrent_copies_of_a_batch_are_stored_once() {
    let (collector, _dir) = start(0.0, 0);
    let addr = collector.addr();
    let statuses: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(move || {
                    let reply = post_batch(addr, &batch("same", "inst-a", 5)).expect("answered");
                    assert_eq!(reply.status, 200);
                    reply.json()["status"].as_str().expect("status").to_owned()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    assert_eq!(statuses.iter().filter(|s| *s == "accepted").count(), 1);
    assert_eq!(statuses.iter().filter(|s| *s == "duplicate").count(), 7);
    let stats = collector.stats();
    assert_eq!((stats.batches, stats.events, stats.duplicates), (1, 5, 7));
}

#[test]
fn malformed_json_gets_400_naming_the_problem() {
    let (collector, _dir) = start(0.0, 0);
    let addr = collector.addr();
    let gz = |s: &str| common::gzip(s.as_bytes());
    let sdk_headers = |key: &'static str| {
        [
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
            ("Idempotency-Key", key),
        ]
    };

    let reply = request(
        addr,
        "POST",
        "/v1/batch",
        &sdk_headers("k"),
        &gz("{\"batch_id\": "),
    )
    .expect("answered");
    assert_eq!(reply.status, 400);
    assert!(
        reply.error().contains("not valid JSON"),
        "{}",
        reply.error()
    );

    let mut doc = batch("b-1", "inst-a", 1);
    doc.as_object_mut().expect("object").remove("batch_id");
    let reply = post(addr, "/v1/batch", "b-1", &doc).expect("answered");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "batch_id is missing");

    let mut doc = batch("b-1", "inst-a", 2);
    doc["events"][1]["seq"] = json!("two");
    let reply = post_batch(addr, &doc).expect("answered");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "events[1].seq must be an integer");

    let mut doc = batch("b-1", "inst-a", 1);
    doc["events"][0]
        .as_object_mut()
        .expect("event")
        .remove("ts");
    let reply = post_batch(addr, &doc).expect("answered");
    assert_eq!(reply.error(), "events[0].ts is missing");

    let reply = post(addr, "/v1/batch", "other-key", &batch("b-1", "inst-a", 1)).expect("answered");
    assert_eq!(reply.status, 400);
    assert!(
        reply.error().contains("Idempotency-Key"),
        "{}",
        reply.error()
    );

    let reply =
        request(addr, "POST", "/v1/batch", &sdk_headers("k"), b"not gzip").expect("answered");
    assert_eq!(reply.status, 400);
    assert!(reply.error().contains("gzip"), "{}", reply.error());

    let reply = request(
        addr,
        "POST",
        "/v1/batch",
        &[("Content-Type", "text/plain"), ("Idempotency-Key", "b-1")],
        batch("b-1", "inst-a", 1).to_string().as_bytes(),
    )
    .expect("answered");
    assert_eq!(reply.status, 415);

    // Data the protocol does not name is refused, not stored.
    let mut doc = batch("b-1", "inst-a", 1);
    doc["device"]["imei"] = json!("356938035643809");
    let reply = post_batch(addr, &doc).expect("answered");
    assert_eq!(reply.status, 422);
    assert!(reply.error().contains("device.imei"), "{}", reply.error());

    assert_eq!(
        collector.stats(),
        Stats::default(),
        "nothing refused was stored"
    );
}

#[test]
fn body_over_one_mib_after_decompression_gets_413() {
    let (collector, _dir) = start(0.0, 0);
    let mut doc = batch("big", "inst-a", 1);
    doc["events"][0]["props"] = json!({"pad": "x".repeat(1024 * 1024)});
    let reply = post_batch(collector.addr(), &doc).expect("answered");
    assert_eq!(reply.status, 413);
    assert_eq!(collector.stats().batches, 0);
}

#[test]
fn identity_encoding_and_chunked_bodies_are_accepted() {
    let (collector, _dir) = start(0.0, 0);
    let addr = collector.addr();
    let body = batch("plain", "inst-a", 2).to_string();
    let reply = request(
        addr,
        "POST",
        "/v1/batch",
        &[
            ("Content-Type", "application/json; charset=utf-8"),
            ("Idempotency-Key", "plain"),
        ],
        body.as_bytes(),
    )
    .expect("answered");
    assert_eq!(reply.status, 200, "{:?}", reply.json());

    // What curl sends for a large upload: chunked, and waiting for 100 Continue.
    let gz = common::gzip(batch("chunked", "inst-a", 3).to_string().as_bytes());
    let (first, second) = gz.split_at(gz.len() / 2);
    let mut chunked = Vec::new();
    for part in [first, second] {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Encoding: gzip\r\nIdempotency-Key: chunked\r\nTransfer-Encoding: chunked\r\n\
         Expect: 100-continue\r\n"
    );
    let reply = common::raw(addr, &head, &chunked).expect("answered");
    // The interim 100 Continue comes first; the final answer follows it.
    let final_reply = if reply.status == 100 {
        let text = String::from_utf8_lossy(&reply.body).into_owned();
        assert!(text.contains("HTTP/1.1 200"), "{text}");
        200
    } else {
        reply.status
    };
    assert_eq!(final_reply, 200);
    assert_eq!(collector.stats().events, 5);
}

#[test]
fn deletion_erases_the_installation_and_repeats_get_the_same_receipt() {
    let (collector, _dir) = start(0.0, 0);
    let addr = collector.addr();
    for (id, inst, n) in [
        ("b-1", "inst-a", 3),
        ("b-2", "inst-a", 2),
        ("b-3", "inst-b", 4),
    ] {
        assert_eq!(
            post_batch(addr, &batch(id, inst, n))
                .expect("answered")
                .status,
            200
        );
    }

    let request_doc = deletion("del-1", &["inst-a"], None);
    let reply = post_deletion(addr, &request_doc).expect("answered");
    assert_eq!(reply.status, 200);
    let receipt = reply.json();
    assert_eq!(receipt["status"], "completed");
    let receipt_id = receipt["receipt_id"]
        .as_str()
        .expect("receipt_id")
        .to_owned();
    assert_eq!(receipt_id.len(), 36, "{receipt_id}");

    let erased = collector.installation("inst-a");
    assert_eq!(
        erased,
        InstallationInfo {
            installation_id: "inst-a".into(),
            events: 0,
            batches: 0,
            deleted: true,
            erasures: 1,
        }
    );
    let kept = collector.installation("inst-b");
    assert_eq!((kept.events, kept.deleted), (4, false));

    let again = post_deletion(addr, &request_doc).expect("answered");
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["receipt_id"], receipt_id.as_str());
    let stats = collector.stats();
    assert_eq!((stats.deletions, stats.batches, stats.events), (1, 1, 4));
    assert_eq!(stats.erased_installations, 1);

    // The same answer over HTTP as through the library.
    let over_http: InstallationInfo =
        serde_json::from_value(get(addr, "/v1/installations/inst-a").json()).expect("info");
    assert_eq!(over_http, erased);
}

#[test]
fn deletion_by_user_id_erases_every_installation_of_that_user() {
    let (collector, _dir) = start(0.0, 0);
    let addr = collector.addr();
    let mut old_install = batch("b-1", "inst-old", 2);
    old_install["user_id"] = json!("user-42");
    let mut other_user = batch("b-2", "inst-other", 1);
    other_user["user_id"] = json!("user-7");
    for doc in [old_install, other_user] {
        assert_eq!(post_batch(addr, &doc).expect("answered").status, 200);
    }

    let reply =
        post_deletion(addr, &deletion("del-1", &["inst-new"], Some("user-42"))).expect("answered");
    assert_eq!(reply.status, 200);
    assert_eq!(collector.installation("inst-old").events, 0);
    assert!(collector.installation("inst-old").deleted);
    assert!(collector.installation("inst-new").deleted);
    assert_eq!(collector.installation("inst-other").events, 1);
}

#[test]
fn deletion_requests_are_checked() {
    let (collector, _dir) = start(0.0, 0);
    let addr = collector.addr();
    let reply = post_deletion(addr, &deletion("del-1", &[], None)).expect("answered");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "installation_ids must not be empty");
    let reply = post(
        addr,
        "/v1/deletion",
        "wrong",
        &deletion("del-1", &["a"], None),
    )
    .expect("answered");
    assert_eq!(reply.status, 400);
    assert!(reply.error().contains("Idempotency-Key"));
    assert_eq!(collector.stats().deletions, 0);
}

#[test]
fn a_batch_after_deletion_is_a_new_life_and_the_flag_stays() {
    let (collector, _dir) = start(0.0, 0);
    let addr = collector.addr();
    assert_eq!(
        post_batch(addr, &batch("b-1", "inst-a", 2))
            .expect("answered")
            .status,
        200
    );
    assert_eq!(
        post_deletion(addr, &deletion("del-1", &["inst-a"], None))
            .expect("answered")
            .status,
        200
    );
    assert_eq!(
        post_batch(addr, &batch("b-2", "inst-a", 3))
            .expect("answered")
            .status,
        200
    );
    let info = collector.installation("inst-a");
    assert_eq!((info.batches, info.events, info.deleted), (1, 3, true));

    // Erased batch ids are forgotten: an SDK resending an erased batch stores it again, and
    // `deleted` with `events > 0` is how a test catches that.
    assert_eq!(
        post_batch(addr, &batch("b-1", "inst-a", 2))
            .expect("answered")
            .json()["status"],
        "accepted"
    );
    let stats = collector.stats();
    assert_eq!((stats.batches, stats.events, stats.duplicates), (2, 5, 0));
}

#[test]
fn inspection_endpoints_and_routing() {
    let (collector, _dir) = start(0.0, 0);
    let addr = collector.addr();
    assert_eq!(
        post_batch(addr, &batch("b-1", "inst-a", 2))
            .expect("answered")
            .status,
        200
    );

    let health = get(addr, "/healthz");
    assert_eq!((health.status, health.body.as_slice()), (200, &b"ok\n"[..]));
    let stats: Stats = serde_json::from_value(get(addr, "/v1/stats").json()).expect("stats");
    assert_eq!(stats, collector.stats());
    let unknown = get(addr, "/v1/installations/never-seen").json();
    assert_eq!(unknown["events"], 0);
    assert_eq!(unknown["deleted"], false);

    assert_eq!(get(addr, "/v2/batch").status, 404);
    let wrong = get(addr, "/v1/batch");
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("Allow"), Some("POST"));
    assert_eq!(
        request(addr, "DELETE", "/v1/stats", &[], b"")
            .expect("answered")
            .status,
        405
    );
    assert!(collector.url().starts_with("http://127.0.0.1:"));
    assert_eq!(collector.url(), format!("http://{}", collector.addr()));
}

#[test]
fn shutdown_stops_serving_and_data_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("collector.sqlite");
    let first =
        consentgate_collector::Collector::start(consentgate_collector::CollectorConfig::new(&path))
            .expect("start");
    let addr = first.addr();
    let doc = batch("b-1", "inst-a", 2);
    assert_eq!(post_batch(addr, &doc).expect("answered").status, 200);
    first.shutdown();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening"
    );

    let second =
        consentgate_collector::Collector::start(consentgate_collector::CollectorConfig::new(&path))
            .expect("restart");
    let again = post_batch(second.addr(), &doc).expect("answered");
    assert_eq!(again.json()["status"], "duplicate");
    assert_eq!(second.stats().events, 2);
}
