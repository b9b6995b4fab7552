//! The robot's interactions summarised by day and by hour, a read model in
//! faq's own database (R-FAQ-8, issue 15 item 4, R-X-4): the figures of a
//! window read a document per day instead of the knowledge base's whole
//! interaction stream, which for the help centre is every merchant's
//! questions ever.
//!
//! A projector, run once across replicas under a lease, follows the log
//! from its checkpoint and writes, for each batch and in one transaction:
//!
//! - a document per knowledge base, asker and UTC day (index [`DAYS`]) and
//!   per hour (index [`HOURS`]): the [`Summary`] of its interactions, and
//!   the first and last stream version it holds. Every interaction counts
//!   for the asker [`EVERYONE`]; in the help centre it also counts for the
//!   merchant who asked, who may read only their own (R-X-1);
//! - a mark per knowledge base (index [`PROJECTED`]): the interaction
//!   stream's version the documents reflect.
//!
//! A window's summary is exact whatever the projector's lag:
//!
//! - days wholly inside the window are merged from their documents, and the
//!   whole hours of a day the window cuts from theirs;
//! - an hour the window cuts is read from the stream, between the first and
//!   last version its document holds (at most two hours, never the history);
//! - the stream after the mark, read first, counts where the document read
//!   after it does not hold it yet. The projector writes a stream's events
//!   in order, so a document holds exactly its span's events up to its last
//!   version: one comparison tells which are missing.

use crate::{
    app::AppError,
    domain::{
        analytics::{Summary, Window},
        Instant,
    },
    store,
};
use sellerdesk_eventstore::{Document, EventStore, Follower, RecordedEvent, StoreError};
use sellerdesk_runtime::command::{for_each_event, for_each_event_through};
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
};

/// One document per knowledge base, asker and UTC day.
pub const DAYS: &str = "faq-interaction-days";
/// One document per knowledge base, asker and hour: what a day the window
/// cuts is read from.
pub const HOURS: &str = "faq-interaction-hours";
/// One document per knowledge base: how far its interactions are projected.
pub const PROJECTED: &str = "faq-interactions-projected";
/// The projector's checkpoint, and its lease.
pub const PROJECTOR: &str = "faq-day-book";
/// The asker every interaction of a knowledge base counts for: `*` is not
/// allowed in shop ids.
pub const EVERYONE: &str = "*";
/// Events per projector pass.
const BATCH: i64 = 2_000;
/// Documents asked for per query.
const PAGE: i64 = 500;

/// The two lengths the book is kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Span {
    Day,
    Hour,
}

impl Span {
    const BOTH: [Span; 2] = [Span::Day, Span::Hour];

    fn millis(self) -> i64 {
        match self {
            Span::Day => 86_400_000,
            Span::Hour => 3_600_000,
        }
    }

    fn index(self) -> &'static str {
        match self {
            Span::Day => DAYS,
            Span::Hour => HOURS,
        }
    }

    /// Which one an instant falls in, counted from 1970-01-01T00:00Z.
    fn of(self, at: Instant) -> i64 {
        self.number(at.timestamp_millis())
    }

    /// Which one a Unix millisecond falls in.
    fn number(self, millis: i64) -> i64 {
        millis.div_euclid(self.millis())
    }
}

/// A day's or an hour's document body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Bucket {
    /// The first and last interaction stream version it holds.
    first: i64,
    last: i64,
    summary: Summary,
}

fn doc_id(n: i64, asker: &str) -> String {
    format!("{n}/{asker}")
}

/// The askers an interaction recorded under `shop` counts for.
fn askers<'a>(kb: &str, shop: &'a str) -> impl Iterator<Item = &'a str> {
    let merchant = (kb == store::HELP_CENTRE_KEY && shop != EVERYONE).then_some(shop);
    std::iter::once(EVERYONE).chain(merchant)
}

/// How long the projector, woken by a commit, gathers the next ones. Every
/// buyer question is a commit: at 5 ms it wrote the day documents 200 times
/// a second under load, as many transactions as the questions' own. A read
/// is exact whatever the lag (module docs); the lag only lengthens the
/// stream tail a figures read folds, at most this long of interactions.
const GATHER: std::time::Duration = std::time::Duration::from_millis(100);

/// Follows the log for ever, projecting each batch (run under the lease
/// [`PROJECTOR`]).
pub async fn run(store: Arc<dyn EventStore>) {
    Follower::checkpointed(store, PROJECTOR, BATCH)
        .gathering(GATHER)
        .project(|store, batch| async move { project(&*store, batch).await })
        .await
}

