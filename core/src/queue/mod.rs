//! The record queue: the in-memory buffer `record_event` appends to
//! (`buffer`), the group commit that moves it into the store with the bounds
//! of G8 (`commit`: count and bytes, oldest evicted first and counted), the
//! figures ([`QueueStats`], [`DiskQueue`]), which partition a record goes to
//! and which purposes a partition needs, and the age bound (TTL).
//!
//! Withdrawal purges are run by the engine's consent transaction, which calls
//! `Buffer::purge` and `Txn::clear_partition` under its locks.

mod buffer;
mod commit;

use std::collections::HashMap;

use serde::Serialize;

use crate::clock::DAY_MS;
use crate::error::Result;
use crate::policy::Policy;
use crate::store::{PartitionCounts, Store};

pub(crate) use buffer::{Buffer, Pending};
pub(crate) use commit::commit;

/// Queue figures for the app and support.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct QueueStats {
    /// Records queued (in memory and on disk).
    pub events: i64,
    /// Their size in bytes as charged against `max_queue_bytes`.
    pub bytes: i64,
    /// Capture time of the oldest queued record.
    pub oldest_ms: Option<i64>,
    /// Records evicted by the count, size or age bounds since install.
    pub evicted: i64,
    /// Events dropped because `usage_events` was not allowed, since install.
    pub dropped_no_consent: i64,
    /// Events the backend accepted, since install.
    pub delivered: i64,
    /// Events dropped because the backend refused their batch (4xx), since install.
    pub rejected: i64,
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
