//! Policy changes that need no new consent, and their acknowledgement.
//!
//! A new policy revision either needs new consent — it is *material*: the
//! policy retires earlier decisions (`reconsent_below_revision`) or adds a
//! consent purpose — and then the user is prompted again (`consent`), or it
//! does not (a reworded notice, a new endpoint, a change to necessary
//! purposes only). Continued use of the app is never taken as agreement to
//! such a change: until the app has shown it and called
//! `acknowledge_policy`, the state says [`PolicyChange`] is due, and the
//! acknowledgement is a ledger entry of its own kind (`LedgerKind::Acknowledgement`).
//!
//! This module holds the rule over one number per installation, the
//! *notice revision*: the latest revision the user is known to have been
//! shown (the one the installation started with, an acknowledged one, or
//! one a material change made the user decide under again). Pure: the
//! engine keeps the number in the store and in the state.

use std::collections::HashMap;

use serde::Serialize;

use crate::policy::{Policy, PurposeKind};

/// A policy change the app should show the user, who need not consent
/// again: the revisions involved and where the notice is published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct PolicyChange {
    /// The revision the user was last shown.
    pub from_revision: i64,
    /// The revision in force, to acknowledge.
    pub to_revision: i64,
    /// Where the privacy notice of `to_revision` is published.
    pub notice_url: String,
}

/// True when going from revision `notice_revision` to the policy in force
/// needs new consent: the policy retires decisions made under it, or a
/// consent purpose was first seen after it (`first_seen`: the revision in
/// which this installation first saw each purpose).
pub(crate) fn is_material(
    policy: &Policy,
    notice_revision: u32,
    first_seen: &HashMap<String, u32>,
) -> bool {
    policy.reconsent_below_revision > notice_revision
        || policy.purposes.iter().any(|p| {
            p.kind == PurposeKind::Consent
                && first_seen
                    .get(&p.id)
                    .is_none_or(|&first| first > notice_revision)
        })
}

/// The notice revision once the policy in force is taken into account: a
/// material change is brought to the user by the re-consent prompt, so it
/// moves the notice revision to the revision in force at once (nothing is
/// left to acknowledge); any other change leaves it where it was (the
/// change is due until acknowledged). Never moves backwards (an app
/// downgraded to an older policy owes no acknowledgement of it).
pub(crate) fn settle(
    policy: &Policy,
    notice_revision: u32,
    first_seen: &HashMap<String, u32>,
) -> u32 {
    if notice_revision < policy.revision && is_material(policy, notice_revision, first_seen) {
        policy.revision
    } else {
        notice_revision
    }
}

/// The change due for acknowledgement, if the policy in force is newer than
/// the notice revision.
pub(crate) fn due(policy: &Policy, notice_revision: u32) -> Option<PolicyChange> {
    (notice_revision < policy.revision).then(|| PolicyChange {
        from_revision: i64::from(notice_revision),
        to_revision: i64::from(policy.revision),
        notice_url: policy.notice_url.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(revision: u32, reconsent_below: u32, extra_purpose: Option<&str>) -> Policy {
        let extra = extra_purpose.map_or(String::new(), |p| format!(",{p}"));
        Policy::parse(&format!(
            r#"{{"schema": 1, "policy_id": "p", "revision": {revision},
                "reconsent_below_revision": {reconsent_below},
                "notice_url": "https://example.kz/privacy", "controller": {{"name": "C"}},
                "purposes": [{{"id": "service", "kind": "necessary"}},
                             {{"id": "analytics", "kind": "consent"}}{extra}],
                "categories": [{{"id": "usage_events", "requires": ["analytics"]}}],
                "endpoints": [{{"id": "kz", "url": "https://c.example.kz", "regions": ["KZ"]}}]}}"#
        ))
        .expect("valid policy")
    }

    fn seen(pairs: &[(&str, u32)]) -> HashMap<String, u32> {
        pairs.iter().map(|(p, r)| (p.to_string(), *r)).collect()
    }

    #[test]
    fn a_non_material_revision_is_due_until_acknowledged() {
        let p = policy(5, 0, None);
        let first = seen(&[("service", 4), ("analytics", 4)]);
        assert_eq!(settle(&p, 4, &first), 4);
        assert_eq!(
            due(&p, 4),
            Some(PolicyChange {
                from_revision: 4,
                to_revision: 5,
                notice_url: "https://example.kz/privacy".into()
            })
        );
        assert_eq!(due(&p, 5), None);
    }

    #[test]
    fn a_new_necessary_purpose_needs_no_consent_a_new_consent_purpose_does() {
        let necessary = policy(5, 0, Some(r#"{"id": "fraud", "kind": "necessary"}"#));
        let first = seen(&[("service", 4), ("analytics", 4), ("fraud", 5)]);
        assert_eq!(settle(&necessary, 4, &first), 4);
        let consent = policy(5, 0, Some(r#"{"id": "ads", "kind": "consent"}"#));
        let first = seen(&[("service", 4), ("analytics", 4), ("ads", 5)]);
        assert!(is_material(&consent, 4, &first));
        assert_eq!(settle(&consent, 4, &first), 5);
    }

    #[test]
    fn retiring_decisions_is_material_and_nothing_is_left_to_acknowledge() {
        let p = policy(5, 5, None);
        let first = seen(&[("service", 4), ("analytics", 4)]);
        assert_eq!(settle(&p, 4, &first), 5);
        assert_eq!(due(&p, settle(&p, 4, &first)), None);
        // Skipping revisions: material measured from what the user saw.
        let p = policy(7, 5, None);
        assert_eq!(settle(&p, 4, &first), 7);
        assert_eq!(settle(&p, 6, &first), 6);
    }

    #[test]
    fn an_older_policy_owes_nothing_and_the_notice_revision_stays() {
        let p = policy(3, 0, None);
        let first = seen(&[("service", 3), ("analytics", 3)]);
        assert_eq!(settle(&p, 5, &first), 5);
        assert_eq!(due(&p, 5), None);
    }
}
