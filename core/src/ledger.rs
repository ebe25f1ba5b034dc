//! The consent ledger (G5): an append-only history of every change of consent,
//! each entry hash-chained to the one before it (`hash = sha256(prev_hash ||
//! canonical entry)`), its verification, and the consent receipts exported from
//! it, shaped after ISO/IEC TS 27560. Entries are written by `store` inside the
//! same transaction as the decisions they record; this module owns their shape,
//! hashing and checking.

use serde::Serialize;
use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::consent::{ConsentSource, ConsentStatus};
use crate::policy::{sha256_hex, Policy};

/// The `prev_hash` of the first entry of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One ledger entry: one purpose's change in one consent event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct LedgerEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// `seq` of the first entry written by the same call (groups a receipt).
    pub txn: u64,
    /// When the change was made (ms since the epoch).
    pub at_ms: i64,
    /// Purpose id.
    pub purpose: String,
    /// The new status.
    pub status: ConsentStatus,
    /// How the change came about.
    pub source: ConsentSource,
    /// Policy id in force.
    pub policy_id: String,
    /// Policy revision in force.
    pub revision: u32,
    /// sha256 of the canonical policy document in force.
    pub policy_hash: String,
    /// The app's version.
    pub app_version: String,
    /// The app's region, if known.
    pub region: Option<String>,
    /// The installation the decision belongs to.
    pub installation_id: String,
    /// Hash of the previous entry ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// sha256 over `prev_hash` and this entry's canonical form.
    pub hash: String,
}

/// The outcome of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct LedgerCheck {
    /// True when every entry's hash and link is correct.
    pub intact: bool,
    /// How many entries were checked.
    pub entries: u64,
    /// The first entry that does not verify.
    pub first_bad_seq: Option<u64>,
    /// What is wrong with it.
    pub problem: Option<String>,
}

/// The canonical form hashed for an entry: fixed field order, compact JSON.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: u64,
    txn: u64,
    at_ms: i64,
    purpose: &'a str,
    status: &'a str,
    source: &'a str,
    policy_id: &'a str,
    revision: u32,
    policy_hash: &'a str,
    app_version: &'a str,
    region: Option<&'a str>,
    installation_id: &'a str,
}

/// Computes the hash an entry must carry, given its `prev_hash`.
pub(crate) fn entry_hash(e: &LedgerEntry) -> String {
    let c = Canonical {
        seq: e.seq,
        txn: e.txn,
        at_ms: e.at_ms,
        purpose: &e.purpose,
        status: e.status.as_str(),
        source: e.source.as_str(),
        policy_id: &e.policy_id,
        revision: e.revision,
        policy_hash: &e.policy_hash,
        app_version: &e.app_version,
        region: e.region.as_deref(),
        installation_id: &e.installation_id,
    };
    // Serializing a struct of strings and integers cannot fail.
    let body = serde_json::to_string(&c).unwrap_or_default();
    let mut buf = String::with_capacity(64 + body.len());
    buf.push_str(&e.prev_hash);
    buf.push_str(&body);
    sha256_hex(buf.as_bytes())
}

/// Where the retained chain starts: after pruning, the last pruned entry's
/// seq and hash; otherwise seq 0 and the genesis hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub seq: u64,
    pub hash: String,
}

impl Default for Anchor {
    fn default() -> Self {
        Anchor {
            seq: 0,
            hash: GENESIS_HASH.to_string(),
        }
    }
}

/// Checks `entries` (in seq order) against `anchor`, naming the first entry
/// whose link, hash or position is wrong.
pub(crate) fn verify<'a>(
    anchor: &Anchor,
    entries: impl IntoIterator<Item = &'a LedgerEntry>,
) -> LedgerCheck {
    let mut prev_seq = anchor.seq;
    let mut prev_hash = anchor.hash.as_str();
    let mut n = 0u64;
    for e in entries {
        n += 1;
        let problem = if e.seq != prev_seq + 1 {
            Some(format!(
                "entry {} follows entry {prev_seq}: an entry is missing or out of order",
                e.seq
            ))
        } else if e.prev_hash != prev_hash {
            Some(format!(
                "entry {} does not link to the entry before it",
                e.seq
            ))
        } else if entry_hash(e) != e.hash {
            Some(format!(
                "entry {} was altered: its hash does not match its content",
                e.seq
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            return LedgerCheck {
                intact: false,
                entries: n,
                first_bad_seq: Some(e.seq),
                problem: Some(problem),
            };
        }
        prev_seq = e.seq;
        prev_hash = &e.hash;
    }
    LedgerCheck {
        intact: true,
        entries: n,
        first_bad_seq: None,
        problem: None,
    }
}

/// Consent receipts, one per consent event (entries sharing a `txn`), shaped
/// after ISO/IEC TS 27560: record id, subject, notice, controller, purposes
/// with their state and event time.
pub(crate) fn receipts(policy: &Policy, entries: &[LedgerEntry]) -> Value {
    let mut out = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let txn = entries[i].txn;
        let group: Vec<&LedgerEntry> = entries[i..].iter().take_while(|e| e.txn == txn).collect();
        i += group.len();
        let first = group[0];
        let last = group[group.len() - 1];
        out.push(json!({
            "schema_version": "ISO/IEC TS 27560:2023 (shape)",
            "record_id": last.hash,
            "subject": {"id": first.installation_id, "id_type": "installation_id"},
            "controller": {
                "name": policy.controller.name,
                "registration_id": policy.controller.registration_id,
                "contact": policy.controller.contact,
            },
            "notice": {
                "url": policy.notice_url,
                "policy_id": first.policy_id,
                "revision": first.revision,
                "policy_hash": first.policy_hash,
            },
            "event": {
                "time": rfc3339(first.at_ms),
                "source": first.source,
                "app_version": first.app_version,
                "region": first.region,
            },
            "purposes": group.iter().map(|e| json!({
                "purpose": e.purpose,
                "state": e.status,
                "event_time": rfc3339(e.at_ms),
            })).collect::<Vec<_>>(),
            "ledger": {"first_seq": first.seq, "last_seq": last.seq},
        }));
    }
    Value::Array(out)
}
