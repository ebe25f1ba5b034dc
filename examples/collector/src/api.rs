//! The collector's endpoints: the axum router, its tower-http layers and one handler per
//! operation of `openapi.json`. Headers are checked here, bodies by [`crate::wire`], storage is
//! [`crate::store`]'s and connections [`crate::server`]'s business.
//!
//! A POST goes through, in order: the body read (at most [`MAX_WIRE_BODY_BYTES`], within
//! [`BODY_DEADLINE`]), the fault plan's first draw, the header checks, a permit of the
//! processing cap ([`MAX_CONCURRENT_WORK`]), decompression (at most
//! [`MAX_BODY_BYTES`] out, so a gzip bomb costs a millisecond), the body checks and the store;
//! a 200 is only ever sent after the store committed. The body is always read before any
//! refusal so the client is not reset mid-upload and loses the answer.
//!
//! Nothing here logs an identifier or a payload: log lines name the route, never the path.

use std::error::Error as StdError;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use flate2::read::MultiGzDecoder;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::{RequestBodyDeadlineLayer, TimeoutError};

use crate::faults::{Fault, Faults};
use crate::store::{BatchOutcome, Store, StoreError};
use crate::wire::{self, MAX_BODY_BYTES};
use crate::Stats;

/// The OpenAPI document of the wire protocol, served at `GET /openapi.json`.
pub(crate) const OPENAPI: &str = include_str!("../openapi.json");

/// Largest body read off the wire: a gzip body slightly larger than the decompressed limit is
/// legitimate (incompressible data grows a little).
pub(crate) const MAX_WIRE_BODY_BYTES: usize = MAX_BODY_BYTES + 64 * 1024;
/// Longest a client may take to send a request body, from the end of its head.
pub(crate) const BODY_DEADLINE: Duration = Duration::from_secs(10);
/// Longest a request may take from its head to its answer (body, queue, storage); past it the
/// client gets a 503 and retries, which deduplication makes safe.
pub(crate) const REQUEST_DEADLINE: Duration = Duration::from_secs(30);
/// Requests decompressed, checked or stored at once; more wait for a permit.
pub(crate) const MAX_CONCURRENT_WORK: usize = 64;
/// Longest wait for a permit before answering 503.
const PERMIT_WAIT: Duration = Duration::from_secs(10);

/// Shared state of a running collector.
#[derive(Debug)]
pub(crate) struct App {
    /// The database.
    pub store: Store,
    /// The `--fail-rate` plan.
    pub faults: Faults,
    /// The cap on concurrent work.
    pub work: Semaphore,
}

/// Marks a response that must not be sent: the server drops the connection instead.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;

impl App {
    /// A collector's state over `store` with the fault plan `faults`.
    pub fn new(store: Store, faults: Faults) -> App {
        App {
            store,
            faults,
            work: Semaphore::new(MAX_CONCURRENT_WORK),
        }
    }

    /// Stored totals plus this process's fault counters.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let stored = self.store.counts().await?;
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

/// A JSON answer.
pub(crate) fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// A JSON error answer: `{"error": message}`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    json_response(status, &json!({ "error": message.into() }))
}

/// A refusal not yet turned into its answer (small, so `Result`s carrying it stay small).
#[derive(Debug)]
struct Refusal(StatusCode, String);

fn refuse(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal(status, message.into())
}

impl From<Refusal> for Response {
    fn from(Refusal(status, message): Refusal) -> Response {
        error(status, message)
    }
}

/// The router with every route and layer of the collector.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/batch", post(post_batch))
        .route("/v1/deletion", post(post_deletion))
        .route("/v1/stats", get(get_stats))
        .route(
            "/v1/installations/{*installation_id}",
            get(get_installation),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/openapi.json", get(get_openapi))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed here; the Allow header names the one to use",
            )
        })
        .layer(middleware::from_fn(request_deadline))
        .layer(RequestBodyDeadlineLayer::new(BODY_DEADLINE))
        .layer(CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                log::error!("request handler panicked");
                error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            },
        ))
        .with_state(app)
}

/// Answers 503 (retry later) to a request not answered within [`REQUEST_DEADLINE`].
async fn request_deadline(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_DEADLINE, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            log::warn!("request not answered within {REQUEST_DEADLINE:?}");
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "request not answered within {} s",
                    REQUEST_DEADLINE.as_secs()
                ),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn storage_failure(route: &str, e: &StoreError) -> Response {
    log::error!("{route}: storage failure: {e}");
    error(StatusCode::INTERNAL_SERVER_ERROR, "storage failure")
}

