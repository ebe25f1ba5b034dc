//! The core segment of a TC string, field by field (offsets as in the spec's
//! table: Version 0–5 … PublisherCC 201–212, then the vendor consent section
//! at bit 213, the vendor LI section and the publisher restrictions). Letters
//! (ConsentLanguage, PublisherCC) are 6 bits each, A = 0 … Z = 25.

use super::vendors::{read_restrictions, write_restrictions, VendorSection};
use super::{TcString, VERSION};
use crate::interop::bits::{BitReader, BitWriter};
use crate::interop::error::{DecodeError, DecodeErrorKind, EncodeError};

/// Reads the core segment's bits.
pub(super) fn read(bits: &[bool]) -> Result<TcString, DecodeError> {
    let mut r = BitReader::new(bits, "core");
    let version = r.u8(6, "version")?;
    if version != VERSION {
        let detail = if version == 1 {
            "a TCF v1 consent string (version 1); only TCF v2 strings (starting with C) are read"
                .to_string()
        } else {
            format!("version {version}; a TCF v2 string has version 2 (it starts with C)")
        };
        let kind = if version == 1 {
            DecodeErrorKind::Unsupported
        } else {
            DecodeErrorKind::BadValue
        };
        return Err(r.error(0, "version", kind, detail));
    }
    Ok(TcString {
        created_ds: r.int(36, "created")?,
        last_updated_ds: r.int(36, "last_updated")?,
        cmp_id: r.u16(12, "cmp_id")?,
        cmp_version: r.u16(12, "cmp_version")?,
        consent_screen: r.u8(6, "consent_screen")?,
        consent_language: read_letters(&mut r, "consent_language")?,
        vendor_list_version: r.u16(12, "vendor_list_version")?,
        tcf_policy_version: r.u8(6, "tcf_policy_version")?,
        is_service_specific: r.flag("is_service_specific")?,
        use_non_standard_texts: r.flag("use_non_standard_texts")?,
        special_feature_opt_ins: r.small_ids(12, "special_feature_opt_ins")?,
        purposes_consent: r.small_ids(24, "purposes_consent")?,
        purposes_li_transparency: r.small_ids(24, "purposes_li_transparency")?,
        purpose_one_treatment: r.flag("purpose_one_treatment")?,
        publisher_cc: read_letters(&mut r, "publisher_cc")?,
        vendor_consents: VendorSection::read(&mut r, "vendor_consents")?,
        vendor_legitimate_interests: VendorSection::read(&mut r, "vendor_legitimate_interests")?,
        publisher_restrictions: read_restrictions(&mut r, "publisher_restrictions")?,
        segments: Vec::new(),
    })
}

/// The core segment's bits (before padding).
pub(super) fn write(tc: &TcString) -> Result<Vec<bool>, EncodeError> {
    let mut w = BitWriter::new("core");
    w.int(u64::from(VERSION), 6, "version")?;
    w.int(tc.created_ds, 36, "created")?;
    w.int(tc.last_updated_ds, 36, "last_updated")?;
    w.int(u64::from(tc.cmp_id), 12, "cmp_id")?;
    w.int(u64::from(tc.cmp_version), 12, "cmp_version")?;
    w.int(u64::from(tc.consent_screen), 6, "consent_screen")?;
    write_letters(&mut w, &tc.consent_language, "consent_language")?;
    w.int(u64::from(tc.vendor_list_version), 12, "vendor_list_version")?;
    w.int(u64::from(tc.tcf_policy_version), 6, "tcf_policy_version")?;
    w.flag(tc.is_service_specific);
    w.flag(tc.use_non_standard_texts);
    w.ids(&tc.special_feature_opt_ins, 12, "special_feature_opt_ins")?;
    w.ids(&tc.purposes_consent, 24, "purposes_consent")?;
    w.ids(&tc.purposes_li_transparency, 24, "purposes_li_transparency")?;
    w.flag(tc.purpose_one_treatment);
    write_letters(&mut w, &tc.publisher_cc, "publisher_cc")?;
    tc.vendor_consents.write(&mut w, "vendor_consents")?;
    tc.vendor_legitimate_interests
        .write(&mut w, "vendor_legitimate_interests")?;
    write_restrictions(&mut w, &tc.publisher_restrictions, "publisher_restrictions")?;
    Ok(w.into_bits())
}

/// Two letters of 6 bits each (A = 0 … Z = 25).
pub(crate) fn read_letters(r: &mut BitReader<'_>, field: &str) -> Result<String, DecodeError> {
    let at = r.position();
    let mut out = String::with_capacity(2);
    for _ in 0..2 {
        let code = r.u8(6, field)?;
        if code > 25 {
            return Err(r.error(
                at,
                field,
                DecodeErrorKind::BadValue,
                format!("{code} is not a letter (A = 0 … Z = 25)"),
            ));
        }
        out.push(char::from(b'A' + code));
    }
    Ok(out)
}

/// Writes two capital letters A–Z.
pub(crate) fn write_letters(
    w: &mut BitWriter<'_>,
    text: &str,
    field: &str,
) -> Result<(), EncodeError> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 || !bytes.iter().all(u8::is_ascii_uppercase) {
        return Err(w.error(field, format!("{text:?} is not two capital letters A-Z")));
    }
    for &b in bytes {
        w.int(u64::from(b - b'A'), 6, field)?;
    }
    Ok(())
}
