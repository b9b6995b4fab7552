//! The stored form of a shop's violation records inside a snapshot.
//!
//! A shop with 100,000 events holds ~90,000 violation records, and writing
//! them as JSON objects (field names, RFC 3339 text, a derivable expiry and
//! sequence number each) made a ~13 MB document whose write was 40% of a
//! rebuild. Here each record is a short array, types are named once in a
//! table, instants are integer nanoseconds, and `seq` and `expires_at` are
//! derived again on load (index order; R-CMP-2's fixed validity).
//!
//! Shape: `{"types": [name, ...], "rows": [row, ...]}` with each row
//! `[id, type index, points, recorded_at, status, status_at?, evidence?, appeals?]`.
//! Trailing parts are left out when they hold nothing; status is 0 active,
//! 1 expired, 2 overturned, and an expiry's instant is written only when it is
//! not the record's own expiry. Snapshots written before this form (a list of
//! objects) still load.

use super::{
    events::AppealOutcome,
    rules,
    state::{AppealDecision, AppealRecord, ViolationRecord, ViolationStatus},
    Instant,
};
use imbl::Vector;
use serde::{
    de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor},
    ser::{SerializeMap, SerializeSeq},
    Deserialize, Deserializer, Serialize, Serializer,
};
use std::{collections::HashMap, fmt, sync::Arc};

type Records = Vector<Arc<ViolationRecord>>;

const ACTIVE: u8 = 0;
const EXPIRED: u8 = 1;
const OVERTURNED: u8 = 2;

pub(super) fn serialize<S: Serializer>(records: &Records, s: S) -> Result<S::Ok, S::Error> {
    let mut types: Vec<&str> = Vec::new();
    let mut numbers: HashMap<&str, u32> = HashMap::new();
    let mut previous: Option<&str> = None;
    for r in records {
        // Consecutive records usually share a type: skip the hash lookup.
        if previous == Some(&*r.violation_type) {
            continue;
        }
        previous = Some(&r.violation_type);
        numbers.entry(&*r.violation_type).or_insert_with(|| {
            types.push(&r.violation_type);
            types.len() as u32 - 1
        });
    }
    let mut map = s.serialize_map(Some(2))?;
    map.serialize_entry("types", &types)?;
    map.serialize_entry(
        "rows",
        &Rows {
            records,
            numbers: &numbers,
        },
    )?;
    map.end()
}

struct Rows<'a> {
    records: &'a Records,
    numbers: &'a HashMap<&'a str, u32>,
}

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.records.len()))?;
        let mut previous: Option<(&str, u32)> = None;
        for r in self.records {
            // Consecutive records usually share a type: skip the hash lookup.
            let type_number = match previous {
                Some((name, n)) if name == &*r.violation_type => n,
                _ => self.numbers[&*r.violation_type],
            };
            previous = Some((&r.violation_type, type_number));
            seq.serialize_element(&Row {
                record: r,
                type_number,
            })?;
        }
        seq.end()
    }
}

struct Row<'a> {
    record: &'a ViolationRecord,
    type_number: u32,
}

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.record;
        let (status, status_at) = match r.status {
            ViolationStatus::Active => (ACTIVE, None),
            ViolationStatus::Expired { at } if at == r.expires_at => (EXPIRED, None),
            ViolationStatus::Expired { at } => (EXPIRED, Some(at)),
            ViolationStatus::Overturned { at } => (OVERTURNED, Some(at)),
        };
        let parts = if !r.appeals.is_empty() {
            8
        } else if !r.evidence.is_empty() {
            7
        } else if status_at.is_some() {
            6
        } else {
            5
        };
        let mut seq = s.serialize_seq(Some(parts))?;
        seq.serialize_element(&*r.id)?;
        seq.serialize_element(&self.type_number)?;
        seq.serialize_element(&r.points)?;
        seq.serialize_element(&Nanos(r.recorded_at))?;
        seq.serialize_element(&status)?;
        if parts > 5 {
            seq.serialize_element(&status_at.map(Nanos))?;
        }
        if parts > 6 {
            seq.serialize_element(&r.evidence)?;
        }
        if parts > 7 {
            seq.serialize_element(&Appeals(&r.appeals))?;
        }
        seq.end()
    }
}

pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Records, D::Error> {
    d.deserialize_any(RecordsVisitor)
}

struct RecordsVisitor;

