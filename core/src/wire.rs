//! The wire protocol of SPEC §5 as both senders see it (batches in `upload`,
//! deletion requests in `deletion`): the request the host sends and the task
//! that hands it out, the headers every request carries, the gzip body, how a
//! reply is classified (2xx delivered, other 4xx but 408/429 refused, the rest
//! retried), the backoff schedule, and which requests are out with the host.
//!
//! Not here: what goes into a body (each sender builds its own) or what a
//! reply does to the store.

use std::collections::HashMap;
use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

/// The SDK version sent in `User-Agent` and batch bodies.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// First retry delay; doubles with each failed attempt.
pub const BACKOFF_BASE_MS: i64 = 1_000;
/// Longest retry delay.
pub const BACKOFF_CAP_MS: i64 = 300_000;

/// One HTTP header.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    /// Header name.
    pub name: String,
    /// Header value.
    pub value: String,
}

/// An HTTP request for the host to send exactly as given.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UploadRequest {
    /// Pass back to `complete_upload`; equals the batch or deletion request id.
    pub request_id: String,
    /// Always `POST`.
    pub method: String,
    /// Full URL.
    pub url: String,
    /// Headers to send (content type and encoding, user agent, idempotency key).
    pub headers: Vec<HttpHeader>,
    /// The gzip-compressed JSON body.
    pub body: Vec<u8>,
}

/// What the host should do next.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum UploadTask {
    /// Send this request, then call `complete_upload`.
    Upload {
        /// The request.
        request: UploadRequest,
    },
    /// Nothing may be sent before `ms` milliseconds have passed (backoff).
    Wait {
        /// How long to wait.
        ms: i64,
    },
    /// Nothing to send now.
    Done,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum UploadResult {
    /// The server answered.
    Http {
        /// HTTP status code.
        status: i32,
        /// `Retry-After` in seconds, if the server sent one.
        retry_after_s: Option<i64>,
        /// The response body, if any (deletion receipts are read from it).
        body: Option<String>,
    },
    /// No answer: DNS, connect, TLS, timeout or a dropped connection.
    NetworkError {
        /// What failed (not logged above debug).
        message: String,
    },
}

/// The reply rules of SPEC §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// 2xx.
    Delivered,
    /// Other 4xx than 408 and 429: will never succeed.
    Refused(i32),
    /// 408, 429, 5xx, other statuses and network errors.
    Retry { retry_after_ms: Option<i64> },
}

/// Classifies a result.
pub(crate) fn classify(result: &UploadResult) -> Reply {
    match result {
        UploadResult::Http {
            status,
            retry_after_s,
            ..
        } => match *status {
            200..=299 => Reply::Delivered,
            400..=499 if !matches!(*status, 408 | 429) => Reply::Refused(*status),
            _ => Reply::Retry {
                retry_after_ms: retry_after_s.map(|s| s.clamp(0, 86_400) * 1000),
            },
        },
        UploadResult::NetworkError { .. } => Reply::Retry {
            retry_after_ms: None,
        },
    }
}

/// Delay before attempt `attempts + 1`: exponential from [`BACKOFF_BASE_MS`],
/// capped at [`BACKOFF_CAP_MS`], with deterministic jitter in the upper half
/// (seeded by the request id, so a restart keeps the schedule), and never
/// shorter than the server's `Retry-After`.
pub(crate) fn backoff_ms(attempts: u32, seed: &str, retry_after_ms: Option<i64>) -> i64 {
    let exp = attempts.saturating_sub(1).min(20);
    let full = BACKOFF_BASE_MS
        .saturating_mul(1i64 << exp)
        .min(BACKOFF_CAP_MS);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes().chain(attempts.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let jittered = full / 2 + (h % (full as u64 / 2 + 1)) as i64;
    jittered.max(retry_after_ms.unwrap_or(0))
}

/// Gzip-compresses a body.
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        Compression::default(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

/// A POST of the gzipped JSON `json` to `url`, under `id` as request id and
/// idempotency key, with the headers of SPEC §5.
pub(crate) fn post(id: &str, url: String, json: &[u8]) -> UploadRequest {
    let h = |n: &str, v: &str| HttpHeader {
        name: n.into(),
        value: v.into(),
    };
    UploadRequest {
        request_id: id.to_string(),
        method: "POST".into(),
        url,
        headers: vec![
            h("Content-Type", "application/json"),
            h("Content-Encoding", "gzip"),
            h("User-Agent", &format!("consentgate/{SDK_VERSION}")),
            h("Idempotency-Key", id),
        ],
        body: gzip(json),
    }
}

/// A request handed out and not completed within this time is handed out
/// again (the host lost it: the process that took it died, or it never
/// called `complete_upload`).
pub(crate) const IN_FLIGHT_TIMEOUT_MS: i64 = 120_000;
/// How soon to look again while a request is in flight.
pub(crate) const IN_FLIGHT_RECHECK_MS: i64 = 1_000;

/// Requests handed to the host and not completed yet, with when, in this
/// process (a second process on the same data directory cannot hold a gate).
#[derive(Debug, Default)]
pub(crate) struct InFlight(HashMap<String, i64>);

impl InFlight {
    /// Forgets requests handed out longer ago than [`IN_FLIGHT_TIMEOUT_MS`].
    pub fn expire(&mut self, now_ms: i64) {
        self.0
            .retain(|_, at| now_ms.saturating_sub(*at) < IN_FLIGHT_TIMEOUT_MS);
    }

    /// True while `id` is out with the host.
    pub fn contains(&self, id: &str) -> bool {
        self.0.contains_key(id)
    }

    /// Notes that `id` was handed out at `now_ms`.
    pub fn hand_out(&mut self, id: &str, now_ms: i64) {
        self.0.insert(id.to_string(), now_ms);
    }

    /// The host reported on `id` (or it is taken back).
    pub fn complete(&mut self, id: &str) {
        self.0.remove(id);
    }

    /// Takes back every request handed out: the caller knows none of them
    /// will be completed (a new flush by the only sender, a rotated store).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_rules() {
        let http = |status| UploadResult::Http {
            status,
            retry_after_s: None,
            body: None,
        };
        assert_eq!(classify(&http(200)), Reply::Delivered);
        assert_eq!(classify(&http(204)), Reply::Delivered);
        for s in [400, 401, 404, 413, 422] {
            assert_eq!(classify(&http(s)), Reply::Refused(s));
        }
        for s in [408, 429, 500, 502, 503, 301] {
            assert!(matches!(classify(&http(s)), Reply::Retry { .. }), "{s}");
        }
        assert_eq!(
            classify(&UploadResult::Http {
                status: 429,
                retry_after_s: Some(7),
                body: None
            }),
            Reply::Retry {
                retry_after_ms: Some(7000)
            }
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after() {
        for attempts in 1..12u32 {
            let full = (BACKOFF_BASE_MS << (attempts - 1)).min(BACKOFF_CAP_MS);
            let d = backoff_ms(attempts, "batch", None);
            assert!(d >= full / 2 && d <= full, "{attempts}: {d}");
            assert_eq!(d, backoff_ms(attempts, "batch", None), "deterministic");
        }
        assert!(backoff_ms(1, "b", Some(60_000)) >= 60_000);
    }
}
