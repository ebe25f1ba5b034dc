//! Runs one parsed command: `policy check` on a file alone; `ledger show` on
//! a read-only connection to the store; `ledger verify`, `status` and
//! `export` on a consistent copy of it (they change nothing, set nothing
//! aside, and work beside an app that holds the directory); everything else
//! on a [`ConsentGate`] opened for the data directory with the options given
//! (it takes the directory's lock: beside a running app it fails with exit 3
//! naming the directory) and always closed again before the answer is
//! printed (so an event is on disk when `recorded <seq>` appears). Every rule is the core's; this module only
//! translates arguments in and answers out, and for `upload` and
//! `delete-request` lends the core an HTTP client
//! ([`HttpUploader`](consentgate_cli::http::HttpUploader)) and sleeps through
//! short backoffs.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use consentgate::policy::{Policy, PolicyIssue};
use consentgate::{
    Clock, ConsentGate, DeletionStatus, EventInput, FlushReport, GateError, ManualClock,
    OpenOptions, PurposeDecision, PurposeKind, RecordOutcome, SystemClock, Uploader, DB_FILE,
};
use consentgate_cli::http::HttpUploader;

use crate::args::{
    Cli, Command, ConsentCommand, DeletionCommand, DiscloseFormat, EventCommand, Global,
    LedgerCommand, PolicyCommand, QueueCommand,
};
use crate::failure::{Failure, Kind, Report};

/// Recorded in the ledger as the app version of every decision made here.
const APP_VERSION: &str = concat!("consentgate-cli/", env!("CARGO_PKG_VERSION"));

/// Runs `cli` and returns what to print.
pub fn run(cli: Cli) -> Result<Report, Failure> {
    match cli.command {
        Command::Policy(PolicyCommand::Check { file }) => policy_check(&file),
        Command::Disclose(format) => disclose(&cli.global, &format),
        Command::Tcf(command) => crate::signals::tcf(command),
        Command::Gpp(command) => crate::signals::gpp(command),
        Command::Ledger(command) => ledger(&cli.global, command),
        command @ (Command::Status | Command::Export)
            if data_dir(&cli.global)?.join(DB_FILE).exists() =>
        {
            // Read-only: on a copy, so the store is left exactly as it is
            // (a directory with no store yet is created like by any command).
            let copy = tempfile::tempdir()
                .map_err(|e| Failure::storage(format!("no temporary directory: {e}")))?;
            consentgate::copy_data_dir(data_dir(&cli.global)?, copy.path())?;
            with_gate(&cli.global, Some(copy.path()), |gate| {
                on_gate(gate, command, &cli.global)
            })
        }
        command => with_gate(&cli.global, None, |gate| {
            on_gate(gate, command, &cli.global)
        }),
    }
}

/// Opens the gate, runs `f`, closes the gate. A failed close (the final group
/// commit) turns a success into a storage failure: an answer that claims
/// `recorded` must be on disk.
fn with_gate(
    global: &Global,
    copy: Option<&Path>,
    f: impl FnOnce(&ConsentGate) -> Result<Report, Failure>,
) -> Result<Report, Failure> {
    let data_dir = data_dir(global)?.to_path_buf();
    let policy_json = match &global.policy {
        Some(file) => Some(read_policy(file)?),
        None if !data_dir.join(DB_FILE).exists() => {
            // Opening would create an empty store in what may be a mistyped
            // directory, and then fail anyway: say what is needed instead.
            return Err(Failure::bad_input(format!(
                "no policy: {} holds no consentgate database yet, so --policy FILE is needed to create one",
                data_dir.display()
            )));
        }
        None => None,
    };
    let clock: Arc<dyn Clock> = match global.now {
        Some(ms) => Arc::new(ManualClock::new(ms)),
        None => Arc::new(SystemClock),
    };
    let gate = ConsentGate::open_with(OpenOptions {
        data_dir: copy.map_or(data_dir, Path::to_path_buf),
        policy_json,
        region: global.region.clone(),
        app_version: APP_VERSION.to_string(),
        clock,
    })?;
    let result = f(&gate);
    let closed = gate.close();
    let report = result?;
    closed?;
    Ok(report)
}

/// The `--data-dir` every command but `policy check` needs.
fn data_dir(global: &Global) -> Result<&Path, Failure> {
    global
        .data_dir
        .as_deref()
        .ok_or_else(|| Failure::bad_input("--data-dir DIR is required for this command"))
}

