//! The IAB US Privacy string (`CCPA/US Privacy String.md`): four plain
//! characters, Version (`1`), notice given, opted out of sale, LSPA covered,
//! each `Y`, `N` or `-` (not applicable; `1---` means the CCPA does not
//! apply). Stored in apps as `IABUSPrivacy_String`; GPP section 6 (`uspv1`)
//! carries the same four characters, not base64.

use serde::Serialize;

use super::error::{DecodeError, DecodeErrorKind, Position};
use super::keys::{KeyMap, US_PRIVACY_KEY};

/// The only US Privacy string version.
pub const VERSION: u8 = 1;

/// One Y/N/- answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum UspFlag {
    /// `Y`.
    #[serde(rename = "Y")]
    Yes,
    /// `N`.
    #[serde(rename = "N")]
    No,
    /// `-`: the question does not apply.
    #[serde(rename = "-")]
    NotApplicable,
}

impl UspFlag {
    /// The character written for this answer.
    pub fn as_char(self) -> char {
        match self {
            UspFlag::Yes => 'Y',
            UspFlag::No => 'N',
            UspFlag::NotApplicable => '-',
        }
    }

    /// The answer written as `c`, if it is one.
    fn from_char(c: char) -> Option<Self> {
        [UspFlag::Yes, UspFlag::No, UspFlag::NotApplicable]
            .into_iter()
            .find(|flag| flag.as_char() == c)
    }
}

/// A decoded US Privacy string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UsPrivacy {
    /// The specification version (1).
    pub version: u8,
    /// Explicit notice and opportunity to opt out was given.
    pub notice: UspFlag,
    /// The user opted out of the sale of personal information.
    pub opt_out_sale: UspFlag,
    /// The publisher is a signatory to the IAB LSPA.
    pub lspa_covered: UspFlag,
}

impl UsPrivacy {
    /// False for `1---`: the CCPA does not apply to this user.
    pub fn applies(&self) -> bool {
        [self.notice, self.opt_out_sale, self.lspa_covered]
            .iter()
            .any(|&f| f != UspFlag::NotApplicable)
    }
}

/// Decodes a US Privacy string (`1YNN`).
pub fn decode(text: &str) -> Result<UsPrivacy, DecodeError> {
    decode_as(text, "usp")
}

/// Decodes with field paths starting with `name` (`uspv1` inside GPP).
pub(crate) fn decode_as(text: &str, name: &str) -> Result<UsPrivacy, DecodeError> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() != 4 {
        return Err(DecodeError::new(
            name,
            Position::Whole,
            DecodeErrorKind::Structure,
            format!(
                "{} characters; a US Privacy string has 4 (e.g. 1YNN)",
                chars.len()
            ),
        ));
    }
    let version = match chars[0].to_digit(10) {
        Some(1) => VERSION,
        Some(v) => {
            return Err(DecodeError::new(
                format!("{name}.version"),
                Position::Character(0),
                DecodeErrorKind::Unsupported,
                format!("version {v}; only version 1 exists"),
            ))
        }
        None => {
            return Err(DecodeError::new(
                format!("{name}.version"),
                Position::Character(0),
                DecodeErrorKind::BadValue,
                format!("{:?} is not a version number", chars[0]),
            ))
        }
    };
    let flag = |i: usize, field: &str| -> Result<UspFlag, DecodeError> {
        UspFlag::from_char(chars[i]).ok_or_else(|| {
            DecodeError::new(
                format!("{name}.{field}"),
                Position::Character(i as u32),
                DecodeErrorKind::BadValue,
                format!("{:?} is not Y, N or -", chars[i]),
            )
        })
    };
    Ok(UsPrivacy {
        version,
        notice: flag(1, "notice")?,
        opt_out_sale: flag(2, "opt_out_sale")?,
        lspa_covered: flag(3, "lspa_covered")?,
    })
}

/// The four characters of `usp`.
pub fn encode(usp: &UsPrivacy) -> String {
    format!(
        "{}{}{}{}",
        usp.version,
        usp.notice.as_char(),
        usp.opt_out_sale.as_char(),
        usp.lspa_covered.as_char()
    )
}

/// `IABUSPrivacy_String` for a US Privacy string that decodes.
pub fn in_app_keys(text: &str) -> Result<KeyMap, DecodeError> {
    decode(text)?;
    Ok(KeyMap::from([(US_PRIVACY_KEY.to_string(), text.into())]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_specification_examples() {
        let usp = decode("1YNN").unwrap();
        assert_eq!((usp.notice, usp.opt_out_sale), (UspFlag::Yes, UspFlag::No));
        assert!(!decode("1---").unwrap().applies());
        assert!(decode("1-Y-").unwrap().applies());
        for s in ["1YNN", "1NYN", "1-Y-", "1---"] {
            assert_eq!(encode(&decode(s).unwrap()), s);
        }
    }

    #[test]
    fn names_the_character_that_is_wrong() {
        assert_eq!(
            decode("1YXN").unwrap_err().to_string(),
            "usp.opt_out_sale at character 2: bad value ('X' is not Y, N or -)"
        );
        assert_eq!(
            decode("2YNN").unwrap_err().kind,
            DecodeErrorKind::Unsupported
        );
        assert_eq!(decode("1YN").unwrap_err().kind, DecodeErrorKind::Structure);
    }
}
