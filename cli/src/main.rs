//! The `consentgate` command: QA, support and data-subject requests on a
//! consentgate data directory (one pulled from a device, or a scratch one),
//! with the same core code the app runs. A first session:
//!
//! ```text
//! $ consentgate --data-dir ./d --policy examples/policies/example-kz.json --region KZ status  # JSON, needs_prompt: true
//! $ consentgate --data-dir ./d allows usage_events                                   # blocked (exit 1)
//! $ consentgate --data-dir ./d consent grant analytics --source banner               # the new state, JSON
//! $ consentgate --data-dir ./d --policy next-revision.json consent acknowledge       # a shown policy change, in the ledger
//! $ consentgate --data-dir ./d event record screen_view '{"screen":"home"}'          # recorded 1
//! $ consentgate --data-dir ./d event record tap --count 1000                         # recorded 2..1001
//! $ consentgate --data-dir ./d upload --endpoint http://127.0.0.1:8080               # FlushReport JSON
//! $ consentgate --data-dir ./d delete-request --reason user_request                  # the ticket, JSON
//! $ consentgate --data-dir ./d deletion status                                       # tickets with receipts
//! $ consentgate --data-dir ./d ledger verify                                         # intact: N entries
//! ```
//!
//! `--policy` is needed the first time and replaces the stored policy when
//! given later; `--now 2027-06-01T00:00:00Z` fixes the clock so expiry can be
//! tried out. `policy check FILE` needs no data directory.
//!
//! `upload` sends deletion requests first, then the queue, to the policy's
//! endpoint for the region (or to `--endpoint`, whose scheme, host and port
//! replace the policy's; `http://` only for loopback) over HTTPS with the
//! [`HttpUploader`](consentgate_cli::http::HttpUploader) of this crate. It
//! sleeps through backoffs of up to `--max-wait` seconds (default 30; with
//! `--now` the clock stands still, so it stops at the first one) and prints
//! the summed `FlushReport`, with `wait_ms` when it stopped on a longer
//! backoff. `delete-request` erases local data at once and tries once to send
//! the request; a ticket left pending is kept and retried first by every later
//! `upload` (and by the app).
//!
//! Exit codes: 0 ok (including `dropped <reason>` from `event record`: the call
//! worked, the core refused the event; and `upload` when everything that
//! could be sent was sent, or `delete-request` with the ticket still pending),
//! 1 a negative answer (`blocked`, ledger broken, a deletion request the
//! backend refused with a 4xx), 2 bad input (usage, unreadable files, invalid
//! policy or `--endpoint`, refused decisions such as denying a necessary
//! purpose), 3 storage failure, or `upload` stopped with requests still
//! failing (network errors, 408, 429, 5xx: they stay queued and the report is
//! still printed). Errors go to stderr as `error: <message>` lines, notes as
//! `note: …`.
//!
//! Modules: `args` (the command line), `commands` (running it on the core),
//! `failure` (what is printed and the exit code); the HTTP client is in the
//! library half (`consentgate_cli::http`).

mod args;
mod commands;
mod disclose;
mod failure;
mod signals;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits 2 (0 for --help/--version).
    let cli = args::Cli::parse();
    match commands::run(cli) {
        Ok(report) => {
            // stdout may be a file on a full disk: that is a storage failure
            // (exit 3), not a panic.
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            if let Err(e) = writeln!(out, "{}", report.stdout).and_then(|_| out.flush()) {
                eprintln!("error: could not write the output: {e}");
                return ExitCode::from(3);
            }
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
