use crate::{BusMessage, EventBus};
use sellerdesk_eventstore::{EventStore, Follower, RecordedEvent};
use std::sync::Arc;

/// What the outbox relay of one service does.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// The service whose log this is; names the subjects.
    pub service: String,
    /// Name of the stored checkpoint.
    pub checkpoint: String,
    /// Events published per round trip.
    pub batch: i64,
    /// False for the in-process bus, which forgets everything on restart: the
    /// relay then republishes from the start and consumers' inboxes deduplicate.
    pub persist_checkpoint: bool,
}

impl RelayOptions {
    pub fn new(service: &str, durable_bus: bool) -> Self {
        Self {
            service: service.to_owned(),
            checkpoint: format!("outbox-relay:{service}"),
            batch: 500,
            persist_checkpoint: durable_bus,
        }
    }
}

/// Follows the log from the stored checkpoint and publishes every event, for
/// ever. The checkpoint is saved only after the bus stored a batch, so a crash
/// anywhere republishes at most that batch, which the bus deduplicates by event
/// id. Safe to abort at any await point.
pub async fn relay(store: Arc<dyn EventStore>, bus: Arc<dyn EventBus>, options: RelayOptions) {
    // The log's head as this process last saw it, for the backlog figure.
    let head = store.watch_head();
    let follower = if options.persist_checkpoint {
        Follower::checkpointed(store, &options.checkpoint, options.batch)
    } else {
        Follower::after(store, &options.checkpoint, 0, options.batch)
    };
    let service = options.service;
    follower
        .run(|batch: Vec<RecordedEvent>| {
            let mut messages: Vec<BusMessage> = batch
                .iter()
                .map(|e| BusMessage::from_event(&service, e))
                .collect();
            let spans = crate::traced::produce(&service, &mut messages);
            let bus = bus.clone();
            let (service, head) = (service.clone(), head.clone());
            async move {
                let started = std::time::Instant::now();
                let published = bus.publish(&messages).await;
                tracing::debug!(
                    service,
                    events = messages.len(),
                    last = messages.last().map(|m| m.global_position),
                    took_ms = started.elapsed().as_millis() as u64,
                    ok = published.is_ok(),
                    "relay batch published"
                );
                match (&published, messages.last()) {
                    (Ok(()), Some(last)) => crate::metrics::relayed(
                        &service,
                        messages.len(),
                        last.global_position,
                        *head.borrow(),
                    ),
                    (Ok(()), None) => {}
                    (Err(_), _) => {
                        crate::metrics::publish_failed(&service);
                        crate::traced::failed(&spans);
                    }
                }
                published
            }
        })
        .await
}
