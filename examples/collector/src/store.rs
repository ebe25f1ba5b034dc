//! Everything the collector keeps, in SQLite: the schema (versioned with `PRAGMA
//! user_version`, one `upgrade_from` step per version) and every SQL statement the collector
//! runs. Nothing outside this module writes SQL.
//!
//! One connection in WAL mode behind a mutex: each request is one short transaction, so a
//! single writer is all a reference collector needs, and it makes "is this batch_id new?"
//! and "store it" one atomic step. `:memory:` works as a path for throw-away collectors.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::wire::{Batch, Deletion};
use crate::InstallationInfo;

/// The schema version this code writes.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA_V1: &str = "
CREATE TABLE batches (
    batch_id        TEXT PRIMARY KEY,
    installation_id TEXT NOT NULL,
    user_id         TEXT,
    received_at_ms  INTEGER NOT NULL,
    event_count     INTEGER NOT NULL,
    envelope        TEXT NOT NULL  -- the batch document without its events
);
CREATE INDEX batches_by_installation ON batches(installation_id);
CREATE INDEX batches_by_user ON batches(user_id) WHERE user_id IS NOT NULL;

CREATE TABLE events (
    batch_id TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    name     TEXT NOT NULL,
    ts       TEXT NOT NULL,
    props    TEXT,
    PRIMARY KEY (batch_id, seq)
) WITHOUT ROWID;

-- One row per distinct deletion request. The user id is deliberately not kept.
CREATE TABLE deletions (
    request_id     TEXT PRIMARY KEY,
    receipt_id     TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    requested_at   TEXT,
    reason         TEXT,
    policy         TEXT,
    batches_erased INTEGER NOT NULL,
    events_erased  INTEGER NOT NULL
);

-- Erasure history: survives later batches from the same installation id (a new life).
CREATE TABLE erasures (
    installation_id TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    erased_at_ms    INTEGER NOT NULL,
    PRIMARY KEY (installation_id, request_id)
) WITHOUT ROWID;

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
";

/// What storing a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchOutcome {
    /// New `batch_id`: the batch and this many events were stored.
    Accepted { events: usize },
    /// The `batch_id` was already stored; nothing changed but the duplicate counter.
    Duplicate,
}

/// What a deletion request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeletionOutcome {
    /// The receipt of this `request_id` — the first one ever issued for it.
    pub receipt_id: String,
    /// Whether the request had been processed before (nothing was erased this time).
    pub repeated: bool,
}

/// Totals of what is stored now, plus the persistent duplicate counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoredCounts {
    /// Batches stored.
    pub batches: u64,
    /// Events stored.
    pub events: u64,
    /// Duplicate batches received, ever.
    pub duplicates: u64,
    /// Distinct deletion requests processed.
    pub deletions: u64,
    /// Distinct installation ids with stored batches.
    pub installations: u64,
    /// Distinct installation ids ever erased.
    pub erased_installations: u64,
}

/// The collector's database.
#[derive(Debug)]
pub(crate) struct Store {
    conn: Mutex<Connection>,
}

