//! What the collector adds under hyper on each connection: a watch on request framing and a
//! deadline on writes. It owns no parsing of its own beyond what these two need.
//!
//! - **Framing.** RFC 9112 §6.3 makes a request carrying both `Content-Length` and
//!   `Transfer-Encoding` a smuggling risk that "ought to be handled as an error"; hyper follows
//!   `Transfer-Encoding` and drops `Content-Length` before the service sees the request, so the
//!   conflict cannot be seen from a handler. [`Guarded`] therefore follows the request stream as
//!   it is read (heads, fixed-length and chunked bodies) and records, per request index on the
//!   connection, a head whose framing is ambiguous; the server answers that request 400
//!   instead of routing it, and hyper closes the connection after it. (Two `Content-Length`
//!   values that disagree are refused by hyper itself, with a 400.)
//! - **Writes.** A client that stops reading our answer would otherwise hold its connection
//!   forever; a write that makes no progress for [`WRITE_TIMEOUT`] fails the connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// Longest a write may make no progress before the connection is given up.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest request head followed; hyper refuses longer ones (431) with the same limit.
pub(crate) const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Longest chunk-size or trailer line followed.
const MAX_LINE_BYTES: usize = 4 * 1024;

/// Why a request's framing is refused.
pub(crate) const BOTH_LENGTHS: &str =
    "Content-Length and Transfer-Encoding must not both be present (RFC 9112 section 6.3)";

/// What the connection's reader learned, shared with the connection's service.
#[derive(Debug, Default)]
pub(crate) struct Framing {
    /// The index (0 = first request of the connection) of the first ambiguous head, and why.
    bad: Mutex<Option<(u64, &'static str)>>,
}

impl Framing {
    /// Why request number `index` of this connection must be refused, if it must.
    pub fn refusal(&self, index: u64) -> Option<&'static str> {
        let bad = *self.bad.lock().unwrap_or_else(|p| p.into_inner());
        bad.filter(|(at, _)| *at == index).map(|(_, why)| why)
    }

    fn record(&self, index: u64, why: &'static str) {
        let mut bad = self.bad.lock().unwrap_or_else(|p| p.into_inner());
        bad.get_or_insert((index, why));
    }
}

/// Where the follower is in the request stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a request head (request line and header lines).
    Head,
    /// Skipping a fixed-length body: bytes left.
    Fixed(u64),
    /// Reading a chunk-size line.
    ChunkSize,
    /// Skipping chunk data: bytes left.
    ChunkData(u64),
    /// Reading the line ending after chunk data.
    ChunkEnd,
    /// Reading trailer lines up to an empty one.
    Trailers,
    /// No longer following (an ambiguous or unparseable request; hyper ends the connection).
    Done,
}

/// Follows the framing of a stream of HTTP/1.1 requests, fed the bytes as they are read.
#[derive(Debug)]
pub(crate) struct Follower {
    state: State,
    line: Vec<u8>,
    /// Requests whose head has ended so far.
    heads: u64,
    /// Bytes of the current head so far.
    head_bytes: usize,
    /// Whether the current head's request line has been read.
    saw_request_line: bool,
    content_lengths: Vec<Option<u64>>,
    transfer_encoding: Option<bool>,
}

impl Default for Follower {
    fn default() -> Follower {
        Follower {
            state: State::Head,
            line: Vec::new(),
            heads: 0,
            head_bytes: 0,
            saw_request_line: false,
            content_lengths: Vec::new(),
            transfer_encoding: None,
        }
    }
}

