//! Runs one parsed command: `policy check` on a file alone, everything else on
//! a [`ConsentGate`] opened for the data directory with the options given, and
//! always closed again before the answer is printed (so an event is on disk
//! when `recorded <seq>` appears). Every rule is the core's; this module only
//! translates arguments in and answers out.

use std::path::Path;
use std::sync::Arc;

use consentgate::policy::Policy;
use consentgate::{
    Clock, ConsentGate, GateError, ManualClock, OpenOptions, PurposeDecision, PurposeKind,
    RecordOutcome, SystemClock, DB_FILE,
};

use crate::args::{
    Cli, Command, ConsentCommand, EventCommand, Global, LedgerCommand, PolicyCommand, QueueCommand,
};
use crate::failure::{Failure, Kind, Report};

/// Recorded in the ledger as the app version of every decision made here.
const APP_VERSION: &str = concat!("consentgate-cli/", env!("CARGO_PKG_VERSION"));

/// Runs `cli` and returns what to print.
pub fn run(cli: Cli) -> Result<Report, Failure> {
    match cli.command {
        Command::Policy(PolicyCommand::Check { file }) => policy_check(&file),
        command => with_gate(&cli.global, |gate| on_gate(gate, command)),
    }
}

/// Opens the gate, runs `f`, closes the gate. A failed close (the final group
/// commit) turns a success into a storage failure: an answer that claims
/// `recorded` must be on disk.
fn with_gate(
    global: &Global,
    f: impl FnOnce(&ConsentGate) -> Result<Report, Failure>,
) -> Result<Report, Failure> {
    let data_dir = global
        .data_dir
        .clone()
        .ok_or_else(|| Failure::bad_input("--data-dir DIR is required for this command"))?;
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
        data_dir,
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

/// Every command that needs a data directory.
fn on_gate(gate: &ConsentGate, command: Command) -> Result<Report, Failure> {
    match command {
        Command::Policy(PolicyCommand::Check { file }) => policy_check(&file),
        Command::Status => json(serde_json::to_string_pretty(&gate.consent_state())),
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
        Command::Event(EventCommand::Record { name, json }) => {
            Ok(Report::ok(match gate.record_event(name, json)? {
                RecordOutcome::Recorded { seq } => format!("recorded {seq}"),
                RecordOutcome::Dropped { reason } => format!("dropped {}", reason.as_str()),
            }))
        }
        Command::Queue(QueueCommand::Stats) => {
            json(serde_json::to_string_pretty(&gate.queue_stats()))
        }
        Command::Ledger(LedgerCommand::Show) => json(serde_json::to_string_pretty(&gate.ledger()?)),
        Command::Ledger(LedgerCommand::Verify) => {
            let check = gate.verify_ledger()?;
            let problem = check
                .problem
                .unwrap_or_else(|| "the chain does not verify".into());
            Ok(match (check.intact, check.first_bad_seq) {
                (true, _) => Report::ok(format!("intact: {} entries", check.entries)),
                (false, Some(seq)) => Report::negative(format!("broken at entry {seq}: {problem}")),
                (false, None) => Report::negative(format!("broken: {problem}")),
            })
        }
        Command::Export => Ok(Report::ok(gate.export_data()?)),
    }
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

fn read_policy(file: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(file)
        .map_err(|e| Failure::bad_input(format!("cannot read policy file {}: {e}", file.display())))
}

/// Turns the core's value, already serialised as pretty JSON, into the
/// answer. The core's types serialise infallibly; a failure would be a bug.
fn json(serialised: serde_json::Result<String>) -> Result<Report, Failure> {
    serialised.map(Report::ok).map_err(|e| {
        Failure::from(GateError::Internal {
            message: format!("cannot serialise the answer: {e}"),
        })
    })
}
