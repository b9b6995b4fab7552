//! A shop's own entries as the sentence model embeds them, a read model in
//! faq's own database (decision 0025, issue 16): what lets the presets'
//! second stage re-rank a question whose candidates include an entry the
//! shop wrote or edited.
//!
//! A projector, run once across replicas under a lease, follows the
//! knowledge bases' streams from its checkpoint. For every entry a batch
//! touched it reads what the entry says now and keeps one document per shop
//! and entry (index [`INDEX`]):
//!
//! - the entry's vectors ([`EntryVectors::to_stored`]) and the texts they
//!   were made from, when the entry is not a preset as shipped (the stage
//!   has those in memory);
//! - an empty body when the entry was deleted or went back to the preset,
//!   so nothing stale stays readable.
//!
//! Each replica reads the documents of one question's candidates when the
//! lexical matcher is unsure of it, and uses them only if their texts are
//! what the entry says now: a lagging projector means a lexical answer,
//! never a wrong vector. Embedding costs about 19 ms of one core a text; the
//! projector spends the same share of a core as the questions do
//! ([`crate::sentence::ModelBudget`]) and leaves half a burst of it to them
//! ([`crate::sentence::BACKGROUND_RESERVE`]), so a bulk load is embedded
//! over minutes to hours with what buyers' questions leave.

use crate::{
    app::{Faq, Target},
    domain::EntryContent,
    sentence::{Embedded, EntryVectors, OwnVectors, SentenceStage},
    store,
};
use sellerdesk_eventstore::{Document, EventStore, Follower, RecordedEvent};
use std::{collections::BTreeSet, sync::Arc, time::Duration};

/// One document per shop and entry: the entry's vectors, or an empty body.
pub const INDEX: &str = "faq-entry-vectors";
/// The projector's checkpoint, and its lease.
pub const PROJECTOR: &str = "faq-entry-vectors";
/// Log positions per projector pass.
const BATCH: i64 = 500;

/// Entries the projector embedded, cleared (deleted, or back to the preset
/// as shipped), or failed to embed.
static EMBEDDED: std::sync::LazyLock<sellerdesk_runtime::metrics::Counter> =
    std::sync::LazyLock::new(|| {
        sellerdesk_runtime::metrics::Counter::new(
            "sellerdesk_faq_entries_embedded_total",
            "Shop entries whose vectors the projector stored (embedded), emptied (cleared: deleted, or back to the preset as shipped) or could not make (failed: the entry stays lexical), decision 0025.",
            &["outcome"],
        )
    });

/// Follows the knowledge bases for ever, embedding what each batch touched
/// (run under the lease [`PROJECTOR`], only with a sentence model). It
/// starts once the presets' stage is attached: until then it could not
/// tell a preset as shipped from a shop's own entry.
pub async fn run(app: Arc<Faq>, store: Arc<dyn EventStore>) {
    let stage = loop {
        if let Some(stage) = app.presets_stage() {
            break stage;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // Woken by every commit, buyer questions included, it would read the
    // knowledge bases' streams and save its checkpoint every 5 ms under
    // load to find an edit now and then; once a poll is soon enough for
    // an embedding that takes seconds anyway.
    Follower::checkpointed(store.clone(), PROJECTOR, BATCH)
        .only_streams(store::KB_STREAM_PREFIX)
        .gathering(sellerdesk_eventstore::POLL_INTERVAL)
        .run(|batch| {
            let (app, store, stage) = (app.clone(), store.clone(), stage.clone());
            async move { project(&app, &*store, &stage, &batch).await }
        })
        .await
}

/// The stored vectors of the shop's entries `ids`, for a model of `dim`
/// dimensions: what the projector finds before it embeds, and what a
/// replica re-ranks with. An emptied document is none; an unreadable one is
/// none too, and says so.
pub async fn stored(
    store: &dyn EventStore,
    shop: &str,
    ids: &[String],
    dim: usize,
) -> Result<OwnVectors, sellerdesk_eventstore::StoreError> {
    Ok(store
        .load_documents(INDEX, shop, ids)
        .await?
        .into_iter()
        .filter(|d| !d.body.is_empty())
        .filter_map(|d| match EntryVectors::from_stored(&d.body, dim) {
            Ok(v) => Some((d.doc_id, v)),
            Err(e) => {
                tracing::warn!(error = %e, shop, entry = %d.doc_id, "unreadable stored vectors: the entry is matched lexically");
                None
            }
        })
        .collect())
}

/// The shops a batch touched and, for each, the entries, in the order the
/// shops first appear.
fn touched(batch: &[RecordedEvent]) -> Vec<(String, BTreeSet<String>)> {
    let mut out: Vec<(String, BTreeSet<String>)> = Vec::new();
    for recorded in batch {
        let Some(shop) = recorded.stream_id.strip_prefix(store::KB_STREAM_PREFIX) else {
            continue;
        };
        let event = match store::decode_kb_event(recorded) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "undecodable faq event: its entries are not embedded");
                continue;
            }
        };
        let ids = event.touched_entries();
        if ids.is_empty() {
            continue;
        }
        let at = match out.iter().position(|(s, _)| s == shop) {
            Some(at) => at,
            None => {
                out.push((shop.to_owned(), BTreeSet::new()));
                out.len() - 1
            }
        };
        out[at].1.extend(ids.into_iter().map(str::to_owned));
    }
    out
}

