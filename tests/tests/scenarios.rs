//! The shared scenarios of `tests/scenarios/*.json` (format: its README.md)
//! run through the public Rust API, `consentgate::ConsentGate`. The Kotlin
//! JUnit suite (`ScenariosTest`) and the Swift XCTest suite
//! (`ScenariosTests`) run the same files through their own public APIs: the
//! three must reach the same states, outcomes and queue figures, so a
//! platform layer that drifts from the core fails.
//!
//! One test runs every file and reports every failing step (not only the
//! first scenario's); another checks that the files cover G1–G9.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use consentgate::clock::DAY_MS;
use consentgate::policy::DEVICE_FIELDS;
use consentgate::{
    set_logger, AdIdProvider, AgeSignal, AttStatus, ConsentGate, ConsentSource, ConsentState,
    ConsentStatus, DeletionStatus, DeletionTicket, DeviceInfoProvider, DropReason, EventInput,
    FlushReport, GateConfig, GateError, LogLevel, Logger, ManualClock, PlatformSignals,
    PurposeDecision, RecordOutcome, UploadRequest, UploadResult, Uploader,
};
use serde_json::{Map, Value};

/// How long expectations after `advance_clock` may take to hold.
const SETTLE: Duration = Duration::from_secs(5);

/// Where every runner starts the clock: 2026-01-01T00:00:00Z.
const START_MS: i64 = 1_767_225_600_000;

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// Every scenario file, sorted by name, parsed.
fn load_scenarios() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenarios_dir())
        .expect("tests/scenarios")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("file name")
                .to_string();
            let text = std::fs::read_to_string(&p).expect("scenario file");
            let doc: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            (name, doc)
        })
        .collect()
}

