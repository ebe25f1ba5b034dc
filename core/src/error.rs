//! Errors: the rich internal [`Error`] every module returns, and the one public
//! [`GateError`] that crosses the FFI. [`From<Error> for GateError`] is the single
//! place that decides what a host app sees; nothing else builds a `GateError`
//! from a storage failure.

use crate::policy::PolicyIssue;

/// The error every public call returns: one enum, each variant telling the app
/// what went wrong and what it can do about it. Exported to Kotlin as the
/// `GateException` sealed class and to Swift as `GateError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum GateError {
    /// The policy document is not valid. `path` and `message` describe the
    /// first problem; `errors` lists every problem found as `path: message`.
    #[error("invalid policy: {path}: {message}")]
    InvalidPolicy {
        /// JSON path of the first problem, e.g. `categories[1].requires[0]`.
        path: String,
        /// What is wrong there.
        message: String,
        /// Every problem in the document, one `path: message` line each.
        errors: Vec<String>,
    },
    /// An argument was rejected; the message names the argument and the rule.
    #[error("invalid argument: {message}")]
    InvalidArgument {
        /// What was wrong with the argument.
        message: String,
    },
    /// The purpose is not defined by the policy.
    #[error("unknown purpose \"{purpose}\": the policy does not define it")]
    UnknownPurpose {
        /// The id that was given.
        purpose: String,
    },
    /// The user is below the policy's minimum age without parental consent, so
    /// consent purposes cannot be granted.
    #[error("cannot grant \"{purpose}\": the user is under the minimum age of {min_age} without parental consent")]
    AgeRestricted {
        /// The purpose the app tried to grant.
        purpose: String,
        /// The minimum age in force for the region.
        min_age: i32,
    },
    /// A `necessary` purpose cannot be withdrawn.
    #[error("purpose \"{purpose}\" is necessary for the service and cannot be withdrawn")]
    NotWithdrawable {
        /// The purpose the app tried to deny.
        purpose: String,
    },
    /// The purpose is a sale or share of data and the platform reports a Global
    /// Privacy Control signal, so it cannot be granted while the signal holds.
    #[error("cannot grant \"{purpose}\": a Global Privacy Control signal is in force and the purpose is a sale or share of data")]
    GpcRestricted {
        /// The purpose the app tried to grant.
        purpose: String,
    },
    /// The local store failed (disk full, read-only, I/O error). Consent state
    /// is unchanged; the call can be retried.
    #[error("storage failure: {message}")]
    Storage {
        /// What the storage layer reported (never contains personal data).
        message: String,
    },
    /// The gate was closed; open a new one.
    #[error("the consent gate is closed; open a new one")]
    Closed,
    /// Another gate (in this process or another) holds the data directory.
    #[error("data directory {data_dir} is in use by another ConsentGate (in this process or another): one gate per directory is allowed; share the open one, or close it first")]
    Busy {
        /// The directory that is held.
        data_dir: String,
    },
    /// A bug in consentgate: an internal invariant failed. Please report it.
    #[error("internal error: {message}")]
    Internal {
        /// What failed.
        message: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for GateError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        GateError::Internal {
            message: format!("host callback failed: {}", e.reason),
        }
    }
}

/// Internal error with the detail modules need; converted to [`GateError`] at
/// the API boundary.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("invalid policy")]
    Policy(Vec<PolicyIssue>),
    #[error("{0}")]
    Invalid(String),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Gate(GateError),
}

impl Error {
    /// True when SQLite reports the database file itself damaged (corrupt
    /// pages, not a database): the store is then set aside, not retried.
    pub(crate) fn is_damage(&self) -> bool {
        matches!(
            self,
            Error::Sqlite(e) if matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
            )
        )
    }
}

impl From<GateError> for Error {
    fn from(e: GateError) -> Self {
        Error::Gate(e)
    }
}

impl From<Error> for GateError {
    fn from(e: Error) -> Self {
        match e {
            Error::Policy(issues) => {
                let (path, message) = issues
                    .first()
                    .map(|i| (i.path.clone(), i.message.clone()))
                    .unwrap_or_else(|| ("$".into(), "invalid".into()));
                GateError::InvalidPolicy {
                    path,
                    message,
                    errors: issues.iter().map(|i| i.to_string()).collect(),
                }
            }
            Error::Invalid(message) => GateError::InvalidArgument { message },
            Error::Sqlite(e) => GateError::Storage {
                message: e.to_string(),
            },
            Error::Io(e) => GateError::Storage {
                message: e.to_string(),
            },
            Error::Gate(g) => g,
        }
    }
}

/// Result of internal functions.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
