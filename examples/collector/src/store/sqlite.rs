//! The SQLite engine: one database file (or `:memory:`), its schema — versioned with `PRAGMA
//! user_version`, one `upgrade_from` step per version — and every statement run on it.
//!
//! One writer thread owns the only connection. Requests hand it jobs over a bounded channel and
//! wait for the answer; the thread takes every job queued at that moment (up to
//! [`MAX_GROUP`]) into one transaction and answers them all after the commit (group commit).
//! So "is this batch_id new?" and "store it" are one atomic step, and no answer is sent before
//! its effect is in the WAL. Should a job fail, the group is rolled back and each job run again
//! alone, so that one bad job never fails the others. Decompressing and checking bodies
//! happens on the HTTP threads, in parallel.
//!
//! Events are keyed by the integer key of their batch, so inserting a batch appends to the end
//! of the events B-tree instead of scattering 500 random UUID keys through it.

use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::{BatchOutcome, BoxFuture, DeletionOutcome, Engine, StoreError, StoredCounts};
use crate::wire::{Batch, Deletion, EventRef};
use crate::InstallationInfo;

/// The schema version this code writes.
pub(crate) const SCHEMA_VERSION: i64 = 2;
/// Most jobs committed in one transaction.
const MAX_GROUP: usize = 64;
/// Jobs waiting for the writer before senders wait too.
const QUEUE: usize = 256;
/// Rows per multi-row `INSERT` of events; the remainder goes in halving chunks, so at most
/// seven statement shapes are ever prepared.
const CHUNK: usize = 64;

/// Version 1 (the first release): events keyed by their batch's text id.
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

/// Version 1 → 2: batches get an integer key and events are keyed by it.
const UPGRADE_V1_TO_V2: &str = "
DROP INDEX batches_by_installation;
DROP INDEX batches_by_user;
ALTER TABLE batches RENAME TO batches_v1;
ALTER TABLE events RENAME TO events_v1;

CREATE TABLE batches (
    batch_key       INTEGER PRIMARY KEY,
    batch_id        TEXT NOT NULL UNIQUE,
    installation_id TEXT NOT NULL,
    user_id         TEXT,
    received_at_ms  INTEGER NOT NULL,
    event_count     INTEGER NOT NULL,
    envelope        TEXT NOT NULL  -- the batch document without its events
);
CREATE INDEX batches_by_installation ON batches(installation_id);
CREATE INDEX batches_by_user ON batches(user_id) WHERE user_id IS NOT NULL;

CREATE TABLE events (
    batch_key INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    name      TEXT NOT NULL,
    ts        TEXT NOT NULL,
    props     TEXT,
    PRIMARY KEY (batch_key, seq)
) WITHOUT ROWID;

INSERT INTO batches(batch_id, installation_id, user_id, received_at_ms, event_count, envelope)
    SELECT batch_id, installation_id, user_id, received_at_ms, event_count, envelope
    FROM batches_v1 ORDER BY received_at_ms, batch_id;
INSERT INTO events(batch_key, seq, name, ts, props)
    SELECT b.batch_key, e.seq, e.name, e.ts, e.props
    FROM events_v1 e JOIN batches b USING (batch_id);
DROP TABLE events_v1;
DROP TABLE batches_v1;
";

