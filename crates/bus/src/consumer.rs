use crate::{BusMessage, Delivery, EventBus};
use async_trait::async_trait;
use sellerdesk_eventstore::{Append, AppendError, EventStore, ExpectedVersion};
use std::{sync::Arc, time::Duration};
use tracing::Instrument;

/// What a consuming service does with one upstream event: decide on fresh state
/// and return the events to append (or `None` when it changes nothing).
#[async_trait]
pub trait Handler: Send + Sync {
    async fn handle(&self, message: &BusMessage) -> Result<Option<Append>, String>;
}

/// Stream that holds only inbox marks of events that changed nothing.
const NO_EFFECT_STREAM: &str = "$inbox";
const RETRY: Duration = Duration::from_millis(500);

/// Runs a durable consumer until its task is stopped. Each upstream event's
/// effect and its inbox mark commit in one transaction; the ack comes after,
/// so a crash before the ack brings a redelivery that the inbox turns into a
/// no-op. It (re)subscribes with backoff while the bus is down, when the
/// subscription ends, and after repeated receive errors (NATS restarted
/// without its data, the consumer deleted), so a consumer never stays deaf
/// until a restart.
pub async fn consume(
    bus: Arc<dyn EventBus>,
    store: Arc<dyn EventStore>,
    service: String,
    consumer: String,
    filter: String,
    handler: Arc<dyn Handler>,
) {
    let mut backoff = RETRY;
    let mut allowed = SUBSCRIBE_WITHIN;
    loop {
        let subscribing = bus.subscribe(&service, &consumer, &filter);
        let subscribed = match tokio::time::timeout(allowed, subscribing).await {
            Ok(subscribed) => subscribed,
            Err(_) => Err(crate::BusError::Subscribe(format!(
                "no answer within {allowed:?}"
            ))),
        };
        match subscribed {
            Ok(subscription) => {
                tracing::debug!(consumer, filter, "subscribed");
                backoff = RETRY;
                allowed = SUBSCRIBE_WITHIN;
                consume_subscription(subscription, &store, &consumer, &handler).await;
                tracing::warn!(consumer, "subscription ended; subscribing again");
            }
            Err(e) => {
                tracing::warn!(error = %e, consumer, ?backoff, "cannot subscribe; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                allowed = (allowed * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// How long a first attempt to subscribe may take; each failure doubles it,
/// up to [`MAX_BACKOFF`], so a bus that is merely slow still gets there.
/// Right after every NATS node restarted, a request to JetStream went
/// unanswered until the client's own timeout (10 s) while the cluster chose
/// its leaders, and ads' consumers stayed deaf that long, where a second try
/// a moment later was answered.
const SUBSCRIBE_WITHIN: Duration = Duration::from_secs(2);

const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Receive errors in a row after which the subscription is made anew.
const RESUBSCRIBE_AFTER: u32 = 5;

async fn consume_subscription(
    mut subscription: Box<dyn crate::Subscription>,
    store: &Arc<dyn EventStore>,
    consumer: &str,
    handler: &Arc<dyn Handler>,
) {
    let mut errors_in_a_row = 0;
    while let Some(delivery) = subscription.next().await {
        let delivery = match delivery {
            Ok(d) => {
                errors_in_a_row = 0;
                d
            }
            Err(e) => {
                errors_in_a_row += 1;
                tracing::warn!(error = %e, consumer, "receive failed");
                // A server that lost its store (recreated without its
                // volume) no longer has the stream or the durable consumer:
                // subscribing makes both again, so do it now rather than
                // after more failures.
                if errors_in_a_row >= RESUBSCRIBE_AFTER || matches!(e, crate::BusError::Gone(_)) {
                    return;
                }
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        let id = delivery.message.event_id;
        crate::metrics::received(consumer, delivery.delivered, delivery.pending);
        let span = crate::traced::consume(consumer, &delivery.message);
        let started = std::time::Instant::now();
        let handling = apply(store, consumer, handler, &delivery.message).instrument(span);
        let outcome = keeping_alive(&delivery, handling).await;
        // One line per delivery, to read a consumer's pace after the fact.
        tracing::debug!(
            consumer,
            event_id = %id,
            position = delivery.message.global_position,
            delivered = delivery.delivered,
            pending = delivery.pending,
            took_ms = started.elapsed().as_millis() as u64,
            outcome,
            "delivery handled"
        );
        if let Err(e) = delivery.ack().await {
            // Harmless: the redelivery will find the inbox mark.
            tracing::warn!(error = %e, consumer, event_id = %id, "ack failed");
        }
    }
}

/// Commits one delivery's effect with its inbox mark, retrying until it
/// holds; whether it was applied now or had been before ("duplicate").
async fn apply(
    store: &Arc<dyn EventStore>,
    consumer: &str,
    handler: &Arc<dyn Handler>,
    message: &crate::BusMessage,
) -> &'static str {
    let id = message.event_id;
    if matches!(store.is_processed(consumer, id).await, Ok(true)) {
        crate::metrics::handled(consumer, "duplicate");
        return "duplicate";
    }
    loop {
        let append = match handler.handle(message).await {
            Ok(Some(a)) => a,
            Ok(None) => Append::new(NO_EFFECT_STREAM, ExpectedVersion::Any, vec![]),
            Err(e) => {
                tracing::Span::current().record("otel.status_code", "ERROR");
                crate::metrics::handler_failed(consumer);
                tracing::warn!(error = %e, consumer, event_id = %id, "handler failed; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        match store.append(append.with_inbox(consumer, id)).await {
            Ok(_) => {
                crate::metrics::handled(consumer, "applied");
                return "applied";
            }
            Err(AppendError::AlreadyProcessed) => {
                crate::metrics::handled(consumer, "duplicate");
                return "duplicate";
            }
            Err(AppendError::Conflict { .. }) => continue,
            Err(e) => {
                tracing::warn!(error = %e, consumer, event_id = %id, "cannot commit effect; retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Runs `work` on `delivery`, telling the bus it is still in hand every
/// half ack wait. A handler that takes long (the database away, a slow
/// load) keeps its delivery: otherwise the bus hands it to another replica
/// after the ack wait, which handles it too and then finds it processed.
async fn keeping_alive<T>(delivery: &Delivery, work: impl std::future::Future<Output = T>) -> T {
    let Some(every) = delivery.keep_alive_every() else {
        return work.await;
    };
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = work.as_mut() => return done,
            () = tokio::time::sleep(every) => {
                if let Err(e) = delivery.in_progress().await {
                    // The ack wait then runs out and the delivery comes again:
                    // a duplicate, which the inbox absorbs.
                    tracing::debug!(error = %e, event_id = %delivery.message.event_id, "in-progress notice failed");
                }
            }
        }
    }
}
