//! Consent decisions through the public API: fail-closed defaults (G1),
//! re-consent rules, expiry through the injected clock, necessary purposes,
//! the age gate, GPC, and the listener.

mod common;

use std::sync::Arc;

use common::*;
use consentgate::{
    AgeSignal, ConsentSource, ConsentStatus, GateError, PlatformSignals, PromptReason,
    PurposeDecision,
};

#[test]
fn g1_fresh_install_denies_every_consent_category() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    for cat in [
        "device_info",
        "advertising_id",
        "usage_events",
        "account_id",
        "precise_location",
        "no_such_thing",
    ] {
        assert!(!gate.allows(cat.into()), "{cat} allowed on a fresh install");
    }
    let st = gate.consent_state();
    assert!(st.needs_prompt);
    assert_eq!(st.prompt_reasons, vec![PromptReason::NoDecision]);
    assert_eq!(st.status_of("service"), Some(ConsentStatus::Granted));
    for p in ["analytics", "advertising", "cross_border_transfer"] {
        assert_eq!(st.status_of(p), Some(ConsentStatus::Unset), "{p}");
    }
}

#[test]
fn grant_allows_categories_that_need_only_granted_purposes() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    let st = grant(&gate, "analytics", true);
    assert_eq!(st.status_of("analytics"), Some(ConsentStatus::Granted));
    assert!(gate.allows("usage_events".into()));
    assert!(gate.allows("device_info".into()));
    assert!(!gate.allows("advertising_id".into()));
    // Still prompting: other consent purposes are unset.
    assert!(st.needs_prompt);
    let st = gate.reject_all(ConsentSource::Banner).unwrap();
    assert!(!st.needs_prompt, "every purpose decided");
    assert!(!gate.allows("usage_events".into()));
    let st = gate.accept_all(ConsentSource::Banner).unwrap();
    assert!(gate.allows("advertising_id".into()));
    assert_eq!(
        st.status_of("cross_border_transfer"),
        Some(ConsentStatus::Granted)
    );
}

#[test]
fn decisions_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    {
        let gate = open(dir.path(), &example_kz(), &c);
        grant(&gate, "analytics", true);
        grant(&gate, "advertising", false);
        gate.close().unwrap();
    }
    let gate = open(dir.path(), &example_kz(), &c);
    let st = gate.consent_state();
    assert_eq!(st.status_of("analytics"), Some(ConsentStatus::Granted));
    assert_eq!(st.status_of("advertising"), Some(ConsentStatus::Denied));
    let a = st.purposes.iter().find(|p| p.id == "analytics").unwrap();
    assert_eq!(a.decided_at_ms, Some(T0));
    assert_eq!(a.expires_at_ms, Some(T0 + 365 * DAY));
    assert_eq!(a.source, Some(ConsentSource::Banner));
}

#[test]
fn material_revision_asks_again_with_policy_changed() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    {
        let gate = open(dir.path(), &policy(1, 0, &[]), &c);
        gate.accept_all(ConsentSource::Banner).unwrap();
        assert!(!gate.consent_state().needs_prompt);
    }
    let gate = open(dir.path(), &policy(2, 2, &[]), &c);
    let st = gate.consent_state();
    assert!(st.needs_prompt);
    assert_eq!(st.prompt_reasons, vec![PromptReason::PolicyChanged]);
    assert_eq!(st.status_of("analytics"), Some(ConsentStatus::Unset));
    assert!(
        !gate.allows("usage_events".into()),
        "old consent must not count"
    );
    // The retirement is on the ledger.
    let ledger = gate.ledger().unwrap();
    let last = ledger.last().unwrap();
    assert_eq!(last.source, ConsentSource::Migration);
    assert_eq!(last.status, ConsentStatus::Unset);
    assert_eq!(last.revision, 2);
}

#[test]
fn non_material_revision_keeps_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    {
        let gate = open(dir.path(), &policy(1, 0, &[]), &c);
        gate.accept_all(ConsentSource::Banner).unwrap();
    }
    let gate = open(dir.path(), &policy(2, 1, &[]), &c);
    let st = gate.consent_state();
    assert!(!st.needs_prompt, "{st:?}");
    assert!(gate.allows("usage_events".into()));
}

