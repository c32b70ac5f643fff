//! The notification the driver hands to the notifier: plain data, one per state change worth telling.
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::NotifyError;

/// What a notification does to its incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// Opens the incident (or updates it while it is open): pages someone on PagerDuty.
    Trigger,
    /// An operator has taken the incident (e.g. acknowledged a Blocked hold): stops escalation
    /// without closing it.
    Acknowledge,
    /// Closes the incident: the system is healthy again.
    Resolve,
    /// For the record only (a pause, a finished switchover): goes to webhooks, never pages.
    Info,
}

/// How bad it is; the four PagerDuty severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Someone must act now (a failover is running, or natsdr is blocked waiting for an operator).
    Critical,
    /// Something failed that natsdr could not fix alone.
    Error,
    /// Something looks wrong but natsdr is still only watching (e.g. Suspect).
    Warning,
    /// Nothing is wrong.
    Info,
}

/// One incident's identity. It becomes the PagerDuty `dedup_key`, so every notification of one
/// incident (trigger, updates, resolve) must carry the same id, and a new incident a new one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IncidentId(String);

impl IncidentId {
    /// Longest id PagerDuty accepts as a `dedup_key`.
    pub const MAX_LEN: usize = 255;

    /// Parses an id: 1 to 255 characters, no control characters.
    pub fn new(s: impl Into<String>) -> Result<Self, NotifyError> {
        let s = s.into();
        let len = s.chars().count();
        if len == 0 || len > Self::MAX_LEN || s.chars().any(char::is_control) {
            return Err(NotifyError::BadIncidentId { id: s });
        }
        Ok(Self(s))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IncidentId {
    type Error = NotifyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<IncidentId> for String {
    fn from(id: IncidentId) -> Self {
        id.0
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A notification as the driver fills it. It is also the JSON body a webhook receives.
///
/// `details` carries whatever helps the person paged: from/to state, epoch, active and failed
/// region, the transition's reason, mirror lags, phase timings. Never put a secret in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The incident this belongs to (PagerDuty's `dedup_key`).
    pub incident: IncidentId,
    /// Trigger, acknowledge, resolve or info.
    pub kind: NotificationKind,
    /// How bad it is.
    pub severity: Severity,
    /// One line a person reads first; PagerDuty gets at most 1024 characters of it.
    pub summary: String,
    /// Who says so: the watchdog's id (e.g. `natsdr-eu-central-1`).
    pub source: String,
    /// The part of the system concerned (e.g. a region, `dns`, a stream).
    pub component: Option<String>,
    /// A logical group of components (e.g. the JetStream domain).
    pub group: Option<String>,
    /// The class of event (e.g. `failover`, `suspect`, `blocked`).
    pub class: Option<String>,
    /// When it happened (the driver's clock, not the send time).
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// Structured context for the responder.
    pub details: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
impl Notification {
    /// A well-formed page about a failover, for tests of what carries or encodes one.
    pub(crate) fn example(kind: NotificationKind, summary: &str) -> Self {
        Self {
            incident: IncidentId::new("natsdr-epoch-7").unwrap(),
            kind,
            severity: Severity::Critical,
            summary: summary.into(),
            source: "natsdr-eu-central-1".into(),
            component: Some("us-east-1".into()),
            group: Some("us-east-1".into()),
            class: Some("failover".into()),
            timestamp: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            details: serde_json::Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_ids_must_fit_a_pagerduty_dedup_key() {
        assert!(IncidentId::new("natsdr-us-east-1-epoch-7").is_ok());
        assert!(IncidentId::new("").is_err());
        assert!(IncidentId::new("x".repeat(255)).is_ok());
        assert!(IncidentId::new("x".repeat(256)).is_err());
        assert!(IncidentId::new("a\nb").is_err());
    }

    #[test]
    fn a_notification_round_trips_through_its_webhook_json() {
        let n = Notification::example(NotificationKind::Trigger, "failing over");
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!(json["kind"], "trigger");
        assert_eq!(json["severity"], "critical");
        assert_eq!(json["timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(serde_json::from_value::<Notification>(json).unwrap(), n);
    }
}