fn upgrade_from(tx: &Transaction<'_>, version: i64) -> rusqlite::Result<()> {
    match version {
        0 => tx.execute_batch(SCHEMA_V1),
        1 => tx.execute_batch(UPGRADE_V1_TO_V2),
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

/// What the writer thread is asked to do.
enum Work {
    Batch(Batch, i64),
    Erase(Deletion, String, i64),
    Counts,
    Installation(String),
}

/// What it did.
enum Outcome {
    Batch(BatchOutcome),
    Erase(DeletionOutcome),
    Counts(StoredCounts),
    Installation(InstallationInfo),
}

/// Where the answer goes.
enum Reply {
    Batch(oneshot::Sender<Result<BatchOutcome, StoreError>>),
    Erase(oneshot::Sender<Result<DeletionOutcome, StoreError>>),
    Counts(oneshot::Sender<Result<StoredCounts, StoreError>>),
    Installation(oneshot::Sender<Result<InstallationInfo, StoreError>>),
}

/// One request for the writer thread, with where its answer goes.
struct Job {
    work: Work,
    reply: Reply,
}

impl Reply {
    /// Sends the answer. A requester that went away (its client hung up) is not an error.
    fn send(self, result: Result<Outcome, StoreError>) {
        let mismatch = || StoreError("collector database: answer of another job".into());
        match (self, result) {
            (Reply::Batch(to), Ok(Outcome::Batch(o))) => drop(to.send(Ok(o))),
            (Reply::Erase(to), Ok(Outcome::Erase(o))) => drop(to.send(Ok(o))),
            (Reply::Counts(to), Ok(Outcome::Counts(o))) => drop(to.send(Ok(o))),
            (Reply::Installation(to), Ok(Outcome::Installation(o))) => drop(to.send(Ok(o))),
            (reply, result) => {
                let e = result.err().unwrap_or_else(mismatch);
                match reply {
                    Reply::Batch(to) => drop(to.send(Err(e))),
                    Reply::Erase(to) => drop(to.send(Err(e))),
                    Reply::Counts(to) => drop(to.send(Err(e))),
                    Reply::Installation(to) => drop(to.send(Err(e))),
                }
            }
        }
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.work {
            Work::Batch(..) => "Job::Batch",
            Work::Erase(..) => "Job::Erase",
            Work::Counts => "Job::Counts",
            Work::Installation(..) => "Job::Installation",
        })
    }
}

/// The SQLite engine: a handle on the writer thread.
#[derive(Debug)]
pub(crate) struct SqliteEngine {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Opens `path` with the collector's settings and brings its schema up to date.
pub(crate) fn open_connection(path: &Path) -> io::Result<Connection> {
    let context = |e: rusqlite::Error| {
        io::Error::other(format!("collector database {}: {e}", path.display()))
    };
    let mut conn = Connection::open(path).map_err(context)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(context)?;
    // `journal_mode` answers with a row, so it is queried rather than executed; an in-memory
    // database answers "memory", which is fine.
    let _mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(context)?;
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;",
    )
    .map_err(context)?;
    conn.set_prepared_statement_cache_capacity(32);
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS erase_targets (id TEXT PRIMARY KEY) WITHOUT ROWID;",
    )
    .map_err(context)?;
    migrate(&mut conn)
        .map_err(context)?
        .map_err(|m| io::Error::other(format!("collector database {}: {m}", path.display())))?;
    Ok(conn)
}

impl SqliteEngine {
    /// Opens (creating if needed) the database at `path`, migrates it and starts the writer.
    pub fn open(path: &Path) -> io::Result<SqliteEngine> {
        let conn = open_connection(path)?;
        let (sender, receiver) = mpsc::channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("collector-sqlite".into())
            .spawn(move || write_loop(conn, receiver))?;
        Ok(SqliteEngine {
            jobs: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
        })
    }

    fn sender(&self) -> Result<mpsc::Sender<Job>, StoreError> {
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .ok_or_else(closed)
    }

    /// Hands `work` to the writer and waits for the answer (`reply` wraps its sender).
    async fn ask<T>(
        &self,
        work: Work,
        reply: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Reply,
    ) -> Result<T, StoreError> {
        let (answer, answered) = oneshot::channel();
        let job = Job {
            work,
            reply: reply(answer),
        };
        self.sender()?.send(job).await.map_err(|_| closed())?;
        answered.await.map_err(|_| closed())?
    }
}

fn closed() -> StoreError {
    StoreError("collector database is closed".into())
}

fn failure(e: rusqlite::Error) -> StoreError {
    StoreError(format!("SQLite: {e}"))
}

