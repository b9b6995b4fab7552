use crate::{BusMessage, EventBus};
use sellerdesk_eventstore::EventStore;
use std::{sync::Arc, time::Duration};

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

const RETRY: Duration = Duration::from_millis(500);
const POLL: Duration = Duration::from_millis(200);

/// Follows the log from the stored checkpoint and publishes every event, for
/// ever. The checkpoint is saved only after the bus stored a batch, so a crash
/// anywhere republishes at most that batch, which the bus deduplicates by event
/// id. Safe to abort at any await point.
pub async fn relay(store: Arc<dyn EventStore>, bus: Arc<dyn EventBus>, options: RelayOptions) {
    let mut head = store.watch_head();
    let mut position = if options.persist_checkpoint {
        loop {
            match store.load_checkpoint(&options.checkpoint).await {
                Ok(p) => break p,
                Err(e) => {
                    tracing::warn!(error = %e, service = %options.service, "outbox relay cannot load its checkpoint");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    } else {
        0
    };
    loop {
        let batch = match store.read_all(position, options.batch).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, service = %options.service, "outbox relay cannot read the log");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        let Some(last) = batch.last().map(|e| e.global_position) else {
            let _ = tokio::time::timeout(POLL, head.changed()).await;
            continue;
        };
        let messages: Vec<BusMessage> = batch
            .iter()
            .map(|e| BusMessage::from_event(&options.service, e))
            .collect();
        if let Err(e) = bus.publish(&messages).await {
            tracing::warn!(error = %e, service = %options.service, position, "outbox relay cannot publish; retrying");
            tokio::time::sleep(RETRY).await;
            continue;
        }
        if options.persist_checkpoint {
            while let Err(e) = store.save_checkpoint(&options.checkpoint, last).await {
                tracing::warn!(error = %e, service = %options.service, "outbox relay cannot save its checkpoint");
                tokio::time::sleep(RETRY).await;
            }
        }
        tracing::debug!(service = %options.service, from = position, to = last, "published");
        position = last;
    }
}
