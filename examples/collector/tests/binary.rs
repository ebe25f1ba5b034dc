//! The `consentgate-collector` binary: announces its address on stdout and serves it.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

#[test]
fn binary_prints_its_address_and_serves_until_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_consentgate-collector"))
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("collector.sqlite"))
        .args(["--fail-rate", "0", "--seed", "3"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    let result = std::panic::catch_unwind(|| {
        let url = line
            .trim_end()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        let addr: SocketAddr = url.parse().expect("address");
        assert_ne!(addr.port(), 0);
        assert_eq!(common::get(addr, "/healthz").status, 200);
        let doc = common::batch(&common::id("b-1"), &common::id("inst-a"), 2);
        let reply = common::post_batch(addr, &doc).expect("answered");
        assert_eq!(reply.status, 200);
        assert_eq!(common::get(addr, "/v1/stats").json()["events"], 2);
    });
    child.kill().expect("kill");
    child.wait().expect("reaped");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn binary_refuses_a_fail_rate_outside_zero_to_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_consentgate-collector"))
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("collector.sqlite"))
        .args(["--fail-rate", "1.5"])
        .output()
        .expect("binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("fail rate"), "{stderr}");
}
