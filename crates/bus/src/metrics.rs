//! What the bus exports to Prometheus: the outbox relay's backlog and what
//! it published; each consumer's lag, redeliveries and outcomes.

use sellerdesk_metrics::{Counter, Gauge};
use std::sync::LazyLock;

static OUTBOX_BACKLOG: LazyLock<Gauge> = LazyLock::new(|| {
    Gauge::new(
        "sellerdesk_outbox_backlog_events",
        "Events in the log not yet published, as the relay saw after its last batch (set on the replica holding the relay's lease).",
        &["service"],
    )
});

static PUBLISHED: LazyLock<Counter> = LazyLock::new(|| {
    Counter::new(
        "sellerdesk_outbox_published_events_total",
        "Events the outbox relay published to the bus.",
        &["service"],
    )
});

static PUBLISH_FAILURES: LazyLock<Counter> = LazyLock::new(|| {
    Counter::new(
        "sellerdesk_outbox_publish_failures_total",
        "Batches the bus did not take (retried).",
        &["service"],
    )
});

static CONSUMER_PENDING: LazyLock<Gauge> = LazyLock::new(|| {
    Gauge::new(
        "sellerdesk_consumer_pending_messages",
        "Messages a durable consumer has yet to receive (its lag), as of the last delivery.",
        &["consumer"],
    )
});

static REDELIVERIES: LazyLock<Counter> = LazyLock::new(|| {
    Counter::new(
        "sellerdesk_consumer_redeliveries_total",
        "Messages delivered again (not acknowledged in time, or a replica died holding them).",
        &["consumer"],
    )
});

static HANDLED: LazyLock<Counter> = LazyLock::new(|| {
    Counter::new(
        "sellerdesk_consumer_messages_total",
        "Messages a consumer finished: applied, or already applied (inbox).",
        &["consumer", "outcome"],
    )
});

static HANDLER_FAILURES: LazyLock<Counter> = LazyLock::new(|| {
    Counter::new(
        "sellerdesk_consumer_handler_failures_total",
        "Handler failures (each is retried).",
        &["consumer"],
    )
});

pub(crate) fn relayed(service: &str, events: usize, last_position: i64, head: i64) {
    PUBLISHED.add(&[service], events as u64);
    OUTBOX_BACKLOG.set(&[service], (head - last_position).max(0) as f64);
}

pub(crate) fn publish_failed(service: &str) {
    PUBLISH_FAILURES.inc(&[service]);
}

pub(crate) fn received(consumer: &str, delivered: u64, pending: u64) {
    CONSUMER_PENDING.set(&[consumer], pending as f64);
    if delivered > 1 {
        REDELIVERIES.inc(&[consumer]);
    }
}

pub(crate) fn handled(consumer: &str, outcome: &'static str) {
    HANDLED.inc(&[consumer, outcome]);
}

pub(crate) fn handler_failed(consumer: &str) {
    HANDLER_FAILURES.inc(&[consumer]);
}