impl<'de> Visitor<'de> for RecordsVisitor {
    type Value = Records;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("violation records: {\"types\", \"rows\"} or a list of records")
    }

    /// The form written before the compact one.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Records, A::Error> {
        let mut out = Vector::new();
        while let Some(r) = seq.next_element::<ViolationRecord>()? {
            out.push_back(Arc::new(r));
        }
        Ok(out)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Records, A::Error> {
        let mut types: Option<Vec<Arc<str>>> = None;
        let mut records = None;
        while let Some(key) = map.next_key::<String>()? {
            match &*key {
                "types" => types = Some(map.next_value()?),
                "rows" => {
                    let types = types
                        .as_deref()
                        .ok_or_else(|| de::Error::custom("\"types\" must come before \"rows\""))?;
                    records = Some(map.next_value_seed(RowsSeed { types })?);
                }
                other => return Err(de::Error::unknown_field(other, &["types", "rows"])),
            }
        }
        records.ok_or_else(|| de::Error::missing_field("rows"))
    }
}

struct RowsSeed<'a> {
    types: &'a [Arc<str>],
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = Records;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Records, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = Records;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of violation rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Records, A::Error> {
        let mut out = Vector::new();
        while let Some(r) = seq.next_element_seed(RowSeed {
            types: self.types,
            seq: out.len() as u64,
        })? {
            out.push_back(Arc::new(r));
        }
        Ok(out)
    }
}

struct RowSeed<'a> {
    types: &'a [Arc<str>],
    seq: u64,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ViolationRecord;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ViolationRecord, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ViolationRecord;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a violation row")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ViolationRecord, A::Error> {
        fn required<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
            seq: &mut A,
            n: usize,
        ) -> Result<T, A::Error> {
            seq.next_element()?
                .ok_or_else(|| de::Error::invalid_length(n, &"at least 5 parts"))
        }
        let id: Arc<str> = required(&mut seq, 0)?;
        let type_number: usize = required(&mut seq, 1)?;
        let points: u32 = required(&mut seq, 2)?;
        let Nanos(recorded_at) = required(&mut seq, 3)?;
        let status: u8 = required(&mut seq, 4)?;
        let status_at: Option<Nanos> = seq.next_element::<Option<Nanos>>()?.flatten();
        let evidence: String = seq.next_element()?.unwrap_or_default();
        let appeals: Vec<AppealRow> = seq.next_element()?.unwrap_or_default();
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(9, &"at most 8 parts"));
        }
        let violation_type = self
            .types
            .get(type_number)
            .cloned()
            .ok_or_else(|| de::Error::custom(format!("no violation type {type_number}")))?;
        let expires_at = recorded_at + rules::point_validity();
        let status = match (status, status_at) {
            (ACTIVE, None) => ViolationStatus::Active,
            (EXPIRED, None) => ViolationStatus::Expired { at: expires_at },
            (EXPIRED, Some(Nanos(at))) => ViolationStatus::Expired { at },
            (OVERTURNED, Some(Nanos(at))) => ViolationStatus::Overturned { at },
            (code, at) => {
                return Err(de::Error::custom(format!(
                    "violation status {code} {} an instant",
                    if at.is_some() { "with" } else { "without" }
                )))
            }
        };
        Ok(ViolationRecord {
            id,
            violation_type,
            points,
            evidence,
            recorded_at,
            expires_at,
            seq: self.seq,
            status,
            appeals: appeals.into_iter().map(AppealRecord::from).collect(),
        })
    }
}

/// Each appeal as `[number, filed_at, reason, attachments, decision]`, the
/// decision as `[outcome, at, note]` or null while pending.
struct Appeals<'a>(&'a [AppealRecord]);

impl Serialize for Appeals<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|a| {
            (
                a.number,
                Nanos(a.filed_at),
                &a.reason,
                &a.attachments,
                a.decision
                    .as_ref()
                    .map(|d| (d.outcome, Nanos(d.at), &d.note)),
            )
        }))
    }
}

/// What [`Appeals`] wrote, read back.
#[derive(Deserialize)]
struct AppealRow(
    u32,
    Nanos,
    String,
    Vec<String>,
    Option<(AppealOutcome, Nanos, String)>,
);

impl From<AppealRow> for AppealRecord {
    fn from(AppealRow(number, Nanos(filed_at), reason, attachments, decision): AppealRow) -> Self {
        AppealRecord {
            number,
            filed_at,
            reason,
            attachments,
            decision: decision.map(|(outcome, Nanos(at), note)| AppealDecision {
                outcome,
                at,
                note,
            }),
        }
    }
}

/// An instant as integer nanoseconds since 1970 (exact, and much shorter to
/// write and read than text); instants outside 1677-2262 fall back to
/// RFC 3339 text.
struct Nanos(Instant);

impl Serialize for Nanos {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.timestamp_nanos_opt() {
            Some(n) => s.serialize_i64(n),
            None => sellerdesk_core::instant::serialize(&self.0, s),
        }
    }
}