fn busy() -> Response {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "collector busy, retry later",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Whether `e` (or what caused it) is `T`.
fn caused_by<T: StdError + 'static>(e: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(e);
    while let Some(e) = current {
        if e.is::<T>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// Reads the whole body, within the wire limit and the body deadline.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body exceeds {MAX_WIRE_BODY_BYTES} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_WIRE_BODY_BYTES as u64) {
        return Err(too_large());
    }
    match Limited::new(body, MAX_WIRE_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if caused_by::<LengthLimitError>(&*e) => Err(too_large()),
        Err(e) if caused_by::<TimeoutError>(&*e) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "request body not received within {} s",
                BODY_DEADLINE.as_secs()
            ),
        )),
        Err(e) => {
            log::debug!("request body could not be read: {e}");
            Err(error(
                StatusCode::BAD_REQUEST,
                "request body could not be read (connection closed mid-body?)",
            ))
        }
    }
}

/// The answer of an injected fault.
fn inject(fault: Fault) -> Response {
    match fault {
        Fault::Status500 => error(StatusCode::INTERNAL_SERVER_ERROR, "injected fault"),
        Fault::Status429 => {
            let mut response = error(StatusCode::TOO_MANY_REQUESTS, "injected fault: slow down");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Fault::Drop => {
            let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            response.extensions_mut().insert(DropConnection);
            response
        }
    }
}

fn header_text<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

/// Checks the headers every POST of SPEC §5 carries (`openapi.json` parameters).
fn check_headers(headers: &HeaderMap) -> Result<(), Refusal> {
    let media_type = header_text(headers, &header::CONTENT_TYPE)
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    match header_text(headers, &header::CONTENT_ENCODING) {
        None => {
            return Err(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Encoding header is missing; the body must be gzip",
            ))
        }
        Some(encoding) if !encoding.trim().eq_ignore_ascii_case("gzip") => {
            return Err(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Encoding must be gzip",
            ))
        }
        Some(_) => {}
    }
    // Compared as bytes: a version need not be ASCII to match `^consentgate/.+$`.
    match headers.get(header::USER_AGENT).map(HeaderValue::as_bytes) {
        None => Err(refuse(
            StatusCode::BAD_REQUEST,
            "User-Agent header is missing; it must be consentgate/<version>",
        )),
        Some(agent)
            if agent
                .strip_prefix(b"consentgate/")
                .is_none_or(<[u8]>::is_empty) =>
        {
            Err(refuse(
                StatusCode::BAD_REQUEST,
                "User-Agent must be consentgate/<version>",
            ))
        }
        Some(_) => Ok(()),
    }
}

/// Decompresses a gzip body (any number of members), refusing more than [`MAX_BODY_BYTES`].
fn decompress(body: &[u8]) -> Result<Vec<u8>, Refusal> {
    // JSON batches compress about tenfold: one allocation, no regrowth, in the usual case.
    let mut out = Vec::with_capacity(body.len().saturating_mul(16).min(MAX_BODY_BYTES + 1));
    let limit = MAX_BODY_BYTES as u64 + 1;
    if MultiGzDecoder::new(body)
        .take(limit)
        .read_to_end(&mut out)
        .is_err()
    {
        return Err(refuse(StatusCode::BAD_REQUEST, "body is not valid gzip"));
    }
    if out.len() > MAX_BODY_BYTES {
        return Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body exceeds {MAX_BODY_BYTES} bytes after decompression"),
        ));
    }
    Ok(out)
}

/// The `Idempotency-Key` header, which must equal the body's id field `field`.
fn check_idempotency_key(headers: &HeaderMap, field: &str, id: &str) -> Result<(), Refusal> {
    match headers
        .get(header::HeaderName::from_static("idempotency-key"))
        .map(HeaderValue::as_bytes)
    {
        None => Err(refuse(
            StatusCode::BAD_REQUEST,
            "Idempotency-Key header is missing",
        )),
        Some(key) if key != id.as_bytes() => Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("Idempotency-Key header does not match {field}"),
        )),
        Some(_) => Ok(()),
    }
}

/// A POST up to its checked, decompressed body, or the answer that ends it early. The permit
/// is held until the answer is ready.
async fn accept_post<'a>(
    app: &'a App,
    request: Request,
) -> Result<(HeaderMap, Vec<u8>, tokio::sync::SemaphorePermit<'a>), Response> {
    let (parts, body) = request.into_parts();
    let body = read_body(&parts.headers, body).await?;
    // Faults are drawn after the body is read, so a 500/429 is not lost to a TCP reset
    // caused by unread input.
    if let Some(fault) = app.faults.before_handling() {
        log::info!("injecting {fault:?} before handling");
        return Err(inject(fault));
    }
    check_headers(&parts.headers)?;
    let permit = match tokio::time::timeout(PERMIT_WAIT, app.work.acquire()).await {
        Ok(Ok(permit)) => permit,
        _ => return Err(busy()),
    };
    let body = decompress(&body)?;
    Ok((parts.headers, body, permit))
}

/// Applies the second draw of the fault plan to a committed POST's answer.
fn after_commit(app: &App, response: Response) -> Response {
    match app.faults.after_commit() {
        Some(fault) => {
            log::info!("injecting {fault:?} after commit");
            inject(fault)
        }
        None => response,
    }
}

