//! The payload convention every service follows: a domain event enum is
//! serialised externally tagged (`{"ViolationRecorded":{...}}`); the tag goes
//! into the envelope's `event_type` and the payload is the inner object, so a
//! stored row reads as the bare fact. Upcasting older schema versions stays
//! with the owning service, before [`decode`].

use crate::{new_event_id, Metadata, NewEvent, RecordedEvent, ReplayedEvent, StoreError};
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
pub fn decode<E: DeserializeOwned>(stored: &impl StoredEvent) -> Result<E, StoreError> {
    let (event_type, payload) = (stored.event_type(), stored.payload());
    // One streaming parse of `{"<Type>":<payload>}`: no intermediate tree.
    // Built by hand: `format!` was 6% of a rebuild's decoding.
    let mut tagged = String::with_capacity(event_type.len() + payload.len() + 5);
    tagged.push_str("{\"");
    tagged.push_str(event_type);
    tagged.push_str("\":");
    tagged.push_str(payload);
    tagged.push('}');
    serde_json::from_str(&tagged)
        .map_err(|err| StoreError::Corrupt(format!("{}: {err}", stored.describe())))
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

impl StoredEvent for RecordedEvent {
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
        format!("event {}", self.event_id)
    }
}

impl StoredEvent for ReplayedEvent {
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
        format!("event at position {}", self.global_position)
    }
}

/// Stored instants, fast: `#[serde(with = "sellerdesk_eventstore::codec::instant")]`
/// on a `DateTime<Utc>` field.
///
/// The stored form is exactly chrono's (`YYYY-MM-DDTHH:MM:SS[.fraction]Z`,
/// a fraction of 0, 3, 6 or 9 digits), so rows and snapshots written before
/// and after read the same. chrono's general RFC 3339 parser and its
/// formatter were a sixth of a compliance rebuild's decoding and most of
/// writing a large snapshot; that one shape is read and written by hand here,
/// and anything else (an offset, a leap second, a year outside 0-9999) goes
/// through chrono, so every value chrono accepts is still accepted.
pub mod instant {
    use chrono::{DateTime, Utc};

    pub fn serialize<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        match super::format_utc(t) {
            Some(text) => s.serialize_str(text.as_str()),
            None => serde::Serialize::serialize(t, s),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DateTime<Utc>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an RFC 3339 instant")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                match super::parse_utc(s.as_bytes()) {
                    Some(t) => Ok(t),
                    None => DateTime::parse_from_rfc3339(s)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(E::custom),
                }
            }
        }
        d.deserialize_str(Visitor)
    }
}

/// [`instant`] for an optional field (`#[serde(default, with = ...)]`).
pub mod optional_instant {
    use chrono::{DateTime, Utc};

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Wrapped(#[serde(with = "super::instant")] DateTime<Utc>);

    pub fn serialize<S: serde::Serializer>(
        t: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&t.map(Wrapped), s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(<Option<Wrapped> as serde::Deserialize>::deserialize(d)?.map(|w| w.0))
    }
}

/// A fixed-capacity text buffer for one formatted instant.
struct InstantText {
    buf: [u8; 30],
    len: usize,
}

impl InstantText {
    fn push(&mut self, c: u8) {
        self.buf[self.len] = c;
        self.len += 1;
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).expect("ASCII digits and separators")
    }
}

/// chrono's `Serialize` text for a UTC instant, or `None` where chrono's own
/// writer must decide (years outside 0-9999, leap seconds).
fn format_utc(t: &DateTime<Utc>) -> Option<InstantText> {
    use chrono::{Datelike, Timelike};
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    let mut out = InstantText {
        buf: [0; 30],
        len: 0,
    };
    write_digits(&mut out, year as u32, 4);
    for (separator, value) in [
        (b'-', t.month()),
        (b'-', t.day()),
        (b'T', t.hour()),
        (b':', t.minute()),
        (b':', t.second()),
    ] {
        out.push(separator);
        write_digits(&mut out, value, 2);
    }
    // chrono's AutoSi: no fraction, or milli-, micro- or nanoseconds.
    let (fraction, digits) = if nanos == 0 {
        (0, 0)
    } else if nanos % 1_000_000 == 0 {
        (nanos / 1_000_000, 3)
    } else if nanos % 1_000 == 0 {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    if digits > 0 {
        out.push(b'.');
        write_digits(&mut out, fraction, digits);
    }
    out.push(b'Z');
    Some(out)
}

fn write_digits(out: &mut InstantText, value: u32, digits: u32) {
    for k in (0..digits).rev() {
        out.push(b'0' + (value / 10u32.pow(k) % 10) as u8);
    }
}

fn parse_utc(b: &[u8]) -> Option<DateTime<Utc>> {
    let n = b.len();
    if n < 20 || b[n - 1] != b'Z' || [b[4], b[7], b[10], b[13], b[16]] != *b"--T::" {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let nanos = match &b[19..n - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(20..n - 1)? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    // A leap second (:60) is not a valid time here: chrono's parser takes it.
    let time =
        chrono::NaiveTime::from_hms_nano_opt(num(11..13)?, num(14..16)?, num(17..19)?, nanos)?;
    Some(date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, serde::Serialize)]
    struct At(#[serde(with = "instant")] DateTime<Utc>);

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
