//! A decoded GPP string as JSON in the shape `@iabgpp/cmpapi` gives
//! (`getHeader()`, and `getSection(name)` for each section, with PascalCase
//! field names, booleans as booleans, id lists, datetimes as ISO text), which
//! is also the shape of `expected_header` / `expected_sections` in the
//! shared GPP test vectors. `consentgate gpp decode` prints [`decoded`].

use serde_json::{json, Map, Value};

use super::{GppHeader, GppSection, GppString, TcfCaV1, UsCa, UsNat, UsVa, HEADER_TYPE};
use crate::interop::datetime::iso_millis;
use crate::interop::tcf::{TcSegment, TcString, VendorSection};

/// `{"header": …, "sections": {name: …}}`.
pub fn decoded(gpp: &GppString) -> Value {
    let sections: Map<String, Value> = gpp
        .sections
        .iter()
        .map(|s| (s.name(), section(s)))
        .collect();
    json!({ "header": header(&gpp.header()), "sections": sections })
}

/// `{"Id": 3, "Version": 1, "SectionIds": […]}`.
pub fn header(h: &GppHeader) -> Value {
    json!({ "Id": HEADER_TYPE, "Version": h.version, "SectionIds": h.section_ids })
}

fn section(s: &GppSection) -> Value {
    match s {
        GppSection::TcfEuV2(tc) => tcfeuv2(tc),
        GppSection::TcfCaV1(ca) => tcfcav1(ca),
        GppSection::UspV1(usp) => json!(usp),
        GppSection::UsNat(n) => usnat(n),
        GppSection::UsCa(c) => usca(c),
        GppSection::UsVa(v) => usva(v),
        GppSection::Other { text, .. } => json!({ "String": text, "Decoded": false }),
    }
}

fn tcfeuv2(tc: &TcString) -> Value {
    let vendors = |s: Option<&VendorSection>| s.map(|s| s.vendors.clone()).unwrap_or_default();
    let allowed = tc.segments.iter().find_map(|s| match s {
        TcSegment::AllowedVendors(v) => Some(v),
        _ => None,
    });
    let publisher = tc.publisher_tc().cloned().unwrap_or_default();
    let restrictions: Vec<Value> = tc
        .publisher_restrictions
        .iter()
        .map(
            |r| json!({ "key": r.purpose_id, "type": r.restriction_type.code(), "ids": r.vendors }),
        )
        .collect();
    json!({
        "Version": crate::interop::tcf::VERSION,
        "Created": iso_millis(tc.created_ds),
        "LastUpdated": iso_millis(tc.last_updated_ds),
        "CmpId": tc.cmp_id,
        "CmpVersion": tc.cmp_version,
        "ConsentScreen": tc.consent_screen,
        "ConsentLanguage": tc.consent_language,
        "VendorListVersion": tc.vendor_list_version,
        "PolicyVersion": tc.tcf_policy_version,
        "IsServiceSpecific": tc.is_service_specific,
        "UseNonStandardStacks": tc.use_non_standard_texts,
        "SpecialFeatureOptins": tc.special_feature_opt_ins,
        "PurposeConsents": tc.purposes_consent,
        "PurposeLegitimateInterests": tc.purposes_li_transparency,
        "PurposeOneTreatment": tc.purpose_one_treatment,
        "PublisherCountryCode": tc.publisher_cc,
        "VendorConsents": tc.vendor_consents.vendors,
        "VendorLegitimateInterests": tc.vendor_legitimate_interests.vendors,
        "PublisherRestrictions": restrictions,
        "PublisherPurposesSegmentType": 3,
        "PublisherConsents": publisher.purposes_consent,
        "PublisherLegitimateInterests": publisher.purposes_li_transparency,
        "NumCustomPurposes": publisher.num_custom_purposes,
        "PublisherCustomConsents": publisher.custom_purposes_consent,
        "PublisherCustomLegitimateInterests": publisher.custom_purposes_li_transparency,
        "VendorsAllowedSegmentType": 2,
        "VendorsAllowed": vendors(allowed),
        "VendorsDisclosedSegmentType": 1,
        "VendorsDisclosed": vendors(tc.disclosed_vendors()),
    })
}

