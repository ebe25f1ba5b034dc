//! SQL of what is on its way to the backend: the `batches` table (a range
//! of one partition under a stable `batch_id`) and `endpoints_used` (which
//! installation id's data reached which endpoint, for deletion requests).

use rusqlite::{params, OptionalExtension};

use super::{Store, Txn};
use crate::error::Result;

/// An upload batch: a range of one partition's records under a stable id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchRow {
    pub batch_id: String,
    pub partition: i64,
    pub first_seq: u64,
    pub last_seq: u64,
    /// Base URL of the endpoint it goes to.
    pub endpoint: String,
    pub created_ms: i64,
    pub attempts: u32,
    pub next_attempt_ms: i64,
}

pub(super) const BATCH_COLUMNS: &str =
    "batch_id, partition, first_seq, last_seq, endpoint, created_ms, attempts, next_attempt_ms";

pub(super) fn batch_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BatchRow> {
    Ok(BatchRow {
        batch_id: r.get(0)?,
        partition: r.get(1)?,
        first_seq: r.get::<_, i64>(2)? as u64,
        last_seq: r.get::<_, i64>(3)? as u64,
        endpoint: r.get(4)?,
        created_ms: r.get(5)?,
        attempts: r.get::<_, i64>(6)? as u32,
        next_attempt_ms: r.get(7)?,
    })
}

impl Store {
    /// The oldest batch not yet acknowledged.
    pub fn pending_batch(&self) -> Result<Option<BatchRow>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {BATCH_COLUMNS} FROM batches ORDER BY created_ms, first_seq LIMIT 1"
            ))?
            .query_row([], batch_row)
            .optional()?)
    }

    /// The batch with this id, if it is still pending.
    pub fn pending_batch_by_id(&self, batch_id: &str) -> Result<Option<BatchRow>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {BATCH_COLUMNS} FROM batches WHERE batch_id = ?1"
            ))?
            .query_row([batch_id], batch_row)
            .optional()?)
    }

    /// Every (installation id, endpoint) pair whose data reached the endpoint
    /// since the last deletion request.
    pub fn endpoints_used(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT installation_id, endpoint FROM endpoints_used ORDER BY 1, 2")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

impl Txn<'_> {
    /// Stores a new batch.
    pub fn insert_batch(&mut self, b: &BatchRow) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO batches(batch_id, partition, first_seq, last_seq, endpoint, created_ms, attempts, \
                 next_attempt_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                b.batch_id,
                b.partition,
                b.first_seq as i64,
                b.last_seq as i64,
                b.endpoint,
                b.created_ms,
                b.attempts,
                b.next_attempt_ms
            ])?;
        Ok(())
    }

    /// Records a failed attempt of a batch.
    pub fn retry_batch(
        &mut self,
        batch_id: &str,
        attempts: u32,
        next_attempt_ms: i64,
    ) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE batches SET attempts = ?2, next_attempt_ms = ?3 WHERE batch_id = ?1",
            )?
            .execute(params![batch_id, attempts, next_attempt_ms])?;
        Ok(())
    }

    /// Forgets a batch.
    pub fn delete_batch(&mut self, batch_id: &str) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM batches WHERE batch_id = ?1")?
            .execute([batch_id])?;
        Ok(())
    }

    /// Forgets every batch of a partition (its records were purged).
    pub fn delete_batches_of(&mut self, partition: i64) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM batches WHERE partition = ?1")?
            .execute([partition])?;
        Ok(())
    }

    /// Notes that an installation's data reached an endpoint.
    pub fn mark_endpoint_used(&mut self, installation_id: &str, endpoint: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO endpoints_used(installation_id, endpoint) VALUES (?1, ?2)",
            )?
            .execute([installation_id, endpoint])?;
        Ok(())
    }

    /// Forgets the endpoints used (a deletion request now covers them).
    pub fn clear_endpoints_used(&mut self) -> Result<()> {
        self.tx.execute("DELETE FROM endpoints_used", [])?;
        Ok(())
    }
}
