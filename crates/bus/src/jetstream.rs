use crate::{Acker, BusError, BusMessage, Delivery, EventBus, Subscription};
use async_nats::{
    jetstream::{self, consumer::pull, stream},
    HeaderMap,
};
use async_trait::async_trait;
use futures::StreamExt;
use std::time::Duration;

/// How long JetStream remembers a message id for deduplication. The relay
/// republishes at most the batch that was in flight at a crash, well inside this.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Messages asked for per pull request.
const PULL_BATCH: usize = 1_000;
/// The client's default idle heartbeat, kept when setting the batch.
const IDLE_HEARTBEAT: Duration = Duration::from_secs(15);
/// Unacknowledged messages are delivered again after this. It bounds how long
/// a consumer that crashed holding a message leaves that message unapplied
/// (ordered consumers apply by source position, so a late redelivery cannot
/// undo a newer event; this bounds the window before it lands at all).
const ACK_WAIT: Duration = Duration::from_secs(5);

const H_EVENT_TYPE: &str = "Sellerdesk-Event-Type";
const H_SCHEMA: &str = "Sellerdesk-Schema-Version";
const H_SHOP: &str = "Sellerdesk-Shop-Id";
const H_STREAM: &str = "Sellerdesk-Stream-Id";
const H_POSITION: &str = "Sellerdesk-Global-Position";
const H_OCCURRED: &str = "Sellerdesk-Occurred-At";
const H_TRACEPARENT: &str = "traceparent";

/// NATS JetStream: one stream per service (`SELLERDESK_<SERVICE>`), durable
/// pull consumers with explicit acks, dedup by `Nats-Msg-Id` = event id.
#[derive(Debug, Clone)]
pub struct JetStreamBus {
    client: async_nats::Client,
    context: jetstream::Context,
    ack_wait: Duration,
}

impl JetStreamBus {
    /// Connects, or keeps trying in the background when NATS is not there
    /// yet: a service starts and takes writes into its outbox while the bus
    /// is down (the relay publishes once it is up). Only a malformed URL fails.
    pub async fn connect(url: &str) -> Result<Self, BusError> {
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(url)
            .await
            .map_err(|e| BusError::Connect(format!("{url}: {e}")))?;
        Ok(Self {
            context: jetstream::new(client.clone()),
            client,
            ack_wait: ACK_WAIT,
        })
    }

    /// How long an unacknowledged message waits before redelivery (default 30 s).
    pub fn with_ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    /// The service's stream, created on first use.
    pub async fn ensure_stream(&self, service: &str) -> Result<stream::Stream, BusError> {
        self.context
            .get_or_create_stream(stream::Config {
                name: stream_name(service),
                subjects: vec![format!("sellerdesk.{service}.>")],
                duplicate_window: DUPLICATE_WINDOW,
                ..Default::default()
            })
            .await
            .map_err(|e| BusError::Connect(e.to_string()))
    }
}

impl JetStreamBus {
    /// Deletes a service's stream and everything in it (tests, benchmarks).
    pub async fn delete_stream(&self, service: &str) -> Result<(), BusError> {
        self.context
            .delete_stream(stream_name(service))
            .await
            .map(|_| ())
            .map_err(|e| BusError::Connect(e.to_string()))
    }
}

