//! Device data, advertising identifiers and the install referrer, asked of
//! the host only when allowed: the [`DeviceInfoProvider`], [`AdIdProvider`]
//! and [`InstallReferrerProvider`] foreign traits, the [`DeviceInfo`] and
//! [`InstallReferrer`] records, the platform signals (ATT, limit-ad-tracking, GPC)
//! and the rules that decide whether a provider may be called at all
//! ([`ad_id_permitted`] is the one advertising-id rule). What was collected
//! is kept in memory only ([`Collected`]), to attach to upload batches, and
//! trimmed whenever consent narrows.

use serde::Serialize;

use crate::policy::Policy;

/// Supplies device fields. Implemented by the host (Android: `Build`,
/// `Locale`…); each method is called only when the field's category is allowed.
#[uniffi::export(with_foreign)]
pub trait DeviceInfoProvider: Send + Sync {
    /// Operating system name, e.g. `Android`.
    fn os(&self) -> Option<String>;
    /// Operating system version.
    fn os_version(&self) -> Option<String>;
    /// Device model.
    fn model(&self) -> Option<String>;
    /// Device manufacturer.
    fn manufacturer(&self) -> Option<String>;
    /// Locale, e.g. `kk-KZ`.
    fn locale(&self) -> Option<String>;
    /// Time zone id, e.g. `Asia/Almaty`.
    fn timezone(&self) -> Option<String>;
    /// Mobile carrier name.
    fn carrier(&self) -> Option<String>;
    /// The app's version.
    fn app_version(&self) -> Option<String>;
    /// Screen size, e.g. `1080x2400`.
    fn screen(&self) -> Option<String>;
}

/// Supplies the platform advertising id (AAID / IDFA). Called only when every
/// rule allows it (see [`crate::ConsentGate::advertising_id`]).
#[uniffi::export(with_foreign)]
pub trait AdIdProvider: Send + Sync {
    /// The advertising id, or none when the platform has none.
    fn advertising_id(&self) -> Option<String>;
}

/// Supplies how the user found the app: the store's install referrer
/// (Android: the Play Install Referrer API; iOS has none). Called only while
/// the `install_referrer` category is allowed (see
/// [`crate::ConsentGate::install_referrer`]); may block briefly (the host's
/// store connection), so call the gate from a background thread.
#[uniffi::export(with_foreign)]
pub trait InstallReferrerProvider: Send + Sync {
    /// The referrer the store recorded for this install, or none.
    fn install_referrer(&self) -> Option<InstallReferrer>;
}

/// The install referrer as the store reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct InstallReferrer {
    /// The referrer string, e.g. `utm_source=partner_app&utm_medium=banner`.
    pub referrer: String,
    /// When the user clicked the referring link, seconds since the epoch
    /// (Play: `referrerClickTimestampSeconds`); 0 or none when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clicked_at_s: Option<i64>,
    /// When the install began, seconds since the epoch (Play:
    /// `installBeginTimestampSeconds`); 0 or none when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install_began_at_s: Option<i64>,
}

impl InstallReferrer {
    /// The answer as kept: `None` when the referrer is empty; zero or
    /// negative timestamps (the platform's "unknown") dropped.
    pub(crate) fn normalized(self) -> Option<InstallReferrer> {
        if self.referrer.trim().is_empty() {
            return None;
        }
        let known = |t: Option<i64>| t.filter(|&s| s > 0);
        Some(InstallReferrer {
            referrer: self.referrer,
            clicked_at_s: known(self.clicked_at_s),
            install_began_at_s: known(self.install_began_at_s),
        })
    }
}

/// Device fields that were allowed and collected; absent fields were not
/// allowed or not known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct DeviceInfo {
    /// Operating system name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Operating system version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// Device model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Device manufacturer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Locale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Time zone id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Mobile carrier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// App version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// Screen size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screen: Option<String>,
}

impl DeviceInfo {
    fn slot(&mut self, field: &str) -> Option<&mut Option<String>> {
        Some(match field {
            "os" => &mut self.os,
            "os_version" => &mut self.os_version,
            "model" => &mut self.model,
            "manufacturer" => &mut self.manufacturer,
            "locale" => &mut self.locale,
            "timezone" => &mut self.timezone,
            "carrier" => &mut self.carrier,
            "app_version" => &mut self.app_version,
            "screen" => &mut self.screen,
            _ => return None,
        })
    }

