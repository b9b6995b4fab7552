//! Between the pure domain and the event store: envelopes, (de)serialisation,
//! upcasting, stream names and read-model documents.

use crate::domain::{events::SCHEMA_VERSION, Event, Instant, PolicyPublished, ShopState};
use sellerdesk_core::stream::{StreamKind, Upcast};
use sellerdesk_eventstore::{
    codec::{self, StoredEvent},
    new_event_id, Metadata, NewEvent, StoreError,
};
use serde::{Deserialize, Serialize};

pub const POLICY_STREAM: &str = "compliance-policy";
/// One stream per shop: its violations, appeals and tier changes.
pub const SHOP_STREAM: StreamKind = StreamKind::new("compliance-shop-", SCHEMA_VERSION)
    .with_upcasts(&[Upcast {
        // Schema 0 (pre-release) called points "score"; kept as the worked example.
        event_type: "ViolationRecorded",
        from: 0,
        apply: points_were_called_score,
    }]);
/// Read models and snapshots: all derived, dropped and rebuilt by `rebuild`.
pub const READ_MODEL_PREFIX: &str = "compliance/";
pub const SNAPSHOT_PREFIX: &str = "compliance/snapshot/";
/// The scheduler's read model: a document per shop (its id the shop), in
/// the order its next time-driven change is due ([`ShopSummary`] its body).
/// A read model, not a search: `rebuild` drops it and projects it again.
pub const DUE_INDEX: &str = "compliance-due";
/// Where each shop's summary was kept before the schedule (decision 0020):
/// read once, by `Compliance::adopt_old_summaries`, and deleted.
pub const OLD_SUMMARY_PREFIX: &str = "compliance/summary/";
/// The schedule spans every shop, so its documents belong to none: no
/// shop's query names this owner.
pub const DUE_OWNER: &str = sellerdesk_eventstore::SCHEDULE_OWNER;

pub fn shop_stream(shop: &str) -> String {
    SHOP_STREAM.of(shop)
}

fn points_were_called_score(payload: &mut serde_json::Value) {
    if let Some(obj) = payload.as_object_mut() {
        if let Some(score) = obj.remove("score") {
            obj.insert("points".into(), score);
        }
    }
}

pub fn decode_shop_event(e: &impl StoredEvent) -> Result<Event, StoreError> {
    codec::decode_in(&SHOP_STREAM, e)
}

pub fn decode_policy_event(e: &impl StoredEvent) -> Result<PolicyPublished, StoreError> {
    serde_json::from_str(e.payload())
        .map_err(|err| StoreError::Corrupt(format!("policy {}: {err}", e.describe())))
}

pub fn encode_shop_event(shop: &str, event: &Event, at: Instant, metadata: &Metadata) -> NewEvent {
    codec::encode(event, event.type_name(), SCHEMA_VERSION, shop, at, metadata)
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

/// A shop's entry in the schedule ([`DUE_INDEX`]): what its standing was when
/// the entry was written, for whoever reads the schedule.
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use sellerdesk_eventstore::RecordedEvent;

    fn recorded(payload: &str, schema_version: i32) -> RecordedEvent {
        RecordedEvent {
            global_position: 1,
            stream_id: shop_stream("s"),
            stream_version: 1,
            event_id: new_event_id(),
            event_type: "ViolationRecorded".into(),
            schema_version,
            shop_id: "s".into(),
            occurred_at: DateTime::UNIX_EPOCH,
            recorded_at: DateTime::UNIX_EPOCH,
            metadata: Metadata::default(),
            payload: payload.into(),
        }
    }

    #[test]
    fn stored_payload_is_the_bare_fact_and_round_trips() {
        let event = Event::ViolationRecorded {
            violation_id: "v1".into(),
            violation_type: "fraud".into(),
            points: 12,
            evidence: "e".into(),
            recorded_at: DateTime::UNIX_EPOCH,
        };
        let new = encode_shop_event("s", &event, DateTime::UNIX_EPOCH, &Metadata::default());
        let payload: serde_json::Value = serde_json::from_str(&new.payload).unwrap();
        assert_eq!(payload["points"], 12);
        assert!(payload.get("type").is_none() && payload.get("ViolationRecorded").is_none());
        assert_eq!(
            decode_shop_event(&recorded(&new.payload, SCHEMA_VERSION)).unwrap(),
            event
        );
    }

    #[test]
    fn schema_0_payloads_are_upcast_on_read() {
        let old = r#"{"violation_id":"v1","violation_type":"","score":7,"evidence":"","recorded_at":"1970-01-01T00:00:00Z"}"#;
        match decode_shop_event(&recorded(old, 0)).unwrap() {
            Event::ViolationRecorded { points, .. } => assert_eq!(points, 7),
            other => panic!("{other:?}"),
        }
    }
}