#[test]
fn shared_scenarios_reach_the_expected_states_outcomes_and_queue_figures() {
    let scenarios = load_scenarios();
    let mut failures = Vec::new();
    for (name, doc) in &scenarios {
        match run_scenario(name, doc) {
            Ok(()) => println!("scenario {name}: ok"),
            Err(e) => {
                println!("scenario {name}: FAILED: {e}");
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    println!(
        "scenarios: {} passed, {} failed",
        scenarios.len() - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn shared_scenarios_cover_every_guarantee() {
    let scenarios = load_scenarios();
    assert!(
        scenarios.len() >= 12,
        "only {} scenarios in tests/scenarios",
        scenarios.len()
    );
    let mut covered = BTreeSet::new();
    for (name, doc) in &scenarios {
        assert_eq!(
            doc["name"].as_str(),
            Some(name.as_str()),
            "{name}: `name` must be the file name"
        );
        let gs = doc["guarantees"].as_array().expect("guarantees");
        assert!(!gs.is_empty(), "{name}: names no guarantee");
        for g in gs {
            covered.insert(g.as_str().expect("guarantee id").to_string());
        }
    }
    let missing: Vec<String> = (1..=9)
        .map(|i| format!("G{i}"))
        .filter(|g| !covered.contains(g))
        .collect();
    assert!(missing.is_empty(), "no scenario proves {missing:?}");
}

// -- the runner -------------------------------------------------------------

/// Log lines captured since the last `capture_logs` step (all levels down to
/// debug: G9 is about everything above trace).
struct LogCapture {
    on: AtomicBool,
    lines: Mutex<Vec<String>>,
}

impl Logger for LogCapture {
    fn log(&self, level: LogLevel, target: String, message: String) {
        if self.on.load(Ordering::SeqCst) {
            self.lines
                .lock()
                .expect("log lines")
                .push(format!("{level:?} {target}: {message}"));
        }
    }
}

fn log_capture() -> &'static Arc<LogCapture> {
    static CAPTURE: OnceLock<Arc<LogCapture>> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let c = Arc::new(LogCapture {
            on: AtomicBool::new(false),
            lines: Mutex::new(Vec::new()),
        });
        set_logger(c.clone(), LogLevel::Debug);
        c
    })
}

/// Answers the scripted replies in order; a request beyond them is a failure.
struct ScriptedUploader {
    replies: Mutex<Vec<UploadResult>>,
    sent: Mutex<Vec<(String, String)>>,
    unscripted: AtomicBool,
}

impl Uploader for ScriptedUploader {
    fn send(&self, request: UploadRequest) -> UploadResult {
        let kind = if request.url.ends_with("/v1/deletion") {
            "deletion"
        } else if request.url.ends_with("/v1/batch") {
            "batch"
        } else {
            "other"
        };
        self.sent
            .lock()
            .expect("sent")
            .push((kind.to_string(), request.request_id));
        let mut replies = self.replies.lock().expect("replies");
        if replies.is_empty() {
            self.unscripted.store(true, Ordering::SeqCst);
            return UploadResult::NetworkError {
                message: "the scenario scripted no reply for this request".into(),
            };
        }
        replies.remove(0)
    }
}

/// Answers `scenario-<field>` for every field and notes what it was asked.
#[derive(Default)]
struct FakeDevice {
    asked: Mutex<Vec<String>>,
}

impl FakeDevice {
    fn answer(&self, field: &str) -> Option<String> {
        self.asked.lock().expect("asked").push(field.to_string());
        Some(format!("scenario-{field}"))
    }
}

impl DeviceInfoProvider for FakeDevice {
    fn os(&self) -> Option<String> {
        self.answer("os")
    }
    fn os_version(&self) -> Option<String> {
        self.answer("os_version")
    }
    fn model(&self) -> Option<String> {
        self.answer("model")
    }
    fn manufacturer(&self) -> Option<String> {
        self.answer("manufacturer")
    }
    fn locale(&self) -> Option<String> {
        self.answer("locale")
    }
    fn timezone(&self) -> Option<String> {
        self.answer("timezone")
    }
    fn carrier(&self) -> Option<String> {
        self.answer("carrier")
    }
    fn app_version(&self) -> Option<String> {
        self.answer("app_version")
    }
    fn screen(&self) -> Option<String> {
        self.answer("screen")
    }
}

struct FakeAdId {
    value: Option<String>,
    called: AtomicBool,
}

impl AdIdProvider for FakeAdId {
    fn advertising_id(&self) -> Option<String> {
        self.called.store(true, Ordering::SeqCst);
        self.value.clone()
    }
}

/// What a step's call returned, for the expectations about it.
enum Done {
    Nothing,
    Outcome(String),
    Flush(FlushReport, Vec<(String, String)>),
    Ticket(DeletionTicket),
    Device {
        asked: Vec<String>,
        fields: Vec<String>,
    },
    AdId {
        value: Option<String>,
        called: bool,
    },
}

struct Run {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    gate: Option<Arc<ConsentGate>>,
    policy: String,
    region: Option<String>,
    /// Request ids by the labels of `sent` expectations.
    labels: HashMap<String, String>,
}

fn run_scenario(name: &str, doc: &Value) -> Result<(), String> {
    let top = doc.as_object().ok_or("the scenario is not an object")?;
    known_keys(
        top,
        &["name", "guarantees", "proves", "policy", "region", "steps"],
        "scenario",
    )?;
    let mut run = Run {
        dir: tempfile::Builder::new()
            .prefix(&format!("scenario-{name}-"))
            .tempdir()
            .map_err(|e| e.to_string())?,
        clock: Arc::new(ManualClock::new(START_MS)),
        gate: None,
        policy: str_field(top, "policy")?.to_string(),
        region: top
            .get("region")
            .and_then(Value::as_str)
            .map(str::to_string),
        labels: HashMap::new(),
    };
    let steps = top
        .get("steps")
        .and_then(Value::as_array)
        .ok_or("`steps` must be an array")?;
    for (i, step) in steps.iter().enumerate() {
        let step = step
            .as_object()
            .ok_or(format!("steps[{i}] is not an object"))?;
        let action = str_field(step, "do").map_err(|e| format!("steps[{i}]: {e}"))?;
        run.step(action, step)
            .map_err(|e| format!("steps[{i}] ({action}): {e}"))?;
    }
    if let Some(gate) = run.gate.take() {
        gate.close().map_err(|e| format!("final close: {e}"))?;
    }
    Ok(())
}

impl Run {
    fn gate(&self) -> Result<&Arc<ConsentGate>, String> {
        self.gate
            .as_ref()
            .ok_or_else(|| "no gate is open".to_string())
    }

    fn open(&mut self, step: &Map<String, Value>) -> Result<(), GateError> {
        let policy = step
            .get("policy")
            .and_then(Value::as_str)
            .unwrap_or(&self.policy)
            .to_string();
        let region = match step.get("region") {
            Some(r) => r.as_str().map(str::to_string),
            None => self.region.clone(),
        };
        let path = scenarios_dir()
            .join("policies")
            .join(format!("{policy}.json"));
        let policy_json = std::fs::read_to_string(&path).map_err(|e| GateError::Internal {
            message: format!("{}: {e}", path.display()),
        })?;
        let gate = ConsentGate::open_with_clock(
            GateConfig {
                data_dir: self.dir.path().to_string_lossy().into_owned(),
                policy_json,
                region,
                app_version: "1.2.3".into(),
            },
            self.clock.clone(),
        )?;
        // The one before (closed, or the open would have been Busy) goes.
        self.gate = Some(gate);
        Ok(())
    }

    /// Closes the gate and keeps it: later calls reach a closed gate.
    fn close(&mut self) -> Result<(), GateError> {
        match &self.gate {
            Some(g) => g.close(),
            None => Err(GateError::Closed),
        }
    }

    fn step(&mut self, action: &str, step: &Map<String, Value>) -> Result<(), String> {
        let args: &[&str] = match action {
            "open" | "reopen" => &["policy", "region"],
            "advance_clock" => &["ms", "days"],
            "set_consent" => &["decisions", "source"],
            "accept_all" | "reject_all" => &["source"],
            "set_age" => &["age", "parental_consent"],
            "set_platform_signals" => &["att", "limit_ad_tracking", "gpc"],
            "record_event" => &["name", "properties", "pad_bytes"],
            "record_events" => &["events", "repeat"],
            "flush" => &["replies"],
            "request_deletion" => &["reason"],
            "advertising_id" => &["provider_returns"],
            "close" | "persist" | "check" | "collect_device_info" | "capture_logs" => &[],
            other => return Err(format!("unknown action `{other}`")),
        };
        let mut allowed = vec!["do", "expect"];
        allowed.extend_from_slice(args);
        known_keys(step, &allowed, "step")?;
        let empty = Map::new();
        let expect = match step.get("expect") {
            Some(v) => v.as_object().ok_or("`expect` must be an object")?,
            None => &empty,
        };
        known_keys(
            expect,
            &[
                "error",
                "outcome",
                "report",
                "sent",
                "ticket",
                "device_fields_asked",
                "device_fields",
                "ad_id",
                "ad_id_provider_called",
                "state",
                "allows",
                "queue",
                "deletions",
                "ledger",
                "export",
                "logs",
            ],
            "expect",
        )?;
        let result = self.act(action, step)?;
        let done = match (result, expect.get("error")) {
            (Ok(_), Some(e)) => {
                return Err(format!("expected the error {e}, but the call succeeded"))
            }
            (Err(e), None) => return Err(format!("unexpected error: {e}")),
            (Err(e), Some(want)) => {
                let got = error_kind(&e);
                if Some(got) != want.as_str() {
                    return Err(format!("expected the error {want}, got {got} ({e})"));
                }
                Done::Nothing
            }
            (Ok(done), None) => done,
        };
        self.check_done(expect, &done)?;
        if action != "advance_clock" {
            return self.check_after(expect);
        }
        // What time made due (an expiry) the core applies on its writer
        // thread after the jump: wait for it, a while.
        let deadline = Instant::now() + SETTLE;
        loop {
            match self.check_after(expect) {
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    /// Runs the step's call. The outer error is a broken scenario or runner,
    /// the inner one the gate's answer.
    fn act(
        &mut self,
        action: &str,
        step: &Map<String, Value>,
    ) -> Result<Result<Done, GateError>, String> {
        let source = || -> Result<ConsentSource, String> {
            match step
                .get("source")
                .and_then(Value::as_str)
                .unwrap_or("banner")
            {
                "banner" => Ok(ConsentSource::Banner),
                "settings" => Ok(ConsentSource::Settings),
                "api" => Ok(ConsentSource::Api),
                other => Err(format!("unknown source `{other}`")),
            }
        };
        Ok(match action {
            "open" => self.open(step).map(|()| Done::Nothing),
            "close" => self.close().map(|()| Done::Nothing),
            "reopen" => self
                .close()
                .and_then(|()| self.open(step))
                .map(|()| Done::Nothing),
            "advance_clock" => {
                let ms = step.get("ms").and_then(Value::as_i64).unwrap_or(0)
                    + step.get("days").and_then(Value::as_i64).unwrap_or(0) * DAY_MS;
                self.clock.advance(ms);
                Ok(Done::Nothing)
            }
            "set_consent" => {
                let decisions = step
                    .get("decisions")
                    .and_then(Value::as_object)
                    .ok_or("`decisions` must be an object")?
                    .iter()
                    .map(|(purpose, granted)| {
                        granted
                            .as_bool()
                            .map(|granted| PurposeDecision {
                                purpose: purpose.clone(),
                                granted,
                            })
                            .ok_or(format!("decisions.{purpose} must be true or false"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let source = source()?;
                self.gate()?
                    .set_consent(decisions, source)
                    .map(|_| Done::Nothing)
            }
            "accept_all" => {
                let source = source()?;
                self.gate()?.accept_all(source).map(|_| Done::Nothing)
            }
            "reject_all" => {
                let source = source()?;
                self.gate()?.reject_all(source).map(|_| Done::Nothing)
            }
            "set_age" => {
                let age = match step.get("age") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(
                        v.as_i64()
                            .and_then(|a| i32::try_from(a).ok())
                            .ok_or("`age` must be an integer or null")?,
                    ),
                };
                let parental = step
                    .get("parental_consent")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                self.gate()?
                    .set_age(AgeSignal {
                        age_years: age,
                        parental_consent: parental,
                    })
                    .map(|_| Done::Nothing)
            }
            "set_platform_signals" => {
                let att = match step
                    .get("att")
                    .and_then(Value::as_str)
                    .unwrap_or("not_applicable")
                {
                    "not_applicable" => AttStatus::NotApplicable,
                    "not_determined" => AttStatus::NotDetermined,
                    "restricted" => AttStatus::Restricted,
                    "denied" => AttStatus::Denied,
                    "authorized" => AttStatus::Authorized,
                    other => return Err(format!("unknown att `{other}`")),
                };
                let flag = |k: &str| step.get(k).and_then(Value::as_bool).unwrap_or(false);
                self.gate()?
                    .set_platform_signals(PlatformSignals {
                        att_status: att,
                        limit_ad_tracking: flag("limit_ad_tracking"),
                        gpc: flag("gpc"),
                    })
                    .map(|_| Done::Nothing)
            }
            "record_event" => {
                let (name, props) = event_of(step)?;
                match self.gate()?.record_event(name, props) {
                    Ok(o) => Ok(Done::Outcome(outcome_name(&o).into())),
                    Err(GateError::InvalidArgument { .. }) => Ok(Done::Outcome("invalid".into())),
                    Err(e) => Err(e),
                }
            }
            "record_events" => {
                let list = step
                    .get("events")
                    .and_then(Value::as_array)
                    .ok_or("`events` must be an array")?;
                let repeat = step.get("repeat").and_then(Value::as_u64).unwrap_or(1);
                let mut inputs = Vec::new();
                for _ in 0..repeat {
                    for e in list {
                        let e = e.as_object().ok_or("an event must be an object")?;
                        known_keys(e, &["name", "properties", "pad_bytes"], "event")?;
                        let (name, properties_json) = event_of(e)?;
                        inputs.push(EventInput {
                            name,
                            properties_json,
                        });
                    }
                }
                match self.gate()?.record_events(inputs) {
                    Ok(outcomes) => {
                        let names: BTreeSet<&str> = outcomes.iter().map(outcome_name).collect();
                        match names.len() {
                            0 => Ok(Done::Outcome("none".into())),
                            1 => Ok(Done::Outcome(names.into_iter().collect())),
                            _ => Ok(Done::Outcome(format!("mixed {names:?}"))),
                        }
                    }
                    Err(GateError::InvalidArgument { .. }) => Ok(Done::Outcome("invalid".into())),
                    Err(e) => Err(e),
                }
            }
            "flush" => {
                let replies = step
                    .get("replies")
                    .map(|r| r.as_array().ok_or("`replies` must be an array"))
                    .transpose()?
                    .map(|r| r.iter().map(reply_of).collect::<Result<Vec<_>, _>>())
                    .transpose()?
                    .unwrap_or_default();
                let uploader = Arc::new(ScriptedUploader {
                    replies: Mutex::new(replies),
                    sent: Mutex::new(Vec::new()),
                    unscripted: AtomicBool::new(false),
                });
                let result = self.gate()?.flush(uploader.clone());
                let sent = uploader.sent.lock().expect("sent").clone();
                if uploader.unscripted.load(Ordering::SeqCst) {
                    return Err(format!(
                        "the gate sent more requests than scripted: {sent:?}"
                    ));
                }
                let left = uploader.replies.lock().expect("replies").len();
                if left > 0 {
                    return Err(format!(
                        "{left} scripted replies were never used (sent: {sent:?})"
                    ));
                }
                result.map(|r| Done::Flush(r, sent))
            }
            "request_deletion" => {
                let reason = step
                    .get("reason")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                self.gate()?.request_deletion(reason).map(Done::Ticket)
            }
            "collect_device_info" => {
                let provider = Arc::new(FakeDevice::default());
                self.gate()?
                    .collect_device_info(provider.clone())
                    .map(|info| {
                        let v = serde_json::to_value(&info).unwrap_or(Value::Null);
                        let fields = DEVICE_FIELDS
                            .iter()
                            .filter(|f| v.get(**f).is_some_and(|x| !x.is_null()))
                            .map(|f| f.to_string())
                            .collect();
                        let asked = provider.asked.lock().expect("asked").clone();
                        Done::Device { asked, fields }
                    })
            }
            "advertising_id" => {
                let provider = Arc::new(FakeAdId {
                    value: step
                        .get("provider_returns")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    called: AtomicBool::new(false),
                });
                let value = self.gate()?.advertising_id(provider.clone());
                Ok(Done::AdId {
                    value,
                    called: provider.called.load(Ordering::SeqCst),
                })
            }
            "persist" => self.gate()?.persist().map(|()| Done::Nothing),
            "capture_logs" => {
                let c = log_capture();
                c.lines.lock().expect("log lines").clear();
                c.on.store(true, Ordering::SeqCst);
                Ok(Done::Nothing)
            }
            "check" => Ok(Done::Nothing),
            other => return Err(format!("unknown action `{other}`")),
        })
    }

    /// The expectations about what the call returned.
    fn check_done(&mut self, expect: &Map<String, Value>, done: &Done) -> Result<(), String> {
        if let Some(want) = expect.get("outcome") {
            match done {
                Done::Outcome(got) if Some(got.as_str()) == want.as_str() => {}
                Done::Outcome(got) => return Err(format!("outcome: expected {want}, got {got}")),
                _ => return Err("`outcome` is only for record_event(s)".into()),
            }
        }
        if expect.contains_key("report") || expect.contains_key("sent") {
            let Done::Flush(report, sent) = done else {
                return Err("`report` and `sent` are only for flush".into());
            };
            if let Some(want) = expect.get("report") {
                let got = serde_json::json!({
                    "requests": report.requests,
                    "batches_delivered": report.batches_delivered,
                    "events_delivered": report.events_delivered,
                    "events_rejected": report.events_rejected,
                    "retries": report.retries,
                    "deletions_acknowledged": report.deletions_acknowledged,
                    "deletions_failed": report.deletions_failed,
                    "waiting": report.wait_ms.is_some(),
                });
                compare_fields("report", want, &got)?;
            }
            if let Some(want) = expect.get("sent") {
                let want = want.as_array().ok_or("`sent` must be an array")?;
                if want.len() != sent.len() {
                    return Err(format!("sent: expected {want:?}, got {sent:?}"));
                }
                for (w, (kind, id)) in want.iter().zip(sent) {
                    let w = w.as_str().ok_or("`sent` entries are strings")?;
                    let (want_kind, label) = w.split_once(':').unwrap_or((w, ""));
                    if want_kind != kind {
                        return Err(format!("sent: expected {want:?}, got {sent:?}"));
                    }
                    if !label.is_empty() {
                        check_label(&mut self.labels, label, id)?;
                    }
                }
            }
        }
        if let Some(want) = expect.get("ticket") {
            let Done::Ticket(t) = done else {
                return Err("`ticket` is only for request_deletion".into());
            };
            compare_fields("ticket", want, &ticket_json(t))?;
        }
        if expect.contains_key("device_fields_asked") || expect.contains_key("device_fields") {
            let Done::Device { asked, fields } = done else {
                return Err("`device_fields…` are only for collect_device_info".into());
            };
            for (key, got) in [("device_fields_asked", asked), ("device_fields", fields)] {
                if let Some(want) = expect.get(key) {
                    let mut want: Vec<&str> = want
                        .as_array()
                        .ok_or(format!("`{key}` must be an array"))?
                        .iter()
                        .filter_map(Value::as_str)
                        .collect();
                    let mut got: Vec<&str> = got.iter().map(String::as_str).collect();
                    want.sort_unstable();
                    got.sort_unstable();
                    if want != got {
                        return Err(format!("{key}: expected {want:?}, got {got:?}"));
                    }
                }
            }
        }
        if expect.contains_key("ad_id") || expect.contains_key("ad_id_provider_called") {
            let Done::AdId { value, called } = done else {
                return Err("`ad_id…` are only for advertising_id".into());
            };
            if let Some(want) = expect.get("ad_id") {
                if want.as_str() != value.as_deref() {
                    return Err(format!("ad_id: expected {want}, got {value:?}"));
                }
            }
            if let Some(want) = expect.get("ad_id_provider_called") {
                if want.as_bool() != Some(*called) {
                    return Err(format!(
                        "ad_id_provider_called: expected {want}, got {called}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The expectations about the gate after the step.
    fn check_after(&self, expect: &Map<String, Value>) -> Result<(), String> {
        if let Some(want) = expect.get("state") {
            compare_fields("state", want, &state_json(&self.gate()?.consent_state()))?;
        }
        if let Some(want) = expect.get("allows") {
            let want = want.as_object().ok_or("`allows` must be an object")?;
            for (category, w) in want {
                let got = self.gate()?.allows(category.clone());
                if w.as_bool() != Some(got) {
                    return Err(format!("allows({category}): expected {w}, got {got}"));
                }
            }
        }
        if let Some(want) = expect.get("queue") {
            let q = self.gate()?.queue_stats();
            let got = serde_json::json!({
                "events": q.events, "bytes": q.bytes, "evicted": q.evicted,
                "dropped_no_consent": q.dropped_no_consent, "delivered": q.delivered,
                "rejected": q.rejected,
            });
            compare_fields("queue", want, &got)?;
        }
        if let Some(want) = expect.get("deletions") {
            let want = want.as_array().ok_or("`deletions` must be an array")?;
            let got = self.gate()?.deletion_requests();
            if want.len() != got.len() {
                return Err(format!(
                    "deletions: expected {} tickets, got {}",
                    want.len(),
                    got.len()
                ));
            }
            for (i, (w, t)) in want.iter().zip(&got).enumerate() {
                compare_fields(&format!("deletions[{i}]"), w, &ticket_json(t))?;
            }
        }
        if let Some(want) = expect.get("ledger") {
            let c = self
                .gate()?
                .verify_ledger()
                .map_err(|e| format!("verify_ledger: {e}"))?;
            let got = serde_json::json!({"intact": c.intact, "entries": c.entries});
            compare_fields("ledger", want, &got)?;
        }
        if let Some(want) = expect.get("export") {
            let text = self
                .gate()?
                .export_data()
                .map_err(|e| format!("export_data: {e}"))?;
            let doc: Value = serde_json::from_str(&text).map_err(|e| format!("export: {e}"))?;
            for (i, w) in want
                .as_array()
                .ok_or("`export` must be an array")?
                .iter()
                .enumerate()
            {
                check_export(w, &doc, &text).map_err(|e| format!("export[{i}]: {e}"))?;
            }
        }
        if let Some(want) = expect.get("logs") {
            let want = want.as_object().ok_or("`logs` must be an object")?;
            known_keys(want, &["min_lines", "omit_text"], "logs")?;
            let lines = log_capture().lines.lock().expect("log lines").clone();
            let min = want.get("min_lines").and_then(Value::as_u64).unwrap_or(0);
            if (lines.len() as u64) < min {
                return Err(format!(
                    "logs: expected at least {min} lines, got {}",
                    lines.len()
                ));
            }
            for s in want
                .get("omit_text")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if let Some(line) = lines.iter().find(|l| l.contains(s)) {
                    return Err(format!("logs: a line contains {s:?}: {line}"));
                }
            }
        }
        Ok(())
    }
}

/// A `sent` label names one request id for the whole scenario: the same
/// label must be the same id, different labels different ids.
fn check_label(labels: &mut HashMap<String, String>, label: &str, id: &str) -> Result<(), String> {
    if let Some(known) = labels.get(label) {
        if known != id {
            return Err(format!("sent: request `{label}` was {known}, now {id}"));
        }
        return Ok(());
    }
    if let Some((other, _)) = labels.iter().find(|(_, v)| v.as_str() == id) {
        return Err(format!("sent: `{label}` is the same request as `{other}`"));
    }
    labels.insert(label.to_string(), id.to_string());
    Ok(())
}

fn event_of(e: &Map<String, Value>) -> Result<(String, Option<String>), String> {
    let name = str_field(e, "name")?.to_string();
    let mut props = match e.get("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err("`properties` must be an object".into()),
    };
    if let Some(n) = e.get("pad_bytes") {
        let n = n.as_u64().ok_or("`pad_bytes` must be a count")? as usize;
        props.insert("pad".into(), Value::from("x".repeat(n)));
    }
    let json = if props.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&props).map_err(|e| e.to_string())?)
    };
    Ok((name, json))
}

fn reply_of(r: &Value) -> Result<UploadResult, String> {
    let r = r.as_object().ok_or("a reply must be an object")?;
    known_keys(
        r,
        &["status", "retry_after_s", "body", "network_error"],
        "reply",
    )?;
    if let Some(m) = r.get("network_error") {
        return Ok(UploadResult::NetworkError {
            message: m
                .as_str()
                .ok_or("`network_error` is a message")?
                .to_string(),
        });
    }
    Ok(UploadResult::Http {
        status: r
            .get("status")
            .and_then(Value::as_i64)
            .and_then(|s| i32::try_from(s).ok())
            .ok_or("a reply needs `status` or `network_error`")?,
        retry_after_s: r.get("retry_after_s").and_then(Value::as_i64),
        body: r.get("body").and_then(Value::as_str).map(str::to_string),
    })
}

fn outcome_name(o: &RecordOutcome) -> &'static str {
    match o {
        RecordOutcome::Recorded { .. } => "recorded",
        RecordOutcome::Dropped {
            reason: DropReason::NoConsent,
        } => "dropped",
    }
}

fn error_kind(e: &GateError) -> &'static str {
    match e {
        GateError::InvalidPolicy { .. } => "invalid_policy",
        GateError::InvalidArgument { .. } => "invalid_argument",
        GateError::UnknownPurpose { .. } => "unknown_purpose",
        GateError::AgeRestricted { .. } => "age_restricted",
        GateError::NotWithdrawable { .. } => "not_withdrawable",
        GateError::GpcRestricted { .. } => "gpc_restricted",
        GateError::Storage { .. } => "storage",
        GateError::Closed => "closed",
        GateError::Busy { .. } => "busy",
        _ => "internal",
    }
}

fn status_name(s: ConsentStatus) -> &'static str {
    s.as_str()
}

fn state_json(s: &ConsentState) -> Value {
    let purposes: Map<String, Value> = s
        .purposes
        .iter()
        .map(|p| (p.id.clone(), Value::from(status_name(p.status))))
        .collect();
    let sources: Map<String, Value> = s
        .purposes
        .iter()
        .map(|p| {
            (
                p.id.clone(),
                p.source.map_or(Value::Null, |x| Value::from(x.as_str())),
            )
        })
        .collect();
    serde_json::json!({
        "revision": s.revision,
        "needs_prompt": s.needs_prompt,
        "prompt_reasons": s.prompt_reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "purposes": purposes,
        "sources": sources,
        "allowed": s.allowed_categories,
        "age_restricted": s.age_restricted,
        "gpc": s.gpc,
    })
}

fn ticket_json(t: &DeletionTicket) -> Value {
    let (status, receipt_id, receipt_status, http_status) = match &t.status {
        DeletionStatus::Pending => ("pending", Value::Null, Value::Null, Value::Null),
        DeletionStatus::Acknowledged { receipt_id, status } => (
            "acknowledged",
            Value::from(receipt_id.as_str()),
            Value::from(status.as_str()),
            Value::Null,
        ),
        DeletionStatus::Failed { status } => {
            ("failed", Value::Null, Value::Null, Value::from(*status))
        }
    };
    serde_json::json!({
        "status": status,
        "receipt_id": receipt_id,
        "receipt_status": receipt_status,
        "http_status": http_status,
        "reason": t.reason,
        "installation_ids": t.installation_ids.len(),
        "endpoints": t.endpoints.len(),
    })
}

/// Every field of `want` must be in `got` with the same value; `purposes` and
/// `sources` compare per purpose named.
fn compare_fields(what: &str, want: &Value, got: &Value) -> Result<(), String> {
    let want = want
        .as_object()
        .ok_or(format!("`{what}` must be an object"))?;
    let got = got.as_object().ok_or(format!("{what}: not an object"))?;
    for (k, w) in want {
        let g = got
            .get(k)
            .ok_or(format!("{what}: there is no field `{k}` to expect"))?;
        match (w, g) {
            (Value::Object(wm), Value::Object(_)) => {
                for (sub, wv) in wm {
                    let gv = g.get(sub).ok_or(format!("{what}.{k}: no `{sub}`"))?;
                    if !same(wv, gv) {
                        return Err(format!("{what}.{k}.{sub}: expected {wv}, got {gv}"));
                    }
                }
            }
            _ if same(w, g) => {}
            _ => return Err(format!("{what}.{k}: expected {w}, got {g}")),
        }
    }
    Ok(())
}

/// JSON equality with numbers compared as numbers (1 == 1.0).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// One `export` expectation: `{path, equals|length|absent}`,
/// `{contains_text}` or `{omits_text}`.
fn check_export(w: &Value, doc: &Value, text: &str) -> Result<(), String> {
    let w = w
        .as_object()
        .ok_or("an export expectation must be an object")?;
    known_keys(
        w,
        &[
            "path",
            "equals",
            "length",
            "absent",
            "contains_text",
            "omits_text",
        ],
        "export",
    )?;
    if let Some(s) = w.get("contains_text").and_then(Value::as_str) {
        if !text.contains(s) {
            return Err(format!("the export does not contain {s:?}"));
        }
    }
    if let Some(s) = w.get("omits_text").and_then(Value::as_str) {
        if text.contains(s) {
            return Err(format!("the export contains {s:?}"));
        }
    }
    let Some(path) = w.get("path").and_then(Value::as_str) else {
        return Ok(());
    };
    let mut at = Some(doc);
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        at = at.and_then(|v| match v {
            Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            Value::Object(m) => m.get(seg),
            _ => None,
        });
    }
    let at = at.filter(|v| !v.is_null());
    if let Some(absent) = w.get("absent").and_then(Value::as_bool) {
        if absent != at.is_none() {
            return Err(format!("{path}: expected absent={absent}, found {at:?}"));
        }
    }
    if let Some(want) = w.get("equals") {
        match at {
            Some(v) if same(want, v) => {}
            _ => return Err(format!("{path}: expected {want}, found {at:?}")),
        }
    }
    if let Some(want) = w.get("length").and_then(Value::as_u64) {
        let len = match at {
            Some(Value::Array(a)) => a.len(),
            Some(Value::Object(m)) => m.len(),
            _ => return Err(format!("{path}: expected {want} items, found {at:?}")),
        };
        if len as u64 != want {
            return Err(format!("{path}: expected {want} items, found {len}"));
        }
    }
    Ok(())
}

fn str_field<'a>(m: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    m.get(key)
        .and_then(Value::as_str)
        .ok_or(format!("`{key}` must be a string"))
}

/// A key the runner does not know is a typo that would make an expectation
/// silently vacuous: refuse it.
fn known_keys(m: &Map<String, Value>, known: &[&str], what: &str) -> Result<(), String> {
    match m.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("unknown key `{k}` in {what} (known: {known:?})")),
        None => Ok(()),
    }
}
