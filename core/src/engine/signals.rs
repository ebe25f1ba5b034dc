//! The ecosystem's consent signals under the locks: the host's
//! [`KeyValueStore`], reading another CMP's keys into decisions (ledger
//! source `tcf` / `gpp`, the string's hash in each entry, applied through
//! the one consent transaction so a withdrawal purges, G3), and, for a
//! registered CMP, writing the TC/GPP strings and key set of every committed
//! change before the call that made it returns. What the strings mean is
//! `cmp`; this file decides when, and holds the order: the store lock is
//! held while the host store is read or written, so keys follow decisions
//! in the order they were committed.

use std::sync::Arc;

use super::{Db, Engine};
use crate::cmp::{self, InteropMode, InteropState, KeyValueStore, SignalReport, SignalStatus};
use crate::consent::{self, Change, ConsentSource, ConsentState, ConsentStatus, PurposeDecision};
use crate::error::Result;
use crate::interop::tcf::TcString;
use crate::policy::PurposeKind;

/// Meta keys: the hash of the last TC / GPP string whose decisions were
/// applied (the same string read again changes nothing, so a later choice
/// in consentgate's own banner is not overridden by a string it already saw).
const APPLIED_TCF: &str = "interop_applied_tcf";
const APPLIED_GPP: &str = "interop_applied_gpp";

/// What the engine keeps about the signals between calls (in `Db`).
#[derive(Default)]
pub(super) struct Signals {
    /// The host's key-value store, once given.
    pub kv: Option<Arc<dyn KeyValueStore>>,
    /// Following: what the keys said last time they were read.
    pub read: cmp::Read,
    /// Being the CMP: the purposes granted when the keys were last
    /// written, and what was written.
    pub written: Option<(u64, cmp::Written)>,
}

impl Engine {
    /// Gives the gate the app's key-value store. Following a CMP, its keys
    /// are read now; being the CMP, the keys of the state in force are
    /// written now.
    pub fn set_key_value_store(&self, kv: Arc<dyn KeyValueStore>) -> Result<ConsentState> {
        self.change(|e, db| {
            db.interop.kv = Some(kv);
            db.interop.written = None;
            match e.mode() {
                Some(InteropMode::Follow) => e.follow(db),
                _ => e.apply(db, &[], &[]),
            }
        })
    }

    /// The host saw the `IABTCF_*` / `IABGPP_*` keys change: read them again.
    pub fn interop_keys_changed(&self) -> Result<ConsentState> {
        self.change(|e, db| match e.mode() {
            Some(InteropMode::Follow) if db.interop.kv.is_some() => e.follow(db),
            _ => Ok(false),
        })
    }

    fn mode(&self) -> Option<InteropMode> {
        self.policy.interop.as_ref().map(|i| {
            if i.cmp.is_some() {
                InteropMode::Cmp
            } else {
                InteropMode::Follow
            }
        })
    }

