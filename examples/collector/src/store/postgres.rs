//! The PostgreSQL engine: a connection pool (deadpool-postgres over tokio-postgres), the
//! versioned migrations applied at start, and every statement run on the database.
//!
//! Several collector processes may share one database and then behave as one collector: every
//! rule that makes a collector correct lives in the database, not in a node.
//! - A batch is one statement: the insert of its row (`ON CONFLICT (batch_id) DO NOTHING`), of
//!   its events (one `unnest` of arrays) and, when the row already existed, the duplicate
//!   counter, all in data-modifying CTEs. Two nodes receiving the same `batch_id` at once are
//!   serialised by the unique index: one inserts, the other waits and finds it there.
//! - A deletion first claims its `request_id` (`INSERT … ON CONFLICT DO NOTHING RETURNING`), so
//!   concurrent repeats on other nodes wait for it and then read its receipt; it then erases
//!   with one `= ANY($1)` statement per table, in the same transaction.
//! - Migrations take a transaction-scoped advisory lock, so nodes starting together apply each
//!   version once; a database migrated by a newer collector is refused.
//!
//! Connections are plain TCP or Unix sockets (`host=/run/postgresql`); TLS is not built in.

use std::collections::BTreeSet;
use std::io;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use super::{BatchOutcome, BoxFuture, DeletionOutcome, Engine, StoreError, StoredCounts};
use crate::wire::{Batch, Deletion};
use crate::InstallationInfo;

/// Connections per collector process.
const POOL_SIZE: usize = 16;
/// Longest wait for a pooled connection, or for a new one to be established.
const POOL_TIMEOUT: Duration = Duration::from_secs(10);
/// Key of the advisory lock that serialises migrations ("cgcollct" in ASCII).
const MIGRATION_LOCK: i64 = 0x6367_636f_6c6c_6374;

/// The migrations, in order: version, name, SQL. Released versions never change.
const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "batches, events, deletions, erasures, counters",
    "
CREATE TABLE batches (
    batch_key       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch_id        text NOT NULL UNIQUE,
    installation_id text NOT NULL,
    user_id         text,
    received_at_ms  bigint NOT NULL,
    event_count     integer NOT NULL,
    envelope        text NOT NULL  -- the batch document without its events
);
CREATE INDEX batches_by_installation ON batches(installation_id);
CREATE INDEX batches_by_user ON batches(user_id) WHERE user_id IS NOT NULL;

CREATE TABLE events (
    batch_key bigint NOT NULL,
    seq       bigint NOT NULL,
    name      text NOT NULL,
    ts        text NOT NULL,
    props     text,
    PRIMARY KEY (batch_key, seq)
);

-- One row per distinct deletion request. The user id is deliberately not kept.
CREATE TABLE deletions (
    request_id     text PRIMARY KEY,
    receipt_id     text NOT NULL,
    received_at_ms bigint NOT NULL,
    requested_at   text NOT NULL,
    reason         text NOT NULL,
    policy         text NOT NULL,
    batches_erased bigint NOT NULL,
    events_erased  bigint NOT NULL
);

-- Erasure history: survives later batches from the same installation id (a new life).
CREATE TABLE erasures (
    installation_id text NOT NULL,
    request_id      text NOT NULL,
    erased_at_ms    bigint NOT NULL,
    PRIMARY KEY (installation_id, request_id)
);

CREATE TABLE counters (
    name  text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO counters(name, value) VALUES ('duplicates', 0);
",
)];

/// The schema version this code writes.
pub(crate) const SCHEMA_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

const STORE_BATCH: &str = "
WITH b AS (
    INSERT INTO batches (batch_id, installation_id, user_id, received_at_ms, event_count,
                         envelope)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (batch_id) DO NOTHING
    RETURNING batch_key
), e AS (
    INSERT INTO events (batch_key, seq, name, ts, props)
    SELECT b.batch_key, u.seq, u.name, u.ts, u.props
    FROM b, unnest($7::bigint[], $8::text[], $9::text[], $10::text[]) AS u(seq, name, ts, props)
), d AS (
    UPDATE counters SET value = value + 1
    WHERE name = 'duplicates' AND NOT EXISTS (SELECT 1 FROM b)
)
SELECT count(*) FROM b";

/// The PostgreSQL engine.
#[derive(Debug)]
pub(crate) struct PostgresEngine {
    pool: Pool,
}

