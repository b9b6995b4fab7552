//! Instants as the log stores them: exactly chrono's text, written and read
//! fast. Pure (serde and chrono): domains use it for their events' fields.

use chrono::{DateTime, Utc};

/// Stored instants, fast: `#[serde(with = "sellerdesk_core::instant")]`
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
