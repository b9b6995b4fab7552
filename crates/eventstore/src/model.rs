use chrono::{DateTime, Utc};
use std::sync::Arc;
use uuid::Uuid;

/// What a stream must be at for an append to go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream's version.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have this version (1-based).
    Exact(i64),
}

impl ExpectedVersion {
    /// What a command decided on a stream folded to `version` expects: the
    /// stream must still be there (`Exact`), or still absent when nothing
    /// was folded (`NoStream`).
    pub fn after(version: i64) -> Self {
        if version == 0 {
            Self::NoStream
        } else {
            Self::Exact(version)
        }
    }

    pub(crate) fn check(self, stream_id: &str, actual: i64) -> Result<(), AppendError> {
        let ok = match self {
            Self::Any => true,
            Self::NoStream => actual == 0,
            Self::Exact(v) => actual == v,
        };
        if ok {
            Ok(())
        } else {
            Err(AppendError::Conflict {
                stream_id: stream_id.to_owned(),
                expected: self,
                actual,
            })
        }
    }
}

/// An event about to be appended. The payload is JSON text the owning service
/// serialised; the store never interprets it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub shop_id: String,
    pub occurred_at: DateTime<Utc>,
    pub metadata: Metadata,
    pub payload: String,
}

/// Why an event happened and who caused it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// The request or conversation this event belongs to.
    pub correlation_id: Option<Uuid>,
    /// The event or command that directly caused it.
    pub causation_id: Option<Uuid>,
    /// The account (or "system") that caused it.
    pub actor: Option<String>,
    /// W3C `traceparent` of the span that appended it, carried on into NATS headers.
    pub traceparent: Option<String>,
}

/// An event as stored, with its place in its stream and in the global order.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub global_position: i64,
    pub stream_id: String,
    pub stream_version: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub shop_id: String,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub metadata: Metadata,
    pub payload: String,
}

/// An event as a replay of the whole log reads it: its place, what it is and
/// its payload, without the metadata columns. Rebuilding read models needs
/// no more, and leaving the rest out makes a page about a third cheaper to
/// produce and to parse.
///
/// Stream ids and types repeat from row to row, so a row shares the previous
/// row's copy when they are equal. Two rows whose stream ids are
/// [`Arc::ptr_eq`] are of the same stream (the converse need not hold), which
/// lets a consumer skip looking the stream up again.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayedEvent {
    pub global_position: i64,
    pub stream_id: Arc<str>,
    pub stream_version: i64,
    pub event_type: Arc<str>,
    pub schema_version: i32,
    pub occurred_at: DateTime<Utc>,
    pub payload: String,
}

impl From<RecordedEvent> for ReplayedEvent {
    fn from(e: RecordedEvent) -> Self {
        Self {
            global_position: e.global_position,
            stream_id: e.stream_id.into(),
            stream_version: e.stream_version,
            event_type: e.event_type.into(),
            schema_version: e.schema_version,
            occurred_at: e.occurred_at,
            payload: e.payload,
        }
    }
}

/// The last copy of a text column that repeats from row to row.
#[derive(Default)]
pub(crate) struct Repeated(Option<Arc<str>>);

impl Repeated {
    /// `text` as a shared string: the previous one if equal.
    pub(crate) fn share(&mut self, text: &str) -> Arc<str> {
        match &self.0 {
            Some(previous) if **previous == *text => previous.clone(),
            _ => self.replace(text),
        }
    }

    /// Like [`Self::share`] for raw bytes, checked as text (by `text`) only
    /// when they differ from the previous row's.
    pub(crate) fn share_bytes<'a, E>(
        &mut self,
        bytes: &[u8],
        text: impl FnOnce() -> Result<&'a str, E>,
    ) -> Result<Arc<str>, E> {
        match &self.0 {
            Some(previous) if previous.as_bytes() == bytes => Ok(previous.clone()),
            _ => Ok(self.replace(text()?)),
        }
    }

    fn replace(&mut self, text: &str) -> Arc<str> {
        let shared: Arc<str> = Arc::from(text);
        self.0 = Some(shared.clone());
        shared
    }
}

/// What a page of the log is made of: both kinds of event have a position.
pub(crate) trait Positioned {
    fn position(&self) -> i64;
}

impl Positioned for RecordedEvent {
    fn position(&self) -> i64 {
        self.global_position
    }
}

impl Positioned for ReplayedEvent {
    fn position(&self) -> i64 {
        self.global_position
    }
}

/// Puts a range of the log in position order. Scans return it in physical
/// order, which is nearly always but not quite position order (a 100,000-event
/// log had 95 inversions), and sorting cost 6% of a replay's reading. A range
/// holds consecutive positions, so each row's place is its position minus the
/// first: rows are swapped into place in one pass. Anything else (which the
/// log's gap-free positions rule out) falls back to a sort.
pub(crate) fn in_log_order<T: Positioned>(mut page: Vec<T>) -> Vec<T> {
    if page.is_sorted_by_key(Positioned::position) {
        return page;
    }
    let first = page.iter().map(Positioned::position).min().unwrap_or(0);
    let place = |p: i64| usize::try_from(p - first).ok();
    let consecutive = page
        .iter()
        .all(|e| place(e.position()).is_some_and(|i| i < page.len()));
    if !consecutive {
        page.sort_unstable_by_key(Positioned::position);
        return page;
    }
    for i in 0..page.len() {
        // Each swap puts one row where it belongs, so this ends after at most
        // n swaps; a duplicate position would loop, so it is checked.
        loop {
            let j = place(page[i].position()).expect("checked above");
            if j == i {
                break;
            }
            if page[j].position() == page[i].position() {
                page.sort_unstable_by_key(Positioned::position);
                return page;
            }
            page.swap(i, j);
        }
    }
    page
}

