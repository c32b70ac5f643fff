//! Notifications: PagerDuty Events API v2 and signed JSON webhooks, delivered asynchronously.
//!
//! The driver turns `Action::Notify` into a [`Notification`] and calls
//! [`NotifierHandle::send`], which only queues it. One task per sink delivers in order, retries
//! 408/429/5xx and transport errors with exponential backoff until a per-notification deadline,
//! and reports every outcome (sent, failed, dropped) to a [`DeliveryObserver`].
mod backoff;
mod error;
mod notification;
mod notifier;
mod observer;
pub mod pagerduty;
mod queue;
mod sink;
pub mod webhook;

pub use backoff::Backoff;
pub use error::{DeliveryError, NotifyError};
pub use notification::{IncidentId, Notification, NotificationKind, Severity};
pub use notifier::{DeliveryPolicy, Notifier, NotifierHandle};
pub use observer::{DeliveryCounts, DeliveryObserver, DeliveryResult, SinkKind};
pub use pagerduty::PagerDuty;
pub use sink::Sink;
pub use webhook::Webhook;
