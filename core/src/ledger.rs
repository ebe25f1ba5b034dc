//! The consent ledger (G5): an append-only history of every change of consent
//! and every acknowledged policy change ([`LedgerKind`]), each entry
//! hash-chained to the one before it (`hash = sha256(prev_hash || canonical
//! entry)`), its verification, and the consent receipts exported from it,
//! shaped after ISO/IEC TS 27560. Entries are written by `store` inside the
//! same transaction as the decisions they record; this module owns their shape,
//! hashing and checking.

use serde::Serialize;
use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::consent::{ConsentSource, ConsentStatus};
use sha2::{Digest, Sha256};

use crate::policy::{hex, Policy};

/// The `prev_hash` of the first entry of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a ledger entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    /// One purpose's new status in one consent event.
    Decision,
    /// The user was shown a policy change that needs no new consent
    /// (`acknowledge_policy`): no purpose changes.
    Acknowledgement,
}

impl LedgerKind {
    /// The storage and hashed spelling of a kind other than `decision`
    /// (decisions are stored and hashed without one, as before schema 5).
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Decision => "decision",
            LedgerKind::Acknowledgement => "acknowledgement",
        }
    }

    fn is_decision(&self) -> bool {
        *self == LedgerKind::Decision
    }
}

/// One ledger entry: one purpose's change in one consent event, or one
/// acknowledged policy change (see `kind`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct LedgerEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// `seq` of the first entry written by the same call (groups a receipt).
    pub txn: i64,
    /// When the change was made (ms since the epoch).
    pub at_ms: i64,
    /// What the entry records. Read it first: an acknowledgement names no
    /// purpose (`purpose` is empty, `status` is `unset`).
    pub kind: LedgerKind,
    /// Purpose id (empty for an acknowledgement).
    pub purpose: String,
    /// The new status (`unset` for an acknowledgement).
    pub status: ConsentStatus,
    /// How the change came about.
    pub source: ConsentSource,
    /// Policy id in force.
    pub policy_id: String,
    /// Policy revision in force (for an acknowledgement: the one acknowledged).
    pub revision: i64,
    /// For an acknowledgement: the revision the user had been shown before.
    pub acknowledged_from: Option<i64>,
    /// sha256 of the canonical policy document in force.
    pub policy_hash: String,
    /// The app's version.
    pub app_version: String,
    /// The app's region, if known.
    pub region: Option<String>,
    /// The installation the decision belongs to.
    pub installation_id: String,
    /// For a decision taken from another CMP's signal (source `tcf` or
    /// `gpp`): hex sha256 of the string it was read from (the string itself
    /// stays with the CMP). Part of the hashed entry when present.
    pub signal_hash: Option<String>,
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
    pub entries: i64,
    /// The first entry that does not verify.
    pub first_bad_seq: Option<i64>,
    /// What is wrong with it.
    pub problem: Option<String>,
}

/// The canonical form hashed for an entry: fixed field order, compact JSON.
/// Borrowed, so the store can check rows it has not copied out.
#[derive(Serialize)]
pub(crate) struct Canonical<'a> {
    pub seq: u64,
    pub txn: u64,
    pub at_ms: i64,
    pub purpose: &'a str,
    pub status: ConsentStatus,
    pub source: ConsentSource,
    pub policy_id: &'a str,
    pub revision: u32,
    pub policy_hash: &'a str,
    pub app_version: &'a str,
    pub region: Option<&'a str>,
    pub installation_id: &'a str,
    /// Absent from the hashed form when `None`, so entries written before
    /// schema 4 keep their hashes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal_hash: Option<&'a str>,
    /// Absent from the hashed form for a decision, so entries written
    /// before schema 5 keep their hashes.
    #[serde(skip_serializing_if = "LedgerKind::is_decision")]
    pub kind: LedgerKind,
    /// Absent from the hashed form when `None` (every decision).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_from: Option<u32>,
}

impl<'a> Canonical<'a> {
    /// The canonical form of `e`.
    pub fn of(e: &'a LedgerEntry) -> Self {
        Canonical {
            seq: e.seq as u64,
            txn: e.txn as u64,
            at_ms: e.at_ms,
            purpose: &e.purpose,
            status: e.status,
            source: e.source,
            policy_id: &e.policy_id,
            revision: u32::try_from(e.revision).unwrap_or(u32::MAX),
            policy_hash: &e.policy_hash,
            app_version: &e.app_version,
            region: e.region.as_deref(),
            installation_id: &e.installation_id,
            signal_hash: e.signal_hash.as_deref(),
            kind: e.kind,
            acknowledged_from: e
                .acknowledged_from
                .map(|r| u32::try_from(r).unwrap_or(u32::MAX)),
        }
    }