/// `ledger show` and `ledger verify`: read the store without opening a gate,
/// so a store whose ledger is broken is reported, not set aside.
fn ledger(global: &Global, command: LedgerCommand) -> Result<Report, Failure> {
    let data_dir = data_dir(global)?;
    match command {
        LedgerCommand::Show => json(serde_json::to_string_pretty(&consentgate::ledger_at(
            data_dir,
        )?)),
        LedgerCommand::Verify => {
            let check = consentgate::verify_ledger_at(data_dir)?;
            let problem = check
                .problem
                .unwrap_or_else(|| "the chain does not verify".into());
            Ok(match (check.intact, check.first_bad_seq) {
                (true, _) => Report::ok(format!("intact: {} entries", check.entries)),
                (false, Some(seq)) => Report::negative(format!("broken at entry {seq}: {problem}")),
                (false, None) => Report::negative(format!("broken: {problem}")),
            })
        }
    }
}

/// Every command that needs an open gate. With `--now` (a fixed clock)
/// waiting for a backoff to pass would wait forever, so it is not waited for.
fn on_gate(gate: &ConsentGate, command: Command, global: &Global) -> Result<Report, Failure> {
    let fixed_clock = global.now.is_some();
    match command {
        Command::Policy(PolicyCommand::Check { file }) => policy_check(&file),
        Command::Disclose(format) => disclose(global, &format),
        Command::Ledger(command) => ledger(global, command),
        Command::Status => crate::signals::status(gate),
        Command::Tcf(command) => crate::signals::tcf(command),
        Command::Gpp(command) => crate::signals::gpp(command),
        Command::Consent(c) => {
            let state = match c {
                ConsentCommand::Grant(d) => {
                    gate.set_consent(decisions(d.purposes, true), d.source.source.into())?
                }
                ConsentCommand::Deny(d) => {
                    gate.set_consent(decisions(d.purposes, false), d.source.source.into())?
                }
                ConsentCommand::AcceptAll(s) => gate.accept_all(s.source.into())?,
                ConsentCommand::RejectAll(s) => gate.reject_all(s.source.into())?,
                ConsentCommand::Acknowledge(s) => {
                    if gate.consent_state().needs_acknowledgement.is_none() {
                        eprintln!(
                            "note: no policy change is due for acknowledgement; nothing recorded"
                        );
                    }
                    gate.acknowledge_policy(s.source.into())?
                }
            };
            json(serde_json::to_string_pretty(&state))
        }
        Command::Allows { category } => {
            if gate.policy().category_index(&category).is_none() {
                // Still a plain `blocked` (G1), but a typo should not look like a refusal.
                eprintln!("note: the policy defines no category \"{category}\"; unknown categories are never allowed");
            }
            Ok(if gate.allows_str(&category) {
                Report::ok("allowed")
            } else {
                Report::negative("blocked")
            })
        }
        Command::Event(EventCommand::Record {
            name,
            json,
            count: 1,
        }) => Ok(Report::ok(match gate.record_event(name, json)? {
            RecordOutcome::Recorded { seq } => format!("recorded {seq}"),
            RecordOutcome::Dropped { reason } => format!("dropped {}", reason.as_str()),
        })),
        Command::Event(EventCommand::Record { name, json, count }) => {
            record_many(gate, name, json, count)
        }
        Command::Queue(QueueCommand::Stats) => {
            json(serde_json::to_string_pretty(&gate.queue_stats()))
        }
        Command::Upload { endpoint, max_wait } => {
            upload(gate, endpoint.as_deref(), max_wait, fixed_clock)
        }
        Command::DeleteRequest { reason, endpoint } => {
            delete_request(gate, reason, endpoint.as_deref())
        }
        Command::Deletion(DeletionCommand::Status) => {
            json(serde_json::to_string_pretty(&gate.deletion_requests()))
        }
        Command::Export => Ok(Report::ok(gate.export_data()?)),
    }
}

/// Events handed to the core per `record_events` call by `--count`.
const RECORD_CHUNK: u32 = 10_000;

