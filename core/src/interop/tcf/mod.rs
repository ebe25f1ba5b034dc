//! IAB TCF v2 TC strings ("Consent string and vendor list formats v2", final
//! v2.2 with the v2.3 change): the model ([`TcString`]), [`decode`] and
//! [`encode`], the TCF 2.2/2.3 validity rules ([`check`]), the in-app
//! `IABTCF_*` keys ([`in_app_keys`]) and the JSON the CLI prints ([`view`]).
//!
//! A TC string is `core[.segment]…`: the core segment first, then any of
//! DisclosedVendors (type 1), the deprecated AllowedVendors (type 2, read and
//! kept so a string round-trips, used by nothing) and PublisherTC (type 3), in
//! any order. The model records the string as written (range or bitfield
//! form, the MaxVendorId fields, the segment order), so [`encode`] of a
//! decoded string gives the same bits back; [`VendorSection::from_vendors`]
//! is where a writer lets the encoder choose the shorter form.
//!
//! Only a registered CMP may create or alter a TC string (TCF policy); this
//! module has the encoder so that consentgate can be that CMP when the app
//! has a CMP id, and for tests.

pub(crate) mod core;
mod keys;
mod segments;
mod validity;
pub(crate) mod vendors;
pub mod view;

use serde::Serialize;

pub use keys::{in_app_keys, TcfKeyOptions};
pub use validity::{check, TcfFinding};
pub use vendors::{PublisherRestriction, RestrictionType, VendorSection};

use super::base64url::{self, Padding};
use super::error::{DecodeError, DecodeErrorKind, EncodeError, Position};

/// The encoding version of every TC string read or written here (TCF v2).
pub const VERSION: u8 = 2;

/// A decoded TC string: the core segment's fields, then the segments after
/// it in the order they were written. Id lists are 1-based, increasing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcString {
    /// Created, in deciseconds since the epoch (a day since TCF 2.2).
    pub created_ds: u64,
    /// LastUpdated, in deciseconds since the epoch.
    pub last_updated_ds: u64,
    /// The registered id of the CMP that last updated the string.
    pub cmp_id: u16,
    /// That CMP's version.
    pub cmp_version: u16,
    /// The CMP's screen number at which consent was given.
    pub consent_screen: u8,
    /// ISO 639-1 language of the CMP UI, two capital letters (`EN`).
    pub consent_language: String,
    /// Version of the Global Vendor List used.
    pub vendor_list_version: u16,
    /// TCF policy version (4 from TCF 2.2 on).
    pub tcf_policy_version: u8,
    /// Service-specific; must be true (a global-scope string is invalid).
    pub is_service_specific: bool,
    /// The CMP used non-standard texts (formerly UseNonStandardStacks).
    pub use_non_standard_texts: bool,
    /// Special features opted in (1–12).
    pub special_feature_opt_ins: Vec<u8>,
    /// Purposes consented to (1–24).
    pub purposes_consent: Vec<u8>,
    /// Purposes with legitimate interest established (1–24).
    pub purposes_li_transparency: Vec<u8>,
    /// Purpose 1 was not disclosed (special jurisdiction treatment).
    pub purpose_one_treatment: bool,
    /// ISO 3166-1 alpha-2 country of the publisher, two capital letters.
    pub publisher_cc: String,
    /// Vendors with consent.
    pub vendor_consents: VendorSection,
    /// Vendors with legitimate interest established.
    pub vendor_legitimate_interests: VendorSection,
    /// Publisher restrictions, in string order.
    pub publisher_restrictions: Vec<PublisherRestriction>,
    /// The segments after the core, in string order (each type at most once).
    pub segments: Vec<TcSegment>,
}

/// A segment after the core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TcSegment {
    /// Type 1: the vendors the CMP disclosed to the user (mandatory in 2.3).
    DisclosedVendors(VendorSection),
    /// Type 2: AllowedVendors, deprecated with global scope; kept, not used.
    AllowedVendors(VendorSection),
    /// Type 3: the publisher's own purposes.
    PublisherTc(PublisherTc),
}

impl TcSegment {
    /// The 3-bit SegmentType this segment is written with.
    pub fn segment_type(&self) -> u8 {
        match self {
            TcSegment::DisclosedVendors(_) => 1,
            TcSegment::AllowedVendors(_) => 2,
            TcSegment::PublisherTc(_) => 3,
        }
    }

    /// Its name in field paths of errors.
    fn name(segment_type: u8) -> &'static str {
        match segment_type {
            1 => "disclosed_vendors",
            2 => "allowed_vendors",
            _ => "publisher_tc",
        }
    }
}

/// The PublisherTC segment: the publisher's purposes and custom purposes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PublisherTc {
    /// Publisher purposes consented to (1–24).
    pub purposes_consent: Vec<u8>,
    /// Publisher purposes with legitimate interest established (1–24).
    pub purposes_li_transparency: Vec<u8>,
    /// How many custom purposes the publisher defines (0–63).
    pub num_custom_purposes: u8,
    /// Custom purposes consented to (1..=num_custom_purposes).
    pub custom_purposes_consent: Vec<u8>,
    /// Custom purposes with legitimate interest (1..=num_custom_purposes).
    pub custom_purposes_li_transparency: Vec<u8>,
}

impl TcString {
    /// The DisclosedVendors segment, if present.
    pub fn disclosed_vendors(&self) -> Option<&VendorSection> {
        self.segments.iter().find_map(|s| match s {
            TcSegment::DisclosedVendors(v) => Some(v),
            _ => None,
        })
    }

    /// The PublisherTC segment, if present.
    pub fn publisher_tc(&self) -> Option<&PublisherTc> {
        self.segments.iter().find_map(|s| match s {
            TcSegment::PublisherTc(p) => Some(p),
            _ => None,
        })
    }
}

/// Decodes a TC string. A string that breaks a TCF policy rule but can be
/// read decodes; [`check`] names the rules it breaks.
pub fn decode(text: &str) -> Result<TcString, DecodeError> {
    let mut parts = text.split('.');
    let core_text = parts.next().unwrap_or_default();
    if core_text.is_empty() {
        return Err(DecodeError::new(
            "core",
            Position::Whole,
            DecodeErrorKind::Structure,
            "the string is empty: a TC string starts with its core segment",
        ));
    }
    let mut tc = core::read(&base64url::decode(core_text, "core")?)?;
    for (index, part) in parts.enumerate() {
        let place = format!("segment {}", index + 2);
        let bits = base64url::decode(part, &place)?;
        let segment = segments::read(&bits, &place)?;
        if tc
            .segments
            .iter()
            .any(|s| s.segment_type() == segment.segment_type())
        {
            return Err(DecodeError::new(
                TcSegment::name(segment.segment_type()),
                Position::Whole,
                DecodeErrorKind::Structure,
                format!("{place} repeats a segment of this type"),
            ));
        }
        tc.segments.push(segment);
    }
    Ok(tc)
}

/// Encodes `tc` as the IAB reference encoder does: each segment padded with
/// zero bits to a multiple of 24, never an `=`.
pub fn encode(tc: &TcString) -> Result<String, EncodeError> {
    let mut out = base64url::encode(core::write(tc)?, Padding::To24);
    for segment in &tc.segments {
        if tc
            .segments
            .iter()
            .filter(|s| s.segment_type() == segment.segment_type())
            .count()
            > 1
        {
            return Err(EncodeError::new(
                TcSegment::name(segment.segment_type()),
                "a TC string holds each segment type at most once",
            ));
        }
        out.push('.');
        out.push_str(&base64url::encode(segments::write(segment)?, Padding::To24));
    }
    Ok(out)
}
