//! The schema and its history. Every schema consentgate has ever written is a
//! version, reached from the one before by one step of [`upgrade_from`] (any
//! SQL: new tables, `ALTER TABLE`, rebuilds), and every one has a database
//! file under `tests/fixtures/` that a test upgrades with nothing lost:
//!
//! | version | written by | what changed |
//! | --- | --- | --- |
//! | 1 | the first release | meta, decisions, purposes_seen, ledger, partitions, `events_<id>` |
//! | 2 | upload and deletion | batches, deletions, endpoints_used |
//! | 3 | 49fe4d5 | `deletions.receiptless`; the ledger head marker is always written |
//! | 4 | f326ac8 | `ledger.signal_hash` (the sha256 of the TC/GPP string a decision came from) |
//! | 5 | this code | `ledger.kind`, `ledger.acknowledged_from` (acknowledged policy changes); the `notice_revision` meta key |
//!
//! Version 2 was written in two shapes (the `receiptless` column was added
//! without a new version); both are recognised and upgrade the same way.
//!
//! A file's tables are judged by their columns (name, type, `NOT NULL`,
//! default, primary key) and indexes, compared with a reference schema built
//! in memory by the same steps — never by the text of `CREATE` statements.
//! A schema change without a new version, a step, a fixture and its test is
//! a bug.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::OpenFailure;

/// The schema version this code writes. A newer file is not ours to touch.
pub const SCHEMA_VERSION: i64 = 5;

/// The first version whose files always have the ledger head marker beside
/// them (see `integrity`): such a file with ledger entries and no marker
/// was put back from elsewhere (a copy, a backup).
pub(crate) const MARKER_REQUIRED_FROM: i64 = 3;

/// The columns of every partition's queue table, `events_<id>`.
pub(super) const EVENTS_COLUMNS: &str = "(seq INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, \
    name TEXT NOT NULL, props TEXT, bytes INTEGER NOT NULL)";

/// The step from `version` to `version + 1`, as SQL run in one transaction
/// with the new `user_version`.
fn step(version: i64) -> Option<&'static str> {
    Some(match version {
        0 => {
            "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
             CREATE TABLE decisions(purpose TEXT PRIMARY KEY, status TEXT NOT NULL,
                 decided_at_ms INTEGER NOT NULL, source TEXT NOT NULL, revision INTEGER NOT NULL,
                 reason TEXT) WITHOUT ROWID;
             CREATE TABLE purposes_seen(purpose TEXT PRIMARY KEY,
                 first_revision INTEGER NOT NULL) WITHOUT ROWID;
             CREATE TABLE ledger(seq INTEGER PRIMARY KEY, txn INTEGER NOT NULL,
                 at_ms INTEGER NOT NULL, purpose TEXT NOT NULL, status TEXT NOT NULL,
                 source TEXT NOT NULL, policy_id TEXT NOT NULL, revision INTEGER NOT NULL,
                 policy_hash TEXT NOT NULL, app_version TEXT NOT NULL, region TEXT,
                 installation_id TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
             CREATE TABLE partitions(id INTEGER PRIMARY KEY, categories TEXT NOT NULL UNIQUE);"
        }
        1 => {
            "CREATE TABLE batches(batch_id TEXT PRIMARY KEY, partition INTEGER NOT NULL,
                 first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, endpoint TEXT NOT NULL,
                 created_ms INTEGER NOT NULL, attempts INTEGER NOT NULL,
                 next_attempt_ms INTEGER NOT NULL);
             CREATE TABLE deletions(request_id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL,
                 installation_ids TEXT NOT NULL, user_id TEXT, reason TEXT, endpoints TEXT NOT NULL,
                 pending_endpoints TEXT NOT NULL, policy_id TEXT NOT NULL, revision INTEGER NOT NULL,
                 status TEXT NOT NULL, receipt_id TEXT, receipt_status TEXT, failed_status INTEGER,
                 attempts INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL);
             CREATE TABLE endpoints_used(installation_id TEXT NOT NULL, endpoint TEXT NOT NULL,
                 PRIMARY KEY(installation_id, endpoint)) WITHOUT ROWID;"
        }
        // The second shape of version 2 already has the column.
        2 => "ALTER TABLE deletions ADD COLUMN receiptless INTEGER NOT NULL DEFAULT 0;",
        3 => "ALTER TABLE ledger ADD COLUMN signal_hash TEXT;",
        // Decisions keep kind NULL (as every earlier entry); the notice
        // revision (a meta key) is written by the next open that settles it.
        4 => "ALTER TABLE ledger ADD COLUMN kind TEXT;
              ALTER TABLE ledger ADD COLUMN acknowledged_from INTEGER;",
        _ => return None,
    })
}

/// True for the shape of version 2 that already has what step 2 adds.
fn has_receiptless(conn: &Connection) -> rusqlite::Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM pragma_table_info('deletions') WHERE name = 'receiptless'",
        [],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// Upgrades the schema from `version` to `version + 1` in one transaction
/// (rolled back, leaving the file as it was, if any statement fails).
pub(super) fn upgrade_from(conn: &Connection, version: i64) -> rusqlite::Result<()> {
    let Some(sql) = step(version) else {
        return Ok(());
    };
    let skip = version == 2 && has_receiptless(conn)?;
    let tx = conn.unchecked_transaction()?;
    if !skip {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", version + 1)?;
    tx.commit()
}

/// One column as `PRAGMA table_info` describes it.
type Column = (String, String, bool, Option<String>, i64);
/// One index as `PRAGMA index_list`/`index_info` describe it: unique,
/// origin (`pk`, `u`, `c`) and its columns.
type Index = (bool, String, Vec<String>);

/// What a table is made of, by columns and indexes.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    columns: Vec<Column>,
    indexes: Vec<Index>,
}