fn tcfcav1(ca: &TcfCaV1) -> Value {
    let publisher = ca.publisher_purposes.clone().unwrap_or_default();
    json!({
        "Version": ca.version,
        "Created": iso_millis(ca.created_ds),
        "LastUpdated": iso_millis(ca.last_updated_ds),
        "CmpId": ca.cmp_id,
        "CmpVersion": ca.cmp_version,
        "ConsentScreen": ca.consent_screen,
        "ConsentLanguage": ca.consent_language,
        "VendorListVersion": ca.vendor_list_version,
        "TcfPolicyVersion": ca.tcf_policy_version,
        "UseNonStandardStacks": ca.use_non_standard_stacks,
        "SpecialFeatureExpressConsent": ca.special_feature_express_consent,
        "PurposesExpressConsent": ca.purposes_express_consent,
        "PurposesImpliedConsent": ca.purposes_implied_consent,
        "VendorExpressConsent": ca.vendor_express_consent,
        "VendorImpliedConsent": ca.vendor_implied_consent,
        "PubRestrictions": ca.pub_restrictions,
        "PubPurposesSegmentType": 3,
        "PubPurposesExpressConsent": publisher.purposes_express_consent,
        "PubPurposesImpliedConsent": publisher.purposes_implied_consent,
        "NumCustomPurposes": publisher.num_custom_purposes,
        "CustomPurposesExpressConsent": publisher.custom_purposes_express_consent,
        "CustomPurposesImpliedConsent": publisher.custom_purposes_implied_consent,
        "DisclosedVendorsSegmentType": 1,
        "DisclosedVendors": ca.disclosed_vendors.clone().unwrap_or_default(),
    })
}

fn usnat(n: &UsNat) -> Value {
    json!({
        "Version": n.version,
        "SharingNotice": n.sharing_notice,
        "SaleOptOutNotice": n.sale_opt_out_notice,
        "SharingOptOutNotice": n.sharing_opt_out_notice,
        "TargetedAdvertisingOptOutNotice": n.targeted_advertising_opt_out_notice,
        "SensitiveDataProcessingOptOutNotice": n.sensitive_data_processing_opt_out_notice,
        "SensitiveDataLimitUseNotice": n.sensitive_data_limit_use_notice,
        "SaleOptOut": n.sale_opt_out,
        "SharingOptOut": n.sharing_opt_out,
        "TargetedAdvertisingOptOut": n.targeted_advertising_opt_out,
        "SensitiveDataProcessing": n.sensitive_data_processing,
        "KnownChildSensitiveDataConsents": n.known_child_sensitive_data_consents,
        "PersonalDataConsents": n.personal_data_consents,
        "MspaCoveredTransaction": n.mspa_covered_transaction,
        "MspaOptOutOptionMode": n.mspa_opt_out_option_mode,
        "MspaServiceProviderMode": n.mspa_service_provider_mode,
        // As iabgpp-es: without the sub-section, its defaults (type 1, false).
        "GpcSegmentType": 1,
        "Gpc": n.gpc.unwrap_or(false),
    })
}

fn usca(c: &UsCa) -> Value {
    json!({
        "Version": c.version,
        "SaleOptOutNotice": c.sale_opt_out_notice,
        "SharingOptOutNotice": c.sharing_opt_out_notice,
        "SensitiveDataLimitUseNotice": c.sensitive_data_limit_use_notice,
        "SaleOptOut": c.sale_opt_out,
        "SharingOptOut": c.sharing_opt_out,
        "SensitiveDataProcessing": c.sensitive_data_processing,
        "KnownChildSensitiveDataConsents": c.known_child_sensitive_data_consents,
        "PersonalDataConsents": c.personal_data_consents,
        "MspaCoveredTransaction": c.mspa_covered_transaction,
        "MspaOptOutOptionMode": c.mspa_opt_out_option_mode,
        "MspaServiceProviderMode": c.mspa_service_provider_mode,
        "GpcSegmentType": 1,
        "Gpc": c.gpc.unwrap_or(false),
    })
}

fn usva(v: &UsVa) -> Value {
    json!({
        "Version": v.version,
        "SharingNotice": v.sharing_notice,
        "SaleOptOutNotice": v.sale_opt_out_notice,
        "TargetedAdvertisingOptOutNotice": v.targeted_advertising_opt_out_notice,
        "SaleOptOut": v.sale_opt_out,
        "TargetedAdvertisingOptOut": v.targeted_advertising_opt_out,
        "SensitiveDataProcessing": v.sensitive_data_processing,
        "KnownChildSensitiveDataConsents": v.known_child_sensitive_data_consents,
        "MspaCoveredTransaction": v.mspa_covered_transaction,
        "MspaOptOutOptionMode": v.mspa_opt_out_option_mode,
        "MspaServiceProviderMode": v.mspa_service_provider_mode,
    })
}