    /// Reads the keys and applies what a new, valid string decides.
    fn follow(&self, db: &mut Db) -> Result<bool> {
        let (Some(interop), Some(kv)) = (self.policy.interop.as_ref(), db.interop.kv.clone())
        else {
            return Ok(false);
        };
        let read = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cmp::read(interop, kv.as_ref())
        })) {
            Ok(r) => r,
            Err(_) => {
                log::warn!("consentgate: the KeyValueStore threw while read; nothing changed");
                return Ok(false);
            }
        };
        for report in [&read.tcf, &read.gpp].into_iter().flatten() {
            if report.status == SignalStatus::Invalid {
                log::warn!(
                    "consentgate: a consent string was ignored: {}",
                    report.problem.as_deref().unwrap_or("invalid")
                );
            }
        }
        let before = std::mem::replace(&mut db.interop.read, read);
        let mut changed = false;
        let applied = |db: &Db, key: &str| db.store.meta(key);
        if let Some((tc, source, hash)) = db.interop.read.tc.clone() {
            if applied(db, APPLIED_TCF)?.as_deref() != Some(hash.as_str()) {
                let source = match source {
                    cmp::SignalSource::Tcf => ConsentSource::Tcf,
                    cmp::SignalSource::Gpp => ConsentSource::Gpp,
                };
                let meta = [(APPLIED_TCF, Some(hash.clone()))];
                let outcome = self
                    .changes_to(db, cmp::decisions_from(interop, &tc), source)
                    .and_then(|changes| self.apply_signal(db, &changes, &meta, &hash));
                match outcome {
                    Ok(c) => changed |= c,
                    Err(e) => {
                        db.interop.read = before;
                        return Err(e);
                    }
                }
            }
        }
        if let Some(hash) = db.interop.read.us_opt_out.clone() {
            if applied(db, APPLIED_GPP)?.as_deref() != Some(hash.as_str()) {
                let denied = self
                    .policy
                    .purposes
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.kind == PurposeKind::Consent && p.sale_or_share)
                    .map(|(i, _)| (i, false))
                    .collect();
                let changes = self.changes_to(db, denied, ConsentSource::Gpp)?;
                let meta = [(APPLIED_GPP, Some(hash.clone()))];
                changed |= self.apply_signal(db, &changes, &meta, &hash)?;
            }
        }
        if changed {
            // Each applied string was a consent transaction that published
            // the state with the new reports.
            return Ok(true);
        }
        // The report alone may have changed (a string now missing or invalid).
        self.apply(db, &[], &[])
    }

    /// The changes that bring `wanted` purposes to their status, planned by
    /// `consent::plan` like the app's own requests; grants the restrictions
    /// in force forbid (age gate, GPC) are left out first: a string never
    /// overrides them, and is not refused for them either.
    fn changes_to(
        &self,
        db: &Db,
        wanted: Vec<(usize, bool)>,
        source: ConsentSource,
    ) -> Result<Vec<Change>> {
        let r = self.restrictions(db);
        let requested: Vec<PurposeDecision> = wanted
            .into_iter()
            .filter(|&(i, granted)| {
                let p = &self.policy.purposes[i];
                !(granted && (r.age_gate.is_some() || (r.gpc && p.sale_or_share)))
            })
            .map(|(i, granted)| PurposeDecision {
                purpose: self.policy.purposes[i].id.clone(),
                granted,
            })
            .collect();
        let current = self.snapshot.load();
        Ok(consent::plan(
            &self.policy,
            &current.state,
            &requested,
            source,
            r,
        )?)
    }

    /// The interop view of a state about to be published (`None` without an
    /// `interop` block) and, being the CMP, what to write for `granted`
    /// purposes at `now_ms` after the commit, when a key-value store is
    /// connected and the keys do not already say it.
    pub(super) fn interop_for(
        &self,
        db: &Db,
        granted: u64,
        state: &ConsentState,
        now_ms: i64,
    ) -> (Option<InteropState>, Option<cmp::Written>) {
        let Some(interop) = self.policy.interop.as_ref() else {
            return (None, None);
        };
        // Being the CMP: the TC string for these decisions (`None` when following).
        let own = cmp::tc_string_for(interop, granted, now_ms);
        let pending = own.as_ref().filter(|_| {
            db.interop.kv.is_some()
                && db
                    .interop
                    .written
                    .as_ref()
                    .is_none_or(|(g, _)| *g != granted)
        });
        let pending = pending.and_then(|tc| cmp::written(interop, tc));
        let view = self.interop_view(db, granted, state, own.as_ref(), pending.as_ref());
        (view, pending)
    }

    /// Writes `w` to the host's store (after the commit, before the call
    /// returns) and remembers it.
    pub(super) fn push_write(&self, db: &mut Db, granted: u64, w: cmp::Written) {
        if let Some(kv) = db.interop.kv.clone() {
            let own_gpp = self.policy.interop.as_ref().is_some_and(|i| i.gpp);
            let writes = cmp::key_writes(&w.keys, own_gpp);
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| kv.write(writes))).is_err()
            {
                log::warn!("consentgate: the KeyValueStore threw while written; will write again");
                return;
            }
        }
        db.interop.written = Some((granted, w));
    }

    /// The interop view for a state about to be published; `own` is the TC
    /// string for these decisions when being the CMP.
    fn interop_view(
        &self,
        db: &Db,
        granted: u64,
        state: &ConsentState,
        own: Option<&TcString>,
        pending: Option<&cmp::Written>,
    ) -> Option<InteropState> {
        let interop = self.policy.interop.as_ref()?;
        let mode = self.mode()?;
        let connected = db.interop.kv.is_some();
        // Google reads the TC string in force: the other CMP's (following)
        // or the one written for these decisions (being the CMP).
        let (following, tcf, gpp, gdpr_applies) = match mode {
            InteropMode::Follow => {
                let tc = db.interop.read.tc.as_ref().map(|(tc, _, _)| tc);
                let bare = || SignalReport::bare(SignalStatus::NotConnected);
                let tcf = db
                    .interop
                    .read
                    .tcf
                    .clone()
                    .filter(|_| connected)
                    .unwrap_or_else(bare);
                let gpp = interop.gpp.then(|| {
                    db.interop
                        .read
                        .gpp
                        .clone()
                        .filter(|_| connected)
                        .unwrap_or_else(bare)
                });
                let applies = db
                    .interop
                    .read
                    .gdpr_applies
                    .filter(|_| connected)
                    .or(interop.gdpr_applies);
                (Some(tc), tcf, gpp, applies)
            }
            InteropMode::Cmp => {
                let w = pending.or(db.interop.written.as_ref().map(|(_, w)| w));
                let report = |r: Option<&SignalReport>| {
                    r.cloned()
                        .unwrap_or_else(|| SignalReport::bare(SignalStatus::NotConnected))
                };
                let tcf = report(w.map(|w| &w.tcf));
                let gpp = interop.gpp.then(|| report(w.and_then(|w| w.gpp.as_ref())));
                (
                    Some(own),
                    tcf,
                    gpp,
                    Some(interop.gdpr_applies.unwrap_or(true)),
                )
            }
        };
        Some(InteropState {
            mode,
            consent_mode: cmp::consent_mode(interop, granted, following),
            can_request_ads: cmp::can_request_ads(interop, granted, following),
            // Some consent purpose has a decision in force (granted, or
            // denied with a time): the app must offer a way back to it.
            privacy_options_required: state.purposes.iter().any(|p| {
                p.kind == PurposeKind::Consent
                    && p.status != ConsentStatus::Unset
                    && p.decided_at_ms.is_some()
            }),
            tcf,
            gpp,
            gdpr_applies,
        })
    }

    /// `f` of the interop view in force, read in place (`None` without an
    /// `interop` block): no lock, nothing cloned but what `f` returns.
    pub fn with_interop<R>(&self, f: impl FnOnce(&InteropState) -> R) -> Option<R> {
        self.snapshot.load().state.interop.as_ref().map(f)
    }

    /// Being the CMP: the key set the host's store holds now (empty when
    /// nothing was written yet, or when following).
    pub fn written_keys(&self) -> Vec<cmp::KeyWrite> {
        super::lock(&self.db)
            .interop
            .written
            .as_ref()
            .map(|(_, w)| cmp::set_writes(&w.keys))
            .unwrap_or_default()
    }
}