impl Engine for SqliteEngine {
    fn store_batch(
        &self,
        batch: Batch,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<BatchOutcome, StoreError>> {
        Box::pin(self.ask(Work::Batch(batch, now_ms), Reply::Batch))
    }

    fn erase(
        &self,
        request: Deletion,
        new_receipt_id: String,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<DeletionOutcome, StoreError>> {
        Box::pin(self.ask(Work::Erase(request, new_receipt_id, now_ms), Reply::Erase))
    }

    fn counts(&self) -> BoxFuture<'_, Result<StoredCounts, StoreError>> {
        Box::pin(self.ask(Work::Counts, Reply::Counts))
    }

    fn installation(&self, id: String) -> BoxFuture<'_, Result<InstallationInfo, StoreError>> {
        Box::pin(self.ask(Work::Installation(id), Reply::Installation))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Dropping the last sender ends the writer loop once the queue is drained.
            drop(
                self.jobs
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .take(),
            );
            let thread = self
                .thread
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take();
            if let Some(thread) = thread {
                let joined = tokio::task::spawn_blocking(move || thread.join()).await;
                if !matches!(joined, Ok(Ok(()))) {
                    log::error!("collector SQLite writer thread panicked");
                }
            }
        })
    }
}

/// The writer thread: group commits until every sender is gone.
fn write_loop(mut conn: Connection, mut jobs: mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Some(job) = jobs.blocking_recv() {
        group.push(job);
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        run_group(&mut conn, &mut group);
    }
}

/// Commits the group in one transaction. If a job fails, the whole transaction is rolled back
/// and every job is run again in a transaction of its own, so that only the failing one fails
/// (failures are rare: a full disk, a damaged file).
fn run_group(conn: &mut Connection, group: &mut Vec<Job>) {
    match in_one_transaction(conn, group.iter().map(|job| &job.work)) {
        Ok(outcomes) => {
            for (job, outcome) in group.drain(..).zip(outcomes) {
                job.reply.send(Ok(outcome));
            }
        }
        Err(e) if group.len() == 1 => {
            log::error!("collector database: {e}");
            group
                .drain(..)
                .for_each(|job| job.reply.send(Err(e.clone())));
        }
        Err(_) => {
            for job in group.drain(..) {
                let result = in_one_transaction(conn, std::iter::once(&job.work))
                    .map(|mut outcomes| outcomes.remove(0));
                if let Err(e) = &result {
                    log::error!("collector database: {e}");
                }
                job.reply.send(result);
            }
        }
    }
}

/// Runs `works` in one transaction; all or nothing.
fn in_one_transaction<'w>(
    conn: &mut Connection,
    works: impl Iterator<Item = &'w Work>,
) -> Result<Vec<Outcome>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failure)?;
    // Dropped without commit on an error, the transaction rolls back.
    let outcomes = works
        .map(|work| run(&tx, work))
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(failure)?;
    tx.commit().map_err(failure)?;
    Ok(outcomes)
}

fn run(conn: &Connection, work: &Work) -> rusqlite::Result<Outcome> {
    Ok(match work {
        Work::Batch(batch, now_ms) => Outcome::Batch(store_batch(conn, batch, *now_ms)?),
        Work::Erase(request, receipt, now_ms) => {
            Outcome::Erase(erase(conn, request, receipt, *now_ms)?)
        }
        Work::Counts => Outcome::Counts(counts(conn)?),
        Work::Installation(id) => Outcome::Installation(installation(conn, id)?),
    })
}

fn store_batch(conn: &Connection, batch: &Batch, now_ms: i64) -> rusqlite::Result<BatchOutcome> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO batches(batch_id, installation_id, user_id, received_at_ms, event_count,
                                 envelope)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(batch_id) DO NOTHING",
        )?
        .execute(params![
            batch.batch_id,
            batch.installation_id,
            batch.user_id,
            now_ms,
            batch.len() as i64,
            batch.envelope
        ])?;
    if inserted == 0 {
        conn.prepare_cached(
            "INSERT INTO counters(name, value) VALUES ('duplicates', 1)
             ON CONFLICT(name) DO UPDATE SET value = value + 1",
        )?
        .execute([])?;
        return Ok(BatchOutcome::Duplicate);
    }
    let batch_key = conn.last_insert_rowid();
    let events: Vec<EventRef<'_>> = batch.events().collect();
    insert_events(conn, batch_key, &events)?;
    Ok(BatchOutcome::Accepted {
        events: batch.len(),
    })
}

