//! Issue 18 item 5 (R-CHAT-15's desk side): tags and private notes on a
//! conversation, for the shop's people only. A note is a line of the
//! conversation that the buyer's side never sees; tags make conversations
//! findable (ListConversations by tag).

use super::{ChatDesk, DomainError, Event, Instant};

/// At most this many tags on one conversation.
pub const MAX_TAGS: usize = 10;
const MAX_TAG_CHARS: usize = 20;
const MAX_NOTE_CHARS: usize = 1_000;

use super::decide::conversation;

/// Adds or removes a tag; closed conversations are tagged too (that is
/// when a shop files them). Adding a tag it has, or removing one it has
/// not, changes nothing.
pub(super) fn tag(
    desk: &ChatDesk,
    conversation_id: &str,
    tag: &str,
    add: bool,
    by: &str,
    at: Instant,
) -> Result<Vec<Event>, DomainError> {
    let tag = tag.trim();
    let n = tag.chars().count();
    if n == 0 || n > MAX_TAG_CHARS || tag.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "tag",
            format!("1 to {MAX_TAG_CHARS} characters, no control characters"),
        ));
    }
    let c = conversation(desk, conversation_id)?;
    let has = c.tags.contains(tag);
    if add == has {
        return Ok(vec![]);
    }
    if add && c.tags.len() >= MAX_TAGS {
        return Err(DomainError::LimitReached(format!(
            "a conversation has at most {MAX_TAGS} tags"
        )));
    }
    let (conversation_id, tag, by) = (conversation_id.to_owned(), tag.to_owned(), by.to_owned());
    Ok(vec![if add {
        Event::ConversationTagged {
            conversation_id,
            tag,
            by,
            at,
        }
    } else {
        Event::ConversationUntagged {
            conversation_id,
            tag,
            by,
            at,
        }
    }])
}

/// A private note, idempotent by `note_id`.
pub(super) fn note(
    desk: &ChatDesk,
    conversation_id: &str,
    note_id: &str,
    author: &str,
    text: &str,
    at: Instant,
) -> Result<Vec<Event>, DomainError> {
    let mut e = Vec::new();
    if note_id.is_empty() || note_id.len() > 64 || note_id.chars().any(char::is_control) {
        e.push((
            "note_id".to_owned(),
            "1 to 64 bytes, no control characters".to_owned(),
        ));
    }
    let n = text.trim().chars().count();
    if n == 0 || n > MAX_NOTE_CHARS {
        e.push(("text".into(), format!("1 to {MAX_NOTE_CHARS} characters")));
    }
    if !e.is_empty() {
        return Err(DomainError::Invalid(e));
    }
    let c = conversation(desk, conversation_id)?;
    if let Some((who, said)) = c.notes.get(note_id) {
        return if (who.as_str(), said.as_str()) == (author, text.trim()) {
            Ok(vec![])
        } else {
            Err(DomainError::AlreadyExists {
                kind: "note",
                id: note_id.to_owned(),
            })
        };
    }
    Ok(vec![Event::NoteAdded {
        conversation_id: conversation_id.to_owned(),
        note_id: note_id.to_owned(),
        author: author.to_owned(),
        text: text.trim().to_owned(),
        assignee: c.assignee.clone(),
        at,
    }])
}
