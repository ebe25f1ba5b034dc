//! Why a consent string could not be read or written. A [`DecodeError`] names
//! the field (a dotted path starting with the segment or section, e.g.
//! `core.vendor_consents.max_vendor_id` or `usnat.gpc`) and where in that
//! segment it went wrong: a bit offset counted from the start of the named
//! segment (each `.`- or `~`-separated part is its own bit string), or a
//! character offset for text that is not base64url. Breaking a TCF policy
//! rule is not a decode error (see `tcf::check`).

use std::fmt;

use serde::Serialize;

/// Where in a segment a decode error was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// Bit offset from the start of the segment named by the field.
    Bit(u32),
    /// Character offset (from 0) in the text of the segment named by the field.
    Character(u32),
    /// The segment or string as a whole (a missing or repeated segment).
    Whole,
}

/// What kind of problem a [`DecodeError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecodeErrorKind {
    /// The bits ran out before the field did.
    StringEnds,
    /// A character outside the base64url alphabet (`A–Z a–z 0–9 - _`).
    NotBase64url,
    /// The field holds a value the format does not allow.
    BadValue,
    /// A version or section this decoder does not read.
    Unsupported,
    /// Segments or sections missing, repeated or not matching the header.
    Structure,
}

/// A consent string that cannot be decoded, with the field and offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecodeError {
    /// Dotted path of the field, starting with the segment or section name.
    pub field: String,
    /// Where in that segment.
    pub position: Position,
    /// The kind of problem.
    pub kind: DecodeErrorKind,
    /// What was found, for a person (`16 bits needed, 3 left`).
    pub detail: String,
}

impl DecodeError {
    /// An error at `position` in `field`.
    pub(crate) fn new(
        field: impl Into<String>,
        position: Position,
        kind: DecodeErrorKind,
        detail: impl Into<String>,
    ) -> Self {
        DecodeError {
            field: field.into(),
            position,
            kind,
            detail: detail.into(),
        }
    }

    /// The same error, its field path prefixed with `prefix.` (a GPP
    /// section name in front of a TC string's own paths).
    pub(crate) fn within(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            DecodeErrorKind::StringEnds => "string ends",
            DecodeErrorKind::NotBase64url => "not base64url",
            DecodeErrorKind::BadValue => "bad value",
            DecodeErrorKind::Unsupported => "unsupported",
            DecodeErrorKind::Structure => "malformed",
        };
        match self.position {
            Position::Bit(bit) => write!(f, "{} at bit {bit}: {what}", self.field)?,
            Position::Character(c) => write!(f, "{} at character {c}: {what}", self.field)?,
            Position::Whole => write!(f, "{}: {what}", self.field)?,
        }
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

/// A model that cannot be written as a consent string (a value too wide for
/// its field, an id out of range, ids not in increasing order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EncodeError {
    /// Dotted path of the field, as in [`DecodeError::field`].
    pub field: String,
    /// What is wrong with its value.
    pub detail: String,
}

impl EncodeError {
    pub(crate) fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        EncodeError {
            field: field.into(),
            detail: detail.into(),
        }
    }

    /// The same error, its field path prefixed with `prefix.` (as
    /// [`DecodeError::within`]).
    pub(crate) fn within(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.detail)
    }
}

impl std::error::Error for EncodeError {}
