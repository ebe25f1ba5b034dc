//! The record queue: the in-memory buffer `record_event` appends to, the group
//! commit that moves it into the store (at least every second, and on
//! `flush`/`close`), the bounds of G8 (count, bytes, age; oldest evicted first
//! and counted), and [`QueueStats`]. Withdrawal purges are driven by `gate`,
//! which calls [`Buffer::purge`] and `Txn::clear_partition` under its locks.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use crate::clock::DAY_MS;
use crate::error::Result;
use crate::policy::Policy;
use crate::store::{PartitionCounts, QueuedRecord, Store};

/// Queue figures for the app and support.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct QueueStats {
    /// Records queued (in memory and on disk).
    pub events: u64,
    /// Their size in bytes as charged against `max_queue_bytes`.
    pub bytes: u64,
    /// Capture time of the oldest queued record.
    pub oldest_ms: Option<i64>,
    /// Records evicted by the count, size or age bounds since install.
    pub evicted: u64,
    /// Events dropped because `usage_events` was not allowed, since install.
    pub dropped_no_consent: u64,
    /// Events the backend accepted, since install.
    pub delivered: u64,
    /// Events dropped because the backend refused their batch (4xx), since install.
    pub rejected: u64,
}

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
    }

    /// Takes everything buffered, for a commit. The buffer restarts with the
    /// capacity the last round needed, so callers that keep recording at the
    /// same pace do not pay for the deque growing again (the p99 of
    /// `record_event`).
    pub fn take(&mut self) -> VecDeque<Pending> {
        self.bytes = 0;
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
    }
}

/// The on-disk side of the queue's figures, guarded by the store mutex.
#[derive(Debug, Default)]
pub(crate) struct DiskQueue {
    /// Counts per partition id.
    pub counts: HashMap<i64, PartitionCounts>,
    pub evicted: u64,
    pub dropped_no_consent: u64,
    pub delivered: u64,
    pub rejected: u64,
}

impl DiskQueue {
    /// The figures at open, from the partition `counts` open read.
    pub fn load(store: &Store, counts: HashMap<i64, PartitionCounts>) -> Result<DiskQueue> {
        let num = |k: &str| -> Result<u64> {
            Ok(store.meta(k)?.and_then(|v| v.parse().ok()).unwrap_or(0))
        };
        Ok(DiskQueue {
            counts,
            evicted: num("evicted")?,
            delivered: num("delivered")?,
            rejected: num("rejected")?,
            dropped_no_consent: num("dropped_no_consent")?,
        })
    }

    /// Events and bytes on disk.
    pub fn totals(&self) -> (u64, u64) {
        self.counts
            .values()
            .fold((0, 0), |(e, b), c| (e + c.events, b + c.bytes))
    }

    /// Oldest capture time on disk.
    pub fn oldest(&self) -> Option<i64> {
        self.counts.values().filter_map(|c| c.oldest_ms).min()
    }
}

/// Comma-joined ids of the categories in `mask`, the key of a partition.
pub(crate) fn categories_key(policy: &Policy, mask: u64) -> String {
    let mut ids: Vec<&str> = (0..policy.categories.len())
        .filter(|i| mask & (1u64 << i) != 0)
        .map(|i| policy.categories[i].id.as_str())
        .collect();
    ids.sort_unstable();
    ids.join(",")
}

/// Purposes required by a partition's categories; `u64::MAX` when a category
/// is no longer defined (fail-closed: such records can never be sent).
pub(crate) fn partition_purposes(policy: &Policy, categories: &str) -> u64 {
    let mut mask = 0u64;
    for id in categories.split(',').filter(|s| !s.is_empty()) {
        match policy.category_index(id) {
            Some(i) => mask |= policy.category_purpose_mask(i),
            None => return u64::MAX,
        }
    }
    mask
}

/// Cut-off before which records are too old to keep.
pub(crate) fn ttl_cutoff(policy: &Policy, now_ms: i64) -> i64 {
    now_ms.saturating_sub((policy.limits.event_ttl_days as i64).saturating_mul(DAY_MS))
}
