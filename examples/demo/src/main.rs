//! `consentgate-demo`: one app's life with consentgate, told step by step
//! against the reference collector running in this process on loopback.
//!
//! ```text
//! cargo run --release -p consentgate-demo
//! ```
//!
//! It writes the example Kazakhstan policy with its endpoints pointed at the
//! collector, opens the SDK in a temporary data directory (as an app does at
//! first launch) and walks through: a fresh install where nothing is allowed
//! and the device is not even asked; the user granting analytics (device info
//! now collected, only the allowed fields); events queued and uploaded over
//! HTTP with the CLI's [`HttpUploader`]; the collector showing them; the user
//! withdrawing (queue purged, later events dropped); the user asking to be
//! forgotten (ticket, receipt, the collector erasing the installation); the
//! consent ledger verifying. Each step checks its outcome; the exit code is 0
//! only if every check passed, and a failed check is named at the end.
//!
//! It prints no identifier or device value: counts and states only (a receipt
//! id, issued by the backend, is shortened).

use std::error::Error;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use consentgate::{
    AdIdProvider, ConsentGate, ConsentSource, ConsentStatus, DeletionStatus, DeviceInfoProvider,
    EventInput, FlushReport, GateConfig, PurposeDecision, PurposeKind, RecordOutcome,
};
use consentgate_cli::http::HttpUploader;
use consentgate_collector::{Collector, CollectorConfig};

/// The policy the demo app ships, before its endpoints are pointed at the collector.
const POLICY: &str = include_str!("../../policies/example-kz.json");
/// Every category of the example policy.
const CATEGORIES: [&str; 4] = [
    "usage_events",
    "device_info",
    "account_id",
    "advertising_id",
];

