//! `consentgate disclose --apple|--play|--markdown` end to end: the outputs
//! for both example policies match the reviewed golden files in
//! `tests/golden/` (rewrite them with `CONSENTGATE_BLESS=1` after a deliberate
//! change, and review the diff), the property list is parsed back and checked
//! key by key, the CSV row by row, every category of the policy appears in
//! every output, and a policy whose facts contradict each other, or that
//! lacks facts, is refused with the JSON path (exit 2).

mod common;

use std::path::{Path, PathBuf};

use common::consentgate;
use plist::Value;

fn policy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/policies")
        .join(format!("example-{name}.json"))
}

fn golden(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file)
}

fn disclose(policy: &Path, format: &str) -> common::Run {
    let run = consentgate(&[
        "--policy",
        policy.to_str().expect("utf-8 path"),
        "disclose",
        format,
    ]);
    assert_eq!(run.code, 0, "disclose {format}: {}", run.stderr);
    run
}

/// Compares with the golden file, or rewrites it under `CONSENTGATE_BLESS=1`.
fn check_golden(file: &str, actual: &str) {
    let path = golden(file);
    if std::env::var_os("CONSENTGATE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("golden dir");
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "read {} ({e}); run with CONSENTGATE_BLESS=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{file} differs from the golden file (CONSENTGATE_BLESS=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

fn example_json(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(policy(name)).expect("read policy"))
        .expect("json")
}

fn category_ids(name: &str) -> Vec<String> {
    example_json(name)["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect()
}

fn endpoint_hosts(name: &str) -> Vec<String> {
    example_json(name)["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| {
            let url = e["url"].as_str().expect("url");
            url.trim_start_matches("https://")
                .split(['/', ':'])
                .next()
                .expect("host")
                .to_owned()
        })
        .collect()
}

#[test]
fn outputs_match_the_golden_files_for_both_example_policies() {
    for name in ["kz", "eu"] {
        let p = policy(name);
        check_golden(
            &format!("{name}.xcprivacy"),
            &disclose(&p, "--apple").stdout,
        );
        check_golden(&format!("{name}.csv"), &disclose(&p, "--play").stdout);
        check_golden(&format!("{name}.md"), &disclose(&p, "--markdown").stdout);
    }
}

fn dict<'a>(v: &'a Value, what: &str) -> &'a plist::Dictionary {
    v.as_dictionary()
        .unwrap_or_else(|| panic!("{what} is not a dictionary"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_string().expect("string").to_owned())
        .collect()
}

#[test]
fn the_privacy_manifest_parses_back_with_every_key_apple_reads() {
    // What each category of the examples is, as Apple's form asks it:
    // (data type, linked, tracking, purposes).
    let expected: [(&str, &str, bool, bool, &[&str]); 5] = [
        (
            "device_info",
            "OtherDiagnosticData",
            true,
            false,
            &["Analytics"],
        ),
        (
            "advertising_id",
            "DeviceID",
            true,
            true,
            &["ThirdPartyAdvertising"],
        ),
        (
            "usage_events",
            "ProductInteraction",
            true,
            false,
            &["Analytics"],
        ),
        ("account_id", "UserID", true, false, &["Analytics"]),
        (
            "install_referrer",
            "AdvertisingData",
            true,
            false,
            &["ThirdPartyAdvertising"],
        ),
    ];
    for name in ["kz", "eu"] {
        let run = disclose(&policy(name), "--apple");
        let manifest =
            Value::from_reader_xml(run.stdout.as_bytes()).expect("a valid XML property list");
        let root = dict(&manifest, "the manifest");
        let keys: Vec<&str> = root.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "NSPrivacyTracking",
                "NSPrivacyTrackingDomains",
                "NSPrivacyCollectedDataTypes",
                "NSPrivacyAccessedAPITypes"
            ]
        );
        assert_eq!(
            root["NSPrivacyTracking"].as_boolean(),
            Some(true),
            "{name}: the ad id is shared for advertising"
        );
        assert_eq!(
            strings(&root["NSPrivacyTrackingDomains"]),
            endpoint_hosts(name),
            "{name}"
        );
        let types = root["NSPrivacyCollectedDataTypes"]
            .as_array()
            .expect("array");
        assert_eq!(
            types.len(),
            category_ids(name).len(),
            "{name}: one entry per category"
        );
        for (entry, (category, data_type, linked, tracking, purposes)) in types.iter().zip(expected)
        {
            let t = dict(entry, "a collected data type");
            assert_eq!(t.len(), 4, "{category}: exactly the four keys");
            assert_eq!(
                t["NSPrivacyCollectedDataType"].as_string(),
                Some(format!("NSPrivacyCollectedDataType{data_type}").as_str()),
                "{name} {category}"
            );
            assert_eq!(
                t["NSPrivacyCollectedDataTypeLinked"].as_boolean(),
                Some(linked),
                "{category}"
            );
            assert_eq!(
                t["NSPrivacyCollectedDataTypeTracking"].as_boolean(),
                Some(tracking),
                "{category}"
            );
            let want: Vec<String> = purposes
                .iter()
                .map(|p| format!("NSPrivacyCollectedDataTypePurpose{p}"))
                .collect();
            assert_eq!(
                strings(&t["NSPrivacyCollectedDataTypePurposes"]),
                want,
                "{category}"
            );
        }
        assert!(
            run.stderr.contains("iOS fails requests to these hosts"),
            "{name}: {}",
            run.stderr
        );
    }
}

