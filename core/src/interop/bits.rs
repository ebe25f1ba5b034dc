//! Bit strings as the IAB formats lay them out: fields big-endian, read left
//! to right. [`BitReader`] reads fields and names the field and its bit
//! offset when the bits run out; [`BitWriter`] writes them and refuses a
//! value too wide for its field. Both are scoped to one segment, whose name
//! starts every field path they report. Base64url and padding are
//! `base64url`'s; Fibonacci codes are `fibonacci`'s.

use super::error::{DecodeError, DecodeErrorKind, EncodeError, Position};

/// Reads fields from the bits of one segment.
pub(crate) struct BitReader<'a> {
    bits: &'a [bool],
    pos: usize,
    segment: &'a str,
}

impl<'a> BitReader<'a> {
    /// A reader at bit 0 of `bits`, the segment called `segment`.
    pub(crate) fn new(bits: &'a [bool], segment: &'a str) -> Self {
        BitReader {
            bits,
            pos: 0,
            segment,
        }
    }

    /// The offset of the next bit to read.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Bits not read yet (pad bits included).
    pub(crate) fn left(&self) -> usize {
        self.bits.len() - self.pos
    }

    /// An error in `field` found at bit `at`.
    pub(crate) fn error(
        &self,
        at: usize,
        field: &str,
        kind: DecodeErrorKind,
        detail: impl Into<String>,
    ) -> DecodeError {
        DecodeError::new(
            format!("{}.{field}", self.segment),
            Position::Bit(at as u32),
            kind,
            detail,
        )
    }

    /// Takes the next `n` bits of `field`.
    pub(crate) fn take(&mut self, n: usize, field: &str) -> Result<&'a [bool], DecodeError> {
        if n > self.left() {
            return Err(self.error(
                self.pos,
                field,
                DecodeErrorKind::StringEnds,
                format!(
                    "{n} bit{} needed, {} left",
                    if n == 1 { "" } else { "s" },
                    self.left()
                ),
            ));
        }
        let taken = &self.bits[self.pos..self.pos + n];
        self.pos += n;
        Ok(taken)
    }

    /// An unsigned integer of `width` bits (at most 64).
    pub(crate) fn int(&mut self, width: usize, field: &str) -> Result<u64, DecodeError> {
        debug_assert!(width <= 64);
        Ok(self
            .take(width, field)?
            .iter()
            .fold(0u64, |acc, &bit| (acc << 1) | u64::from(bit)))
    }

    /// An integer of at most 8 bits.
    pub(crate) fn u8(&mut self, width: usize, field: &str) -> Result<u8, DecodeError> {
        debug_assert!(width <= 8);
        Ok(self.int(width, field)? as u8)
    }

    /// An integer of at most 16 bits.
    pub(crate) fn u16(&mut self, width: usize, field: &str) -> Result<u16, DecodeError> {
        debug_assert!(width <= 16);
        Ok(self.int(width, field)? as u16)
    }

    /// One bit as a boolean (1 = true, as every IAB section uses it).
    pub(crate) fn flag(&mut self, field: &str) -> Result<bool, DecodeError> {
        Ok(self.take(1, field)?[0])
    }

    /// A bitfield of `width` bits as the 1-based ids whose bit is set.
    pub(crate) fn ids(&mut self, width: usize, field: &str) -> Result<Vec<u16>, DecodeError> {
        debug_assert!(width <= usize::from(u16::MAX));
        Ok(set_ids(self.take(width, field)?)
            .map(|id| id as u16)
            .collect())
    }

    /// A bitfield of at most 64 bits (purposes, features) as 1-based ids.
    pub(crate) fn small_ids(&mut self, width: usize, field: &str) -> Result<Vec<u8>, DecodeError> {
        debug_assert!(width <= 64);
        Ok(set_ids(self.take(width, field)?)
            .map(|id| id as u8)
            .collect())
    }
}

/// The 1-based positions of the set bits.
fn set_ids(bits: &[bool]) -> impl Iterator<Item = usize> + '_ {
    bits.iter()
        .enumerate()
        .filter(|(_, &set)| set)
        .map(|(i, _)| i + 1)
}

