//! Generic webhooks against a real local receiver: the JSON body and its HMAC signature.
mod common;

use std::sync::Arc;

use common::notify::{WITHIN, delivered, spawn_quick};
use natsdr::config::SecretRef;
use natsdr::notify::webhook::{self, SIGNATURE_HEADER, signature};
use natsdr::notify::{
    DeliveryCounts, DeliveryResult, IncidentId, Notification, NotificationKind, NotifierHandle,
    Severity, Sink, SinkKind, Webhook,
};
use natsdr_lab::testkit::receiver::{Receiver, ReceiverOptions};

fn notification(kind: NotificationKind) -> Notification {
    Notification {
        incident: IncidentId::new("natsdr-epoch-3").unwrap(),
        kind,
        severity: Severity::Info,
        summary: "watchdog paused by alice: maintenance".into(),
        source: "natsdr-us-east-1".into(),
        component: None,
        group: None,
        class: Some("pause".into()),
        timestamp: time::OffsetDateTime::now_utc(),
        details: serde_json::Map::new(),
    }
}

/// A notifier posting to `rx`'s webhook, signing with `secret` if any, and its counts.
fn start(rx: &Receiver, secret: Option<&str>) -> (NotifierHandle, Arc<DeliveryCounts>) {
    let webhook = Sink::Webhook(Webhook {
        name: "chat-oncall".into(),
        url: rx.webhook_url(),
        secret: secret.map(|s| SecretRef::Inline(s.into())),
    });
    spawn_quick(vec![webhook], 8)
}

/// A receiver that verifies webhook signatures with `key`.
async fn verifying(key: &str) -> Receiver {
    Receiver::start(ReceiverOptions {
        hmac_key: Some(key.into()),
        ..ReceiverOptions::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_signed_webhook_carries_the_notification_and_a_signature_the_receiver_verifies() {
    let rx = verifying("sh4red-secret").await;
    let (notifier, counts) = start(&rx, Some("sh4red-secret"));

    let sent = notification(NotificationKind::Info);
    notifier.send(sent.clone());

    let got = rx.wait_for(1, WITHIN).await.unwrap();
    assert_eq!(got[0].problems, Vec::<String>::new());
    assert_eq!(got[0].status, Some(202));
    let header = got[0].headers[SIGNATURE_HEADER].to_str().unwrap();
    assert_eq!(header, signature(b"sh4red-secret", &got[0].body));
    // The Standard Webhooks headers: the id of this body, a fresh timestamp, a signature over
    // both and the body.
    let text = |name: &str| got[0].headers[name].to_str().unwrap().to_owned();
    assert_eq!(text(webhook::ID_HEADER), webhook::message_id(&got[0].body));
    let ts: i64 = text(webhook::TIMESTAMP_HEADER).parse().unwrap();
    assert_eq!(
        text(webhook::STANDARD_SIGNATURE_HEADER),
        webhook::standard_signature(
            b"sh4red-secret",
            &text(webhook::ID_HEADER),
            ts,
            &got[0].body
        )
    );
    let received: Notification = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(received, sent);
    delivered(&counts, SinkKind::Webhook, DeliveryResult::Sent, 1).await;
}

#[tokio::test]
async fn a_webhook_signed_with_the_wrong_key_is_refused_and_not_retried() {
    let rx = verifying("the-receivers-key").await;
    let (notifier, counts) = start(&rx, Some("a-stale-key"));

    notifier.send(notification(NotificationKind::Trigger));

    delivered(&counts, SinkKind::Webhook, DeliveryResult::Failed, 1).await;
    let got = rx.requests();
    assert_eq!(got.len(), 1, "a 401 must not be retried");
    assert_eq!(got[0].status, Some(401));
    assert_eq!(
        got[0].problems,
        [
            format!("{SIGNATURE_HEADER} does not match the body"),
            webhook::StandardVerifyError::Mismatch.to_string(),
        ]
    );
}

#[tokio::test]
async fn an_unsigned_webhook_sends_no_signature_header() {
    let rx = Receiver::start(ReceiverOptions::default()).await.unwrap();
    let (notifier, _counts) = start(&rx, None);

    notifier.send(notification(NotificationKind::Resolve));

    let got = rx.wait_for(1, WITHIN).await.unwrap();
    assert!(got[0].headers.get(SIGNATURE_HEADER).is_none());
    assert!(
        got[0]
            .headers
            .get(webhook::STANDARD_SIGNATURE_HEADER)
            .is_none()
    );
    assert_eq!(got[0].json()["kind"], "resolve");
}
