//! Between the pure domain and the event store: envelopes, (de)serialisation,
//! upcasting, stream names and read-model documents.

use crate::domain::{events::SCHEMA_VERSION, Event, Instant, PolicyPublished, ShopState};
use sellerdesk_eventstore::{new_event_id, Metadata, NewEvent, RecordedEvent, StoreError};
use serde::{Deserialize, Serialize};

pub const POLICY_STREAM: &str = "compliance-policy";
const SHOP_STREAM_PREFIX: &str = "compliance-shop-";
/// Read models and snapshots: all derived, dropped and rebuilt by `rebuild`.
pub const READ_MODEL_PREFIX: &str = "compliance/";
pub const SNAPSHOT_PREFIX: &str = "compliance/snapshot/";
pub const SUMMARY_PREFIX: &str = "compliance/summary/";

pub fn shop_stream(shop: &str) -> String {
    format!("{SHOP_STREAM_PREFIX}{shop}")
}

/// Brings a stored payload to the current schema. Version 1 is current; a
/// future version 2 adds a branch here and stored rows stay as they are.
pub fn upcast(
    event_type: &str,
    schema_version: i32,
    payload: serde_json::Value,
) -> serde_json::Value {
    match (event_type, schema_version) {
        (_, v) if v >= SCHEMA_VERSION => payload,
        // Schema 0 (pre-release) called points "score"; kept as the worked example.
        ("ViolationRecorded", 0) => {
            let mut p = payload;
            if let Some(obj) = p.as_object_mut() {
                if let Some(score) = obj.remove("score") {
                    obj.insert("points".into(), score);
                }
            }
            p
        }
        _ => payload,
    }
}

pub fn decode_shop_event(e: &RecordedEvent) -> Result<Event, StoreError> {
    let raw: serde_json::Value = serde_json::from_str(&e.payload)
        .map_err(|err| StoreError::Corrupt(format!("event {} payload: {err}", e.event_id)))?;
    let mut value = upcast(&e.event_type, e.schema_version, raw);
    if let Some(obj) = value.as_object_mut() {
        obj.insert(
            "type".into(),
            serde_json::Value::String(e.event_type.clone()),
        );
    }
    serde_json::from_value(value)
        .map_err(|err| StoreError::Corrupt(format!("event {}: {err}", e.event_id)))
}

pub fn decode_policy_event(e: &RecordedEvent) -> Result<PolicyPublished, StoreError> {
    serde_json::from_str(&e.payload)
        .map_err(|err| StoreError::Corrupt(format!("policy event {}: {err}", e.event_id)))
}

pub fn encode_shop_event(shop: &str, event: &Event, at: Instant, metadata: &Metadata) -> NewEvent {
    let mut value = serde_json::to_value(event).expect("events serialise");
    // The type lives in the envelope, not twice.
    if let Some(obj) = value.as_object_mut() {
        obj.remove("type");
    }
    NewEvent {
        event_id: new_event_id(),
        event_type: event.type_name().to_owned(),
        schema_version: SCHEMA_VERSION,
        shop_id: shop.to_owned(),
        occurred_at: at,
        metadata: metadata.clone(),
        payload: value.to_string(),
    }
}

pub fn encode_policy_event(
    published: &PolicyPublished,
    at: Instant,
    metadata: &Metadata,
) -> NewEvent {
    NewEvent {
        event_id: new_event_id(),
        event_type: "PolicyPublished".into(),
        schema_version: SCHEMA_VERSION,
        shop_id: String::new(),
        occurred_at: at,
        metadata: metadata.clone(),
        payload: serde_json::to_string(published).expect("policy serialises"),
    }
}

/// The small per-shop read model the scheduler starts from after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopSummary {
    pub shop: String,
    pub points: u32,
    pub tier: u32,
    pub revoked: bool,
    pub announced_tier: u32,
    pub next_change_at: Option<Instant>,
    pub violations: usize,
}

/// A persisted snapshot: the state after `version` events, the last at `last_at`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredSnapshot {
    pub state: ShopState,
    pub last_at: Option<Instant>,
}
