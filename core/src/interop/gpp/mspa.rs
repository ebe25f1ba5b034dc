//! The MSPA US sections of a GPP string: `usnat` (7, the US National
//! section), `usca` (8, California) and `usva` (9, Virginia). Their core
//! sub-section is Version Int(6) then 2-bit codes (notices: 0 n/a, 1 yes,
//! 2 no; opt-outs: 0 n/a, 1 opted out, 2 did not; consents: 0 n/a, 1 no
//! consent, 2 consent; MSPA fields: 1 yes, 2 no), kept here as the numbers
//! the specifications define. `usnat` and `usca` may carry a GPC sub-section
//! (`.`, SubsectionType Int(2) = 1, Gpc Bool).
//!
//! `usnat` has two layouts: SensitiveDataProcessing of 12 items and
//! KnownChildSensitiveDataConsents of 2 (60 bits, the first release), or 16
//! and 3 (70 bits, from October 2024). iabgpp-es wrote the longer layout
//! with Version 1 from November 2024 until it switched to Version 2, so the
//! layout is told by the length of the bit string (at most 66 bits: the short
//! one), as iabgpp-es 3.2 reads it, and Version is reported as written.

use serde::Serialize;

use crate::interop::base64url::{self, Padding};
use crate::interop::bits::{BitReader, BitWriter};
use crate::interop::error::{DecodeError, DecodeErrorKind, EncodeError, Position};

/// The US National section (GPP section 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsNat {
    /// Version of the section as written (1 or 2).
    pub version: u8,
    /// Notice of sharing for targeted advertising.
    pub sharing_notice: u8,
    /// Notice of the opportunity to opt out of sale.
    pub sale_opt_out_notice: u8,
    /// Notice of the opportunity to opt out of sharing.
    pub sharing_opt_out_notice: u8,
    /// Notice of the opportunity to opt out of targeted advertising.
    pub targeted_advertising_opt_out_notice: u8,
    /// Notice of the opportunity to opt out of sensitive data processing.
    pub sensitive_data_processing_opt_out_notice: u8,
    /// Notice of the opportunity to limit use of sensitive data.
    pub sensitive_data_limit_use_notice: u8,
    /// Opted out of sale.
    pub sale_opt_out: u8,
    /// Opted out of sharing.
    pub sharing_opt_out: u8,
    /// Opted out of targeted advertising.
    pub targeted_advertising_opt_out: u8,
    /// Consent per sensitive data category: 12 items, or 16 in the 2024 layout.
    pub sensitive_data_processing: Vec<u8>,
    /// Consents for known children: 2 items, or 3 in the 2024 layout.
    pub known_child_sensitive_data_consents: Vec<u8>,
    /// Consent to collection of personal data beyond what is necessary.
    pub personal_data_consents: u8,
    /// The transaction is covered by the MSPA.
    pub mspa_covered_transaction: u8,
    /// MSPA opt-out option mode.
    pub mspa_opt_out_option_mode: u8,
    /// MSPA service provider mode.
    pub mspa_service_provider_mode: u8,
    /// The GPC sub-section's flag; `None` when the sub-section is absent.
    pub gpc: Option<bool>,
}

/// The California section (GPP section 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsCa {
    /// Version of the section (1).
    pub version: u8,
    /// Notice of the opportunity to opt out of sale.
    pub sale_opt_out_notice: u8,
    /// Notice of the opportunity to opt out of sharing.
    pub sharing_opt_out_notice: u8,
    /// Notice of the opportunity to limit use of sensitive data.
    pub sensitive_data_limit_use_notice: u8,
    /// Opted out of sale.
    pub sale_opt_out: u8,
    /// Opted out of sharing.
    pub sharing_opt_out: u8,
    /// Limit-use choice per sensitive data category (9 items).
    pub sensitive_data_processing: Vec<u8>,
    /// Consents for known children (2 items).
    pub known_child_sensitive_data_consents: Vec<u8>,
    /// Consent to collection of personal data beyond what is necessary.
    pub personal_data_consents: u8,
    /// The transaction is covered by the MSPA.
    pub mspa_covered_transaction: u8,
    /// MSPA opt-out option mode.
    pub mspa_opt_out_option_mode: u8,
    /// MSPA service provider mode.
    pub mspa_service_provider_mode: u8,
    /// The GPC sub-section's flag; `None` when the sub-section is absent.
    pub gpc: Option<bool>,
}

