//! R-CHAT-15: leaving a message (留言). When no human can take the
//! conversation now (outside service hours, or the queue is full), the buyer
//! is offered to leave a message. The conversation leaves the queue for the
//! list of left messages, which the queue's capacity does not bound; it is
//! routed, after the live queue, the moment a fitting agent is online with
//! room inside service hours ([`super::decide`]'s queue draining), and its
//! response clock starts only then ([`super::response`]).

use super::{
    decide::{check_message, known_message, open_conversation},
    BuyerNotice, ChatDesk, Conversation, DomainError, Event, Instant, Limits, RobotVerdict,
};

/// Whether the buyer of `c` is offered to leave a message at `at`: nobody
/// has the conversation and no human can take it now.
pub fn offered(desk: &ChatDesk, c: &Conversation, at: Instant) -> bool {
    let queue_full = !desk.queue.contains(&c.conversation_id)
        && desk.queue.len() >= desk.settings.queue_capacity as usize;
    c.status == super::ConversationStatus::Open
        && c.assignee.is_none()
        && (c.left_message_at.is_some() || !desk.hours.is_open(at) || queue_full)
}

pub(super) fn leave(
    desk: &ChatDesk,
    limits: &Limits,
    conversation_id: &str,
    message_id: &str,
    text: &str,
    at: Instant,
) -> Result<Vec<Event>, DomainError> {
    check_message(message_id, text, None, limits)?;
    let c = open_conversation(desk, conversation_id)?;
    if known_message(c, message_id, "", text, None)? {
        return Ok(vec![]);
    }
    if !offered(desk, c, at) {
        return Err(DomainError::precondition(
            "LEAVE_MESSAGE_NOT_OFFERED",
            conversation_id,
            "an agent can take this conversation now: send the message instead",
        ));
    }
    let mut events = Vec::new();
    if c.left_message_at.is_none() {
        events.push(Event::MessageLeft {
            conversation_id: conversation_id.to_owned(),
            at,
        });
    }
    events.push(Event::BuyerMessageReceived {
        conversation_id: conversation_id.to_owned(),
        message_id: message_id.to_owned(),
        text: text.to_owned(),
        attachment: None,
        assignee: None,
        robot: RobotVerdict::NotAsked,
        waits_for_human: true,
        at,
    });
    events.push(Event::BuyerNotified {
        conversation_id: conversation_id.to_owned(),
        notice: BuyerNotice::MessageTaken,
        text: super::decide::notice_text(&BuyerNotice::MessageTaken, desk),
        at,
    });
    Ok(events)
}
