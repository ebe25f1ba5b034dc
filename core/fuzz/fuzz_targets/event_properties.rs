//! Fuzz target `event_properties`: arbitrary bytes as an event name and as an
//! event's properties document.
//!
//! Neither validator may panic. Cross-checks against independent oracles:
//! - `validate_name` accepts exactly `^[A-Za-z][A-Za-z0-9_.\-]{0,63}$`;
//! - whenever `validate_properties` accepts, serde_json must parse the text
//!   into a `Value` that is an object, at most 8 levels deep, and the text is
//!   at most 16 KiB (SPEC §4). A document accepted at capture but unreadable
//!   later would be lost from exports or break an upload batch.
//!
//! This target found that the validator, which then only scanned the text
//! with `IgnoredAny`, accepted `{"a":1e400}`, `{"a":"\ud800"}` and
//! `{"$serde_json::private::RawValue":1}` (fixed in core commit b5fa3a0;
//! regression tests in tests/tests/fuzz_regressions.rs).
#![no_main]

use consentgate::event::{validate_name, validate_properties};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn name_oracle(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Nesting depth counted the way SPEC §4 counts it: `{"a":1}` is 1.
fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    assert_eq!(
        validate_name(text).is_ok(),
        name_oracle(text),
        "validate_name disagrees with the SPEC pattern on {text:?}"
    );
    if validate_properties(text).is_ok() {
        assert!(text.len() <= 16 * 1024, "accepted {} bytes", text.len());
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => panic!("accepted properties serde_json cannot parse ({e}): {text:?}"),
        };
        assert!(
            v.is_object(),
            "accepted properties that are not an object: {text:?}"
        );
        assert!(
            depth(&v) <= 8,
            "accepted properties {} levels deep",
            depth(&v)
        );
    }
});
