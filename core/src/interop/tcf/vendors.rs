//! The vendor lists of a TC string: a vendor section (MaxVendorId 16 bits,
//! IsRangeEncoding 1 bit, then a bitfield of MaxVendorId bits or NumEntries
//! 12 bits × {IsARange 1, StartOrOnlyVendorId 16, [EndVendorId 16]}), used by
//! the core's consents and legitimate interests and by the DisclosedVendors
//! and AllowedVendors segments; and the publisher restrictions
//! (NumPubRestrictions 12 × {PurposeId 6, RestrictionType 2, range entries}).

use std::collections::BTreeSet;

use serde::Serialize;

use crate::interop::bits::{check_increasing, BitReader, BitWriter};
use crate::interop::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::interop::fibonacci::runs;

/// A set of vendors as a TC string writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VendorSection {
    /// The MaxVendorId field: the bitfield's length; in range form the
    /// highest id the writer claims.
    pub max_vendor_id: u16,
    /// Written as ranges (true) or as a bitfield (false).
    pub is_range: bool,
    /// The vendor ids in the set, increasing.
    pub vendors: Vec<u16>,
}

/// Bits of a vendor section before its body: MaxVendorId + IsRangeEncoding.
const HEADER_BITS: usize = 17;

impl VendorSection {
    /// The section a writer should emit for `vendors`: MaxVendorId is the
    /// highest id, and the form is the one `@iabtechlabtcf/core`'s
    /// `VendorVectorEncoder` picks, so the same set gives the same string as
    /// the reference library (ranges once they are shorter by its count).
    pub fn from_vendors(mut vendors: Vec<u16>) -> Self {
        vendors.sort_unstable();
        vendors.dedup();
        vendors.retain(|&v| v != 0);
        let max_vendor_id = vendors.last().copied().unwrap_or(0);
        VendorSection {
            max_vendor_id,
            is_range: reference_prefers_range(&vendors, max_vendor_id),
            vendors,
        }
    }

    /// Reads a section whose fields are called `name.…`.
    pub(crate) fn read(r: &mut BitReader<'_>, name: &str) -> Result<Self, DecodeError> {
        let max_vendor_id = r.u16(16, &format!("{name}.max_vendor_id"))?;
        let is_range = r.flag(&format!("{name}.is_range_encoding"))?;
        let vendors = if is_range {
            read_entries(r, name)?
        } else {
            let field = format!("{name}.bitfield");
            if usize::from(max_vendor_id) > r.left() {
                return Err(r.error(
                    r.position(),
                    &field,
                    DecodeErrorKind::StringEnds,
                    format!(
                        "MaxVendorId {max_vendor_id} needs a bitfield of {max_vendor_id} bits, {} left",
                        r.left()
                    ),
                ));
            }
            r.ids(usize::from(max_vendor_id), &field)?
        };
        Ok(VendorSection {
            max_vendor_id,
            is_range,
            vendors,
        })
    }

    /// Writes the section as recorded (form and MaxVendorId included).
    pub(crate) fn write(&self, w: &mut BitWriter<'_>, name: &str) -> Result<(), EncodeError> {
        let field = format!("{name}.vendors");
        check_vendor_ids(&self.vendors, &field, w)?;
        w.int(
            u64::from(self.max_vendor_id),
            16,
            &format!("{name}.max_vendor_id"),
        )?;
        w.flag(self.is_range);
        if self.is_range {
            write_entries(w, &self.vendors, name)
        } else {
            w.ids(&self.vendors, usize::from(self.max_vendor_id), &field)
        }
    }
}

/// The reference encoder's choice (iabtcf-es `VendorVectorEncoder.encode`):
/// it walks the ids, adding 17 bits for the start of a run of two or more,
/// 16 for its end and 16 (not 17) for a single id, and decides before adding
/// the last id's bits; ranges only when MaxVendorId exceeds 45.
fn reference_prefers_range(vendors: &[u16], max_vendor_id: u16) -> bool {
    if max_vendor_id <= 45 {
        return false;
    }
    let counted: usize = runs(vendors)
        .iter()
        .map(|&(first, last)| if first == last { 16 } else { 17 + 16 })
        .sum();
    let range_bits = HEADER_BITS + 12 + counted - 16;
    range_bits < HEADER_BITS + usize::from(max_vendor_id)
}

/// NumEntries and its range entries, as the sorted set of ids they cover.
pub(crate) fn read_entries(r: &mut BitReader<'_>, name: &str) -> Result<Vec<u16>, DecodeError> {
    let count = r.int(12, &format!("{name}.num_entries"))?;
    let mut ids = BTreeSet::new();
    for i in 0..count {
        let entry = format!("{name}.entries[{i}]");
        let is_range = r.flag(&format!("{entry}.is_a_range"))?;
        let at = r.position();
        let first = r.u16(16, &format!("{entry}.start_or_only_vendor_id"))?;
        if first == 0 {
            return Err(r.error(
                at,
                &format!("{entry}.start_or_only_vendor_id"),
                DecodeErrorKind::BadValue,
                "vendor id 0 is not an id",
            ));
        }
        let last = if is_range {
            let at = r.position();
            let last = r.u16(16, &format!("{entry}.end_vendor_id"))?;
            if last < first {
                return Err(r.error(
                    at,
                    &format!("{entry}.end_vendor_id"),
                    DecodeErrorKind::BadValue,
                    format!("{last} is below the start {first}"),
                ));
            }
            last
        } else {
            first
        };
        ids.extend(first..=last);
    }
    Ok(ids.into_iter().collect())
}

