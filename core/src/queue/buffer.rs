//! The in-memory buffer `record_event` appends to under the buffer lock: no
//! I/O, bounded by the policy's `max_queue_events` (oldest evicted, counted),
//! purged by a withdrawal before the snapshot that allowed its records is
//! gone (G3), taken whole by a group commit.

use std::collections::VecDeque;

use crate::store::QueuedRecord;

/// A record waiting in memory for the next group commit.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    /// Bit mask of the categories the record needs.
    pub categories: u64,
    /// Bit mask of the purposes those categories require.
    pub purposes: u64,
    pub record: QueuedRecord,
}

/// The in-memory side of the queue, guarded by the gate's buffer mutex.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    pub records: VecDeque<Pending>,
    pub bytes: u64,
    pub next_seq: u64,
    /// Dropped for lack of consent and not yet persisted in the counters.
    pub dropped_no_consent: u64,
    /// Evicted from memory and not yet persisted in the counters.
    pub evicted: u64,
    /// `ConsentState::version` of the last withdrawal that took
    /// `usage_events` away: a host-buffered event captured under an older
    /// version is dropped (G3). Set and read under the buffer lock, like the
    /// purge it comes with.
    pub revoked_version: i64,
    /// Since when something (a record, a drop or eviction count) waits for
    /// the next commit: the writer commits within a second of it. Set by the
    /// engine, which wakes the writer then.
    pub since: Option<std::time::Instant>,
}

impl Buffer {
    /// Appends a record, evicting the oldest buffered one when the buffer
    /// alone holds `cap` records (the writer is behind or the disk failing).
    pub fn push(&mut self, p: Pending, cap: u64) {
        if self.records.len() as u64 >= cap {
            if let Some(old) = self.records.pop_front() {
                self.bytes -= old.record.bytes();
                self.evicted += 1;
            }
        }
        self.bytes += p.record.bytes();
        self.records.push_back(p);
    }

    /// Drops every buffered record that needs a purpose not in `granted` (G3).
    pub fn purge(&mut self, granted: u64) {
        let mut bytes = self.bytes;
        self.records.retain(|p| {
            let keep = p.purposes & !granted == 0;
            if !keep {
                bytes -= p.record.bytes();
            }
            keep
        });
        self.bytes = bytes;
        if self.records.is_empty() {
            self.since = None;
        }
    }

    /// Takes everything buffered, for a commit. The buffer restarts with the
    /// capacity the last round needed, so callers that keep recording at the
    /// same pace do not pay for the deque growing again (the p99 of
    /// `record_event`).
    pub fn take(&mut self) -> VecDeque<Pending> {
        self.bytes = 0;
        self.since = None;
        if self.records.is_empty() {
            return VecDeque::new();
        }
        let capacity = self.records.len().clamp(64, 16_384);
        std::mem::replace(&mut self.records, VecDeque::with_capacity(capacity))
    }

    /// Puts records back at the front after a failed commit.
    pub fn restore(&mut self, mut records: VecDeque<Pending>) {
        records.extend(self.records.drain(..));
        self.bytes = records.iter().map(|p| p.record.bytes()).sum();
        self.records = records;
        if !self.records.is_empty() {
            self.since = Some(std::time::Instant::now());
        }
    }
}
