//! The lock-free view of consent: which purposes are granted and which
//! categories are allowed, as bit masks, plus the [`ConsentState`] they came
//! from. Each committed change builds a new [`Snapshot`] and swaps it in
//! atomically (`arc-swap`); readers never take a lock, do no I/O and allocate
//! nothing. The hottest paths (`allows`, `record_event`) read only its
//! `allowed` mask, kept beside it in one atomic word.

use crate::consent::ConsentState;
use crate::policy::Policy;

/// An immutable picture of what is allowed.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// Bit `i`: purpose `i` is granted.
    pub granted: u64,
    /// Bit `i`: category `i` is allowed (all its purposes granted).
    pub allowed: u64,
    /// The state this snapshot was built from.
    pub state: ConsentState,
}

impl Snapshot {
    /// Builds the snapshot for `granted` purposes.
    pub fn new(policy: &Policy, granted: u64, state: ConsentState) -> Snapshot {
        Snapshot {
            granted,
            allowed: policy.allowed_categories(granted),
            state,
        }
    }

    /// True when category `index` is allowed.
    #[inline]
    pub fn allows_index(&self, index: usize) -> bool {
        self.allowed & (1u64 << index) != 0
    }
}
