//! Consent decisions and what they mean today: the per-purpose status model,
//! the re-consent rules of SPEC §3 (material revision, new purpose, expiry),
//! the age gate and GPC restrictions, `needs_prompt` with its reasons, and the
//! planning of a change (which purposes actually change, and which requests
//! are refused). Pure functions over the policy, the stored decisions and a
//! time: no I/O here; the engine applies plans through `store`.

use std::collections::HashMap;

use serde::Serialize;

use crate::acknowledge::{self, PolicyChange};
use crate::clock::DAY_MS;
use crate::cmp::InteropState;
use crate::error::GateError;
use crate::policy::{Policy, PurposeKind};

/// The status of one purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    /// The user agreed (or the purpose is necessary).
    Granted,
    /// The user refused, or a restriction (age gate, GPC, deletion) denied it.
    Denied,
    /// No decision in force: counts as denied, and the user should be asked.
    Unset,
}

impl ConsentStatus {
    /// The wire and storage spelling: `granted`, `denied`, `unset`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentStatus::Granted => "granted",
            ConsentStatus::Denied => "denied",
            ConsentStatus::Unset => "unset",
        }
    }

    /// Parses the storage spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "granted" => ConsentStatus::Granted,
            "denied" => ConsentStatus::Denied,
            "unset" => ConsentStatus::Unset,
            _ => return None,
        })
    }
}

/// How a decision came about; recorded in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    /// The user answered the consent banner.
    Banner,
    /// The user changed a setting.
    Settings,
    /// The app decided through the API (e.g. a server-side preference).
    Api,
    /// A Global Privacy Control signal denied a sale-or-share purpose.
    Gpc,
    /// The age gate denied consent purposes.
    AgeGate,
    /// A decision expired (`consent_ttl_days`).
    Expiry,
    /// A deletion request revoked every consent purpose.
    Deletion,
    /// A policy revision invalidated the decision.
    Migration,
    /// Another CMP's TC string (`IABTCF_TCString`), mapped by the policy's
    /// `interop` block; the ledger entry keeps the string's sha256.
    Tcf,
    /// Another CMP's GPP string (`IABGPP_HDR_GppString`): its TCF EU section
    /// mapped as a TC string, its US opt-outs denying sale-or-share purposes.
    Gpp,
}

impl ConsentSource {
    /// The storage spelling, e.g. `age_gate`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentSource::Banner => "banner",
            ConsentSource::Settings => "settings",
            ConsentSource::Api => "api",
            ConsentSource::Gpc => "gpc",
            ConsentSource::AgeGate => "age_gate",
            ConsentSource::Expiry => "expiry",
            ConsentSource::Deletion => "deletion",
            ConsentSource::Migration => "migration",
            ConsentSource::Tcf => "tcf",
            ConsentSource::Gpp => "gpp",
        }
    }

    /// Parses the storage spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "banner" => ConsentSource::Banner,
            "settings" => ConsentSource::Settings,
            "api" => ConsentSource::Api,
            "gpc" => ConsentSource::Gpc,
            "age_gate" => ConsentSource::AgeGate,
            "expiry" => ConsentSource::Expiry,
            "deletion" => ConsentSource::Deletion,
            "migration" => ConsentSource::Migration,
            "tcf" => ConsentSource::Tcf,
            "gpp" => ConsentSource::Gpp,
            _ => return None,
        })
    }
}

/// Why the user should be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum PromptReason {
    /// The user has never decided on this purpose.
    NoDecision,
    /// The policy changed materially (`reconsent_below_revision`).
    PolicyChanged,
    /// The purpose was added in a later revision than the user saw.
    NewPurpose,
    /// The decision is older than `consent_ttl_days`.
    Expired,
}

impl PromptReason {
    /// The storage spelling, e.g. `policy_changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            PromptReason::NoDecision => "no_decision",
            PromptReason::PolicyChanged => "policy_changed",
            PromptReason::NewPurpose => "new_purpose",
            PromptReason::Expired => "expired",
        }
    }

    /// Parses the storage spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "no_decision" => PromptReason::NoDecision,
            "policy_changed" => PromptReason::PolicyChanged,
            "new_purpose" => PromptReason::NewPurpose,
            "expired" => PromptReason::Expired,
            _ => return None,
        })
    }
}

