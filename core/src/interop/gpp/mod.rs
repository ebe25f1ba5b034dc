//! IAB Global Privacy Platform strings (`Core/Consent String
//! Specification.md`): `header~section~section…`, the header listing the
//! section ids in the order the sections follow. Sections read here:
//! `tcfeuv2` (2, a TC string), `tcfcav1` (5), `uspv1` (6, a US Privacy
//! string), `usnat` (7, both layouts, GPC sub-section), `usca` (8), `usva`
//! (9). Any other section is kept as its text ([`GppSection::Other`]), so a
//! string round-trips and its other sections stay readable.
//!
//! [`decode`] fails on the first section that cannot be read, naming it in
//! the field path (`tcfcav1.core.…`), and still returns the header when that
//! decoded ([`GppDecodeError::header`]).

mod header;
mod keys;
mod mspa;
mod tcfca;
pub mod view;

use std::fmt;

use serde::Serialize;

pub use header::{decode_header, GppHeader, GPP_VERSION, HEADER_TYPE};
pub use keys::{in_app_keys, GppKeyOptions};
pub use mspa::{UsCa, UsNat, UsVa};
pub use tcfca::{CaPublisherPurposes, RangeRecord, TcfCaV1};

use super::error::{DecodeError, DecodeErrorKind, EncodeError, Position};
use super::tcf::{self, TcString};
use super::usp::{self, UsPrivacy};

/// A decoded GPP string: its sections, in header order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GppString {
    /// The sections, ids increasing.
    pub sections: Vec<GppSection>,
}

/// One discrete section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GppSection {
    /// 2: IAB TCF EU v2, a TC string.
    TcfEuV2(TcString),
    /// 5: IAB TCF Canada.
    TcfCaV1(TcfCaV1),
    /// 6: the US Privacy string.
    UspV1(UsPrivacy),
    /// 7: MSPA US National.
    UsNat(UsNat),
    /// 8: California.
    UsCa(UsCa),
    /// 9: Virginia.
    UsVa(UsVa),
    /// A section this module does not read, kept as written.
    Other {
        /// Its section id.
        id: u16,
        /// Its text.
        text: String,
    },
}

impl GppSection {
    /// The section id.
    pub fn id(&self) -> u16 {
        match self {
            GppSection::TcfEuV2(_) => 2,
            GppSection::TcfCaV1(_) => 5,
            GppSection::UspV1(_) => 6,
            GppSection::UsNat(_) => 7,
            GppSection::UsCa(_) => 8,
            GppSection::UsVa(_) => 9,
            GppSection::Other { id, .. } => *id,
        }
    }

    /// The section's client-side API prefix (`tcfeuv2`, `usnat`, …).
    pub fn name(&self) -> String {
        section_name(self.id())
    }
}

/// The API prefix of a section id ("Section Information.md"), or
/// `section<id>` for ids without one.
pub fn section_name(id: u16) -> String {
    const NAMES: [&str; 28] = [
        "", "tcfeuv1", "tcfeuv2", "", "", "tcfcav1", "uspv1", "usnat", "usca", "usva", "usco",
        "usut", "usct", "usfl", "usmt", "usor", "ustx", "usde", "usia", "usne", "usnh", "usnj",
        "ustn", "usmn", "usmd", "usin", "usky", "usri",
    ];
    match NAMES.get(usize::from(id)) {
        Some(name) if !name.is_empty() => (*name).to_string(),
        _ => format!("section{id}"),
    }
}

impl GppString {
    /// The header this string is written with.
    pub fn header(&self) -> GppHeader {
        GppHeader {
            version: GPP_VERSION,
            section_ids: self.sections.iter().map(GppSection::id).collect(),
        }
    }

    /// The TCF EU section, if present.
    pub fn tcf_eu(&self) -> Option<&TcString> {
        self.sections.iter().find_map(|s| match s {
            GppSection::TcfEuV2(tc) => Some(tc),
            _ => None,
        })
    }
}

/// A GPP string that could not be decoded: the error, and the header when
/// it decoded (the failure was in a section).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GppDecodeError {
    /// The header, if it decoded.
    pub header: Option<GppHeader>,
    /// What could not be read.
    pub error: DecodeError,
}

impl fmt::Display for GppDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for GppDecodeError {}

/// Decodes a GPP string.
pub fn decode(text: &str) -> Result<GppString, GppDecodeError> {
    let mut parts = text.split('~');
    let header =
        decode_header(parts.next().unwrap_or_default()).map_err(|error| GppDecodeError {
            header: None,
            error,
        })?;
    let texts: Vec<&str> = parts.collect();
    let fail = |error| GppDecodeError {
        header: Some(header.clone()),
        error,
    };
    if texts.len() != header.section_ids.len() {
        return Err(fail(DecodeError::new(
            "sections",
            Position::Whole,
            DecodeErrorKind::Structure,
            format!(
                "the header lists {} section(s) {:?}, the string has {}",
                header.section_ids.len(),
                header.section_ids,
                texts.len()
            ),
        )));
    }
    let mut sections = Vec::with_capacity(texts.len());
    for (&id, &section_text) in header.section_ids.iter().zip(&texts) {
        sections.push(decode_section(id, section_text).map_err(fail)?);
    }
    Ok(GppString { sections })
}

/// One section's text as the section `id`.
fn decode_section(id: u16, text: &str) -> Result<GppSection, DecodeError> {
    let name = section_name(id);
    if text.is_empty() {
        return Err(DecodeError::new(
            name,
            Position::Whole,
            DecodeErrorKind::Structure,
            "the section is empty",
        ));
    }
    Ok(match id {
        2 => GppSection::TcfEuV2(tcf::decode(text).map_err(|e| e.within(&name))?),
        5 => GppSection::TcfCaV1(TcfCaV1::decode(text)?),
        6 => GppSection::UspV1(usp::decode_as(text, &name)?),
        7 => GppSection::UsNat(UsNat::decode(text)?),
        8 => GppSection::UsCa(UsCa::decode(text)?),
        9 => GppSection::UsVa(UsVa::decode(text)?),
        _ => GppSection::Other {
            id,
            text: text.to_string(),
        },
    })
}

/// Encodes `gpp`: the header, then each section, joined with `~`. Section
/// ids must increase; a kept [`GppSection::Other`] text may not hold `~`.
pub fn encode(gpp: &GppString) -> Result<String, EncodeError> {
    let mut out = header::encode_header(&gpp.header().section_ids)?;
    for section in &gpp.sections {
        out.push('~');
        out.push_str(&match section {
            GppSection::TcfEuV2(tc) => tcf::encode(tc).map_err(|e| e.within(&section.name()))?,
            GppSection::TcfCaV1(ca) => ca.encode()?,
            GppSection::UspV1(u) => usp::encode(u),
            GppSection::UsNat(s) => s.encode()?,
            GppSection::UsCa(s) => s.encode()?,
            GppSection::UsVa(s) => s.encode()?,
            GppSection::Other { id, text } => {
                if text.is_empty() || text.contains('~') {
                    return Err(EncodeError::new(
                        section_name(*id),
                        "a kept section's text must be non-empty and hold no ~",
                    ));
                }
                text.clone()
            }
        });
    }
    Ok(out)
}
