//! The command line as clap sees it: global options, the command tree of
//! SPEC §6 and the parsing of option values (`--now`, `--source`). Nothing
//! here touches a data directory; `commands` does that.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use consentgate::ConsentSource;

/// consentgate: inspect and drive a consentgate data directory with the same
/// core the app uses (QA, support, data-subject requests, scripting).
///
/// Exit codes: 0 ok, 1 a negative answer (blocked, ledger broken, deletion
/// refused by the backend), 2 bad input, 3 storage or network failure (for
/// `upload`: requests still failing when it stopped).
#[derive(Debug, Parser)]
#[command(name = "consentgate", version, about, long_about = None)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options that may appear before or after the command.
#[derive(Debug, Args)]
pub struct Global {
    /// The data directory (holds consentgate.db); needed by every command but `policy check`.
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Policy document to open with; replaces the stored one. Without it the
    /// stored policy is used.
    #[arg(long, value_name = "FILE", global = true)]
    pub policy: Option<PathBuf>,
    /// The user's region, ISO 3166-1 alpha-2 (e.g. KZ); without it the stored one.
    #[arg(long, value_name = "CC", global = true)]
    pub region: Option<String>,
    /// Fix the clock at this instant (e.g. 2026-01-31T10:00:00Z) instead of the
    /// system time: makes expiry and TTL testable.
    #[arg(long, value_name = "RFC3339", global = true, value_parser = parse_now)]
    pub now: Option<i64>,
}

/// The commands of SPEC §6.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Policy documents.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Print the consent state as JSON.
    Status,
    /// Change consent decisions.
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// Print `allowed` (exit 0) or `blocked` (exit 1) for a data category.
    Allows {
        /// Category id, e.g. usage_events.
        category: String,
    },
    /// Usage events.
    #[command(subcommand)]
    Event(EventCommand),
    /// The record queue.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// The consent ledger.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Send the queue over HTTP; prints a FlushReport as JSON.
    ///
    /// Deletion requests go first. Waits out backoffs of up to --max-wait
    /// seconds; exit 0 when everything that could be sent was sent, 3 when it
    /// stopped with requests still failing (network errors, 408, 429, 5xx),
    /// which stay queued for the next run.
    Upload {
        /// Send to this base URL (scheme://host:port) instead of the policy's
        /// endpoint; the request path is kept. http:// only for loopback.
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// Longest backoff to sleep through before trying again; a longer one
        /// ends the run (exit 3, `wait_ms` in the report). With --now the
        /// clock stands still, so any backoff ends the run.
        #[arg(long, value_name = "SECS", default_value_t = 30)]
        max_wait: u64,
    },
    /// Queue a deletion request and try to send it; prints the ticket as JSON.
    ///
    /// Erases local data and rotates the installation id at once, then tries
    /// once to send the request. A ticket left pending (backend unreachable)
    /// is kept and sent first by the next `upload`: still exit 0. Exit 1 if
    /// the backend refused it (4xx).
    DeleteRequest {
        /// Why, as sent to the backend (default `user_request`).
        #[arg(long, value_name = "R")]
        reason: Option<String>,
        /// Send to this base URL instead of the policy's endpoints (as for `upload`).
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
    },
    /// Deletion requests made from this data directory.
    #[command(subcommand)]
    Deletion(DeletionCommand),
    /// Print everything stored locally as one JSON document.
    Export,
    /// Write the app's store disclosures from the policy (--policy FILE) to stdout.
    ///
    /// Needs no data directory. Facts come from each category's and
    /// purpose's `disclosure` in the policy, or the built-in defaults;
    /// mappings to review and tracking-domain consequences are printed on
    /// stderr as `note:` lines. Exit 2 with every problem and its JSON path
    /// when a category or purpose has no facts.
    Disclose(DiscloseFormat),
    /// IAB TCF v2.2/2.3 TC strings (no data directory needed).
    #[command(subcommand)]
    Tcf(TcfCommand),
    /// IAB GPP strings (no data directory needed).
    #[command(subcommand)]
    Gpp(GppCommand),
}

/// `tcf …`
#[derive(Debug, Subcommand)]
pub enum TcfCommand {
    /// Decode a TC string: one JSON object with its fields (the names of the
    /// IAB reference decoder) and the TCF 2.2/2.3 findings under
    /// `policy_check_tcf22_23`. A string that cannot be decoded exits 2
    /// naming the field and bit offset.
    Decode {
        /// The TC string.
        string: String,
    },
    /// Print the in-app `IABTCF_*` keys for a TC string as one flat JSON
    /// object, values as the IAB reference `InAppTCData` writes them.
    Keys {
        /// The TC string.
        string: String,
    },
}