/// `event record NAME [JSON] --count N` (N > 1): N copies through
/// `record_events`, the call apps use for many events at once.
fn record_many(
    gate: &ConsentGate,
    name: String,
    json: Option<String>,
    count: u32,
) -> Result<Report, Failure> {
    // Checked once here, so an error does not name `events[0]`, which the user never wrote.
    consentgate::event::validate_name(&name)?;
    if let Some(p) = &json {
        consentgate::event::validate_properties(p)?;
    }
    let mut recorded: Option<(i64, i64)> = None;
    let mut dropped: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut left = count;
    while left > 0 {
        let n = left.min(RECORD_CHUNK);
        left -= n;
        let events = vec![
            EventInput {
                name: name.clone(),
                properties_json: json.clone(),
            };
            n as usize
        ];
        for outcome in gate.record_events(events)? {
            match outcome {
                RecordOutcome::Recorded { seq } => {
                    recorded = Some(recorded.map_or((seq, seq), |(first, _)| (first, seq)));
                }
                RecordOutcome::Dropped { reason } => {
                    *dropped.entry(reason.as_str()).or_default() += 1
                }
            }
        }
    }
    let mut lines: Vec<String> = recorded
        .map(|(first, last)| format!("recorded {first}..{last}"))
        .into_iter()
        .collect();
    lines.extend(
        dropped
            .iter()
            .map(|(reason, n)| format!("dropped {reason} ({n} events)")),
    );
    Ok(Report::ok(lines.join("\n")))
}

/// The HTTP client for `upload` and `delete-request`; a bad `--endpoint` is bad input.
fn http_uploader(endpoint: Option<&str>) -> Result<Arc<dyn Uploader>, Failure> {
    Ok(Arc::new(match endpoint {
        Some(base) => HttpUploader::with_base(base).map_err(Failure::bad_input)?,
        None => HttpUploader::new(),
    }))
}

/// `upload`: flush until nothing is left to send, sleeping through backoffs of
/// at most `max_wait_s` (none with a fixed clock). Prints the summed
/// [`FlushReport`]; `wait_ms` is set when it stopped on a longer backoff, and
/// then the exit code is 3: requests were still failing.
fn upload(
    gate: &ConsentGate,
    endpoint: Option<&str>,
    max_wait_s: u64,
    fixed_clock: bool,
) -> Result<Report, Failure> {
    let uploader = http_uploader(endpoint)?;
    let max_wait_ms = max_wait_s.saturating_mul(1000);
    let mut total = FlushReport::default();
    let stopped_on = loop {
        let report = gate.flush(Arc::clone(&uploader))?;
        add_up(&mut total, &report);
        match report.wait_ms {
            None => break None,
            Some(ms) if !fixed_clock && ms <= max_wait_ms as i64 => {
                eprintln!(
                    "note: {} request(s) failed so far; retrying in {:.1} s",
                    total.retries,
                    ms as f64 / 1000.0
                );
                std::thread::sleep(Duration::from_millis(ms.max(0) as u64));
            }
            Some(ms) => break Some(ms),
        }
    };
    total.wait_ms = stopped_on;
    if total.events_rejected > 0 {
        eprintln!(
            "note: the backend refused {} events (4xx); they were dropped and counted in `queue stats`",
            total.events_rejected
        );
    }
    if total.deletions_failed > 0 {
        eprintln!("note: the backend refused a deletion request (4xx); see `deletion status`");
    }
    let queued = gate.queue_stats().events;
    let out = serde_json::to_string_pretty(&total);
    match stopped_on {
        Some(ms) => {
            eprintln!(
                "note: stopped with requests still failing; {queued} events stay queued, next attempt due in {:.1} s",
                ms as f64 / 1000.0
            );
            json(out).map(|r| Report::unfinished(r.stdout))
        }
        None => {
            if queued > 0 {
                eprintln!(
                    "note: {queued} events stay queued: a purpose they need, or transfer to the region's endpoint, is not granted"
                );
            }
            json(out)
        }
    }
}

/// Adds one flush's figures to the running total (`wait_ms` is the caller's).
fn add_up(total: &mut FlushReport, r: &FlushReport) {
    total.requests += r.requests;
    total.batches_delivered += r.batches_delivered;
    total.events_delivered += r.events_delivered;
    total.events_rejected += r.events_rejected;
    total.retries += r.retries;
    total.deletions_acknowledged += r.deletions_acknowledged;
    total.deletions_failed += r.deletions_failed;
}