/// The Virginia section (GPP section 9); it has no GPC sub-section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsVa {
    /// Version of the section (1).
    pub version: u8,
    /// Notice of sharing for targeted advertising.
    pub sharing_notice: u8,
    /// Notice of the opportunity to opt out of sale.
    pub sale_opt_out_notice: u8,
    /// Notice of the opportunity to opt out of targeted advertising.
    pub targeted_advertising_opt_out_notice: u8,
    /// Opted out of sale.
    pub sale_opt_out: u8,
    /// Opted out of targeted advertising.
    pub targeted_advertising_opt_out: u8,
    /// Consent per sensitive data category (8 items).
    pub sensitive_data_processing: Vec<u8>,
    /// Consent for a known child's data (one 2-bit code).
    pub known_child_sensitive_data_consents: u8,
    /// The transaction is covered by the MSPA.
    pub mspa_covered_transaction: u8,
    /// MSPA opt-out option mode.
    pub mspa_opt_out_option_mode: u8,
    /// MSPA service provider mode.
    pub mspa_service_provider_mode: u8,
}

/// Longest `usnat` core bit string in the 12/2 layout (60 bits padded the
/// way iabgpp-es pads: to 64, then 66).
const USNAT_SHORT_LAYOUT_MAX_BITS: usize = 66;

/// A section's text split into its core and an optional GPC sub-section.
fn split<'t>(
    text: &'t str,
    name: &str,
    gpc_allowed: bool,
) -> Result<(&'t str, Option<&'t str>), DecodeError> {
    let mut parts = text.split('.');
    let core = parts.next().unwrap_or_default();
    let gpc = parts.next();
    if parts.next().is_some() || (gpc.is_some() && !gpc_allowed) {
        return Err(DecodeError::new(
            name,
            Position::Whole,
            DecodeErrorKind::Structure,
            if gpc_allowed {
                "more than a core and a GPC sub-section"
            } else {
                "this section has no sub-sections"
            },
        ));
    }
    Ok((core, gpc))
}

/// Reads the GPC sub-section (SubsectionType 1, then the flag).
fn read_gpc(text: Option<&str>, name: &str) -> Result<Option<bool>, DecodeError> {
    let Some(text) = text else { return Ok(None) };
    let segment = format!("{name}.gpc_subsection");
    let bits = base64url::decode(text, &segment)?;
    let mut r = BitReader::new(&bits, &segment);
    let subsection_type = r.u8(2, "subsection_type")?;
    if subsection_type != 1 {
        return Err(r.error(
            0,
            "subsection_type",
            DecodeErrorKind::BadValue,
            format!("{subsection_type}; the GPC sub-section has type 1"),
        ));
    }
    Ok(Some(r.flag("gpc")?))
}

/// Appends `.` and the GPC sub-section when there is one.
fn write_gpc(out: &mut String, gpc: Option<bool>) {
    if let Some(gpc) = gpc {
        let mut w = BitWriter::new("gpc_subsection");
        w.int(1, 2, "subsection_type").expect("1 fits in 2 bits");
        w.flag(gpc);
        out.push('.');
        out.push_str(&base64url::encode(w.into_bits(), Padding::To8Then6));
    }
}

/// N 2-bit codes.
fn read_codes(r: &mut BitReader<'_>, n: usize, field: &str) -> Result<Vec<u8>, DecodeError> {
    (0..n).map(|_| r.u8(2, field)).collect()
}

/// Writes 2-bit codes, refusing a count that is not one of `allowed`.
fn write_codes(
    w: &mut BitWriter<'_>,
    codes: &[u8],
    allowed: &[usize],
    field: &str,
) -> Result<(), EncodeError> {
    if !allowed.contains(&codes.len()) {
        return Err(w.error(
            field,
            format!("{} items; this field has {allowed:?}", codes.len()),
        ));
    }
    codes
        .iter()
        .try_for_each(|&c| w.int(u64::from(c), 2, field))
}