/// What a URL points at, without its password: for error messages.
fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "PostgreSQL {} port {} database {}",
        if hosts.is_empty() {
            "localhost".to_owned()
        } else {
            hosts.join(",")
        },
        if ports.is_empty() {
            "5432".to_owned()
        } else {
            ports.join(",")
        },
        config.get_dbname().unwrap_or("(the user's)")
    )
}

/// A driver error as text: SQLSTATE and message of a server error (which never quote row
/// values; those are in the detail, left out), or the client error.
fn failure(e: &tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError(format!(
            "PostgreSQL: {} (SQLSTATE {})",
            db.message(),
            db.code().code()
        )),
        None => StoreError(format!("PostgreSQL: {e}")),
    }
}

fn pool_failure(e: &deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => failure(e),
        other => StoreError(format!("PostgreSQL connection pool: {other}")),
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl PostgresEngine {
    /// Connects to `url` (`postgres://user:password@host:port/db`, or `?host=/socket/dir`),
    /// applies the missing migrations and keeps a pool of connections.
    pub async fn open(url: &str) -> io::Result<PostgresEngine> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("--db: not a PostgreSQL URL: {e}"),
            )
        })?;
        let target = describe(&config);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| io::Error::other(format!("{target}: {e}")))?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| io::Error::other(format!("{target}: {}", pool_failure(&e))))?;
        migrate(&mut client)
            .await
            .map_err(|e| io::Error::other(format!("{target}: {e}")))?;
        drop(client);
        Ok(PostgresEngine { pool })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| pool_failure(&e))
    }

    async fn store(&self, batch: Batch, now_ms: i64) -> Result<BatchOutcome, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(STORE_BATCH)
            .await
            .map_err(|e| failure(&e))?;
        let seqs: Vec<i64> = batch.events().map(|e| e.seq).collect();
        let names: Vec<&str> = batch.events().map(|e| e.name).collect();
        let times: Vec<&str> = batch.events().map(|e| e.ts).collect();
        let props: Vec<Option<&str>> = batch.events().map(|e| e.props).collect();
        let event_count = i32::try_from(batch.len())
            .map_err(|_| StoreError("batch has more than 2^31 events".into()))?;
        let row = client
            .query_one(
                &statement,
                &[
                    &batch.batch_id,
                    &batch.installation_id,
                    &batch.user_id,
                    &now_ms,
                    &event_count,
                    &batch.envelope,
                    &seqs,
                    &names,
                    &times,
                    &props,
                ],
            )
            .await
            .map_err(|e| failure(&e))?;
        let inserted: i64 = row.get(0);
        Ok(if inserted == 1 {
            BatchOutcome::Accepted {
                events: batch.len(),
            }
        } else {
            BatchOutcome::Duplicate
        })
    }

    async fn erase_now(
        &self,
        request: Deletion,
        new_receipt_id: String,
        now_ms: i64,
    ) -> Result<DeletionOutcome, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| failure(&e))?;
        let claimed = tx
            .query_opt(
                "INSERT INTO deletions(request_id, receipt_id, received_at_ms, requested_at, reason,
                                       policy, batches_erased, events_erased)
                 VALUES ($1, $2, $3, $4, $5, $6, 0, 0)
                 ON CONFLICT (request_id) DO NOTHING
                 RETURNING receipt_id",
                &[
                    &request.request_id,
                    &new_receipt_id,
                    &now_ms,
                    &request.requested_at,
                    &request.reason,
                    &request.policy,
                ],
            )
            .await
            .map_err(|e| failure(&e))?;
        if claimed.is_none() {
            let row = tx
                .query_one(
                    "SELECT receipt_id FROM deletions WHERE request_id = $1",
                    &[&request.request_id],
                )
                .await
                .map_err(|e| failure(&e))?;
            tx.commit().await.map_err(|e| failure(&e))?;
            return Ok(DeletionOutcome {
                receipt_id: row.get(0),
                repeated: true,
            });
        }

        let mut targets: BTreeSet<String> = request.installation_ids.into_iter().collect();
        if let Some(user_id) = &request.user_id {
            let rows = tx
                .query(
                    "SELECT DISTINCT installation_id FROM batches WHERE user_id = $1",
                    &[user_id],
                )
                .await
                .map_err(|e| failure(&e))?;
            targets.extend(rows.iter().map(|r| r.get::<_, String>(0)));
        }
        let targets: Vec<String> = targets.into_iter().collect();
        let events_erased = tx
            .execute(
                "DELETE FROM events e USING batches b
                 WHERE e.batch_key = b.batch_key AND b.installation_id = ANY($1)",
                &[&targets],
            )
            .await
            .map_err(|e| failure(&e))?;
        let batches_erased = tx
            .execute(
                "DELETE FROM batches WHERE installation_id = ANY($1)",
                &[&targets],
            )
            .await
            .map_err(|e| failure(&e))?;
        tx.execute(
            "INSERT INTO erasures(installation_id, request_id, erased_at_ms)
             SELECT id, $2, $3 FROM unnest($1::text[]) AS t(id)
             ON CONFLICT DO NOTHING",
            &[&targets, &request.request_id, &now_ms],
        )
        .await
        .map_err(|e| failure(&e))?;
        tx.execute(
            "UPDATE deletions SET batches_erased = $2, events_erased = $3 WHERE request_id = $1",
            &[
                &request.request_id,
                &(batches_erased as i64),
                &(events_erased as i64),
            ],
        )
        .await
        .map_err(|e| failure(&e))?;
        tx.commit().await.map_err(|e| failure(&e))?;
        Ok(DeletionOutcome {
            receipt_id: new_receipt_id,
            repeated: false,
        })
    }

    async fn counts_now(&self) -> Result<StoredCounts, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM batches),
                        (SELECT coalesce(sum(event_count), 0)::bigint FROM batches),
                        (SELECT coalesce(max(value), 0)::bigint FROM counters
                             WHERE name = 'duplicates'),
                        (SELECT count(*) FROM deletions),
                        (SELECT count(DISTINCT installation_id) FROM batches),
                        (SELECT count(DISTINCT installation_id) FROM erasures)",
                &[],
            )
            .await
            .map_err(|e| failure(&e))?;
        Ok(StoredCounts {
            batches: count(row.get(0)),
            events: count(row.get(1)),
            duplicates: count(row.get(2)),
            deletions: count(row.get(3)),
            installations: count(row.get(4)),
            erased_installations: count(row.get(5)),
        })
    }

    async fn installation_now(&self, id: String) -> Result<InstallationInfo, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM batches WHERE installation_id = $1),
                        (SELECT coalesce(sum(event_count), 0)::bigint FROM batches
                             WHERE installation_id = $1),
                        (SELECT count(*) FROM erasures WHERE installation_id = $1)",
                &[&id],
            )
            .await
            .map_err(|e| failure(&e))?;
        let erasures = count(row.get(2));
        Ok(InstallationInfo {
            installation_id: id,
            batches: count(row.get(0)),
            events: count(row.get(1)),
            deleted: erasures > 0,
            erasures,
        })
    }
}