/// How far a knowledge base's interactions are projected, and the days they
/// fall in: a reader asks for the documents of those days by id.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
struct Mark {
    /// The interaction stream's version the documents reflect (0: none).
    #[serde(skip)]
    version: i64,
    first_day: i64,
    last_day: i64,
}

/// Writes the day and hour documents of one batch of the log, in one
/// transaction; a batch handed over again (a crash before the checkpoint
/// moved) changes nothing: the mark and each bucket's last version show
/// what is held.
pub async fn project(store: &dyn EventStore, batch: Vec<RecordedEvent>) -> Result<(), StoreError> {
    let mut streams: BTreeMap<&str, Vec<&RecordedEvent>> = BTreeMap::new();
    for e in &batch {
        if let Some(kb) = store::kb_of_interactions_stream(&e.stream_id) {
            streams.entry(kb).or_default().push(e);
        }
    }
    let mut documents = Vec::new();
    for (kb, events) in streams {
        let mark = projected(store, kb).await?;
        let fresh: Vec<&RecordedEvent> = events
            .into_iter()
            .filter(|e| e.stream_version > mark.map_or(0, |m| m.version))
            .collect();
        let Some(last) = fresh.iter().map(|e| e.stream_version).max() else {
            continue;
        };
        let (mut first_day, mut last_day) =
            mark.map_or((i64::MAX, i64::MIN), |m| (m.first_day, m.last_day));
        for e in &fresh {
            let day = Span::Day.of(e.occurred_at);
            (first_day, last_day) = (first_day.min(day), last_day.max(day));
        }
        let mark = Mark {
            version: last,
            first_day,
            last_day,
        };
        let mut open: BTreeMap<(Span, String), (i64, Bucket)> = BTreeMap::new();
        for span in Span::BOTH {
            let mut ids: Vec<String> = fresh
                .iter()
                .flat_map(|e| askers(kb, &e.shop_id).map(|a| doc_id(span.of(e.occurred_at), a)))
                .collect();
            ids.sort();
            ids.dedup();
            for d in store.load_documents(span.index(), kb, &ids).await? {
                open.insert((span, d.doc_id.clone()), (d.starts_at, parse(&d)?));
            }
        }
        for e in fresh {
            let interaction = store::decode_interaction(e)?;
            for span in Span::BOTH {
                let n = span.of(e.occurred_at);
                for asker in askers(kb, &e.shop_id) {
                    let (_, b) = open.entry((span, doc_id(n, asker))).or_insert_with(|| {
                        let fresh = Bucket {
                            first: e.stream_version,
                            ..Bucket::default()
                        };
                        (n * span.millis(), fresh)
                    });
                    // Already held: a projector that lost its lease wrote it
                    // after this one read the mark.
                    if e.stream_version <= b.last {
                        continue;
                    }
                    b.last = e.stream_version;
                    b.summary.add(e.occurred_at, &interaction);
                }
            }
        }
        for ((span, id), (starts_at, bucket)) in open {
            documents.push(Document {
                index: span.index().into(),
                shop_id: kb.to_owned(),
                doc_id: id,
                starts_at,
                ends_at: Some(starts_at + span.millis()),
                version: bucket.last,
                terms: Vec::new(),
                text: String::new(),
                body: to_json(&bucket)?,
            });
        }
        documents.push(Document {
            index: PROJECTED.into(),
            shop_id: kb.to_owned(),
            doc_id: kb.to_owned(),
            starts_at: 0,
            ends_at: None,
            version: mark.version,
            terms: Vec::new(),
            text: String::new(),
            body: to_json(&mark)?,
        });
    }
    if documents.is_empty() {
        return Ok(());
    }
    store.save_documents(&documents).await
}

fn to_json(body: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(body).map_err(|e| StoreError::Corrupt(format!("day book document: {e}")))
}

fn parse<T: serde::de::DeserializeOwned>(d: &Document) -> Result<T, StoreError> {
    serde_json::from_str(&d.body)
        .map_err(|e| StoreError::Corrupt(format!("day book document {}: {e}", d.doc_id)))
}

/// How far the documents of `kb` reflect its stream; `None`: nothing yet.
async fn projected(store: &dyn EventStore, kb: &str) -> Result<Option<Mark>, StoreError> {
    store
        .load_documents(PROJECTED, kb, &[kb.to_owned()])
        .await?
        .first()
        .map(|d| {
            Ok(Mark {
                version: d.version,
                ..parse(d)?
            })
        })
        .transpose()
}

