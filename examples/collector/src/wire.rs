//! The request bodies of SPEC §5 as the collector checks them: untrusted JSON in, typed values
//! (or an error naming the first offending field) out. No I/O, no storage, no HTTP.
//!
//! The rules are exactly those of `openapi.json` (`Batch`, `Event`, `DeletionRequest` and the
//! objects they hold), and a test keeps the two in step:
//! - every field the document marks required must be present, and every present field must have
//!   its documented type — `null` is not a value of any documented field (400);
//! - ids are UUIDs and times RFC 3339 `date-time`s (400); integers stay within the documented
//!   range (400);
//! - closed objects (the batch, `sdk`, `policy`, `device`, each event, the deletion request)
//!   reject fields the protocol does not name (422): an SDK sending them is leaking data it was
//!   never allowed to send; so do an event name off its pattern, a consent value outside
//!   granted/denied/unset, a `seq` repeated within a batch, and `props` over 16 KiB or nested
//!   deeper than 8 levels (422);
//! - a key repeated within one object is refused (400): which copy counts would be a guess.
//!
//! Values are read lazily from the decompressed body (`RawValue` slices), so a batch of 500
//! events costs one pass of the JSON parser plus one per field, not a tree of `Value`s.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Largest request body accepted after decompression (SPEC §7 collector limit), in bytes.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Largest `props` of one event, in bytes as sent (SPEC §4).
pub(crate) const MAX_PROPS_BYTES: usize = 16 * 1024;
/// Deepest nesting of `props` (`{"a":1}` is 1 level, SPEC §4).
pub(crate) const MAX_PROPS_DEPTH: usize = 8;
/// Largest `policy.revision` (the SDK's revision is a 32-bit unsigned number).
pub(crate) const MAX_REVISION: u64 = u32::MAX as u64;

/// The device fields a batch may carry (SPEC §3 `device_info.fields`).
pub(crate) const DEVICE_FIELDS: [&str; 9] = [
    "os",
    "os_version",
    "model",
    "manufacturer",
    "locale",
    "timezone",
    "carrier",
    "app_version",
    "screen",
];

/// The values a consent entry may have.
const CONSENT_VALUES: [&str; 3] = ["granted", "denied", "unset"];

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// Not JSON, not an object, a required field missing, of the wrong type or off its format
    /// (400).
    Malformed(String),
    /// Well-formed, but breaks a rule of the protocol (422).
    Unprocessable(String),
}

impl Invalid {
    /// The HTTP status this refusal is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Invalid::Malformed(_) => 400,
            Invalid::Unprocessable(_) => 422,
        }
    }

    /// The message naming the problem.
    pub fn message(&self) -> &str {
        match self {
            Invalid::Malformed(m) | Invalid::Unprocessable(m) => m,
        }
    }
}

fn malformed(message: impl Into<String>) -> Invalid {
    Invalid::Malformed(message.into())
}

fn unprocessable(message: impl Into<String>) -> Invalid {
    Invalid::Unprocessable(message.into())
}

/// One event of a batch, its texts kept in the batch's arena ([`Batch::event`] reads them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    /// `seq`, unique within the batch.
    pub seq: i64,
    name: (u32, u32),
    ts: (u32, u32),
    props: Option<(u32, u32)>,
}

/// One event of a batch, as read from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EventRef<'a> {
    /// `seq`, unique within the batch.
    pub seq: i64,
    /// `name`, matching the SPEC §4 pattern.
    pub name: &'a str,
    /// `ts`, as sent.
    pub ts: &'a str,
    /// `props`, exactly as sent, when present.
    pub props: Option<&'a str>,
}

/// A checked `POST /v1/batch` body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Batch {
    /// `batch_id`, the idempotency key.
    pub batch_id: String,
    /// `installation_id`.
    pub installation_id: String,
    /// `user_id`, when the batch carries one.
    pub user_id: Option<String>,
    /// The whole document without `events`, as a JSON object.
    pub envelope: String,
    /// `events`, in body order.
    events: Vec<Event>,
    /// Every event's name, time and props, one after the other: one allocation per batch
    /// instead of three per event.
    text: String,
}

impl Batch {
    /// A batch without events yet.
    pub fn new(
        batch_id: String,
        installation_id: String,
        user_id: Option<String>,
        envelope: String,
    ) -> Batch {
        Batch {
            batch_id,
            installation_id,
            user_id,
            envelope,
            events: Vec::new(),
            text: String::new(),
        }
    }

    fn keep(&mut self, text: &str) -> (u32, u32) {
        let start = self.text.len();
        self.text.push_str(text);
        let at = |n: usize| u32::try_from(n).expect("a batch is at most 1 MiB");
        (at(start), at(self.text.len()))
    }