/// `SELLERDESK_COMPLIANCE` for `compliance`.
pub fn stream_name(service: &str) -> String {
    format!(
        "SELLERDESK_{}",
        service.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

#[async_trait]
impl EventBus for JetStreamBus {
    fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    async fn publish(&self, messages: &[BusMessage]) -> Result<(), BusError> {
        let mut services: Vec<&str> = messages
            .iter()
            .filter_map(|m| m.subject.split('.').nth(1))
            .collect();
        services.dedup();
        for s in services {
            self.ensure_stream(s).await?;
        }
        // Pipelined: send all, then wait for every ack.
        let mut acks = Vec::with_capacity(messages.len());
        for m in messages {
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", m.event_id.to_string().as_str());
            headers.insert(H_EVENT_TYPE, m.event_type.as_str());
            headers.insert(H_SCHEMA, m.schema_version.to_string().as_str());
            headers.insert(H_SHOP, m.shop_id.as_str());
            headers.insert(H_STREAM, m.stream_id.as_str());
            headers.insert(H_POSITION, m.global_position.to_string().as_str());
            headers.insert(H_OCCURRED, m.occurred_at.to_rfc3339().as_str());
            if let Some(tp) = &m.traceparent {
                headers.insert(H_TRACEPARENT, tp.as_str());
            }
            let ack = self
                .context
                .publish_with_headers(m.subject.clone(), headers, m.payload.clone())
                .await
                .map_err(|e| BusError::Publish(e.to_string()))?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await.map_err(|e| BusError::Publish(e.to_string()))?;
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        service: &str,
        consumer: &str,
        filter: &str,
    ) -> Result<Box<dyn Subscription>, BusError> {
        let stream = self.ensure_stream(service).await?;
        let consumer = stream
            .get_or_create_consumer(
                consumer,
                pull::Config {
                    durable_name: Some(consumer.to_owned()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: self.ack_wait,
                    filter_subject: filter.to_owned(),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| BusError::Subscribe(e.to_string()))?;
        // Larger pulls than the client's default (200) halve the pull
        // requests a busy consumer makes; acks stay per message.
        let messages = consumer
            .stream()
            .max_messages_per_batch(PULL_BATCH)
            .heartbeat(IDLE_HEARTBEAT)
            .messages()
            .await
            .map_err(|e| BusError::Subscribe(e.to_string()))?;
        Ok(Box::new(JetStreamSubscription { messages }))
    }
}

struct JetStreamSubscription {
    messages: pull::Stream,
}

impl std::fmt::Debug for JetStreamSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamSubscription")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Subscription for JetStreamSubscription {
    async fn next(&mut self) -> Option<Result<Delivery, BusError>> {
        let message = match self.messages.next().await? {
            Ok(m) => m,
            Err(e) => return Some(Err(BusError::Receive(e.to_string()))),
        };
        Some(decode(message))
    }
}

fn decode(message: jetstream::Message) -> Result<Delivery, BusError> {
    let headers = message
        .headers
        .clone()
        .ok_or_else(|| BusError::Malformed("no headers".into()))?;
    let get = |name: &str| -> Result<String, BusError> {
        headers
            .get(name)
            .map(|v| v.as_str().to_owned())
            .ok_or_else(|| BusError::Malformed(format!("missing header {name}")))
    };
    let parse = |name: &str| -> Result<i64, BusError> {
        get(name)?
            .parse()
            .map_err(|_| BusError::Malformed(format!("bad header {name}")))
    };
    let delivered = message.info().map(|i| i.delivered as u64).unwrap_or(1);
    let msg = BusMessage {
        subject: message.subject.to_string(),
        event_id: get("Nats-Msg-Id")?
            .parse()
            .map_err(|_| BusError::Malformed("bad Nats-Msg-Id".into()))?,
        event_type: get(H_EVENT_TYPE)?,
        schema_version: parse(H_SCHEMA)? as i32,
        shop_id: get(H_SHOP)?,
        stream_id: get(H_STREAM)?,
        global_position: parse(H_POSITION)?,
        occurred_at: chrono::DateTime::parse_from_rfc3339(&get(H_OCCURRED)?)
            .map_err(|_| BusError::Malformed("bad occurred-at".into()))?
            .with_timezone(&chrono::Utc),
        traceparent: headers.get(H_TRACEPARENT).map(|v| v.as_str().to_owned()),
        payload: message.payload.clone(),
    };
    Ok(Delivery {
        message: msg,
        delivered,
        acker: Acker::JetStream(Box::new(message)),
    })
}