#[test]
fn the_sdk_required_reason_apis_match_the_manifest_the_ios_package_ships() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bindings-ios/Sources/ConsentGate/PrivacyInfo.xcprivacy");
    let shipped = Value::from_file(&shipped).expect("the iOS package's manifest parses");
    let run = disclose(&policy("kz"), "--apple");
    let generated = Value::from_reader_xml(run.stdout.as_bytes()).expect("plist");
    let apis = |v: &Value| dict(v, "manifest")["NSPrivacyAccessedAPITypes"].clone();
    assert_eq!(apis(&generated), apis(&shipped));
    let first = dict(&apis(&generated).as_array().expect("array")[0], "api").clone();
    assert_eq!(
        first["NSPrivacyAccessedAPIType"].as_string(),
        Some("NSPrivacyAccessedAPICategoryFileTimestamp")
    );
    assert_eq!(
        strings(&first["NSPrivacyAccessedAPITypeReasons"]),
        ["C617.1"]
    );
}

/// Splits one CSV line as Play Console writes them (quoted cells may hold commas).
fn cells(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().expect("cell").push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().expect("cell").push(c),
        }
    }
    out
}

#[test]
fn the_data_safety_csv_answers_every_question_for_every_category() {
    // (category, Play data type, shared, collection purpose).
    let expected = [
        (
            "device_info",
            "PSL_PERFORMANCE_DIAGNOSTICS",
            false,
            "PSL_ANALYTICS",
        ),
        ("advertising_id", "PSL_DEVICE_ID", true, "PSL_ADVERTISING"),
        (
            "usage_events",
            "PSL_USER_INTERACTION",
            false,
            "PSL_ANALYTICS",
        ),
        ("account_id", "PSL_USER_ACCOUNT", false, "PSL_ANALYTICS"),
        (
            "install_referrer",
            "PSL_OTHER_APP_ACTIVITY",
            true,
            "PSL_ADVERTISING",
        ),
    ];
    for name in ["kz", "eu"] {
        let run = disclose(&policy(name), "--play");
        let rows: Vec<Vec<String>> = run.stdout.lines().map(cells).collect();
        assert_eq!(
            rows[0],
            [
                "Question ID (machine readable)",
                "Response ID (machine readable)",
                "Response value",
                "Answer requirement",
                "Human-friendly question label"
            ]
        );
        assert!(
            rows.iter().all(|r| r.len() == 5),
            "{name}: five columns in every row"
        );
        let value = |q: &str, r: &str| -> String {
            let hits: Vec<&Vec<String>> = rows
                .iter()
                .filter(|row| row[0] == q && row[1] == r)
                .collect();
            assert_eq!(hits.len(), 1, "{name}: exactly one row {q} / {r}");
            hits[0][2].clone()
        };
        assert_eq!(
            value("PSL_DATA_COLLECTION_COLLECTS_PERSONAL_DATA", ""),
            "true"
        );
        assert_eq!(
            value("PSL_DATA_COLLECTION_ENCRYPTED_IN_TRANSIT", ""),
            "true",
            "every endpoint is https"
        );
        assert_eq!(
            value("PSL_SUPPORT_DATA_DELETION_BY_USER", "DATA_DELETION_YES"),
            "true"
        );
        for (category, t, shared, purpose) in expected {
            let group_row: Vec<&Vec<String>> = rows
                .iter()
                .filter(|r| r[1] == t && r[0].starts_with("PSL_DATA_TYPES_"))
                .collect();
            assert_eq!(group_row.len(), 1, "{t}");
            assert_eq!(group_row[0][2], "true", "{category} is collected");
            assert!(
                group_row[0][4].contains(category),
                "{category} named in the label: {:?}",
                group_row[0]
            );
            let base = format!("PSL_DATA_USAGE_RESPONSES:{t}");
            let q = |s: &str| format!("{base}:{s}");
            assert_eq!(
                value(
                    &q("PSL_DATA_USAGE_COLLECTION_AND_SHARING"),
                    "PSL_DATA_USAGE_ONLY_COLLECTED"
                ),
                "true"
            );
            assert_eq!(
                value(
                    &q("PSL_DATA_USAGE_COLLECTION_AND_SHARING"),
                    "PSL_DATA_USAGE_ONLY_SHARED"
                ),
                if shared { "true" } else { "" },
                "{category}"
            );
            assert_eq!(
                value(&q("PSL_DATA_USAGE_EPHEMERAL"), ""),
                "false",
                "{category}"
            );
            // Consent-gated: the user chooses.
            assert_eq!(
                value(
                    &q("DATA_USAGE_USER_CONTROL"),
                    "PSL_DATA_USAGE_USER_CONTROL_OPTIONAL"
                ),
                "true",
                "{category}"
            );
            assert_eq!(
                value(
                    &q("DATA_USAGE_USER_CONTROL"),
                    "PSL_DATA_USAGE_USER_CONTROL_REQUIRED"
                ),
                "",
                "{category}"
            );
            let collected: Vec<&str> = rows
                .iter()
                .filter(|r| r[0] == q("DATA_USAGE_COLLECTION_PURPOSE") && r[2] == "true")
                .map(|r| r[1].as_str())
                .collect();
            assert_eq!(collected, [purpose], "{category}");
            let shared_for: Vec<&str> = rows
                .iter()
                .filter(|r| r[0] == q("DATA_USAGE_SHARING_PURPOSE") && r[2] == "true")
                .map(|r| r[1].as_str())
                .collect();
            assert_eq!(
                shared_for,
                if shared { vec![purpose] } else { vec![] },
                "{category}"
            );
        }
    }
}