    /// Appends one event.
    pub fn push_event(&mut self, seq: i64, name: &str, ts: &str, props: Option<&str>) {
        let event = Event {
            seq,
            name: self.keep(name),
            ts: self.keep(ts),
            props: props.map(|p| self.keep(p)),
        };
        self.events.push(event);
    }

    /// How many events the batch has.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    fn text(&self, (start, end): (u32, u32)) -> &str {
        &self.text[start as usize..end as usize]
    }

    /// The events, in body order.
    pub fn events(&self) -> impl ExactSizeIterator<Item = EventRef<'_>> + '_ {
        self.events.iter().map(|e| EventRef {
            seq: e.seq,
            name: self.text(e.name),
            ts: self.text(e.ts),
            props: e.props.map(|p| self.text(p)),
        })
    }
}

/// A checked `POST /v1/deletion` body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Deletion {
    /// `request_id`, the idempotency key.
    pub request_id: String,
    /// Distinct ids, in request order.
    pub installation_ids: Vec<String>,
    /// `user_id`, when given and not empty.
    pub user_id: Option<String>,
    /// `requested_at`, as sent.
    pub requested_at: String,
    /// `reason`, as sent.
    pub reason: String,
    /// `policy`, as sent.
    pub policy: String,
}

// ---------------------------------------------------------------------------------------------
// Lazy JSON: objects as (key, raw value) pairs, strings borrowed where they have no escapes.

/// A JSON string, borrowed from the body unless it had escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A JSON object as its members in body order, values unparsed.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    members.push((key, value));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// A JSON array as its elements, unparsed.
struct Elements<'a>(Vec<&'a RawValue>);

impl<'de> Deserialize<'de> for Elements<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Elements<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut elements = Vec::with_capacity(seq.size_hint().unwrap_or(16));
                while let Some(element) = seq.next_element::<&'de RawValue>()? {
                    elements.push(element);
                }
                Ok(Elements(elements))
            }
        }
        deserializer.deserialize_seq(V)
    }
}

/// One element of `events`, read in the same pass as the array: its known members' values
/// unparsed, and what is wrong with its shape, if anything.
#[derive(Default)]
struct RawEvent<'a> {
    /// The element's JSON type when it is not an object.
    not_an_object: Option<Kind>,
    seq: Option<&'a RawValue>,
    name: Option<&'a RawValue>,
    ts: Option<&'a RawValue>,
    props: Option<&'a RawValue>,
    /// The first member the protocol does not name.
    unknown: Option<Cow<'a, str>>,
    /// The first member given twice.
    repeated: Option<Cow<'a, str>>,
}

