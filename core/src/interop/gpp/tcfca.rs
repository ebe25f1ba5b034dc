//! TCF Canada (`tcfcav1`, GPP section 5, "IAB Canada TCF Technical
//! Specification"): a core sub-section (express and implied consent for
//! purposes and vendors, publisher restrictions), an optional publisher
//! purposes sub-section (type 3) and an optional disclosed vendors
//! sub-section (type 1). Vendor lists are OptimizedRange (Fibonacci) and
//! restrictions N-ArrayOfRanges(6,2).
//!
//! Older iabgpp-es encoders wrote the vendor lists with fixed 16-bit ranges
//! instead; like iabgpp-es 3.2, a sub-section is read the specified way
//! first, and the old way when only that re-encodes to the same bits.
//! Encoding always writes the specified form.

use serde::Serialize;

use crate::interop::base64url::{self, Padding};
use crate::interop::bits::{BitReader, BitWriter};
use crate::interop::error::{DecodeError, DecodeErrorKind, EncodeError, Position};
use crate::interop::fibonacci::{
    read_optimized_range, read_optimized_range_with, write_optimized_range,
    write_optimized_range_with,
};
use crate::interop::tcf::core::{read_letters, write_letters};
use crate::interop::tcf::vendors::{read_entries, write_entries};

/// One record of an N-ArrayOfRanges: a key (the purpose), a type (the
/// restriction) and ids (the vendors). Serialises as the GPP API does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RangeRecord {
    /// The purpose id the publisher restricts.
    pub key: u8,
    /// The restriction (0 not allowed, 1 express consent, 2 implied consent).
    #[serde(rename = "type")]
    pub restriction_type: u8,
    /// The vendors restricted, increasing.
    pub ids: Vec<u16>,
}

/// The publisher purposes sub-section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CaPublisherPurposes {
    /// Publisher purposes with express consent (1–24).
    pub purposes_express_consent: Vec<u8>,
    /// Publisher purposes with implied consent (1–24).
    pub purposes_implied_consent: Vec<u8>,
    /// How many custom purposes (0–63).
    pub num_custom_purposes: u8,
    /// Custom purposes with express consent.
    pub custom_purposes_express_consent: Vec<u8>,
    /// Custom purposes with implied consent.
    pub custom_purposes_implied_consent: Vec<u8>,
}

/// A decoded `tcfcav1` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcfCaV1 {
    /// Version of the section as written (1).
    pub version: u8,
    /// Created, deciseconds since the epoch.
    pub created_ds: u64,
    /// LastUpdated, deciseconds since the epoch.
    pub last_updated_ds: u64,
    /// The CMP's id.
    pub cmp_id: u16,
    /// The CMP's version.
    pub cmp_version: u16,
    /// The CMP screen consent was given on.
    pub consent_screen: u8,
    /// ISO 639-1 language, two capital letters.
    pub consent_language: String,
    /// GVL version.
    pub vendor_list_version: u16,
    /// TCF Canada policy version.
    pub tcf_policy_version: u8,
    /// Non-standard stacks were used.
    pub use_non_standard_stacks: bool,
    /// Special features with express consent (1–12).
    pub special_feature_express_consent: Vec<u8>,
    /// Purposes with express consent (1–24).
    pub purposes_express_consent: Vec<u8>,
    /// Purposes with implied consent (1–24).
    pub purposes_implied_consent: Vec<u8>,
    /// Vendors with express consent.
    pub vendor_express_consent: Vec<u16>,
    /// Vendors with implied consent.
    pub vendor_implied_consent: Vec<u16>,
    /// Publisher restrictions.
    pub pub_restrictions: Vec<RangeRecord>,
    /// The publisher purposes sub-section, when present.
    pub publisher_purposes: Option<CaPublisherPurposes>,
    /// The disclosed vendors sub-section, when present.
    pub disclosed_vendors: Option<Vec<u16>>,
}