/// Marks an upstream event as processed by a consumer, atomically with an append.
#[derive(Debug, Clone)]
pub struct InboxMark {
    pub consumer: String,
    pub event_id: Uuid,
}

/// One atomic append.
#[derive(Debug, Clone)]
pub struct Append {
    pub stream_id: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    pub inbox: Option<InboxMark>,
}

impl Append {
    pub fn new(
        stream_id: impl Into<String>,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Self {
        Self {
            stream_id: stream_id.into(),
            expected,
            events,
            inbox: None,
        }
    }

    pub fn with_inbox(mut self, consumer: impl Into<String>, event_id: Uuid) -> Self {
        self.inbox = Some(InboxMark {
            consumer: consumer.into(),
            event_id,
        });
        self
    }
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append.
    pub stream_version: i64,
    /// Global position of the first and last appended event (equal for one event;
    /// both are the head when nothing was appended).
    pub first_position: i64,
    pub last_position: i64,
}

/// A derived document: a read model row or an aggregate snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub key: String,
    /// Stream version the document reflects.
    pub version: i64,
    /// Global position the document reflects.
    pub position: i64,
    pub body: String,
}

/// A document of a searchable read model: found by shop, by exact terms, by
/// a time window and by text, a page at a time (issue 15 item 4: chat's
/// conversations and transcripts live here, not in a replica's memory).
/// Derived from the log like a [`Snapshot`]: safe to drop and project again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Which read model: one service may keep several.
    pub index: String,
    pub shop_id: String,
    pub doc_id: String,
    /// When what it describes began (a conversation opened, a line was
    /// said), in Unix milliseconds: pages run in this order.
    pub starts_at: i64,
    /// When it ended (a conversation closed), if it has.
    pub ends_at: Option<i64>,
    /// The stream version the document reflects.
    pub version: i64,
    /// Exact-match keys ("buyer:b1"); a query names the ones a hit must have.
    pub terms: Vec<String>,
    /// Searched by substring; the store keeps it lower-cased.
    pub text: String,
    pub body: String,
}

/// The owner of every schedule entry ([`Document::schedule_entry`]): a
/// schedule spans shops.
pub const SCHEDULE_OWNER: &str = "";

impl Document {
    /// An entry of a schedule: a read model of when each of its ids (a
    /// shop) is next due, read oldest first by a service's timekeeper. No
    /// owner; `starts_at` is `due` in Unix milliseconds rounded up, so an
    /// entry found due at a millisecond is due at or before any instant
    /// within it, and never (`i64::MAX`) without one; at the source's
    /// `version`, so a writer that lost its lease cannot move it back.
    pub fn schedule_entry(
        index: &str,
        id: &str,
        due: Option<DateTime<Utc>>,
        version: i64,
        body: String,
    ) -> Self {
        let millis = |at: DateTime<Utc>| {
            at.timestamp_millis()
                + i64::from(!at.timestamp_subsec_nanos().is_multiple_of(1_000_000))
        };
        Self {
            index: index.to_owned(),
            shop_id: SCHEDULE_OWNER.to_owned(),
            doc_id: id.to_owned(),
            starts_at: due.map_or(i64::MAX, millis),
            ends_at: None,
            version,
            terms: Vec::new(),
            text: String::new(),
            body,
        }
    }
}

/// Which documents of one shop's index, and which page of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentQuery {
    pub index: String,
    pub shop_id: String,
    /// Every one of these terms.
    pub terms: Vec<String>,
    /// Only documents with one of these ids (`None`: any id): loaded by key
    /// and paged in the index's own order, for a caller that found a bounded
    /// list of candidates through [`crate::EventStore::term_postings`].
    pub ids: Option<Vec<String>>,
    /// `starts_at` in [from, before).
    pub starts_from: Option<i64>,
    pub starts_before: Option<i64>,
    /// `ends_at` in [from, before); a document that has not ended never matches.
    pub ends_from: Option<i64>,
    pub ends_before: Option<i64>,
    /// A substring of the text, any case (ASCII letters folded).
    pub text: Option<String>,
    /// Oldest first (a transcript); newest first otherwise (a list).
    pub oldest_first: bool,
    /// The page after this document's `(starts_at, doc_id)`.
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

