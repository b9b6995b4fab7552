use crate::{Acker, BusError, BusMessage, Delivery, EventBus, Subscription};
use async_trait::async_trait;
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};
use tokio::sync::Notify;
use uuid::Uuid;

/// The bus of the embedded mode: every service in one process.
///
/// It keeps messages in memory only. That is enough because the log is the
/// outbox: at start the embedded relay republishes from the beginning of each
/// log and consumers' inboxes drop what they already processed.
#[derive(Debug, Clone, Default)]
pub struct InProcessBus {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<HashMap<String, Log>>,
    published: Notify,
}

#[derive(Debug, Default)]
struct Log {
    messages: Vec<BusMessage>,
    ids: HashSet<Uuid>,
    consumers: HashMap<String, ConsumerState>,
}

#[derive(Debug, Default)]
struct ConsumerState {
    /// Every message below this index is acknowledged.
    floor: usize,
    acked: HashSet<usize>,
    deliveries: HashMap<usize, u64>,
}

impl ConsumerState {
    fn ack(&mut self, index: usize) {
        self.acked.insert(index);
        while self.acked.remove(&self.floor) {
            self.deliveries.remove(&self.floor);
            self.floor += 1;
        }
    }
}

impl InProcessBus {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, messages: &[BusMessage]) -> Result<(), BusError> {
        let service_of =
            |m: &BusMessage| m.subject.split('.').nth(1).unwrap_or_default().to_owned();
        {
            let mut state = self.shared.state.lock().expect("bus lock");
            for m in messages {
                let log = state.entry(service_of(m)).or_default();
                if log.ids.insert(m.event_id) {
                    log.messages.push(m.clone());
                }
            }
        }
        self.shared.published.notify_waiters();
        Ok(())
    }

    async fn subscribe(
        &self,
        service: &str,
        consumer: &str,
        filter: &str,
    ) -> Result<Box<dyn Subscription>, BusError> {
        let cursor = {
            let mut state = self.shared.state.lock().expect("bus lock");
            let log = state.entry(service.to_owned()).or_default();
            log.consumers.entry(consumer.to_owned()).or_default().floor
        };
        Ok(Box::new(InProcessSubscription {
            shared: self.shared.clone(),
            service: service.to_owned(),
            consumer: consumer.to_owned(),
            filter: filter.to_owned(),
            cursor,
        }))
    }
}

#[derive(Debug)]
struct InProcessSubscription {
    shared: Arc<Shared>,
    service: String,
    consumer: String,
    filter: String,
    cursor: usize,
}

#[async_trait]
impl Subscription for InProcessSubscription {
    async fn next(&mut self) -> Option<Result<Delivery, BusError>> {
        loop {
            let published = self.shared.published.notified();
            tokio::pin!(published);
            published.as_mut().enable();
            {
                let mut state = self.shared.state.lock().expect("bus lock");
                let log = state.entry(self.service.clone()).or_default();
                let consumer = log.consumers.entry(self.consumer.clone()).or_default();
                self.cursor = self.cursor.max(consumer.floor);
                while self.cursor < log.messages.len() {
                    let index = self.cursor;
                    self.cursor += 1;
                    let message = &log.messages[index];
                    if consumer.acked.contains(&index)
                        || !subject_matches(&self.filter, &message.subject)
                    {
                        continue;
                    }
                    let count = consumer.deliveries.entry(index).or_insert(0);
                    *count += 1;
                    return Some(Ok(Delivery {
                        message: message.clone(),
                        delivered: *count,
                        pending: 0,
                        acker: Acker::InProcess(InProcessAck {
                            shared: self.shared.clone(),
                            service: self.service.clone(),
                            consumer: self.consumer.clone(),
                            index,
                        }),
                    }));
                }
            }
            published.await;
        }
    }
}

#[derive(Debug)]
pub(crate) struct InProcessAck {
    shared: Arc<Shared>,
    service: String,
    consumer: String,
    index: usize,
}

impl InProcessAck {
    pub(crate) fn ack(self) {
        let mut state = self.shared.state.lock().expect("bus lock");
        if let Some(log) = state.get_mut(&self.service) {
            log.consumers
                .entry(self.consumer)
                .or_default()
                .ack(self.index);
        }
    }
}

/// NATS subject matching: `*` is one token, `>` the rest.
pub(crate) fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::subject_matches;

    #[test]
    fn wildcards_follow_nats() {
        assert!(subject_matches(
            "sellerdesk.compliance.>",
            "sellerdesk.compliance.tier_changed"
        ));
        assert!(subject_matches(
            "sellerdesk.*.tier_changed",
            "sellerdesk.compliance.tier_changed"
        ));
        assert!(!subject_matches(
            "sellerdesk.compliance.>",
            "sellerdesk.compliance"
        ));
        assert!(!subject_matches(
            "sellerdesk.ads.>",
            "sellerdesk.compliance.x"
        ));
        assert!(subject_matches("a.b", "a.b"));
        assert!(!subject_matches("a.b", "a.b.c"));
    }
}