/// Refuses vendor ids that do not increase or start at 0 (decoding never
/// returns such a list; a hand-built model may hold one).
fn check_vendor_ids(ids: &[u16], field: &str, w: &BitWriter<'_>) -> Result<(), EncodeError> {
    check_increasing(ids, field, w)?;
    if ids.first() == Some(&0) {
        return Err(w.error(field, "vendor id 0 is not an id"));
    }
    Ok(())
}

/// Increasing ids as NumEntries and one entry per run of consecutive ids.
pub(crate) fn write_entries(
    w: &mut BitWriter<'_>,
    ids: &[u16],
    name: &str,
) -> Result<(), EncodeError> {
    let groups = runs(ids);
    w.int(groups.len() as u64, 12, &format!("{name}.num_entries"))?;
    for (first, last) in groups {
        w.flag(first != last);
        w.int(u64::from(first), 16, name)?;
        if first != last {
            w.int(u64::from(last), 16, name)?;
        }
    }
    Ok(())
}

/// What a publisher restriction requires of the vendors it lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestrictionType {
    /// 0: the purpose is flatly not allowed.
    NotAllowed,
    /// 1: consent is required (where the vendor is flexible).
    RequireConsent,
    /// 2: legitimate interest is required (where the vendor is flexible).
    RequireLegitimateInterest,
    /// 3: undefined by the specification.
    Undefined,
}

impl RestrictionType {
    /// The 2-bit value written in the string.
    pub fn code(self) -> u8 {
        match self {
            RestrictionType::NotAllowed => 0,
            RestrictionType::RequireConsent => 1,
            RestrictionType::RequireLegitimateInterest => 2,
            RestrictionType::Undefined => 3,
        }
    }

    fn from_code(code: u8) -> Self {
        match code {
            0 => RestrictionType::NotAllowed,
            1 => RestrictionType::RequireConsent,
            2 => RestrictionType::RequireLegitimateInterest,
            _ => RestrictionType::Undefined,
        }
    }
}

/// One PubRestrictionEntry: a purpose, a restriction type, the vendors it
/// applies to (possibly none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublisherRestriction {
    /// The purpose restricted (1–63).
    pub purpose_id: u8,
    /// What is required.
    pub restriction_type: RestrictionType,
    /// The vendors restricted, increasing (repeats in the string merged).
    pub vendors: Vec<u16>,
}

/// Reads NumPubRestrictions and the entries, fields called `name.…`.
pub(crate) fn read_restrictions(
    r: &mut BitReader<'_>,
    name: &str,
) -> Result<Vec<PublisherRestriction>, DecodeError> {
    let count = r.int(12, &format!("{name}.num_pub_restrictions"))?;
    let mut out = Vec::new();
    for i in 0..count {
        let entry = format!("{name}[{i}]");
        let purpose_id = r.u8(6, &format!("{entry}.purpose_id"))?;
        let restriction_type =
            RestrictionType::from_code(r.u8(2, &format!("{entry}.restriction_type"))?);
        let vendors = read_entries(r, &entry)?;
        out.push(PublisherRestriction {
            purpose_id,
            restriction_type,
            vendors,
        });
    }
    Ok(out)
}

/// Writes NumPubRestrictions and the entries.
pub(crate) fn write_restrictions(
    w: &mut BitWriter<'_>,
    restrictions: &[PublisherRestriction],
    name: &str,
) -> Result<(), EncodeError> {
    w.int(
        restrictions.len() as u64,
        12,
        &format!("{name}.num_pub_restrictions"),
    )?;
    for (i, restriction) in restrictions.iter().enumerate() {
        let entry = format!("{name}[{i}]");
        w.int(
            u64::from(restriction.purpose_id),
            6,
            &format!("{entry}.purpose_id"),
        )?;
        w.int(u64::from(restriction.restriction_type.code()), 2, &entry)?;
        check_vendor_ids(&restriction.vendors, &format!("{entry}.vendors"), w)?;
        write_entries(w, &restriction.vendors, &entry)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_choice_of_form() {
        // Few vendors under a high id: ranges.
        assert!(VendorSection::from_vendors(vec![8, 755]).is_range);
        // MaxVendorId 45 or less: always a bitfield.
        assert!(!VendorSection::from_vendors(vec![1, 45]).is_range);
        // Dense ids: a bitfield is shorter.
        assert!(!VendorSection::from_vendors((1..=200).step_by(2).collect()).is_range);
        // One long run: ranges.
        assert!(VendorSection::from_vendors((1..=500).collect()).is_range);
        // The reference counts a single id as 16 bits and decides before
        // the last id: {50, 99}: 29 + 16 = 45 < 17 + 99 → ranges.
        assert!(VendorSection::from_vendors(vec![50, 99]).is_range);
        assert_eq!(VendorSection::from_vendors(vec![]).max_vendor_id, 0);
    }
}
