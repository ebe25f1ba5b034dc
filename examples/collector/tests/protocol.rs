//! The collector's side of SPEC §5 without faults, on SQLite and on PostgreSQL: batches are
//! stored once, refusals name the problem, deletions erase and answer with a stable receipt,
//! framing the RFC calls ambiguous is refused.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use common::{
    batch, deletion, get, id, post, post_batch, post_deletion, request, sdk_headers, start, Engine,
};
use consentgate_collector::{InstallationInfo, Stats};
use serde_json::json;

on_both_engines!(
    batch_is_accepted_and_counted,
    same_batch_id_twice_is_counted_once,
    concurrent_copies_of_a_batch_are_stored_once,
    malformed_json_gets_400_naming_the_problem,
    headers_the_document_requires_are_required,
    body_over_one_mib_after_decompression_gets_413,
    a_gzip_bomb_gets_413_without_filling_memory,
    chunked_bodies_and_keep_alive_are_served,
    content_length_with_transfer_encoding_gets_400,
    two_different_content_lengths_get_400,
    g6_deletion_erases_the_installation_and_repeats_get_the_same_receipt,
    g6_deletion_by_user_id_erases_every_installation_of_that_user,
    g6_deletion_of_twenty_thousand_ids_erases_exactly_those,
    deletion_requests_are_checked,
    a_batch_after_deletion_is_a_new_life_and_the_flag_stays,
    inspection_endpoints_and_routing,
    shutdown_stops_serving_and_data_survives_a_restart,
);

fn batch_is_accepted_and_counted(engine: &Engine) {
    let (collector, _db) = start(engine, 0.0, 0);
    let reply =
        post_batch(collector.addr(), &batch(&id("b-1"), &id("inst-a"), 3)).expect("answered");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"status": "accepted", "events": 3}));

    let stats = collector.stats();
    assert_eq!(
        (stats.batches, stats.events, stats.installations),
        (1, 3, 1)
    );
    assert_eq!(stats.duplicates, 0);
    let info = collector.installation(&id("inst-a"));
    assert_eq!((info.batches, info.events, info.deleted), (1, 3, false));
}