impl UsNat {
    pub(crate) fn decode(text: &str) -> Result<Self, DecodeError> {
        let (core, gpc) = split(text, "usnat", true)?;
        let bits = base64url::decode(core, "usnat.core")?;
        let (items, child_items) = if bits.len() <= USNAT_SHORT_LAYOUT_MAX_BITS {
            (12, 2)
        } else {
            (16, 3)
        };
        let mut r = BitReader::new(&bits, "usnat.core");
        Ok(UsNat {
            version: r.u8(6, "version")?,
            sharing_notice: r.u8(2, "sharing_notice")?,
            sale_opt_out_notice: r.u8(2, "sale_opt_out_notice")?,
            sharing_opt_out_notice: r.u8(2, "sharing_opt_out_notice")?,
            targeted_advertising_opt_out_notice: r.u8(2, "targeted_advertising_opt_out_notice")?,
            sensitive_data_processing_opt_out_notice: r
                .u8(2, "sensitive_data_processing_opt_out_notice")?,
            sensitive_data_limit_use_notice: r.u8(2, "sensitive_data_limit_use_notice")?,
            sale_opt_out: r.u8(2, "sale_opt_out")?,
            sharing_opt_out: r.u8(2, "sharing_opt_out")?,
            targeted_advertising_opt_out: r.u8(2, "targeted_advertising_opt_out")?,
            sensitive_data_processing: read_codes(&mut r, items, "sensitive_data_processing")?,
            known_child_sensitive_data_consents: read_codes(
                &mut r,
                child_items,
                "known_child_sensitive_data_consents",
            )?,
            personal_data_consents: r.u8(2, "personal_data_consents")?,
            mspa_covered_transaction: r.u8(2, "mspa_covered_transaction")?,
            mspa_opt_out_option_mode: r.u8(2, "mspa_opt_out_option_mode")?,
            mspa_service_provider_mode: r.u8(2, "mspa_service_provider_mode")?,
            gpc: read_gpc(gpc, "usnat")?,
        })
    }

    pub(crate) fn encode(&self) -> Result<String, EncodeError> {
        let mut w = BitWriter::new("usnat.core");
        w.int(u64::from(self.version), 6, "version")?;
        for (v, f) in [
            (self.sharing_notice, "sharing_notice"),
            (self.sale_opt_out_notice, "sale_opt_out_notice"),
            (self.sharing_opt_out_notice, "sharing_opt_out_notice"),
            (
                self.targeted_advertising_opt_out_notice,
                "targeted_advertising_opt_out_notice",
            ),
            (
                self.sensitive_data_processing_opt_out_notice,
                "sensitive_data_processing_opt_out_notice",
            ),
            (
                self.sensitive_data_limit_use_notice,
                "sensitive_data_limit_use_notice",
            ),
            (self.sale_opt_out, "sale_opt_out"),
            (self.sharing_opt_out, "sharing_opt_out"),
            (
                self.targeted_advertising_opt_out,
                "targeted_advertising_opt_out",
            ),
        ] {
            w.int(u64::from(v), 2, f)?;
        }
        let long = self.sensitive_data_processing.len() == 16;
        write_codes(
            &mut w,
            &self.sensitive_data_processing,
            &[12, 16],
            "sensitive_data_processing",
        )?;
        let child = if long { [3] } else { [2] };
        write_codes(
            &mut w,
            &self.known_child_sensitive_data_consents,
            &child,
            "known_child_sensitive_data_consents",
        )?;
        for (v, f) in [
            (self.personal_data_consents, "personal_data_consents"),
            (self.mspa_covered_transaction, "mspa_covered_transaction"),
            (self.mspa_opt_out_option_mode, "mspa_opt_out_option_mode"),
            (
                self.mspa_service_provider_mode,
                "mspa_service_provider_mode",
            ),
        ] {
            w.int(u64::from(v), 2, f)?;
        }
        let mut out = base64url::encode(w.into_bits(), Padding::To8Then6);
        write_gpc(&mut out, self.gpc);
        Ok(out)
    }
}

impl UsCa {
    pub(crate) fn decode(text: &str) -> Result<Self, DecodeError> {
        let (core, gpc) = split(text, "usca", true)?;
        let bits = base64url::decode(core, "usca.core")?;
        let mut r = BitReader::new(&bits, "usca.core");
        Ok(UsCa {
            version: r.u8(6, "version")?,
            sale_opt_out_notice: r.u8(2, "sale_opt_out_notice")?,
            sharing_opt_out_notice: r.u8(2, "sharing_opt_out_notice")?,
            sensitive_data_limit_use_notice: r.u8(2, "sensitive_data_limit_use_notice")?,
            sale_opt_out: r.u8(2, "sale_opt_out")?,
            sharing_opt_out: r.u8(2, "sharing_opt_out")?,
            sensitive_data_processing: read_codes(&mut r, 9, "sensitive_data_processing")?,
            known_child_sensitive_data_consents: read_codes(
                &mut r,
                2,
                "known_child_sensitive_data_consents",
            )?,
            personal_data_consents: r.u8(2, "personal_data_consents")?,
            mspa_covered_transaction: r.u8(2, "mspa_covered_transaction")?,
            mspa_opt_out_option_mode: r.u8(2, "mspa_opt_out_option_mode")?,
            mspa_service_provider_mode: r.u8(2, "mspa_service_provider_mode")?,
            gpc: read_gpc(gpc, "usca")?,
        })
    }

