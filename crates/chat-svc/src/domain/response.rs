//! R-CHAT-11 and R-CHAT-12: every buyer message that waits for a human
//! starts a clock, and the next human reply stops every clock running in the
//! conversation. Only time inside service hours counts (R-CHAT-9: outside
//! them nobody is there to answer), and a message left for later (留言,
//! R-CHAT-15) starts its clock only when an agent picks it up.
//!
//! The reply's event records each answered message with its wait, as
//! decided, so figures (here and in the live stream) are folds of events.

use super::{Conversation, Instant, ServiceHours};
use serde::{Deserialize, Serialize};

/// A buyer message no human has answered yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingMessage {
    pub message_id: String,
    pub at: Instant,
    /// When its clock started; None while it is a message left for later
    /// that no agent has picked up.
    pub clock_from: Option<Instant>,
}

/// A buyer message a human answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answered {
    pub message_id: String,
    /// When the buyer sent it: the window a figure puts it in.
    pub message_at: Instant,
    /// Time on the clock, inside service hours only.
    pub waited_ms: i64,
    /// The agent who answered.
    pub agent_id: String,
}

/// What a reply by `agent_id` at `at` answers: every waiting message.
pub fn answered_by_reply(
    c: &Conversation,
    hours: &ServiceHours,
    agent_id: &str,
    at: Instant,
) -> Vec<Answered> {
    c.waiting_messages
        .iter()
        .map(|w| Answered {
            message_id: w.message_id.clone(),
            message_at: w.at,
            waited_ms: w.clock_from.map_or(0, |from| hours.open_millis(from, at)),
            agent_id: agent_id.to_owned(),
        })
        .collect()
}

/// How long a message still waiting has been on the clock at `now`.
pub fn waiting_ms(w: &WaitingMessage, hours: &ServiceHours, now: Instant) -> Option<i64> {
    w.clock_from.map(|from| hours.open_millis(from, now))
}