    /// True when no field is present.
    pub fn is_empty(&self) -> bool {
        *self == DeviceInfo::default()
    }

    /// Asks `provider` for each field whose category is allowed by
    /// `allowed` (a category bit mask) and returns what it answered.
    pub(crate) fn collect(
        policy: &Policy,
        allowed: u64,
        provider: &dyn DeviceInfoProvider,
    ) -> DeviceInfo {
        let mut info = DeviceInfo::default();
        for field in crate::policy::DEVICE_FIELDS {
            let Some(cat) = policy.category_of_field(field) else {
                continue;
            };
            if allowed & (1u64 << cat) == 0 {
                continue;
            }
            let value = match field {
                "os" => provider.os(),
                "os_version" => provider.os_version(),
                "model" => provider.model(),
                "manufacturer" => provider.manufacturer(),
                "locale" => provider.locale(),
                "timezone" => provider.timezone(),
                "carrier" => provider.carrier(),
                "app_version" => provider.app_version(),
                _ => provider.screen(),
            };
            if let Some(slot) = info.slot(field) {
                *slot = value.filter(|v| !v.is_empty());
            }
        }
        info
    }

    /// Drops every field whose category is not in `allowed`.
    pub(crate) fn retain_allowed(&mut self, policy: &Policy, allowed: u64) {
        for field in crate::policy::DEVICE_FIELDS {
            let keep = policy
                .category_of_field(field)
                .is_some_and(|c| allowed & (1u64 << c) != 0);
            if !keep {
                if let Some(slot) = self.slot(field) {
                    *slot = None;
                }
            }
        }
    }
}

/// App Tracking Transparency authorization (iOS); `NotApplicable` elsewhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, uniffi::Enum)]
pub enum AttStatus {
    /// The platform has no ATT (Android, older iOS).
    #[default]
    NotApplicable,
    /// The user has not been asked yet.
    NotDetermined,
    /// Tracking is restricted (parental controls, MDM).
    Restricted,
    /// The user refused tracking.
    Denied,
    /// The user allowed tracking.
    Authorized,
}

/// Signals the platform reports about the user's choices outside the app.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, uniffi::Record)]
pub struct PlatformSignals {
    /// ATT status (iOS).
    pub att_status: AttStatus,
    /// The system's limit-ad-tracking / opt-out-of-ads-personalisation switch.
    pub limit_ad_tracking: bool,
    /// A Global Privacy Control signal: sale-or-share purposes are denied.
    pub gpc: bool,
}

/// The age the app reports for the user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, uniffi::Record)]
pub struct AgeSignal {
    /// Age in years, if known.
    pub age_years: Option<i32>,
    /// A parent or guardian has consented.
    pub parental_consent: bool,
}

/// The advertising-id rule of SPEC §4: the `advertising_id` category is
/// allowed (`category_allowed`), ATT is authorized or not applicable, and
/// limit-ad-tracking is off. Checked before the provider is asked and again
/// when a batch is built.
pub(crate) fn ad_id_permitted(category_allowed: bool, signals: PlatformSignals) -> bool {
    category_allowed
        && !signals.limit_ad_tracking
        && matches!(
            signals.att_status,
            AttStatus::Authorized | AttStatus::NotApplicable
        )
}

/// What was collected from the host and is kept in memory for batches.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    /// Allowed device fields, as last collected.
    pub device: DeviceInfo,
    /// The advertising id, while allowed.
    pub ad_id: Option<String>,
    /// The app's user id as the app set it (sent only while `account_id` is allowed).
    pub user_id: Option<String>,
    /// The install referrer, while `install_referrer` is allowed.
    pub install_referrer: Option<InstallReferrer>,
}

impl Collected {
    /// Drops whatever the categories in `allowed` no longer cover (the user
    /// id is kept in memory: it is only sent while allowed, and kept on disk
    /// only then).
    pub fn retain_allowed(&mut self, policy: &Policy, allowed: u64) {
        self.device.retain_allowed(policy, allowed);
        let lost = |c: Option<usize>| c.is_none_or(|c| allowed & (1u64 << c) == 0);
        if lost(policy.reserved.advertising_id) {
            self.ad_id = None;
        }
        if lost(policy.reserved.install_referrer) {
            self.install_referrer = None;
        }
    }
}

/// True when the id is absent in substance: empty, or all zeros (the value
/// platforms return when tracking is limited).
pub(crate) fn is_null_ad_id(id: &str) -> bool {
    id.chars().all(|c| c == '0' || c == '-')
}
