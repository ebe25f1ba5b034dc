//! The `consentgate` command: QA, support and data-subject requests on a
//! consentgate data directory (one pulled from a device, or a scratch one),
//! with the same core code the app runs. A first session:
//!
//! ```text
//! $ consentgate --data-dir ./d --policy examples/policies/example-kz.json status   # JSON, needs_prompt: true
//! $ consentgate --data-dir ./d allows usage_events                                   # blocked (exit 1)
//! $ consentgate --data-dir ./d consent grant analytics --source banner               # the new state, JSON
//! $ consentgate --data-dir ./d event record screen_view '{"screen":"home"}'          # recorded 1
//! $ consentgate --data-dir ./d consent deny analytics                                # purges the queued event
//! $ consentgate --data-dir ./d ledger verify                                         # intact: 2 entries
//! ```
//!
//! `--policy` is needed the first time and replaces the stored policy when
//! given later; `--now 2027-06-01T00:00:00Z` fixes the clock so expiry can be
//! tried out. `policy check FILE` needs no data directory.
//!
//! Exit codes: 0 ok (including `dropped <reason>` from `event record`: the call
//! worked, the core refused the event), 1 a negative answer (`blocked`, ledger
//! broken), 2 bad input (usage, unreadable files, invalid policy, refused
//! decisions such as denying a necessary purpose), 3 storage failure. Errors go
//! to stderr as `error: <message>` lines.
//!
//! Modules: `args` (the command line), `commands` (running it on the core),
//! `failure` (what is printed and the exit code).

mod args;
mod commands;
mod failure;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits 2 (0 for --help/--version).
    let cli = args::Cli::parse();
    match commands::run(cli) {
        Ok(report) => {
            println!("{}", report.stdout);
            report.exit_code()
        }
        Err(failure) => {
            for line in &failure.lines {
                eprintln!("{line}");
            }
            failure.exit_code()
        }
    }
}
