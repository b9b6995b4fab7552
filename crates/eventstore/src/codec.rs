//! The payload convention every service follows: a domain event enum is
//! serialised externally tagged (`{"ViolationRecorded":{...}}`); the tag goes
//! into the envelope's `event_type` and the payload is the inner object, so a
//! stored row reads as the bare fact. Upcasting older schema versions stays
//! with the owning service, before [`decode`].

use crate::{new_event_id, Metadata, NewEvent, RecordedEvent, StoreError};
use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Serialize};

/// An envelope for `event`, whose serde tag must be `type_name`.
pub fn encode<E: Serialize>(
    event: &E,
    type_name: &str,
    schema_version: i32,
    shop_id: &str,
    occurred_at: DateTime<Utc>,
    metadata: &Metadata,
) -> NewEvent {
    let tagged = serde_json::to_string(event).expect("domain events serialise");
    let prefix = format!("{{\"{type_name}\":");
    let payload = tagged
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix('}'))
        .expect("externally tagged JSON under type_name")
        .to_owned();
    NewEvent {
        event_id: new_event_id(),
        event_type: type_name.to_owned(),
        schema_version,
        shop_id: shop_id.to_owned(),
        occurred_at,
        metadata: metadata.clone(),
        payload,
    }
}

/// The event a stored row holds, its payload already at the current schema.
pub fn decode<E: DeserializeOwned>(recorded: &RecordedEvent) -> Result<E, StoreError> {
    // One streaming parse of `{"<Type>":<payload>}`: no intermediate tree.
    let tagged = format!("{{\"{}\":{}}}", recorded.event_type, recorded.payload);
    serde_json::from_str(&tagged)
        .map_err(|err| StoreError::Corrupt(format!("event {}: {err}", recorded.event_id)))
}
