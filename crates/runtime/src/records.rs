//! A read model of records, one document per record (an ads order, an
//! affiliate invitation): each folded from its own events by the domain's
//! own function, written by one projector (run under a lease of the
//! service's, `Work::once`) from the checkpoint of the index's name, and
//! read by id or a page at a time, newest first. A service's
//! state lets go of a record once nothing can change it any more; the
//! record stays readable here, and its id stays taken (decision 0022).

use sellerdesk_eventstore::{
    codec, Document, DocumentQuery, EventStore, Follower, RecordedEvent, StoreError,
};
use serde::{de::DeserializeOwned, Serialize};
use std::{collections::HashMap, sync::Arc};

/// A record the domain folds from its own events.
pub trait Record: Serialize + DeserializeOwned + Send + Sync + 'static {
    type Event: DeserializeOwned + Send + Sync;
    /// The id of the record the event is about, if it is about one.
    fn id_of(event: &Self::Event) -> Option<&str>;
    /// The record the event starts; None for an event about one that exists.
    fn started(event: &Self::Event) -> Option<Self>;
    /// What the event makes of the record.
    fn apply(&mut self, event: &Self::Event);
    /// When it started and, if it has, ended (Unix milliseconds): pages run
    /// newest started first.
    fn span(&self) -> (i64, Option<i64>);
}

/// Where a kind of record lives: its index (also the projector's
/// checkpoint), and the prefix of the streams its events are in,
/// each stream one shop's (`<prefix><shop>`).
#[derive(Debug, Clone, Copy)]
pub struct Records {
    pub index: &'static str,
    pub stream_prefix: &'static str,
}

const BATCH: i64 = 1_000;

impl Records {
    /// Projects for ever; run it under a lease, on one replica at a time.
    pub async fn run<R: Record>(self, store: Arc<dyn EventStore>) {
        Follower::checkpointed(store, self.index, BATCH)
            .project(move |store, batch| async move { self.project::<R>(&store, &batch).await })
            .await
    }

    /// Writes the documents of the records one batch of the log touched.
    /// An event at or below a document's version was applied already (a
    /// batch handed over again after a crash) and is skipped.
    pub async fn project<R: Record>(
        &self,
        store: &Arc<dyn EventStore>,
        batch: &[RecordedEvent],
    ) -> Result<(), StoreError> {
        let mut by_shop: HashMap<&str, Vec<(i64, R::Event)>> = HashMap::new();
        for r in batch {
            let Some(shop) = r.stream_id.strip_prefix(self.stream_prefix) else {
                continue;
            };
            let event: R::Event = codec::decode(r)?;
            if R::id_of(&event).is_some() {
                by_shop
                    .entry(shop)
                    .or_default()
                    .push((r.stream_version, event));
            }
        }
        let mut written = Vec::new();
        for (shop, events) in by_shop {
            let mut ids: Vec<String> = events
                .iter()
                .filter_map(|(_, e)| R::id_of(e).map(str::to_owned))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            // Each record with its version and whether this batch changed it.
            let mut records: HashMap<String, (R, i64, bool)> = HashMap::new();
            for doc in store.load_documents(self.index, shop, &ids).await? {
                records.insert(doc.doc_id.clone(), (decoded(&doc)?, doc.version, false));
            }
            for (version, event) in &events {
                let Some(id) = R::id_of(event) else { continue };
                match records.get_mut(id) {
                    Some((record, at, changed)) if *version > *at => {
                        record.apply(event);
                        *at = *version;
                        *changed = true;
                    }
                    Some(_) => {}
                    // Nothing is told of a record before it starts.
                    None => {
                        if let Some(record) = R::started(event) {
                            records.insert(id.to_owned(), (record, *version, true));
                        }
                    }
                }
            }
            written.extend(
                records
                    .iter()
                    .filter(|(_, (_, _, changed))| *changed)
                    .map(|(id, (record, version, _))| self.document(shop, id, record, *version)),
            );
        }
        store.save_documents(&written).await
    }

    fn document<R: Record>(&self, shop: &str, id: &str, record: &R, version: i64) -> Document {
        let (starts_at, ends_at) = record.span();
        Document {
            index: self.index.to_owned(),
            shop_id: shop.to_owned(),
            doc_id: id.to_owned(),
            starts_at,
            ends_at,
            version,
            terms: Vec::new(),
            text: String::new(),
            body: serde_json::to_string(record).expect("a record serialises"),
        }
    }

    /// The record under `id`, if the read model has one.
    pub async fn get<R: Record>(
        &self,
        store: &dyn EventStore,
        shop: &str,
        id: &str,
    ) -> Result<Option<R>, StoreError> {
        store
            .load_documents(self.index, shop, &[id.to_owned()])
            .await?
            .first()
            .map(decoded)
            .transpose()
    }

    /// A page of the shop's records, newest started first, after `after`
    /// (the previous page's last `(starts_at, id)`), with each one's id.
    pub async fn page<R: Record>(
        &self,
        store: &dyn EventStore,
        shop: &str,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<(String, R)>, StoreError> {
        store
            .search_documents(&DocumentQuery {
                index: self.index.to_owned(),
                shop_id: shop.to_owned(),
                after,
                limit,
                ..DocumentQuery::default()
            })
            .await?
            .iter()
            .map(|doc| Ok((doc.doc_id.clone(), decoded(doc)?)))
            .collect()
    }
}

fn decoded<R: Record>(doc: &Document) -> Result<R, StoreError> {
    serde_json::from_str(&doc.body)
        .map_err(|e| StoreError::Corrupt(format!("record {} in {}: {e}", doc.doc_id, doc.index)))
}