/// How a sub-section's vendor lists are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// As specified: OptimizedRange with Fibonacci ranges.
    Fibonacci,
    /// As older iabgpp-es wrote them: fixed 16-bit ranges.
    FixedRange,
}

/// A vendor list: OptimizedRange, its ranges Fibonacci-coded or (the old
/// way) 16-bit entries as in a TC string.
fn read_ids(r: &mut BitReader<'_>, form: Form, field: &str) -> Result<Vec<u16>, DecodeError> {
    match form {
        Form::Fibonacci => read_optimized_range(r, field),
        Form::FixedRange => read_optimized_range_with(r, field, read_entries),
    }
}

fn write_ids(
    w: &mut BitWriter<'_>,
    ids: &[u16],
    form: Form,
    field: &str,
) -> Result<(), EncodeError> {
    match form {
        Form::Fibonacci => write_optimized_range(w, ids, field),
        Form::FixedRange => write_optimized_range_with(w, ids, field, write_entries),
    }
}

fn read_records(r: &mut BitReader<'_>, form: Form) -> Result<Vec<RangeRecord>, DecodeError> {
    let count = r.int(12, "pub_restrictions.num_entries")?;
    (0..count)
        .map(|i| {
            let entry = format!("pub_restrictions[{i}]");
            let key = r.u8(6, &format!("{entry}.key"))?;
            let restriction_type = r.u8(2, &format!("{entry}.type"))?;
            let ids = match form {
                Form::Fibonacci => read_optimized_range(r, &format!("{entry}.ids"))?,
                Form::FixedRange => read_entries(r, &format!("{entry}.ids"))?,
            };
            Ok(RangeRecord {
                key,
                restriction_type,
                ids,
            })
        })
        .collect()
}

fn write_records(
    w: &mut BitWriter<'_>,
    records: &[RangeRecord],
    form: Form,
) -> Result<(), EncodeError> {
    w.int(records.len() as u64, 12, "pub_restrictions.num_entries")?;
    for (i, record) in records.iter().enumerate() {
        let entry = format!("pub_restrictions[{i}]");
        w.int(u64::from(record.key), 6, &format!("{entry}.key"))?;
        w.int(
            u64::from(record.restriction_type),
            2,
            &format!("{entry}.type"),
        )?;
        match form {
            Form::Fibonacci => write_optimized_range(w, &record.ids, &format!("{entry}.ids"))?,
            Form::FixedRange => write_entries(w, &record.ids, &format!("{entry}.ids"))?,
        }
    }
    Ok(())
}

/// Reads `bits` the specified way, or the old way when only that re-encodes
/// to a prefix of them; failing both, the specified way's error.
fn interpret<T>(
    bits: &[bool],
    read: impl Fn(&[bool], Form) -> Result<T, DecodeError>,
    write: impl Fn(&T, Form) -> Result<Vec<bool>, EncodeError>,
) -> Result<T, DecodeError> {
    for form in [Form::Fibonacci, Form::FixedRange] {
        if let Ok(value) = read(bits, form) {
            if write(&value, form).is_ok_and(|again| bits.starts_with(&again)) {
                return Ok(value);
            }
        }
    }
    read(bits, Form::Fibonacci)
}

/// The core sub-section's fields, without the optional sub-sections.
fn read_core(bits: &[bool], form: Form) -> Result<TcfCaV1, DecodeError> {
    let mut r = BitReader::new(bits, "tcfcav1.core");
    Ok(TcfCaV1 {
        version: r.u8(6, "version")?,
        created_ds: r.int(36, "created")?,
        last_updated_ds: r.int(36, "last_updated")?,
        cmp_id: r.u16(12, "cmp_id")?,
        cmp_version: r.u16(12, "cmp_version")?,
        consent_screen: r.u8(6, "consent_screen")?,
        consent_language: read_letters(&mut r, "consent_language")?,
        vendor_list_version: r.u16(12, "vendor_list_version")?,
        tcf_policy_version: r.u8(6, "tcf_policy_version")?,
        use_non_standard_stacks: r.flag("use_non_standard_stacks")?,
        special_feature_express_consent: r.small_ids(12, "special_feature_express_consent")?,
        purposes_express_consent: r.small_ids(24, "purposes_express_consent")?,
        purposes_implied_consent: r.small_ids(24, "purposes_implied_consent")?,
        vendor_express_consent: read_ids(&mut r, form, "vendor_express_consent")?,
        vendor_implied_consent: read_ids(&mut r, form, "vendor_implied_consent")?,
        pub_restrictions: read_records(&mut r, form)?,
        publisher_purposes: None,
        disclosed_vendors: None,
    })
}