/// A decision the app passes to `set_consent`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PurposeDecision {
    /// Purpose id from the policy.
    pub purpose: String,
    /// True to grant, false to deny.
    pub granted: bool,
}

/// The state of one purpose as the app should show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct PurposeState {
    /// Purpose id.
    pub id: String,
    /// `necessary` or `consent`.
    pub kind: PurposeKind,
    /// The status in force now.
    pub status: ConsentStatus,
    /// When the decision in force was made (absent for unset and necessary).
    pub decided_at_ms: Option<i64>,
    /// When the decision in force stops counting (`consent_ttl_days`).
    pub expires_at_ms: Option<i64>,
    /// How the decision in force was made.
    pub source: Option<ConsentSource>,
    /// Why the purpose is unset, when it is.
    pub reason: Option<PromptReason>,
}

/// How a damaged, foreign or rolled-back store was set aside and replaced by
/// a fresh, fail-closed one: at open, or when a consent write found it damaged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct StoreRecovery {
    /// Why the old file could not be used (no personal data).
    pub reason: String,
    /// Where the old file was moved.
    pub moved_to: String,
    /// True when the old store's deletion requests could not be read (from
    /// the file, nor from the keep file beside it): a request the backend
    /// never received may be lost, so the app should offer to ask again.
    /// Readable requests are always carried over into the fresh store.
    pub deletion_requests_unreadable: bool,
}

/// The consent state the app renders its banner and settings from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct ConsentState {
    /// Policy id.
    pub policy_id: String,
    /// Policy revision in force.
    pub revision: i64,
    /// True when any consent purpose is unset: show the banner.
    pub needs_prompt: bool,
    /// The distinct reasons, in a stable order.
    pub prompt_reasons: Vec<PromptReason>,
    /// Set when the policy changed since the user was last shown it in a
    /// way that needs no new consent (a material change prompts instead):
    /// show the change (its notice URL) and call `acknowledge_policy`.
    /// Continued use of the app never clears it.
    pub needs_acknowledgement: Option<PolicyChange>,
    /// Every purpose of the policy, in policy order.
    pub purposes: Vec<PurposeState>,
    /// Ids of the categories allowed now (all their purposes granted), in
    /// policy order: what a host may mirror for a fast local `allows`.
    pub allowed_categories: Vec<String>,
    /// True while the age gate forces consent purposes to denied.
    pub age_restricted: bool,
    /// True while a Global Privacy Control signal is in force.
    pub gpc: bool,
    /// Set when the store was found unusable (at open, or by a consent
    /// write) and started afresh, fail-closed: every earlier decision is
    /// gone, so the app should say why it asks again. Reported, also by
    /// later opens, until the user next decides through the banner, the
    /// settings or the API.
    pub store_recovery: Option<StoreRecovery>,
    /// Increases with every committed change in this process: a host that
    /// mirrors the state keeps the highest version it has seen, and tags
    /// events it buffers with it (see `record_captured`).
    pub version: i64,
    /// The ecosystem view — Consent Mode v2 signals, `can_request_ads`, the
    /// TC/GPP strings read or written — when the policy has an `interop`
    /// block.
    pub interop: Option<InteropState>,
}

impl ConsentState {
    /// The status of `purpose`, `None` if the policy does not define it.
    pub fn status_of(&self, purpose: &str) -> Option<ConsentStatus> {
        self.purposes
            .iter()
            .find(|p| p.id == purpose)
            .map(|p| p.status)
    }
}

/// Told after each committed change of consent state.
#[uniffi::export(with_foreign)]
pub trait ConsentListener: Send + Sync {
    /// The state after the change. Called on the thread that made the change,
    /// after every lock is released; also called once when the listener is set.
    fn on_consent_changed(&self, state: ConsentState);
}

/// A decision as stored (one row per purpose).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredDecision {
    pub status: ConsentStatus,
    pub decided_at_ms: i64,
    pub source: ConsentSource,
    pub revision: u32,
    /// Set when `status` is unset because a rule retired the decision.
    pub reason: Option<PromptReason>,
}

