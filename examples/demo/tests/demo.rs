//! The README's main-job command must exit 0 on a fresh clone: run the built
//! demo binary and check that every step reported `ok`, that it stays short
//! enough to read, and that it prints no installation id.

use std::process::Command;

#[test]
fn demo_exits_0_with_every_step_ok() {
    let out = Command::new(env!("CARGO_BIN_EXE_consentgate-demo"))
        .output()
        .expect("the demo runs");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("ok"))
            .count(),
        15,
        "{stdout}"
    );
    assert!(stdout.lines().count() <= 35, "{stdout}");
    // No identifier: a UUID has 4 dashes in a 36-character word.
    assert!(
        !stdout
            .split(|c: char| c.is_whitespace())
            .any(|w| w.len() >= 36 && w.matches('-').count() == 4),
        "{stdout}"
    );
}
