//! The policy's `interop` block through the public API, with an in-memory
//! key-value store standing in for SharedPreferences / UserDefaults:
//! following another CMP (a fake CMP writes `IABTCF_TCString`; decisions
//! with ledger source `tcf` and the string's hash; withdrawal purges; an
//! invalid or missing string changes nothing and is reported), being the
//! CMP (keys written before `set_consent` returns, the refused state after
//! `reject_all` and `request_deletion`, nothing written without `cmp_id`),
//! and the Consent Mode v2 signals per mapping.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::{clock, grant, open, record_n};
use consentgate::interop::tcf::{self, VendorSection};
use consentgate::{
    ConsentModeStatus, ConsentSource, ConsentState, ConsentStatus, InteropMode, KeyValueStore,
    KeyWrite, Policy, SignalStatus,
};
use serde_json::Value;

/// SharedPreferences in memory: strings and ints, and every write call.
#[derive(Default)]
struct MemoryStore {
    strings: Mutex<BTreeMap<String, String>>,
    ints: Mutex<BTreeMap<String, i32>>,
    writes: Mutex<usize>,
}

impl MemoryStore {
    fn put(&self, key: &str, value: &str) {
        self.strings
            .lock()
            .unwrap()
            .insert(key.into(), value.into());
    }
    fn string(&self, key: &str) -> Option<String> {
        self.strings.lock().unwrap().get(key).cloned()
    }
    fn int(&self, key: &str) -> Option<i32> {
        self.ints.lock().unwrap().get(key).copied()
    }
    fn writes(&self) -> usize {
        *self.writes.lock().unwrap()
    }
}

impl KeyValueStore for MemoryStore {
    fn get_string(&self, key: String) -> Option<String> {
        self.string(&key)
    }
    fn get_int(&self, key: String) -> Option<i32> {
        self.int(&key)
    }
    fn write(&self, changes: Vec<KeyWrite>) {
        *self.writes.lock().unwrap() += 1;
        for c in changes {
            match c {
                KeyWrite::SetString { key, value } => {
                    self.ints.lock().unwrap().remove(&key);
                    self.strings.lock().unwrap().insert(key, value);
                }
                KeyWrite::SetInt { key, value } => {
                    self.strings.lock().unwrap().remove(&key);
                    self.ints.lock().unwrap().insert(key, value);
                }
                KeyWrite::Remove { key } => {
                    self.strings.lock().unwrap().remove(&key);
                    self.ints.lock().unwrap().remove(&key);
                }
            }
        }
    }
}

fn example(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../examples/policies/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("example policy")
}

fn vector(prefix: &str) -> String {
    let doc: Value = serde_json::from_str(include_str!("vectors/tcf.json")).expect("json");
    doc["vectors"]
        .as_array()
        .expect("vectors")
        .iter()
        .find(|v| v["id"].as_str().is_some_and(|i| i.starts_with(prefix)))
        .and_then(|v| v["tc_string"].as_str())
        .expect("vector")
        .to_string()
}

/// tcf-04 (valid under TCF 2.2/2.3) with its purpose consents replaced.
fn valid_string(purposes: &[u8]) -> String {
    let mut tc = tcf::decode(&vector("tcf-04")).expect("decodes");
    tc.purposes_consent = purposes.to_vec();
    tc.vendor_consents = VendorSection::from_vendors(vec![8, 755]);
    assert!(tcf::check(&tc).is_empty());
    tcf::encode(&tc).expect("encodes")
}

fn sha256_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The source of `purpose`'s decision in `state`.
fn source_of(state: &ConsentState, purpose: &str) -> Option<ConsentSource> {
    state
        .purposes
        .iter()
        .find(|p| p.id == purpose)
        .expect("the policy defines the purpose")
        .source
}

// ---- following another CMP ----