fn upgrade_from(conn: &Connection, version: i64) -> rusqlite::Result<()> {
    match version {
        0 => conn.execute_batch(SCHEMA_V1),
        // Future versions add their steps here.
        _ => Ok(()),
    }
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<Result<(), String>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    let mut version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Ok(Err(format!(
            "database schema version {version} is newer than this collector ({SCHEMA_VERSION})"
        )));
    }
    while version < SCHEMA_VERSION {
        upgrade_from(&tx, version)?;
        version += 1;
    }
    tx.pragma_update(None, "user_version", version)?;
    tx.commit()?;
    Ok(Ok(()))
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> io::Result<Store> {
        let context = |e: rusqlite::Error| {
            io::Error::other(format!("collector database {}: {e}", path.display()))
        };
        let mut conn = Connection::open(path).map_err(context)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(context)?;
        // `journal_mode` answers with a row, so it is queried rather than executed; an
        // in-memory database answers "memory", which is fine.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(context)?;
        conn.execute_batch("PRAGMA synchronous = NORMAL;")
            .map_err(context)?;
        migrate(&mut conn)
            .map_err(context)?
            .map_err(|m| io::Error::other(format!("collector database {}: {m}", path.display())))?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic mid-request rolled its transaction back when the guard's Transaction
        // dropped, so the connection is still consistent.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores `batch` and its events in one transaction unless its `batch_id` is known.
    pub fn store_batch(&self, batch: &Batch, now_ms: i64) -> rusqlite::Result<BatchOutcome> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let known = tx
            .query_row(
                "SELECT 1 FROM batches WHERE batch_id = ?1",
                [&batch.batch_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if known {
            tx.execute(
                "INSERT INTO counters(name, value) VALUES ('duplicates', 1)
                 ON CONFLICT(name) DO UPDATE SET value = value + 1",
                [],
            )?;
            tx.commit()?;
            return Ok(BatchOutcome::Duplicate);
        }
        tx.execute(
            "INSERT INTO batches(batch_id, installation_id, user_id, received_at_ms, event_count,
                                 envelope)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                batch.batch_id,
                batch.installation_id,
                batch.user_id,
                now_ms,
                batch.events.len() as i64,
                batch.envelope
            ],
        )?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO events(batch_id, seq, name, ts, props) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for event in &batch.events {
                insert.execute(params![
                    batch.batch_id,
                    event.seq,
                    event.name,
                    event.ts,
                    event.props
                ])?;
            }
        }
        tx.commit()?;
        Ok(BatchOutcome::Accepted {
            events: batch.events.len(),
        })
    }

    /// Erases every batch and event of the request's installation ids — and of every
    /// installation whose batches carried its `user_id` — in one transaction, and records the
    /// erasure. A `request_id` seen before erases nothing again and gets its first receipt.
    pub fn erase(
        &self,
        request: &Deletion,
        new_receipt_id: &str,
        now_ms: i64,
    ) -> rusqlite::Result<DeletionOutcome> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let earlier: Option<String> = tx
            .query_row(
                "SELECT receipt_id FROM deletions WHERE request_id = ?1",
                [&request.request_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(receipt_id) = earlier {
            return Ok(DeletionOutcome {
                receipt_id,
                repeated: true,
            });
        }

        let mut targets: BTreeSet<String> = request.installation_ids.iter().cloned().collect();
        if let Some(user_id) = &request.user_id {
            let mut by_user =
                tx.prepare("SELECT DISTINCT installation_id FROM batches WHERE user_id = ?1")?;
            let ids = by_user.query_map([user_id], |r| r.get::<_, String>(0))?;
            for id in ids {
                targets.insert(id?);
            }
        }

        let (mut batches_erased, mut events_erased) = (0usize, 0usize);
        {
            let mut delete_events = tx.prepare(
                "DELETE FROM events WHERE batch_id IN
                     (SELECT batch_id FROM batches WHERE installation_id = ?1)",
            )?;
            let mut delete_batches =
                tx.prepare("DELETE FROM batches WHERE installation_id = ?1")?;
            let mut record = tx.prepare(
                "INSERT OR IGNORE INTO erasures(installation_id, request_id, erased_at_ms)
                 VALUES (?1, ?2, ?3)",
            )?;
            for id in &targets {
                events_erased += delete_events.execute([id])?;
                batches_erased += delete_batches.execute([id])?;
                record.execute(params![id, request.request_id, now_ms])?;
            }
        }
        tx.execute(
            "INSERT INTO deletions(request_id, receipt_id, received_at_ms, requested_at, reason,
                                   policy, batches_erased, events_erased)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                request.request_id,
                new_receipt_id,
                now_ms,
                request.requested_at,
                request.reason,
                request.policy,
                batches_erased as i64,
                events_erased as i64
            ],
        )?;
        tx.commit()?;
        Ok(DeletionOutcome {
            receipt_id: new_receipt_id.to_owned(),
            repeated: false,
        })
    }

    /// Totals over the whole database.
    pub fn counts(&self) -> rusqlite::Result<StoredCounts> {
        let conn = self.lock();
        conn.query_row(
            "SELECT (SELECT count(*) FROM batches),
                    (SELECT count(*) FROM events),
                    (SELECT coalesce(max(value), 0) FROM counters WHERE name = 'duplicates'),
                    (SELECT count(*) FROM deletions),
                    (SELECT count(DISTINCT installation_id) FROM batches),
                    (SELECT count(DISTINCT installation_id) FROM erasures)",
            [],
            |r| {
                Ok(StoredCounts {
                    batches: count(r.get(0)?),
                    events: count(r.get(1)?),
                    duplicates: count(r.get(2)?),
                    deletions: count(r.get(3)?),
                    installations: count(r.get(4)?),
                    erased_installations: count(r.get(5)?),
                })
            },
        )
    }

    /// What is stored for one installation id (all zero for an unknown one).
    pub fn installation(&self, installation_id: &str) -> rusqlite::Result<InstallationInfo> {
        let conn = self.lock();
        conn.query_row(
            "SELECT (SELECT count(*) FROM batches WHERE installation_id = ?1),
                    (SELECT count(*) FROM events WHERE batch_id IN
                         (SELECT batch_id FROM batches WHERE installation_id = ?1)),
                    (SELECT count(*) FROM erasures WHERE installation_id = ?1)",
            [installation_id],
            |r| {
                let erasures = count(r.get(2)?);
                Ok(InstallationInfo {
                    installation_id: installation_id.to_owned(),
                    batches: count(r.get(0)?),
                    events: count(r.get(1)?),
                    deleted: erasures > 0,
                    erasures,
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Event;

    fn batch(id: &str, installation: &str, user: Option<&str>, events: usize) -> Batch {
        Batch {
            batch_id: id.into(),
            installation_id: installation.into(),
            user_id: user.map(Into::into),
            envelope: "{}".into(),
            events: (0..events)
                .map(|i| Event {
                    seq: i as i64,
                    name: "e".into(),
                    ts: "t".into(),
                    props: None,
                })
                .collect(),
        }
    }

    fn deletion(request: &str, ids: &[&str], user: Option<&str>) -> Deletion {
        Deletion {
            request_id: request.into(),
            installation_ids: ids.iter().map(|s| s.to_string()).collect(),
            user_id: user.map(Into::into),
            requested_at: None,
            reason: None,
            policy: None,
        }
    }

    #[test]
    fn schema_survives_reopen_and_refuses_newer_versions() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("c.sqlite");
        {
            let store = Store::open(&path).expect("open");
            store
                .store_batch(&batch("b", "i", None, 2), 0)
                .expect("store");
        }
        let store = Store::open(&path).expect("reopen");
        assert_eq!(store.counts().expect("counts").events, 2);
        drop(store);

        let conn = Connection::open(&path).expect("raw open");
        conn.pragma_update(None, "user_version", 99).expect("bump");
        drop(conn);
        let err = Store::open(&path).expect_err("newer schema");
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[test]
    fn user_id_erases_other_installations_of_that_user() {
        let store = Store::open(Path::new(":memory:")).expect("open");
        store
            .store_batch(&batch("b1", "a", Some("u"), 3), 0)
            .expect("store");
        store
            .store_batch(&batch("b2", "b", Some("u"), 2), 0)
            .expect("store");
        store
            .store_batch(&batch("b3", "c", Some("v"), 1), 0)
            .expect("store");
        let out = store
            .erase(&deletion("r", &["a"], Some("u")), "rcpt", 1)
            .expect("erase");
        assert!(!out.repeated);
        let counts = store.counts().expect("counts");
        assert_eq!((counts.batches, counts.events), (1, 1));
        assert_eq!(counts.erased_installations, 2);
        assert!(store.installation("b").expect("info").deleted);
        assert!(!store.installation("c").expect("info").deleted);
    }
}