fn main() -> ExitCode {
    match run() {
        Ok(failed) if failed.is_empty() => {
            println!("\nEvery step behaved as promised.");
            ExitCode::SUCCESS
        }
        Ok(failed) => {
            println!("\n{} check(s) failed:", failed.len());
            for f in &failed {
                println!("  - {f}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            println!("\nThe demo could not run: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints steps and checks, and remembers the checks that failed.
#[derive(Default)]
struct Story {
    failed: Vec<String>,
}

impl Story {
    fn step(&self, title: &str) {
        println!("\n{title}");
    }

    fn check(&mut self, passed: bool, what: impl Into<String>) {
        let what = what.into();
        println!("  {} {what}", if passed { "ok  " } else { "FAIL" });
        if !passed {
            self.failed.push(what);
        }
    }
}

/// A phone that answers every device question and counts how often it was asked.
#[derive(Default)]
struct Phone {
    asked: AtomicUsize,
}

impl Phone {
    fn answer(&self, value: &str) -> Option<String> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        Some(value.to_string())
    }

    fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}

impl DeviceInfoProvider for Phone {
    fn os(&self) -> Option<String> {
        self.answer("Android")
    }
    fn os_version(&self) -> Option<String> {
        self.answer("15")
    }
    fn model(&self) -> Option<String> {
        self.answer("Demo Phone 1")
    }
    fn manufacturer(&self) -> Option<String> {
        self.answer("Demo")
    }
    fn locale(&self) -> Option<String> {
        self.answer("kk-KZ")
    }
    fn timezone(&self) -> Option<String> {
        self.answer("Asia/Almaty")
    }
    fn carrier(&self) -> Option<String> {
        self.answer("Demo Mobile")
    }
    fn app_version(&self) -> Option<String> {
        self.answer("2.3.0")
    }
    fn screen(&self) -> Option<String> {
        self.answer("1080x2400")
    }
}

impl AdIdProvider for Phone {
    fn advertising_id(&self) -> Option<String> {
        self.answer("38400000-8cf0-11bd-b23e-10b96e40000d")
    }
}

/// The example policy with every endpoint sent to `url`.
fn policy_for(url: &str) -> Result<String, Box<dyn Error>> {
    let mut doc: serde_json::Value = serde_json::from_str(POLICY)?;
    let endpoints = doc["endpoints"]
        .as_array_mut()
        .ok_or("the example policy has no endpoints array")?;
    for e in endpoints {
        e["url"] = url.into();
    }
    Ok(doc.to_string())
}

fn events(names: &[&str]) -> Vec<EventInput> {
    names
        .iter()
        .map(|n| EventInput {
            name: (*n).to_string(),
            properties_json: Some(r#"{"screen":"home"}"#.into()),
        })
        .collect()
}

fn recorded(outcomes: &[RecordOutcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, RecordOutcome::Recorded { .. }))
        .count()
}

fn allowed(gate: &ConsentGate) -> Vec<&'static str> {
    CATEGORIES
        .into_iter()
        .filter(|c| gate.allows_str(c))
        .collect()
}

fn run() -> Result<Vec<String>, Box<dyn Error>> {
    let mut story = Story::default();
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(CollectorConfig::new(dir.path().join("collector.sqlite")))?;
    let uploader = Arc::new(HttpUploader::new());
    println!("consentgate demo: one app's life, against a collector on this machine");
    println!(
        "  collector at {} (temporary database); policy example-kz pointed at it",
        collector.url()
    );

    story.step("1. Fresh install: the app starts, nobody has been asked yet");
    let gate = ConsentGate::open(GateConfig {
        data_dir: dir.path().join("app").to_string_lossy().into_owned(),
        policy_json: policy_for(&collector.url())?,
        region: Some("KZ".into()),
        app_version: "2.3.0".into(),
    })?;
    let phone = Arc::new(Phone::default());
    let state = gate.consent_state();
    let unset = state
        .purposes
        .iter()
        .filter(|p| p.kind == PurposeKind::Consent && p.status == ConsentStatus::Unset)
        .count();
    story.check(
        state.needs_prompt && unset == 3 && allowed(&gate).is_empty(),
        format!(
            "nothing allowed: the banner is due, {unset} consent purposes unset, 0 of 4 data categories allowed"
        ),
    );
    let info = gate.collect_device_info(phone.clone())?;
    story.check(
        info.is_empty() && phone.asked() == 0,
        format!(
            "device info: nothing collected, the phone was asked {} times",
            phone.asked()
        ),
    );
    let first = gate.record_event("app_open".into(), None)?;
    story.check(
        matches!(first, RecordOutcome::Dropped { .. }) && gate.queue_stats().events == 0,
        "an event before consent is dropped, nothing queued",
    );

    story.step("2. The user taps \"Allow analytics\" on the banner");
    gate.set_consent(
        vec![PurposeDecision {
            purpose: "analytics".into(),
            granted: true,
        }],
        ConsentSource::Banner,
    )?;
    let now_allowed = allowed(&gate);
    story.check(
        now_allowed == ["usage_events", "device_info", "account_id"],
        format!(
            "allowed now: {}; advertising_id stays blocked",
            now_allowed.join(", ")
        ),
    );
    let info = gate.collect_device_info(phone.clone())?;
    let fields = serde_json::to_value(&info)?
        .as_object()
        .map_or(0, |o| o.len());
    let only_allowed = serde_json::to_value(&info)?.as_object().is_some_and(|o| {
        o.keys().all(|field| {
            let policy = gate.policy();
            policy
                .category_of_field(field)
                .and_then(|c| policy.categories.get(c))
                .is_some_and(|c| gate.allows_str(&c.id))
        })
    });
    story.check(
        fields == 9 && phone.asked() == 9 && only_allowed,
        format!("device info collected: {fields} fields, every one in an allowed category"),
    );
    let asked_before = phone.asked();
    let ad_id = gate.advertising_id(phone.clone());
    story.check(
        ad_id.is_none() && phone.asked() == asked_before,
        "advertising id: not granted, so the phone was not asked",
    );

    story.step("3. The user browses; the app queues events and uploads them");
    let outcomes = gate.record_events(events(&[
        "screen_view",
        "search",
        "screen_view",
        "tap",
        "screen_view",
    ]))?;
    story.check(
        recorded(&outcomes) == 5 && gate.queue_stats().events == 5,
        format!("{} events queued", gate.queue_stats().events),
    );
    let report = gate.flush(uploader.clone())?;
    story.check(
        report.events_delivered == 5 && report.batches_delivered == 1 && report.retries == 0,
        format!(
            "uploaded over HTTP: {} request(s), {} events delivered",
            report.requests, report.events_delivered
        ),
    );
    let old_id = gate.installation_id();
    let seen = collector.try_installation(&old_id)?;
    story.check(
        seen.events == 5 && seen.batches == 1 && gate.queue_stats().events == 0,
        format!(
            "the collector holds {} events in {} batch for this installation; local queue empty",
            seen.events, seen.batches
        ),
    );

    story.step("4. The user withdraws analytics in the app's settings");
    let outcomes = gate.record_events(events(&["screen_view", "tap", "search"]))?;
    let queued = gate.queue_stats().events;
    gate.set_consent(
        vec![PurposeDecision {
            purpose: "analytics".into(),
            granted: false,
        }],
        ConsentSource::Settings,
    )?;
    story.check(
        recorded(&outcomes) == 3 && queued == 3 && gate.queue_stats().events == 0,
        format!("{queued} queued events purged with the withdrawal"),
    );
    let later = gate.record_event("screen_view".into(), None)?;
    let report = gate.flush(uploader.clone())?;
    story.check(
        matches!(later, RecordOutcome::Dropped { .. })
            && report == FlushReport::default()
            && collector.try_installation(&old_id)?.events == 5,
        "a later event is dropped; nothing more reaches the collector",
    );

    story.step("5. The user asks to be forgotten");
    let ticket = gate.request_deletion(Some("user_request".into()))?;
    story.check(
        ticket.status == DeletionStatus::Pending
            && ticket.installation_ids.contains(&old_id)
            && gate.installation_id() != old_id,
        "local data erased, installation id replaced, deletion ticket stored",
    );
    let report = gate.flush(uploader.clone())?;
    let tickets = gate.deletion_requests();
    let receipt = match tickets.first().map(|t| &t.status) {
        Some(DeletionStatus::Acknowledged { receipt_id, .. }) => Some(receipt_id.clone()),
        _ => None,
    };
    story.check(
        report.deletions_acknowledged == 1 && receipt.is_some(),
        format!(
            "the backend acknowledged it: receipt {}",
            receipt.as_deref().map_or("missing".into(), |r| format!(
                "{}…",
                r.chars().take(8).collect::<String>()
            ))
        ),
    );
    let gone = collector.try_installation(&old_id)?;
    story.check(
        gone.deleted && gone.events == 0 && gone.batches == 0,
        format!(
            "the collector erased the installation: {} events left, deleted = {}",
            gone.events, gone.deleted
        ),
    );

    story.step("6. The consent history can be proven");
    let check = gate.verify_ledger()?;
    story.check(
        check.intact && check.entries > 0,
        format!(
            "ledger hash chain intact: {} entries (grant, withdrawal, erasure)",
            check.entries
        ),
    );

    gate.close()?;
    collector.shutdown();
    Ok(story.failed)
}
