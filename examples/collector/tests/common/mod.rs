//! Test helpers shared by the integration tests: a throw-away collector and a tiny HTTP/1.1
//! client over `std::net` that speaks the SDK's side of SPEC §5 (gzip, Idempotency-Key).
#![allow(dead_code)] // each test file uses a different subset

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use consentgate_collector::{Collector, CollectorConfig};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use tempfile::TempDir;

/// A collector on a free port with a database in its own temp dir (kept alive with it).
pub fn start(fail_rate: f64, seed: u64) -> (Collector, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = CollectorConfig {
        fail_rate,
        seed,
        ..CollectorConfig::new(dir.path().join("collector.sqlite"))
    };
    (Collector::start(config).expect("collector starts"), dir)
}

/// One HTTP answer.
#[derive(Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON reply")
    }

    /// The `error` message of a JSON error reply.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .expect("error message")
            .to_owned()
    }
}

/// Sends one raw request (`head` without the final blank line) and reads the whole answer.
/// A connection closed without an answer is an `Err`.
pub fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> io::Result<Reply> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.write_all(head.as_bytes())?;
    stream.write_all(b"\r\n")?;
    stream.write_all(body)?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes)?;
    parse_reply(&bytes)
}

fn parse_reply(bytes: &[u8]) -> io::Result<Reply> {
    let eof = || io::Error::new(io::ErrorKind::UnexpectedEof, "no HTTP response");
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(eof)?;
    let head = std::str::from_utf8(&bytes[..split]).map_err(|_| eof())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(eof)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(eof)?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = bytes[split + 4..].to_vec();
    if let Some(len) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(len);
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// A request with a body and extra headers (`Host`, `Content-Length`, `Connection` added).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Reply> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    raw(addr, &head, body)
}

/// `GET path`, which must answer.
pub fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, &[], b"").expect("GET answered")
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

/// POSTs `doc` the way the SDK does: gzip, JSON, `Idempotency-Key: key`.
pub fn post(addr: SocketAddr, path: &str, key: &str, doc: &Value) -> io::Result<Reply> {
    let body = gzip(doc.to_string().as_bytes());
    request(
        addr,
        "POST",
        path,
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
            ("Idempotency-Key", key),
            ("User-Agent", "consentgate/0.1.0"),
        ],
        &body,
    )
}

/// A complete batch as SPEC §5 shows it, with `events` events.
pub fn batch(batch_id: &str, installation_id: &str, events: usize) -> Value {
    json!({
        "batch_id": batch_id,
        "installation_id": installation_id,
        "sent_at": "2025-03-01T12:00:05Z",
        "sdk": {"name": "consentgate", "version": "0.1.0"},
        "app_version": "1.2.3",
        "policy": {"id": "example-app", "revision": 4},
        "consent": {"analytics": "granted", "advertising": "denied"},
        "device": {"os": "Android", "model": "Pixel 8"},
        "events": (1..=events)
            .map(|seq| json!({"seq": seq, "name": "screen_view",
                              "ts": "2025-03-01T12:00:00Z", "props": {"screen": "home"}}))
            .collect::<Vec<_>>(),
    })
}

pub fn post_batch(addr: SocketAddr, doc: &Value) -> io::Result<Reply> {
    let key = doc["batch_id"].as_str().expect("batch_id").to_owned();
    post(addr, "/v1/batch", &key, doc)
}

/// A deletion request as SPEC §5 shows it.
pub fn deletion(request_id: &str, installation_ids: &[&str], user_id: Option<&str>) -> Value {
    let mut doc = json!({
        "request_id": request_id,
        "installation_ids": installation_ids,
        "requested_at": "2025-03-02T08:30:00Z",
        "reason": "user_request",
        "policy": {"id": "example-app", "revision": 4},
    });
    if let Some(user_id) = user_id {
        doc["user_id"] = json!(user_id);
    }
    doc
}

pub fn post_deletion(addr: SocketAddr, doc: &Value) -> io::Result<Reply> {
    let key = doc["request_id"].as_str().expect("request_id").to_owned();
    post(addr, "/v1/deletion", &key, doc)
}