/// `delete-request`: the deletion happens locally at once; sending it is
/// tried once, and a ticket still pending is the core's to retry later.
fn delete_request(
    gate: &ConsentGate,
    reason: Option<String>,
    endpoint: Option<&str>,
) -> Result<Report, Failure> {
    // Before erasing anything: a mistyped --endpoint must not cost the user's data.
    let uploader = http_uploader(endpoint)?;
    let ticket = gate.request_deletion(reason)?;
    let sent = gate.flush(uploader);
    let ticket = gate
        .deletion_requests()
        .into_iter()
        .find(|t| t.request_id == ticket.request_id)
        .unwrap_or(ticket);
    let out = json(serde_json::to_string_pretty(&ticket))?.stdout;
    if let Err(e) = sent {
        // The deletion itself is done and stored; the store failed while
        // sending it. Show the ticket, but as the storage failure it is.
        eprintln!("error: local data is erased and the request stored, but sending it failed: {e}");
        return Ok(Report::unfinished(out));
    }
    Ok(match &ticket.status {
        DeletionStatus::Pending => {
            eprintln!(
                "note: local data is erased; the backend has not acknowledged the request yet. \
                 It is kept and sent before anything else by the next `upload` (or app start)."
            );
            Report::ok(out)
        }
        DeletionStatus::Acknowledged { .. } => Report::ok(out),
        DeletionStatus::Failed { status } => {
            eprintln!(
                "note: the backend refused the deletion request (HTTP {status}); local data is erased"
            );
            Report::negative(out)
        }
    })
}

fn decisions(purposes: Vec<String>, granted: bool) -> Vec<PurposeDecision> {
    purposes
        .into_iter()
        .map(|purpose| PurposeDecision { purpose, granted })
        .collect()
}

/// `policy check FILE`: a summary, or every problem as `path: message` (exit 2).
fn policy_check(file: &Path) -> Result<Report, Failure> {
    let json = read_policy(file)?;
    match Policy::parse(&json) {
        Ok(policy) => Ok(Report::ok(summary(&policy))),
        Err(issues) if issues.is_empty() => Err(Failure::bad_input(format!(
            "{}: invalid policy",
            file.display()
        ))),
        Err(issues) => Err(Failure {
            kind: Kind::BadInput,
            lines: issues.iter().map(ToString::to_string).collect(),
        }),
    }
}

/// A few lines a reviewer can compare with the privacy notice.
fn summary(p: &Policy) -> String {
    let mut out = format!("valid: policy {} revision {}\n", p.policy_id, p.revision);
    out.push_str("purposes:\n");
    for purpose in &p.purposes {
        let kind = match purpose.kind {
            PurposeKind::Necessary => "necessary",
            PurposeKind::Consent => "consent",
        };
        let sale = if purpose.sale_or_share {
            ", sale_or_share"
        } else {
            ""
        };
        out.push_str(&format!("  {} ({kind}{sale})\n", purpose.id));
    }
    out.push_str("categories:\n");
    for category in &p.categories {
        let requires: Vec<&str> = category
            .requires
            .iter()
            .filter_map(|&i| p.purposes.get(i).map(|q| q.id.as_str()))
            .collect();
        out.push_str(&format!(
            "  {} requires {}\n",
            category.id,
            requires.join(", ")
        ));
    }
    out.push_str("endpoints:\n");
    for e in &p.endpoints {
        out.push_str(&format!(
            "  {} {} regions {}\n",
            e.id,
            e.url,
            e.regions.join(", ")
        ));
    }
    out.truncate(out.trim_end().len());
    out
}

/// `disclose`: the store formats of the `--policy` document.
fn disclose(global: &Global, format: &DiscloseFormat) -> Result<Report, Failure> {
    let Some(file) = &global.policy else {
        return Err(Failure::bad_input(
            "disclose needs the policy document: --policy FILE",
        ));
    };
    let refused = |issues: Vec<PolicyIssue>| Failure {
        kind: Kind::BadInput,
        lines: issues.iter().map(|i| format!("error: {i}")).collect(),
    };
    let json = read_policy(file)?;
    let policy = Policy::parse(&json).map_err(refused)?;
    let facts = policy.disclosures().map_err(refused)?;
    let mut notes = crate::disclose::review_notes(&facts);
    let text = if format.apple {
        notes.extend(crate::disclose::apple_warning(&facts));
        crate::disclose::apple(&facts).map_err(Failure::storage)?
    } else if format.play {
        crate::disclose::play(&facts)
    } else {
        crate::disclose::markdown(&facts)
    };
    for n in notes {
        eprintln!("{n}");
    }
    // The report adds a newline; the rendered text already ends with one.
    Ok(Report::ok(
        text.strip_suffix('\n').unwrap_or(&text).to_owned(),
    ))
}

fn read_policy(file: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(file)
        .map_err(|e| Failure::bad_input(format!("cannot read policy file {}: {e}", file.display())))
}

/// Turns the core's value, already serialised as pretty JSON, into the
/// answer. The core's types serialise infallibly; a failure would be a bug.
pub(crate) fn json(serialised: serde_json::Result<String>) -> Result<Report, Failure> {
    serialised.map(Report::ok).map_err(|e| {
        Failure::from(GateError::Internal {
            message: format!("cannot serialise the answer: {e}"),
        })
    })
}