#[test]
fn every_category_of_the_policy_appears_in_every_output() {
    for name in ["kz", "eu"] {
        let p = policy(name);
        let markdown = disclose(&p, "--markdown").stdout;
        let csv = disclose(&p, "--play").stdout;
        let apple = disclose(&p, "--apple").stdout;
        let manifest = Value::from_reader_xml(apple.as_bytes()).expect("plist");
        let types = dict(&manifest, "manifest")["NSPrivacyCollectedDataTypes"]
            .as_array()
            .expect("array")
            .len();
        let ids = category_ids(name);
        assert_eq!(
            types,
            ids.len(),
            "{name}: an Apple entry per category (no two share a data type)"
        );
        for id in ids {
            assert!(
                markdown.contains(&format!("| **{id}**")),
                "{name}: {id} in the Markdown table"
            );
            let listed = csv.lines().any(|l| {
                l.starts_with("PSL_DATA_TYPES_") && l.contains(&format!("consentgate: {id})"))
            });
            assert!(listed, "{name}: {id} in the CSV");
        }
        assert!(markdown.contains("asked first (off until you agree)"));
    }
}

fn write_policy(dir: &Path, doc: &serde_json::Value) -> PathBuf {
    let path = dir.join("policy.json");
    std::fs::write(&path, doc.to_string()).expect("write policy");
    path
}