async fn post_batch(State(app): State<Arc<App>>, request: Request) -> Response {
    let response = match store_batch(&app, request).await {
        Ok(response) => after_commit(&app, response),
        Err(response) => response,
    };
    log::debug!("POST batch -> {}", response.status());
    response
}

async fn store_batch(app: &App, request: Request) -> Result<Response, Response> {
    let (headers, body, _permit) = accept_post(app, request).await?;
    let batch = wire::parse_batch(&body).map_err(|invalid| {
        error(
            StatusCode::from_u16(invalid.status()).expect("400 and 422 are valid statuses"),
            invalid.message(),
        )
    })?;
    drop(body);
    check_idempotency_key(&headers, "batch_id", &batch.batch_id)?;
    match app.store.store_batch(batch, now_ms()).await {
        Ok(BatchOutcome::Accepted { events }) => Ok(json_response(
            StatusCode::OK,
            &json!({"status": "accepted", "events": events}),
        )),
        Ok(BatchOutcome::Duplicate) => Ok(json_response(
            StatusCode::OK,
            &json!({"status": "duplicate"}),
        )),
        Err(e) => Err(storage_failure("batch", &e)),
    }
}

async fn post_deletion(State(app): State<Arc<App>>, request: Request) -> Response {
    let response = match erase(&app, request).await {
        Ok(response) => after_commit(&app, response),
        Err(response) => response,
    };
    log::debug!("POST deletion -> {}", response.status());
    response
}

async fn erase(app: &App, request: Request) -> Result<Response, Response> {
    let (headers, body, _permit) = accept_post(app, request).await?;
    let deletion = wire::parse_deletion(&body).map_err(|invalid| {
        error(
            StatusCode::from_u16(invalid.status()).expect("400 and 422 are valid statuses"),
            invalid.message(),
        )
    })?;
    check_idempotency_key(&headers, "request_id", &deletion.request_id)?;
    let receipt = uuid::Uuid::new_v4().to_string();
    match app.store.erase(deletion, receipt, now_ms()).await {
        Ok(outcome) => {
            log::info!(
                "deletion processed ({})",
                if outcome.repeated { "repeat" } else { "new" }
            );
            Ok(json_response(
                StatusCode::OK,
                &json!({"receipt_id": outcome.receipt_id, "status": "completed"}),
            ))
        }
        Err(e) => Err(storage_failure("deletion", &e)),
    }
}

async fn get_stats(State(app): State<Arc<App>>) -> Response {
    let Ok(Ok(_permit)) = tokio::time::timeout(PERMIT_WAIT, app.work.acquire()).await else {
        return busy();
    };
    match app.stats().await {
        Ok(stats) => json_response(StatusCode::OK, &json!(stats)),
        Err(e) => storage_failure("stats", &e),
    }
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

async fn get_installation(State(app): State<Arc<App>>, uri: Uri) -> Response {
    // The raw path, not axum's decoded capture: an id containing `/` (even as %2F) is no id.
    let segment = uri
        .path()
        .strip_prefix("/v1/installations/")
        .unwrap_or_default();
    let Some(id) = percent_decode(segment).filter(|id| !id.is_empty() && !id.contains('/')) else {
        return error(StatusCode::NOT_FOUND, "no such endpoint");
    };
    let Ok(Ok(_permit)) = tokio::time::timeout(PERMIT_WAIT, app.work.acquire()).await else {
        return busy();
    };
    match app.store.installation(id).await {
        Ok(info) => json_response(StatusCode::OK, &json!(info)),
        Err(e) => storage_failure("installation", &e),
    }
}

async fn get_openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Db").as_deref(), Some("a-b"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn the_served_document_is_json() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder
            .write_all(&vec![b' '; 64 * 1024 * 1024])
            .expect("gzip in memory");
        let bomb = encoder.finish().expect("gzip in memory");
        assert!(bomb.len() < MAX_WIRE_BODY_BYTES);
        let refused = decompress(&bomb).expect_err("too large once decompressed");
        assert_eq!(refused.0, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn headers_are_checked_as_documented() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_static(value));
            }
            check_headers(&headers).map_err(|r| r.0)
        };
        let good = [
            ("content-type", "application/json; charset=utf-8"),
            ("content-encoding", "gzip"),
            ("user-agent", "consentgate/0.1.0"),
        ];
        assert_eq!(with(&good), Ok(()));
        assert_eq!(with(&good[1..]), Err(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        assert_eq!(
            with(&[good[0], good[2]]),
            Err(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        assert_eq!(
            with(&[good[0], ("content-encoding", "identity"), good[2]]),
            Err(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        assert_eq!(with(&good[..2]), Err(StatusCode::BAD_REQUEST));
        assert_eq!(
            with(&[good[0], good[1], ("user-agent", "curl/8.0")]),
            Err(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            with(&[good[0], good[1], ("user-agent", "consentgate/")]),
            Err(StatusCode::BAD_REQUEST)
        );
    }
}
