//! The TCF 2.2/2.3 rules a TC string that decodes can still break, each a
//! named [`TcfFinding`]. From the spec: "When a Vendor encounters a TC String
//! with IsServiceSpecific=0 then it is considered invalid"; "Post 30
//! September 2023 a TC String created with a policy version set to smaller
//! than 4 will be deemed invalid"; PurposesLITransparency "Bits 2 to 5 are
//! required to be set to 0" (TCF 2.2); "A TC String must contain a Core TC
//! String and the Disclosed Vendors segment" (TCF 2.3). A string with any
//! finding must not be acted on as consent.

use serde::Serialize;

use super::TcString;

/// Purposes that cannot rest on legitimate interest from policy version 4.
const NO_LI_PURPOSES: std::ops::RangeInclusive<u8> = 3..=6;

/// One broken TCF 2.2/2.3 rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum TcfFinding {
    /// IsServiceSpecific is 0 (a global-scope string).
    NotServiceSpecific,
    /// TcfPolicyVersion is below 4.
    PolicyVersionBelow4 {
        /// The version in the string.
        version: u8,
    },
    /// Legitimate interest set for purposes 3–6 with policy version 4 or later.
    LegitimateInterestForPurposes3To6 {
        /// The purposes among 3–6 whose LI bit is set.
        purposes: Vec<u8>,
    },
    /// No DisclosedVendors segment (mandatory from TCF 2.3).
    NoDisclosedVendors,
}

impl TcfFinding {
    /// A stable name for scripts (`not_service_specific`, …).
    pub fn code(&self) -> &'static str {
        match self {
            TcfFinding::NotServiceSpecific => "not_service_specific",
            TcfFinding::PolicyVersionBelow4 { .. } => "policy_version_below_4",
            TcfFinding::LegitimateInterestForPurposes3To6 { .. } => {
                "legitimate_interest_for_purposes_3_to_6"
            }
            TcfFinding::NoDisclosedVendors => "no_disclosed_vendors",
        }
    }

    /// The rule in words, as the vectors' `policy_check_tcf22_23` states it.
    pub fn reason(&self) -> &'static str {
        match self {
            TcfFinding::NotServiceSpecific => "IsServiceSpecific=0 (spec: invalid)",
            TcfFinding::PolicyVersionBelow4 { .. } => {
                "TcfPolicyVersion<4 (invalid after 2023-09-30)"
            }
            TcfFinding::LegitimateInterestForPurposes3To6 { .. } => {
                "LI set for purposes 3-6 with policy>=4"
            }
            TcfFinding::NoDisclosedVendors => {
                "no DisclosedVendors segment (mandatory from TCF 2.3)"
            }
        }
    }
}

/// Every TCF 2.2/2.3 rule `tc` breaks, in the order above; empty when the
/// string is valid.
pub fn check(tc: &TcString) -> Vec<TcfFinding> {
    let mut findings = Vec::new();
    if !tc.is_service_specific {
        findings.push(TcfFinding::NotServiceSpecific);
    }
    if tc.tcf_policy_version < 4 {
        findings.push(TcfFinding::PolicyVersionBelow4 {
            version: tc.tcf_policy_version,
        });
    } else {
        let purposes: Vec<u8> = tc
            .purposes_li_transparency
            .iter()
            .copied()
            .filter(|p| NO_LI_PURPOSES.contains(p))
            .collect();
        if !purposes.is_empty() {
            findings.push(TcfFinding::LegitimateInterestForPurposes3To6 { purposes });
        }
    }
    if tc.disclosed_vendors().is_none() {
        findings.push(TcfFinding::NoDisclosedVendors);
    }
    findings
}
