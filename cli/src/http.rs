//! [`HttpUploader`]: the host side of pull-based upload (SPEC §4, §5) for the
//! command line and for Rust hosts, on ureq with rustls (so real `https://`
//! backends work). It sends each [`UploadRequest`] exactly as the core built
//! it (method, URL, headers and the already gzip-compressed body; ureq adds
//! only `Host` and `Content-Length`) and reports how it ended; every rule about what to send, when, and what
//! a reply means stays in the core.
//!
//! ```no_run
//! use std::sync::Arc;
//! use consentgate_cli::http::HttpUploader;
//! # fn demo(gate: &consentgate::ConsentGate) -> Result<(), Box<dyn std::error::Error>> {
//! let report = gate.flush(Arc::new(HttpUploader::new()))?;
//! // or, to send to a test backend instead of the policy's endpoint:
//! let report = gate.flush(Arc::new(HttpUploader::with_base("http://127.0.0.1:8080")?))?;
//! # Ok(()) }
//! ```
//!
//! Not here: retries and backoff (the core's), cookies (none are kept),
//! redirects (never followed: a 3xx is handed back, and the core retries it
//! later like any status it does not know).

use std::fmt;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use consentgate::{UploadRequest, UploadResult, Uploader};
use ureq::config::AutoHeaderValue;
use ureq::http::uri::{Authority, Scheme};
use ureq::http::{Request, Uri};

/// How long to wait for a TCP (and TLS) connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take in all, from resolving the host to the end
/// of the response body.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of a response body kept (receipts and error messages are small).
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// Sends upload requests over HTTP(S). Cheap to share: one connection pool
/// serves every request of a flush.
#[derive(Debug, Clone)]
pub struct HttpUploader {
    agent: ureq::Agent,
    base: Option<Base>,
}

/// The scheme and authority that replace those of every request URL.
#[derive(Debug, Clone)]
struct Base {
    scheme: Scheme,
    authority: Authority,
}

/// Why a base URL for [`HttpUploader::with_base`] was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrlError {
    url: String,
    problem: &'static str,
}

impl fmt::Display for BaseUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "endpoint {:?}: {}", self.url, self.problem)
    }
}

impl std::error::Error for BaseUrlError {}

impl Default for HttpUploader {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpUploader {
    /// Sends each request to the URL the core chose (the policy's endpoint).
    pub fn new() -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            // Every status goes back to the core, which owns the reply rules.
            .http_status_as_error(false)
            // 0: a 3xx is returned as it is, not followed (nor an error).
            .max_redirects(0)
            // The core's headers go out alone (plus Host and Content-Length):
            // no ureq User-Agent, Accept or Accept-Encoding of its own.
            .user_agent(AutoHeaderValue::None)
            .accept(AutoHeaderValue::None)
            .accept_encoding(AutoHeaderValue::None)
            .build();
        HttpUploader {
            agent: ureq::Agent::new_with_config(config),
            base: None,
        }
    }

    /// Sends each request to `base` instead: its scheme, host and port
    /// replace those of the request URL, the path and query are kept
    /// (`https://collector.example.kz/v1/batch` with base
    /// `http://127.0.0.1:8080` goes to `http://127.0.0.1:8080/v1/batch`).
    ///
    /// `base` is `http(s)://host[:port]` with no path, query or fragment.
    /// Plain `http://` is accepted only for loopback hosts (any 127.0.0.0/8
    /// address, `::1`, `localhost`): the bodies carry personal data. (Policy
    /// endpoints, checked by the core, allow only 127.0.0.1, `[::1]` and
    /// `localhost`.)
    pub fn with_base(base: &str) -> Result<Self, BaseUrlError> {
        let refuse = |problem| BaseUrlError {
            url: base.to_string(),
            problem,
        };
        let uri: Uri = base
            .parse()
            .map_err(|_| refuse("not a URL such as https://collector.example.kz"))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| refuse("the URL has no scheme (http:// or https://)"))?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| refuse("the URL has no host"))?;
        if authority.as_str().contains('@') {
            return Err(refuse(
                "user names or passwords in the URL are not supported",
            ));
        }
        // The text after the host's last colon (outside an IPv6 literal).
        let port = authority
            .as_str()
            .rsplit_once(':')
            .filter(|(_, p)| !p.contains(']'))
            .map(|(_, p)| p);
        if let Some(p) = port {
            if !p.parse::<u16>().is_ok_and(|n| n > 0) {
                return Err(refuse("the port must be a number from 1 to 65535"));
            }
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() || base.contains('#') {
            return Err(refuse(
                "give only scheme, host and port; the request's path is kept",
            ));
        }
        match scheme.as_str() {
            "https" => {}
            "http" if is_loopback(authority.host()) => {}
            "http" => {
                return Err(refuse(
                    "plain http is allowed only for loopback hosts (127.0.0.0/8, localhost, [::1])",
                ))
            }
            _ => return Err(refuse("the scheme must be http or https")),
        }
        Ok(HttpUploader {
            base: Some(Base { scheme, authority }),
            ..Self::new()
        })
    }

    /// The URL `request_url` is sent to.
    fn target(&self, request_url: &str) -> Result<Uri, String> {
        let uri: Uri = request_url
            .parse()
            .map_err(|e| format!("invalid request URL: {e}"))?;
        let Some(base) = &self.base else {
            return Ok(uri);
        };
        let mut parts = uri.into_parts();
        parts.scheme = Some(base.scheme.clone());
        parts.authority = Some(base.authority.clone());
        Uri::from_parts(parts).map_err(|e| format!("cannot rewrite the request URL: {e}"))
    }

    fn send_inner(&self, request: UploadRequest) -> UploadResult {
        let uri = match self.target(&request.url) {
            Ok(uri) => uri,
            Err(message) => return UploadResult::NetworkError { message },
        };
        let mut builder = Request::builder().method(request.method.as_str()).uri(uri);
        for h in &request.headers {
            builder = builder.header(h.name.as_str(), h.value.as_str());
        }
        let http_request = match builder.body(request.body) {
            Ok(r) => r,
            Err(e) => {
                return UploadResult::NetworkError {
                    message: format!("invalid request: {e}"),
                }
            }
        };
        let mut response = match self.agent.run(http_request) {
            Ok(r) => r,
            Err(e) => {
                return UploadResult::NetworkError {
                    message: e.to_string(),
                }
            }
        };
        let status = i32::from(response.status().as_u16());
        let retry_after_s = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = read_body(response.body_mut().as_reader());
        UploadResult::Http {
            status,
            retry_after_s,
            body,
        }
    }
}

