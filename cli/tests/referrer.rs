//! The install referrer end to end: a gate that was given one (only after
//! consent) sends it in its batch over HTTP, and the reference collector,
//! which accepts exactly what its OpenAPI document says, stores the batch.

mod common;

use std::sync::Arc;

use common::policy_for;
use consentgate::{
    ConsentGate, ConsentSource, GateConfig, InstallReferrer, InstallReferrerProvider,
};
use consentgate_cli::http::HttpUploader;
use consentgate_collector::{Collector, CollectorConfig};

struct Play;

impl InstallReferrerProvider for Play {
    fn install_referrer(&self) -> Option<InstallReferrer> {
        Some(InstallReferrer {
            referrer: "utm_source=partner_app&utm_medium=banner".into(),
            clicked_at_s: Some(1_767_225_000),
            install_began_at_s: Some(1_767_225_060),
        })
    }
}

#[test]
fn g2_a_batch_carrying_the_referrer_is_accepted_by_the_reference_collector() {
    let root = tempfile::tempdir().expect("temp dir");
    let c = Collector::start(CollectorConfig::new(root.path().join("collector.sqlite")))
        .expect("collector starts");
    let policy = std::fs::read_to_string(policy_for(root.path(), &c.url())).expect("policy");
    let gate = ConsentGate::open(GateConfig {
        data_dir: root.path().join("data").to_str().expect("utf-8").into(),
        policy_json: policy,
        region: Some("KZ".into()),
        app_version: "1.0.0".into(),
    })
    .expect("open");
    gate.accept_all(ConsentSource::Banner).expect("accept");
    assert!(gate.install_referrer(Arc::new(Play)).is_some());
    gate.record_event("first_open".into(), None)
        .expect("record");
    let report = gate.flush(Arc::new(HttpUploader::new())).expect("flush");
    assert_eq!(
        (
            report.batches_delivered,
            report.events_delivered,
            report.events_rejected
        ),
        (1, 1, 0),
        "{report:?}"
    );
    let export: serde_json::Value =
        serde_json::from_str(&gate.export_data().expect("export")).expect("json");
    let id = export["installation_id"].as_str().expect("id");
    assert_eq!(c.installation(id).events, 1);
    gate.close().expect("close");
}