#[test]
fn g1_a_valid_tc_string_becomes_decisions_with_source_tcf_and_its_hash_in_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example("example-eu.json"), &clock());
    let kv = Arc::new(MemoryStore::default());
    // tcf-04: purposes 1,2,3,4,7,9,10 and vendor 755, but not purpose 8.
    let string = vector("tcf-04");
    kv.put("IABTCF_TCString", &string);
    let state = gate.set_key_value_store(kv.clone()).unwrap();
    assert_eq!(state.status_of("advertising"), Some(ConsentStatus::Granted));
    // analytics maps to purposes 1, 8, 9: 8 is refused, so never granted (G1).
    assert_eq!(state.status_of("analytics"), Some(ConsentStatus::Denied));
    assert_eq!(source_of(&state, "advertising"), Some(ConsentSource::Tcf));
    let interop = state.interop.expect("the policy has an interop block");
    assert_eq!(interop.mode, InteropMode::Follow);
    assert_eq!(interop.tcf.status, SignalStatus::Applied);
    assert_eq!(
        interop.tcf.string_hash.as_deref(),
        Some(sha256_hex(&string).as_str())
    );
    let ledger = gate.ledger().unwrap();
    let from_tcf: Vec<_> = ledger
        .iter()
        .filter(|e| e.source == ConsentSource::Tcf)
        .collect();
    assert_eq!(from_tcf.len(), 2, "{ledger:?}");
    assert!(from_tcf
        .iter()
        .all(|e| e.signal_hash.as_deref() == Some(sha256_hex(&string).as_str())));
    assert!(gate.verify_ledger().unwrap().intact);
    assert!(gate.allows("advertising_id".into()));
    assert!(!gate.allows("usage_events".into()));
    // Following never writes a key (only a registered CMP may).
    assert_eq!(kv.writes(), 0);
}

#[test]
fn g1_an_invalid_or_missing_tc_string_changes_nothing_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example("example-eu.json"), &clock());
    let kv = Arc::new(MemoryStore::default());
    let state = gate.set_key_value_store(kv.clone()).unwrap();
    assert_eq!(state.interop.unwrap().tcf.status, SignalStatus::Missing);
    assert!(gate.ledger().unwrap().is_empty());

    // tcf-07 decodes but claims legitimate interest for purposes 3-5.
    kv.put("IABTCF_TCString", &vector("tcf-07"));
    let state = gate.interop_keys_changed().unwrap();
    let tcf = state.interop.as_ref().unwrap().tcf.clone();
    assert_eq!(tcf.status, SignalStatus::Invalid);
    assert!(
        tcf.problem.unwrap().contains("3"),
        "the broken rule is named"
    );
    assert!(state.purposes.iter().all(|p| p.source.is_none()));

    // tcf-09 cannot be decoded: the field and bit offset are named.
    kv.put("IABTCF_TCString", &vector("tcf-09"));
    let state = gate.interop_keys_changed().unwrap();
    let problem = state.interop.unwrap().tcf.problem.unwrap();
    assert!(problem.contains(" at bit "), "{problem}");
    assert!(gate.ledger().unwrap().is_empty(), "nothing changed");

    // A valid string, then an invalid one: the decisions stay.
    kv.put("IABTCF_TCString", &valid_string(&[1, 2, 3, 4, 7]));
    gate.interop_keys_changed().unwrap();
    assert_eq!(
        gate.consent_state().status_of("advertising"),
        Some(ConsentStatus::Granted)
    );
    kv.put("IABTCF_TCString", "not a tc string");
    let state = gate.interop_keys_changed().unwrap();
    assert_eq!(state.status_of("advertising"), Some(ConsentStatus::Granted));
    let interop = state.interop.unwrap();
    assert_eq!(interop.tcf.status, SignalStatus::Invalid);
    // ... but ads are not requested on an invalid string.
    assert!(!interop.can_request_ads);
    assert_eq!(interop.consent_mode.ad_storage, ConsentModeStatus::Denied);
}

