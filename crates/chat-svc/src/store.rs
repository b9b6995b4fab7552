//! Between the pure domain and the event store: stream names and envelopes.

use crate::domain::{Event, Instant};
use sellerdesk_eventstore::{
    codec::{self, StoredEvent},
    Metadata, NewEvent, StoreError,
};

/// Schema version of every chat-svc payload; a version 2 adds an upcast
/// branch in [`decode`] and stored rows stay as they are.
pub const SCHEMA_VERSION: i32 = 1;
const DESK_STREAM_PREFIX: &str = "chat-desk-";

/// The schedule: one document per shop (its id), no owner, whose
/// `starts_at` is when time alone next lets the shop's desk act
/// (`ChatDesk::next_tick`), `i64::MAX` when nothing waits on time.
pub const DUE_INDEX: &str = "chat-due";
pub const DUE_OWNER: &str = sellerdesk_eventstore::SCHEDULE_OWNER;

/// One stream per shop: routing needs every agent's load and the queue in
/// one consistent state (docs/decisions/0006).
pub fn desk_stream(shop: &str) -> String {
    format!("{DESK_STREAM_PREFIX}{shop}")
}

pub fn shop_of_stream(stream_id: &str) -> Option<&str> {
    stream_id.strip_prefix(DESK_STREAM_PREFIX)
}

pub fn encode(shop: &str, event: &Event, at: Instant, metadata: &Metadata) -> NewEvent {
    codec::encode(event, event.type_name(), SCHEMA_VERSION, shop, at, metadata)
}

pub fn decode(e: &impl StoredEvent) -> Result<Event, StoreError> {
    codec::decode(e)
}
