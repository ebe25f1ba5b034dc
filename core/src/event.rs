//! Validation of usage events at the API boundary (SPEC §4): the event name
//! pattern and the shape of the properties (a JSON object, at most 16 KiB
//! serialized, at most 8 levels deep). Runs on the caller's thread: the size
//! and depth are checked by a byte scan before anything is parsed.

use crate::error::GateError;

/// The key serde_json reserves for raw values; an object using it would be
/// read back as something else.
const RAW_VALUE_KEY: &str = "$serde_json::private::RawValue";

/// Longest accepted properties document, in bytes.
pub const MAX_PROPERTIES_BYTES: usize = 16 * 1024;
/// Deepest accepted nesting of properties (`{"a":1}` is 1 level).
pub const MAX_PROPERTIES_DEPTH: usize = 8;

/// One event for `record_events`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EventInput {
    /// Event name, `^[A-Za-z][A-Za-z0-9_.\-]{0,63}$`.
    pub name: String,
    /// Properties as a JSON object, or none.
    pub properties_json: Option<String>,
}

fn invalid(message: String) -> GateError {
    GateError::InvalidArgument { message }
}

/// Checks an event name against `^[A-Za-z][A-Za-z0-9_.\-]{0,63}$`.
pub fn validate_name(name: &str) -> Result<(), GateError> {
    let b = name.as_bytes();
    if b.is_empty() {
        return Err(invalid("event name is empty".into()));
    }
    if b.len() > 64 {
        return Err(invalid(format!(
            "event name is {} bytes long; the limit is 64",
            b.len()
        )));
    }
    if !b[0].is_ascii_alphabetic() {
        return Err(invalid(
            "event name must start with a letter A-Z or a-z".into(),
        ));
    }
    if let Some(pos) = b
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')))
    {
        // Report the position, not the character: a name is the app's text.
        return Err(invalid(format!(
            "event name has a character other than A-Z a-z 0-9 _ . - at byte {pos}"
        )));
    }
    Ok(())
}

/// Checks that `json` is a JSON object within the size and depth limits.
pub fn validate_properties(json: &str) -> Result<(), GateError> {
    if json.len() > MAX_PROPERTIES_BYTES {
        return Err(invalid(format!(
            "event properties are {} bytes; the limit is {MAX_PROPERTIES_BYTES}",
            json.len()
        )));
    }
    if json.trim_start().as_bytes().first() != Some(&b'{') {
        return Err(invalid("event properties must be a JSON object".into()));
    }
    let depth = max_depth(json.as_bytes());
    if depth > MAX_PROPERTIES_DEPTH {
        return Err(invalid(format!(
            "event properties are nested {depth} levels deep; the limit is {MAX_PROPERTIES_DEPTH}"
        )));
    }
    // Parsed into a value, not merely scanned: numbers beyond f64, lone
    // surrogate escapes and serde_json's reserved raw-value key would pass a
    // scan but make the batch unreadable for the backend (found by fuzzing).
    let value = serde_json::from_str::<serde_json::Value>(json)
        .map_err(|e| invalid(format!("event properties are not valid JSON: {e}")))?;
    if !value.is_object() || value.get(RAW_VALUE_KEY).is_some() {
        return Err(invalid("event properties must be a JSON object".into()));
    }
    Ok(())
}

/// Deepest nesting of `{`/`[` outside strings.
fn max_depth(b: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for &c in b {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("screen_view").is_ok());
        assert!(validate_name("a.b-c_9").is_ok());
        assert!(validate_name(&"a".repeat(64)).is_ok());
        assert!(validate_name(&"a".repeat(65)).is_err());
        assert!(validate_name("9lives").is_err());
        assert!(validate_name("bad name!").is_err());
        assert!(validate_name("").is_err());
    }

    #[test]
    fn properties() {
        assert!(validate_properties(r#"{"screen":"home","n":[1,{"x":"{["}]}"#).is_ok());
        assert!(validate_properties("[1]").is_err());
        assert!(validate_properties(r#"{"a":}"#).is_err());
        assert!(validate_properties(r#"{"a":1} x"#).is_err());
        // Found by fuzzing: valid-looking text serde_json cannot read back.
        assert!(validate_properties(r#"{"a":1e400}"#).is_err());
        assert!(validate_properties(r#"{"a":"\ud800"}"#).is_err());
        assert!(validate_properties(r#"{"$serde_json::private::RawValue":"x"}"#).is_err());
        let deep8 = format!("{}1{}", r#"{"a":"#.repeat(8), "}".repeat(8));
        assert!(validate_properties(&deep8).is_ok());
        let deep9 = format!("{}1{}", r#"{"a":"#.repeat(9), "}".repeat(9));
        assert!(validate_properties(&deep9).is_err());
        let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_PROPERTIES_BYTES));
        assert!(validate_properties(&big).is_err());
    }
}