#[test]
fn g3_withdrawal_through_the_other_cmp_purges_queued_records() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example("example-eu.json"), &clock());
    let kv = Arc::new(MemoryStore::default());
    kv.put("IABTCF_TCString", &valid_string(&[1, 8, 9]));
    let state = gate.set_key_value_store(kv.clone()).unwrap();
    assert_eq!(state.status_of("analytics"), Some(ConsentStatus::Granted));
    record_n(&gate, "screen_view", 20);
    gate.persist().unwrap();
    assert_eq!(gate.queue_stats().events, 20);

    // The user withdraws purpose 8 in the other CMP's settings.
    kv.put("IABTCF_TCString", &valid_string(&[1, 9]));
    let state = gate.interop_keys_changed().unwrap();
    assert_eq!(state.status_of("analytics"), Some(ConsentStatus::Denied));
    assert_eq!(
        gate.queue_stats().events,
        0,
        "queued records purged with the withdrawal"
    );
    let last = gate.ledger().unwrap().pop().unwrap();
    assert_eq!(
        (last.source, last.status),
        (ConsentSource::Tcf, ConsentStatus::Denied)
    );
}

#[test]
fn the_same_string_read_again_does_not_override_a_later_choice_in_consentgate() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example("example-eu.json"), &clock());
    let kv = Arc::new(MemoryStore::default());
    kv.put("IABTCF_TCString", &valid_string(&[1, 2, 3, 4, 7]));
    gate.set_key_value_store(kv.clone()).unwrap();
    grant(&gate, "advertising", false);
    let state = gate.interop_keys_changed().unwrap();
    assert_eq!(state.status_of("advertising"), Some(ConsentStatus::Denied));
    drop(gate);
    // Nor at the next open.
    let gate = open(dir.path(), &example("example-eu.json"), &clock());
    let state = gate.set_key_value_store(kv).unwrap();
    assert_eq!(state.status_of("advertising"), Some(ConsentStatus::Denied));
}

#[test]
fn google_reads_tcf_purposes_on_top_of_the_mapping_when_following() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example("example-eu.json"), &clock());
    let kv = Arc::new(MemoryStore::default());
    kv.put("IABTCF_TCString", &valid_string(&[1, 2, 3, 4, 7, 8, 9]));
    let cm = gate
        .set_key_value_store(kv.clone())
        .unwrap()
        .interop
        .unwrap()
        .consent_mode;
    assert_eq!(cm.ad_storage, ConsentModeStatus::Granted);
    assert_eq!(cm.analytics_storage, ConsentModeStatus::Granted);
    assert_eq!(cm.ad_user_data, ConsentModeStatus::Granted);
    assert_eq!(cm.ad_personalization, ConsentModeStatus::Granted);
    assert!(gate.can_request_ads());
    // The user then refuses advertising in consentgate: the mapping denies
    // every ad type although the string still consents.
    grant(&gate, "advertising", false);
    let cm = gate.consent_mode().unwrap();
    assert_eq!(cm.ad_storage, ConsentModeStatus::Denied);
    assert_eq!(cm.ad_personalization, ConsentModeStatus::Denied);
    assert_eq!(cm.analytics_storage, ConsentModeStatus::Granted);
    assert!(!gate.can_request_ads());
}

// ---- being the CMP ----

fn cmp_gate(dir: &std::path::Path) -> (Arc<consentgate::ConsentGate>, Arc<MemoryStore>) {
    let gate = open(dir, &example("example-eu-cmp.json"), &clock());
    let kv = Arc::new(MemoryStore::default());
    gate.set_key_value_store(kv.clone()).unwrap();
    (gate, kv)
}