/// Applies every migration newer than the database's version, under the advisory lock.
async fn migrate(client: &mut deadpool_postgres::Object) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(|e| failure(&e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| failure(&e))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS collector_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(|e| failure(&e))?;
    let current: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM collector_migrations",
            &[],
        )
        .await
        .map_err(|e| failure(&e))?
        .get(0);
    if current > SCHEMA_VERSION {
        return Err(StoreError(format!(
            "database schema version {current} is newer than this collector ({SCHEMA_VERSION})"
        )));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > current) {
        tx.batch_execute(sql).await.map_err(|e| failure(&e))?;
        tx.execute(
            "INSERT INTO collector_migrations(version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await
        .map_err(|e| failure(&e))?;
        log::info!("PostgreSQL schema migrated to version {version} ({name})");
    }
    tx.commit().await.map_err(|e| failure(&e))
}

impl Engine for PostgresEngine {
    fn store_batch(
        &self,
        batch: Batch,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<BatchOutcome, StoreError>> {
        Box::pin(self.store(batch, now_ms))
    }

    fn erase(
        &self,
        request: Deletion,
        new_receipt_id: String,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<DeletionOutcome, StoreError>> {
        Box::pin(self.erase_now(request, new_receipt_id, now_ms))
    }

    fn counts(&self) -> BoxFuture<'_, Result<StoredCounts, StoreError>> {
        Box::pin(self.counts_now())
    }

    fn installation(&self, id: String) -> BoxFuture<'_, Result<InstallationInfo, StoreError>> {
        Box::pin(self.installation_now(id))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.pool.close() })
    }
}
