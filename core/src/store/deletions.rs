//! SQL of the `deletions` table: deletion tickets, never evicted, and the
//! salvage of tickets from a file that is being set aside.

use rusqlite::{params, Connection, Row};

use super::{Store, Txn};
use crate::error::Result;
use crate::ticket::{DeletionStatus, Ticket};

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn parse_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

/// The columns every schema since deletions exist has, in this order.
const COLUMNS: &str = "request_id, created_ms, installation_ids, user_id, reason, endpoints, \
    pending_endpoints, policy_id, revision, status, receipt_id, receipt_status, failed_status, \
    attempts, next_attempt_ms";

/// Reads one row; `status` is `None` when the stored status is not one this
/// code writes.
fn ticket_row(r: &Row<'_>) -> rusqlite::Result<(Ticket, bool)> {
    let stored: String = r.get(9)?;
    let receipt = match (
        r.get::<_, Option<String>>(10)?,
        r.get::<_, Option<String>>(11)?,
    ) {
        (Some(id), status) => Some((id, status.unwrap_or_else(|| "accepted".into()))),
        (None, _) => None,
    };
    let status = DeletionStatus::from_columns(
        &stored,
        receipt.as_ref(),
        r.get::<_, Option<i64>>(12)?
            .map(|v| i32::try_from(v).unwrap_or(0)),
    );
    Ok((
        Ticket {
            request_id: r.get(0)?,
            created_ms: r.get(1)?,
            installation_ids: parse_list(&r.get::<_, String>(2)?),
            user_id: r.get(3)?,
            reason: r.get(4)?,
            endpoints: parse_list(&r.get::<_, String>(5)?),
            pending_endpoints: parse_list(&r.get::<_, String>(6)?),
            policy_id: r.get(7)?,
            revision: r.get::<_, i64>(8)? as u32,
            status: status.clone().unwrap_or(DeletionStatus::Pending),
            receipt,
            attempts: r.get::<_, i64>(13)? as u32,
            next_attempt_ms: r.get(14)?,
            receiptless: 0,
        },
        status.is_some(),
    ))
}

impl Store {
    /// Every deletion request, oldest first. A status this code never
    /// writes is an error (open then sets the store aside, salvaging the
    /// ticket as pending).
    pub fn deletions(&self) -> Result<Vec<Ticket>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS}, receiptless FROM deletions ORDER BY created_ms, request_id"
        ))?;
        let rows = stmt.query_map([], |r| {
            let (mut t, known) = ticket_row(r)?;
            if !known {
                return Err(rusqlite::Error::InvalidColumnType(
                    9,
                    "status".into(),
                    rusqlite::types::Type::Text,
                ));
            }
            t.receiptless = r.get::<_, i64>(15)? as u32;
            Ok(t)
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The pending deletion requests, oldest first.
    pub fn pending_deletions(&self) -> Result<Vec<Ticket>> {
        Ok(self
            .deletions()?
            .into_iter()
            .filter(|t| t.status.is_pending())
            .collect())
    }
}

/// The deletion tickets of a store that is being set aside, read as far as
/// they can be: a row that cannot be read is skipped, an unknown status
/// reads as pending (a deletion sent twice is harmless; one lost is not),
/// and retry bookkeeping starts over. `None` when the table itself cannot
/// be read at all (the store had deletion tickets or not: nobody can say).
pub(crate) fn salvage_tickets(conn: &Connection) -> Option<Vec<Ticket>> {
    let has_table: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'deletions'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .ok()?
        > 0;
    if !has_table {
        // A schema from before deletion requests existed, or one whose
        // catalogue says so: nothing to carry over.
        return Some(Vec::new());
    }
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM deletions ORDER BY created_ms"
        ))
        .ok()?;
    let mut rows = stmt.query([]).ok()?;
    let mut out = Vec::new();
    loop {
        match rows.next() {
            Ok(Some(r)) => {
                if let Ok((mut t, _)) = ticket_row(r) {
                    t.attempts = 0;
                    out.push(t);
                }
            }
            Ok(None) => return Some(out),
            // The rest of the table cannot be read: keep what was.
            Err(_) if !out.is_empty() => return Some(out),
            Err(_) => return None,
        }
    }
}

impl Txn<'_> {
    /// Inserts or replaces a deletion request (the keep file follows).
    pub fn put_deletion(&mut self, d: &Ticket) -> Result<()> {
        self.keep_dirty = true;
        let (status, failed_status) = d.status.columns();
        let (receipt_id, receipt_status) = d.receipt.clone().unzip();
        self.tx
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO deletions({COLUMNS}, receiptless) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
            ))?
            .execute(params![
                d.request_id,
                d.created_ms,
                json_list(&d.installation_ids),
                d.user_id,
                d.reason,
                json_list(&d.endpoints),
                json_list(&d.pending_endpoints),
                d.policy_id,
                d.revision,
                status,
                receipt_id,
                receipt_status,
                failed_status,
                d.attempts,
                d.next_attempt_ms,
                d.receiptless
            ])?;
        Ok(())
    }
}