#[test]
fn being_the_cmp_the_tc_string_and_keys_are_written_before_set_consent_returns() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, kv) = cmp_gate(dir.path());
    // Connected: the refused state of a fresh install is written at once.
    assert_eq!(kv.string("IABTCF_PurposeConsents").as_deref(), Some(""));
    assert_eq!(kv.int("IABTCF_CmpSdkID"), Some(4095));
    let state = grant(&gate, "advertising", true);
    let written = kv
        .string("IABTCF_TCString")
        .expect("written before set_consent returned");
    let tc = tcf::decode(&written).unwrap();
    assert!(tcf::check(&tc).is_empty(), "a valid TCF 2.3 string");
    assert_eq!(tc.cmp_id, 4095);
    // Purpose 1 is mapped by analytics too: it is consented only when
    // every purpose mapped to it is granted (never more than the user gave).
    assert_eq!(tc.purposes_consent, vec![2, 3, 4, 7]);
    assert_eq!(tc.vendor_consents.vendors, vec![755]);
    assert!(
        !state.interop.unwrap().can_request_ads,
        "Google reads purpose 1 as refused"
    );
    grant(&gate, "analytics", true);
    let tc = tcf::decode(&kv.string("IABTCF_TCString").unwrap()).unwrap();
    assert_eq!(tc.purposes_consent, vec![1, 2, 3, 4, 7, 8, 9]);
    assert_eq!(tc.vendor_consents.vendors, vec![755]);
    assert_eq!(
        kv.string("IABTCF_PurposeConsents").as_deref(),
        Some("111100111")
    );
    assert_eq!(kv.string("IABTCF_PublisherCC").as_deref(), Some("DE"));
    assert_eq!(kv.int("IABTCF_gdprApplies"), Some(1));
    // GPP applies in this policy: the string with its tcfeuv2 section.
    let gpp = kv.string("IABGPP_HDR_GppString").unwrap();
    assert_eq!(kv.string("IABGPP_2_TCString"), kv.string("IABTCF_TCString"));
    assert_eq!(kv.string("IABGPP_GppSID").as_deref(), Some("2"));
    assert!(gpp.starts_with("DBAB"));
    let interop = gate.consent_state().interop.unwrap();
    assert_eq!(interop.mode, InteropMode::Cmp);
    assert_eq!(interop.tcf.status, SignalStatus::Written);
    assert_eq!(interop.tcf.string, kv.string("IABTCF_TCString"));
    assert!(interop.can_request_ads);
    assert!(interop.privacy_options_required);
}

#[test]
fn g6_being_the_cmp_deletion_and_reject_all_write_the_refused_state() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, kv) = cmp_gate(dir.path());
    gate.accept_all(ConsentSource::Banner).unwrap();
    assert_ne!(kv.string("IABTCF_PurposeConsents").as_deref(), Some(""));
    gate.reject_all(ConsentSource::Banner).unwrap();
    assert_eq!(kv.string("IABTCF_PurposeConsents").as_deref(), Some(""));
    assert_eq!(kv.string("IABTCF_VendorConsents").as_deref(), Some(""));
    gate.accept_all(ConsentSource::Banner).unwrap();
    assert_eq!(
        kv.string("IABTCF_VendorConsents").map(|v| v.len()),
        Some(755)
    );
    gate.request_deletion(None).unwrap();
    let tc = tcf::decode(&kv.string("IABTCF_TCString").unwrap()).unwrap();
    assert!(tc.purposes_consent.is_empty() && tc.vendor_consents.vendors.is_empty());
    assert_eq!(
        kv.string("IABTCF_SpecialFeaturesOptIns").as_deref(),
        Some("")
    );
    let cm = gate.consent_mode().unwrap();
    assert_eq!(cm.ad_storage, ConsentModeStatus::Denied);
    assert_eq!(cm.analytics_storage, ConsentModeStatus::Denied);
}

#[test]
fn without_cmp_id_nothing_is_ever_written_and_stale_keys_are_removed_by_a_cmp() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example("example-eu.json"), &clock());
    let kv = Arc::new(MemoryStore::default());
    gate.set_key_value_store(kv.clone()).unwrap();
    gate.accept_all(ConsentSource::Banner).unwrap();
    gate.request_deletion(None).unwrap();
    assert_eq!(kv.writes(), 0, "following: no key written, ever");

    // A registered CMP replaces what another left behind.
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example("example-eu-cmp.json"), &clock());
    let kv = Arc::new(MemoryStore::default());
    kv.put("IABTCF_PublisherRestrictions2", "1__0");
    kv.put("IABTCF_AddtlConsent", "2~1.35~dv.");
    gate.set_key_value_store(kv.clone()).unwrap();
    assert_eq!(kv.string("IABTCF_PublisherRestrictions2"), None);
    assert_eq!(kv.string("IABTCF_AddtlConsent"), None);
}