impl Uploader for HttpUploader {
    /// Sends `request` once. Never panics and never follows a redirect: no
    /// answer is a `NetworkError`, any answer (1xx–5xx) is `Http`.
    fn send(&self, request: UploadRequest) -> UploadResult {
        // ureq does not panic on bad input, but a panic here would take the
        // app (or the command) down mid-flush; turn it into a retry instead.
        catch_unwind(AssertUnwindSafe(|| self.send_inner(request))).unwrap_or_else(|_| {
            UploadResult::NetworkError {
                message: "the HTTP client failed unexpectedly".into(),
            }
        })
    }
}

/// `Retry-After` in seconds. The HTTP-date form is not read (the core then
/// uses its own backoff, which is never shorter than a second).
fn parse_retry_after(value: &str) -> Option<i64> {
    // Seconds (a negative value is none); the HTTP-date form is not used by the collector.
    value.trim().parse().ok().filter(|s: &i64| *s >= 0)
}

/// At most [`MAX_RESPONSE_BODY`] bytes of the body as text (invalid UTF-8
/// replaced); `None` when it is empty or could not be read at all.
fn read_body(reader: impl Read) -> Option<String> {
    let mut bytes = Vec::new();
    // A body cut off midway is still worth handing over: the status arrived.
    let _ = reader
        .take(MAX_RESPONSE_BODY as u64)
        .read_to_end(&mut bytes);
    if bytes.is_empty() {
        return None;
    }
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if text.len() > MAX_RESPONSE_BODY {
        // Replacement characters are longer than the bytes they replace.
        let mut end = MAX_RESPONSE_BODY;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    Some(text)
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_replaces_scheme_host_and_port_and_keeps_the_path() {
        let u = HttpUploader::with_base("http://127.0.0.1:8080").expect("loopback base");
        assert_eq!(
            u.target("https://collector.example.kz/v1/batch")
                .expect("rewritten")
                .to_string(),
            "http://127.0.0.1:8080/v1/batch"
        );
        assert_eq!(
            u.target("https://c.example.kz:8443/api/v1/deletion?x=1")
                .expect("rewritten")
                .to_string(),
            "http://127.0.0.1:8080/api/v1/deletion?x=1"
        );
        let plain = HttpUploader::new();
        assert_eq!(
            plain
                .target("https://c.example.kz/v1/batch")
                .expect("kept")
                .to_string(),
            "https://c.example.kz/v1/batch"
        );
    }

    #[test]
    fn base_must_be_scheme_and_host_and_https_unless_loopback() {
        for ok in [
            "https://collector.example.kz",
            "https://collector.example.kz:8443/",
            "http://localhost:1",
            "http://[::1]:9000",
            "http://127.0.0.2",
        ] {
            assert!(HttpUploader::with_base(ok).is_ok(), "{ok}");
        }
        for bad in [
            "collector.example.kz",
            "http://collector.example.kz",
            "ftp://127.0.0.1",
            "https://c.example.kz/api",
            "https://c.example.kz/?a=1",
            "https://user:pw@c.example.kz",
            "not a url",
        ] {
            let e = HttpUploader::with_base(bad).expect_err(bad);
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds_only() {
        assert_eq!(parse_retry_after("7"), Some(7));
        assert_eq!(parse_retry_after(" 120 "), Some(120));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn body_is_capped_at_64_kib() {
        let big = vec![b'a'; MAX_RESPONSE_BODY + 10];
        assert_eq!(
            read_body(&big[..]).map(|s| s.len()),
            Some(MAX_RESPONSE_BODY)
        );
        let invalid = vec![0xffu8; MAX_RESPONSE_BODY];
        let text = read_body(&invalid[..]).expect("some text");
        assert!(text.len() <= MAX_RESPONSE_BODY);
        assert_eq!(read_body(&b""[..]), None);
    }

    /// Serves one connection with `response` and hands back the raw request.
    fn one_shot(response: &'static str) -> (String, std::thread::JoinHandle<String>) {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then the 3-byte body the tests send.
            while !String::from_utf8_lossy(&seen).contains("\r\n\r\n")
                || !seen.ends_with(&[1, 2, 3])
            {
                let n = conn.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
            }
            conn.write_all(response.as_bytes()).expect("write");
            String::from_utf8_lossy(&seen).into_owned()
        });
        (url, handle)
    }

    fn request(url: String) -> UploadRequest {
        UploadRequest {
            request_id: "b-1".into(),
            method: "POST".into(),
            url,
            headers: headers(),
            body: vec![1, 2, 3],
        }
    }

    fn headers() -> Vec<consentgate::HttpHeader> {
        [
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
            ("User-Agent", "consentgate/9.9.9"),
            ("Idempotency-Key", "b-1"),
        ]
        .into_iter()
        .map(|(name, value)| consentgate::HttpHeader {
            name: name.into(),
            value: value.into(),
        })
        .collect()
    }

    #[test]
    fn sends_method_headers_and_body_as_given_and_returns_5xx_with_retry_after() {
        let (url, server) = one_shot(
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy",
        );
        let result = HttpUploader::new().send(request(format!("{url}/v1/batch")));
        assert_eq!(
            result,
            UploadResult::Http {
                status: 503,
                retry_after_s: Some(7),
                body: Some("busy".into())
            }
        );
        let raw = server.join().expect("server thread").to_ascii_lowercase();
        assert!(raw.starts_with("post /v1/batch http/1.1\r\n"), "{raw}");
        for h in [
            "content-type: application/json",
            "content-encoding: gzip",
            "user-agent: consentgate/9.9.9",
            "idempotency-key: b-1",
            "content-length: 3",
        ] {
            assert!(raw.contains(h), "{h} in {raw}");
        }
        assert!(!raw.contains("cookie"), "{raw}");
        assert_eq!(raw.matches("user-agent:").count(), 1, "{raw}");
        assert!(!raw.contains("accept"), "no header of ureq's own: {raw}");
    }

    #[test]
    fn a_4xx_is_an_answer_and_a_redirect_is_not_followed() {
        let (url, server) = one_shot(
            "HTTP/1.1 422 Unprocessable Entity\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let result = HttpUploader::new().send(request(format!("{url}/v1/batch")));
        assert_eq!(
            result,
            UploadResult::Http {
                status: 422,
                retry_after_s: None,
                body: None
            }
        );
        server.join().expect("server thread");

        let (url, server) = one_shot(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let result = HttpUploader::new().send(request(format!("{url}/v1/batch")));
        assert!(
            matches!(result, UploadResult::Http { status: 307, .. }),
            "{result:?}"
        );
        server.join().expect("server thread");
    }

    #[test]
    fn with_base_sends_to_the_base_host_keeping_the_path() {
        let (url, server) =
            one_shot("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
        let uploader = HttpUploader::with_base(&url).expect("loopback base");
        let result = uploader.send(request("https://collector.example.kz/v1/deletion".into()));
        assert!(
            matches!(result, UploadResult::Http { status: 200, .. }),
            "{result:?}"
        );
        let raw = server.join().expect("server thread");
        assert!(raw.starts_with("POST /v1/deletion HTTP/1.1"), "{raw}");
    }

    #[test]
    fn a_port_outside_1_to_65535_is_refused_as_bad_input() {
        for url in [
            "http://127.0.0.1:0",
            "http://127.0.0.1:99999",
            "https://[::1]:0",
        ] {
            let e = HttpUploader::with_base(url).expect_err(url);
            assert!(e.to_string().contains("port"), "{url}: {e}");
        }
        assert!(HttpUploader::with_base("http://[::1]").is_ok());
        assert!(HttpUploader::with_base("http://127.0.0.1:8080").is_ok());
    }

    #[test]
    fn connection_refused_is_a_network_error_not_a_panic() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let result = HttpUploader::new().send(UploadRequest {
            request_id: "r".into(),
            method: "POST".into(),
            url: format!("http://{addr}/v1/batch"),
            headers: vec![],
            body: vec![1, 2, 3],
        });
        assert!(
            matches!(result, UploadResult::NetworkError { .. }),
            "{result:?}"
        );
    }
}