/// Writes the fields of one segment.
pub(crate) struct BitWriter<'a> {
    bits: Vec<bool>,
    segment: &'a str,
}

impl<'a> BitWriter<'a> {
    /// An empty segment called `segment`.
    pub(crate) fn new(segment: &'a str) -> Self {
        BitWriter {
            bits: Vec::new(),
            segment,
        }
    }

    /// An error in `field` of this segment.
    pub(crate) fn error(&self, field: &str, detail: impl Into<String>) -> EncodeError {
        EncodeError::new(format!("{}.{field}", self.segment), detail)
    }

    /// Bits written so far.
    pub(crate) fn len(&self) -> usize {
        self.bits.len()
    }

    /// `value` in `width` bits; a value that does not fit is refused.
    pub(crate) fn int(&mut self, value: u64, width: usize, field: &str) -> Result<(), EncodeError> {
        debug_assert!(width <= 64);
        if width < 64 && value >> width != 0 {
            return Err(self.error(field, format!("{value} does not fit in {width} bits")));
        }
        self.bits
            .extend((0..width).rev().map(|shift| (value >> shift) & 1 == 1));
        Ok(())
    }

    /// One bit.
    pub(crate) fn flag(&mut self, value: bool) {
        self.bits.push(value);
    }

    /// Raw bits, as they are.
    pub(crate) fn extend(&mut self, bits: &[bool]) {
        self.bits.extend_from_slice(bits);
    }

    /// A bitfield of `width` bits with the bit of each 1-based id set; ids
    /// must increase and lie in `1..=width`.
    pub(crate) fn ids<T: Copy + Into<u64>>(
        &mut self,
        ids: &[T],
        width: usize,
        field: &str,
    ) -> Result<(), EncodeError> {
        check_increasing(ids, field, self)?;
        let start = self.bits.len();
        self.bits.resize(start + width, false);
        for &id in ids {
            let id: u64 = id.into();
            if id == 0 || id > width as u64 {
                return Err(self.error(field, format!("id {id} is outside 1..={width}")));
            }
            self.bits[start + id as usize - 1] = true;
        }
        Ok(())
    }

    /// The bits written.
    pub(crate) fn into_bits(self) -> Vec<bool> {
        self.bits
    }
}

/// Refuses ids that are not strictly increasing (every id list in the
/// models is sorted and free of repeats, as decoding returns it).
pub(crate) fn check_increasing<T: Copy + Into<u64>>(
    ids: &[T],
    field: &str,
    w: &BitWriter<'_>,
) -> Result<(), EncodeError> {
    for pair in ids.windows(2) {
        let (a, b): (u64, u64) = (pair[0].into(), pair[1].into());
        if b <= a {
            return Err(w.error(field, format!("ids must increase, but {b} follows {a}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back_fields_big_endian() {
        let mut w = BitWriter::new("t");
        w.int(5, 6, "a").unwrap();
        w.flag(true);
        w.ids(&[1u8, 3], 4, "b").unwrap();
        let bits = w.into_bits();
        let as_text: String = bits.iter().map(|&b| if b { '1' } else { '0' }).collect();
        assert_eq!(as_text, "000101".to_string() + "1" + "1010");
        let mut r = BitReader::new(&bits, "t");
        assert_eq!(r.int(6, "a").unwrap(), 5);
        assert!(r.flag("x").unwrap());
        assert_eq!(r.small_ids(4, "b").unwrap(), vec![1, 3]);
        let e = r.int(1, "c").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.c at bit 11: string ends (1 bit needed, 0 left)"
        );
    }

    #[test]
    fn refuses_values_wider_than_their_field_and_unsorted_ids() {
        let mut w = BitWriter::new("core");
        assert_eq!(
            w.int(4096, 12, "cmp_id").unwrap_err().to_string(),
            "core.cmp_id: 4096 does not fit in 12 bits"
        );
        assert!(w.ids(&[3u8, 2], 24, "purposes").is_err());
        assert!(w.ids(&[25u8], 24, "purposes").is_err());
    }
}
