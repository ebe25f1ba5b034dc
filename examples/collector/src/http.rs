//! Minimal HTTP/1.1 over `std::net`: reads one request from a connection and writes one
//! response. This module owns framing only — the request line, headers, `Content-Length` and
//! chunked bodies, `Expect: 100-continue` — and knows nothing about routes or JSON.
//!
//! Every connection carries exactly one request and is then closed (`Connection: close`), so
//! an idle keep-alive client can never pin one of the few worker threads.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};

/// Longest request line plus headers accepted, in bytes.
const MAX_HEAD_BYTES: u64 = 16 * 1024;
/// Longest chunk-size line of a chunked body, in bytes.
const MAX_CHUNK_LINE_BYTES: u64 = 1024;

/// One parsed request. Header names keep their case; look-ups ignore it.
#[derive(Debug)]
pub(crate) struct Request {
    /// The method, as sent (`GET`, `POST`, …).
    pub method: String,
    /// The request target without its query string, still percent-encoded.
    pub path: String,
    headers: Vec<(String, String)>,
    /// The body, de-chunked but not decompressed.
    pub body: Vec<u8>,
}

impl Request {
    /// The value of the first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
impl Request {
    /// A request as if read from a connection (for tests of this crate).
    pub fn for_test(method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Request {
        Request {
            method: method.to_owned(),
            path: path.to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body,
        }
    }
}

/// Why no request could be read from a connection.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed the connection before sending anything: nothing to answer.
    Closed,
    /// The peer stopped sending before the request was complete (answer 408).
    TimedOut,
    /// The bytes are not an HTTP/1.1 request we understand (answer 400).
    Malformed(String),
    /// The body is larger than the limit (answer 413).
    TooLarge,
    /// The connection failed; nobody is left to answer.
    Io(io::Error),
}

fn from_io(e: io::Error) -> ReadError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ReadError::TimedOut,
        io::ErrorKind::UnexpectedEof => {
            ReadError::Malformed("connection closed mid-request".into())
        }
        _ => ReadError::Io(e),
    }
}

/// Reads one line ending in `\n`, spending at most `budget` bytes, without its line ending.
/// `Ok(None)` means the connection ended before the first byte.
fn read_line<R: BufRead>(reader: &mut R, budget: &mut u64) -> Result<Option<String>, ReadError> {
    let mut line = Vec::new();
    let n = reader
        .by_ref()
        .take(*budget)
        .read_until(b'\n', &mut line)
        .map_err(from_io)?;
    if n == 0 {
        return Ok(None);
    }
    *budget -= n as u64;
    if line.last() != Some(&b'\n') {
        return Err(ReadError::Malformed(if *budget == 0 {
            "request head too large".into()
        } else {
            "connection closed mid-request".into()
        }));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| ReadError::Malformed("request head is not UTF-8".into()))
}

/// Reads one request from `stream`, refusing bodies longer than `max_body` bytes.
///
/// Answers `Expect: 100-continue` itself, once the declared length is known to fit.
pub(crate) fn read_request(stream: &TcpStream, max_body: usize) -> Result<Request, ReadError> {
    let mut reader = BufReader::new(stream);
    let mut budget = MAX_HEAD_BYTES;

    let request_line = read_line(&mut reader, &mut budget)?.ok_or(ReadError::Closed)?;
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && !t.is_empty() => (m, t, v),
        _ => return Err(ReadError::Malformed("malformed request line".into())),
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(ReadError::Malformed(format!(
            "unsupported protocol version {version:?}"
        )));
    }
    let path = target.split('?').next().unwrap_or(target).to_owned();
    let method = method.to_owned();

    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut reader, &mut budget)?
            .ok_or_else(|| ReadError::Malformed("connection closed mid-request".into()))?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .filter(|(name, _)| !name.is_empty() && !name.contains([' ', '\t']))
            .ok_or_else(|| ReadError::Malformed("malformed header line".into()))?;
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let mut request = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };

    let expects_continue = request
        .header("Expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let send_continue = || -> Result<(), ReadError> {
        if expects_continue {
            let mut writer = stream;
            writer
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(from_io)?;
        }
        Ok(())
    };

    if let Some(encoding) = request.header("Transfer-Encoding") {
        if !encoding.eq_ignore_ascii_case("chunked") {
            return Err(ReadError::Malformed(format!(
                "unsupported Transfer-Encoding {encoding:?}"
            )));
        }
        send_continue()?;
        request.body = read_chunked(&mut reader, max_body)?;
    } else if let Some(length) = request.header("Content-Length") {
        let length: usize = length
            .parse()
            .map_err(|_| ReadError::Malformed("Content-Length is not a number".into()))?;
        if length > max_body {
            return Err(ReadError::TooLarge);
        }
        send_continue()?;
        let mut body = vec![0; length];
        reader.read_exact(&mut body).map_err(from_io)?;
        request.body = body;
    }
    Ok(request)
}

/// Decodes a `Transfer-Encoding: chunked` body (trailers are read and ignored).
fn read_chunked<R: BufRead>(reader: &mut R, max_body: usize) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let mut budget = MAX_CHUNK_LINE_BYTES;
        let line = read_line(reader, &mut budget)?
            .ok_or_else(|| ReadError::Malformed("connection closed mid-body".into()))?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| ReadError::Malformed("malformed chunk size".into()))?;
        if size == 0 {
            // Trailer section: header lines up to an empty one.
            let mut budget = MAX_HEAD_BYTES;
            while read_line(reader, &mut budget)?.is_some_and(|l| !l.is_empty()) {}
            return Ok(body);
        }
        if body.len().saturating_add(size) > max_body {
            return Err(ReadError::TooLarge);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).map_err(from_io)?;
        let mut budget = 2;
        if read_line(reader, &mut budget)?.is_none_or(|l| !l.is_empty()) {
            return Err(ReadError::Malformed("chunk not followed by CRLF".into()));
        }
    }
}

/// One response: always closes the connection after it is written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Response {
    /// The status code.
    pub status: u16,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Response {
    /// A response whose body is `value` serialised as JSON.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: value.to_string().into_bytes(),
        }
    }

    /// A JSON error response: `{"error": message}`.
    pub fn error(status: u16, message: impl Into<String>) -> Response {
        Response::json(status, &serde_json::json!({ "error": message.into() }))
    }

    /// A plain-text response.
    pub fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// The same response with one more header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// The body bytes (for tests of this crate).
    #[cfg(test)]
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes `response` and half-closes the connection.
pub(crate) fn write_response(stream: &TcpStream, response: &Response) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    for (name, value) in &response.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut writer = stream;
    writer.write_all(head.as_bytes())?;
    writer.write_all(&response.body)?;
    writer.flush()?;
    stream.shutdown(Shutdown::Write)
}

/// Closes the connection without a response: the peer sees a dropped connection.
pub(crate) fn drop_connection(stream: TcpStream) {
    // Errors are irrelevant: the point is that the peer gets nothing.
    let _ = stream.shutdown(Shutdown::Both);
}
