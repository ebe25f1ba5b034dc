//! Helpers shared by the tests that drive the `consentgate` binary against an
//! in-process reference collector: running the command, and a policy derived
//! from the example Kazakhstan policy whose endpoints point at a given URL.

#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The example policy the derived ones start from.
pub const POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/policies/example-kz.json"
);

/// What one run printed and how it exited.
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
}

impl Run {
    /// Stdout as JSON; panics with the text when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs the binary with `args`.
pub fn consentgate(args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_consentgate"))
        .args(args)
        .output()
        .expect("the binary runs");
    Run {
        code: status.code().expect("exited, not killed"),
        stdout: String::from_utf8(stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(stderr).expect("utf-8 stderr"),
    }
}

/// Runs with `--data-dir dir` in front of `args`.
pub fn on(dir: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--data-dir", dir.to_str().expect("utf-8 temp path")];
    all.extend_from_slice(args);
    consentgate(&all)
}

/// Runs and insists on exit 0.
pub fn ok(dir: &Path, args: &[&str]) -> Run {
    let run = on(dir, args);
    assert_eq!(
        run.code, 0,
        "{args:?}\nstdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    run
}

/// Writes example-kz.json with every endpoint URL replaced by `url` into
/// `dir/policy.json` and returns its path.
pub fn policy_for(dir: &Path, url: &str) -> PathBuf {
    let text = std::fs::read_to_string(POLICY).expect("example policy");
    let mut doc: Value = serde_json::from_str(&text).expect("example policy is JSON");
    for e in doc["endpoints"].as_array_mut().expect("endpoints") {
        e["url"] = Value::from(url);
    }
    let path = dir.join("policy.json");
    std::fs::write(&path, doc.to_string()).expect("write policy");
    path
}

/// A loopback URL nothing listens on (bound, then released).
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    url
}

/// Creates a data directory under `root` with the derived policy, region KZ
/// (so the `kz` endpoint is used, no cross-border rule) and analytics granted.
/// Returns the data directory and the installation id.
pub fn granted_data_dir(root: &Path, url: &str) -> (PathBuf, String) {
    let policy = policy_for(root, url);
    let data = root.join("data");
    let policy = policy.to_str().expect("utf-8 path");
    ok(
        &data,
        &[
            "--policy",
            policy,
            "--region",
            "KZ",
            "consent",
            "grant",
            "analytics",
        ],
    );
    let id = installation_id(&data);
    (data, id)
}

/// The current installation id, from `export`.
pub fn installation_id(data: &Path) -> String {
    ok(data, &["export"]).json()["installation_id"]
        .as_str()
        .expect("installation_id")
        .to_string()
}

/// Events queued, from `queue stats`.
pub fn queued(data: &Path) -> u64 {
    ok(data, &["queue", "stats"]).json()["events"]
        .as_u64()
        .expect("events")
}
