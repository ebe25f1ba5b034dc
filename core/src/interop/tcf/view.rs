//! A decoded TC string as JSON in the shape of the IAB reference decoder
//! (`@iabtechlabtcf/core` field names, flags as 0/1, id lists, both
//! timestamps as deciseconds and as UTC text), which is also the shape of
//! `expected_decode` in the shared TCF test vectors. `consentgate tcf
//! decode` prints [`decoded`] with [`policy_check`] beside it.

use serde_json::{json, Value};

use super::{PublisherRestriction, TcSegment, TcString, TcfFinding, VendorSection, VERSION};
use crate::interop::datetime::iso_tcf;

/// Every field of `tc`, as the reference decoder names them.
pub fn decoded(tc: &TcString) -> Value {
    json!({
        "version": VERSION,
        "created_ds": tc.created_ds,
        "lastUpdated_ds": tc.last_updated_ds,
        "created": iso_tcf(tc.created_ds),
        "lastUpdated": iso_tcf(tc.last_updated_ds),
        "cmpId": tc.cmp_id,
        "cmpVersion": tc.cmp_version,
        "consentScreen": tc.consent_screen,
        "consentLanguage": tc.consent_language,
        "vendorListVersion": tc.vendor_list_version,
        "tcfPolicyVersion": tc.tcf_policy_version,
        "isServiceSpecific": u8::from(tc.is_service_specific),
        "useNonStandardTexts": u8::from(tc.use_non_standard_texts),
        "specialFeatureOptIns": tc.special_feature_opt_ins,
        "purposesConsent": tc.purposes_consent,
        "purposesLITransparency": tc.purposes_li_transparency,
        "purposeOneTreatment": u8::from(tc.purpose_one_treatment),
        "publisherCC": tc.publisher_cc,
        "vendorConsentMaxId": tc.vendor_consents.max_vendor_id,
        "vendorConsentIsRange": tc.vendor_consents.is_range,
        "vendorConsents": tc.vendor_consents.vendors,
        "vendorLIMaxId": tc.vendor_legitimate_interests.max_vendor_id,
        "vendorLIIsRange": tc.vendor_legitimate_interests.is_range,
        "vendorLegitimateInterests": tc.vendor_legitimate_interests.vendors,
        "publisherRestrictions": tc.publisher_restrictions.iter().map(restriction).collect::<Vec<_>>(),
        "segments": tc.segments.iter().map(segment).collect::<Vec<_>>(),
    })
}

/// `{"valid", "reasons", "findings"}`: the rules broken, in words (as the
/// vectors' `policy_check_tcf22_23`) and as named findings.
pub fn policy_check(findings: &[TcfFinding]) -> Value {
    json!({
        "valid": findings.is_empty(),
        "reasons": findings.iter().map(TcfFinding::reason).collect::<Vec<_>>(),
        "findings": findings,
    })
}

fn restriction(r: &PublisherRestriction) -> Value {
    json!({
        "purposeId": r.purpose_id,
        "restrictionType": r.restriction_type.code(),
        "vendors": r.vendors,
    })
}

fn vendor_segment(segment_type: u8, v: &VendorSection) -> Value {
    json!({
        "segmentType": segment_type,
        "maxVendorId": v.max_vendor_id,
        "isRange": v.is_range,
        "vendors": v.vendors,
    })
}

fn segment(s: &TcSegment) -> Value {
    match s {
        TcSegment::DisclosedVendors(v) | TcSegment::AllowedVendors(v) => {
            vendor_segment(s.segment_type(), v)
        }
        TcSegment::PublisherTc(p) => json!({
            "segmentType": s.segment_type(),
            "pubPurposesConsent": p.purposes_consent,
            "pubPurposesLITransparency": p.purposes_li_transparency,
            "numCustomPurposes": p.num_custom_purposes,
            "customPurposesConsent": p.custom_purposes_consent,
            "customPurposesLITransparency": p.custom_purposes_li_transparency,
        }),
    }
}
