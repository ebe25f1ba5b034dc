//! The library half of the `consentgate` command: the pieces a Rust host or a
//! test can reuse without running the binary. Today that is [`http`], the
//! HTTP client that sends the core's upload requests (the core itself has no
//! HTTP client and no TLS stack, SPEC §4). The command line itself lives in
//! the binary (`main.rs`, `args`, `commands`, `failure`).

pub mod http;
