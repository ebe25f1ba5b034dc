//! The GPP's Fibonacci-coded data types (GPP Consent String Specification,
//! "Fibonacci Encoding" and the Data Types table): Int(Fibonacci),
//! Range(Fibonacci) (the header's section ids, TCF Canada's vendor ranges) and
//! OptimizedRange (a 16-bit maximum, then a Fibonacci range or a bitfield,
//! whichever is shorter). A code word ends at the first `11`.

use super::bits::{check_increasing, BitReader, BitWriter};
use super::error::{DecodeErrorKind, EncodeError};

/// Longest code word read: enough for any 32-bit value (a 16-bit id needs 24).
const MAX_CODE_BITS: usize = 47;

/// The Fibonacci numbers 1, 2, 3, 5, … that weight the bits of a code word.
fn weights() -> impl Iterator<Item = u64> {
    std::iter::successors(Some((1u64, 2u64)), |&(a, b)| Some((b, a + b))).map(|(a, _)| a)
}

/// One Int(Fibonacci): at least 1.
pub(crate) fn read_int(r: &mut BitReader<'_>, field: &str) -> Result<u64, super::DecodeError> {
    let start = r.position();
    let mut value = 0u64;
    let mut previous = false;
    for weight in weights().take(MAX_CODE_BITS) {
        let bit = r.flag(field)?;
        if bit && previous {
            return Ok(value);
        }
        if bit {
            value += weight;
        }
        previous = bit;
    }
    Err(r.error(
        start,
        field,
        DecodeErrorKind::BadValue,
        format!("no Fibonacci code ends within {MAX_CODE_BITS} bits"),
    ))
}

/// Writes `value` (at least 1) as Int(Fibonacci).
pub(crate) fn write_int(w: &mut BitWriter<'_>, value: u64, field: &str) -> Result<(), EncodeError> {
    if value == 0 {
        return Err(w.error(field, "0 has no Fibonacci code"));
    }
    let used: Vec<u64> = weights().take_while(|&f| f <= value).collect();
    let mut code = vec![false; used.len()];
    let mut rest = value;
    for (i, &f) in used.iter().enumerate().rev() {
        if f <= rest {
            code[i] = true;
            rest -= f;
        }
    }
    w.extend(&code);
    w.flag(true);
    Ok(())
}

/// Range(Fibonacci): Int(12) items, each a single id or a group, as offsets
/// from the previous id. Returns the ids in increasing order.
pub(crate) fn read_range(
    r: &mut BitReader<'_>,
    field: &str,
) -> Result<Vec<u16>, super::DecodeError> {
    let count = r.int(12, &format!("{field}.num_entries"))?;
    let mut ids = Vec::new();
    let mut last = 0u64;
    for i in 0..count {
        let entry = format!("{field}.entries[{i}]");
        let at = r.position();
        let is_group = r.flag(&entry)?;
        let first = last + read_int(r, &entry)?;
        let end = if is_group {
            first + read_int(r, &entry)?
        } else {
            first
        };
        if end > u64::from(u16::MAX) {
            return Err(r.error(
                at,
                &entry,
                DecodeErrorKind::BadValue,
                format!("id {end} is above {}", u16::MAX),
            ));
        }
        ids.extend(first as u16..=end as u16);
        last = end;
    }
    Ok(ids)
}

/// Writes increasing `ids` as Range(Fibonacci), consecutive ids as groups
/// (as iabgpp-es does).
pub(crate) fn write_range(
    w: &mut BitWriter<'_>,
    ids: &[u16],
    field: &str,
) -> Result<(), EncodeError> {
    check_increasing(ids, field, w)?;
    if ids.first() == Some(&0) {
        return Err(w.error(field, "id 0 is not an id"));
    }
    let groups = runs(ids);
    w.int(groups.len() as u64, 12, &format!("{field}.num_entries"))?;
    let mut last = 0u64;
    for (first, end) in groups {
        let (first, end) = (u64::from(first), u64::from(end));
        w.flag(first != end);
        write_int(w, first - last, field)?;
        if first != end {
            write_int(w, end - first, field)?;
        }
        last = end;
    }
    Ok(())
}

