//! The README's first use, kept compiling by `cargo test`:
//! `cargo run -p consentgate --example first_use` from the workspace root.

use consentgate::{ConsentGate, ConsentSource, GateConfig, PurposeDecision};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gate = ConsentGate::open(GateConfig {
        data_dir: "/tmp/consentgate-readme".into(),
        policy_json: std::fs::read_to_string("examples/policies/example-kz.json")?,
        region: Some("KZ".into()),
        app_version: "1.0.0".into(),
    })?;
    assert!(!gate.allows("usage_events".into())); // fail-closed until the user agrees
    gate.set_consent(
        vec![PurposeDecision {
            purpose: "analytics".into(),
            granted: true,
        }],
        ConsentSource::Banner,
    )?; // on disk, in the ledger, when this returns
    gate.record_event("screen_view".into(), Some(r#"{"screen":"home"}"#.into()))?;
    // The host sends what next_upload() returns (or calls flush(uploader)).
    println!("{:?}", gate.next_upload()?);
    Ok(())
}