/// Who reads a knowledge base's figures.
#[derive(Debug, Clone, Copy)]
pub enum Reader<'a> {
    /// Every interaction of the knowledge base.
    Everyone,
    /// Only those recorded under this shop (a merchant in the help centre).
    Asker(&'a str),
}

impl Reader<'_> {
    fn asker(&self) -> &str {
        match self {
            Reader::Everyone => EVERYONE,
            Reader::Asker(a) => a,
        }
    }

    fn sees(&self, recorded_shop: &str) -> bool {
        match self {
            Reader::Everyone => true,
            Reader::Asker(a) => *a == recorded_shop,
        }
    }
}

/// The summary of the interactions of `kb` in `window` that `reader` sees,
/// up to what is committed now. Reads the day documents of the window, the
/// hour documents of the days it cuts, the stream of the hours it cuts,
/// and the stream past the projector's mark.
pub async fn summary(
    store: &Arc<dyn EventStore>,
    kb: &str,
    reader: Reader<'_>,
    window: Window,
) -> Result<Summary, AppError> {
    // Read before the documents: whatever the projector writes after this
    // is either in a document read below or counted from the stream.
    let mark = projected(&**store, kb).await?;
    summary_past(store, kb, reader, window, mark).await
}

/// [`summary`] with the mark as it was read, however far the projector has
/// got since.
async fn summary_past(
    store: &Arc<dyn EventStore>,
    kb: &str,
    reader: Reader<'_>,
    window: Window,
    mark: Option<Mark>,
) -> Result<Summary, AppError> {
    let stream = store::interactions_stream(kb);
    let mut summary = Summary::default();
    let from = window.from.map(|f| f.timestamp_millis());
    let to = window.to.map(|t| t.timestamp_millis());
    let inside = |starts_at: i64, span: Span| {
        from.is_none_or(|f| f <= starts_at) && to.is_none_or(|t| starts_at + span.millis() <= t)
    };
    // The last version each document read holds, by span and number; a day
    // the window cuts is held by its hours.
    let mut held: HashMap<(Span, i64), i64> = HashMap::new();
    let mut cut_days: HashSet<i64> = HashSet::new();
    // Hours the window cuts: (hour, first, last version its document holds).
    let mut cut_hours: Vec<(i64, i64, i64)> = Vec::new();
    if let Some(m) = mark {
        // Only days the projected interactions fall in have documents.
        let first = from.map_or(m.first_day, |f| m.first_day.max(Span::Day.number(f)));
        let last = to.map_or(m.last_day, |t| {
            m.last_day.min(Span::Day.number(t.saturating_sub(1)))
        });
        for (starts_at, day) in buckets(store, kb, Span::Day, reader, first, last).await? {
            let n = Span::Day.number(starts_at);
            if inside(starts_at, Span::Day) {
                summary.merge(&day.summary);
                held.insert((Span::Day, n), day.last);
                continue;
            }
            cut_days.insert(n);
            let hours_from = from.map_or(starts_at, |f| f.max(starts_at));
            let hours_to = to.map_or(starts_at + Span::Day.millis(), |t| {
                t.min(starts_at + Span::Day.millis())
            });
            let (first, last) = (
                Span::Hour.number(hours_from),
                Span::Hour.number(hours_to.saturating_sub(1)),
            );
            for (starts_at, hour) in buckets(store, kb, Span::Hour, reader, first, last).await? {
                let h = Span::Hour.number(starts_at);
                held.insert((Span::Hour, h), hour.last);
                if inside(starts_at, Span::Hour) {
                    summary.merge(&hour.summary);
                } else {
                    cut_hours.push((h, hour.first, hour.last));
                }
            }
        }
    }
    let mut add = |e: &RecordedEvent| -> Result<(), StoreError> {
        if reader.sees(&e.shop_id) && window.contains(e.occurred_at) {
            summary.add(e.occurred_at, &store::decode_interaction(e)?);
        }
        Ok(())
    };
    for (hour, first, last) in cut_hours {
        // The range may hold a neighbouring hour's events (clocks of two
        // replicas disagree a little): those count with their own hour.
        for_each_event_through(store, &stream, first - 1, last, |e| {
            if Span::Hour.of(e.occurred_at) == hour {
                add(e)?;
            }
            Ok(())
        })
        .await?;
    }
    for_each_event(store, &stream, mark.map_or(0, |m| m.version), |e| {
        let day = Span::Day.of(e.occurred_at);
        let holder = if cut_days.contains(&day) {
            (Span::Hour, Span::Hour.of(e.occurred_at))
        } else {
            (Span::Day, day)
        };
        if e.stream_version > held.get(&holder).copied().unwrap_or(0) {
            add(e)?;
        }
        Ok(())
    })
    .await?;
    Ok(summary)
}