impl<'de> Deserialize<'de> for Nanos {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Nanos, D::Error> {
        struct NanosVisitor;
        impl Visitor<'_> for NanosVisitor {
            type Value = Nanos;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("nanoseconds since 1970 or an RFC 3339 instant")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Nanos, E> {
                Ok(Nanos(chrono::DateTime::from_timestamp_nanos(n)))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Nanos, E> {
                i64::try_from(n)
                    .map(|n| Nanos(chrono::DateTime::from_timestamp_nanos(n)))
                    .map_err(|_| E::custom("instant out of range"))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Nanos, E> {
                sellerdesk_core::instant::deserialize(de::value::StrDeserializer::<E>::new(s))
                    .map(Nanos)
            }
        }
        d.deserialize_any(NanosVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Held(#[serde(with = "super")] Records);

    fn at(seconds: i64, nanos: u32) -> Instant {
        DateTime::from_timestamp(seconds, nanos).expect("in range")
    }

    fn record(seq: u64, violation_type: &str, recorded_at: Instant) -> ViolationRecord {
        ViolationRecord {
            id: Arc::from(format!("v-{seq}").as_str()),
            violation_type: Arc::from(violation_type),
            points: 2,
            evidence: String::new(),
            recorded_at,
            expires_at: recorded_at + rules::point_validity(),
            seq,
            status: ViolationStatus::Active,
            appeals: Vec::new(),
        }
    }

    fn sample() -> Records {
        let t = at(1_700_000_000, 123_456_789);
        let mut expired = record(1, "虚假发货", t + Duration::hours(1));
        expired.status = ViolationStatus::Expired {
            at: expired.expires_at,
        };
        let mut expired_elsewhere = record(2, "delayed_shipment", t + Duration::hours(2));
        expired_elsewhere.status = ViolationStatus::Expired {
            at: t + Duration::days(3),
        };
        let mut overturned = record(3, "delayed_shipment", t + Duration::hours(3));
        overturned.status = ViolationStatus::Overturned {
            at: t + Duration::hours(5),
        };
        overturned.evidence = "截图 \"订单\" \\ 1".into();
        overturned.appeals = vec![
            AppealRecord {
                number: 1,
                filed_at: t + Duration::hours(4),
                reason: "已发货".into(),
                attachments: vec!["file://a.png".into(), "file://b.png".into()],
                decision: Some(AppealDecision {
                    outcome: AppealOutcome::Granted,
                    at: t + Duration::hours(5),
                    note: "ok".into(),
                }),
            },
            AppealRecord {
                number: 2,
                filed_at: t + Duration::hours(6),
                reason: String::new(),
                attachments: vec![],
                decision: None,
            },
        ];
        let mut with_evidence_only = record(4, "delayed_shipment", t + Duration::hours(4));
        with_evidence_only.evidence = "photo".into();
        [
            record(0, "delayed_shipment", t),
            expired,
            expired_elsewhere,
            overturned,
            with_evidence_only,
        ]
        .into_iter()
        .map(Arc::new)
        .collect()
    }

    #[test]
    fn every_part_of_a_record_survives_the_compact_form() {
        let records = sample();
        let text = serde_json::to_string(&Held(records.clone())).unwrap();
        assert!(
            text.starts_with(r#"{"types":["delayed_shipment","虚假发货"],"rows":[["v-0",0,2,"#),
            "{text}"
        );
        let back: Held = serde_json::from_str(&text).unwrap();
        assert_eq!(back.0, records);
    }

    #[test]
    fn snapshots_written_before_the_compact_form_still_load() {
        let records = sample();
        let old: Vec<&ViolationRecord> = records.iter().map(|r| &**r).collect();
        let text = serde_json::to_string(&old).unwrap();
        let back: Held = serde_json::from_str(&text).unwrap();
        assert_eq!(back.0, records);
    }

    #[test]
    fn instants_beyond_nanosecond_range_fall_back_to_text() {
        let far = DateTime::parse_from_rfc3339("2300-01-01T00:00:00.5Z")
            .unwrap()
            .to_utc();
        let records: Records = [Arc::new(record(0, "t", far))].into_iter().collect();
        let text = serde_json::to_string(&Held(records.clone())).unwrap();
        assert!(text.contains("\"2300-01-01T00:00:00.500Z\""), "{text}");
        assert_eq!(serde_json::from_str::<Held>(&text).unwrap().0, records);
    }

    #[test]
    fn malformed_rows_are_refused() {
        for bad in [
            r#"{"types":["t"],"rows":[["v",1,1,0,0]]}"#,
            r#"{"types":["t"],"rows":[["v",0,1,0,2]]}"#,
            r#"{"types":["t"],"rows":[["v",0,1,0,7,5]]}"#,
            r#"{"types":["t"],"rows":[["v",0,1,0]]}"#,
            r#"{"types":["t"],"rows":[["v",0,1,0,0,null,"",[],9]]}"#,
            r#"{"rows":[],"types":[]}"#,
        ] {
            assert!(serde_json::from_str::<Held>(bad).is_err(), "{bad}");
        }
    }
}