/// Inserts `events` with multi-row statements of [`CHUNK`], 32, 16, … rows.
fn insert_events(
    conn: &Connection,
    batch_key: i64,
    events: &[EventRef<'_>],
) -> rusqlite::Result<()> {
    let mut rest = events;
    let mut size = CHUNK;
    while !rest.is_empty() {
        while size > rest.len() {
            size /= 2;
        }
        let (chunk, tail) = rest.split_at(size);
        // OR FAIL: on an error the whole transaction is rolled back anyway, so SQLite need
        // not keep a statement journal for every multi-row insert.
        let mut sql =
            String::from("INSERT OR FAIL INTO events(batch_key, seq, name, ts, props) VALUES ");
        for i in 0..size {
            sql.push_str(if i == 0 {
                "(?,?,?,?,?)"
            } else {
                ",(?,?,?,?,?)"
            });
        }
        let mut insert = conn.prepare_cached(&sql)?;
        for (i, event) in chunk.iter().enumerate() {
            let at = i * 5;
            insert.raw_bind_parameter(at + 1, batch_key)?;
            insert.raw_bind_parameter(at + 2, event.seq)?;
            insert.raw_bind_parameter(at + 3, event.name)?;
            insert.raw_bind_parameter(at + 4, event.ts)?;
            insert.raw_bind_parameter(at + 5, event.props)?;
        }
        insert.raw_execute()?;
        rest = tail;
    }
    Ok(())
}

fn erase(
    conn: &Connection,
    request: &Deletion,
    new_receipt_id: &str,
    now_ms: i64,
) -> rusqlite::Result<DeletionOutcome> {
    let earlier: Option<String> = conn
        .prepare_cached("SELECT receipt_id FROM deletions WHERE request_id = ?1")?
        .query_row([&request.request_id], |r| r.get(0))
        .optional()?;
    if let Some(receipt_id) = earlier {
        return Ok(DeletionOutcome {
            receipt_id,
            repeated: true,
        });
    }

    // The ids go into a temporary table (multi-row inserts, linear in N), so that each table
    // is then erased by one set-based statement, whatever N. (This SQLite is built without
    // its JSON functions, so `json_each` is not available.)
    conn.prepare_cached("DELETE FROM temp.erase_targets")?
        .execute([])?;
    let mut rest = request.installation_ids.as_slice();
    let mut size = CHUNK;
    while !rest.is_empty() {
        while size > rest.len() {
            size /= 2;
        }
        let (chunk, tail) = rest.split_at(size);
        let mut sql = String::from("INSERT OR IGNORE INTO temp.erase_targets(id) VALUES ");
        for i in 0..size {
            sql.push_str(if i == 0 { "(?)" } else { ",(?)" });
        }
        let mut insert = conn.prepare_cached(&sql)?;
        for (i, id) in chunk.iter().enumerate() {
            insert.raw_bind_parameter(i + 1, id.as_str())?;
        }
        insert.raw_execute()?;
        rest = tail;
    }
    if let Some(user_id) = &request.user_id {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO temp.erase_targets(id)
             SELECT installation_id FROM batches WHERE user_id = ?1",
        )?
        .execute([user_id])?;
    }
    let events_erased = conn
        .prepare_cached(
            "DELETE FROM events WHERE batch_key IN
                 (SELECT batch_key FROM batches WHERE installation_id IN temp.erase_targets)",
        )?
        .execute([])?;
    let batches_erased = conn
        .prepare_cached("DELETE FROM batches WHERE installation_id IN temp.erase_targets")?
        .execute([])?;
    conn.prepare_cached(
        "INSERT OR IGNORE INTO erasures(installation_id, request_id, erased_at_ms)
         SELECT id, ?1, ?2 FROM temp.erase_targets",
    )?
    .execute(params![request.request_id, now_ms])?;
    conn.prepare_cached(
        "INSERT INTO deletions(request_id, receipt_id, received_at_ms, requested_at, reason,
                               policy, batches_erased, events_erased)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        request.request_id,
        new_receipt_id,
        now_ms,
        request.requested_at,
        request.reason,
        request.policy,
        batches_erased as i64,
        events_erased as i64
    ])?;
    Ok(DeletionOutcome {
        receipt_id: new_receipt_id.to_owned(),
        repeated: false,
    })
}