impl<'de> Deserialize<'de> for RawEvent<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        fn other<'a>(kind: Kind) -> RawEvent<'a> {
            RawEvent {
                not_an_object: Some(kind),
                ..RawEvent::default()
            }
        }
        impl<'de> Visitor<'de> for V {
            type Value = RawEvent<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut event = RawEvent::default();
                while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    let slot = match key.as_ref() {
                        "seq" => &mut event.seq,
                        "name" => &mut event.name,
                        "ts" => &mut event.ts,
                        "props" => &mut event.props,
                        _ => {
                            event.unknown.get_or_insert(key);
                            continue;
                        }
                    };
                    if slot.replace(value).is_some() && event.repeated.is_none() {
                        event.repeated = Some(key);
                    }
                }
                Ok(event)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(other(Kind::Array))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(other(Kind::String))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(other(Kind::Bool))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(other(Kind::Number))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(other(Kind::Number))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(other(Kind::Number))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(other(Kind::Null))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The JSON type of a raw value, from its first byte (the value is known to be valid JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

fn kind(value: &RawValue) -> Kind {
    match value.get().as_bytes().first() {
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(b'"') => Kind::String,
        Some(b't' | b'f') => Kind::Bool,
        Some(b'n') => Kind::Null,
        _ => Kind::Number,
    }
}

/// "must be a string" plus, for `null`, why that is not one.
fn wrong_type(path: &str, expected: &str, value: &RawValue) -> Invalid {
    wrong_kind(path, expected, kind(value))
}

fn wrong_kind(path: &str, expected: &str, kind: Kind) -> Invalid {
    if kind == Kind::Null {
        malformed(format!("{path} must be {expected}, not null"))
    } else {
        malformed(format!("{path} must be {expected}"))
    }
}

/// One object's members with the checks every closed object shares.
struct Object<'a> {
    path: String,
    members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> Object<'a> {
    /// Reads `value` at JSON path `path` (`""` for the body itself) as an object.
    fn read(value: &'a RawValue, path: &str, expected: &str) -> Result<Object<'a>, Invalid> {
        if kind(value) != Kind::Object {
            return Err(wrong_type(display(path), expected, value));
        }
        let Members(members) = serde_json::from_str(value.get())
            .map_err(|e| malformed(format!("{} is not valid JSON: {e}", display(path))))?;
        Object::from_members(path, members)
    }

    fn from_members(
        path: &str,
        members: Vec<(Cow<'a, str>, &'a RawValue)>,
    ) -> Result<Object<'a>, Invalid> {
        if let Some(key) = repeated_key(members.iter().map(|(k, _)| k.as_ref())) {
            return Err(malformed(format!(
                "{}{key} appears more than once",
                prefix(path)
            )));
        }
        Ok(Object {
            path: path.to_owned(),
            members,
        })
    }

    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    fn field_path(&self, key: &str) -> String {
        format!("{}{key}", prefix(&self.path))
    }

    /// Refuses members `allowed` does not name (422).
    fn closed(&self, allowed: &[&str]) -> Result<(), Invalid> {
        match self
            .members
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_ref()))
        {
            Some((key, _)) => Err(unprocessable(format!(
                "{}{key} is not a field of the protocol",
                prefix(&self.path)
            ))),
            None => Ok(()),
        }
    }

    fn required(&self, key: &str) -> Result<&'a RawValue, Invalid> {
        self.get(key)
            .ok_or_else(|| malformed(format!("{} is missing", self.field_path(key))))
    }

    fn string(&self, key: &str) -> Result<Cow<'a, str>, Invalid> {
        let value = self.required(key)?;
        string(value, &self.field_path(key))
    }

    fn optional_string(&self, key: &str) -> Result<Option<Cow<'a, str>>, Invalid> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => string(value, &self.field_path(key)).map(Some),
        }
    }

    fn uuid(&self, key: &str) -> Result<String, Invalid> {
        let value = self.string(key)?;
        check_uuid(&value, &self.field_path(key))?;
        Ok(value.into_owned())
    }

    fn date_time(&self, key: &str) -> Result<Cow<'a, str>, Invalid> {
        let value = self.string(key)?;
        if !is_date_time(&value) {
            return Err(malformed(format!(
                "{} must be an RFC 3339 date-time such as 2025-03-01T12:00:00Z",
                self.field_path(key)
            )));
        }
        Ok(value)
    }

    fn object(&self, key: &str) -> Result<Object<'a>, Invalid> {
        let value = self.required(key)?;
        Object::read(value, &self.field_path(key), "an object")
    }

    fn optional_object(&self, key: &str) -> Result<Option<Object<'a>>, Invalid> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => Object::read(value, &self.field_path(key), "an object").map(Some),
        }
    }

    /// An integer within `min..=max` (JSON integers only: `1.0` and `1e3` are refused).
    fn integer(&self, key: &str, min: i128, max: i128) -> Result<i128, Invalid> {
        let value = self.required(key)?;
        integer(value, min, max, || self.field_path(key))
    }
}

/// `value` as an integer within `min..=max` (JSON integers only: `1.0` and `1e3` are
/// refused); `path` names it, and is only built for an error.
fn integer(
    value: &RawValue,
    min: i128,
    max: i128,
    path: impl Fn() -> String,
) -> Result<i128, Invalid> {
    let text = value.get();
    let out_of_range = || malformed(format!("{} must be an integer from {min} to {max}", path()));
    if kind(value) != Kind::Number {
        return Err(wrong_type(&path(), "an integer", value));
    }
    if text.contains(['.', 'e', 'E']) || text.len() > 40 {
        return Err(out_of_range());
    }
    let n: i128 = text.parse().map_err(|_| out_of_range())?;
    if n < min || n > max {
        return Err(out_of_range());
    }
    Ok(n)
}

/// The first key seen before among `keys` (a scan for the few keys of a protocol object, a
/// set beyond that).
fn repeated_key<'k>(keys: impl ExactSizeIterator<Item = &'k str>) -> Option<&'k str> {
    let keys: Vec<&str> = keys.collect();
    if keys.len() <= 16 {
        return keys
            .iter()
            .enumerate()
            .find(|(i, k)| keys[..*i].contains(k))
            .map(|(_, k)| *k);
    }
    let mut seen = HashSet::with_capacity(keys.len());
    keys.into_iter().find(|k| !seen.insert(*k))
}

fn display(path: &str) -> &str {
    if path.is_empty() {
        "body"
    } else {
        path
    }
}

fn prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}.")
    }
}

fn string<'a>(value: &'a RawValue, path: &str) -> Result<Cow<'a, str>, Invalid> {
    string_at(value, || path.to_owned())
}