/// The documents of one span numbered `first..=last` that `reader` reads,
/// as (start, bucket), oldest first: looked up by id, a page at a time.
async fn buckets(
    store: &Arc<dyn EventStore>,
    kb: &str,
    span: Span,
    reader: Reader<'_>,
    first: i64,
    last: i64,
) -> Result<Vec<(i64, Bucket)>, StoreError> {
    let mut out = Vec::new();
    let mut n = first;
    while n <= last {
        let page_last = last.min(n.saturating_add(PAGE - 1));
        let ids: Vec<String> = (n..=page_last).map(|n| doc_id(n, reader.asker())).collect();
        for d in store.load_documents(span.index(), kb, &ids).await? {
            out.push((d.starts_at, parse(&d)?));
        }
        n = page_last + 1;
    }
    out.sort_by_key(|(starts_at, _)| *starts_at);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::analytics::{summarise, Interaction};
    use sellerdesk_eventstore::{Append, ExpectedVersion, Metadata};

    /// `n` interactions of `kb`, `minutes` apart from `start`, one append each.
    async fn record_one_by_one(
        store: &Arc<dyn EventStore>,
        kb: &str,
        start: Instant,
        minutes: i64,
        n: i64,
        interaction: impl Fn(i64) -> Interaction,
    ) -> Vec<(Instant, Interaction)> {
        let mut log = Vec::new();
        for i in 0..n {
            let at = start + chrono::Duration::minutes(minutes * i);
            let it = interaction(i);
            let event = store::encode_interaction(kb, &it, at, &Metadata::default());
            store
                .append(Append::new(
                    store::interactions_stream(kb),
                    ExpectedVersion::Any,
                    vec![event],
                ))
                .await
                .unwrap();
            log.push((at, it));
        }
        log
    }

    /// The projector commits between a reader's read of the mark and its
    /// read of the days: the stream past the old mark counts only what the
    /// days do not hold yet.
    #[tokio::test]
    async fn r_faq_8_a_pass_between_the_mark_and_the_days_counts_nothing_twice() {
        let store = sellerdesk_eventstore::open("sqlite::memory:")
            .await
            .unwrap();
        let kb = "shop-a";
        let start: Instant = "2026-03-01T08:00:00Z".parse().unwrap();
        let log = record_one_by_one(&store, kb, start, 47, 60, |i| Interaction::CardTapped {
            entry_id: format!("e{}", i % 4),
            conversation_id: String::new(),
        })
        .await;
        let all = store.read_all(0, 1_000).await.unwrap();
        // The stale mark's days reach into the day the second window cuts,
        // whose hours the later pass writes.
        project(&*store, all[..35].to_vec()).await.unwrap();
        let stale_mark = projected(&*store, kb).await.unwrap();
        assert_eq!(stale_mark.map(|m| m.version), Some(35));
        project(&*store, all[35..50].to_vec()).await.unwrap();

        for window in [
            Window::default(),
            Window {
                from: Some(start + chrono::Duration::hours(20)),
                to: Some(start + chrono::Duration::hours(40)),
            },
        ] {
            let read = summary_past(&store, kb, Reader::Everyone, window, stale_mark)
                .await
                .unwrap();
            assert_eq!(read, summarise(&log, window), "{window:?}");
        }
    }

    /// Two projectors during a lease's hand-over: one read the mark before
    /// the other's pass committed, and projects the same events again on top
    /// of the days that pass wrote.
    #[tokio::test]
    async fn r_faq_8_a_projector_behind_another_counts_nothing_twice() {
        let store = sellerdesk_eventstore::open("sqlite::memory:")
            .await
            .unwrap();
        let kb = "shop-a";
        let start: Instant = "2026-03-01T20:00:00Z".parse().unwrap();
        let log = record_one_by_one(&store, kb, start, 13, 40, |i| Interaction::QuestionMissed {
            query: format!("问题{}", i % 3),
            best_entry_id: None,
            confidence: 0.1,
            conversation_id: String::new(),
        })
        .await;
        let all = store.read_all(0, 1_000).await.unwrap();
        project(&*store, all[..25].to_vec()).await.unwrap();
        // The late projector's view: no mark yet.
        store.delete_documents(PROJECTED).await.unwrap();
        project(&*store, all.clone()).await.unwrap();

        let read = summary(&store, kb, Reader::Everyone, Window::default())
            .await
            .unwrap();
        assert_eq!(read, summarise(&log, Window::default()));
    }
}
