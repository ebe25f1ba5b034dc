//! SQL of the `decisions` table (one row per purpose: the decision in force)
//! and `purposes_seen` (the revision in which this installation first saw
//! each purpose, for the `new_purpose` prompt reason).

use std::collections::HashMap;

use rusqlite::params;

use super::{Store, Txn};
use crate::consent::{ConsentSource, ConsentStatus, PromptReason, StoredDecision};
use crate::error::Result;

impl Store {
    /// Every stored decision by purpose id.
    pub fn decisions(&self) -> Result<HashMap<String, StoredDecision>> {
        let mut stmt = self.conn.prepare(
            "SELECT purpose, status, decided_at_ms, source, revision, reason FROM decisions",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (purpose, status, at, source, revision, reason) = row?;
            // A row we cannot read counts as no decision (fail-closed).
            let (Some(status), Some(source)) =
                (ConsentStatus::parse(&status), ConsentSource::parse(&source))
            else {
                continue;
            };
            out.insert(
                purpose,
                StoredDecision {
                    status,
                    decided_at_ms: at,
                    source,
                    revision: u32::try_from(revision).unwrap_or(0),
                    reason: reason.as_deref().and_then(PromptReason::parse),
                },
            );
        }
        Ok(out)
    }

    /// Revision in which each purpose was first seen.
    pub fn first_seen(&self) -> Result<HashMap<String, u32>> {
        let mut stmt = self
            .conn
            .prepare("SELECT purpose, first_revision FROM purposes_seen")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = HashMap::new();
        for row in rows {
            let (p, rev) = row?;
            out.insert(p, u32::try_from(rev).unwrap_or(0));
        }
        Ok(out)
    }
}

impl Txn<'_> {
    /// Records that `purpose` exists as of `revision` (first sighting wins).
    pub fn see_purpose(&mut self, purpose: &str, revision: u32) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO purposes_seen(purpose, first_revision) VALUES (?1, ?2)",
            )?
            .execute(params![purpose, revision])?;
        Ok(())
    }

    /// Writes the decision row of a purpose.
    pub fn put_decision(&mut self, purpose: &str, d: &StoredDecision) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO decisions(purpose, status, decided_at_ms, source, revision, reason) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(purpose) DO UPDATE SET \
                 status = excluded.status, decided_at_ms = excluded.decided_at_ms, source = excluded.source, \
                 revision = excluded.revision, reason = excluded.reason",
            )?
            .execute(params![
                purpose,
                d.status.as_str(),
                d.decided_at_ms,
                d.source.as_str(),
                d.revision,
                d.reason.map(|r| r.as_str())
            ])?;
        Ok(())
    }
}