#[test]
fn new_purpose_prompts_for_that_purpose_only() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    {
        let gate = open(dir.path(), &policy(1, 0, &[]), &c);
        gate.accept_all(ConsentSource::Banner).unwrap();
    }
    let gate = open(dir.path(), &policy(2, 1, &["personalisation"]), &c);
    let st = gate.consent_state();
    assert!(st.needs_prompt);
    assert_eq!(st.prompt_reasons, vec![PromptReason::NewPurpose]);
    let unset: Vec<_> = st
        .purposes
        .iter()
        .filter(|p| p.status == ConsentStatus::Unset)
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(unset, vec!["personalisation"]);
    assert!(
        gate.allows("usage_events".into()),
        "earlier decisions still hold"
    );
    assert!(!gate.allows("personalisation_data".into()));
}

#[test]
fn decision_expires_after_consent_ttl_through_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    {
        let gate = open(dir.path(), &example_kz(), &c);
        grant(&gate, "analytics", true);
        grant(&gate, "advertising", false);
    }
    c.set(T0 + 364 * DAY);
    {
        let gate = open(dir.path(), &example_kz(), &c);
        assert!(gate.allows("usage_events".into()), "not expired yet");
    }
    c.set(T0 + 366 * DAY);
    let gate = open(dir.path(), &example_kz(), &c);
    let st = gate.consent_state();
    assert!(!gate.allows("usage_events".into()));
    let a = st.purposes.iter().find(|p| p.id == "analytics").unwrap();
    assert_eq!(
        (a.status, a.reason),
        (ConsentStatus::Unset, Some(PromptReason::Expired))
    );
    // Denials expire too: the user is asked again.
    assert_eq!(st.status_of("advertising"), Some(ConsentStatus::Unset));
    assert!(st.prompt_reasons.contains(&PromptReason::Expired));
    assert!(gate
        .ledger()
        .unwrap()
        .iter()
        .any(|e| e.source == ConsentSource::Expiry));
}

#[test]
fn expiry_while_running_is_noticed_by_the_writer_thread() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let gate = open(dir.path(), &example_kz(), &c);
    grant(&gate, "analytics", true);
    c.set(T0 + 366 * DAY);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while gate.allows("usage_events".into()) {
        assert!(std::time::Instant::now() < deadline, "expiry never applied");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        gate.consent_state().status_of("analytics"),
        Some(ConsentStatus::Unset)
    );
}

#[test]
fn withdrawing_a_necessary_purpose_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    grant(&gate, "analytics", true);
    let err = gate
        .set_consent(
            vec![
                PurposeDecision {
                    purpose: "analytics".into(),
                    granted: false,
                },
                PurposeDecision {
                    purpose: "service".into(),
                    granted: false,
                },
            ],
            ConsentSource::Settings,
        )
        .unwrap_err();
    assert_eq!(
        err,
        GateError::NotWithdrawable {
            purpose: "service".into()
        }
    );
    assert!(err.to_string().contains("necessary"));
    // Nothing of the refused request was applied.
    assert!(gate.allows("usage_events".into()));
}

#[test]
fn unknown_purpose_and_reserved_source_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    let err = gate
        .set_consent(
            vec![PurposeDecision {
                purpose: "analitycs".into(),
                granted: true,
            }],
            ConsentSource::Api,
        )
        .unwrap_err();
    assert_eq!(
        err,
        GateError::UnknownPurpose {
            purpose: "analitycs".into()
        }
    );
    let err = gate.accept_all(ConsentSource::Gpc).unwrap_err();
    assert!(matches!(err, GateError::InvalidArgument { .. }), "{err:?}");
    assert!(gate.ledger().unwrap().is_empty());
}