/// `gpp …`
#[derive(Debug, Subcommand)]
pub enum GppCommand {
    /// Decode a GPP string: `{"header": …, "sections": …}`. A string that
    /// cannot be decoded exits 2 naming the section, field and bit offset.
    Decode {
        /// The GPP string.
        string: String,
    },
}

/// `deletion …`
#[derive(Debug, Subcommand)]
pub enum DeletionCommand {
    /// Print every deletion ticket (pending, acknowledged with its receipt,
    /// or failed with the backend's status) as a JSON array, oldest first.
    Status,
}

/// `policy …`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy document: print a summary (exit 0) or every problem
    /// with its JSON path (exit 2). Needs no data directory.
    Check {
        /// The policy document.
        file: PathBuf,
    },
}

/// `consent …`
#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// Grant purposes; prints the resulting state.
    Grant(Decide),
    /// Deny (withdraw) purposes; prints the resulting state.
    Deny(Decide),
    /// Grant every consent purpose; prints the resulting state.
    AcceptAll(SourceArg),
    /// Deny every consent purpose; prints the resulting state.
    RejectAll(SourceArg),
    /// Record that the user was shown the policy change `status` names in
    /// `needs_acknowledgement` (a revision that needs no new consent): a
    /// ledger entry of kind acknowledgement; prints the resulting state.
    /// With nothing to acknowledge it changes nothing (a note says so).
    Acknowledge(SourceArg),
}

/// Purposes to decide on, and how the decision came about.
#[derive(Debug, Args)]
pub struct Decide {
    /// Purpose ids from the policy.
    #[arg(value_name = "PURPOSE", required = true)]
    pub purposes: Vec<String>,
    /// How the decision came about.
    #[command(flatten)]
    pub source: SourceArg,
}

/// `--source`.
#[derive(Debug, Args)]
pub struct SourceArg {
    /// How the decision came about, as recorded in the ledger.
    #[arg(long, value_enum, default_value_t = Source::Api)]
    pub source: Source,
}

/// The consent sources a user action can have (the others are recorded by
/// the core itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Source {
    /// The consent banner.
    Banner,
    /// The app's settings screen.
    Settings,
    /// The app's API (scripts, server-side preferences).
    Api,
}

impl From<Source> for ConsentSource {
    fn from(s: Source) -> Self {
        match s {
            Source::Banner => ConsentSource::Banner,
            Source::Settings => ConsentSource::Settings,
            Source::Api => ConsentSource::Api,
        }
    }
}

/// `event …`
#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// Record one usage event; prints `recorded <seq>` or `dropped <reason>`.
    /// With --count N, records N copies in one call and prints
    /// `recorded <first>..<last>` or `dropped <reason> (N events)`.
    Record {
        /// Event name, e.g. screen_view.
        name: String,
        /// Properties as a JSON object, e.g. '{"screen":"home"}'.
        json: Option<String>,
        /// Record this many copies (load tests, QA).
        #[arg(long, value_name = "N", default_value_t = 1,
              value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        count: u32,
    },
}

/// `queue …`
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Print queue figures as JSON.
    Stats,
}

/// `ledger …`
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Print the retained ledger entries as a JSON array (read-only).
    Show,
    /// Check the hash chain: exit 0 intact, 1 with the first bad entry named.
    ///
    /// Reads the store without opening it for the app: a store whose ledger
    /// is broken is reported here, where opening a gate would set it aside.
    Verify,
}

/// Which store format `disclose` writes (exactly one).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct DiscloseFormat {
    /// Apple's privacy manifest, `PrivacyInfo.xcprivacy` (XML property list).
    #[arg(long)]
    pub apple: bool,
    /// Google Play's Data safety answers, CSV for Play Console's "Import from CSV".
    #[arg(long)]
    pub play: bool,
    /// A Markdown summary for the privacy page.
    #[arg(long)]
    pub markdown: bool,
}

/// Parses `--now`; clap reports a failure as a usage error (exit 2) naming the option.
fn parse_now(s: &str) -> Result<i64, String> {
    consentgate::clock::parse_rfc3339(s)
        .ok_or_else(|| "expected an RFC 3339 timestamp such as 2026-01-31T10:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
