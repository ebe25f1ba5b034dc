//! SQL of the consent ledger: appending an entry (seq, previous hash, hash),
//! pruning an old prefix behind an anchor, and the one reader of ledger rows
//! that open, `ledger()`, verification and the read-only CLI commands share.
//!
//! A decision's row has `kind` NULL (as every row before schema 5); an
//! acknowledgement's has `kind = 'acknowledgement'`, its `acknowledged_from`,
//! and an empty `purpose`: retention, which keeps the latest entry per
//! purpose, so keeps the latest acknowledgement too.

use rusqlite::{params, Connection, OptionalExtension};

use super::{Store, Txn};
use crate::consent::{ConsentSource, ConsentStatus};
use crate::error::{Error, Result};
use crate::ledger::{Anchor, Canonical, ChainCheck, LedgerCheck, LedgerEntry, LedgerKind};

/// Calls `f` with each retained ledger entry with `after < seq <= upto`
/// (either bound open when `None`), in seq order, as its canonical form and
/// its two hashes, borrowed from the row: open reads the whole ledger every
/// time. An unreadable status, source or kind reads as its fallback, so the
/// entry fails verification through its hash.
pub(super) fn each_ledger_entry(
    conn: &Connection,
    after: Option<u64>,
    upto: Option<u64>,
    mut f: impl FnMut(&Canonical<'_>, &str, &str),
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, txn, at_ms, purpose, status, source, policy_id, revision, policy_hash, \
         app_version, region, installation_id, prev_hash, hash, signal_hash, kind, \
         acknowledged_from FROM ledger WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![
        after.map_or(i64::MIN, |a| a as i64),
        upto.map_or(i64::MAX, |u| u as i64)
    ])?;
    while let Some(r) = rows.next()? {
        let str_at = |i: usize| -> rusqlite::Result<&str> {
            text_at(r, i)?.ok_or_else(|| {
                rusqlite::Error::InvalidColumnType(i, String::new(), rusqlite::types::Type::Null)
            })
        };
        let c = Canonical {
            seq: r.get::<_, i64>(0)? as u64,
            txn: r.get::<_, i64>(1)? as u64,
            at_ms: r.get(2)?,
            purpose: str_at(3)?,
            status: ConsentStatus::parse(str_at(4)?).unwrap_or(ConsentStatus::Unset),
            source: ConsentSource::parse(str_at(5)?).unwrap_or(ConsentSource::Migration),
            policy_id: str_at(6)?,
            revision: r.get::<_, i64>(7)? as u32,
            policy_hash: str_at(8)?,
            app_version: str_at(9)?,
            region: text_at(r, 10)?,
            installation_id: str_at(11)?,
            signal_hash: text_at(r, 14)?,
            kind: match text_at(r, 15)? {
                None => LedgerKind::Decision,
                // Anything else (only an altered row) fails verification.
                Some(_) => LedgerKind::Acknowledgement,
            },
            acknowledged_from: r.get::<_, Option<i64>>(16)?.map(|v| v as u32),
        };
        f(&c, str_at(12)?, str_at(13)?);
    }
    Ok(())
}

/// Where the retained ledger starts: after pruning, the anchor kept in meta.
pub(super) fn ledger_anchor(conn: &Connection) -> Result<Anchor> {
    let meta = |key: &str| -> Result<Option<String>> {
        Ok(conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    };
    let seq = meta("ledger_anchor_seq")?.and_then(|s| s.parse().ok());
    let hash = meta("ledger_anchor_hash")?;
    Ok(match (seq, hash) {
        (Some(seq), Some(hash)) => Anchor { seq, hash },
        _ => Anchor::default(),
    })
}

/// The whole retained ledger in order.
pub(crate) fn read_ledger(conn: &Connection) -> Result<Vec<LedgerEntry>> {
    let mut out = Vec::new();
    each_ledger_entry(conn, None, None, |c, prev, hash| {
        out.push(c.to_entry(prev, hash))
    })?;
    Ok(out)
}

/// Verifies the retained ledger from its anchor, entry by entry as it is read.
pub(crate) fn verify_ledger(conn: &Connection) -> Result<LedgerCheck> {
    let mut check = ChainCheck::new(&ledger_anchor(conn)?);
    each_ledger_entry(conn, None, None, |c, prev, hash| {
        check.push_parts(c, prev, hash)
    })?;
    Ok(check.finish())
}

/// Column `i` of `r` as borrowed text (`None` for NULL); any other type is
/// an error, as `get::<String>` would make it.
pub(super) fn text_at<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<&'r str>> {
    use rusqlite::types::{Type, ValueRef};
    match r.get_ref(i)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .map(Some)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e))),
        other => Err(rusqlite::Error::InvalidColumnType(
            i,
            String::new(),
            other.data_type(),
        )),
    }
}

