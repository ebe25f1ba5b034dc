//! What the command prints and how it exits: [`Report`] for an answer (stdout
//! and exit 0, 1, or 3 for an `upload` that stopped with requests still
//! failing), [`Failure`] for an error (`error: …` lines on stderr and exit 2
//! or 3). [`From<GateError>`](Failure::from) is the one place that maps
//! the core's errors to exit codes.

use std::process::ExitCode;

use consentgate::GateError;

/// A run that produced an answer: what to print on stdout and how it ended.
#[derive(Debug)]
pub struct Report {
    /// Printed on stdout, followed by a newline.
    pub stdout: String,
    /// What the answer means for the exit code.
    pub outcome: Outcome,
}

/// How an answered run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Yes, or done (exit 0).
    Positive,
    /// A negative answer: `blocked`, ledger broken, deletion refused (exit 1).
    Negative,
    /// The answer is a report of work left undone because the network or the
    /// backend kept failing (`upload`): exit 3, like a network failure.
    Unfinished,
}

impl Report {
    /// An ordinary answer (exit 0).
    pub fn ok(stdout: impl Into<String>) -> Self {
        Report {
            stdout: stdout.into(),
            outcome: Outcome::Positive,
        }
    }

    /// A negative answer (exit 1).
    pub fn negative(stdout: impl Into<String>) -> Self {
        Report {
            stdout: stdout.into(),
            outcome: Outcome::Negative,
        }
    }

    /// A report of work the network did not let us finish (exit 3).
    pub fn unfinished(stdout: impl Into<String>) -> Self {
        Report {
            stdout: stdout.into(),
            outcome: Outcome::Unfinished,
        }
    }

    /// The exit code of this answer.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self.outcome {
            Outcome::Positive => 0,
            Outcome::Negative => 1,
            Outcome::Unfinished => 3,
        })
    }
}

/// Why a command failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The input was wrong (arguments, policy, files): exit 2.
    BadInput,
    /// Storage failed, or the core did: exit 3.
    Storage,
}

/// A failed run: lines for stderr (each already complete) and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// Bad input, or storage.
    pub kind: Kind,
    /// Printed on stderr one per line.
    pub lines: Vec<String>,
}

impl Failure {
    /// A storage or network failure (exit 3), printed as `error: <message>`.
    pub fn storage(message: impl std::fmt::Display) -> Self {
        Failure {
            kind: Kind::Storage,
            lines: vec![format!("error: {message}")],
        }
    }

    /// Bad input with a one-line message, printed as `error: <message>`.
    pub fn bad_input(message: impl std::fmt::Display) -> Self {
        Failure {
            kind: Kind::BadInput,
            lines: vec![format!("error: {message}")],
        }
    }

    /// The exit code: 2 for bad input, 3 for storage.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self.kind {
            Kind::BadInput => 2,
            Kind::Storage => 3,
        })
    }
}

impl From<GateError> for Failure {
    fn from(e: GateError) -> Self {
        match e {
            // Every problem, not only the first: the user fixes them in one go.
            GateError::InvalidPolicy { ref errors, .. } if !errors.is_empty() => Failure {
                kind: Kind::BadInput,
                lines: errors
                    .iter()
                    .map(|line| format!("error: invalid policy: {line}"))
                    .collect(),
            },
            GateError::InvalidPolicy { .. }
            | GateError::InvalidArgument { .. }
            | GateError::UnknownPurpose { .. }
            | GateError::NotWithdrawable { .. }
            | GateError::AgeRestricted { .. }
            | GateError::GpcRestricted { .. } => Failure::bad_input(e),
            GateError::Storage { .. }
            | GateError::Busy { .. }
            | GateError::Closed
            | GateError::Internal { .. } => Failure {
                kind: Kind::Storage,
                lines: vec![format!("error: {e}")],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_policy_lists_every_problem() {
        let f = Failure::from(GateError::InvalidPolicy {
            path: "a".into(),
            message: "x".into(),
            errors: vec!["a: x".into(), "b: y".into()],
        });
        assert_eq!(f.kind, Kind::BadInput);
        assert_eq!(
            f.lines,
            ["error: invalid policy: a: x", "error: invalid policy: b: y"]
        );
    }

    #[test]
    fn storage_and_closed_are_exit_3() {
        for e in [
            GateError::Storage {
                message: "disk".into(),
            },
            GateError::Closed,
            GateError::Internal {
                message: "bug".into(),
            },
        ] {
            assert_eq!(Failure::from(e).kind, Kind::Storage);
        }
    }

    #[test]
    fn refused_decisions_are_bad_input() {
        let f = Failure::from(GateError::NotWithdrawable {
            purpose: "service".into(),
        });
        assert_eq!(f.kind, Kind::BadInput);
        assert_eq!(f.lines.len(), 1);
        assert!(f.lines[0].starts_with("error: ") && f.lines[0].contains("necessary"));
    }
}
