//! The payload convention every service follows: a domain event enum is
//! serialised externally tagged (`{"ViolationRecorded":{...}}`); the tag goes
//! into the envelope's `event_type` and the payload is the inner object, so a
//! stored row reads as the bare fact. Payloads stored at an older schema
//! version are brought forward by their stream kind's upcasts ([`decode_in`]).

use crate::{new_event_id, Metadata, NewEvent, RecordedEvent, ReplayedEvent, StoreError};
use chrono::{DateTime, Utc};
use serde::{
    de::{self, DeserializeOwned},
    Serialize,
};

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
///
/// The payload is parsed in place, with `event_type` handed to the enum as
/// its tag: no `{"<Type>":<payload>}` document is built and copied first
/// (that copy was ~5% of a rebuild's decoding).
pub fn decode<E: DeserializeOwned>(stored: &impl StoredEvent) -> Result<E, StoreError> {
    let mut payload = serde_json::Deserializer::from_str(stored.payload());
    E::deserialize(Tagged {
        tag: stored.event_type(),
        payload: &mut payload,
    })
    .and_then(|event| payload.end().map(|()| event))
    .map_err(|err| StoreError::Corrupt(format!("{}: {err}", stored.describe())))
}

/// As [`decode`], for an event of a stream of `kind`: a payload stored at an
/// older schema version is brought to the current one by the kind's upcasts
/// first (the current version, the common case, is parsed in place).
pub fn decode_in<E: DeserializeOwned>(
    kind: &sellerdesk_core::stream::StreamKind,
    stored: &impl StoredEvent,
) -> Result<E, StoreError> {
    if kind.is_current(stored.schema_version()) {
        return decode(stored);
    }
    let corrupt =
        |err: serde_json::Error| StoreError::Corrupt(format!("{}: {err}", stored.describe()));
    let mut value: serde_json::Value = serde_json::from_str(stored.payload()).map_err(corrupt)?;
    kind.upcast(stored.event_type(), stored.schema_version(), &mut value);
    let mut tagged = serde_json::Map::new();
    tagged.insert(stored.event_type().to_owned(), value);
    serde_json::from_value(serde_json::Value::Object(tagged)).map_err(corrupt)
}

/// A stored event seen as the externally tagged value it was split from:
/// an enum whose variant is `tag` and whose content is the payload, or, to
/// anything that does not ask for an enum, the map `{tag: payload}`.
struct Tagged<'a, 'de> {
    tag: &'a str,
    payload: &'a mut serde_json::Deserializer<serde_json::de::StrRead<'de>>,
}

impl<'de> de::Deserializer<'de> for Tagged<'_, 'de> {
    type Error = serde_json::Error;

    fn deserialize_enum<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_enum(self)
    }

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(OneEntry(Some(self)))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

impl<'de> de::EnumAccess<'de> for Tagged<'_, 'de> {
    type Error = serde_json::Error;
    type Variant = Self;

    fn variant_seed<V: de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), Self::Error> {
        let variant = seed.deserialize(de::value::StrDeserializer::<Self::Error>::new(self.tag))?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for Tagged<'_, 'de> {
    type Error = serde_json::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        de::Deserialize::deserialize(&mut *self.payload)
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        seed.deserialize(&mut *self.payload)
    }

    fn tuple_variant<V: de::Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        de::Deserializer::deserialize_seq(&mut *self.payload, visitor)
    }

    fn struct_variant<V: de::Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        de::Deserializer::deserialize_struct(&mut *self.payload, "", fields, visitor)
    }
}

/// `{tag: payload}` as a map, for [`Tagged::deserialize_any`].
struct OneEntry<'a, 'de>(Option<Tagged<'a, 'de>>);

impl<'de> de::MapAccess<'de> for OneEntry<'_, 'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match &self.0 {
            Some(tagged) => seed
                .deserialize(de::value::StrDeserializer::<Self::Error>::new(tagged.tag))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let tagged = self.0.take().expect("a value follows its key");
        seed.deserialize(&mut *tagged.payload)
    }
}

/// What decoding needs of a stored event, read whole ([`RecordedEvent`]) or
/// for a replay ([`ReplayedEvent`]).
pub trait StoredEvent {
    fn event_type(&self) -> &str;
    fn schema_version(&self) -> i32;
    fn payload(&self) -> &str;
    /// Names the event in error messages.
    fn describe(&self) -> String;
}

