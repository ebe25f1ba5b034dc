//! The schema: every table with the version that added it, the check that a
//! file's tables are the ones this code writes, and the migration steps
//! between versions (`upgrade_from`).

use std::collections::HashMap;

use rusqlite::Connection;

use super::OpenFailure;

/// The schema version this code writes. A newer file is not ours to touch.
pub(super) const SCHEMA_VERSION: i64 = 2;

/// Every table of the schema: the schema version that added it and the
/// statement that creates it. Open compares each table's stored statement
/// with this one (whitespace aside), so a file whose schema text was damaged
/// is set aside at open rather than failing every write later.
pub(super) const TABLES: &[(i64, &str, &str)] = &[
    (
        1,
        "meta",
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    ),
    (
        1,
        "decisions",
        "CREATE TABLE decisions(purpose TEXT PRIMARY KEY, status TEXT NOT NULL, \
        decided_at_ms INTEGER NOT NULL, source TEXT NOT NULL, revision INTEGER NOT NULL, \
        reason TEXT) WITHOUT ROWID",
    ),
    (
        1,
        "purposes_seen",
        "CREATE TABLE purposes_seen(purpose TEXT PRIMARY KEY, \
        first_revision INTEGER NOT NULL) WITHOUT ROWID",
    ),
    (
        1,
        "ledger",
        "CREATE TABLE ledger(seq INTEGER PRIMARY KEY, txn INTEGER NOT NULL, \
        at_ms INTEGER NOT NULL, purpose TEXT NOT NULL, status TEXT NOT NULL, source TEXT NOT NULL, \
        policy_id TEXT NOT NULL, revision INTEGER NOT NULL, policy_hash TEXT NOT NULL, \
        app_version TEXT NOT NULL, region TEXT, installation_id TEXT NOT NULL, \
        prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
    ),
    (
        1,
        "partitions",
        "CREATE TABLE partitions(id INTEGER PRIMARY KEY, categories TEXT NOT NULL UNIQUE)",
    ),
    (
        2,
        "batches",
        "CREATE TABLE batches(batch_id TEXT PRIMARY KEY, partition INTEGER NOT NULL, \
        first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, endpoint TEXT NOT NULL, \
        created_ms INTEGER NOT NULL, attempts INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL)",
    ),
    (
        2,
        "deletions",
        "CREATE TABLE deletions(request_id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL, \
        installation_ids TEXT NOT NULL, user_id TEXT, reason TEXT, endpoints TEXT NOT NULL, \
        pending_endpoints TEXT NOT NULL, policy_id TEXT NOT NULL, revision INTEGER NOT NULL, \
        status TEXT NOT NULL, receipt_id TEXT, receipt_status TEXT, failed_status INTEGER, \
        attempts INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL, \
        receiptless INTEGER NOT NULL DEFAULT 0)",
    ),
    (
        2,
        "endpoints_used",
        "CREATE TABLE endpoints_used(installation_id TEXT NOT NULL, \
        endpoint TEXT NOT NULL, PRIMARY KEY(installation_id, endpoint)) WITHOUT ROWID",
    ),
];

/// The columns of every partition's queue table, `events_<id>`.
pub(super) const EVENTS_COLUMNS: &str = "(seq INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, \
    name TEXT NOT NULL, props TEXT, bytes INTEGER NOT NULL)";

/// Upgrades the schema from `version` to `version + 1`: creates the tables
/// that version added and sets `user_version`, in one transaction.
pub(super) fn upgrade_from(conn: &Connection, version: i64) -> rusqlite::Result<()> {
    let mut sql = String::from("BEGIN;");
    for (_, _, create) in TABLES.iter().filter(|(v, _, _)| *v == version + 1) {
        sql.push_str(create);
        sql.push(';');
    }
    sql.push_str(&format!("PRAGMA user_version = {}; COMMIT;", version + 1));
    conn.execute_batch(&sql)
}

/// Checks that every table schema `version` has, and each partition's queue
/// table, was created by the statement this code uses (compared with runs
/// of whitespace folded, as SQLite keeps the text as written). A file that
/// claims a version without its first tables is another application's.
pub(super) fn check_schema(
    conn: &Connection,
    version: i64,
) -> std::result::Result<(), OpenFailure> {
    if version == 0 {
        return Ok(());
    }
    let fold = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut stmt = conn.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table'")?;
    let stored: HashMap<String, String> = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })?
        .filter_map(|r| match r {
            Ok((name, Some(sql))) => Some(Ok((name, fold(&sql)))),
            Ok((_, None)) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<rusqlite::Result<_>>()?;
    let mut partitions = conn.prepare("SELECT id FROM partitions")?;
    let events = partitions
        .query_map([], |r| r.get::<_, i64>(0))?
        .map(|id| {
            id.map(|id| {
                let name = format!("events_{id}");
                let create = format!("CREATE TABLE {name}{EVENTS_COLUMNS}");
                (name, create)
            })
        })
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if TABLES
        .iter()
        .any(|(added, name, _)| *added == 1 && !stored.contains_key(*name))
    {
        return Err(OpenFailure::Unusable(
            "the database belongs to another application".into(),
        ));
    }
    let fixed = TABLES
        .iter()
        .filter(|(added, _, _)| *added <= version)
        .map(|(_, name, create)| (name.to_string(), create.to_string()));
    for (name, create) in fixed.chain(events) {
        match stored.get(&name) {
            Some(sql) if *sql == fold(&create) => {}
            Some(_) => {
                return Err(OpenFailure::Unusable(format!(
                    "the definition of table {name} is not the one consentgate wrote"
                )))
            }
            None => return Err(OpenFailure::Unusable(format!("table {name} is missing"))),
        }
    }
    Ok(())
}
