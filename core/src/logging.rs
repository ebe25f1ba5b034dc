//! Forwards the crate's `log` records to the host (Logcat, os_log) through the
//! [`Logger`] foreign trait. What the core logs never carries event payloads,
//! identifiers or device values above `trace` (G9); at `trace` it may name an
//! event, never its properties.

use std::sync::{Arc, Once};

use arc_swap::ArcSwapOption;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something unexpected that consentgate handled.
    Warn,
    /// Life-cycle facts (open, recovery).
    Info,
    /// Counts and decisions, for debugging an integration.
    Debug,
    /// Per-event detail.
    Trace,
}

impl LogLevel {
    fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }

    fn from_log(level: log::Level) -> LogLevel {
        match level {
            log::Level::Error => LogLevel::Error,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Info => LogLevel::Info,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Trace => LogLevel::Trace,
        }
    }
}

/// Receives consentgate's log lines. Implemented by the host.
#[uniffi::export(with_foreign)]
pub trait Logger: Send + Sync {
    /// One log line. `target` is the Rust module that wrote it.
    fn log(&self, level: LogLevel, target: String, message: String);
}

static HOST: ArcSwapOption<Box<dyn Logger>> = ArcSwapOption::const_empty();
static INSTALL: Once = Once::new();

struct Forwarder;

impl log::Log for Forwarder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target().starts_with("consentgate")
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if let Some(host) = HOST.load().as_ref() {
            let (level, target, message) = (
                LogLevel::from_log(record.level()),
                record.target().to_string(),
                record.args().to_string(),
            );
            // A logger that throws loses the line, never the caller's call.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                host.log(level, target, message)
            }));
        }
    }

    fn flush(&self) {}
}

/// Sends consentgate's log lines at `max_level` and above to `logger`,
/// replacing any earlier logger. If the process already has another `log`
/// logger (a Rust host), that one keeps receiving the lines instead.
#[uniffi::export]
pub fn set_logger(logger: Arc<dyn Logger>, max_level: LogLevel) {
    HOST.store(Some(Arc::new(Box::new(ArcLogger(logger)))));
    INSTALL.call_once(|| {
        let _ = log::set_logger(&Forwarder);
    });
    log::set_max_level(max_level.filter());
}

struct ArcLogger(Arc<dyn Logger>);

impl Logger for ArcLogger {
    fn log(&self, level: LogLevel, target: String, message: String) {
        self.0.log(level, target, message)
    }
}