impl DocumentQuery {
    /// The first page of a schedule's entries due at `now`, oldest first, at
    /// most `limit` of them ([`Document::schedule_entry`]): entries are
    /// stored rounded up to the millisecond, so one at or before this
    /// millisecond is due at or before now. Set `after` to the last entry
    /// read for the next page.
    pub fn due(index: &str, now: DateTime<Utc>, limit: i64) -> Self {
        Self {
            index: index.to_owned(),
            shop_id: SCHEDULE_OWNER.to_owned(),
            starts_before: Some(now.timestamp_millis().saturating_add(1)),
            oldest_first: true,
            limit,
            ..Self::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Someone else appended first; reload and decide again.
    #[error("stream {stream_id} is at version {actual}, expected {expected:?}")]
    Conflict {
        stream_id: String,
        expected: ExpectedVersion,
        actual: i64,
    },
    /// The inbox says this upstream event was already acted on: nothing appended.
    #[error("event already processed by this consumer")]
    AlreadyProcessed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A payload that cannot be JSON text; nothing was appended.
    #[error("payload of event {0} is not JSON text")]
    PayloadNotJson(Uuid),
    /// A write that went through a shared writer (group commit) failed there.
    #[error("write failed: {0}")]
    WriteFailed(String),
    /// As [`StoreError::WriteFailed`], because the database was unavailable
    /// ([`crate::unavailable`]): the same request may go through later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// This error as each waiter of a shared write (group commit) gets it:
    /// its text (a driver's error is not `Clone`), and whether the database
    /// was unavailable, so each still answers UNAVAILABLE and not INTERNAL.
    pub fn shared(&self) -> StoreError {
        if crate::unavailable(self) {
            StoreError::Unavailable(self.to_string())
        } else {
            StoreError::WriteFailed(self.to_string())
        }
    }
}

impl From<sqlx::Error> for AppendError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Database(e))
    }
}

/// A new event id: UUIDv7, so ids sort roughly by creation time.
pub fn new_event_id() -> Uuid {
    Uuid::now_v7()
}

/// Tells followers in this process that the log grew to `last` (never backwards).
pub(crate) fn advance_head(head: &tokio::sync::watch::Sender<i64>, last: i64) {
    head.send_if_modified(|h| {
        let moved = last > *h;
        *h = (*h).max(last);
        moved
    });
}

/// Pages of at least this many events are read as position ranges at once.
const SPLIT_AT: i64 = 2_000;
/// How many ranges a large page is read as: with the database on the same
/// two cores, more ranges keep both busy while the client parses.
const PARTS: i64 = 4;

/// Reads `(after, after + limit]` with `read(from_exclusive, to_inclusive)`,
/// as concurrent ranges when the page is large. Global positions are
/// contiguous (appends are serialised and never removed), so a position range
/// holds exactly the events of that slice of the page.
/// A stream prefix a filtered read may name ([`crate::EventStore::read_streams_between`]):
/// PostgreSQL's COPY takes no bind parameters, so the prefix is written into
/// the statement and must be plain.
pub(crate) fn checked_prefix(prefix: &str) -> Result<&str, StoreError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if prefix.is_empty() || !prefix.chars().all(plain) {
        return Err(StoreError::Config(format!(
            "stream prefix {prefix:?}: only ASCII letters, digits, '-' and '_'"
        )));
    }
    Ok(prefix)
}

pub(crate) async fn read_page<T, F, Fut>(
    after: i64,
    limit: i64,
    read: F,
) -> Result<Vec<T>, StoreError>
where
    T: Send + 'static,
    F: Fn(i64, i64) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, StoreError>> + Send + 'static,
{
    let end = after.saturating_add(limit.max(0));
    if limit < SPLIT_AT {
        return read(after, end).await;
    }
    let step = limit / PARTS;
    let bound = |k: i64| if k == PARTS { end } else { after + k * step };
    // Separate tasks, so parsing the ranges uses both cores.
    let rest: Vec<_> = (1..PARTS)
        .map(|k| tokio::spawn(read(bound(k), bound(k + 1))))
        .collect();
    let mut events = read(after, bound(1)).await?;
    events.reserve(limit as usize - events.len().min(limit as usize));
    for part in rest {
        events.extend(
            part.await
                .map_err(|e| StoreError::Config(format!("page reader task failed: {e}")))??,
        );
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Positioned for i64 {
        fn position(&self) -> i64 {
            *self
        }
    }

    #[test]
    fn a_range_is_put_in_position_order_whatever_the_scan_returned() {
        let mut page: Vec<i64> = (101..=2600).collect();
        // A deterministic shuffle, plus the near-sorted shape scans return.
        for i in 0..page.len() {
            page.swap(i, (i * 7_919) % 2500);
        }
        assert_eq!(in_log_order(page), (101..=2600).collect::<Vec<_>>());
        assert_eq!(in_log_order(vec![5, 4, 6, 7]), vec![4, 5, 6, 7]);
        // Not consecutive, or a duplicate: still sorted, by the fallback.
        assert_eq!(in_log_order(vec![9, 3, 5]), vec![3, 5, 9]);
        assert_eq!(in_log_order(vec![2, 1, 2]), vec![1, 2, 2]);
        assert_eq!(in_log_order(vec![3, 1, 1]), vec![1, 1, 3]);
        assert_eq!(in_log_order(Vec::<i64>::new()), Vec::<i64>::new());
    }
}