/// `value` as a string; `path` names it, and is only built for an error.
fn string_at<'a>(value: &'a RawValue, path: impl Fn() -> String) -> Result<Cow<'a, str>, Invalid> {
    if kind(value) != Kind::String {
        return Err(wrong_type(&path(), "a string", value));
    }
    let text = value.get();
    if !text.contains('\\') {
        // Valid JSON without escapes: the text between the quotes is the string.
        return Ok(Cow::Borrowed(&text[1..text.len() - 1]));
    }
    serde_json::from_str::<Text<'a>>(text)
        .map(|Text(s)| s)
        .map_err(|_| {
            malformed(format!(
                "{} is not a valid string (lone surrogate escape)",
                path()
            ))
        })
}

fn check_uuid(value: &str, path: &str) -> Result<(), Invalid> {
    if is_uuid(value) {
        Ok(())
    } else {
        Err(malformed(format!(
            "{path} must be a UUID such as 0b7e9f5c-3a43-4f0e-9a8e-5f2d7c1b6a90"
        )))
    }
}

/// The body as an object: 400 if it is not JSON or not an object.
fn body_object(body: &[u8]) -> Result<Object<'_>, Invalid> {
    let text =
        std::str::from_utf8(body).map_err(|e| malformed(format!("body is not UTF-8: {e}")))?;
    let starts_as_object = text.trim_start().starts_with('{');
    let Members(members) = serde_json::from_str(text).map_err(|e| {
        if !starts_as_object && e.is_data() {
            malformed("body must be a JSON object")
        } else {
            malformed(format!("body is not valid JSON: {e}"))
        }
    })?;
    Object::from_members("", members)
}

// ---------------------------------------------------------------------------------------------
// Formats.

/// Whether `s` is a UUID in its 36-character form (hex digits of either case, dashes at
/// 8, 13, 18 and 23), as JSON Schema's `format: uuid`.
pub(crate) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether `s` is an RFC 3339 `date-time` (`2025-03-01T12:00:00Z`, `…T12:00:00.123+05:00`):
/// four-digit year, a real calendar day, hours 00–23, minutes and seconds 00–59, an optional
/// fraction, `Z` or a `±HH:MM` offset; `T` and `Z` of either case.
pub(crate) fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |from: usize, len: usize| -> Option<u32> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(0, 4),
        digits(5, 2),
        digits(8, 2),
        digits(11, 2),
        digits(14, 2),
        digits(17, 2),
    ) else {
        return false;
    };
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' {
        return false;
    }
    if b[16] != b':' {
        return false;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            b.len() == i + 6
                && b[i + 3] == b':'
                && digits(i + 1, 2).is_some_and(|h| h <= 23)
                && digits(i + 4, 2).is_some_and(|m| m <= 59)
        }
        _ => false,
    }
}

/// Whether `name` matches `^[A-Za-z][A-Za-z0-9_.\-]{0,63}$` (SPEC §4 event names).
fn valid_event_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_alphabetic()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Deepest nesting of `{`/`[` outside strings (`{"a":1}` is 1).
fn max_depth(json: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &c in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
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

// ---------------------------------------------------------------------------------------------
// The documents.

const BATCH_FIELDS: [&str; 11] = [
    "batch_id",
    "installation_id",
    "sent_at",
    "sdk",
    "app_version",
    "policy",
    "consent",
    "device",
    "advertising_id",
    "user_id",
    "events",
];
const SDK_FIELDS: [&str; 2] = ["name", "version"];
const POLICY_FIELDS: [&str; 2] = ["id", "revision"];
const DELETION_FIELDS: [&str; 6] = [
    "request_id",
    "installation_ids",
    "user_id",
    "requested_at",
    "reason",
    "policy",
];

/// Checks a `policy: {id, revision}` member of `object`; returns it as sent.
fn check_policy<'a>(object: &Object<'a>) -> Result<&'a RawValue, Invalid> {
    let policy = object.object("policy")?;
    policy.string("id")?;
    policy.integer("revision", 0, i128::from(MAX_REVISION))?;
    policy.closed(&POLICY_FIELDS)?;
    object.required("policy")
}

