//! The robot's interactions summarised by day, a read model in faq's own
//! database (R-FAQ-8, issue 15 item 4, R-X-4): the figures of a window read
//! a document per day instead of the knowledge base's whole interaction
//! stream, which for the help centre is every merchant's questions ever.
//!
//! A projector, run once across replicas under a lease, follows the log
//! from its checkpoint and writes, for each batch and in one transaction:
//!
//! - a document per knowledge base, asker and UTC day (index [`DAYS`]): the
//!   [`Summary`] of that day's interactions, and the first and last stream
//!   version it holds. Every interaction counts for the asker [`EVERYONE`];
//!   in the help centre it also counts for the merchant who asked, who may
//!   read only their own (R-X-1);
//! - a mark per knowledge base (index [`PROJECTED`]): the interaction
//!   stream's version the documents reflect.
//!
//! A window's summary is exact whatever the projector's lag:
//!
//! - days wholly inside the window are merged from their documents;
//! - a day the window cuts is read from the stream, between the first and
//!   last version its document holds (at most two days, never the history);
//! - the stream after the mark read first counts where the day's document,
//!   read after it, does not hold it yet. The projector writes a stream's
//!   events in order, so a day's document holds exactly the events of that
//!   day up to its last version: one comparison tells which are missing.

use crate::{
    app::AppError,
    domain::{
        analytics::{Summary, Window},
        Instant,
    },
    store,
};
use sellerdesk_eventstore::{
    Document, DocumentQuery, EventStore, Follower, RecordedEvent, StoreError,
};
use sellerdesk_runtime::command::{for_each_event, for_each_event_through};
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

/// One document per knowledge base, asker and day.
pub const DAYS: &str = "faq-interaction-days";
/// One document per knowledge base: how far its interactions are projected.
pub const PROJECTED: &str = "faq-interactions-projected";
/// The projector's checkpoint, and its lease.
pub const PROJECTOR: &str = "faq-day-book";
/// The asker every interaction of a knowledge base counts for: `*` is not
/// allowed in shop ids.
pub const EVERYONE: &str = "*";
/// Events per projector pass.
const BATCH: i64 = 2_000;
/// Day documents read per query.
const PAGE: i64 = 500;
const DAY_MS: i64 = 86_400_000;

/// A day's document body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Day {
    /// The first and last interaction stream version it holds.
    first: i64,
    last: i64,
    summary: Summary,
}

/// The UTC day an instant falls in, counted from 1970-01-01.
fn day_of(at: Instant) -> i64 {
    at.timestamp_millis().div_euclid(DAY_MS)
}

fn doc_id(day: i64, asker: &str) -> String {
    format!("{day}/{asker}")
}

fn asker_term(asker: &str) -> String {
    format!("asker:{asker}")
}

/// The askers an interaction recorded under `shop` counts for.
fn askers<'a>(kb: &str, shop: &'a str) -> impl Iterator<Item = &'a str> {
    let merchant = (kb == store::HELP_CENTRE_KEY && shop != EVERYONE).then_some(shop);
    std::iter::once(EVERYONE).chain(merchant)
}

/// Follows the log for ever, projecting each batch (run under the lease
/// [`PROJECTOR`]).
pub async fn run(store: Arc<dyn EventStore>) {
    let follower = Follower::checkpointed(store.clone(), PROJECTOR, BATCH);
    follower
        .run(|batch| {
            let store = store.clone();
            async move { project(&*store, batch).await }
        })
        .await;
}

/// Writes the day documents of one batch of the log, in one transaction; a
/// batch handed over again (a crash before the checkpoint moved) changes
/// nothing: the mark and each day's last version show what is held.
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
            .filter(|e| e.stream_version > mark)
            .collect();
        let Some(last) = fresh.iter().map(|e| e.stream_version).max() else {
            continue;
        };
        let mut ids: Vec<String> = Vec::new();
        for e in &fresh {
            ids.extend(askers(kb, &e.shop_id).map(|a| doc_id(day_of(e.occurred_at), a)));
        }
        ids.sort();
        ids.dedup();
        let mut days: HashMap<String, (i64, String, Day)> = HashMap::new();
        for d in store.load_documents(DAYS, kb, &ids).await? {
            let day = parse(&d)?;
            let asker = d.terms.first().and_then(|t| t.strip_prefix("asker:"));
            days.insert(
                d.doc_id.clone(),
                (d.starts_at, asker.unwrap_or(EVERYONE).to_owned(), day),
            );
        }
        for e in fresh {
            let interaction = store::decode_interaction(e)?;
            let day = day_of(e.occurred_at);
            for asker in askers(kb, &e.shop_id) {
                let (_, _, d) = days.entry(doc_id(day, asker)).or_insert_with(|| {
                    (
                        day * DAY_MS,
                        asker.to_owned(),
                        Day {
                            first: e.stream_version,
                            ..Day::default()
                        },
                    )
                });
                // Already held: a projector that lost its lease wrote it
                // after this one read the mark.
                if e.stream_version <= d.last {
                    continue;
                }
                d.last = e.stream_version;
                d.summary.add(e.occurred_at, &interaction);
            }
        }
        for (id, (starts_at, asker, day)) in days {
            documents.push(Document {
                index: DAYS.into(),
                shop_id: kb.to_owned(),
                doc_id: id,
                starts_at,
                ends_at: Some(starts_at + DAY_MS),
                version: day.last,
                terms: vec![asker_term(&asker)],
                text: String::new(),
                body: serde_json::to_string(&day)
                    .map_err(|e| StoreError::Corrupt(format!("day document: {e}")))?,
            });
        }
        documents.push(Document {
            index: PROJECTED.into(),
            shop_id: kb.to_owned(),
            doc_id: kb.to_owned(),
            starts_at: 0,
            ends_at: None,
            version: last,
            terms: Vec::new(),
            text: String::new(),
            body: String::new(),
        });
    }
    if documents.is_empty() {
        return Ok(());
    }
    store.save_documents(&documents).await
}