/// The accessors are the same fields in both kinds of event.
macro_rules! stored_event {
    ($kind:ty, |$e:ident| $describe:expr) => {
        impl StoredEvent for $kind {
            fn event_type(&self) -> &str {
                &self.event_type
            }
            fn schema_version(&self) -> i32 {
                self.schema_version
            }
            fn payload(&self) -> &str {
                &self.payload
            }
            fn describe(&self) -> String {
                let $e = self;
                $describe
            }
        }
    };
}

stored_event!(RecordedEvent, |e| format!("event {}", e.event_id));
stored_event!(ReplayedEvent, |e| format!(
    "event at position {}",
    e.global_position
));

/// Stored instants: the pure core writes and reads them (re-exported so
/// `#[serde(with = "sellerdesk_eventstore::codec::instant")]` keeps working).
pub use sellerdesk_core::{instant, optional_instant};

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, serde::Serialize)]
    struct At(#[serde(with = "instant")] DateTime<Utc>);

    #[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
    enum Happened {
        Recorded { id: String, points: u32 },
        Renamed(String),
        Moved(i32, i32),
    }

    fn stored(event: &Happened, name: &str) -> ReplayedEvent {
        let e = encode(event, name, 1, "s", Utc::now(), &Metadata::default());
        ReplayedEvent {
            global_position: 7,
            stream_id: "s".into(),
            stream_version: 1,
            event_type: e.event_type.into(),
            schema_version: 1,
            occurred_at: e.occurred_at,
            payload: e.payload,
        }
    }

    #[test]
    fn every_variant_shape_decodes_from_its_bare_payload() {
        for (event, name) in [
            (
                Happened::Recorded {
                    id: "违规\"1".into(),
                    points: 3,
                },
                "Recorded",
            ),
            (Happened::Renamed("新名".into()), "Renamed"),
            (Happened::Moved(-1, 2), "Moved"),
        ] {
            let e = stored(&event, name);
            assert_eq!(decode::<Happened>(&e).unwrap(), event);
            // Read as a plain value, it is the externally tagged document.
            let value: serde_json::Value = decode(&e).unwrap();
            assert_eq!(value, serde_json::to_value(&event).unwrap());
        }
    }

    #[test]
    fn undecodable_events_name_their_position() {
        let mut e = stored(&Happened::Moved(1, 2), "Moved");
        e.event_type = "Vanished".into();
        let err = decode::<Happened>(&e).unwrap_err().to_string();
        assert!(
            err.contains("position 7") && err.contains("Vanished"),
            "{err}"
        );
        let mut e = stored(&Happened::Moved(1, 2), "Moved");
        e.payload.push_str(" x");
        assert!(decode::<Happened>(&e).is_err());
        e.payload = "{\"id\":\"a\"}".into();
        e.event_type = "Recorded".into();
        assert!(decode::<Happened>(&e).is_err());
    }

    #[test]
    fn instants_are_written_exactly_as_chrono_writes_them() {
        for micros in [
            0i64,
            1_577_836_800_000_000,
            1_577_836_800_500_000,
            1_764_374_400_123_456,
            1_764_374_400_000_001,
            -62_135_596_800_000_000,
            253_402_300_799_999_999,
            -1,
        ] {
            for t in [
                DateTime::from_timestamp_micros(micros).unwrap(),
                DateTime::from_timestamp_micros(micros).unwrap() + chrono::Duration::nanoseconds(7),
            ] {
                assert_eq!(
                    serde_json::to_string(&At(t)).unwrap(),
                    serde_json::to_string(&t).unwrap()
                );
                let back: At =
                    serde_json::from_str(&serde_json::to_string(&At(t)).unwrap()).unwrap();
                assert_eq!(back.0, t);
            }
        }
        let far = DateTime::from_timestamp(300_000_000_000, 0).unwrap();
        assert_eq!(
            serde_json::to_string(&At(far)).unwrap(),
            serde_json::to_string(&far).unwrap()
        );
    }

    #[test]
    fn instants_read_by_hand_equal_chronos() {
        for s in [
            "2020-01-01T00:00:00Z",
            "2026-11-29T23:59:59.5Z",
            "2026-02-28T12:34:56.123456789Z",
            "1999-12-31T07:00:00.000001Z",
            "2026-11-29T08:00:00+08:00",
            "2026-11-29T00:00:00.123-01:30",
        ] {
            let ours: At = serde_json::from_str(&format!("\"{s}\"")).unwrap();
            let chronos = DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
            assert_eq!(ours.0, chronos, "{s}");
        }
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-11-29T24:00:00Z",
            "2026-11-29 00:00:00",
            "x",
        ] {
            assert!(
                serde_json::from_str::<At>(&format!("\"{bad}\"")).is_err(),
                "{bad}"
            );
        }
    }
}
