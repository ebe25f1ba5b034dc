//! The ecosystem's consent signals, as data: IAB TCF v2.2/2.3 TC strings
//! ([`tcf`]), IAB GPP strings with their US and EU sections ([`gpp`]) and the
//! US Privacy string ([`usp`]), each decoded into a plain model and encoded
//! back, plus the in-app `IABTCF_*` / `IABGPP_*` / `IABUSPrivacy_String` keys a
//! CMP writes for the ad SDKs of an app.
//!
//! Everything here is a pure function of its input: no I/O, no clock, no
//! gate. What a decoded string *means* for consentgate's own decisions (the
//! policy's `interop` block, following another CMP or being one, Consent
//! Mode) is not decided here; those callers use these codecs.
//!
//! The IAB specifications are the authority; where they leave room, the IAB
//! reference libraries (`@iabtechlabtcf/core`, `@iabgpp/cmpapi`) are followed,
//! and each such choice is named where it is made. A string that cannot be
//! read fails with a [`DecodeError`] naming the field and the bit offset
//! (`core.vendor_consents.max_vendor_id at bit 213: string ends …`); a TC
//! string that can be read but breaks a TCF 2.2/2.3 rule decodes, and
//! [`tcf::check`] names each broken rule.
//!
//! ```
//! use consentgate::interop::tcf;
//! let tc = tcf::decode("CQtAQoAQtAQoAEsACBENAHEkAPLAAEPgABTIF5wAgAEALzAvOAEAAgBeYAQSACAvMcABAAQA.IF5wBAAEAAKAAYAvMAAA.cEAAACAAAUgA").unwrap();
//! assert_eq!(tc.purposes_consent, vec![1, 2, 3, 4, 7, 9, 10]);
//! assert!(tcf::check(&tc).is_empty()); // a valid TCF 2.3 string
//! ```

mod base64url;
mod bits;
pub mod cmpapi;
mod datetime;
mod error;
mod fibonacci;
pub mod gpp;
pub mod keys;
pub mod tcf;
pub mod usp;

pub use error::{DecodeError, DecodeErrorKind, EncodeError, Position};
pub use keys::{KeyMap, KeyValue};
