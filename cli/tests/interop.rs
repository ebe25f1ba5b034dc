//! `consentgate tcf decode`, `tcf keys`, `gpp decode` against every vector
//! of `core/tests/vectors/` (same field names and values as recorded there;
//! the strings that must fail exit 2 naming the field and bit offset), and
//! the interop view of `status`.

mod common;

use common::{consentgate, on};
use serde_json::Value;

fn vectors(file: &str) -> Vec<Value> {
    let path = format!(
        "{}/../core/tests/vectors/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("vectors")).expect("json");
    let mut all = doc["vectors"].as_array().expect("vectors").clone();
    if let Some(more) = doc["additional_vectors"].as_array() {
        all.extend(more.iter().cloned());
    }
    all
}

#[test]
fn tcf_decode_and_keys_print_the_recorded_fields_of_every_vector() {
    let mut decoded = 0;
    for v in vectors("tcf.json") {
        let id = v["id"].as_str().unwrap();
        let string = v["tc_string"].as_str().unwrap();
        let run = consentgate(&["tcf", "decode", string]);
        if v["decodes"] == false {
            assert_eq!(run.code, 2, "{id}: {}", run.stderr);
            assert!(
                run.stderr.contains(".bitfield at bit "),
                "{id}: {}",
                run.stderr
            );
            assert_eq!(consentgate(&["tcf", "keys", string]).code, 2);
            continue;
        }
        assert_eq!(run.code, 0, "{id}: {}", run.stderr);
        let mut got = run.json();
        let check = got
            .as_object_mut()
            .unwrap()
            .remove("policy_check_tcf22_23")
            .expect("findings");
        assert_eq!(got, v["expected_decode"], "{id}");
        assert_eq!(check["valid"], v["policy_check_tcf22_23"]["valid"], "{id}");
        assert_eq!(
            check["reasons"], v["policy_check_tcf22_23"]["reasons"],
            "{id}"
        );
        if let Some(keys) = v.get("expected_iabtcf_keys_reference_inapp") {
            let run = consentgate(&["tcf", "keys", string]);
            assert_eq!(run.code, 0, "{id}");
            assert_eq!(&run.json(), keys, "{id}: keys");
        }
        decoded += 1;
    }
    assert_eq!(decoded, 9);
}

#[test]
fn gpp_decode_prints_the_recorded_header_and_sections() {
    for v in vectors("gpp.json") {
        let id = v["id"].as_str().unwrap();
        let run = consentgate(&["gpp", "decode", v["gpp_string"].as_str().unwrap()]);
        if v["decodes"] == false {
            assert_eq!(run.code, 2, "{id}");
            assert!(run.stderr.contains("tcfcav1.core."), "{id}: {}", run.stderr);
            assert!(run.stderr.contains(" at bit "), "{id}: {}", run.stderr);
            continue;
        }
        assert_eq!(run.code, 0, "{id}: {}", run.stderr);
        let got = run.json();
        assert_eq!(got["header"], v["expected_header"], "{id}");
        assert_eq!(got["sections"], v["expected_sections"], "{id}");
    }
}

#[test]
fn status_shows_the_strings_keys_and_consent_mode_of_a_registered_cmp() {
    let dir = tempfile::tempdir().unwrap();
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/policies/example-eu-cmp.json"
    );
    let run = on(
        dir.path(),
        &[
            "--policy",
            policy,
            "consent",
            "grant",
            "analytics",
            "advertising",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status = on(dir.path(), &["status"]).json();
    let interop = &status["interop"];
    assert_eq!(interop["mode"], "cmp");
    assert_eq!(interop["consent_mode"]["ad_storage"], "granted");
    assert_eq!(interop["can_request_ads"], true);
    assert_eq!(interop["tcf"]["status"], "written");
    let tc = interop["tcf"]["string"].as_str().unwrap();
    assert_eq!(status["keys"]["IABTCF_TCString"], tc);
    assert_eq!(status["keys"]["IABTCF_CmpSdkID"], 4095);
    assert_eq!(status["keys"]["IABTCF_PurposeConsents"], "111100111");
    // The string it wrote decodes with the tool, valid under TCF 2.3.
    let decoded = consentgate(&["tcf", "decode", tc]).json();
    assert_eq!(decoded["policy_check_tcf22_23"]["valid"], true);

    // Following a CMP: the view is there, no key is made up.
    let dir = tempfile::tempdir().unwrap();
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/policies/example-eu.json"
    );
    let status = on(dir.path(), &["--policy", policy, "status"]).json();
    assert_eq!(status["interop"]["mode"], "follow");
    assert_eq!(status["interop"]["consent_mode"]["ad_storage"], "denied");
    assert!(status.get("keys").is_none());
}