#[test]
fn contradicting_facts_are_refused_by_policy_check_and_disclose_with_the_path() {
    let d = tempfile::tempdir().expect("temp dir");
    let mut doc = example_json("kz");
    doc["categories"][2]["disclosure"] = serde_json::json!({"tracking": true});
    let file = write_policy(d.path(), &doc);
    let file = file.to_str().expect("utf-8");
    let want = r#"categories[2].disclosure.tracking: tracking without an advertising purpose: category "usage_events" requires only "analytics""#;
    let check = consentgate(&["policy", "check", file]);
    assert_eq!(check.code, 2, "{}", check.stdout);
    assert!(check.stderr.contains(want), "{}", check.stderr);
    for format in ["--apple", "--play", "--markdown"] {
        let run = consentgate(&["--policy", file, "disclose", format]);
        assert_eq!(run.code, 2, "{format}");
        assert!(run.stdout.is_empty(), "{format}: nothing half-written");
        assert!(run.stderr.contains(want), "{format}: {}", run.stderr);
    }
}

#[test]
fn missing_facts_are_refused_by_disclose_only() {
    let d = tempfile::tempdir().expect("temp dir");
    let mut doc = example_json("eu");
    doc["categories"]
        .as_array_mut()
        .expect("categories")
        .push(serde_json::json!({"id": "crash_reports", "requires": ["service"]}));
    let file = write_policy(d.path(), &doc);
    let file = file.to_str().expect("utf-8");
    assert_eq!(
        consentgate(&["policy", "check", file]).code,
        0,
        "the policy still gates data"
    );
    let run = consentgate(&["--policy", file, "disclose", "--play"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(
            r#"error: categories[5]: category "crash_reports" has no built-in disclosure facts"#
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn disclose_needs_a_policy_and_exactly_one_format() {
    let run = consentgate(&["disclose", "--apple"]);
    assert_eq!(
        (run.code, run.stderr.trim()),
        (
            2,
            "error: disclose needs the policy document: --policy FILE"
        )
    );
    let p = policy("kz");
    let p = p.to_str().expect("utf-8");
    assert_eq!(consentgate(&["--policy", p, "disclose"]).code, 2);
    assert_eq!(
        consentgate(&["--policy", p, "disclose", "--apple", "--play"]).code,
        2
    );
}

/// The first example of the README's "Your store listings", run as pasted
/// (in a scratch directory that sees the repository's `examples/`), with
/// `cargo run -q -p consentgate-cli --` standing for the built binary.
#[test]
fn readme_store_listings_example_works_when_pasted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let section = readme
        .split("## Your store listings")
        .nth(1)
        .expect("the README has a \"Your store listings\" section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh block");
    assert!(
        block.contains("disclose --apple")
            && block.contains("disclose --play")
            && block.contains("disclose --markdown")
    );
    let script = block.replace(
        "cargo run -q -p consentgate-cli --",
        env!("CARGO_BIN_EXE_consentgate"),
    );
    let d = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(
        root.join("examples").canonicalize().expect("examples"),
        d.path().join("examples"),
    )
    .expect("symlink");
    let out = std::process::Command::new("sh")
        .arg("-ec")
        .arg(&script)
        .current_dir(d.path())
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest =
        Value::from_file(d.path().join("PrivacyInfo.xcprivacy")).expect("a property list");
    assert_eq!(
        dict(&manifest, "manifest")["NSPrivacyTracking"].as_boolean(),
        Some(true)
    );
    let csv = std::fs::read_to_string(d.path().join("data-safety.csv")).expect("csv");
    assert!(csv.starts_with("Question ID (machine readable),"));
    let md = std::fs::read_to_string(d.path().join("privacy-summary.md")).expect("markdown");
    assert!(md.starts_with("# What "));
}
