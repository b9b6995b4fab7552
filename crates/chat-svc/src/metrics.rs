//! What chat-svc exports to Prometheus. Events are counted by the replica
//! that committed them (each once across replicas); the queue gauge is what
//! the desks this replica holds have waiting.

use crate::domain::Event;
use sellerdesk_runtime::metrics::{Counter, Gauge, Histogram, WAIT_BUCKETS};
use std::sync::LazyLock;

static EVENTS: LazyLock<Counter> = LazyLock::new(|| {
    Counter::new(
        "sellerdesk_chat_events_total",
        "Chat events committed, by type (ConversationOpened, RobotReplied, HumanRequested, ConversationQueued, AgentReplied, ...).",
        &["event"],
    )
});

static QUEUED: LazyLock<Gauge> = LazyLock::new(|| {
    Gauge::new(
        "sellerdesk_chat_queued_conversations",
        "Conversations waiting in a queue for a human (R-CHAT-8), in the desks this replica holds.",
        &[],
    )
});

static RESPONSE: LazyLock<Histogram> = LazyLock::new(|| {
    Histogram::new(
        "sellerdesk_chat_response_seconds",
        "R-CHAT-12: each buyer message that waited for a human, from its clock's start to the human reply that answered it, time outside service hours left out (the target is 30 s by default).",
        &[],
        WAIT_BUCKETS,
    )
});

/// Counts what this replica committed: every event by type, and each
/// answered buyer message's wait as the reply recorded it.
pub(crate) fn committed<'a>(events: impl IntoIterator<Item = &'a Event>) {
    for event in events {
        EVENTS.inc(&[event.type_name()]);
        if let Event::AgentReplied { answered, .. } = event {
            for a in answered {
                RESPONSE.observe_seconds(&[], a.waited_ms.max(0) as f64 / 1000.0);
            }
        }
    }
}

/// A desk's queue changed from `before` to `after` conversations.
pub(crate) fn queue_changed(before: usize, after: usize) {
    // Adding 0 too: the series shows 0 from the first desk on, not nothing.
    QUEUED.add(&[], after as f64 - before as f64);
}