#[test]
fn age_gate_denies_consent_purposes_and_refuses_grants() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    grant(&gate, "analytics", true);
    let st = gate
        .set_age(AgeSignal {
            age_years: Some(15),
            parental_consent: false,
        })
        .unwrap();
    assert!(st.age_restricted);
    assert!(!st.needs_prompt);
    assert_eq!(st.status_of("analytics"), Some(ConsentStatus::Denied));
    assert!(!gate.allows("usage_events".into()));
    let err = gate.accept_all(ConsentSource::Banner).unwrap_err();
    assert!(
        matches!(err, GateError::AgeRestricted { min_age: 18, .. }),
        "{err:?}"
    );
    let ledger = gate.ledger().unwrap();
    assert!(
        ledger
            .iter()
            .filter(|e| e.source == ConsentSource::AgeGate)
            .count()
            >= 3
    );
    // Parental consent lifts the restriction; the user still has to grant.
    let st = gate
        .set_age(AgeSignal {
            age_years: Some(15),
            parental_consent: true,
        })
        .unwrap();
    assert!(!st.age_restricted);
    assert_eq!(st.status_of("analytics"), Some(ConsentStatus::Denied));
    grant(&gate, "analytics", true);
    assert!(gate.allows("usage_events".into()));
}

#[test]
fn region_override_of_min_age_wins() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open_region(dir.path(), &policy(1, 0, &[]), &clock(), Some("EU"));
    let st = gate
        .set_age(AgeSignal {
            age_years: Some(17),
            parental_consent: false,
        })
        .unwrap();
    assert!(!st.age_restricted, "EU min_age is 16");
    let dir = tempfile::tempdir().unwrap();
    let gate = open_region(dir.path(), &policy(1, 0, &[]), &clock(), Some("KZ"));
    let st = gate
        .set_age(AgeSignal {
            age_years: Some(17),
            parental_consent: false,
        })
        .unwrap();
    assert!(st.age_restricted, "default min_age is 18");
}

#[test]
fn gpc_denies_sale_or_share_purposes_while_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    gate.accept_all(ConsentSource::Banner).unwrap();
    assert!(gate.allows("advertising_id".into()));
    let st = gate
        .set_platform_signals(PlatformSignals {
            gpc: true,
            ..Default::default()
        })
        .unwrap();
    assert!(st.gpc);
    assert_eq!(st.status_of("advertising"), Some(ConsentStatus::Denied));
    assert!(!gate.allows("advertising_id".into()));
    assert!(
        gate.allows("usage_events".into()),
        "other purposes untouched"
    );
    let last = gate.ledger().unwrap().pop().unwrap();
    assert_eq!(
        (last.purpose.as_str(), last.source),
        ("advertising", ConsentSource::Gpc)
    );
    let err = gate
        .set_consent(
            vec![PurposeDecision {
                purpose: "advertising".into(),
                granted: true,
            }],
            ConsentSource::Settings,
        )
        .unwrap_err();
    assert_eq!(
        err,
        GateError::GpcRestricted {
            purpose: "advertising".into()
        }
    );
    // accept_all skips what GPC forbids instead of failing.
    gate.accept_all(ConsentSource::Banner).unwrap();
    assert!(!gate.allows("advertising_id".into()));
    gate.set_platform_signals(PlatformSignals::default())
        .unwrap();
    grant(&gate, "advertising", true);
    assert!(gate.allows("advertising_id".into()));
}

#[test]
fn listener_hears_each_committed_change() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    let rec = Arc::new(Recorder::default());
    gate.set_listener(rec.clone());
    grant(&gate, "analytics", true);
    grant(&gate, "analytics", true); // no change: no call
    grant(&gate, "analytics", false);
    let seen = rec.0.lock().unwrap();
    let statuses: Vec<_> = seen
        .iter()
        .map(|s| s.status_of("analytics").unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec![
            ConsentStatus::Unset,
            ConsentStatus::Granted,
            ConsentStatus::Denied
        ]
    );
}

#[test]
fn invalid_policy_is_refused_before_touching_disk() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let err = consentgate::ConsentGate::open(consentgate::GateConfig {
        data_dir: data.display().to_string(),
        policy_json: r#"{"schema": 1}"#.into(),
        region: None,
        app_version: "1".into(),
    })
    .unwrap_err();
    match err {
        GateError::InvalidPolicy { errors, .. } => assert!(errors.len() > 3, "{errors:?}"),
        other => panic!("{other:?}"),
    }
    assert!(!data.exists());
}

#[test]
fn closed_gate_refuses_calls() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example_kz(), &clock());
    gate.close().unwrap();
    assert_eq!(
        gate.accept_all(ConsentSource::Banner).unwrap_err(),
        GateError::Closed
    );
    assert_eq!(
        gate.record_event("a".into(), None).unwrap_err(),
        GateError::Closed
    );
}