    pub(crate) fn encode(&self) -> Result<String, EncodeError> {
        let mut w = BitWriter::new("usca.core");
        w.int(u64::from(self.version), 6, "version")?;
        for (v, f) in [
            (self.sale_opt_out_notice, "sale_opt_out_notice"),
            (self.sharing_opt_out_notice, "sharing_opt_out_notice"),
            (
                self.sensitive_data_limit_use_notice,
                "sensitive_data_limit_use_notice",
            ),
            (self.sale_opt_out, "sale_opt_out"),
            (self.sharing_opt_out, "sharing_opt_out"),
        ] {
            w.int(u64::from(v), 2, f)?;
        }
        write_codes(
            &mut w,
            &self.sensitive_data_processing,
            &[9],
            "sensitive_data_processing",
        )?;
        write_codes(
            &mut w,
            &self.known_child_sensitive_data_consents,
            &[2],
            "known_child_sensitive_data_consents",
        )?;
        for (v, f) in [
            (self.personal_data_consents, "personal_data_consents"),
            (self.mspa_covered_transaction, "mspa_covered_transaction"),
            (self.mspa_opt_out_option_mode, "mspa_opt_out_option_mode"),
            (
                self.mspa_service_provider_mode,
                "mspa_service_provider_mode",
            ),
        ] {
            w.int(u64::from(v), 2, f)?;
        }
        let mut out = base64url::encode(w.into_bits(), Padding::To8Then6);
        write_gpc(&mut out, self.gpc);
        Ok(out)
    }
}

impl UsVa {
    pub(crate) fn decode(text: &str) -> Result<Self, DecodeError> {
        let (core, _) = split(text, "usva", false)?;
        let bits = base64url::decode(core, "usva.core")?;
        let mut r = BitReader::new(&bits, "usva.core");
        Ok(UsVa {
            version: r.u8(6, "version")?,
            sharing_notice: r.u8(2, "sharing_notice")?,
            sale_opt_out_notice: r.u8(2, "sale_opt_out_notice")?,
            targeted_advertising_opt_out_notice: r.u8(2, "targeted_advertising_opt_out_notice")?,
            sale_opt_out: r.u8(2, "sale_opt_out")?,
            targeted_advertising_opt_out: r.u8(2, "targeted_advertising_opt_out")?,
            sensitive_data_processing: read_codes(&mut r, 8, "sensitive_data_processing")?,
            known_child_sensitive_data_consents: r.u8(2, "known_child_sensitive_data_consents")?,
            mspa_covered_transaction: r.u8(2, "mspa_covered_transaction")?,
            mspa_opt_out_option_mode: r.u8(2, "mspa_opt_out_option_mode")?,
            mspa_service_provider_mode: r.u8(2, "mspa_service_provider_mode")?,
        })
    }

    pub(crate) fn encode(&self) -> Result<String, EncodeError> {
        let mut w = BitWriter::new("usva.core");
        w.int(u64::from(self.version), 6, "version")?;
        for (v, f) in [
            (self.sharing_notice, "sharing_notice"),
            (self.sale_opt_out_notice, "sale_opt_out_notice"),
            (
                self.targeted_advertising_opt_out_notice,
                "targeted_advertising_opt_out_notice",
            ),
            (self.sale_opt_out, "sale_opt_out"),
            (
                self.targeted_advertising_opt_out,
                "targeted_advertising_opt_out",
            ),
        ] {
            w.int(u64::from(v), 2, f)?;
        }
        write_codes(
            &mut w,
            &self.sensitive_data_processing,
            &[8],
            "sensitive_data_processing",
        )?;
        for (v, f) in [
            (
                self.known_child_sensitive_data_consents,
                "known_child_sensitive_data_consents",
            ),
            (self.mspa_covered_transaction, "mspa_covered_transaction"),
            (self.mspa_opt_out_option_mode, "mspa_opt_out_option_mode"),
            (
                self.mspa_service_provider_mode,
                "mspa_service_provider_mode",
            ),
        ] {
            w.int(u64::from(v), 2, f)?;
        }
        Ok(base64url::encode(w.into_bits(), Padding::To8Then6))
    }
}
