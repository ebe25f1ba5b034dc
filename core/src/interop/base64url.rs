//! The text form of every IAB bit string: RFC 4648 base64url, 6 bits per
//! character, never padded with `=`. Reading tolerates up to two trailing `=`
//! (java.util.Base64 writes them; iabtcf-java accepts them, iabtcf-es does
//! not); the bits after the last field are padding and are never looked at.
//! Writing pads with zero bits the way the reference encoders do, which
//! differs by family (see [`Padding`]).

use super::error::{DecodeError, DecodeErrorKind, Position};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// How many zero bits an encoder appends before turning bits into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Padding {
    /// Up to a multiple of 24 bits (6 and 8): TC strings, as
    /// `@iabtechlabtcf/core` and iabgpp-es's tcfeuv2 write them.
    To24,
    /// Up to a multiple of 8 bits, then of 6: the GPP header and the
    /// sections iabgpp-es writes (`DBABMA`, not the spec's `DBABM`).
    To8Then6,
}

/// The bits of `text`, the segment called `segment`.
pub(crate) fn decode(text: &str, segment: &str) -> Result<Vec<bool>, DecodeError> {
    let body = text
        .strip_suffix("==")
        .or_else(|| text.strip_suffix('='))
        .unwrap_or(text);
    let mut bits = Vec::with_capacity(body.len() * 6);
    for (i, c) in body.char_indices() {
        let value = u8::try_from(c)
            .ok()
            .and_then(|b| ALPHABET.iter().position(|&a| a == b))
            .ok_or_else(|| {
                DecodeError::new(
                    segment,
                    Position::Character(i as u32),
                    DecodeErrorKind::NotBase64url,
                    format!("{c:?} is not one of A-Z a-z 0-9 - _"),
                )
            })?;
        bits.extend((0..6).rev().map(|shift| (value >> shift) & 1 == 1));
    }
    Ok(bits)
}

/// `bits` as text, zero-padded by `padding`.
pub(crate) fn encode(mut bits: Vec<bool>, padding: Padding) -> String {
    let round_up = |len: usize, to: usize| len.div_ceil(to) * to;
    let padded = match padding {
        Padding::To24 => round_up(bits.len(), 24),
        Padding::To8Then6 => round_up(round_up(bits.len(), 8), 6),
    };
    bits.resize(padded, false);
    bits.chunks(6)
        .map(|six| {
            let value = six
                .iter()
                .fold(0usize, |acc, &b| (acc << 1) | usize::from(b));
            char::from(ALPHABET[value])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(text: &str) -> Vec<bool> {
        text.chars().map(|c| c == '1').collect()
    }

    #[test]
    fn pads_as_each_reference_encoder_does() {
        // The GPP header for section 2: 28 bits.
        let header = bits("0000110000010000000000010011");
        assert_eq!(encode(header.clone(), Padding::To8Then6), "DBABMA");
        assert_eq!(encode(header, Padding::To24), "DBABMAAA");
    }

    #[test]
    fn reads_with_or_without_trailing_pad_characters() {
        assert_eq!(decode("YA", "s").unwrap(), decode("YA==", "s").unwrap());
        assert_eq!(decode("YA=", "s").unwrap().len(), 12);
        let e = decode("Y=A", "usnat.gpc").unwrap_err();
        assert_eq!(e.position, Position::Character(1));
        assert_eq!(e.kind, DecodeErrorKind::NotBase64url);
        assert!(decode("ab+c", "core").is_err());
    }
}