/// Checks one event and appends it to `batch`. Paths are only formatted for an error: this
/// runs 500 times per batch.
fn parse_event(batch: &mut Batch, index: usize, event: RawEvent<'_>) -> Result<(), Invalid> {
    let path = |field: &str| format!("events[{index}].{field}");
    if let Some(kind) = event.not_an_object {
        return Err(wrong_kind(&format!("events[{index}]"), "an object", kind));
    }
    if let Some(key) = &event.repeated {
        return Err(malformed(format!("{} appears more than once", path(key))));
    }
    let missing = |field: &str| malformed(format!("{} is missing", path(field)));
    let seq = event.seq.ok_or_else(|| missing("seq"))?;
    let seq = integer(seq, 0, i128::from(i64::MAX), || path("seq"))?;
    let name = string_at(event.name.ok_or_else(|| missing("name"))?, || path("name"))?;
    if !valid_event_name(&name) {
        return Err(unprocessable(format!(
            "{} does not match ^[A-Za-z][A-Za-z0-9_.\\-]{{0,63}}$",
            path("name")
        )));
    }
    let ts = string_at(event.ts.ok_or_else(|| missing("ts"))?, || path("ts"))?;
    if !is_date_time(&ts) {
        return Err(malformed(format!(
            "{} must be an RFC 3339 date-time such as 2025-03-01T12:00:00Z",
            path("ts")
        )));
    }
    let props = match event.props {
        None => None,
        Some(props) => {
            if kind(props) != Kind::Object {
                return Err(wrong_type(&path("props"), "an object", props));
            }
            let text = props.get();
            if text.len() > MAX_PROPS_BYTES {
                return Err(unprocessable(format!(
                    "{} is {} bytes; the limit is {MAX_PROPS_BYTES}",
                    path("props"),
                    text.len()
                )));
            }
            let depth = max_depth(text.as_bytes());
            if depth > MAX_PROPS_DEPTH {
                return Err(unprocessable(format!(
                    "{} is nested {depth} levels deep; the limit is {MAX_PROPS_DEPTH}",
                    path("props")
                )));
            }
            Some(text)
        }
    };
    if let Some(key) = &event.unknown {
        return Err(unprocessable(format!(
            "{} is not a field of the protocol",
            path(key)
        )));
    }
    let seq = i64::try_from(seq).expect("seq was checked to be within 0..=i64::MAX");
    batch.push_event(seq, &name, &ts, props);
    Ok(())
}

/// The first event whose `seq` an earlier event of the batch has (a scan when they increase,
/// as the SDK's do; a set otherwise).
fn repeated_seq(batch: &Batch) -> Option<(usize, i64)> {
    let seqs: Vec<i64> = batch.events.iter().map(|e| e.seq).collect();
    if seqs.windows(2).all(|w| w[0] < w[1]) {
        return None;
    }
    let mut seen = HashSet::with_capacity(seqs.len());
    seqs.iter()
        .enumerate()
        .find(|(_, seq)| !seen.insert(**seq))
        .map(|(i, seq)| (i, *seq))
}

/// Checks a `POST /v1/batch` body (already decompressed).
pub(crate) fn parse_batch(body: &[u8]) -> Result<Batch, Invalid> {
    let doc = body_object(body)?;
    let batch_id = doc.uuid("batch_id")?;
    let installation_id = doc.uuid("installation_id")?;
    doc.date_time("sent_at")?;
    let sdk = doc.object("sdk")?;
    for key in SDK_FIELDS {
        sdk.string(key)?;
    }
    sdk.closed(&SDK_FIELDS)?;
    doc.string("app_version")?;
    check_policy(&doc)?;
    let consent = doc.object("consent")?;
    for (purpose, value) in &consent.members {
        let path = consent.field_path(purpose);
        let value = string(value, &path)?;
        if !CONSENT_VALUES.contains(&value.as_ref()) {
            return Err(unprocessable(format!(
                "{path} must be \"granted\", \"denied\" or \"unset\""
            )));
        }
    }
    if let Some(device) = doc.optional_object("device")? {
        for (key, value) in &device.members {
            if !DEVICE_FIELDS.contains(&key.as_ref()) {
                return Err(unprocessable(format!(
                    "device.{key} is not a device field of the protocol"
                )));
            }
            string(value, &device.field_path(key))?;
        }
    }
    doc.optional_string("advertising_id")?;
    let user_id = doc.optional_string("user_id")?.map(Cow::into_owned);
    let raw_events = doc.required("events")?;
    if kind(raw_events) != Kind::Array {
        return Err(wrong_type("events", "an array", raw_events));
    }
    let raw_events: Vec<RawEvent<'_>> = serde_json::from_str(raw_events.get())
        .map_err(|e| malformed(format!("events is not valid JSON: {e}")))?;
    let mut batch = Batch::new(batch_id, installation_id, user_id, String::new());
    batch.events.reserve_exact(raw_events.len());
    batch.text.reserve(raw_events.len() * 64);
    for (i, event) in raw_events.into_iter().enumerate() {
        parse_event(&mut batch, i, event)?;
    }
    // Checked after the required fields so that a missing id is reported as such.
    doc.closed(&BATCH_FIELDS)?;
    if let Some((i, seq)) = repeated_seq(&batch) {
        return Err(unprocessable(format!(
            "events[{i}].seq {seq} repeats an earlier seq of the batch"
        )));
    }

    let mut envelope = String::from("{");
    for (key, value) in doc.members.iter().filter(|(k, _)| k != "events") {
        if envelope.len() > 1 {
            envelope.push(',');
        }
        envelope.push_str(&serde_json::Value::from(key.as_ref()).to_string());
        envelope.push(':');
        envelope.push_str(value.get());
    }
    envelope.push('}');
    batch.envelope = envelope;
    Ok(batch)
}

