//! What the IAB JavaScript entry points answer, as data: the TCF CMP API v2.2
//! `TCData` and `PingReturn` objects behind `__tcfapi`, and the GPP CMP API
//! v1.1 ping data behind `__gpp`, built from a TC string / GPP string. The
//! WebView script (`core/webview/consentgate.js`) serves these objects as they
//! are and only adds what belongs to a call (`listenerId`, `eventStatus`):
//! no TCF or GPP rule is read or applied in JavaScript.
//!
//! Choices where the specifications leave room, following the IAB reference
//! CMP API libraries: `purpose.*` lists every TCF 2.2 purpose (1–11) and
//! `specialFeatureOptins` both special features, true or false; vendor maps
//! list only the vendors present (a GVL holds over a thousand);
//! `publisher.restrictions` maps purpose id to `{vendor id: restriction type}`.

use serde_json::{json, Map, Value};

use super::gpp::{self, view as gpp_view, GppString};
use super::tcf::TcString;

/// The TCF purposes (`purpose.consents` keys).
const TCF_PURPOSES: u8 = 11;
/// The TCF special features (`specialFeatureOptins` keys).
const TCF_SPECIAL_FEATURES: u8 = 2;

/// `{"1": true, "2": false, …}` for ids `1..=max`.
fn flags(ids: &[u8], max: u8) -> Value {
    let map: Map<String, Value> = (1..=max)
        .map(|id| (id.to_string(), Value::Bool(ids.contains(&id))))
        .collect();
    Value::Object(map)
}

/// `{"<id>": true}` for each id present.
fn present<T: ToString>(ids: &[T]) -> Value {
    let map: Map<String, Value> = ids
        .iter()
        .map(|id| (id.to_string(), Value::Bool(true)))
        .collect();
    Value::Object(map)
}