/// What the projector does with one entry.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// Its stored vectors say what it is, or there is nothing to clear.
    Nothing,
    /// Embed it and store the vectors.
    Embed(EntryContent),
    /// Store an empty body in place of vectors that no longer apply.
    Clear,
}

/// The step for an entry that says `now` (None: deleted), whose stored
/// document holds `stored` (None: none, or empty), and which `stage` knows
/// as a preset as shipped or not.
fn step(now: Option<EntryContent>, stored: Option<&Embedded>, shipped: bool) -> Step {
    match now {
        Some(c) if !shipped => {
            if stored.is_some_and(|e| e.describes(&c)) {
                Step::Nothing
            } else {
                Step::Embed(c)
            }
        }
        _ if stored.is_some() => Step::Clear,
        _ => Step::Nothing,
    }
}

/// Embeds and stores what one batch touched, shop by shop. Each shop's
/// documents are written before the next shop's are read, so a projector
/// stopped mid-batch keeps what it did, and the batch handed over again
/// skips it.
async fn project(
    app: &Faq,
    store: &dyn EventStore,
    stage: &Arc<SentenceStage>,
    batch: &[RecordedEvent],
) -> Result<(), String> {
    for (shop, ids) in touched(batch) {
        let ids: Vec<String> = ids.into_iter().collect();
        let (version, now) = app
            .read(&Target::Shop(shop.clone()), |l| {
                let now: Vec<Option<EntryContent>> = ids
                    .iter()
                    .map(|id| l.kb.entries.get(id).map(|e| e.content.clone()))
                    .collect();
                (l.kb.version, now)
            })
            .await
            .map_err(|e| e.to_string())?;
        let stored: std::collections::HashMap<String, Embedded> =
            stored(store, &shop, &ids, stage.model().dim())
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|(id, v)| (id, v.embedded))
                .collect();
        for (id, now) in ids.iter().zip(now) {
            let shipped = now
                .as_ref()
                .is_some_and(|c| stage.knows([(id.as_str(), c)], &OwnVectors::new()));
            let body = match step(now, stored.get(id), shipped) {
                Step::Nothing => continue,
                Step::Clear => {
                    EMBEDDED.inc(&["cleared"]);
                    String::new()
                }
                Step::Embed(content) => match embed(app, stage, content).await {
                    Ok(body) => {
                        EMBEDDED.inc(&["embedded"]);
                        body
                    }
                    // One entry the engine cannot embed must not stop the
                    // others behind it: it stays lexical, and says so.
                    Err(e) => {
                        EMBEDDED.inc(&["failed"]);
                        tracing::warn!(error = %e, shop = %shop, entry = %id, "an entry could not be embedded: its questions stay lexical");
                        continue;
                    }
                },
            };
            store
                .save_documents(&[Document {
                    index: INDEX.into(),
                    shop_id: shop.clone(),
                    doc_id: id.clone(),
                    starts_at: 0,
                    ends_at: None,
                    version,
                    terms: Vec::new(),
                    text: String::new(),
                    body,
                }])
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// One entry's stored vectors, embedded off the async workers once the
/// model's share of the time allows it.
async fn embed(
    app: &Faq,
    stage: &Arc<SentenceStage>,
    content: EntryContent,
) -> Result<String, String> {
    let reserve = crate::sentence::BACKGROUND_RESERVE;
    while let Some(wait) = app.model_budget().wait(std::time::Instant::now(), reserve) {
        tokio::time::sleep(wait).await;
    }
    let stage = stage.clone();
    let (body, took) = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let body = EntryVectors::embed(stage.model(), &content).map(|v| v.to_stored());
        (body, started.elapsed())
    })
    .await
    .map_err(|e| format!("embedding an entry: {e}"))?;
    app.model_budget().spend(took, std::time::Instant::now());
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Category;

    fn content(answer: &str) -> EntryContent {
        EntryContent {
            standard_question: "发什么快递".into(),
            similar_questions: vec!["用什么快递".into()],
            answer: answer.into(),
            category: Category::Logistics,
            enabled: true,
        }
    }

    // Decision 0025: an entry is embedded when what it says has no stored
    // vectors; vectors that no longer apply are emptied, never left to be
    // read as if they did.
    #[test]
    fn the_projector_embeds_what_changed_and_clears_what_went() {
        let old = content("默认中通");
        let new = content("默认中通，满99元可选顺丰");
        let stored = Embedded::of(&old);
        // Written by the shop: embedded, then left alone until it changes.
        assert_eq!(
            step(Some(old.clone()), None, false),
            Step::Embed(old.clone())
        );
        assert_eq!(step(Some(old.clone()), Some(&stored), false), Step::Nothing);
        assert_eq!(
            step(Some(new.clone()), Some(&stored), false),
            Step::Embed(new)
        );
        // A category or the enabled flag means nothing to the model.
        let mut moved = old.clone();
        moved.enabled = false;
        assert_eq!(step(Some(moved), Some(&stored), false), Step::Nothing);
        // Deleted, or back to the preset as shipped: the stage has those.
        assert_eq!(step(None, Some(&stored), false), Step::Clear);
        assert_eq!(step(Some(old.clone()), Some(&stored), true), Step::Clear);
        assert_eq!(step(None, None, false), Step::Nothing);
        assert_eq!(step(Some(old), None, true), Step::Nothing);
    }
}