/// Checks a `POST /v1/deletion` body (already decompressed).
pub(crate) fn parse_deletion(body: &[u8]) -> Result<Deletion, Invalid> {
    let doc = body_object(body)?;
    let request_id = doc.uuid("request_id")?;
    let raw_ids = doc.required("installation_ids")?;
    if kind(raw_ids) != Kind::Array {
        return Err(wrong_type("installation_ids", "an array", raw_ids));
    }
    let Elements(raw_ids) = serde_json::from_str(raw_ids.get())
        .map_err(|e| malformed(format!("installation_ids is not valid JSON: {e}")))?;
    if raw_ids.is_empty() {
        return Err(malformed("installation_ids must not be empty"));
    }
    let mut installation_ids: Vec<String> = Vec::with_capacity(raw_ids.len());
    let mut seen = HashSet::with_capacity(raw_ids.len());
    for (i, raw) in raw_ids.iter().enumerate() {
        let path = format!("installation_ids[{i}]");
        let id = string(raw, &path)?;
        check_uuid(&id, &path)?;
        if seen.insert(id.clone()) {
            installation_ids.push(id.into_owned());
        }
    }
    let user_id = doc
        .optional_string("user_id")?
        .filter(|u| !u.is_empty())
        .map(Cow::into_owned);
    let requested_at = doc.date_time("requested_at")?.into_owned();
    let reason = doc.string("reason")?.into_owned();
    let policy = check_policy(&doc)?.get().to_owned();
    doc.closed(&DELETION_FIELDS)?;
    Ok(Deletion {
        request_id,
        installation_ids,
        user_id,
        requested_at,
        reason,
        policy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const B1: &str = "0b7e9f5c-3a43-4f0e-9a8e-5f2d7c1b6a90";
    const I1: &str = "8d0c2d4e-6f1a-4b7c-9e3d-2a1b0c9d8e7f";

    fn batch(value: Value) -> Result<Batch, Invalid> {
        parse_batch(value.to_string().as_bytes())
    }

    fn full_batch() -> Value {
        json!({
            "batch_id": B1, "installation_id": I1, "sent_at": "2025-01-01T00:00:00Z",
            "sdk": {"name": "consentgate", "version": "0.1.0"}, "app_version": "1.2.3",
            "policy": {"id": "example-app", "revision": 4},
            "consent": {"analytics": "granted", "advertising": "denied", "x": "unset"},
            "device": {"os": "Android", "model": "Pixel"},
            "advertising_id": "ad", "user_id": "u1",
            "events": [
                {"seq": 1, "name": "screen_view", "ts": "2025-01-01T00:00:00Z", "props": {"a": 1}},
                {"seq": 2, "name": "tap", "ts": "2025-01-01T00:00:01.5+05:00"}
            ]
        })
    }

    #[test]
    fn full_batch_is_accepted_and_events_are_split_off() {
        let b = batch(full_batch()).expect("valid batch");
        assert_eq!(b.batch_id, B1);
        assert_eq!(b.user_id.as_deref(), Some("u1"));
        let events: Vec<EventRef<'_>> = b.events().collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].props, Some(r#"{"a":1}"#));
        assert_eq!(events[1].props, None);
        assert_eq!((events[1].name, events[1].seq), ("tap", 2));
        let envelope: Value = serde_json::from_str(&b.envelope).expect("envelope is JSON");
        assert!(envelope.get("events").is_none());
        assert_eq!(envelope["policy"]["revision"], 4);
    }

    #[test]
    fn every_refusal_names_the_field() {
        let cases: Vec<(&str, Value, u16, &str)> = vec![
            (
                "batch_id",
                json!(null),
                400,
                "batch_id must be a string, not null",
            ),
            ("batch_id", json!("b-1"), 400, "batch_id must be a UUID"),
            (
                "installation_id",
                json!(7),
                400,
                "installation_id must be a string",
            ),
            (
                "sent_at",
                json!("yesterday"),
                400,
                "sent_at must be an RFC 3339",
            ),
            ("events", json!({}), 400, "events must be an array"),
            (
                "consent",
                json!({"analytics": "yes"}),
                422,
                "consent.analytics",
            ),
            (
                "consent",
                json!(null),
                400,
                "consent must be an object, not null",
            ),
            ("device", json!({"imei": "1"}), 422, "device.imei"),
            ("device", json!({"os": 1}), 400, "device.os"),
            (
                "device",
                json!({"os": null}),
                400,
                "device.os must be a string, not null",
            ),
            (
                "user_id",
                json!(null),
                400,
                "user_id must be a string, not null",
            ),
            (
                "policy",
                json!({"id": "p"}),
                400,
                "policy.revision is missing",
            ),
            (
                "policy",
                json!({"id": "p", "revision": 4294967296u64}),
                400,
                "policy.revision must be an integer from 0 to 4294967295",
            ),
            (
                "policy",
                json!({"id": "p", "revision": 1.5}),
                400,
                "policy.revision must be an integer",
            ),
            ("sdk", json!({"name": 1, "version": "1"}), 400, "sdk.name"),
            ("sdk", json!({"name": "c"}), 400, "sdk.version is missing"),
            ("email", json!("a@b"), 422, "email is not a field"),
            (
                "events",
                json!([{"seq": "1", "name": "a", "ts": "2025-01-01T00:00:00Z"}]),
                400,
                "events[0].seq must be an integer",
            ),
            ("events", json!([7]), 400, "events[0] must be an object"),
            (
                "events",
                json!([null]),
                400,
                "events[0] must be an object, not null",
            ),
            (
                "events",
                json!([{"seq": 1, "name": "a", "ts": "2025-01-01T00:00:00Z", "imei": "1"}]),
                422,
                "events[0].imei is not a field of the protocol",
            ),
            (
                "events",
                json!([{"seq": 1, "ts": "2025-01-01T00:00:00Z"}]),
                400,
                "events[0].name is missing",
            ),
            (
                "events",
                json!([{"seq": -1, "name": "a", "ts": "2025-01-01T00:00:00Z"}]),
                400,
                "events[0].seq must be an integer from 0",
            ),
            (
                "events",
                json!([{"seq": 1, "name": "1bad", "ts": "2025-01-01T00:00:00Z"}]),
                422,
                "events[0].name",
            ),
            (
                "events",
                json!([{"seq": 1, "name": "a", "ts": "2025-02-30T00:00:00Z"}]),
                400,
                "events[0].ts must be an RFC 3339",
            ),
            (
                "events",
                json!([{"seq": 1, "name": "a", "ts": "2025-01-01T00:00:00Z"}, {"seq": 1, "name": "a", "ts": "2025-01-01T00:00:00Z"}]),
                422,
                "events[1].seq 1 repeats",
            ),
            (
                "events",
                json!([{"seq": 1, "name": "a", "ts": "2025-01-01T00:00:00Z", "props": []}]),
                400,
                "events[0].props must be an object",
            ),
            (
                "events",
                json!([{"seq": 1, "name": "a", "ts": "2025-01-01T00:00:00Z", "props": null}]),
                400,
                "events[0].props must be an object, not null",
            ),
            (
                "events",
                json!([{"seq": 1, "name": "a", "ts": "2025-01-01T00:00:00Z", "props": {"pad": "x".repeat(17_000)}}]),
                422,
                "events[0].props is 17010 bytes; the limit is 16384",
            ),
        ];
        for (key, value, status, needle) in cases {
            let mut doc = full_batch();
            doc[key] = value;
            let err = batch(doc).expect_err(needle);
            assert_eq!(err.status(), status, "{needle}: {err:?}");
            assert!(err.message().contains(needle), "{needle}: {err:?}");
        }
    }

    #[test]
    fn every_required_batch_field_is_required() {
        for key in [
            "batch_id",
            "installation_id",
            "sent_at",
            "sdk",
            "app_version",
            "policy",
            "consent",
            "events",
        ] {
            let mut doc = full_batch();
            doc.as_object_mut().expect("object").remove(key);
            let err = batch(doc).expect_err(key);
            assert_eq!(err, Invalid::Malformed(format!("{key} is missing")));
        }
        for key in ["device", "advertising_id", "user_id"] {
            let mut doc = full_batch();
            doc.as_object_mut().expect("object").remove(key);
            batch(doc).unwrap_or_else(|e| panic!("{key} is optional: {e:?}"));
        }
    }

    #[test]
    fn props_nested_deeper_than_eight_levels_are_refused() {
        let mut deep = json!({"leaf": 1});
        for _ in 0..7 {
            deep = json!({"n": deep});
        }
        let mut doc = full_batch();
        doc["events"][0]["props"] = deep.clone();
        batch(doc).expect("8 levels are allowed");
        let mut doc = full_batch();
        doc["events"][0]["props"] = json!({"n": deep});
        let err = batch(doc).expect_err("9 levels");
        assert_eq!(err.status(), 422);
        assert!(err.message().contains("nested 9 levels"), "{err:?}");
    }

    #[test]
    fn repeated_keys_and_non_json_are_malformed() {
        let err = parse_batch(b"{nope").expect_err("not JSON");
        assert_eq!(err.status(), 400);
        assert!(err.message().contains("not valid JSON"));
        let err = parse_batch(b"[]").expect_err("not an object");
        assert!(err.message().contains("JSON object"));
        let doc = full_batch().to_string();
        let twice = doc.replacen('{', &format!("{{\"batch_id\":\"{B1}\","), 1);
        let err = parse_batch(twice.as_bytes()).expect_err("repeated key");
        assert_eq!(
            err,
            Invalid::Malformed("batch_id appears more than once".into())
        );
        let twice = doc.replacen("{\"name\":\"tap\"", "{\"name\":\"tap\",\"name\":\"x\"", 1);
        assert_ne!(twice, doc);
        let err = parse_batch(twice.as_bytes()).expect_err("repeated event key");
        assert_eq!(
            err,
            Invalid::Malformed("events[1].name appears more than once".into())
        );
    }

    #[test]
    fn escaped_strings_are_read_and_seq_is_a_json_integer() {
        let text = full_batch()
            .to_string()
            .replace("\"screen_view\"", "\"scr\\u0065en_view\"");
        assert!(text.contains("\\u0065"), "{text}");
        let b = parse_batch(text.as_bytes()).expect("escapes are fine");
        assert_eq!(b.events().next().map(|e| e.name), Some("screen_view"));
        let text = full_batch()
            .to_string()
            .replace("\"seq\":1,", "\"seq\":1.0,");
        let err = parse_batch(text.as_bytes()).expect_err("1.0 is not a JSON integer");
        assert!(
            err.message().contains("events[0].seq must be an integer"),
            "{err:?}"
        );
    }

    #[test]
    fn deletion_is_checked() {
        let other = "11111111-2222-4333-8444-555555555555";
        let ok = json!({"request_id": B1, "installation_ids": [I1, other, I1], "user_id": "u",
            "requested_at": "2025-03-02T08:30:00Z", "reason": "user_request",
            "policy": {"id": "p", "revision": 1}});
        let d = parse_deletion(ok.to_string().as_bytes()).expect("valid deletion");
        assert_eq!(d.installation_ids, [I1, other]);
        assert_eq!(d.user_id.as_deref(), Some("u"));

        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "installation_ids",
                json!([]),
                "installation_ids must not be empty",
            ),
            (
                "installation_ids",
                json!(["a"]),
                "installation_ids[0] must be a UUID",
            ),
            ("request_id", json!("r"), "request_id must be a UUID"),
            (
                "requested_at",
                json!(null),
                "requested_at must be a string, not null",
            ),
            ("reason", json!(1), "reason must be a string"),
            ("user_id", json!(null), "user_id must be a string, not null"),
        ];
        for (key, value, needle) in cases {
            let mut doc = ok.clone();
            doc[key] = value;
            let err = parse_deletion(doc.to_string().as_bytes()).expect_err(needle);
            assert_eq!(err.status(), 400, "{needle}");
            assert!(err.message().contains(needle), "{needle}: {err:?}");
        }
        for key in [
            "request_id",
            "installation_ids",
            "requested_at",
            "reason",
            "policy",
        ] {
            let mut doc = ok.clone();
            doc.as_object_mut().expect("object").remove(key);
            let err = parse_deletion(doc.to_string().as_bytes()).expect_err(key);
            assert_eq!(err, Invalid::Malformed(format!("{key} is missing")));
        }
        let mut doc = ok.clone();
        doc["email"] = json!("x");
        let err = parse_deletion(doc.to_string().as_bytes()).expect_err("unknown field");
        assert_eq!(err.status(), 422);
    }

    #[test]
    fn formats() {
        assert!(is_uuid(B1));
        assert!(is_uuid(&B1.to_uppercase()));
        assert!(!is_uuid("0b7e9f5c3a434f0e9a8e5f2d7c1b6a90"));
        assert!(!is_uuid("0b7e9f5c-3a43-4f0e-9a8e-5f2d7c1b6a9g"));
        for ok in [
            "2025-03-01T12:00:00Z",
            "2024-02-29T23:59:59.123456z",
            "2025-03-01t00:00:00+05:00",
            "2025-12-31T00:00:00-23:59",
        ] {
            assert!(is_date_time(ok), "{ok}");
        }
        for bad in [
            "2025-03-01",
            "2025-03-01 12:00:00Z",
            "2023-02-29T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-03-01T24:00:00Z",
            "2025-03-01T12:00:60Z",
            "2025-03-01T12:00:00",
            "2025-03-01T12:00:00.Z",
            "2025-03-01T12:00:00+0500",
            "2025-03-01T12:00:00Z ",
            "２０２５-03-01T12:00:00Z",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
    }

    #[test]
    fn event_names_follow_the_spec() {
        assert!(valid_event_name("screen_view"));
        assert!(valid_event_name("a.b-c_9"));
        assert!(valid_event_name(&"a".repeat(64)));
        assert!(!valid_event_name(&"a".repeat(65)));
        assert!(!valid_event_name(""));
        assert!(!valid_event_name("_x"));
        assert!(!valid_event_name("a b"));
    }
}
