//! What a usage event is at the API boundary (SPEC §4): the name pattern and
//! the shape of the properties (a JSON object, at most 16 KiB serialized, at
//! most 8 levels deep), checked once by [`validate`] on the caller's thread
//! (size and depth by a byte scan before anything is parsed); what recording
//! one can come to ([`RecordOutcome`], [`CaptureReport`]); and the
//! [`CaptureRules`] a host-side buffer must follow, exported so that no
//! platform layer keeps its own copy of them.

use serde::Serialize;

use crate::error::GateError;
use crate::policy::Limits;

/// The event name pattern of SPEC §4, for hosts that check names themselves.
pub const NAME_PATTERN: &str = r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$";
/// Longest accepted event name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// What a queued record costs against `max_queue_bytes` besides the UTF-8
/// bytes of its name and properties.
pub const RECORD_OVERHEAD_BYTES: usize = 16;
/// Most events a host-side buffer holds before it must hand them over (and
/// the number of buffered records that wakes the writer early).
pub const HOST_BUFFER_MAX_EVENTS: u64 = 8192;
/// Most bytes (as charged against `max_queue_bytes`) a host-side buffer holds.
pub const HOST_BUFFER_MAX_BYTES: u64 = 1 << 20;

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

/// Checks one event: its name, then its properties, if any. The only
/// validation of events in the crate.
pub fn validate(name: &str, properties_json: Option<&str>) -> Result<(), GateError> {
    validate_name(name)?;
    properties_json.map_or(Ok(()), validate_properties)
}

/// What a queued record costs against `max_queue_bytes`.
pub(crate) fn record_bytes(name: &str, properties_json: Option<&str>) -> u64 {
    (RECORD_OVERHEAD_BYTES + name.len() + properties_json.map_or(0, str::len)) as u64
}

/// `n` as the signed integer the exported records use (host languages have
/// no unsigned types worth exposing); saturates, though no figure here comes
/// near `i64::MAX`.
pub(crate) fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What happened to one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum RecordOutcome {
    /// Queued with this sequence number.
    Recorded {
        /// Monotonically increasing sequence number.
        seq: i64,
    },
    /// Not queued, and nothing written.
    Dropped {
        /// Why.
        reason: DropReason,
    },
}

/// Why an event was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// `usage_events` is not allowed (or the policy defines no such category).
    NoConsent,
}

impl DropReason {
    /// The spelling the CLI prints, e.g. `no_consent`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NoConsent => "no_consent",
        }
    }
}

/// An event a host captured into its own buffer (see `record_captured`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CapturedEvent {
    /// Event name, `^[A-Za-z][A-Za-z0-9_.\-]{0,63}$`.
    pub name: String,
    /// Properties as a JSON object, or none.
    pub properties_json: Option<String>,
    /// When the host captured it (ms since the epoch); later than now counts as now.
    pub captured_at_ms: i64,
    /// `ConsentState::version` the host mirrored when it captured the event.
    pub consent_version: i64,
}

/// What `record_captured` did with a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct CaptureReport {
    /// Events queued.
    pub recorded: i32,
    /// Events dropped for lack of consent (now, or at a withdrawal since capture).
    pub dropped_no_consent: i32,
    /// Events skipped as invalid.
    pub invalid: i32,
    /// Why the first invalid event was refused (no payload in it).
    pub first_invalid: Option<String>,
}

/// The rules a host that buffers events on its side must follow, so that it
/// refuses what the core would refuse and never holds more than the core
/// would keep (G8). Read once at open; the platform layers keep no copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct CaptureRules {
    /// The event name pattern (a regular expression, SPEC §4).
    pub name_pattern: String,
    /// Longest name, in bytes.
    pub max_name_bytes: i64,
    /// Longest properties document (serialized JSON), in bytes.
    pub max_properties_bytes: i64,
    /// Deepest nesting of properties (`{"a":1}` is 1 level).
    pub max_properties_depth: i64,
    /// What a record costs against the byte bounds besides the UTF-8 bytes
    /// of its name and properties.
    pub record_overhead_bytes: i64,
    /// Most events a host buffer holds (the smaller of the host bound and
    /// the policy's `max_queue_events`); beyond it the oldest is evicted
    /// and counted.
    pub max_buffered_events: i64,
    /// Most bytes a host buffer holds (the smaller of the host bound and the
    /// policy's `max_queue_bytes`).
    pub max_buffered_bytes: i64,
    /// The policy's queue bounds, for figures a host shows.
    pub max_queue_events: i64,
    /// See `max_queue_events`.
    pub max_queue_bytes: i64,
    /// Most events in one upload batch.
    pub max_batch_events: i64,
}

impl CaptureRules {
    /// The rules under the policy's `limits`.
    pub(crate) fn for_limits(l: &Limits) -> CaptureRules {
        CaptureRules {
            name_pattern: NAME_PATTERN.to_string(),
            max_name_bytes: MAX_NAME_BYTES as i64,
            max_properties_bytes: MAX_PROPERTIES_BYTES as i64,
            max_properties_depth: MAX_PROPERTIES_DEPTH as i64,
            record_overhead_bytes: RECORD_OVERHEAD_BYTES as i64,
            max_buffered_events: signed(HOST_BUFFER_MAX_EVENTS.min(l.max_queue_events).max(1)),
            max_buffered_bytes: signed(HOST_BUFFER_MAX_BYTES.min(l.max_queue_bytes).max(1)),
            max_queue_events: signed(l.max_queue_events),
            max_queue_bytes: signed(l.max_queue_bytes),
            max_batch_events: signed(l.max_batch_events),
        }
    }
}

/// Checks an event name against `^[A-Za-z][A-Za-z0-9_.\-]{0,63}$`.
pub fn validate_name(name: &str) -> Result<(), GateError> {
    let b = name.as_bytes();
    if b.is_empty() {
        return Err(invalid("event name is empty".into()));
    }
    if b.len() > MAX_NAME_BYTES {
        return Err(invalid(format!(
            "event name is {} bytes long; the limit is {MAX_NAME_BYTES}",
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
