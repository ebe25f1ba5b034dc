//! The group commit: every buffered record into its partition table in one
//! transaction (`synchronous = NORMAL`, WAL), then the count and byte bounds
//! of G8 enforced by evicting the oldest records first, and every eviction
//! and drop counted in `meta` in the same transaction.

use std::collections::VecDeque;

use super::{categories_key, DiskQueue, Pending};
use crate::error::Result;
use crate::policy::Policy;
use crate::store::{Partition, Store};

/// Writes `records` (taken from the buffer) to `store` and adds the buffer's
/// `dropped`/`evicted` counts to the persisted ones; updates `queue` only
/// when the transaction committed. Returns how many records the bounds
/// evicted. On error nothing is written and the caller puts the records back.
pub(crate) fn commit(
    store: &mut Store,
    queue: &mut DiskQueue,
    policy: &Policy,
    records: &mut VecDeque<Pending>,
    dropped: u64,
    evicted_in_memory: u64,
) -> Result<u64> {
    let limits = &policy.limits;
    let mut counts = queue.counts.clone();
    let dropped_total = queue.dropped_no_consent + dropped;
    let evicted_before = queue.evicted + evicted_in_memory;
    records.make_contiguous();
    let slice = records.as_slices().0;
    let evicted = store.write(false, |txn| {
        // Runs of records needing the same categories go to one partition.
        let mut i = 0;
        while i < slice.len() {
            let cats = slice[i].categories;
            let j = i + slice[i..]
                .iter()
                .take_while(|p| p.categories == cats)
                .count();
            let p = txn.partition(&categories_key(policy, cats))?;
            let group = &slice[i..j];
            txn.insert_records(&p, group.iter().map(|p| &p.record))?;
            let c = counts.entry(p.id).or_default();
            c.events += group.len() as u64;
            c.bytes += group.iter().map(|p| p.record.bytes()).sum::<u64>();
            let first = group[0].record.ts_ms;
            c.oldest_ms = Some(c.oldest_ms.map_or(first, |o| o.min(first)));
            i = j;
        }
        // Evict oldest first while over either bound (G8).
        let mut evicted = 0u64;
        let partitions = txn.partitions();
        loop {
            let (events, bytes) = counts
                .values()
                .fold((0u64, 0u64), |(e, b), c| (e + c.events, b + c.bytes));
            if events <= limits.max_queue_events && bytes <= limits.max_queue_bytes {
                break;
            }
            let mut oldest: Option<(u64, &Partition)> = None;
            for p in &partitions {
                if let Some(s) = txn.min_seq_in(p)? {
                    if oldest.is_none_or(|(o, _)| s < o) {
                        oldest = Some((s, p));
                    }
                }
            }
            let Some((_, p)) = oldest else { break };
            let over_events = events.saturating_sub(limits.max_queue_events);
            let avg = (bytes / events.max(1)).max(1);
            let over_bytes = bytes.saturating_sub(limits.max_queue_bytes).div_ceil(avg);
            let n = over_events.max(over_bytes).max(1);
            let (gone, gone_bytes) = txn.delete_oldest(p, n)?;
            if gone == 0 {
                break;
            }
            let oldest_left = txn.oldest_in(p)?;
            let c = counts.entry(p.id).or_default();
            c.events = c.events.saturating_sub(gone);
            c.bytes = c.bytes.saturating_sub(gone_bytes);
            c.oldest_ms = oldest_left;
            evicted += gone;
        }
        if let Some(last) = slice.last() {
            txn.set_meta("last_seq", &last.record.seq.to_string())?;
        }
        txn.set_meta("dropped_no_consent", &dropped_total.to_string())?;
        txn.set_meta("evicted", &(evicted_before + evicted).to_string())?;
        Ok(evicted)
    })?;
    queue.counts = counts;
    queue.dropped_no_consent = dropped_total;
    queue.evicted = evicted_before + evicted;
    Ok(evicted)
}