fn same_batch_id_twice_is_counted_once(engine: &Engine) {
    let (collector, _db) = start(engine, 0.0, 0);
    let doc = batch(&id("b-1"), &id("inst-a"), 4);
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

fn concurrent_copies_of_a_batch_are_stored_once(engine: &Engine) {
    let (collector, _db) = start(engine, 0.0, 0);
    let addr = collector.addr();
    let statuses: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(move || {
                    let reply =
                        post_batch(addr, &batch(&id("same"), &id("inst-a"), 5)).expect("answered");
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

fn malformed_json_gets_400_naming_the_problem(engine: &Engine) {
    let (collector, _db) = start(engine, 0.0, 0);
    let addr = collector.addr();
    let gz = |s: &str| common::gzip(s.as_bytes());

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

    let mut doc = batch(&id("b-1"), &id("inst-a"), 1);
    doc.as_object_mut().expect("object").remove("batch_id");
    let reply = post(addr, "/v1/batch", &id("b-1"), &doc).expect("answered");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "batch_id is missing");

    let mut doc = batch(&id("b-1"), &id("inst-a"), 2);
    doc["events"][1]["seq"] = json!("two");
    let reply = post_batch(addr, &doc).expect("answered");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "events[1].seq must be an integer");

    let mut doc = batch(&id("b-1"), &id("inst-a"), 1);
    doc["events"][0]
        .as_object_mut()
        .expect("event")
        .remove("ts");
    let reply = post_batch(addr, &doc).expect("answered");
    assert_eq!(reply.error(), "events[0].ts is missing");

    // What the first release let through: nulls, ids that are no UUIDs, times that are none.
    for (field, value, message) in [
        ("user_id", json!(null), "user_id must be a string, not null"),
        ("batch_id", json!("b-1"), "batch_id must be a UUID"),
        (
            "sent_at",
            json!("now"),
            "sent_at must be an RFC 3339 date-time",
        ),
    ] {
        let mut doc = batch(&id("b-1"), &id("inst-a"), 1);
        doc[field] = value;
        let key = doc["batch_id"].as_str().expect("string id").to_owned();
        let reply = post(addr, "/v1/batch", &key, &doc).expect("answered");
        assert_eq!(reply.status, 400, "{field}");
        assert!(reply.error().starts_with(message), "{}", reply.error());
    }

    let reply = post(
        addr,
        "/v1/batch",
        &id("other-key"),
        &batch(&id("b-1"), &id("inst-a"), 1),
    )
    .expect("answered");
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

    // Data the protocol does not name is refused, not stored.
    let mut doc = batch(&id("b-1"), &id("inst-a"), 1);
    doc["device"]["imei"] = json!("356938035643809");
    let reply = post_batch(addr, &doc).expect("answered");
    assert_eq!(reply.status, 422);
    assert!(reply.error().contains("device.imei"), "{}", reply.error());

    // `props` deeper than SPEC §4 allows.
    let mut deep = json!(1);
    for _ in 0..100 {
        deep = json!({ "n": deep });
    }
    let mut doc = batch(&id("b-1"), &id("inst-a"), 1);
    doc["events"][0]["props"] = deep;
    let reply = post_batch(addr, &doc).expect("answered");
    assert_eq!(reply.status, 422);
    assert!(
        reply.error().contains("events[0].props is nested"),
        "{}",
        reply.error()
    );

    assert_eq!(
        collector.stats(),
        Stats::default(),
        "nothing refused was stored"
    );
}

fn headers_the_document_requires_are_required(engine: &Engine) {
    let (collector, _db) = start(engine, 0.0, 0);
    let addr = collector.addr();
    let key = id("b-1");
    let doc = batch(&key, &id("inst-a"), 1);
    let gz = common::gzip(doc.to_string().as_bytes());
    let all = sdk_headers(&key);
    let without = |name: &str| -> Vec<(&str, &str)> {
        all.iter().filter(|(n, _)| *n != name).copied().collect()
    };
    let send = |headers: &[(&str, &str)], body: &[u8]| {
        request(addr, "POST", "/v1/batch", headers, body).expect("answered")
    };

    let reply = send(&without("User-Agent"), &gz);
    assert_eq!(
        (reply.status, reply.error().contains("User-Agent")),
        (400, true)
    );
    let mut curl = without("User-Agent");
    curl.push(("User-Agent", "curl/8.5.0"));
    assert_eq!(send(&curl, &gz).status, 400);
    let reply = send(&without("Content-Encoding"), doc.to_string().as_bytes());
    assert_eq!(
        (reply.status, reply.error().contains("Content-Encoding")),
        (415, true)
    );
    let mut identity = without("Content-Encoding");
    identity.push(("Content-Encoding", "identity"));
    assert_eq!(send(&identity, doc.to_string().as_bytes()).status, 415);
    let mut text = without("Content-Type");
    text.push(("Content-Type", "text/plain"));
    assert_eq!(send(&text, &gz).status, 415);
    let reply = send(&without("Idempotency-Key"), &gz);
    assert_eq!(reply.error(), "Idempotency-Key header is missing");
    assert_eq!(collector.stats().batches, 0);

    let mut charset = without("Content-Type");
    charset.push(("Content-Type", "application/json; charset=utf-8"));
    assert_eq!(send(&charset, &gz).status, 200);
}

fn body_over_one_mib_after_decompression_gets_413(engine: &Engine) {
    let (collector, _db) = start(engine, 0.0, 0);
    let mut doc = batch(&id("big"), &id("inst-a"), 1);
    doc["events"][0]["props"] = json!({"pad": "x".repeat(1024 * 1024)});
    let reply = post_batch(collector.addr(), &doc).expect("answered");
    assert_eq!(reply.status, 413);
    assert_eq!(collector.stats().batches, 0);
}

fn a_gzip_bomb_gets_413_without_filling_memory(engine: &Engine) {
    let (collector, _db) = start(engine, 0.0, 0);
    // 256 MiB of spaces: about 256 KiB of gzip, well under the wire limit.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![b' '; 1024 * 1024];
    for _ in 0..256 {
        encoder.write_all(&block).expect("gzip in memory");
    }
    let bomb = encoder.finish().expect("gzip in memory");
    let reply = request(
        collector.addr(),
        "POST",
        "/v1/batch",
        &sdk_headers(&id("bomb")),
        &bomb,
    )
    .expect("answered");
    assert_eq!(reply.status, 413);
    assert!(
        reply.error().contains("after decompression"),
        "{}",
        reply.error()
    );
    // Declared too large: refused before a byte of the body is read.
    let head = "POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\
                Content-Type: application/json\r\nContent-Encoding: gzip\r\n";
    let reply = common::raw(collector.addr(), head, b"").expect("answered");
    assert_eq!(reply.status, 413);
}

fn chunked_bodies_and_keep_alive_are_served(engine: &Engine) {
    let (collector, _db) = start(engine, 0.0, 0);
    let addr = collector.addr();
    // What curl sends for a large upload: chunked, and waiting for 100 Continue.
    let key = id("chunked");
    let gz = common::gzip(batch(&key, &id("inst-a"), 3).to_string().as_bytes());
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
         Content-Encoding: gzip\r\nUser-Agent: consentgate/0.1.0\r\nIdempotency-Key: {key}\r\n\
         Transfer-Encoding: chunked\r\nExpect: 100-continue\r\nConnection: close\r\n"
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

    // Two requests on one connection: keep-alive.
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    for path in ["/healthz", "/v1/stats"] {
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("send");
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        let reply = loop {
            let n = stream.read(&mut buf).expect("read");
            assert!(n > 0, "connection closed after {path}");
            bytes.extend_from_slice(&buf[..n]);
            if let Ok(reply) = common::parse_reply(&bytes) {
                let len: usize = reply
                    .header("Content-Length")
                    .and_then(|l| l.parse().ok())
                    .expect("Content-Length");
                if reply.body.len() == len {
                    break reply;
                }
            }
        };
        assert_eq!(reply.status, 200, "{path}");
    }
    assert_eq!(collector.stats().events, 3);
}

fn content_length_with_transfer_encoding_gets_400(engine: &Engine) {
    let (collector, _db) = start(engine, 0.0, 0);
    let key = id("smuggled");
    let gz = common::gzip(batch(&key, &id("inst-a"), 1).to_string().as_bytes());
    let mut body = format!("{:x}\r\n", gz.len()).into_bytes();
    body.extend_from_slice(&gz);
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    for order in [
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    ] {
        let head = format!(
            "POST /v1/batch HTTP/1.1\r\nHost: x\r\n{order}Content-Type: application/json\r\n\
             Content-Encoding: gzip\r\nUser-Agent: consentgate/0.1.0\r\nIdempotency-Key: {key}\r\n"
        );
        let reply = common::raw(collector.addr(), &head, &body).expect("answered");
        assert_eq!(reply.status, 400, "{order}");
        assert!(
            reply.error().contains("Transfer-Encoding"),
            "{}",
            reply.error()
        );
    }
    assert_eq!(collector.stats().batches, 0);
}

fn two_different_content_lengths_get_400(engine: &Engine) {
    let (collector, _db) = start(engine, 0.0, 0);
    let head = "POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 4\r\n\
                Content-Type: application/json\r\nContent-Encoding: gzip\r\n";
    let reply = common::raw(collector.addr(), head, b"{}{}").expect("answered");
    assert_eq!(reply.status, 400);
}

fn g6_deletion_erases_the_installation_and_repeats_get_the_same_receipt(engine: &Engine) {
    let (collector, _db) = start(engine, 0.0, 0);
    let addr = collector.addr();
    for (name, inst, n) in [
        ("b-1", "inst-a", 3),
        ("b-2", "inst-a", 2),
        ("b-3", "inst-b", 4),
    ] {
        assert_eq!(
            post_batch(addr, &batch(&id(name), &id(inst), n))
                .expect("answered")
                .status,
            200
        );
    }

    let request_doc = deletion(&id("del-1"), &[&id("inst-a")], None);
    let reply = post_deletion(addr, &request_doc).expect("answered");
    assert_eq!(reply.status, 200);
    let receipt = reply.json();
    assert_eq!(receipt["status"], "completed");
    let receipt_id = receipt["receipt_id"]
        .as_str()
        .expect("receipt_id")
        .to_owned();
    assert_eq!(receipt_id.len(), 36, "{receipt_id}");

    let erased = collector.installation(&id("inst-a"));
    assert_eq!(
        erased,
        InstallationInfo {
            installation_id: id("inst-a"),
            events: 0,
            batches: 0,
            deleted: true,
            erasures: 1,
        }
    );
    let kept = collector.installation(&id("inst-b"));
    assert_eq!((kept.events, kept.deleted), (4, false));

    let again = post_deletion(addr, &request_doc).expect("answered");
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["receipt_id"], receipt_id.as_str());
    let stats = collector.stats();
    assert_eq!((stats.deletions, stats.batches, stats.events), (1, 1, 4));
    assert_eq!(stats.erased_installations, 1);

    // The same answer over HTTP as through the library.
    let over_http: InstallationInfo =
        serde_json::from_value(get(addr, &format!("/v1/installations/{}", id("inst-a"))).json())
            .expect("info");
    assert_eq!(over_http, erased);
}

fn g6_deletion_by_user_id_erases_every_installation_of_that_user(engine: &Engine) {
    let (collector, _db) = start(engine, 0.0, 0);
    let addr = collector.addr();
    let mut old_install = batch(&id("b-1"), &id("inst-old"), 2);
    old_install["user_id"] = json!("user-42");
    let mut other_user = batch(&id("b-2"), &id("inst-other"), 1);
    other_user["user_id"] = json!("user-7");
    for doc in [old_install, other_user] {
        assert_eq!(post_batch(addr, &doc).expect("answered").status, 200);
    }

    let reply = post_deletion(
        addr,
        &deletion(&id("del-1"), &[&id("inst-new")], Some("user-42")),
    )
    .expect("answered");
    assert_eq!(reply.status, 200);
    assert_eq!(collector.installation(&id("inst-old")).events, 0);
    assert!(collector.installation(&id("inst-old")).deleted);
    assert!(collector.installation(&id("inst-new")).deleted);
    assert_eq!(collector.installation(&id("inst-other")).events, 1);
}

fn g6_deletion_of_twenty_thousand_ids_erases_exactly_those(engine: &Engine) {
    let (collector, _db) = start(engine, 0.0, 0);
    let addr = collector.addr();
    for name in ["inst-3", "inst-19999", "inst-kept"] {
        let reply = post_batch(addr, &batch(&id(&format!("b-{name}")), &id(name), 2));
        assert_eq!(reply.expect("answered").status, 200);
    }
    // 20,000 UUIDs are about 800 KB of JSON: near the body limit, one request.
    let ids: Vec<String> = (0..20_000).map(|i| id(&format!("inst-{i}"))).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let reply = post_deletion(addr, &deletion(&id("del-big"), &refs, None)).expect("answered");
    assert_eq!(
        reply.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    let stats = collector.stats();
    assert_eq!((stats.batches, stats.events), (1, 2));
    assert_eq!(stats.erased_installations, 20_000);
    assert!(collector.installation(&id("inst-19999")).deleted);
    assert!(!collector.installation(&id("inst-kept")).deleted);
}

fn deletion_requests_are_checked(engine: &Engine) {
    let (collector, _db) = start(engine, 0.0, 0);
    let addr = collector.addr();
    let reply = post_deletion(addr, &deletion(&id("del-1"), &[], None)).expect("answered");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "installation_ids must not be empty");
    let reply =
        post_deletion(addr, &deletion(&id("del-1"), &["not-a-uuid"], None)).expect("answered");
    assert_eq!(reply.status, 400);
    assert!(reply
        .error()
        .starts_with("installation_ids[0] must be a UUID"));
    let reply = post(
        addr,
        "/v1/deletion",
        &id("wrong"),
        &deletion(&id("del-1"), &[&id("a")], None),
    )
    .expect("answered");
    assert_eq!(reply.status, 400);
    assert!(reply.error().contains("Idempotency-Key"));
    assert_eq!(collector.stats().deletions, 0);
}

fn a_batch_after_deletion_is_a_new_life_and_the_flag_stays(engine: &Engine) {
    let (collector, _db) = start(engine, 0.0, 0);
    let addr = collector.addr();
    let ok = |reply: std::io::Result<common::Reply>| reply.expect("answered").status == 200;
    assert!(ok(post_batch(addr, &batch(&id("b-1"), &id("inst-a"), 2))));
    assert!(ok(post_deletion(
        addr,
        &deletion(&id("del-1"), &[&id("inst-a")], None)
    )));
    assert!(ok(post_batch(addr, &batch(&id("b-2"), &id("inst-a"), 3))));
    let info = collector.installation(&id("inst-a"));
    assert_eq!((info.batches, info.events, info.deleted), (1, 3, true));

    // Erased batch ids are forgotten: an SDK resending an erased batch stores it again, and
    // `deleted` with `events > 0` is how a test catches that.
    assert_eq!(
        post_batch(addr, &batch(&id("b-1"), &id("inst-a"), 2))
            .expect("answered")
            .json()["status"],
        "accepted"
    );
    let stats = collector.stats();
    assert_eq!((stats.batches, stats.events, stats.duplicates), (2, 5, 0));
}

fn inspection_endpoints_and_routing(engine: &Engine) {
    let (collector, _db) = start(engine, 0.0, 0);
    let addr = collector.addr();
    assert_eq!(
        post_batch(addr, &batch(&id("b-1"), &id("inst-a"), 2))
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
    for path in [
        "/v1/installations/",
        "/v1/installations/a%2Fb",
        "/v1/installations/a/b",
        "/v1/installations/%ff",
    ] {
        let reply = get(addr, path);
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.error(), "no such endpoint", "{path}");
    }

    let missing = get(addr, "/v2/batch");
    assert_eq!(
        (missing.status, missing.error().as_str()),
        (404, "no such endpoint")
    );
    let wrong = get(addr, "/v1/batch");
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("Allow"), Some("POST"));
    assert!(wrong.error().contains("Allow"));
    let wrong = request(addr, "DELETE", "/v1/stats", &[], b"").expect("answered");
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("Allow"), Some("GET,HEAD"));
    assert!(collector.url().starts_with("http://127.0.0.1:"));
    assert_eq!(collector.url(), format!("http://{}", collector.addr()));
}

fn shutdown_stops_serving_and_data_survives_a_restart(engine: &Engine) {
    let db = engine.fresh();
    let first = db.collector(0.0, 0);
    let addr = first.addr();
    let doc = batch(&id("b-1"), &id("inst-a"), 2);
    assert_eq!(post_batch(addr, &doc).expect("answered").status, 200);
    first.shutdown();
    assert!(TcpStream::connect(addr).is_err(), "still listening");

    let second = db.collector(0.0, 0);
    let again = post_batch(second.addr(), &doc).expect("answered");
    assert_eq!(again.json()["status"], "duplicate");
    assert_eq!(second.stats().events, 2);
}
