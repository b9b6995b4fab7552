//! Between the pure domain and the event store: stream names and envelopes.

use crate::domain::{analytics::Interaction, Event, Instant};
use sellerdesk_eventstore::{codec, Metadata, NewEvent, RecordedEvent, StoreError};

/// Schema version of every faq-svc payload; a version 2 adds an upcast
/// branch in [`decode_kb_event`] and stored rows stay as they are.
pub const SCHEMA_VERSION: i32 = 1;
pub const KB_STREAM_PREFIX: &str = "faq-kb-";
const INTERACTIONS_STREAM_PREFIX: &str = "faq-interactions-";
/// The help centre's key where a shop id would be: `@` is not allowed in shop ids.
pub const HELP_CENTRE_KEY: &str = "@help-centre";

pub fn kb_stream(shop: &str) -> String {
    format!("{KB_STREAM_PREFIX}{shop}")
}

pub fn interactions_stream(shop: &str) -> String {
    format!("{INTERACTIONS_STREAM_PREFIX}{shop}")
}

/// The knowledge base whose interactions `stream` records, if it does.
pub fn kb_of_interactions_stream(stream: &str) -> Option<&str> {
    stream.strip_prefix(INTERACTIONS_STREAM_PREFIX)
}

pub fn encode_kb_event(shop: &str, event: &Event, at: Instant, metadata: &Metadata) -> NewEvent {
    codec::encode(event, event.type_name(), SCHEMA_VERSION, shop, at, metadata)
}

pub fn decode_kb_event(e: &RecordedEvent) -> Result<Event, StoreError> {
    codec::decode(e)
}

pub fn encode_interaction(
    shop: &str,
    interaction: &Interaction,
    at: Instant,
    metadata: &Metadata,
) -> NewEvent {
    codec::encode(
        interaction,
        interaction.type_name(),
        SCHEMA_VERSION,
        shop,
        at,
        metadata,
    )
}

pub fn decode_interaction(e: &RecordedEvent) -> Result<Interaction, StoreError> {
    codec::decode(e)
}
