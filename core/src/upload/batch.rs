//! A batch body (SPEC §5), built when the batch is handed out from the
//! queued rows plus what is allowed at that moment (G2): consent purposes,
//! the allowed device fields, the advertising id under its rule, the install
//! referrer only while `install_referrer` is allowed, the user id only while
//! `account_id` is allowed. Also the batch row's own bounds: a
//! damaged row yields an empty or bounded read, never an overflow.

use serde::Serialize;
use serde_json::value::RawValue;

use super::Sendable;
use crate::clock::rfc3339;
use crate::device::{ad_id_permitted, DeviceInfo, InstallReferrer};
use crate::error::Result;
use crate::policy::PurposeKind;
use crate::store::{BatchRow, QueuedRecord, Store};
use crate::wire::{post, UploadRequest, SDK_VERSION};

#[derive(Serialize)]
struct Sdk {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct PolicyRef<'a> {
    id: &'a str,
    revision: u32,
}

#[derive(Serialize)]
struct Event<'a> {
    seq: u64,
    name: &'a str,
    ts: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    props: Option<&'a RawValue>,
}

/// Everything a batch body carries besides its events.
#[derive(Serialize)]
pub(super) struct BatchHeader<'a> {
    pub batch_id: &'a str,
    pub installation_id: &'a str,
    pub sent_at: String,
    pub app_version: &'a str,
    pub policy_id: &'a str,
    pub revision: u32,
    /// Consent purposes and their status.
    pub consent: Vec<(&'a str, &'static str)>,
    /// Allowed device fields; omitted when empty.
    pub device: Option<&'a DeviceInfo>,
    pub advertising_id: Option<&'a str>,
    /// The install referrer; only while allowed.
    pub install_referrer: Option<&'a InstallReferrer>,
    pub user_id: Option<&'a str>,
}

/// The install referrer on the wire: times as RFC 3339.
#[derive(Serialize)]
struct Referrer<'a> {
    referrer: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    clicked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    install_began_at: Option<String>,
}

impl<'a> Referrer<'a> {
    fn of(r: &'a InstallReferrer) -> Self {
        let at = |s: Option<i64>| s.and_then(|s| s.checked_mul(1000)).map(rfc3339);
        Referrer {
            referrer: &r.referrer,
            clicked_at: at(r.clicked_at_s),
            install_began_at: at(r.install_began_at_s),
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    batch_id: &'a str,
    installation_id: &'a str,
    sent_at: &'a str,
    sdk: Sdk,
    app_version: &'a str,
    policy: PolicyRef<'a>,
    consent: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<&'a DeviceInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    advertising_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    install_referrer: Option<Referrer<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    events: Vec<Event<'a>>,
}

/// The uncompressed JSON body of a batch.
pub(super) fn batch_json(h: &BatchHeader<'_>, records: &[QueuedRecord]) -> Vec<u8> {
    let events = records
        .iter()
        .map(|r| Event {
            seq: r.seq,
            name: &r.name,
            ts: rfc3339(r.ts_ms),
            // Validated at capture; a row edited on disk into invalid JSON is sent without props.
            props: r
                .props
                .as_deref()
                .and_then(|p| serde_json::from_str::<&RawValue>(p).ok()),
        })
        .collect();
    let body = Body {
        batch_id: h.batch_id,
        installation_id: h.installation_id,
        sent_at: &h.sent_at,
        sdk: Sdk {
            name: "consentgate",
            version: SDK_VERSION,
        },
        app_version: h.app_version,
        policy: PolicyRef {
            id: h.policy_id,
            revision: h.revision,
        },
        consent: h
            .consent
            .iter()
            .map(|(k, v)| ((*k).to_string(), serde_json::Value::from(*v)))
            .collect(),
        device: h.device.filter(|d| !d.is_empty()),
        advertising_id: h.advertising_id,
        install_referrer: h.install_referrer.map(Referrer::of),
        user_id: h.user_id,
        events,
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The records of batch `b` that may be sent now (G2): `None` when none
/// is left or its purposes are no longer all granted.
pub(super) fn sendable_records(
    store: &Store,
    b: &BatchRow,
    now: &Sendable<'_>,
) -> Result<Option<Vec<QueuedRecord>>> {
    let policy = now.policy;
    let Some(p) = store.partitions().iter().find(|p| p.id == b.partition) else {
        return Ok(None);
    };
    if crate::queue::partition_purposes(policy, &p.categories) & !now.snapshot.granted != 0 {
        return Ok(None);
    }
    let max = b
        .last_seq
        .checked_sub(b.first_seq)
        .and_then(|d| d.checked_add(1))
        .map_or(0, |n| n.min(policy.limits.max_batch_events) as usize);
    let records: Vec<_> = store
        .records(p, b.first_seq.saturating_sub(1), max)?
        .into_iter()
        .filter(|r| r.seq <= b.last_seq)
        .collect();
    Ok((!records.is_empty()).then_some(records))
}

/// The request of batch `b` carrying `records`, with what is allowed now.
pub(super) fn request(
    installation_id: &str,
    b: &BatchRow,
    records: &[QueuedRecord],
    now: &Sendable<'_>,
) -> UploadRequest {
    let policy = now.policy;
    let snap = now.snapshot;
    let allows = |c: Option<usize>| c.is_some_and(|i| snap.allows_index(i));
    let mut device = now.collected.device.clone();
    device.retain_allowed(policy, snap.allowed);
    let ad_ok = ad_id_permitted(allows(policy.reserved.advertising_id), now.signals);
    let consent = policy
        .purposes
        .iter()
        .zip(&snap.state.purposes)
        .filter(|(p, _)| p.kind == PurposeKind::Consent)
        .map(|(p, s)| (p.id.as_str(), s.status.as_str()))
        .collect();
    let header = BatchHeader {
        batch_id: &b.batch_id,
        installation_id,
        sent_at: rfc3339(now.now_ms),
        app_version: now.app_version,
        policy_id: &policy.policy_id,
        revision: policy.revision,
        consent,
        device: Some(&device),
        advertising_id: now.collected.ad_id.as_deref().filter(|_| ad_ok),
        install_referrer: now
            .collected
            .install_referrer
            .as_ref()
            .filter(|_| allows(policy.reserved.install_referrer)),
        user_id: now
            .collected
            .user_id
            .as_deref()
            .filter(|_| allows(policy.reserved.account_id)),
    };
    post(
        &b.batch_id,
        format!("{}/v1/batch", b.endpoint),
        &batch_json(&header, records),
    )
}
