//! PagerDuty Events API v2: one `dedup_key` per incident, trigger then resolve.
use reqwest::Url;
use serde::Serialize;

use super::{Notification, NotificationKind, Severity};
use crate::config::{Secret, SecretRef};

/// The public Events API v2 endpoint.
pub const DEFAULT_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// Longest `payload.summary` the Events API accepts, in characters.
pub const MAX_SUMMARY_CHARS: usize = 1024;

/// A PagerDuty service integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagerDuty {
    /// Where events go: [`DEFAULT_EVENTS_URL`], or a compatible receiver in tests.
    pub events_url: Url,
    /// The integration's routing key; read at each delivery so a rotated secret is picked up.
    pub routing_key: SecretRef,
    /// Shown in PagerDuty as the sender (`client`), e.g. `natsdr eu-central-1`.
    pub client: String,
    /// A link shown next to `client`, e.g. the watchdog's `/v1/status`.
    pub client_url: Option<Url>,
}

impl PagerDuty {
    /// PagerDuty pages people: it gets an incident's trigger, acknowledge and resolve, never
    /// `Info`.
    pub fn accepts(&self, n: &Notification) -> bool {
        match n.kind {
            NotificationKind::Trigger
            | NotificationKind::Acknowledge
            | NotificationKind::Resolve => true,
            NotificationKind::Info => false,
        }
    }
}

/// `event_action` of the Events API v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum EventAction {
    Trigger,
    Acknowledge,
    Resolve,
}

/// An Events API v2 request body. Acknowledge and resolve carry only the key, action and
/// dedup key; trigger adds the payload and client fields.
#[derive(Debug, Serialize)]
struct Event<'a> {
    routing_key: &'a str,
    event_action: EventAction,
    dedup_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<Payload<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_url: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Payload<'a> {
    summary: String,
    source: &'a str,
    severity: Severity,
    #[serde(with = "time::serde::rfc3339")]
    timestamp: time::OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    component: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<&'a str>,
    custom_details: &'a serde_json::Map<String, serde_json::Value>,
}

/// The JSON body for `n`. `Info` (which [`PagerDuty::accepts`] filters out) is sent as a trigger
/// would be, so the function stays total.
pub(crate) fn event_body(
    pd: &PagerDuty,
    routing_key: &Secret,
    n: &Notification,
) -> serde_json::Result<Vec<u8>> {
    let action = match n.kind {
        NotificationKind::Trigger | NotificationKind::Info => EventAction::Trigger,
        NotificationKind::Acknowledge => EventAction::Acknowledge,
        NotificationKind::Resolve => EventAction::Resolve,
    };
    let is_trigger = action == EventAction::Trigger;
    let event = Event {
        routing_key: routing_key.expose(),
        event_action: action,
        dedup_key: n.incident.as_str(),
        payload: is_trigger.then(|| Payload {
            summary: summary_line(&n.summary),
            source: &n.source,
            severity: n.severity,
            timestamp: n.timestamp,
            component: n.component.as_deref(),
            group: n.group.as_deref(),
            class: n.class.as_deref(),
            custom_details: &n.details,
        }),
        client: is_trigger.then_some(pd.client.as_str()),
        client_url: is_trigger
            .then_some(pd.client_url.as_ref().map(Url::as_str))
            .flatten(),
    };
    serde_json::to_vec(&event)
}

/// One line of at most [`MAX_SUMMARY_CHARS`] characters; a cut summary ends with `…` so the
/// reader knows there is more (in `custom_details` or the logs).
fn summary_line(s: &str) -> String {
    let line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.chars().count() <= MAX_SUMMARY_CHARS {
        return line;
    }
    let mut cut: String = line.chars().take(MAX_SUMMARY_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn sink() -> PagerDuty {
        PagerDuty {
            events_url: DEFAULT_EVENTS_URL.parse().unwrap(),
            routing_key: SecretRef::Inline("R0UT1NG".into()),
            client: "natsdr eu-central-1".into(),
            client_url: Some("http://natsdr.example:8080/v1/status".parse().unwrap()),
        }
    }

    fn notification(kind: NotificationKind, summary: &str) -> Notification {
        let mut n = Notification::example(kind, summary);
        n.details.insert("epoch".into(), json!(7));
        n
    }

    fn body(kind: NotificationKind, summary: &str) -> Value {
        let bytes = event_body(
            &sink(),
            &Secret::new("R0UT1NG"),
            &notification(kind, summary),
        );
        serde_json::from_slice(&bytes.unwrap()).unwrap()
    }

    #[test]
    fn a_trigger_carries_the_full_events_v2_payload() {
        assert_eq!(
            body(NotificationKind::Trigger, "failing over to eu-central-1"),
            json!({
                "routing_key": "R0UT1NG",
                "event_action": "trigger",
                "dedup_key": "natsdr-epoch-7",
                "payload": {
                    "summary": "failing over to eu-central-1",
                    "source": "natsdr-eu-central-1",
                    "severity": "critical",
                    "timestamp": "2023-11-14T22:13:20Z",
                    "component": "us-east-1",
                    "group": "us-east-1",
                    "class": "failover",
                    "custom_details": {"epoch": 7}
                },
                "client": "natsdr eu-central-1",
                "client_url": "http://natsdr.example:8080/v1/status"
            })
        );
    }

    #[test]
    fn resolve_and_acknowledge_carry_only_key_action_and_dedup_key() {
        for (kind, action) in [
            (NotificationKind::Resolve, "resolve"),
            (NotificationKind::Acknowledge, "acknowledge"),
        ] {
            assert_eq!(
                body(kind, "healthy"),
                json!({"routing_key": "R0UT1NG", "event_action": action, "dedup_key": "natsdr-epoch-7"})
            );
        }
    }

    #[test]
    fn a_long_or_multi_line_summary_becomes_one_line_of_at_most_1024_characters() {
        let long = "é\n".repeat(2000);
        let v = body(NotificationKind::Trigger, &long);
        let summary = v["payload"]["summary"].as_str().unwrap();
        assert_eq!(summary.chars().count(), MAX_SUMMARY_CHARS);
        assert!(summary.ends_with('…'));
        assert!(!summary.contains('\n'));
        let short = body(NotificationKind::Trigger, "x".repeat(1024).as_str());
        assert_eq!(short["payload"]["summary"].as_str().unwrap().len(), 1024);
    }

    #[test]
    fn pagerduty_never_gets_info_notifications() {
        assert!(!sink().accepts(&notification(NotificationKind::Info, "paused")));
        assert!(sink().accepts(&notification(NotificationKind::Resolve, "ok")));
    }
}