fn write_core(ca: &TcfCaV1, form: Form) -> Result<Vec<bool>, EncodeError> {
    let mut w = BitWriter::new("tcfcav1.core");
    w.int(u64::from(ca.version), 6, "version")?;
    w.int(ca.created_ds, 36, "created")?;
    w.int(ca.last_updated_ds, 36, "last_updated")?;
    w.int(u64::from(ca.cmp_id), 12, "cmp_id")?;
    w.int(u64::from(ca.cmp_version), 12, "cmp_version")?;
    w.int(u64::from(ca.consent_screen), 6, "consent_screen")?;
    write_letters(&mut w, &ca.consent_language, "consent_language")?;
    w.int(u64::from(ca.vendor_list_version), 12, "vendor_list_version")?;
    w.int(u64::from(ca.tcf_policy_version), 6, "tcf_policy_version")?;
    w.flag(ca.use_non_standard_stacks);
    w.ids(
        &ca.special_feature_express_consent,
        12,
        "special_feature_express_consent",
    )?;
    w.ids(&ca.purposes_express_consent, 24, "purposes_express_consent")?;
    w.ids(&ca.purposes_implied_consent, 24, "purposes_implied_consent")?;
    write_ids(
        &mut w,
        &ca.vendor_express_consent,
        form,
        "vendor_express_consent",
    )?;
    write_ids(
        &mut w,
        &ca.vendor_implied_consent,
        form,
        "vendor_implied_consent",
    )?;
    write_records(&mut w, &ca.pub_restrictions, form)?;
    Ok(w.into_bits())
}

fn read_publisher(bits: &[bool]) -> Result<CaPublisherPurposes, DecodeError> {
    let mut r = BitReader::new(bits, "tcfcav1.publisher_purposes");
    r.u8(3, "segment_type")?;
    let purposes_express_consent = r.small_ids(24, "pub_purposes_express_consent")?;
    let purposes_implied_consent = r.small_ids(24, "pub_purposes_implied_consent")?;
    let num_custom_purposes = r.u8(6, "num_custom_purposes")?;
    let n = usize::from(num_custom_purposes);
    Ok(CaPublisherPurposes {
        purposes_express_consent,
        purposes_implied_consent,
        num_custom_purposes,
        custom_purposes_express_consent: r.small_ids(n, "custom_purposes_express_consent")?,
        custom_purposes_implied_consent: r.small_ids(n, "custom_purposes_implied_consent")?,
    })
}

fn write_publisher(p: &CaPublisherPurposes) -> Result<Vec<bool>, EncodeError> {
    let mut w = BitWriter::new("tcfcav1.publisher_purposes");
    w.int(3, 3, "segment_type")?;
    w.ids(
        &p.purposes_express_consent,
        24,
        "pub_purposes_express_consent",
    )?;
    w.ids(
        &p.purposes_implied_consent,
        24,
        "pub_purposes_implied_consent",
    )?;
    w.int(u64::from(p.num_custom_purposes), 6, "num_custom_purposes")?;
    let n = usize::from(p.num_custom_purposes);
    w.ids(
        &p.custom_purposes_express_consent,
        n,
        "custom_purposes_express_consent",
    )?;
    w.ids(
        &p.custom_purposes_implied_consent,
        n,
        "custom_purposes_implied_consent",
    )?;
    Ok(w.into_bits())
}