/// A line without its line ending (`\r\n` or a bare `\n`).
fn trim_line(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

impl Follower {
    /// Feeds bytes just read; returns the index of a head found ambiguous in them, and why.
    pub fn feed(&mut self, mut data: &[u8]) -> Option<(u64, &'static str)> {
        let mut found = None;
        while !data.is_empty() {
            match self.state {
                State::Done => return found,
                State::Fixed(left) | State::ChunkData(left) => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(data.len());
                    data = &data[take..];
                    let left = left - take as u64;
                    self.state = match (self.state, left) {
                        (State::Fixed(_), 0) => State::Head,
                        (State::Fixed(_), _) => State::Fixed(left),
                        (_, 0) => State::ChunkEnd,
                        _ => State::ChunkData(left),
                    };
                }
                _ => {
                    let (chunk, rest, complete) = match data.iter().position(|b| *b == b'\n') {
                        Some(i) => (&data[..i], &data[i + 1..], true),
                        None => (data, &[][..], false),
                    };
                    data = rest;
                    let limit = if self.state == State::Head {
                        MAX_HEAD_BYTES.saturating_sub(self.head_bytes)
                    } else {
                        MAX_LINE_BYTES
                    };
                    if self.line.len() + chunk.len() > limit {
                        self.state = State::Done;
                        return found;
                    }
                    self.line.extend_from_slice(chunk);
                    if complete {
                        let line = std::mem::take(&mut self.line);
                        if let Some(bad) = self.line_done(trim_line(&line), line.len() + 1) {
                            found.get_or_insert(bad);
                        }
                    }
                }
            }
        }
        found
    }

    /// Handles one complete line (without its ending) of `len` bytes on the wire.
    fn line_done(&mut self, line: &[u8], len: usize) -> Option<(u64, &'static str)> {
        match self.state {
            State::Head => self.head_line(line, len),
            State::ChunkSize => {
                let size = line.split(|b| *b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(size)
                    .ok()
                    .and_then(|s| u64::from_str_radix(s.trim(), 16).ok());
                self.state = match size {
                    Some(0) => State::Trailers,
                    Some(n) => State::ChunkData(n),
                    None => State::Done,
                };
                None
            }
            State::ChunkEnd => {
                self.state = if line.is_empty() {
                    State::ChunkSize
                } else {
                    State::Done
                };
                None
            }
            State::Trailers => {
                if line.is_empty() {
                    self.state = State::Head;
                }
                None
            }
            State::Fixed(_) | State::ChunkData(_) | State::Done => None,
        }
    }

    fn head_line(&mut self, line: &[u8], len: usize) -> Option<(u64, &'static str)> {
        if !self.saw_request_line {
            // Empty lines before a request line are ignored (RFC 9112 section 2.2).
            if !line.is_empty() {
                self.saw_request_line = true;
                self.head_bytes = len;
            }
            return None;
        }
        self.head_bytes += len;
        if !line.is_empty() {
            if let Some(colon) = line.iter().position(|b| *b == b':') {
                let name = &line[..colon];
                let value = String::from_utf8_lossy(&line[colon + 1..]);
                if name.eq_ignore_ascii_case(b"content-length") {
                    self.content_lengths
                        .extend(value.split(',').map(|v| v.trim().parse::<u64>().ok()));
                } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                    let last = value.rsplit(',').next().unwrap_or_default().trim();
                    self.transfer_encoding = Some(last.eq_ignore_ascii_case("chunked"));
                }
            }
            return None;
        }
        // The head ended: decide its framing and what follows.
        let index = self.heads;
        self.heads += 1;
        let lengths = std::mem::take(&mut self.content_lengths);
        let chunked = self.transfer_encoding.take();
        self.saw_request_line = false;
        self.head_bytes = 0;
        match (chunked, lengths.first()) {
            (Some(_), Some(_)) => {
                self.state = State::Done;
                Some((index, BOTH_LENGTHS))
            }
            (Some(true), None) => {
                self.state = State::ChunkSize;
                None
            }
            // hyper refuses a transfer coding that does not end in chunked.
            (Some(false), None) => {
                self.state = State::Done;
                None
            }
            (None, Some(first)) => {
                self.state = match first {
                    Some(n) if lengths.iter().all(|l| l == &Some(*n)) => {
                        if *n == 0 {
                            State::Head
                        } else {
                            State::Fixed(*n)
                        }
                    }
                    // Disagreeing or unparseable lengths: hyper answers 400 and closes.
                    _ => State::Done,
                };
                None
            }
            (None, None) => {
                self.state = State::Head;
                None
            }
        }
    }
}

/// A TCP connection as hyper sees it: reads feed a [`Follower`], writes have a deadline.
#[derive(Debug)]
pub(crate) struct Guarded {
    stream: TcpStream,
    follower: Follower,
    framing: Arc<Framing>,
    write_deadline: Option<Pin<Box<Sleep>>>,
}

impl Guarded {
    /// Wraps `stream`; what the reader learns goes to `framing`.
    pub fn new(stream: TcpStream, framing: Arc<Framing>) -> Guarded {
        Guarded {
            stream,
            follower: Follower::default(),
            framing,
            write_deadline: None,
        }
    }

    /// Turns a write that is still pending after [`WRITE_TIMEOUT`] into an error.
    fn pending_write<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let deadline = self
            .write_deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(WRITE_TIMEOUT)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "client did not take the response in time",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn written<T>(
        &mut self,
        result: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Pending => self.pending_write(cx),
            ready => {
                self.write_deadline = None;
                ready
            }
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            if let Some((index, why)) = this.follower.feed(&buf.filled()[before..]) {
                this.framing.record(index, why);
            }
        }
        result
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.written(result, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.written(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.stream).poll_flush(cx);
        self.written(result, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follow(stream: &[u8]) -> (Option<(u64, &'static str)>, u64) {
        let mut follower = Follower::default();
        // Byte by byte: the answer must not depend on how reads split the stream.
        let mut found = None;
        for b in stream {
            if let Some(bad) = follower.feed(std::slice::from_ref(b)) {
                found.get_or_insert(bad);
            }
        }
        let mut whole = Follower::default();
        assert_eq!(whole.feed(stream), found, "split reads changed the answer");
        (found, follower.heads)
    }

    #[test]
    fn plain_requests_are_followed_through_their_bodies() {
        let stream = b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
                       GET /b HTTP/1.1\r\nHost: x\r\n\r\n\
                       \r\nPOST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                       3;ext\r\nabc\r\n0\r\nTrailer: 1\r\n\r\n\
                       POST /d HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(follow(stream), (None, 4));
    }

    #[test]
    fn content_length_with_transfer_encoding_is_found_in_either_order() {
        for head in [
            "POST /v1/batch HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST /v1/batch HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 4\r\n\r\n",
        ] {
            let stream = format!("GET / HTTP/1.1\r\n\r\n{head}0\r\n\r\n");
            assert_eq!(
                follow(stream.as_bytes()).0,
                Some((1, BOTH_LENGTHS)),
                "{head}"
            );
        }
    }

    #[test]
    fn body_bytes_that_look_like_headers_are_not_read_as_a_head() {
        let body = "x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let stream = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}GET / HTTP/1.1\r\n\r\n",
            body.len()
        );
        assert_eq!(follow(stream.as_bytes()), (None, 2));
    }

    #[test]
    fn framing_records_only_the_first_refusal() {
        let framing = Framing::default();
        framing.record(2, BOTH_LENGTHS);
        framing.record(3, BOTH_LENGTHS);
        assert_eq!(framing.refusal(1), None);
        assert_eq!(framing.refusal(2), Some(BOTH_LENGTHS));
        assert_eq!(framing.refusal(3), None);
    }
}
