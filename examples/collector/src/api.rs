//! The collector's endpoints: routing one parsed request to its handler and turning the
//! outcome into a response. Headers and bodies are checked here (with [`crate::wire`]);
//! storage is [`crate::store`]; faults and connections are [`crate::server`]'s business.
//!
//! Nothing here logs an identifier or a payload: log lines name the route, never the path.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use flate2::read::GzDecoder;
use serde_json::json;

use crate::faults::Faults;
use crate::http::{Request, Response};
use crate::store::{BatchOutcome, Store};
use crate::wire::{self, MAX_BODY_BYTES};
use crate::Stats;

/// The OpenAPI document of the wire protocol, served at `GET /openapi.json`.
const OPENAPI: &str = include_str!("../openapi.json");

/// Shared state of a running collector.
#[derive(Debug)]
pub(crate) struct App {
    /// The database.
    pub store: Store,
    /// The `--fail-rate` plan.
    pub faults: Faults,
}

impl App {
    /// Stored totals plus this process's fault counters.
    pub fn stats(&self) -> rusqlite::Result<Stats> {
        let stored = self.store.counts()?;
        let faults = self.faults.counts();
        Ok(Stats {
            batches: stored.batches,
            events: stored.events,
            duplicates: stored.duplicates,
            deletions: stored.deletions,
            installations: stored.installations,
            erased_installations: stored.erased_installations,
            injected_500: faults.status_500,
            injected_429: faults.status_429,
            injected_drop: faults.dropped,
            injected_after_commit: faults.after_commit,
        })
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A fresh receipt id shaped like a random (v4) UUID. Unique, not secret: std's randomly
/// keyed hasher over a process counter and the time is plenty for that.
fn new_receipt_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut first = RandomState::new().build_hasher();
    first.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    first.write_u128(nanos);
    let high = first.finish();
    let mut second = RandomState::new().build_hasher();
    second.write_u64(high);
    let low = second.finish();
    // Version nibble 4 and variant bits 10, as in an RFC 9562 random UUID.
    let bits = ((u128::from(high) << 64) | u128::from(low)) & !(0xF << 76) & !(0x3 << 62);
    let bits = bits | (0x4 << 76) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Decodes `%XX` escapes of one path segment; `None` if they do not make UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn storage_failure(route: &str, e: &rusqlite::Error) -> Response {
    log::error!("{route}: storage failure: {e}");
    Response::error(500, "storage failure")
}

/// Answers one request. A POST answered 200 has committed its effect.
pub(crate) fn handle(app: &App, request: &Request) -> Response {
    let path = request.path.as_str();
    let method = request.method.as_str();
    let (route, allowed): (&str, &str) = match path {
        "/v1/batch" => ("batch", "POST"),
        "/v1/deletion" => ("deletion", "POST"),
        "/v1/stats" => ("stats", "GET"),
        "/healthz" => ("healthz", "GET"),
        "/openapi.json" => ("openapi", "GET"),
        p if p.starts_with("/v1/installations/") => ("installation", "GET"),
        _ => return Response::error(404, "no such endpoint"),
    };
    if method != allowed {
        return Response::error(405, format!("use {allowed} here")).with_header("Allow", allowed);
    }
    let response = match route {
        "batch" => post_batch(app, request),
        "deletion" => post_deletion(app, request),
        "stats" => match app.stats() {
            Ok(stats) => Response::json(200, &json!(stats)),
            Err(e) => storage_failure(route, &e),
        },
        "healthz" => Response::text(200, "ok\n"),
        "openapi" => match serde_json::from_str::<serde_json::Value>(OPENAPI) {
            Ok(doc) => Response::json(200, &doc),
            Err(_) => Response::error(500, "openapi.json is not valid JSON"),
        },
        _ => get_installation(app, &path["/v1/installations/".len()..]),
    };
    log::debug!("{method} {route} -> {}", response.status);
    response
}

fn get_installation(app: &App, segment: &str) -> Response {
    let Some(id) = percent_decode(segment).filter(|id| !id.is_empty() && !id.contains('/')) else {
        return Response::error(404, "no such endpoint");
    };
    match app.store.installation(&id) {
        Ok(info) => Response::json(200, &json!(info)),
        Err(e) => storage_failure("installation", &e),
    }
}

/// Checks the headers every POST of SPEC §5 carries and returns the decompressed body.
fn checked_body(request: &Request) -> Result<Vec<u8>, Response> {
    let content_type = request.header("Content-Type").unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(Response::error(
            415,
            "Content-Type must be application/json",
        ));
    }
    let encoding = request.header("Content-Encoding").unwrap_or("identity");
    let body = if encoding.eq_ignore_ascii_case("gzip") {
        let mut body = Vec::new();
        let limit = MAX_BODY_BYTES as u64 + 1;
        if GzDecoder::new(request.body.as_slice())
            .take(limit)
            .read_to_end(&mut body)
            .is_err()
        {
            return Err(Response::error(400, "body is not valid gzip"));
        }
        body
    } else if encoding.eq_ignore_ascii_case("identity") {
        request.body.clone()
    } else {
        return Err(Response::error(
            415,
            "Content-Encoding must be gzip (or identity)",
        ));
    };
    if body.len() > MAX_BODY_BYTES {
        return Err(Response::error(
            413,
            format!("body exceeds {MAX_BODY_BYTES} bytes after decompression"),
        ));
    }
    Ok(body)
}

/// The `Idempotency-Key` header, which must equal the body's id field `field`.
fn check_idempotency_key(request: &Request, field: &str, id: &str) -> Result<(), Response> {
    match request.header("Idempotency-Key") {
        None => Err(Response::error(400, "Idempotency-Key header is missing")),
        Some(key) if key != id => Err(Response::error(
            400,
            format!("Idempotency-Key header does not match {field}"),
        )),
        Some(_) => Ok(()),
    }
}

fn post_batch(app: &App, request: &Request) -> Response {
    let body = match checked_body(request) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let batch = match wire::parse_batch(&body) {
        Ok(batch) => batch,
        Err(invalid) => return Response::error(invalid.status(), invalid.message()),
    };
    if let Err(response) = check_idempotency_key(request, "batch_id", &batch.batch_id) {
        return response;
    }
    match app.store.store_batch(&batch, now_ms()) {
        Ok(BatchOutcome::Accepted { events }) => {
            Response::json(200, &json!({"status": "accepted", "events": events}))
        }
        Ok(BatchOutcome::Duplicate) => Response::json(200, &json!({"status": "duplicate"})),
        Err(e) => storage_failure("batch", &e),
    }
}

fn post_deletion(app: &App, request: &Request) -> Response {
    let body = match checked_body(request) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let deletion = match wire::parse_deletion(&body) {
        Ok(deletion) => deletion,
        Err(invalid) => return Response::error(invalid.status(), invalid.message()),
    };
    if let Err(response) = check_idempotency_key(request, "request_id", &deletion.request_id) {
        return response;
    }
    match app.store.erase(&deletion, &new_receipt_id(), now_ms()) {
        Ok(outcome) => {
            log::info!(
                "deletion processed ({})",
                if outcome.repeated { "repeat" } else { "new" }
            );
            Response::json(
                200,
                &json!({"receipt_id": outcome.receipt_id, "status": "completed"}),
            )
        }
        Err(e) => storage_failure("deletion", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_ids_look_like_v4_uuids_and_differ() {
        let a = new_receipt_id();
        let b = new_receipt_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'), "{a}");
        assert!(matches!(&groups[3][..1], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Db").as_deref(), Some("a-b"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
    }

    #[test]
    fn unknown_paths_and_wrong_methods() {
        let app = App {
            store: Store::open(std::path::Path::new(":memory:")).expect("open"),
            faults: Faults::new(0.0, 0),
        };
        let get = |method: &str, path: &str| {
            let request = Request::for_test(method, path, &[], Vec::new());
            handle(&app, &request)
        };
        assert_eq!(get("GET", "/nope").status, 404);
        assert_eq!(get("GET", "/v1/batch").status, 405);
        assert_eq!(get("POST", "/v1/stats").status, 405);
        assert_eq!(get("GET", "/healthz").status, 200);
        assert_eq!(get("GET", "/v1/installations/").status, 404);
        let doc: serde_json::Value =
            serde_json::from_slice(get("GET", "/openapi.json").body()).expect("openapi JSON");
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    }
}