/// The `TCData` object of `getTCData` / `addEventListener` for `tc` (its
/// encoded form `text`), without the per-call `listenerId` and
/// `eventStatus`. With no string (`None`), the object a CMP gives before the
/// user has chosen: `tcString` empty and empty maps.
pub fn tc_data(text: Option<&str>, tc: Option<&TcString>, gdpr_applies: Option<bool>) -> Value {
    let Some(tc) = tc else {
        return json!({
            "tcString": "",
            "tcfPolicyVersion": null,
            "cmpId": null,
            "cmpVersion": null,
            "gdprApplies": gdpr_applies,
            "cmpStatus": "loaded",
            "isServiceSpecific": true,
            "useNonStandardTexts": false,
            "publisherCC": null,
            "purposeOneTreatment": false,
            "purpose": { "consents": {}, "legitimateInterests": {} },
            "vendor": { "consents": {}, "legitimateInterests": {} },
            "specialFeatureOptins": {},
            "publisher": {
                "consents": {}, "legitimateInterests": {},
                "customPurpose": { "consents": {}, "legitimateInterests": {} },
                "restrictions": {}
            }
        });
    };
    let publisher = tc.publisher_tc().cloned().unwrap_or_default();
    let mut restrictions = Map::new();
    for r in &tc.publisher_restrictions {
        let entry = restrictions
            .entry(r.purpose_id.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(by_vendor) = entry {
            for v in &r.vendors {
                by_vendor.insert(v.to_string(), r.restriction_type.code().into());
            }
        }
    }
    json!({
        "tcString": text.unwrap_or_default(),
        "tcfPolicyVersion": tc.tcf_policy_version,
        "cmpId": tc.cmp_id,
        "cmpVersion": tc.cmp_version,
        "gdprApplies": gdpr_applies,
        "cmpStatus": "loaded",
        "isServiceSpecific": tc.is_service_specific,
        "useNonStandardTexts": tc.use_non_standard_texts,
        "publisherCC": tc.publisher_cc,
        "purposeOneTreatment": tc.purpose_one_treatment,
        "purpose": {
            "consents": flags(&tc.purposes_consent, TCF_PURPOSES),
            "legitimateInterests": flags(&tc.purposes_li_transparency, TCF_PURPOSES),
        },
        "vendor": {
            "consents": present(&tc.vendor_consents.vendors),
            "legitimateInterests": present(&tc.vendor_legitimate_interests.vendors),
        },
        "specialFeatureOptins": flags(&tc.special_feature_opt_ins, TCF_SPECIAL_FEATURES),
        "publisher": {
            "consents": flags(&publisher.purposes_consent, TCF_PURPOSES),
            "legitimateInterests": flags(&publisher.purposes_li_transparency, TCF_PURPOSES),
            "customPurpose": {
                "consents": present(&publisher.custom_purposes_consent),
                "legitimateInterests": present(&publisher.custom_purposes_li_transparency),
            },
            "restrictions": restrictions,
        },
    })
}

/// The `PingReturn` of `__tcfapi('ping', 2, cb)` for `tc`.
pub fn tcf_ping(tc: Option<&TcString>, gdpr_applies: Option<bool>) -> Value {
    json!({
        "gdprApplies": gdpr_applies,
        "cmpLoaded": true,
        "cmpStatus": "loaded",
        "displayStatus": "hidden",
        "apiVersion": "2.2",
        "cmpVersion": tc.map(|t| t.cmp_version),
        "cmpId": tc.map(|t| t.cmp_id),
        "gvlVersion": tc.map(|t| t.vendor_list_version),
        "tcfPolicyVersion": tc.map(|t| t.tcf_policy_version),
    })
}

/// The ping data of `__gpp('ping', cb)` (also `pingData` of every event) for
/// the GPP string `text` (decoded `gpp`): every section of the string is
/// applicable; with no string, `applicableSections` is `[-1]` as the CMP API
/// says for "none".
pub fn gpp_ping(text: Option<&str>, gpp: Option<&GppString>) -> Value {
    let ids: Vec<u16> = gpp
        .map(|g| g.sections.iter().map(gpp::GppSection::id).collect())
        .unwrap_or_default();
    let supported: Vec<String> = ids
        .iter()
        .map(|id| format!("{id}:{}", gpp::section_name(*id)))
        .collect();
    let parsed = gpp
        .map(|g| gpp_view::decoded(g)["sections"].clone())
        .unwrap_or_else(|| json!({}));
    let applicable: Value = if ids.is_empty() {
        json!([-1])
    } else {
        json!(ids)
    };
    json!({
        "gppVersion": "1.1",
        "cmpStatus": "loaded",
        "cmpDisplayStatus": "hidden",
        "signalStatus": "ready",
        "supportedAPIs": supported,
        "cmpId": null,
        "sectionList": ids,
        "applicableSections": applicable,
        "gppString": text.unwrap_or_default(),
        "parsedSections": parsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interop::tcf;

    const TC: &str = "CQtAQoAQtAQoAEsACBENAHEkAPLAAEPgABTIF5wAgAEALzAvOAEAAgBeYAQSACAvMcABAAQA.IF5wBAAEAAKAAYAvMAAA.cEAAACAAAUgA";

    #[test]
    fn tc_data_lists_every_purpose_and_the_vendors_present() {
        let tc = tcf::decode(TC).unwrap();
        let d = tc_data(Some(TC), Some(&tc), Some(true));
        assert_eq!(d["tcString"], TC);
        assert_eq!(d["gdprApplies"], true);
        assert_eq!(d["purpose"]["consents"]["1"], true);
        assert_eq!(d["purpose"]["consents"]["5"], false);
        assert_eq!(d["purpose"]["consents"].as_object().unwrap().len(), 11);
        for v in &tc.vendor_consents.vendors {
            assert_eq!(d["vendor"]["consents"][v.to_string()], true);
        }
        assert_eq!(d["cmpId"], tc.cmp_id);
    }

    #[test]
    fn without_a_string_nothing_is_consented() {
        let d = tc_data(None, None, None);
        assert_eq!(d["tcString"], "");
        assert_eq!(d["purpose"]["consents"], json!({}));
        assert_eq!(d["gdprApplies"], Value::Null);
        assert_eq!(gpp_ping(None, None)["applicableSections"], json!([-1]));
    }
}
