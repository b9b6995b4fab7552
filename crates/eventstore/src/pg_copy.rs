//! Reading a range of the log with `COPY ... TO STDOUT (FORMAT binary)`.
//!
//! Read-all is the store's hot path for rebuilds and relays. Through the row
//! protocol, sqlx spent most of the reader's time per cell (type checks,
//! `try_get`, per-row stream machinery); the binary COPY stream is parsed
//! here in one pass, which roughly halves the client's CPU per event. The
//! layout is PostgreSQL's documented binary COPY format: a signature, flags
//! and an extension area, then per tuple a field count and length-prefixed
//! fields (-1 for NULL), and a -1 trailer.

use crate::{
    model::{in_log_order, Positioned, Repeated},
    Metadata, RecordedEvent, ReplayedEvent, StoreError,
};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

/// Events with `from < global_position <= to`, in global order.
pub(crate) async fn read_range(
    pool: &PgPool,
    from: i64,
    to: i64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    copy_range(pool, RECORDED_COLUMNS, from, to, "", recorded).await
}

/// [`read_range`] of the streams whose id starts with `prefix` (checked plain).
pub(crate) async fn read_range_of(
    pool: &PgPool,
    prefix: &str,
    from: i64,
    to: i64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let prefix = crate::model::checked_prefix(prefix)?;
    let only = format!(" AND starts_with(stream_id, '{prefix}')");
    copy_range(pool, RECORDED_COLUMNS, from, to, &only, recorded).await
}

/// [`read_range`] without the metadata columns (see [`ReplayedEvent`]).
pub(crate) async fn replay_range(
    pool: &PgPool,
    from: i64,
    to: i64,
) -> Result<Vec<ReplayedEvent>, StoreError> {
    let (mut streams, mut types) = (Repeated::default(), Repeated::default());
    copy_range(pool, REPLAYED_COLUMNS, from, to, "", |c| {
        replayed(c, &mut streams, &mut types)
    })
    .await
}

const RECORDED_COLUMNS: &str = "global_position, stream_id, stream_version, event_id, event_type, \
     schema_version, shop_id, occurred_at, recorded_at, correlation_id, causation_id, actor, \
     traceparent, payload::text";
const REPLAYED_COLUMNS: &str =
    "global_position, stream_id, stream_version, event_type, schema_version, occurred_at, \
     payload::text";

/// `columns` of the events `from < global_position <= to` that also meet
/// `only` (SQL after the range's condition, "" for none), each row read by
/// `row`, in log order.
async fn copy_range<T: Positioned>(
    pool: &PgPool,
    columns: &str,
    from: i64,
    to: i64,
    only: &str,
    row: impl FnMut(&mut Cursor) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    // COPY takes no bind parameters; both bounds are integers. No ORDER BY:
    // on a table without statistics yet (a fresh or just-filled log) the
    // planner picked a bitmap scan plus a sort, which cost more than the
    // one-pass ordering in `parse`; an index or physical-order scan of this
    // append-only table already yields positions (nearly) in order.
    let sql = format!(
        "COPY (SELECT {columns} FROM events \
         WHERE global_position > {from} AND global_position <= {to}{only}) TO STDOUT (FORMAT binary)"
    );
    let mut copying = Copying {
        conn: pool.acquire().await?,
        finished: false,
    };
    // A follower's polls mostly find nothing: start small and let it grow.
    let mut buf = Vec::with_capacity(((to - from).clamp(0, 256) as usize) * 256);
    {
        let mut chunks = copying.conn.copy_out_raw(&sql).await?;
        while let Some(chunk) = chunks.try_next().await? {
            buf.extend_from_slice(&chunk);
        }
    }
    copying.finished = true;
    parse(&buf, (to - from).clamp(0, 1 << 20) as usize, row)
}

/// The connection a COPY runs on, closed rather than pooled unless the COPY
/// was read to its end. The driver does not count a COPY's closing
/// ReadyForQuery as one to wait for (sqlx 0.8), so a COPY abandoned part
/// way (its request cancelled, its follower aborted, an error before its
/// first row) went back to the pool with that message unread, and the
/// pool's check on release (a Sync answered by the first ReadyForQuery it
/// meets) left it one message behind: the next query on it took the
/// previous answer's end for its own and returned no rows, so a read right
/// after another replica's write missed it. A closed connection costs a
/// reconnect; a pooled one out of step answers wrongly without an error.
struct Copying {
    conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
    finished: bool,
}