#[test]
fn consent_mode_signals_follow_the_mapping_per_type() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, _kv) = cmp_gate(dir.path());
    let cm = gate.consent_mode().unwrap();
    assert_eq!(
        cm.analytics_storage,
        ConsentModeStatus::Denied,
        "fail-closed"
    );
    assert!(!gate.can_request_ads());
    assert!(
        !gate
            .consent_state()
            .interop
            .unwrap()
            .privacy_options_required
    );
    grant(&gate, "analytics", true);
    let cm = gate.consent_mode().unwrap();
    assert_eq!(cm.analytics_storage, ConsentModeStatus::Granted);
    assert_eq!(cm.ad_storage, ConsentModeStatus::Denied);
    assert_eq!(cm.ad_user_data, ConsentModeStatus::Denied);
    assert!(!gate.can_request_ads());
    grant(&gate, "advertising", true);
    let cm = gate.consent_mode().unwrap();
    assert_eq!(cm.ad_storage, ConsentModeStatus::Granted);
    assert_eq!(cm.ad_personalization, ConsentModeStatus::Granted);
    assert!(gate.can_request_ads());
}

// ---- the policy block ----

#[test]
fn the_interop_block_is_validated_with_json_paths() {
    let mut v: Value = serde_json::from_str(&example("example-eu.json")).unwrap();
    v["interop"]["purposes"]["analitycs"] = serde_json::json!({"tcf_purposes": [1]});
    v["interop"]["purposes"]["service"] = serde_json::json!({"tcf_purposes": [1]});
    v["interop"]["purposes"]["advertising"]["tcf_purposes"] = serde_json::json!([1, 12]);
    v["interop"]["purposes"]["advertising"]["consent_mode"] = serde_json::json!(["ad_storge"]);
    v["interop"]["cmp_version"] = serde_json::json!(2);
    v["interop"]["publisher_cc"] = serde_json::json!("de");
    let issues: Vec<String> = Policy::parse(&v.to_string())
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    let want = [
        r#"interop.publisher_cc: invalid country "de""#,
        "interop.purposes.advertising.tcf_purposes[1]: must be between 1 and 11",
        r#"interop.purposes.advertising.consent_mode[0]: unknown consent mode type "ad_storge""#,
        r#"interop.purposes.analitycs: unknown purpose "analitycs""#,
        r#"interop.purposes.service: purpose "service" is necessary"#,
        "interop.cmp_version: only a registered CMP writes TC strings",
    ];
    for w in want {
        assert!(
            issues.iter().any(|i| i.starts_with(w)),
            "{w} not in {issues:#?}"
        );
    }
    let mut v: Value = serde_json::from_str(&example("example-eu-cmp.json")).unwrap();
    v["interop"]["cmp_id"] = serde_json::json!(1);
    v["interop"]
        .as_object_mut()
        .unwrap()
        .remove("vendor_list_version");
    let issues: Vec<String> = Policy::parse(&v.to_string())
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        issues
            .iter()
            .any(|i| i.starts_with("interop.cmp_id: must be between 2 and 4095")),
        "{issues:?}"
    );
    assert!(Policy::parse(&example("example-eu-cmp.json")).is_ok());
}

// ---- GPP, restrictions, the listener ----

fn with_gpp(name: &str) -> String {
    let mut v: Value = serde_json::from_str(&example(name)).unwrap();
    v["interop"]["gpp"] = Value::Bool(true);
    v.to_string()
}

fn gpp_vector(prefix: &str) -> String {
    let doc: Value = serde_json::from_str(include_str!("vectors/gpp.json")).expect("json");
    let mut all = doc["vectors"].as_array().unwrap().clone();
    all.extend(
        doc["additional_vectors"]
            .as_array()
            .unwrap()
            .iter()
            .cloned(),
    );
    all.iter()
        .find(|v| v["id"].as_str().is_some_and(|i| i.starts_with(prefix)))
        .and_then(|v| v["gpp_string"].as_str())
        .expect("vector")
        .to_string()
}