/// Restrictions in force besides the user's decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Restrictions {
    /// `Some(min_age)` while the age gate applies.
    pub age_gate: Option<i32>,
    /// Global Privacy Control signal.
    pub gpc: bool,
}

/// Everything `evaluate` needs to know besides the policy.
pub(crate) struct Facts<'a> {
    pub decisions: &'a HashMap<String, StoredDecision>,
    /// Revision in which each purpose was first seen by this installation.
    pub first_seen: &'a HashMap<String, u32>,
    /// Revision of the first policy this installation ran with.
    pub install_revision: u32,
    /// The latest revision the user is known to have been shown (see
    /// `acknowledge`).
    pub notice_revision: u32,
    pub restrictions: Restrictions,
    pub now_ms: i64,
}

/// A stored decision that a rule has retired and that should be rewritten as
/// unset (with a ledger entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Retirement {
    pub purpose: usize,
    pub was: ConsentStatus,
    pub reason: PromptReason,
}

/// The result of evaluating the state at one instant.
pub(crate) struct Evaluation {
    pub state: ConsentState,
    /// Bit `i` set when purpose `i` is granted.
    pub granted: u64,
    /// Decisions retired by expiry or a material revision, to be persisted.
    pub retired: Vec<Retirement>,
    /// Earliest instant at which a granted or denied decision expires.
    pub next_expiry_ms: Option<i64>,
}

fn expiry_of(policy: &Policy, decided_at_ms: i64) -> Option<i64> {
    policy
        .consent_ttl_days
        .map(|d| decided_at_ms.saturating_add(i64::from(d).saturating_mul(DAY_MS)))
}

/// Computes the state in force at `facts.now_ms`.
pub(crate) fn evaluate(policy: &Policy, facts: &Facts<'_>) -> Evaluation {
    let mut purposes = Vec::with_capacity(policy.purposes.len());
    let mut granted = 0u64;
    let mut retired = Vec::new();
    let mut next_expiry_ms: Option<i64> = None;
    for (i, p) in policy.purposes.iter().enumerate() {
        let mut st = PurposeState {
            id: p.id.clone(),
            kind: p.kind,
            status: ConsentStatus::Unset,
            decided_at_ms: None,
            expires_at_ms: None,
            source: None,
            reason: None,
        };
        let stored = facts.decisions.get(&p.id);
        if p.kind == PurposeKind::Necessary {
            st.status = ConsentStatus::Granted;
        } else if facts.restrictions.age_gate.is_some() {
            st.status = ConsentStatus::Denied;
            st.source = Some(ConsentSource::AgeGate);
            st.decided_at_ms = stored.map(|d| d.decided_at_ms);
        } else if facts.restrictions.gpc && p.sale_or_share {
            st.status = ConsentStatus::Denied;
            st.source = Some(ConsentSource::Gpc);
            st.decided_at_ms = stored.map(|d| d.decided_at_ms);
        } else {
            match stored {
                Some(d) if d.status != ConsentStatus::Unset => {
                    let expires = expiry_of(policy, d.decided_at_ms);
                    let reason = if d.revision < policy.reconsent_below_revision {
                        Some(PromptReason::PolicyChanged)
                    } else if expires.is_some_and(|e| facts.now_ms >= e) {
                        Some(PromptReason::Expired)
                    } else {
                        None
                    };
                    match reason {
                        Some(reason) => {
                            st.reason = Some(reason);
                            retired.push(Retirement {
                                purpose: i,
                                was: d.status,
                                reason,
                            });
                        }
                        None => {
                            st.status = d.status;
                            st.decided_at_ms = Some(d.decided_at_ms);
                            st.expires_at_ms = expires;
                            st.source = Some(d.source);
                            if let Some(e) = expires {
                                next_expiry_ms = Some(next_expiry_ms.map_or(e, |n| n.min(e)));
                            }
                        }
                    }
                }
                Some(d) => {
                    st.reason = Some(d.reason.unwrap_or(PromptReason::NoDecision));
                    st.source = Some(d.source);
                }
                None => {
                    let first = facts
                        .first_seen
                        .get(&p.id)
                        .copied()
                        .unwrap_or(policy.revision);
                    st.reason = Some(if first > facts.install_revision {
                        PromptReason::NewPurpose
                    } else {
                        PromptReason::NoDecision
                    });
                }
            }
        }
        if st.status == ConsentStatus::Granted {
            granted |= 1u64 << i;
        }
        purposes.push(st);
    }
    let mut prompt_reasons: Vec<PromptReason> = Vec::new();
    for r in [
        PromptReason::NoDecision,
        PromptReason::PolicyChanged,
        PromptReason::NewPurpose,
        PromptReason::Expired,
    ] {
        if purposes.iter().any(|p| p.reason == Some(r)) {
            prompt_reasons.push(r);
        }
    }
    Evaluation {
        state: ConsentState {
            policy_id: policy.policy_id.clone(),
            revision: i64::from(policy.revision),
            needs_prompt: !prompt_reasons.is_empty(),
            prompt_reasons,
            needs_acknowledgement: acknowledge::due(policy, facts.notice_revision),
            allowed_categories: policy
                .categories
                .iter()
                .enumerate()
                .filter(|(i, _)| policy.category_purpose_mask(*i) & !granted == 0)
                .map(|(_, c)| c.id.clone())
                .collect(),
            purposes,
            age_restricted: facts.restrictions.age_gate.is_some(),
            gpc: facts.restrictions.gpc,
            store_recovery: None,
            version: 0,
            interop: None,
        },
        granted,
        retired,
        next_expiry_ms,
    }
}