impl Drop for Copying {
    fn drop(&mut self) {
        if !self.finished {
            self.conn.close_on_drop();
        }
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("binary COPY of events: {what}"))
}

struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| corrupt("truncated"))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn i16(&mut self) -> Result<i16, StoreError> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().expect("2")))
    }

    /// Reads the -1 that ends the stream, or leaves a row's field count.
    fn at_trailer(&mut self) -> Result<bool, StoreError> {
        if self.take(2)? == (-1i16).to_be_bytes() {
            return Ok(true);
        }
        self.at -= 2;
        Ok(false)
    }

    /// A row's field count, which must be what the query selected.
    fn fields(&mut self, expected: i16) -> Result<(), StoreError> {
        match self.i16()? {
            n if n == expected => Ok(()),
            n => Err(corrupt(&format!(
                "{n} fields in a row, expected {expected}"
            ))),
        }
    }

    fn i32(&mut self) -> Result<i32, StoreError> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().expect("4")))
    }

    /// One field's bytes; `None` for SQL NULL.
    fn field(&mut self) -> Result<Option<&'a [u8]>, StoreError> {
        match self.i32()? {
            -1 => Ok(None),
            n if n >= 0 => self.take(n as usize).map(Some),
            _ => Err(corrupt("negative field length")),
        }
    }

    fn required(&mut self, column: &str) -> Result<&'a [u8], StoreError> {
        self.field()?
            .ok_or_else(|| corrupt(&format!("{column} is NULL")))
    }

    /// A non-NULL field of exactly `N` bytes (the binary integers).
    fn fixed<const N: usize>(&mut self, column: &str) -> Result<[u8; N], StoreError> {
        self.required(column)?
            .try_into()
            .map_err(|_| corrupt(column))
    }

    fn int8(&mut self, column: &str) -> Result<i64, StoreError> {
        Ok(i64::from_be_bytes(self.fixed(column)?))
    }

    fn int4(&mut self, column: &str) -> Result<i32, StoreError> {
        Ok(i32::from_be_bytes(self.fixed(column)?))
    }

    fn text(&mut self, column: &str) -> Result<String, StoreError> {
        text(self.required(column)?, column)
    }

    fn shared_text(&mut self, column: &str, last: &mut Repeated) -> Result<Arc<str>, StoreError> {
        let bytes = self.required(column)?;
        last.share_bytes(bytes, || {
            std::str::from_utf8(bytes).map_err(|_| corrupt(&format!("{column} is not UTF-8")))
        })
    }

    fn opt_text(&mut self, column: &str) -> Result<Option<String>, StoreError> {
        self.field()?.map(|b| text(b, column)).transpose()
    }

    fn uuid(&mut self, column: &str) -> Result<Uuid, StoreError> {
        uuid(self.required(column)?, column)
    }

    fn opt_uuid(&mut self, column: &str) -> Result<Option<Uuid>, StoreError> {
        self.field()?.map(|b| uuid(b, column)).transpose()
    }

    fn timestamptz(&mut self, column: &str) -> Result<DateTime<Utc>, StoreError> {
        let us = self.int8(column)?;
        us.checked_add(PG_EPOCH_OFFSET_US)
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(|| corrupt(&format!("{column} out of range")))
    }
}

fn text(b: &[u8], column: &str) -> Result<String, StoreError> {
    String::from_utf8(b.to_vec()).map_err(|_| corrupt(&format!("{column} is not UTF-8")))
}

fn uuid(b: &[u8], column: &str) -> Result<Uuid, StoreError> {
    Uuid::from_slice(b).map_err(|_| corrupt(column))
}