#[test]
fn g3_a_us_opt_out_in_the_gpp_string_denies_sale_or_share_purposes_with_source_gpp() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &with_gpp("example-eu.json"), &clock());
    grant(&gate, "advertising", true);
    grant(&gate, "analytics", true);
    let kv = Arc::new(MemoryStore::default());
    // uspv1 1YNN: notice given, no opt-out: nothing changes.
    kv.put("IABGPP_HDR_GppString", &gpp_vector("gpp-01"));
    let state = gate.set_key_value_store(kv.clone()).unwrap();
    assert_eq!(state.status_of("advertising"), Some(ConsentStatus::Granted));
    assert_eq!(
        state.interop.unwrap().gpp.unwrap().status,
        SignalStatus::Applied
    );
    // usnat with SaleOptOut = 1 (and GPC): advertising (sale_or_share) denied.
    let string = gpp_vector("gpp-06");
    kv.put("IABGPP_HDR_GppString", &string);
    let state = gate.interop_keys_changed().unwrap();
    assert_eq!(state.status_of("advertising"), Some(ConsentStatus::Denied));
    assert_eq!(state.status_of("analytics"), Some(ConsentStatus::Granted));
    let last = gate.ledger().unwrap().pop().unwrap();
    assert_eq!(last.source, ConsentSource::Gpp);
    assert_eq!(
        last.signal_hash.as_deref(),
        Some(sha256_hex(&string).as_str())
    );
    assert!(!gate.allows("advertising_id".into()));
}

#[test]
fn the_gpp_tcfeuv2_section_stands_in_for_a_missing_tc_string() {
    use consentgate::interop::gpp::{self, GppSection, GppString};
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &with_gpp("example-eu.json"), &clock());
    let tc = tcf::decode(&valid_string(&[1, 2, 3, 4, 7])).unwrap();
    let text = gpp::encode(&GppString {
        sections: vec![GppSection::TcfEuV2(tc)],
    })
    .unwrap();
    let kv = Arc::new(MemoryStore::default());
    kv.put("IABGPP_HDR_GppString", &text);
    let state = gate.set_key_value_store(kv).unwrap();
    assert_eq!(state.status_of("advertising"), Some(ConsentStatus::Granted));
    assert_eq!(source_of(&state, "advertising"), Some(ConsentSource::Gpp));
}

#[test]
fn g1_a_string_never_grants_what_the_age_gate_denies() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example("example-eu.json"), &clock());
    gate.set_age(consentgate::AgeSignal {
        age_years: Some(12),
        parental_consent: false,
    })
    .unwrap();
    let kv = Arc::new(MemoryStore::default());
    kv.put("IABTCF_TCString", &valid_string(&[1, 2, 3, 4, 7, 8, 9]));
    let state = gate.set_key_value_store(kv).unwrap();
    assert_eq!(state.status_of("advertising"), Some(ConsentStatus::Denied));
    assert_eq!(state.status_of("analytics"), Some(ConsentStatus::Denied));
    assert!(!gate.can_request_ads());
}