impl Store {
    /// The time of the ledger's first retained entry if a later entry
    /// records the same purpose (so that retention may prune it), else `None`.
    pub fn first_superseded_ledger_ms(&self) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT l.at_ms FROM ledger l WHERE l.seq = (SELECT min(seq) FROM ledger) \
                 AND EXISTS (SELECT 1 FROM ledger m WHERE m.purpose = l.purpose AND m.seq > l.seq)",
            )?
            .query_row([], |r| r.get(0))
            .optional()?)
    }

    /// Where the retained ledger starts.
    pub fn ledger_anchor(&self) -> Result<Anchor> {
        ledger_anchor(&self.conn)
    }

    /// The whole retained ledger in order.
    pub fn ledger(&self) -> Result<Vec<LedgerEntry>> {
        read_ledger(&self.conn)
    }

    /// Verifies the retained ledger from its anchor.
    pub fn verify_ledger(&self) -> Result<LedgerCheck> {
        verify_ledger(&self.conn)
    }
}

impl Txn<'_> {
    /// Appends a ledger entry, filling in `seq`, `prev_hash` and `hash`
    /// (and `txn` when it is 0: the entry then starts a new event).
    pub fn append_ledger(&mut self, mut e: LedgerEntry) -> Result<LedgerEntry> {
        e.seq = self
            .head
            .0
            .checked_add(1)
            .and_then(|s| i64::try_from(s).ok())
            .ok_or_else(|| Error::Invalid("the consent ledger has no seq left".into()))?;
        if e.txn == 0 {
            e.txn = e.seq;
        }
        e.prev_hash = self.head.1.clone();
        e.hash = crate::ledger::entry_hash(&e);
        self.tx
            .prepare_cached(
                "INSERT INTO ledger(seq, txn, at_ms, purpose, status, source, policy_id, revision, policy_hash, \
                 app_version, region, installation_id, prev_hash, hash, signal_hash, kind, acknowledged_from) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            )?
            .execute(params![
                e.seq,
                e.txn,
                e.at_ms,
                e.purpose,
                e.status.as_str(),
                e.source.as_str(),
                e.policy_id,
                e.revision,
                e.policy_hash,
                e.app_version,
                e.region,
                e.installation_id,
                e.prev_hash,
                e.hash,
                e.signal_hash,
                (e.kind != LedgerKind::Decision).then(|| e.kind.as_str()),
                e.acknowledged_from
            ])?;
        self.head = (e.seq as u64, e.hash.clone());
        Ok(e)
    }

    /// Prunes the ledger prefix made of entries older than `cutoff_ms` that are
    /// not the latest entry for their purpose, anchoring the chain at the last
    /// pruned entry. Returns how many entries were pruned.
    pub fn prune_ledger(&mut self, cutoff_ms: i64) -> Result<u64> {
        // The first entry that must stay: young, or the latest for its purpose.
        let keep_from: Option<i64> = self.tx.query_row(
            "SELECT min(seq) FROM ledger l WHERE at_ms >= ?1 \
             OR seq = (SELECT max(seq) FROM ledger m WHERE m.purpose = l.purpose)",
            [cutoff_ms],
            |r| r.get(0),
        )?;
        let Some(keep_from) = keep_from else {
            return Ok(0);
        };
        let last_pruned: Option<(i64, String)> = self
            .tx
            .query_row(
                "SELECT seq, hash FROM ledger WHERE seq < ?1 ORDER BY seq DESC LIMIT 1",
                [keep_from],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((seq, hash)) = last_pruned else {
            return Ok(0);
        };
        let n = self
            .tx
            .execute("DELETE FROM ledger WHERE seq <= ?1", [seq])?;
        self.set_meta("ledger_anchor_seq", &seq.to_string())?;
        self.set_meta("ledger_anchor_hash", &hash)?;
        Ok(n as u64)
    }
}
