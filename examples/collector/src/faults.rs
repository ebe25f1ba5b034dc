//! Fault injection for `--fail-rate` (SPEC §7): a seeded splitmix64 stream decides, per POST,
//! whether the collector misbehaves and how, and counts every fault it injects.
//!
//! Two draws per POST, both from the same stream so a sequential client sees the same faults
//! for the same seed on every run:
//! - *before handling*, with probability `rate`: answer 500, answer 429 (`Retry-After: 1`), or
//!   drop the connection — nothing is stored;
//! - *after commit*, with probability `rate / 3` for a POST that was handled and stored:
//!   answer 500 or drop the connection anyway, so that the client retries something already
//!   stored and deduplication is exercised.
//!
//! This module only decides; the server applies the decision to the connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// What the collector does instead of its real answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Answer `500` with a JSON error body.
    Status500,
    /// Answer `429` with `Retry-After: 1`.
    Status429,
    /// Close the connection without any response.
    Drop,
}

/// Counts of injected faults since the collector started.
#[derive(Debug, Default)]
struct Counters {
    status_500: AtomicU64,
    status_429: AtomicU64,
    dropped: AtomicU64,
    after_commit: AtomicU64,
}

/// A snapshot of [`Faults`]' counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FaultCounts {
    /// Injected 500 answers.
    pub status_500: u64,
    /// Injected 429 answers.
    pub status_429: u64,
    /// Injected dropped connections.
    pub dropped: u64,
    /// Of the 500s and drops, those injected after commit.
    pub after_commit: u64,
}

/// The fault plan of one collector.
#[derive(Debug)]
pub(crate) struct Faults {
    rate: f64,
    state: Mutex<u64>,
    counters: Counters,
}

/// One step of splitmix64 (Steele, Lea, Flood 2014): small, fast, and good enough to pick faults.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Maps 64 random bits to a uniform `f64` in `[0, 1)`.
fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

impl Faults {
    /// A plan failing with probability `rate` (already checked to be within `0.0..=1.0`).
    pub fn new(rate: f64, seed: u64) -> Faults {
        Faults {
            rate,
            state: Mutex::new(seed),
            counters: Counters::default(),
        }
    }

    /// Draws a probability and a choice in one step, so concurrent requests cannot interleave
    /// the two halves of a decision.
    fn draw(&self) -> (f64, u64) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let p = unit(splitmix64(&mut state));
        let choice = splitmix64(&mut state);
        (p, choice)
    }

    fn count(&self, fault: Fault) {
        let counter = match fault {
            Fault::Status500 => &self.counters.status_500,
            Fault::Status429 => &self.counters.status_429,
            Fault::Drop => &self.counters.dropped,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The fault to inject before a POST is handled, if any (probability `rate`).
    pub fn before_handling(&self) -> Option<Fault> {
        if self.rate <= 0.0 {
            return None;
        }
        let (p, choice) = self.draw();
        if p >= self.rate {
            return None;
        }
        let fault = match choice % 3 {
            0 => Fault::Status500,
            1 => Fault::Status429,
            _ => Fault::Drop,
        };
        self.count(fault);
        Some(fault)
    }

    /// The fault to inject after a POST was handled and its effect committed, if any
    /// (probability `rate / 3`). Never a 429: a 429 promises nothing was done.
    pub fn after_commit(&self) -> Option<Fault> {
        if self.rate <= 0.0 {
            return None;
        }
        let (p, choice) = self.draw();
        if p >= self.rate / 3.0 {
            return None;
        }
        let fault = if choice % 2 == 0 {
            Fault::Status500
        } else {
            Fault::Drop
        };
        self.count(fault);
        self.counters.after_commit.fetch_add(1, Ordering::Relaxed);
        Some(fault)
    }

    /// The counters so far.
    pub fn counts(&self) -> FaultCounts {
        FaultCounts {
            status_500: self.counters.status_500.load(Ordering::Relaxed),
            status_429: self.counters.status_429.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            after_commit: self.counters.after_commit.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_rate_never_fails() {
        let faults = Faults::new(0.0, 7);
        assert!((0..1000).all(|_| faults.before_handling().is_none()));
        assert!((0..1000).all(|_| faults.after_commit().is_none()));
        assert_eq!(faults.counts(), FaultCounts::default());
    }

    #[test]
    fn full_rate_always_fails_before_handling_with_every_kind() {
        let faults = Faults::new(1.0, 7);
        let drawn: Vec<Fault> = (0..300).filter_map(|_| faults.before_handling()).collect();
        assert_eq!(drawn.len(), 300);
        for kind in [Fault::Status500, Fault::Status429, Fault::Drop] {
            assert!(drawn.contains(&kind), "{kind:?} never drawn");
        }
        let counts = faults.counts();
        assert_eq!(counts.status_500 + counts.status_429 + counts.dropped, 300);
    }

    #[test]
    fn same_seed_same_faults() {
        let a = Faults::new(0.5, 42);
        let b = Faults::new(0.5, 42);
        let run = |f: &Faults| {
            (0..200)
                .map(|_| (f.before_handling(), f.after_commit()))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(&a), run(&b));
    }

    #[test]
    fn rates_are_roughly_honoured() {
        let faults = Faults::new(0.3, 1);
        let before = (0..30_000)
            .filter(|_| faults.before_handling().is_some())
            .count();
        let after = (0..30_000)
            .filter(|_| faults.after_commit().is_some())
            .count();
        assert!((8_000..10_000).contains(&before), "before: {before}");
        assert!((2_500..3_500).contains(&after), "after: {after}");
    }
}