fn parse(d: &Document) -> Result<Day, StoreError> {
    serde_json::from_str(&d.body)
        .map_err(|e| StoreError::Corrupt(format!("day document {}: {e}", d.doc_id)))
}

/// The interaction stream's version the documents of `kb` reflect (0: none).
async fn projected(store: &dyn EventStore, kb: &str) -> Result<i64, StoreError> {
    Ok(store
        .load_documents(PROJECTED, kb, &[kb.to_owned()])
        .await?
        .first()
        .map_or(0, |d| d.version))
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
/// stream of the days it cuts, and the stream past the projector's mark.
pub async fn summary(
    store: &Arc<dyn EventStore>,
    kb: &str,
    reader: Reader<'_>,
    window: Window,
) -> Result<Summary, AppError> {
    // Read before the days: whatever the projector writes after this is
    // either in a day document read below or counted from the stream.
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
    mark: i64,
) -> Result<Summary, AppError> {
    let stream = store::interactions_stream(kb);
    let mut summary = Summary::default();
    // The last version each day's document holds, by day.
    let mut held: HashMap<i64, i64> = HashMap::new();
    // Days the window cuts: (day, first, last version its document holds).
    let mut cut: Vec<(i64, i64, i64)> = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .search_documents(&DocumentQuery {
                index: DAYS.into(),
                shop_id: kb.to_owned(),
                terms: vec![asker_term(reader.asker())],
                starts_from: window.from.map(|f| day_of(f) * DAY_MS),
                starts_before: window.to.map(|t| t.timestamp_millis()),
                oldest_first: true,
                after: after.clone(),
                limit: PAGE,
                ..Default::default()
            })
            .await?;
        after = page.last().map(|d| (d.starts_at, d.doc_id.clone()));
        for d in &page {
            let day = parse(d)?;
            let day_number = d.starts_at.div_euclid(DAY_MS);
            held.insert(day_number, day.last);
            let inside = window
                .from
                .is_none_or(|f| f.timestamp_millis() <= d.starts_at)
                && window
                    .to
                    .is_none_or(|t| d.starts_at + DAY_MS <= t.timestamp_millis());
            if inside {
                summary.merge(&day.summary);
            } else {
                cut.push((day_number, day.first, day.last));
            }
        }
        if (page.len() as i64) < PAGE {
            break;
        }
    }
    let mut add = |e: &RecordedEvent| -> Result<(), StoreError> {
        if reader.sees(&e.shop_id) && window.contains(e.occurred_at) {
            summary.add(e.occurred_at, &store::decode_interaction(e)?);
        }
        Ok(())
    };
    for (day, first, last) in cut {
        // The range may hold a neighbouring day's events (clocks of two
        // replicas disagree a little): those count with their own day.
        for_each_event_through(store, &stream, first - 1, last, |e| {
            if day_of(e.occurred_at) == day {
                add(e)?;
            }
            Ok(())
        })
        .await?;
    }
    for_each_event(store, &stream, mark, |e| {
        let holds = held.get(&day_of(e.occurred_at)).copied().unwrap_or(0);
        if e.stream_version > holds {
            add(e)?;
        }
        Ok(())
    })
    .await?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::analytics::{summarise, Interaction};
    use sellerdesk_eventstore::{Append, ExpectedVersion, Metadata};

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
        let mut log = Vec::new();
        for i in 0..60_i64 {
            let at = start + chrono::Duration::minutes(47 * i);
            let tap = Interaction::CardTapped {
                entry_id: format!("e{}", i % 4),
                conversation_id: String::new(),
            };
            let event = store::encode_interaction(kb, &tap, at, &Metadata::default());
            store
                .append(Append::new(
                    store::interactions_stream(kb),
                    ExpectedVersion::Any,
                    vec![event],
                ))
                .await
                .unwrap();
            log.push((at, tap));
        }
        let all = store.read_all(0, 1_000).await.unwrap();
        project(&*store, all[..20].to_vec()).await.unwrap();
        let stale_mark = projected(&*store, kb).await.unwrap();
        assert_eq!(stale_mark, 20);
        project(&*store, all[20..45].to_vec()).await.unwrap();

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
        let mut log = Vec::new();
        for i in 0..40_i64 {
            let at = start + chrono::Duration::minutes(13 * i);
            let missed = Interaction::QuestionMissed {
                query: format!("问题{}", i % 3),
                best_entry_id: None,
                confidence: 0.1,
                conversation_id: String::new(),
            };
            let event = store::encode_interaction(kb, &missed, at, &Metadata::default());
            store
                .append(Append::new(
                    store::interactions_stream(kb),
                    ExpectedVersion::Any,
                    vec![event],
                ))
                .await
                .unwrap();
            log.push((at, missed));
        }
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
