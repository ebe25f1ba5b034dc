//! Test helpers shared by the integration tests: throw-away collectors on either engine, a tiny
//! HTTP/1.1 client over `std::net` that speaks the SDK's side of SPEC §5 (gzip, User-Agent,
//! Idempotency-Key), and documents shaped like the SDK's.
//!
//! PostgreSQL tests need a server: `CONSENTGATE_TEST_PG_URL` names one
//! (`examples/collector/ci.sh` starts a throw-away cluster and sets it). Each test gets its own
//! schema there, dropped afterwards. Without the variable a PostgreSQL test prints one line
//! saying so and passes without running.
#![allow(dead_code)] // each test file uses a different subset

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use consentgate_collector::{Collector, CollectorConfig, Database};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use tempfile::TempDir;

/// The variable naming the PostgreSQL server of the tests.
pub const PG_URL_VAR: &str = "CONSENTGATE_TEST_PG_URL";

/// Runs each named test function (`fn name(engine: &Engine)`) once per engine, as
/// `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&$crate::common::Engine::Sqlite);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(engine) = $crate::common::Engine::postgres(stringify!($name)) {
                        super::$name(&engine);
                    }
                }
            )*
        }
    };
}

/// Which storage engine a test runs on.
#[derive(Debug, Clone)]
pub enum Engine {
    /// A fresh SQLite file in a temp dir.
    Sqlite,
    /// A fresh schema on the server of [`PG_URL_VAR`].
    Postgres(String),
}

impl Engine {
    /// The PostgreSQL engine, or `None` (with one line saying why) when no server is set.
    pub fn postgres(test: &str) -> Option<Engine> {
        match std::env::var(PG_URL_VAR) {
            Ok(url) if !url.is_empty() => Some(Engine::Postgres(url)),
            _ => {
                eprintln!(
                    "{test}: skipped on PostgreSQL: {PG_URL_VAR} is not set \
                     (examples/collector/ci.sh starts a server and sets it)"
                );
                None
            }
        }
    }

    /// A new, empty database.
    pub fn fresh(&self) -> Db {
        match self {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                Db {
                    database: Database::Sqlite(dir.path().join("collector.sqlite")),
                    cleanup: Cleanup::Dir(dir),
                }
            }
            Engine::Postgres(admin) => {
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                let mut client =
                    postgres::Client::connect(admin, postgres::NoTls).expect("PostgreSQL admin");
                client
                    .batch_execute(&format!("CREATE SCHEMA {schema}"))
                    .expect("create schema");
                let separator = if admin.contains('?') { '&' } else { '?' };
                let url = format!("{admin}{separator}options=-csearch_path%3D{schema}");
                Db {
                    database: Database::Postgres(url),
                    cleanup: Cleanup::Schema {
                        admin: admin.clone(),
                        schema,
                    },
                }
            }
        }
    }

    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Engine::Postgres(_))
    }
}

enum Cleanup {
    Dir(TempDir),
    Schema { admin: String, schema: String },
}

/// A database for a test, removed when dropped.
pub struct Db {
    /// What to give the collector (any number of them).
    pub database: Database,
    cleanup: Cleanup,
}

impl Db {
    /// A collector on a free port over this database.
    pub fn collector(&self, fail_rate: f64, seed: u64) -> Collector {
        let config = CollectorConfig {
            fail_rate,
            seed,
            ..CollectorConfig::with_database(self.database.clone())
        };
        Collector::start(config).expect("collector starts")
    }

    /// The SQLite file, for tests that look inside it.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match &self.database {
            Database::Sqlite(path) => Some(path),
            Database::Postgres(_) => None,
        }
    }

    /// Runs `sql` on the PostgreSQL schema of this database (panics on SQLite).
    pub fn pg_query_i64(&self, sql: &str) -> i64 {
        let Database::Postgres(url) = &self.database else {
            panic!("not a PostgreSQL database");
        };
        let mut client = postgres::Client::connect(url, postgres::NoTls).expect("PostgreSQL");
        client.query_one(sql, &[]).expect(sql).get(0)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Cleanup::Schema { admin, schema } = &self.cleanup {
            if let Ok(mut client) = postgres::Client::connect(admin, postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

/// A collector on a free port over a fresh database of `engine` (kept alive with it).
pub fn start(engine: &Engine, fail_rate: f64, seed: u64) -> (Collector, Db) {
    let db = engine.fresh();
    (db.collector(fail_rate, seed), db)
}

/// A UUID made from `name`: the same name always gives the same id, so tests read as names.
pub fn id(name: &str) -> String {
    // FNV-1a, 128 bits.
    let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in name.bytes() {
        hash ^= u128::from(b);
        hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    let hex = format!("{hash:032x}");
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
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
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "JSON reply expected ({e}): {} {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
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

/// Parses one answer from the start of `bytes` (its body cut at `Content-Length`).
pub fn parse_reply(bytes: &[u8]) -> io::Result<Reply> {
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

/// The headers the SDK sends with a POST, with `Idempotency-Key: key`.
pub fn sdk_headers(key: &str) -> [(&'static str, &str); 4] {
    [
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
        ("User-Agent", "consentgate/0.1.0"),
        ("Idempotency-Key", key),
    ]
}

/// POSTs `doc` the way the SDK does: gzip, JSON, `Idempotency-Key: key`.
pub fn post(addr: SocketAddr, path: &str, key: &str, doc: &Value) -> io::Result<Reply> {
    let body = gzip(doc.to_string().as_bytes());
    request(addr, "POST", path, &sdk_headers(key), &body)
}

/// A complete batch as SPEC §5 shows it, with `events` events (ids are UUIDs).
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
                              "ts": "2025-03-01T12:00:00.123Z", "props": {"screen": "home"}}))
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
