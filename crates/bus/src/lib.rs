//! How services tell each other what happened (R-X-2).
//!
//! A service never publishes from a request handler. Its events are committed
//! to its own log; the [`relay()`] follows the log from a stored checkpoint and
//! publishes (a transactional outbox), so a crash between commit and publish
//! loses nothing. Consumers ([`consume`]) record each upstream event they acted
//! on in the same transaction as the events they append, so a redelivery has no
//! second effect.
//!
//! Two buses: [`InProcessBus`] for the embedded single-process mode and
//! [`JetStreamBus`] for production. Subjects are `sellerdesk.<service>.<event>`,
//! one JetStream stream per service, deduplicated by `Nats-Msg-Id` = event id.

mod consumer;
mod inprocess;
mod jetstream;
mod metrics;
mod relay;

pub use consumer::{consume, Handler};
pub use inprocess::InProcessBus;
pub mod traced;
pub use jetstream::{stream_name, JetStreamBus, DEFAULT_MAX_AGE, DEFAULT_MAX_BYTES};
pub use relay::{relay, RelayOptions};

use async_trait::async_trait;
use bytes::Bytes;
use sellerdesk_eventstore::RecordedEvent;
use uuid::Uuid;

/// One event on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct BusMessage {
    pub subject: String,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub shop_id: String,
    pub stream_id: String,
    /// Position in the publishing service's log.
    pub global_position: i64,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub traceparent: Option<String>,
    pub payload: Bytes,
}

impl BusMessage {
    /// The message for an event of `service`'s log.
    pub fn from_event(service: &str, event: &RecordedEvent) -> Self {
        Self {
            subject: subject(service, &event.event_type),
            event_id: event.event_id,
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            shop_id: event.shop_id.clone(),
            stream_id: event.stream_id.clone(),
            global_position: event.global_position,
            occurred_at: event.occurred_at,
            traceparent: event.metadata.traceparent.clone(),
            payload: Bytes::from(event.payload.clone()),
        }
    }
}

/// `sellerdesk.<service>.<event_type in snake_case>`, e.g.
/// `sellerdesk.compliance.selling_rights_revoked`.
pub fn subject(service: &str, event_type: &str) -> String {
    let mut s = format!("sellerdesk.{service}.");
    for (i, c) in event_type.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                s.push('_');
            }
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

/// A message handed to a consumer; acknowledge it once its effect is committed.
#[derive(Debug)]
pub struct Delivery {
    pub message: BusMessage,
    /// How many times this message has been delivered (1 the first time).
    pub delivered: u64,
    /// Messages the consumer has yet to receive after this one (its lag), as
    /// the server counted when it sent this one; 0 where the bus cannot tell.
    pub pending: u64,
    acker: Acker,
}

#[derive(Debug)]
enum Acker {
    InProcess(inprocess::InProcessAck),
    /// The message, and how long the server waits for its ack before it
    /// hands it to another consumer.
    JetStream(Box<async_nats::jetstream::Message>, std::time::Duration),
}

impl Delivery {
    pub async fn ack(self) -> Result<(), BusError> {
        match self.acker {
            Acker::InProcess(a) => {
                a.ack();
                Ok(())
            }
            Acker::JetStream(m, _) => m.ack().await.map_err(|e| BusError::Ack(e.to_string())),
        }
    }

    /// How often a consumer still working on this delivery says so
    /// ([`Self::in_progress`]), so that the bus does not deliver it again
    /// meanwhile: half the ack wait. None where nothing is delivered again
    /// while a consumer lives (the in-process bus).
    pub fn keep_alive_every(&self) -> Option<std::time::Duration> {
        match &self.acker {
            Acker::InProcess(_) => None,
            Acker::JetStream(_, ack_wait) => Some(*ack_wait / 2),
        }
    }

    /// Tells the bus this delivery is still being worked on: its ack wait
    /// starts again.
    pub async fn in_progress(&self) -> Result<(), BusError> {
        match &self.acker {
            Acker::InProcess(_) => Ok(()),
            Acker::JetStream(m, _) => m
                .ack_with(async_nats::jetstream::AckKind::Progress)
                .await
                .map_err(|e| BusError::Ack(e.to_string())),
        }
    }
}

/// A durable subscription: what is not acknowledged is delivered again.
#[async_trait]
pub trait Subscription: Send + std::fmt::Debug {
    /// The next delivery; `None` when the bus shut down.
    async fn next(&mut self) -> Option<Result<Delivery, BusError>>;
}

#[async_trait]
pub trait EventBus: Send + Sync + std::fmt::Debug + 'static {
    /// Whether the bus answers now (health reports it; writes go on into the
    /// outbox either way).
    fn connected(&self) -> bool {
        true
    }

    /// Publishes in order and returns once the bus has stored them all.
    /// Publishing an event id again is harmless (deduplicated).
    async fn publish(&self, messages: &[BusMessage]) -> Result<(), BusError>;

    /// A durable consumer named `consumer` of `service`'s events whose subject
    /// matches `filter` (NATS wildcards), resuming where it last acknowledged.
    async fn subscribe(
        &self,
        service: &str,
        consumer: &str,
        filter: &str,
    ) -> Result<Box<dyn Subscription>, BusError>;
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot reach the bus: {0}")]
    Connect(String),
    #[error("publish failed: {0}")]
    Publish(String),
    #[error("subscribe failed: {0}")]
    Subscribe(String),
    #[error("receive failed: {0}")]
    Receive(String),
    /// The subscription will get nothing more as it is (its stream or
    /// consumer is gone, or no server answers its pulls): the consumer
    /// subscribes again at once rather than after more failures.
    #[error("subscription gone: {0}")]
    Gone(String),
    #[error("ack failed: {0}")]
    Ack(String),
    #[error("malformed message: {0}")]
    Malformed(String),
}
