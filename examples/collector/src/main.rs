//! `consentgate-collector`: runs the reference collector until SIGTERM or SIGINT, then shuts
//! down gracefully. Owns only the command line and a stderr logger; everything else is the
//! library.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use consentgate_collector::{Collector, CollectorConfig, Database};

/// Reference collector for the consentgate wire protocol (SPEC §5): stores batches in SQLite or
/// PostgreSQL, deduplicates them by batch_id and erases installations on deletion requests.
/// Several collectors given the same PostgreSQL database act as one.
#[derive(Debug, Parser)]
#[command(name = "consentgate-collector", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port; the real one is printed).
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// Where to store: an SQLite file (FILE or sqlite:FILE, created if missing) or a
    /// PostgreSQL URL (postgres://user:password@host:port/database; migrated at start).
    #[arg(long, value_name = "FILE|URL")]
    db: Database,
    /// Probability (0 to 1) that a POST fails on purpose: 500, 429 or a dropped connection.
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    fail_rate: f64,
    /// Seed of the fault stream.
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// Log each request's route and status (never ids or payloads) to stderr.
    #[arg(long, short)]
    verbose: bool,
}

/// Writes log records to stderr; no payload or identifier is ever logged by the collector.
/// Libraries are heard only from warnings up: the PostgreSQL driver logs statement
/// parameters (ids) at debug level.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        let ours = metadata.target().starts_with("consentgate_collector");
        metadata.level() <= log::max_level() && (ours || metadata.level() <= log::Level::Warn)
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("[{}] {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

fn main() -> ExitCode {
    let args = Args::parse();
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(if args.verbose {
            log::LevelFilter::Debug
        } else {
            log::LevelFilter::Warn
        });
    }
    let config = CollectorConfig {
        listen: args.listen,
        db: args.db,
        fail_rate: args.fail_rate,
        seed: args.seed,
    };
    let collector = match Collector::start(config) {
        Ok(collector) => collector,
        Err(e) => {
            eprintln!("consentgate-collector: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = collector.serve_until_signal(|collector| {
        let mut stdout = std::io::stdout().lock();
        // A script waits for this line, so it must reach the pipe now.
        if writeln!(stdout, "listening on {}", collector.url())
            .and_then(|()| stdout.flush())
            .is_err()
        {
            eprintln!("consentgate-collector: listening on {}", collector.url());
        }
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("consentgate-collector: {e}");
            ExitCode::FAILURE
        }
    }
}
