//! The segments after a TC string's core, each starting with a 3-bit
//! SegmentType: 1 DisclosedVendors and 2 AllowedVendors (a vendor section
//! each), 3 PublisherTC (PubPurposesConsent 24, PubPurposesLITransparency 24,
//! NumCustomPurposes 6, then CustomPurposesConsent and
//! CustomPurposesLITransparency of NumCustomPurposes bits each).

use super::{PublisherTc, TcSegment, VendorSection};
use crate::interop::bits::{BitReader, BitWriter};
use crate::interop::error::{DecodeError, DecodeErrorKind, EncodeError};

/// Reads one segment; `place` names it until its type is known.
pub(super) fn read(bits: &[bool], place: &str) -> Result<TcSegment, DecodeError> {
    let mut head = BitReader::new(bits, place);
    let segment_type = head.u8(3, "segment_type")?;
    let name = match segment_type {
        1..=3 => TcSegment::name(segment_type),
        0 => {
            return Err(head.error(
                0,
                "segment_type",
                DecodeErrorKind::Structure,
                "type 0 is the core, which only comes first",
            ))
        }
        other => {
            return Err(head.error(
                0,
                "segment_type",
                DecodeErrorKind::Unsupported,
                format!("unknown segment type {other}"),
            ))
        }
    };
    let mut r = BitReader::new(bits, name);
    r.u8(3, "segment_type")?;
    Ok(match segment_type {
        1 => TcSegment::DisclosedVendors(VendorSection::read(&mut r, "vendors")?),
        2 => TcSegment::AllowedVendors(VendorSection::read(&mut r, "vendors")?),
        _ => TcSegment::PublisherTc(read_publisher_tc(&mut r)?),
    })
}

fn read_publisher_tc(r: &mut BitReader<'_>) -> Result<PublisherTc, DecodeError> {
    let purposes_consent = r.small_ids(24, "pub_purposes_consent")?;
    let purposes_li_transparency = r.small_ids(24, "pub_purposes_li_transparency")?;
    let num_custom_purposes = r.u8(6, "num_custom_purposes")?;
    let n = usize::from(num_custom_purposes);
    Ok(PublisherTc {
        purposes_consent,
        purposes_li_transparency,
        num_custom_purposes,
        custom_purposes_consent: r.small_ids(n, "custom_purposes_consent")?,
        custom_purposes_li_transparency: r.small_ids(n, "custom_purposes_li_transparency")?,
    })
}

/// The segment's bits (before padding).
pub(super) fn write(segment: &TcSegment) -> Result<Vec<bool>, EncodeError> {
    let mut w = BitWriter::new(TcSegment::name(segment.segment_type()));
    w.int(u64::from(segment.segment_type()), 3, "segment_type")?;
    match segment {
        TcSegment::DisclosedVendors(v) | TcSegment::AllowedVendors(v) => {
            v.write(&mut w, "vendors")?
        }
        TcSegment::PublisherTc(p) => {
            w.ids(&p.purposes_consent, 24, "pub_purposes_consent")?;
            w.ids(
                &p.purposes_li_transparency,
                24,
                "pub_purposes_li_transparency",
            )?;
            w.int(u64::from(p.num_custom_purposes), 6, "num_custom_purposes")?;
            let n = usize::from(p.num_custom_purposes);
            w.ids(&p.custom_purposes_consent, n, "custom_purposes_consent")?;
            w.ids(
                &p.custom_purposes_li_transparency,
                n,
                "custom_purposes_li_transparency",
            )?;
        }
    }
    Ok(w.into_bits())
}