    /// The owned entry this form and its two hashes make.
    pub fn to_entry(&self, prev_hash: &str, hash: &str) -> LedgerEntry {
        LedgerEntry {
            seq: self.seq as i64,
            txn: self.txn as i64,
            at_ms: self.at_ms,
            kind: self.kind,
            purpose: self.purpose.to_string(),
            status: self.status,
            source: self.source,
            policy_id: self.policy_id.to_string(),
            revision: i64::from(self.revision),
            acknowledged_from: self.acknowledged_from.map(i64::from),
            policy_hash: self.policy_hash.to_string(),
            app_version: self.app_version.to_string(),
            region: self.region.map(str::to_string),
            installation_id: self.installation_id.to_string(),
            signal_hash: self.signal_hash.map(str::to_string),
            prev_hash: prev_hash.to_string(),
            hash: hash.to_string(),
        }
    }

    /// sha256 over `prev_hash` and this form, serialized into `buf` (reused
    /// between entries: this runs for every entry at every open).
    fn digest(&self, prev_hash: &str, buf: &mut Vec<u8>) -> [u8; 32] {
        buf.clear();
        buf.extend_from_slice(prev_hash.as_bytes());
        self.write_json(buf);
        Sha256::digest(buf.as_slice()).into()
    }

    /// Appends the compact JSON serde_json makes of this struct (the bytes
    /// the chain has always hashed), without its per-field machinery: open
    /// hashes every entry. `serde_json_and_write_json_agree` holds them equal.
    fn write_json(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        fn text(out: &mut Vec<u8>, s: &str) {
            if s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
                // Escaping is rare here; serde_json does it exactly.
                let _ = serde_json::to_writer(&mut *out, s);
            } else {
                out.push(b'"');
                out.extend_from_slice(s.as_bytes());
                out.push(b'"');
            }
        }
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            r#"{{"seq":{},"txn":{},"at_ms":{},"purpose":"#,
            self.seq, self.txn, self.at_ms
        );
        text(out, self.purpose);
        out.extend_from_slice(br#","status":"#);
        text(out, self.status.as_str());
        out.extend_from_slice(br#","source":"#);
        text(out, self.source.as_str());
        out.extend_from_slice(br#","policy_id":"#);
        text(out, self.policy_id);
        let _ = write!(out, r#","revision":{},"policy_hash":"#, self.revision);
        text(out, self.policy_hash);
        out.extend_from_slice(br#","app_version":"#);
        text(out, self.app_version);
        out.extend_from_slice(br#","region":"#);
        match self.region {
            Some(r) => text(out, r),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(br#","installation_id":"#);
        text(out, self.installation_id);
        if let Some(h) = self.signal_hash {
            out.extend_from_slice(br#","signal_hash":"#);
            text(out, h);
        }
        if !self.kind.is_decision() {
            out.extend_from_slice(br#","kind":"#);
            text(out, self.kind.as_str());
        }
        if let Some(r) = self.acknowledged_from {
            let _ = write!(out, r#","acknowledged_from":{r}"#);
        }
        out.push(b'}');
    }
}

/// Computes the hash an entry must carry, given its `prev_hash`.
pub(crate) fn entry_hash(e: &LedgerEntry) -> String {
    hex(&Canonical::of(e).digest(&e.prev_hash, &mut Vec::with_capacity(512)))
}

/// True when `hex_text` is the lowercase hex of `digest`.
fn hex_is(hex_text: &str, digest: &[u8; 32]) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let t = hex_text.as_bytes();
    t.len() == 64
        && digest.iter().enumerate().all(|(i, &b)| {
            t[2 * i] == DIGITS[usize::from(b >> 4)] && t[2 * i + 1] == DIGITS[usize::from(b & 0x0f)]
        })
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

/// Checks a chain one entry at a time, from its anchor, so a long ledger is
/// verified while it is read rather than after it is collected.
pub(crate) struct ChainCheck {
    prev_seq: u64,
    prev_hash: String,
    entries: u64,
    broken: Option<(u64, String)>,
    buf: Vec<u8>,
}

impl ChainCheck {
    /// Starts at `anchor` (the genesis for an unpruned ledger).
    pub fn new(anchor: &Anchor) -> Self {
        ChainCheck {
            prev_seq: anchor.seq,
            prev_hash: anchor.hash.clone(),
            entries: 0,
            broken: None,
            buf: Vec::with_capacity(512),
        }
    }

    /// Checks the next entry, given as its canonical form and its two
    /// hashes; entries after the first bad one are ignored.
    pub fn push_parts(&mut self, c: &Canonical<'_>, prev_hash: &str, hash: &str) {
        if self.broken.is_some() {
            return;
        }
        self.entries += 1;
        let problem = if self.prev_seq.checked_add(1) != Some(c.seq) {
            Some(format!(
                "entry {} follows entry {}: an entry is missing or out of order",
                c.seq, self.prev_seq
            ))
        } else if prev_hash != self.prev_hash {
            Some(format!(
                "entry {} does not link to the entry before it",
                c.seq
            ))
        } else if !hex_is(hash, &c.digest(prev_hash, &mut self.buf)) {
            Some(format!(
                "entry {} was altered: its hash does not match its content",
                c.seq
            ))
        } else {
            None
        };
        match problem {
            Some(problem) => self.broken = Some((c.seq, problem)),
            None => {
                self.prev_seq = c.seq;
                self.prev_hash.clear();
                self.prev_hash.push_str(hash);
            }
        }
    }

    /// Joins the check of the entries that follow: `later` must have
    /// started at this check's last entry (its seq and stored hash) as its
    /// anchor. The first break of the two, earlier first, is kept.
    pub fn then(self, later: ChainCheck) -> ChainCheck {
        ChainCheck {
            entries: self.entries + later.entries,
            broken: self.broken.or(later.broken),
            prev_seq: later.prev_seq,
            prev_hash: later.prev_hash,
            buf: self.buf,
        }
    }

    /// The outcome so far.
    pub fn finish(self) -> LedgerCheck {
        match self.broken {
            Some((seq, problem)) => LedgerCheck {
                intact: false,
                entries: self.entries as i64,
                first_bad_seq: Some(seq as i64),
                problem: Some(problem),
            },
            None => LedgerCheck {
                intact: true,
                entries: self.entries as i64,
                first_bad_seq: None,
                problem: None,
            },
        }
    }
}

/// Consent receipts, one per consent event (entries sharing a `txn`), shaped
/// after ISO/IEC TS 27560: record id, subject, notice, controller, purposes
/// with their state and event time. `kind` says what the event was: a
/// `consent` decision, or an `acknowledgement` of a policy change (no
/// purposes; `acknowledgement` names the revisions, `notice` the one shown).
pub(crate) fn receipts(policy: &Policy, entries: &[LedgerEntry]) -> Value {
    let mut out = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let txn = entries[i].txn;
        let group: Vec<&LedgerEntry> = entries[i..].iter().take_while(|e| e.txn == txn).collect();
        i += group.len();
        let first = group[0];
        let last = group[group.len() - 1];
        let acknowledgement = first.kind == LedgerKind::Acknowledgement;
        let mut receipt = json!({
            "schema_version": "ISO/IEC TS 27560:2023 (shape)",
            "kind": if acknowledgement { "acknowledgement" } else { "consent" },
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
            "purposes": group.iter().filter(|e| e.kind == LedgerKind::Decision).map(|e| json!({
                "purpose": e.purpose,
                "state": e.status,
                "event_time": rfc3339(e.at_ms),
            })).collect::<Vec<_>>(),
            "ledger": {"first_seq": first.seq, "last_seq": last.seq},
        });
        if acknowledgement {
            receipt["acknowledgement"] = json!({
                "from_revision": first.acknowledged_from,
                "to_revision": first.revision,
            });
        }
        out.push(receipt);
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_json_and_write_json_agree() {
        let odd = [
            "",
            "plain",
            "quote\"d",
            "back\\slash",
            "tab\tnew\nline",
            "\u{1}\u{1f}",
            "ünï ✓ 🦀",
            "/slash",
        ];
        for (i, s) in odd.iter().enumerate() {
            for (region, signal_hash) in [(None, None), (Some(*s), None), (None, Some(*s))] {
                let c = Canonical {
                    seq: i as u64,
                    txn: u64::MAX,
                    at_ms: i64::MIN + i as i64,
                    purpose: s,
                    status: ConsentStatus::Granted,
                    source: ConsentSource::AgeGate,
                    policy_id: s,
                    revision: u32::MAX,
                    policy_hash: s,
                    app_version: s,
                    region,
                    installation_id: s,
                    signal_hash,
                    kind: if i % 2 == 0 {
                        LedgerKind::Decision
                    } else {
                        LedgerKind::Acknowledgement
                    },
                    acknowledged_from: (i % 3 == 0).then_some(i as u32),
                };
                let mut fast = Vec::new();
                c.write_json(&mut fast);
                assert_eq!(
                    String::from_utf8(fast).unwrap(),
                    serde_json::to_string(&c).unwrap(),
                    "{s:?}"
                );
            }
        }
    }
}
