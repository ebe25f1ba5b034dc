//! The GPP header (Consent String Specification, "Header Encoding"): Type
//! Int(6) = 3, Version Int(6) = 1, Sections Range(Fibonacci), the section
//! ids in the order the sections follow. Read in either padding: the spec's
//! to 6 bits (`DBABM`) or iabgpp-es's to 8 then 6 (`DBABMA`).

use serde::Serialize;

use crate::interop::base64url::{self, Padding};
use crate::interop::bits::{BitReader, BitWriter};
use crate::interop::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::interop::fibonacci::{read_range, write_range};

/// The Type field of every GPP header ("GPP Header field").
pub const HEADER_TYPE: u8 = 3;

/// The GPP specification version read and written (1).
pub const GPP_VERSION: u8 = 1;

/// A decoded GPP header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GppHeader {
    /// GPP version (1).
    pub version: u8,
    /// The section ids, increasing, in the order the sections follow.
    pub section_ids: Vec<u16>,
}

/// Decodes the header's text (the part before the first `~`).
pub fn decode_header(text: &str) -> Result<GppHeader, DecodeError> {
    let bits = base64url::decode(text, "header")?;
    let mut r = BitReader::new(&bits, "header");
    let kind = r.u8(6, "type")?;
    if kind != HEADER_TYPE {
        return Err(r.error(
            0,
            "type",
            DecodeErrorKind::BadValue,
            format!("{kind}; a GPP header has type 3 (a GPP string starts with D)"),
        ));
    }
    let version = r.u8(6, "version")?;
    if version != GPP_VERSION {
        return Err(r.error(
            6,
            "version",
            DecodeErrorKind::Unsupported,
            format!("GPP version {version}; version 1 is read"),
        ));
    }
    Ok(GppHeader {
        version,
        section_ids: read_range(&mut r, "section_ids")?,
    })
}

/// The header for `section_ids` (increasing), padded as iabgpp-es pads it.
pub(super) fn encode_header(section_ids: &[u16]) -> Result<String, EncodeError> {
    let mut w = BitWriter::new("header");
    w.int(u64::from(HEADER_TYPE), 6, "type")?;
    w.int(u64::from(GPP_VERSION), 6, "version")?;
    write_range(&mut w, section_ids, "section_ids")?;
    Ok(base64url::encode(w.into_bits(), Padding::To8Then6))
}
