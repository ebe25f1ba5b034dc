//! SQL of the event queue: the `partitions` table, one `events_<id>` table
//! per partition, and what the queue does to them (insert, count, read in
//! seq order, purge a whole partition, evict the oldest, expire by age,
//! delete a delivered range).

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};

use super::schema::EVENTS_COLUMNS;
use super::{Store, Txn};
use crate::error::Result;

/// A queued record waiting in memory or on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueuedRecord {
    pub seq: u64,
    pub ts_ms: i64,
    pub name: String,
    pub props: Option<String>,
}

/// Counts of one partition's table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PartitionCounts {
    pub events: u64,
    pub bytes: u64,
    pub oldest_ms: Option<i64>,
}

/// A partition: the categories its records need, and its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Partition {
    pub id: i64,
    /// Category ids joined by `,`, sorted.
    pub categories: String,
}

/// Capture time of a partition's oldest record (by seq, the rowid: O(log n)).
pub(super) fn oldest_in(conn: &Connection, p: &Partition) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            &format!("SELECT ts_ms FROM {} ORDER BY seq LIMIT 1", p.table()),
            [],
            |r| r.get(0),
        )
        .optional()?)
}

impl QueuedRecord {
    /// Size charged against `max_queue_bytes`.
    pub fn bytes(&self) -> u64 {
        crate::event::record_bytes(&self.name, self.props.as_deref())
    }
}

impl Partition {
    fn table(&self) -> String {
        format!("events_{}", self.id)
    }
}

impl Store {
    /// Counts of every partition, by partition id.
    pub(super) fn all_partition_counts(&self) -> Result<HashMap<i64, PartitionCounts>> {
        let mut counts = HashMap::new();
        for p in &self.partitions {
            counts.insert(p.id, self.partition_counts(p)?);
        }
        Ok(counts)
    }

    /// Counts of one partition.
    pub fn partition_counts(&self, p: &Partition) -> Result<PartitionCounts> {
        let (events, bytes): (i64, i64) = self.conn.query_row(
            &format!(
                "SELECT count(*), coalesce(sum(bytes), 0) FROM {}",
                p.table()
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let oldest_ms = self.oldest_in(p)?;
        Ok(PartitionCounts {
            events: events as u64,
            bytes: bytes as u64,
            oldest_ms,
        })
    }

    pub(super) fn oldest_in(&self, p: &Partition) -> Result<Option<i64>> {
        oldest_in(&self.conn, p)
    }

    /// Lowest record seq of a partition.
    pub fn min_seq(&self, p: &Partition) -> Result<Option<u64>> {
        let v: Option<i64> =
            self.conn
                .query_row(&format!("SELECT min(seq) FROM {}", p.table()), [], |r| {
                    r.get(0)
                })?;
        Ok(v.map(|v| v as u64))
    }

    /// Highest record seq on disk.
    pub fn max_seq(&self) -> Result<u64> {
        let mut max = self
            .meta("last_seq")?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0u64);
        for p in &self.partitions {
            let m: Option<i64> =
                self.conn
                    .query_row(&format!("SELECT max(seq) FROM {}", p.table()), [], |r| {
                        r.get(0)
                    })?;
            max = max.max(m.unwrap_or(0) as u64);
        }
        Ok(max)
    }

    /// Queued records of a partition in seq order, from `after_seq` on, at most `limit`.
    pub fn records(
        &self,
        p: &Partition,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<QueuedRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT seq, ts_ms, name, props FROM {} WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            p.table()
        ))?;
        let rows = stmt.query_map(params![after_seq as i64, limit as i64], |r| {
            Ok(QueuedRecord {
                seq: r.get::<_, i64>(0)? as u64,
                ts_ms: r.get(1)?,
                name: r.get(2)?,
                props: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

impl Txn<'_> {
    /// The partition for a set of categories, created if needed.
    pub fn partition(&mut self, categories: &str) -> Result<Partition> {
        if let Some(p) = self.partitions.iter().find(|p| p.categories == categories) {
            return Ok(p.clone());
        }
        self.tx.execute(
            "INSERT INTO partitions(categories) VALUES (?1)",
            [categories],
        )?;
        let p = Partition {
            id: self.tx.last_insert_rowid(),
            categories: categories.to_string(),
        };
        self.tx
            .execute_batch(&format!("CREATE TABLE {}{EVENTS_COLUMNS}", p.table()))?;
        self.partitions.push(p.clone());
        Ok(p)
    }

    /// Inserts records into a partition.
    pub fn insert_records<'r>(
        &mut self,
        p: &Partition,
        records: impl IntoIterator<Item = &'r QueuedRecord>,
    ) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "INSERT INTO {}(seq, ts_ms, name, props, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
            p.table()
        ))?;
        for r in records {
            stmt.execute(params![
                r.seq as i64,
                r.ts_ms,
                r.name,
                r.props,
                r.bytes() as i64
            ])?;
        }
        Ok(())
    }

    /// Deletes every record of a partition (G3).
    pub fn clear_partition(&mut self, p: &Partition) -> Result<()> {
        // No WHERE clause: SQLite's truncate optimisation frees the pages
        // without visiting rows.
        self.tx.execute(&format!("DELETE FROM {}", p.table()), [])?;
        Ok(())
    }

    /// Deletes a partition's records with seq in `first..=last`; returns (events, bytes).
    pub fn delete_range(&mut self, p: &Partition, first: u64, last: u64) -> Result<(u64, u64)> {
        self.delete_returning(
            &format!(
                "DELETE FROM {} WHERE seq BETWEEN ?1 AND ?2 RETURNING bytes",
                p.table()
            ),
            params![first as i64, last as i64],
        )
    }

    /// Deletes the oldest `n` records of a partition; returns (events, bytes) removed.
    pub fn delete_oldest(&mut self, p: &Partition, n: u64) -> Result<(u64, u64)> {
        self.delete_returning(
            &format!(
                "DELETE FROM {t} WHERE seq IN (SELECT seq FROM {t} ORDER BY seq LIMIT ?1) RETURNING bytes",
                t = p.table()
            ),
            [n as i64],
        )
    }

    /// Deletes records of a partition captured before `cutoff_ms`; returns (events, bytes).
    pub fn delete_older_than(&mut self, p: &Partition, cutoff_ms: i64) -> Result<(u64, u64)> {
        if self.oldest_in(p)?.is_none_or(|o| o >= cutoff_ms) {
            return Ok((0, 0));
        }
        self.delete_returning(
            &format!("DELETE FROM {} WHERE ts_ms < ?1 RETURNING bytes", p.table()),
            [cutoff_ms],
        )
    }

    /// Oldest capture time in a partition.
    pub fn oldest_in(&mut self, p: &Partition) -> Result<Option<i64>> {
        oldest_in(&self.tx, p)
    }

    /// Lowest seq in a partition.
    pub fn min_seq_in(&mut self, p: &Partition) -> Result<Option<u64>> {
        let v: Option<i64> =
            self.tx
                .query_row(&format!("SELECT min(seq) FROM {}", p.table()), [], |r| {
                    r.get(0)
                })?;
        Ok(v.map(|v| v as u64))
    }
}
