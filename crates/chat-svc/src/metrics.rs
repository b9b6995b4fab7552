//! What chat-svc exports to Prometheus. Events are counted by the replica
//! that committed them (each once across replicas); the queue gauge is what
//! the desks this replica holds have waiting.

use crate::domain::{ChatDesk, Event};
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
        "From the oldest unanswered buyer message to the human reply that answers it (R-CHAT-11: the target is 30 s); first = the conversation's first human reply.",
        &["first"],
        WAIT_BUCKETS,
    )
});

/// Counts what this replica committed; `before` is the desk as it was
/// before these events (for how long each answered buyer waited).
pub(crate) fn committed<'a>(before: &ChatDesk, events: impl IntoIterator<Item = &'a Event>) {
    // A second reply in the same group answers nobody new.
    let mut answered = std::collections::HashSet::new();
    for event in events {
        EVENTS.inc(&[event.type_name()]);
        if let Event::AgentReplied {
            conversation_id,
            at,
            ..
        } = event
        {
            let Some(c) = before.conversations.get(conversation_id) else {
                continue;
            };
            if !answered.insert(conversation_id.as_str()) {
                continue;
            }
            if let Some(since) = c.unanswered_since {
                let waited = (*at - since).num_milliseconds().max(0) as f64 / 1000.0;
                let first = if c.first_human_reply_at.is_none() {
                    "true"
                } else {
                    "false"
                };
                RESPONSE.observe_seconds(&[first], waited);
            }
        }
    }
}

/// A desk's queue changed from `before` to `after` conversations.
pub(crate) fn queue_changed(before: usize, after: usize) {
    // Adding 0 too: the series shows 0 from the first desk on, not nothing.
    QUEUED.add(&[], after as f64 - before as f64);
}