fn shape(conn: &Connection, table: &str) -> rusqlite::Result<Shape> {
    let mut stmt = conn.prepare(
        "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1) ORDER BY cid",
    )?;
    let columns = stmt
        .query_map([table], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?.to_ascii_uppercase(),
                r.get::<_, i64>(2)? != 0,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut stmt =
        conn.prepare("SELECT name, \"unique\", origin FROM pragma_index_list(?1) ORDER BY name")?;
    let listed = stmt
        .query_map([table], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)? != 0,
                r.get::<_, String>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut indexes = Vec::new();
    for (name, unique, origin) in listed {
        let mut stmt = conn.prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")?;
        let cols = stmt
            .query_map([&name], |r| r.get::<_, Option<String>>(0))?
            .map(|c| c.map(Option::unwrap_or_default))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        indexes.push((unique, origin, cols));
    }
    indexes.sort();
    Ok(Shape { columns, indexes })
}

/// The tables of `conn` (queue tables as one: each must have the shape of
/// `events`), by name, with their shapes.
fn shapes(conn: &Connection) -> rusqlite::Result<BTreeMap<String, Shape>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out = BTreeMap::new();
    for name in names {
        let s = shape(conn, &name)?;
        out.insert(name, s);
    }
    Ok(out)
}

/// The reference schema of `version`, built in memory by the same steps,
/// with one queue table named `events`.
fn reference(version: i64) -> rusqlite::Result<BTreeMap<String, Shape>> {
    let conn = Connection::open_in_memory()?;
    for v in 0..version {
        if let Some(sql) = step(v) {
            conn.execute_batch(sql)?;
        }
    }
    conn.execute_batch(&format!("CREATE TABLE events{EVENTS_COLUMNS}"))?;
    shapes(&conn)
}

/// Checks that the file's tables are exactly those of the version it
/// claims (for version 2, either of its shapes), queue tables included.
/// A file that claims a version without its first tables is another
/// application's. Reads only: nothing is written before this has passed.
pub(super) fn check_schema(conn: &Connection, version: i64) -> Result<(), OpenFailure> {
    if version == 0 {
        return Ok(());
    }
    let found = shapes(conn)?;
    if ["meta", "decisions", "ledger"]
        .iter()
        .any(|t| !found.contains_key(*t))
    {
        return Err(OpenFailure::Unusable(
            "the database belongs to another application".into(),
        ));
    }
    // Tables a later version adds, in a file that claims an earlier one:
    // its version number was damaged (an upgrade would fail on them).
    let newest = reference(SCHEMA_VERSION)?;
    let claimed = reference(version)?;
    if let Some(later) = newest
        .keys()
        .find(|t| !claimed.contains_key(*t) && found.contains_key(*t))
    {
        return Err(OpenFailure::Unusable(format!(
            "it has table {later} of a later schema than the version {version} it claims"
        )));
    }
    let mut accepted = vec![claimed];
    if version == 2 {
        accepted.push(reference(3)?);
    }
    let mut problem = None;
    for want in &accepted {
        match differs(&found, want, conn) {
            Ok(()) => return Ok(()),
            Err(p) => {
                problem.get_or_insert(p);
            }
        }
    }
    Err(OpenFailure::Unusable(problem.unwrap_or_else(|| {
        format!("its tables are not those of schema version {version}")
    })))
}

/// How `found` differs from the reference `want`, named for the log and
/// `store_recovery`.
fn differs(
    found: &BTreeMap<String, Shape>,
    want: &BTreeMap<String, Shape>,
    conn: &Connection,
) -> Result<(), String> {
    let events = want.get("events");
    for (name, shape) in want.iter().filter(|(n, _)| *n != "events") {
        match found.get(name) {
            None => return Err(format!("table {name} is missing")),
            Some(s) if s != shape => {
                return Err(format!(
                    "table {name} does not have the columns consentgate wrote"
                ))
            }
            Some(_) => {}
        }
    }
    let partitions: Vec<i64> = conn
        .prepare("SELECT id FROM partitions")
        .and_then(|mut s| {
            s.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<i64>>>()
        })
        .map_err(|e| format!("its partitions cannot be read: {e}"))?;
    for id in partitions {
        let name = format!("events_{id}");
        match (found.get(&name), events) {
            (None, _) => return Err(format!("table {name} is missing")),
            (Some(s), Some(e)) if s != e => {
                return Err(format!(
                    "table {name} does not have the columns consentgate wrote"
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_is_reached_by_its_steps_and_has_a_reference() {
        for v in 1..=SCHEMA_VERSION {
            let r = reference(v).expect("reference");
            assert!(r.contains_key("meta") && r.contains_key("events"), "{v}");
        }
        assert!(
            step(SCHEMA_VERSION).is_none(),
            "a step beyond the current version"
        );
        let v3 = reference(3).unwrap();
        assert!(v3["deletions"].columns.iter().any(|c| c.0 == "receiptless"));
        assert!(reference(4).unwrap()["ledger"]
            .columns
            .iter()
            .any(|c| c.0 == "signal_hash"));
        let v5 = reference(5).unwrap();
        for column in ["kind", "acknowledged_from"] {
            assert!(
                v5["ledger"].columns.iter().any(|c| c.0 == column),
                "{column}"
            );
            assert!(!reference(4).unwrap()["ledger"]
                .columns
                .iter()
                .any(|c| c.0 == column));
        }
        assert!(!reference(2).unwrap()["deletions"]
            .columns
            .iter()
            .any(|c| c.0 == "receiptless"));
    }
}