#[test]
fn consent_mode_reaches_the_listener_on_every_change_and_the_ledger_verifies_after_reopen() {
    #[derive(Default)]
    struct Told(Mutex<Vec<consentgate::ConsentModeSignals>>);
    impl consentgate::ConsentListener for Told {
        fn on_consent_changed(&self, state: consentgate::ConsentState) {
            if let Some(i) = state.interop {
                self.0.lock().unwrap().push(i.consent_mode);
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example("example-eu.json"), &clock());
    let told = Arc::new(Told::default());
    gate.set_listener(told.clone());
    let kv = Arc::new(MemoryStore::default());
    kv.put("IABTCF_TCString", &valid_string(&[1, 2, 3, 4, 7]));
    gate.set_key_value_store(kv.clone()).unwrap();
    assert_eq!(
        told.0.lock().unwrap().last().unwrap().ad_storage,
        ConsentModeStatus::Granted
    );
    kv.put("IABTCF_TCString", &valid_string(&[2, 3, 4, 7]));
    gate.interop_keys_changed().unwrap();
    let last = *told.0.lock().unwrap().last().unwrap();
    assert_eq!(
        last.ad_storage,
        ConsentModeStatus::Denied,
        "purpose 1 withdrawn"
    );
    drop(gate);
    // Entries with a signal hash are part of the chain open verifies.
    let gate = open(dir.path(), &example("example-eu.json"), &clock());
    assert!(gate.verify_ledger().unwrap().intact);
    let read = consentgate::ledger_at(dir.path()).unwrap();
    // advertising granted, analytics denied, then advertising withdrawn.
    assert_eq!(read.iter().filter(|e| e.signal_hash.is_some()).count(), 3);
}

#[test]
fn a_cmp_without_gpp_leaves_another_cmps_gpp_keys_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut v: Value = serde_json::from_str(&example("example-eu-cmp.json")).unwrap();
    v["interop"]["gpp"] = Value::Bool(false);
    let gate = open(dir.path(), &v.to_string(), &clock());
    let kv = Arc::new(MemoryStore::default());
    kv.put("IABGPP_HDR_GppString", "DBABTA~1YNN");
    gate.set_key_value_store(kv.clone()).unwrap();
    gate.accept_all(ConsentSource::Banner).unwrap();
    assert!(kv.string("IABTCF_TCString").is_some());
    assert_eq!(
        kv.string("IABGPP_HDR_GppString").as_deref(),
        Some("DBABTA~1YNN")
    );
}

#[test]
fn g6_after_a_deletion_request_the_other_cmps_old_string_does_not_grant_again() {
    let dir = tempfile::tempdir().unwrap();
    let gate = open(dir.path(), &example("example-eu.json"), &clock());
    let kv = Arc::new(MemoryStore::default());
    kv.put("IABTCF_TCString", &valid_string(&[1, 2, 3, 4, 7, 8, 9]));
    gate.set_key_value_store(kv.clone()).unwrap();
    assert!(gate.allows("advertising_id".into()));
    gate.request_deletion(None).unwrap();
    let state = gate.interop_keys_changed().unwrap();
    assert_eq!(state.status_of("advertising"), Some(ConsentStatus::Denied));
    assert_eq!(state.status_of("analytics"), Some(ConsentStatus::Denied));
    assert!(!gate.can_request_ads());
    // A new choice in the other CMP is a new decision, and counts.
    kv.put("IABTCF_TCString", &valid_string(&[1, 2, 3, 4, 7]));
    let state = gate.interop_keys_changed().unwrap();
    assert_eq!(state.status_of("advertising"), Some(ConsentStatus::Granted));
}

#[test]
fn g1_the_string_a_cmp_writes_is_never_more_permissive_than_the_decisions_in_either_mode() {
    let policy = Policy::parse(&example("example-eu-cmp.json")).unwrap();
    let mapping = policy.interop.clone().unwrap();
    for combo in 0..4u8 {
        let (analytics, advertising) = (combo & 1 != 0, combo & 2 != 0);
        let dir = tempfile::tempdir().unwrap();
        let (gate, kv) = cmp_gate(dir.path());
        grant(&gate, "analytics", analytics);
        grant(&gate, "advertising", advertising);
        let written = kv.string("IABTCF_TCString").unwrap();
        let tc = tcf::decode(&written).unwrap();
        assert!(tcf::check(&tc).is_empty(), "{combo}: valid");
        let granted = |i: usize| gate.consent_state().purposes[i].status == ConsentStatus::Granted;
        for m in &mapping.mappings {
            for p in &m.tcf_purposes {
                if tc.purposes_consent.contains(p) {
                    assert!(
                        granted(m.purpose),
                        "{combo}: purpose {p} consented without {}",
                        m.purpose
                    );
                }
            }
            for v in &m.vendors {
                if tc.vendor_consents.vendors.contains(v) {
                    assert!(granted(m.purpose), "{combo}: vendor {v}");
                }
            }
        }
        // A gate following the written string grants nothing more.
        let dir = tempfile::tempdir().unwrap();
        let follower = open(dir.path(), &example("example-eu.json"), &clock());
        let kv2 = Arc::new(MemoryStore::default());
        kv2.put("IABTCF_TCString", &written);
        let followed = follower.set_key_value_store(kv2).unwrap();
        for id in ["analytics", "advertising"] {
            if followed.status_of(id) == Some(ConsentStatus::Granted) {
                assert_eq!(
                    gate.consent_state().status_of(id),
                    Some(ConsentStatus::Granted),
                    "{combo}: {id}"
                );
            }
        }
        if analytics && advertising {
            assert_eq!(
                followed.status_of("analytics"),
                Some(ConsentStatus::Granted)
            );
            assert_eq!(
                followed.status_of("advertising"),
                Some(ConsentStatus::Granted)
            );
        }
    }
}
