//! Stream names and schema versions: one prefix per kind of stream, the shop
//! (or other key) after it; the schema version new events are written with,
//! and the steps that bring older stored payloads up to it (upcasting).
//!
//! Stored rows are never rewritten: an event stored at schema 0 is read as
//! schema 0 and brought forward one step at a time on every read.

use serde_json::Value;

/// One step of a stored payload of `event_type` from schema version `from`
/// to `from + 1`. Pure: it sees the payload only.
#[derive(Debug, Clone, Copy)]
pub struct Upcast {
    pub event_type: &'static str,
    pub from: i32,
    pub apply: fn(&mut Value),
}

/// A kind of stream, e.g. `ads-account-` + the shop.
#[derive(Debug, Clone, Copy)]
pub struct StreamKind {
    pub prefix: &'static str,
    /// The schema version new events of this stream are written with.
    pub schema_version: i32,
    /// Steps from older schema versions, in any order.
    pub upcasts: &'static [Upcast],
}

impl StreamKind {
    pub const fn new(prefix: &'static str, schema_version: i32) -> Self {
        Self {
            prefix,
            schema_version,
            upcasts: &[],
        }
    }

    /// The same kind, reading older payloads through `upcasts`.
    pub const fn with_upcasts(self, upcasts: &'static [Upcast]) -> Self {
        Self { upcasts, ..self }
    }

    /// The stream of `key` (a shop id, a creator id).
    pub fn of(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The key of a stream of this kind.
    pub fn key_of<'a>(&self, stream: &'a str) -> Option<&'a str> {
        stream.strip_prefix(self.prefix)
    }

    /// Whether a payload stored at `schema_version` needs no upcasting.
    pub fn is_current(&self, schema_version: i32) -> bool {
        schema_version >= self.schema_version
    }

    /// Brings a payload of `event_type` stored at `schema_version` to the
    /// current version, one step at a time (a version with no step for this
    /// event type did not change it).
    pub fn upcast(&self, event_type: &str, schema_version: i32, payload: &mut Value) {
        for from in schema_version..self.schema_version {
            for step in self
                .upcasts
                .iter()
                .filter(|u| u.from == from && u.event_type == event_type)
            {
                (step.apply)(payload);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_round_trip() {
        let kind = StreamKind::new("ads-account-", 1);
        assert_eq!(kind.of("shop-1"), "ads-account-shop-1");
        assert_eq!(kind.key_of("ads-account-shop-1"), Some("shop-1"));
        assert_eq!(kind.key_of("faq-kb-shop-1"), None);
    }

    fn rename_score(p: &mut Value) {
        if let Some(score) = p.as_object_mut().and_then(|o| o.remove("score")) {
            p["points"] = score;
        }
    }

    fn double_points(p: &mut Value) {
        if let Some(n) = p["points"].as_u64() {
            p["points"] = json!(n * 2);
        }
    }

    const KIND: StreamKind = StreamKind::new("k-", 2).with_upcasts(&[
        Upcast {
            event_type: "Recorded",
            from: 1,
            apply: double_points,
        },
        Upcast {
            event_type: "Recorded",
            from: 0,
            apply: rename_score,
        },
    ]);

    #[test]
    fn old_payloads_are_brought_forward_one_version_at_a_time() {
        let mut v0 = json!({"score": 3});
        KIND.upcast("Recorded", 0, &mut v0);
        assert_eq!(v0, json!({"points": 6}));

        let mut v1 = json!({"points": 3});
        KIND.upcast("Recorded", 1, &mut v1);
        assert_eq!(v1, json!({"points": 6}));

        let mut current = json!({"points": 3});
        KIND.upcast("Recorded", 2, &mut current);
        assert_eq!(current, json!({"points": 3}));
        assert!(KIND.is_current(2) && !KIND.is_current(1));
    }

    #[test]
    fn other_event_types_pass_through_unchanged() {
        let mut other = json!({"score": 3});
        KIND.upcast("Appealed", 0, &mut other);
        assert_eq!(other, json!({"score": 3}));
    }
}