/// One purpose whose stored decision changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Change {
    pub purpose: usize,
    pub to: ConsentStatus,
    /// How the change came about (recorded in the ledger).
    pub source: ConsentSource,
    /// Set when `to` is unset because a rule retired the decision.
    pub reason: Option<PromptReason>,
}

/// Checks a request against the policy and the restrictions in force and
/// returns the purposes whose status actually changes. Refuses the whole
/// request (nothing applied) when any part of it is refused.
pub(crate) fn plan(
    policy: &Policy,
    current: &ConsentState,
    requested: &[PurposeDecision],
    source: ConsentSource,
    restrictions: Restrictions,
) -> Result<Vec<Change>, GateError> {
    let mut wanted: Vec<(usize, bool)> = Vec::with_capacity(requested.len());
    for d in requested {
        let i = policy
            .purpose_index(&d.purpose)
            .ok_or_else(|| GateError::UnknownPurpose {
                purpose: d.purpose.clone(),
            })?;
        let p = &policy.purposes[i];
        if p.kind == PurposeKind::Necessary {
            if !d.granted {
                return Err(GateError::NotWithdrawable {
                    purpose: p.id.clone(),
                });
            }
            continue;
        }
        if d.granted {
            if let Some(min_age) = restrictions.age_gate {
                return Err(GateError::AgeRestricted {
                    purpose: p.id.clone(),
                    min_age,
                });
            }
            if restrictions.gpc && p.sale_or_share {
                return Err(GateError::GpcRestricted {
                    purpose: p.id.clone(),
                });
            }
        }
        // A later entry for the same purpose wins.
        wanted.retain(|(j, _)| *j != i);
        wanted.push((i, d.granted));
    }
    Ok(wanted
        .into_iter()
        .filter_map(|(i, g)| {
            let to = if g {
                ConsentStatus::Granted
            } else {
                ConsentStatus::Denied
            };
            (current.purposes[i].status != to).then_some(Change {
                purpose: i,
                to,
                source,
                reason: None,
            })
        })
        .collect())
}

/// The decisions `accept_all` asks for: every consent purpose, except those a
/// restriction in force forbids (GPC); under the age gate nothing can be granted.
pub(crate) fn all_consent_purposes(
    policy: &Policy,
    granted: bool,
    restrictions: Restrictions,
) -> Vec<PurposeDecision> {
    policy
        .purposes
        .iter()
        .filter(|p| p.kind == PurposeKind::Consent)
        .filter(|p| !(granted && restrictions.gpc && p.sale_or_share))
        .map(|p| PurposeDecision {
            purpose: p.id.clone(),
            granted,
        })
        .collect()
}