/// Reads the ranges of an OptimizedRange (Range(Fibonacci) as specified).
pub(crate) type ReadRanges = fn(&mut BitReader<'_>, &str) -> Result<Vec<u16>, super::DecodeError>;

/// Writes the ranges of an OptimizedRange.
pub(crate) type WriteRanges = fn(&mut BitWriter<'_>, &[u16], &str) -> Result<(), EncodeError>;

/// OptimizedRange as iabgpp-es reads it: Int(16) highest id, Bool (1 =
/// Range(Fibonacci) follows, 0 = a bitfield of that many bits).
pub(crate) fn read_optimized_range(
    r: &mut BitReader<'_>,
    field: &str,
) -> Result<Vec<u16>, super::DecodeError> {
    read_optimized_range_with(r, field, read_range)
}

/// OptimizedRange with `ranges` reading its range form (older iabgpp-es
/// encoders wrote TCF Canada's vendor lists with 16-bit ranges there).
pub(crate) fn read_optimized_range_with(
    r: &mut BitReader<'_>,
    field: &str,
    ranges: ReadRanges,
) -> Result<Vec<u16>, super::DecodeError> {
    let max = r.u16(16, &format!("{field}.max_id"))?;
    if r.flag(&format!("{field}.is_range"))? {
        ranges(r, field)
    } else {
        r.ids(usize::from(max), &format!("{field}.bitfield"))
    }
}

/// Writes OptimizedRange, choosing the range form when it is no longer than
/// the bitfield (iabgpp-es `EncodableOptimizedFibonacciRange`).
pub(crate) fn write_optimized_range(
    w: &mut BitWriter<'_>,
    ids: &[u16],
    field: &str,
) -> Result<(), EncodeError> {
    write_optimized_range_with(w, ids, field, write_range)
}

/// OptimizedRange with `ranges` writing its range form (see
/// [`read_optimized_range_with`]).
pub(crate) fn write_optimized_range_with(
    w: &mut BitWriter<'_>,
    ids: &[u16],
    field: &str,
    ranges: WriteRanges,
) -> Result<(), EncodeError> {
    let max = ids.last().copied().unwrap_or(0);
    let mut range = BitWriter::new("");
    ranges(&mut range, ids, field).map_err(|e| w.error(field, e.detail))?;
    w.int(u64::from(max), 16, &format!("{field}.max_id"))?;
    if range.len() <= usize::from(max) {
        w.flag(true);
        w.extend(&range.into_bits());
        Ok(())
    } else {
        w.flag(false);
        w.ids(ids, usize::from(max), &format!("{field}.bitfield"))
    }
}

/// Consecutive ids as (first, last) runs; `ids` increasing.
pub(crate) fn runs(ids: &[u16]) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    for &id in ids {
        match out.last_mut() {
            Some((_, end)) if u32::from(*end) + 1 == u32::from(id) => *end = id,
            _ => out.push((id, id)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(w: BitWriter<'_>) -> String {
        w.into_bits()
            .iter()
            .map(|&b| if b { '1' } else { '0' })
            .collect()
    }

    #[test]
    fn codes_match_the_specification_table() {
        for (value, code) in [
            (1, "11"),
            (2, "011"),
            (3, "0011"),
            (4, "1011"),
            (5, "00011"),
            (6, "10011"),
            (12, "101011"),
        ] {
            let mut w = BitWriter::new("t");
            write_int(&mut w, value, "v").unwrap();
            assert_eq!(text(w), code, "code of {value}");
        }
    }

    #[test]
    fn the_specification_range_example_round_trips() {
        // Spec: Range = [3,5,6,7,8], Bits = 000000000010 0 0011 1 011 0011
        let mut w = BitWriter::new("t");
        write_range(&mut w, &[3, 5, 6, 7, 8], "ids").unwrap();
        let bits = w.into_bits();
        let shown: String = bits.iter().map(|&b| if b { '1' } else { '0' }).collect();
        assert_eq!(
            shown,
            "000000000010".to_string() + "0" + "0011" + "1" + "011" + "0011"
        );
        let mut r = BitReader::new(&bits, "t");
        assert_eq!(read_range(&mut r, "ids").unwrap(), vec![3, 5, 6, 7, 8]);
    }

    #[test]
    fn a_code_that_never_ends_is_refused() {
        let bits = vec![false; 80];
        let mut r = BitReader::new(&bits, "t");
        assert_eq!(
            read_int(&mut r, "v").unwrap_err().kind,
            DecodeErrorKind::BadValue
        );
        let bits = vec![false; 5];
        let mut r = BitReader::new(&bits, "t");
        assert_eq!(
            read_int(&mut r, "v").unwrap_err().kind,
            DecodeErrorKind::StringEnds
        );
    }
}
