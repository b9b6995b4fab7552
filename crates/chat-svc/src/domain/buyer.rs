//! R-CHAT-13: the buyer's side of a conversation. What a message may carry
//! besides text (an image or video reference, a product card; order cards are
//! R-CHAT-14's), read receipts in both directions, and which events the
//! buyer's stream shows: everything said in the conversation and every notice
//! to the buyer, never the shop's own bookkeeping (notes, tags, topics,
//! routing explanations).

use super::{decide::conversation, ChatDesk, DomainError, Event, Instant};
use serde::{Deserialize, Serialize};

/// What a message carries besides its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Attachment {
    /// A picture, by the platform media store's URL.
    Image { url: String },
    /// A video, by the platform media store's URL.
    Video { url: String },
    /// A product of the shop, as the product system shows it.
    Product {
        product_id: String,
        title: String,
        price_fen: i64,
    },
}

const MAX_URL_BYTES: usize = 2048;
const MAX_TITLE_CHARS: usize = 200;
/// A price above 10 million yuan is a typo, not a product.
const MAX_PRICE_FEN: i64 = 1_000_000_000;

/// The checks a message's attachment must pass, under `field` (the request's
/// own name for it).
pub(super) fn check_attachment(
    field: &str,
    attachment: &Attachment,
    errors: &mut Vec<(String, String)>,
) {
    let url_ok = |url: &str| {
        (url.starts_with("https://") || url.starts_with("http://"))
            && url.len() <= MAX_URL_BYTES
            && !url.chars().any(|c| c.is_control() || c.is_whitespace())
    };
    match attachment {
        Attachment::Image { url } | Attachment::Video { url } => {
            if !url_ok(url) {
                let name = match attachment {
                    Attachment::Image { .. } => "image_url",
                    _ => "video_url",
                };
                errors.push((
                    format!("{field}.{name}"),
                    format!("an http(s) URL of at most {MAX_URL_BYTES} bytes, no spaces"),
                ));
            }
        }
        Attachment::Product {
            product_id,
            title,
            price_fen,
        } => {
            if product_id.is_empty()
                || product_id.len() > 64
                || product_id.chars().any(char::is_control)
            {
                errors.push((
                    format!("{field}.product.product_id"),
                    "1 to 64 bytes, no control characters".into(),
                ));
            }
            let n = title.trim().chars().count();
            if n == 0 || n > MAX_TITLE_CHARS {
                errors.push((
                    format!("{field}.product.title"),
                    format!("1 to {MAX_TITLE_CHARS} characters"),
                ));
            }
            if !(0..=MAX_PRICE_FEN).contains(price_fen) {
                errors.push((
                    format!("{field}.product.price_fen"),
                    format!("0 to {MAX_PRICE_FEN} fen"),
                ));
            }
        }
    }
}

/// Who read a conversation up to a position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "side", content = "agent_id")]
pub enum Reader {
    Buyer,
    Agent(String),
}

/// A read receipt: `reader` has seen every line up to `up_to` (a position
/// of the shop's log). Marks only move forward: an older or equal mark is
/// a no-op, so a device that reconnects and re-sends one changes nothing.
pub(super) fn mark_read(
    desk: &ChatDesk,
    conversation_id: &str,
    reader: &Reader,
    up_to: i64,
    at: Instant,
) -> Result<Vec<Event>, DomainError> {
    let c = conversation(desk, conversation_id)?;
    if up_to < 1 || up_to > desk.version {
        return Err(DomainError::Invalid(vec![(
            "up_to_position".into(),
            format!("a position of this shop's log, 1 to {}", desk.version),
        )]));
    }
    let mark = match reader {
        Reader::Buyer => c.buyer_read_up_to,
        Reader::Agent(agent_id) => {
            super::decide::agent(desk, agent_id)?;
            if c.assignee.as_deref() != Some(agent_id) {
                return Err(DomainError::precondition(
                    "NOT_ASSIGNED",
                    conversation_id,
                    format!("conversation {conversation_id} is not assigned to agent {agent_id}"),
                ));
            }
            c.agent_read_up_to
        }
    };
    if up_to <= mark {
        return Ok(vec![]);
    }
    Ok(vec![Event::MessagesRead {
        conversation_id: conversation_id.to_owned(),
        reader: reader.clone(),
        up_to_position: up_to,
        assignee: c.assignee.clone(),
        at,
    }])
}

impl Event {
    /// R-CHAT-13: whether the buyer's stream of `conversation` shows this
    /// event. The buyer's own messages are shown too, so every device of the
    /// buyer reads the same conversation.
    pub fn concerns_buyer(&self, conversation: &str) -> bool {
        if self.conversation_id() != Some(conversation) {
            return false;
        }
        !matches!(
            self,
            Event::NoteAdded { .. }
                | Event::ConversationTagged { .. }
                | Event::ConversationUntagged { .. }
                | Event::TopicChanged { .. }
                | Event::ConversationQueued { .. }
                | Event::ConversationAssigned { .. }
                | Event::ConversationReleased { .. }
        )
    }
}