fn counts(conn: &Connection) -> rusqlite::Result<StoredCounts> {
    conn.prepare_cached(
        "SELECT (SELECT count(*) FROM batches),
                (SELECT coalesce(sum(event_count), 0) FROM batches),
                (SELECT coalesce(max(value), 0) FROM counters WHERE name = 'duplicates'),
                (SELECT count(*) FROM deletions),
                (SELECT count(DISTINCT installation_id) FROM batches),
                (SELECT count(DISTINCT installation_id) FROM erasures)",
    )?
    .query_row([], |r| {
        Ok(StoredCounts {
            batches: count(r.get(0)?),
            events: count(r.get(1)?),
            duplicates: count(r.get(2)?),
            deletions: count(r.get(3)?),
            installations: count(r.get(4)?),
            erased_installations: count(r.get(5)?),
        })
    })
}

fn installation(conn: &Connection, installation_id: &str) -> rusqlite::Result<InstallationInfo> {
    conn.prepare_cached(
        "SELECT (SELECT count(*) FROM batches WHERE installation_id = ?1),
                (SELECT coalesce(sum(event_count), 0) FROM batches WHERE installation_id = ?1),
                (SELECT count(*) FROM erasures WHERE installation_id = ?1)",
    )?
    .query_row([installation_id], |r| {
        let erasures = count(r.get(2)?);
        Ok(InstallationInfo {
            installation_id: installation_id.to_owned(),
            batches: count(r.get(0)?),
            events: count(r.get(1)?),
            deleted: erasures > 0,
            erasures,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_refuses_newer_versions() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("c.sqlite");
        drop(open_connection(&path).expect("create"));
        let conn = Connection::open(&path).expect("raw open");
        conn.pragma_update(None, "user_version", 99).expect("bump");
        drop(conn);
        let err = open_connection(&path).expect_err("newer schema");
        assert!(err.to_string().contains("newer"), "{err}");
    }

    fn batch_job(
        id: &str,
        seqs: &[i64],
    ) -> (Job, oneshot::Receiver<Result<BatchOutcome, StoreError>>) {
        let mut batch = Batch::new(id.into(), "i".into(), None, "{}".into());
        for seq in seqs {
            batch.push_event(*seq, "e", "t", None);
        }
        let (to, answer) = oneshot::channel();
        let job = Job {
            work: Work::Batch(batch, 0),
            reply: Reply::Batch(to),
        };
        (job, answer)
    }

    #[test]
    fn a_failing_job_fails_alone_and_the_rest_of_its_group_is_stored() {
        let mut conn = open_connection(Path::new(":memory:")).expect("open");
        let (first, first_answer) = batch_job("b1", &[1, 2]);
        // Two events with one seq break the events key: this job must fail.
        let (bad, bad_answer) = batch_job("b2", &[1, 1]);
        let (last, last_answer) = batch_job("b3", &[1]);
        let mut group = vec![first, bad, last];
        run_group(&mut conn, &mut group);
        assert!(group.is_empty());
        let answer = |mut rx: oneshot::Receiver<_>| rx.try_recv().expect("answered");
        assert_eq!(
            answer(first_answer),
            Ok(BatchOutcome::Accepted { events: 2 })
        );
        assert!(answer(bad_answer).is_err());
        assert_eq!(
            answer(last_answer),
            Ok(BatchOutcome::Accepted { events: 1 })
        );
        let stored = counts(&conn).expect("counts");
        assert_eq!((stored.batches, stored.events), (2, 3));
    }

    #[test]
    fn events_go_in_chunks_of_every_size() {
        let conn = open_connection(Path::new(":memory:")).expect("open");
        for n in [0usize, 1, 63, 64, 65, 127, 500] {
            let mut batch = Batch::new(format!("b{n}"), "i".into(), None, "{}".into());
            for i in 0..n {
                batch.push_event(i as i64, "e", "t", (i % 2 == 0).then_some("{}"));
            }
            assert_eq!(
                store_batch(&conn, &batch, 0).expect("store"),
                BatchOutcome::Accepted { events: n }
            );
            let stored: i64 = conn
                .query_row(
                    "SELECT count(*) FROM events JOIN batches USING (batch_key) WHERE batch_id = ?1",
                    [&batch.batch_id],
                    |r| r.get(0),
                )
                .expect("count");
            assert_eq!(stored as usize, n);
        }
        assert_eq!(counts(&conn).expect("counts").events, 820);
    }
}
