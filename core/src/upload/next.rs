//! Which request goes next, and what a reply does to the queue: deletion
//! tickets first (whatever the consent; nothing else goes out while one is
//! pending), then the pending batch resent under the same `batch_id` (also
//! after a restart), then a new batch from the oldest partition whose
//! purposes are all granted now (G2), for the region's endpoint — abroad only
//! while `cross_border_transfer` is granted. A batch row is stored (fsynced)
//! before its request is handed out.

use super::batch::{request, sendable_records};
use super::{BatchOutcome, Completed, Outbox, Sendable};
use crate::error::Result;
use crate::store::{BatchRow, Partition};
use crate::wire::{backoff_ms, classify, Reply, UploadResult, UploadTask, IN_FLIGHT_RECHECK_MS};

/// The next thing the host should do.
pub(crate) fn next_task(out: &mut Outbox<'_>, now: &Sendable<'_>) -> Result<UploadTask> {
    let t = now.now_ms;
    out.in_flight.expire(t);

    // 1. Deletion requests, before anything else and whatever the consent.
    if let Some(task) = crate::deletion::next(out.store, out.in_flight, t)? {
        return Ok(task);
    }

    // 2. A batch already built: resend it under the same id.
    while let Some(b) = out.store.pending_batch()? {
        if out.in_flight.contains(&b.batch_id) {
            return Ok(UploadTask::Wait {
                ms: IN_FLIGHT_RECHECK_MS,
            });
        }
        if b.next_attempt_ms > t {
            return Ok(UploadTask::Wait {
                ms: b.next_attempt_ms - t,
            });
        }
        match sendable_records(out.store, &b, now)? {
            Some(records) => {
                out.in_flight.hand_out(&b.batch_id, t);
                return Ok(UploadTask::Upload {
                    request: request(out.installation_id, &b, &records, now),
                });
            }
            // Its records were purged or evicted meanwhile.
            None => out.store.write(false, |tx| tx.delete_batch(&b.batch_id))?,
        }
    }

    // 3. A new batch.
    let policy = now.policy;
    let Some((endpoint, cross_border)) = policy.endpoint_for(now.region) else {
        return Ok(UploadTask::Done);
    };
    let transfer_allowed = policy
        .reserved
        .cross_border_transfer
        .is_none_or(|i| now.snapshot.granted & (1u64 << i) != 0);
    if cross_border && !transfer_allowed {
        // Stays queued (G8 still bounds it) until the user allows transfer abroad.
        return Ok(UploadTask::Done);
    }
    let Some((p, mut records)) = oldest_sendable(out, now)? else {
        return Ok(UploadTask::Done);
    };
    let limits = &policy.limits;
    let mut bytes = 0u64;
    let take = records
        .iter()
        .take_while(|r| {
            bytes += r.bytes();
            bytes <= limits.max_batch_bytes
        })
        .count()
        .max(1);
    let b = BatchRow {
        batch_id: uuid::Uuid::new_v4().to_string(),
        partition: p.id,
        first_seq: records[0].seq,
        last_seq: records[take - 1].seq,
        endpoint: endpoint.url.clone(),
        created_ms: t,
        attempts: 0,
        next_attempt_ms: t,
    };
    // Durable: once a batch id may have reached the backend, a power loss
    // must not make us resend its records under another id.
    out.store.write(true, |tx| tx.insert_batch(&b))?;
    records.truncate(take);
    out.in_flight.hand_out(&b.batch_id, t);
    Ok(UploadTask::Upload {
        request: request(out.installation_id, &b, &records, now),
    })
}

/// The partition holding the oldest record whose purposes are all granted
/// now (G2), with up to a batch of its records.
fn oldest_sendable(
    out: &Outbox<'_>,
    now: &Sendable<'_>,
) -> Result<Option<(Partition, Vec<crate::store::QueuedRecord>)>> {
    let granted = now.snapshot.granted;
    let mut best: Option<(u64, &Partition)> = None;
    for p in out.store.partitions() {
        let has = out.queue.counts.get(&p.id).is_some_and(|c| c.events > 0);
        if !has || crate::queue::partition_purposes(now.policy, &p.categories) & !granted != 0 {
            continue;
        }
        if let Some(first) = out.store.min_seq(p)? {
            if best.is_none_or(|(s, _)| first < s) {
                best = Some((first, p));
            }
        }
    }
    let Some((_, p)) = best else {
        return Ok(None);
    };
    let records = out
        .store
        .records(p, 0, now.policy.limits.max_batch_events as usize)?;
    Ok((!records.is_empty()).then(|| (p.clone(), records)))
}

/// Applies a reply and says what it did.
pub(crate) fn complete(
    out: &mut Outbox<'_>,
    request_id: &str,
    result: &UploadResult,
    now_ms: i64,
) -> Result<Completed> {
    out.in_flight.complete(request_id);
    if let Some(ticket) = crate::deletion::pending(out.store, request_id)? {
        let (ticket, retry) = crate::deletion::complete(out.store, ticket, result, now_ms)?;
        return Ok(Completed::Deletion { ticket, retry });
    }
    let Some(b) = out.store.pending_batch_by_id(request_id)? else {
        return Ok(Completed::Unknown);
    };
    let Some(p) = out
        .store
        .partitions()
        .iter()
        .find(|p| p.id == b.partition)
        .cloned()
    else {
        return Ok(Completed::Unknown);
    };
    let reply = classify(result);
    Ok(Completed::Batch(match reply {
        Reply::Delivered | Reply::Refused(_) => {
            let delivered = reply == Reply::Delivered;
            let (delivered_before, rejected_before) = (out.queue.delivered, out.queue.rejected);
            let installation_id = out.installation_id;
            let (n, bytes, oldest) = out.store.write(false, |t| {
                let (n, bytes) = t.delete_range(&p, b.first_seq, b.last_seq)?;
                t.delete_batch(&b.batch_id)?;
                if delivered {
                    t.mark_endpoint_used(installation_id, &b.endpoint)?;
                    t.set_meta("delivered", &(delivered_before + n).to_string())?;
                } else {
                    t.set_meta("rejected", &(rejected_before + n).to_string())?;
                }
                Ok((n, bytes, t.oldest_in(&p)?))
            })?;
            let c = out.queue.counts.entry(p.id).or_default();
            c.events = c.events.saturating_sub(n);
            c.bytes = c.bytes.saturating_sub(bytes);
            c.oldest_ms = oldest;
            if delivered {
                out.queue.delivered += n;
                log::debug!("consentgate: batch delivered ({n} events)");
                BatchOutcome::Delivered(n)
            } else {
                out.queue.rejected += n;
                log::warn!("consentgate: batch refused by the backend, {n} events dropped");
                BatchOutcome::Refused(n)
            }
        }
        Reply::Retry { retry_after_ms } => {
            let attempts = b.attempts + 1;
            let next = now_ms + backoff_ms(attempts, &b.batch_id, retry_after_ms);
            out.store
                .write(false, |t| t.retry_batch(&b.batch_id, attempts, next))?;
            log::debug!("consentgate: batch will be retried (attempt {attempts})");
            BatchOutcome::Retry
        }
    }))
}