fn recorded(c: &mut Cursor) -> Result<RecordedEvent, StoreError> {
    c.fields(14)?;
    Ok(RecordedEvent {
        global_position: c.int8("global_position")?,
        stream_id: c.text("stream_id")?,
        stream_version: c.int8("stream_version")?,
        event_id: c.uuid("event_id")?,
        event_type: c.text("event_type")?,
        schema_version: c.int4("schema_version")?,
        shop_id: c.text("shop_id")?,
        occurred_at: c.timestamptz("occurred_at")?,
        recorded_at: c.timestamptz("recorded_at")?,
        metadata: Metadata {
            correlation_id: c.opt_uuid("correlation_id")?,
            causation_id: c.opt_uuid("causation_id")?,
            actor: c.opt_text("actor")?,
            traceparent: c.opt_text("traceparent")?,
        },
        payload: c.text("payload")?,
    })
}

fn replayed(
    c: &mut Cursor,
    streams: &mut Repeated,
    types: &mut Repeated,
) -> Result<ReplayedEvent, StoreError> {
    c.fields(7)?;
    Ok(ReplayedEvent {
        global_position: c.int8("global_position")?,
        stream_id: c.shared_text("stream_id", streams)?,
        stream_version: c.int8("stream_version")?,
        event_type: c.shared_text("event_type", types)?,
        schema_version: c.int4("schema_version")?,
        occurred_at: c.timestamptz("occurred_at")?,
        payload: c.text("payload")?,
    })
}

/// The rows of a binary COPY stream, each read by `row` after its field
/// count, in log order.
fn parse<T: Positioned>(
    buf: &[u8],
    expected_rows: usize,
    mut row: impl FnMut(&mut Cursor) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut c = Cursor { buf, at: 0 };
    if c.take(SIGNATURE.len())? != SIGNATURE {
        return Err(corrupt("bad signature"));
    }
    let _flags = c.i32()?;
    let extension = c.i32()?;
    c.take(usize::try_from(extension).map_err(|_| corrupt("bad header extension"))?)?;
    // A row takes well over 64 bytes: no more room than the data can fill.
    let mut events = Vec::with_capacity(expected_rows.min(buf.len() / 64));
    while !c.at_trailer()? {
        events.push(row(&mut c)?);
    }
    Ok(in_log_order(events))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(out: &mut Vec<u8>, b: Option<&[u8]>) {
        match b {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                out.extend_from_slice(b);
            }
        }
    }

    #[test]
    fn parses_a_row_with_nulls_and_rejects_truncation() {
        let id = Uuid::now_v7();
        let mut buf = SIGNATURE.to_vec();
        buf.extend_from_slice(&0i32.to_be_bytes());
        buf.extend_from_slice(&0i32.to_be_bytes());
        buf.extend_from_slice(&14i16.to_be_bytes());
        // 2000-01-01T00:00:01Z
        let ts = 1_000_000i64.to_be_bytes();
        for f in [
            Some(&7i64.to_be_bytes()[..]),
            Some(b"s-1"),
            Some(&3i64.to_be_bytes()[..]),
            Some(id.as_bytes()),
            Some(b"Happened"),
            Some(&2i32.to_be_bytes()[..]),
            Some("店".as_bytes()),
            Some(&ts[..]),
            Some(&ts[..]),
            None,
            Some(id.as_bytes()),
            None,
            Some(b"tp"),
            Some(b"{\"a\":1}"),
        ] {
            field(&mut buf, f);
        }
        buf.extend_from_slice(&(-1i16).to_be_bytes());
        let events = parse(&buf, 1, recorded).unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(
            (e.global_position, e.stream_version, e.schema_version),
            (7, 3, 2)
        );
        assert_eq!((e.stream_id.as_str(), e.shop_id.as_str()), ("s-1", "店"));
        assert_eq!(e.occurred_at.timestamp(), 946_684_801);
        assert_eq!(e.metadata.correlation_id, None);
        assert_eq!(e.metadata.causation_id, Some(id));
        assert_eq!(e.metadata.traceparent.as_deref(), Some("tp"));
        assert_eq!(e.payload, "{\"a\":1}");
        assert!(parse(&buf[..buf.len() - 3], 1, recorded).is_err());
        // The same bytes are not a replayed row: the field count says so.
        let (mut streams, mut types) = (Repeated::default(), Repeated::default());
        assert!(parse(&buf, 1, |c| replayed(c, &mut streams, &mut types)).is_err());
    }
}