fn read_disclosed(bits: &[bool], form: Form) -> Result<Vec<u16>, DecodeError> {
    let mut r = BitReader::new(bits, "tcfcav1.disclosed_vendors");
    r.u8(3, "segment_type")?;
    read_ids(&mut r, form, "disclosed_vendors")
}

fn write_disclosed(ids: &[u16], form: Form) -> Result<Vec<bool>, EncodeError> {
    let mut w = BitWriter::new("tcfcav1.disclosed_vendors");
    w.int(1, 3, "segment_type")?;
    write_ids(&mut w, ids, form, "disclosed_vendors")?;
    Ok(w.into_bits())
}

impl TcfCaV1 {
    pub(crate) fn decode(text: &str) -> Result<Self, DecodeError> {
        let mut parts = text.split('.');
        let core_bits = base64url::decode(parts.next().unwrap_or_default(), "tcfcav1.core")?;
        let mut ca = interpret(&core_bits, read_core, write_core)?;
        for (i, part) in parts.enumerate() {
            let place = format!("tcfcav1.subsection {}", i + 2);
            let bits = base64url::decode(part, &place)?;
            let mut head = BitReader::new(&bits, &place);
            let kind = head.u8(3, "segment_type")?;
            let repeated = || {
                DecodeError::new(
                    &place,
                    Position::Whole,
                    DecodeErrorKind::Structure,
                    "repeats a sub-section",
                )
            };
            match kind {
                3 if ca.publisher_purposes.is_none() => ca.publisher_purposes = Some(read_publisher(&bits)?),
                1 if ca.disclosed_vendors.is_none() => {
                    ca.disclosed_vendors = Some(interpret(&bits, read_disclosed, |ids, form| write_disclosed(ids, form))?)
                }
                1 | 3 => return Err(repeated()),
                other => {
                    return Err(head.error(
                        0,
                        "segment_type",
                        DecodeErrorKind::BadValue,
                        format!("{other}; tcfcav1 sub-sections are 1 (disclosed vendors) and 3 (publisher purposes)"),
                    ))
                }
            }
        }
        Ok(ca)
    }

    pub(crate) fn encode(&self) -> Result<String, EncodeError> {
        let mut out = base64url::encode(write_core(self, Form::Fibonacci)?, Padding::To8Then6);
        if let Some(p) = &self.publisher_purposes {
            out.push('.');
            out.push_str(&base64url::encode(write_publisher(p)?, Padding::To8Then6));
        }
        if let Some(d) = &self.disclosed_vendors {
            out.push('.');
            out.push_str(&base64url::encode(
                write_disclosed(d, Form::Fibonacci)?,
                Padding::To8Then6,
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_the_old_encoders_wrote_is_read_the_old_way() {
        let ca = TcfCaV1 {
            version: 1,
            created_ds: 16_409_952_000,
            last_updated_ds: 16_409_952_000,
            cmp_id: 7,
            cmp_version: 2,
            consent_screen: 1,
            consent_language: "FR".into(),
            vendor_list_version: 40,
            tcf_policy_version: 1,
            use_non_standard_stacks: false,
            special_feature_express_consent: vec![1],
            purposes_express_consent: vec![1, 2, 3],
            purposes_implied_consent: vec![4],
            vendor_express_consent: (1..=300).collect(),
            vendor_implied_consent: vec![2, 5, 7],
            pub_restrictions: vec![RangeRecord {
                key: 2,
                restriction_type: 1,
                ids: vec![10, 11, 12, 900],
            }],
            publisher_purposes: None,
            disclosed_vendors: Some((20..=400).collect()),
        };
        let old = |bits| base64url::encode(bits, Padding::To8Then6);
        let text = format!(
            "{}.{}",
            old(write_core(&ca, Form::FixedRange).unwrap()),
            old(
                write_disclosed(ca.disclosed_vendors.as_deref().unwrap(), Form::FixedRange)
                    .unwrap()
            )
        );
        assert_ne!(text, ca.encode().unwrap(), "the old form differs");
        assert_eq!(TcfCaV1::decode(&text).unwrap(), ca);
    }
}
