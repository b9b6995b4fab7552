//! Conversations and their lines as a read model in chat's own database
//! (issue 15 item 4, R-X-4): what a replica used to hold in memory for
//! every conversation it had ever seen.
//!
//! A projector, run once across replicas under a lease, follows the log
//! from its checkpoint and writes, for each batch and in one transaction:
//!
//! - a document per conversation (index [`CONVERSATIONS`]): the domain's
//!   fold of it, found by buyer, order, every agent who had or answered it,
//!   status, the time it opened and closed, and the text of its lines;
//! - a document per line (index [`LINES`]) in log order, for transcripts;
//! - a mark per shop (index [`PROJECTED`]): the shop stream's version the
//!   documents reflect.
//!
//! A transcript is the lines up to the mark plus the shop stream after it
//! (one range read, short while the projector keeps up), so it reflects
//! every acknowledged write whichever replica answers. A search reflects
//! the projector's last pass: milliseconds behind the log on the replica
//! that projects, at most the follower's poll (200 ms) on the others.

use crate::{
    app::Logged,
    domain::{ChatDesk, Conversation, ConversationStatus, Event},
    store,
};
use sellerdesk_eventstore::{
    Document, DocumentQuery, EventStore, FollowError, Follower, RecordedEvent, StoreError,
};
use sellerdesk_runtime::errors::AppError;
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
};

/// One document per conversation.
pub const CONVERSATIONS: &str = "chat-conversations";
/// One document per line of a conversation; its `starts_at` is the line's
/// position in the shop stream, so a transcript pages in log order.
pub const LINES: &str = "chat-lines";
/// One document per shop: how far its stream is projected.
pub const PROJECTED: &str = "chat-projected";
/// The projector's checkpoint, and its lease.
pub const PROJECTOR: &str = "chat-archive";
/// Events per projector pass.
pub const BATCH: i64 = 2_000;
/// Searchable text kept per conversation, in characters: a search finds a
/// conversation by what was said in its first few hundred lines.
const TEXT_KEPT: usize = 16 * 1024;
/// Conversations read per query of the figures' archived part.
const ARCHIVED_PAGE: i64 = 5_000;
/// A line's text terms: one per distinct pair of characters it says
/// (decision 0017). Chinese has no spaces to split words at, and any word
/// of two or more characters is a run of such pairs.
const SAID: &str = "said:";
/// Lines one pair may be said in for the pairs to drive a search. A rarer
/// word is found through its lines, whatever the shop's size; a commoner
/// one by the substring scan, which fills a page within its first rows.
pub const RARE_LINES: i64 = 1_000;
/// Pairs of a searched text looked up at most (a text has up to 99).
const PROBED_PAIRS: usize = 8;

/// A conversation's document body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub conversation: Conversation,
    /// Every agent who had it or answered in it.
    pub handled_by: BTreeSet<String>,
    /// What the buyer, the robot and the agents wrote (private notes are
    /// left out: the platform may search too).
    pub text: String,
}

impl Record {
    fn new(conversation: Conversation) -> Self {
        Self {
            conversation,
            handled_by: BTreeSet::new(),
            text: String::new(),
        }
    }

    /// Folds one of the conversation's events with the domain's own fold,
    /// on a desk that holds only this conversation (agents and the queue
    /// are the live desk's business, not the archive's).
    fn apply(&mut self, event: &Event) {
        let id = self.conversation.conversation_id.clone();
        let mut desk = ChatDesk::default();
        desk.conversations
            .insert(id.clone(), self.conversation.clone());
        desk.apply(event);
        if let Some(c) = desk.conversations.remove(&id) {
            self.conversation = c;
        }
        if let Some(a) = &self.conversation.assignee {
            self.handled_by.insert(a.clone());
        }
        if let Event::AgentReplied { agent_id, .. } = event {
            self.handled_by.insert(agent_id.clone());
        }
        if let Some(text) = said(event).filter(|t| !t.is_empty()) {
            let room = TEXT_KEPT.saturating_sub(self.text.chars().count());
            if room > 1 {
                self.text.push('\n');
                self.text.extend(text.chars().take(room - 1));
            }
        }
    }

    fn document(&self, shop: &str, version: i64) -> Result<Document, StoreError> {
        let c = &self.conversation;
        let mut terms = vec![
            format!("buyer:{}", c.buyer_id),
            match c.status {
                ConversationStatus::Open => "status:open".to_owned(),
                ConversationStatus::Closed => "status:closed".to_owned(),
            },
        ];
        terms.extend(c.order_id.iter().map(|o| format!("order:{o}")));
        terms.extend(self.handled_by.iter().map(|a| format!("agent:{a}")));
        Ok(Document {
            index: CONVERSATIONS.into(),
            shop_id: shop.into(),
            doc_id: c.conversation_id.clone(),
            starts_at: c.opened_at.timestamp_millis(),
            ends_at: c.closed_at.map(|t| t.timestamp_millis()),
            version,
            terms,
            text: self.text.clone(),
            body: body(self)?,
        })
    }
}

/// What a line says that a search finds: the buyer's, the robot's and the
/// agents' words (private notes are left out: the platform may search too).
fn said(event: &Event) -> Option<&str> {
    match event {
        Event::BuyerMessageReceived { text, .. }
        | Event::RobotReplied { text, .. }
        | Event::AgentReplied { text, .. } => Some(text),
        _ => None,
    }
}

/// The distinct pairs of neighbouring letters or digits of `text` (Han
/// characters are letters), folded to lower case as the store folds
/// searched text, in the order they first occur. A pair with a space, a
/// punctuation mark or a line break is left out: a seventh of a chat line's
/// pairs (measured), which a search seldom holds and which cannot tell lines apart.
/// A searched text is looked up by the same pairs, and each line found is
/// then read for the whole text, so what is left out only narrows less.
fn pairs(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.to_lowercase().chars().collect();
    let mut seen = BTreeSet::new();
    chars
        .windows(2)
        .filter(|w| w.iter().all(|c| c.is_alphanumeric()))
        .map(|w| w.iter().collect::<String>())
        .filter(|p| seen.insert(p.clone()))
        .collect()
}

fn body(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(d: &Document) -> Result<T, StoreError> {
    serde_json::from_str(&d.body)
        .map_err(|e| StoreError::Corrupt(format!("{} {}: {e}", d.index, d.doc_id)))
}

/// A line as stored: the event and where and when it happened.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    at: crate::domain::Instant,
    event: Event,
}

fn line_document(
    shop: &str,
    conversation: &str,
    l: &Logged,
    line_pairs: LinePairs,
) -> Result<Document, StoreError> {
    Ok(Document {
        index: LINES.into(),
        shop_id: shop.into(),
        // Positions are unique in a shop; padded, ids sort as positions do.
        doc_id: format!("{:012}", l.position),
        starts_at: l.position,
        ends_at: None,
        version: l.position,
        terms: std::iter::once(format!("conversation:{conversation}"))
            .chain(
                said(&l.event)
                    .filter(|_| line_pairs == LinePairs::Written)
                    .map(pairs)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| format!("{SAID}{p}")),
            )
            .collect(),
        text: String::new(),
        body: body(&Line {
            at: l.at,
            event: l.event.clone(),
        })?,
    })
}

/// Whether the projector writes each line's pairs of characters ([`SAID`],
/// decision 0017). They make a rare word's search a few index walks in a
/// shop of any size, and cost the projector about twice the work and the
/// database about 20 term rows a buyer line: on the 2-core machine the
/// live chat load loses to them (docs/benchmarks.md), so a deployment turns
/// them on (`SELLERDESK_CHAT_LINE_PAIRS=on`) where its database has room.
/// Readers follow what the mark says was written, not this setting, so
/// replicas configured differently still answer alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinePairs {
    Written,
    #[default]
    Left,
}

impl LinePairs {
    /// As `SELLERDESK_CHAT_LINE_PAIRS` sets them.
    pub fn from_setting(on: bool) -> Self {
        if on {
            Self::Written
        } else {
            Self::Left
        }
    }
}

/// Follows the log for ever, projecting each batch (run under the lease
/// [`PROJECTOR`]).
pub async fn run(store: Arc<dyn EventStore>, line_pairs: LinePairs) {
    Follower::checkpointed(store, PROJECTOR, BATCH)
        .project(move |store, batch| async move { project(&*store, batch, line_pairs).await })
        .await
}

/// The lease the projector runs under on one replica at a time (the host
/// names it from the service and [`PROJECTOR`]), which [`rebuild`] takes.
pub fn projector_lease() -> String {
    sellerdesk_runtime::host::lease_name(crate::SERVICE, PROJECTOR)
}

/// What [`rebuild`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    /// Events of the log handed to the projector.
    pub events: usize,
    /// Shops whose read model was projected again.
    pub shops: usize,
}

/// Projects chat's read model again from the whole log, with or without the
/// lines' pairs: a shop projected before the pairs existed, or while they
/// were not written, is searched by the substring scan until then (decision
/// 0017). Takes the projector's lease ([`projector_lease`]) and does
/// nothing, returning None, while another process holds it: one does
/// whenever a chat replica runs, and two projectors would write the same
/// documents. Stop chat-svc, rebuild, start it again.
///
/// Stopped half-way (a crash, the database gone, the lease lost between two
/// batches), the read model is left as a projection up to the checkpoint,
/// which the projector of the next replica to start carries on from: the
/// checkpoint is set back first, and the shops' marks go before their
/// documents, so nothing is skipped as already projected.
pub async fn rebuild(
    store: Arc<dyn EventStore>,
    line_pairs: LinePairs,
) -> Result<Option<Rebuilt>, StoreError> {
    let lease = projector_lease();
    let Some(held) = store.try_lease(&lease).await? else {
        return Ok(None);
    };
    // Asked before each batch: a lease whose session ended (the database
    // restarted) may already be a replica's, whose projector would write
    // beside this one.
    let held = Arc::new(tokio::sync::Mutex::new(held));
    store.save_checkpoint(PROJECTOR, 0).await?;
    for index in [PROJECTED, CONVERSATIONS, LINES] {
        store.delete_documents(index).await?;
    }
    let mut shops = BTreeSet::new();
    let mut follower = Follower::checkpointed(store.clone(), PROJECTOR, BATCH);
    let events = follower
        .catch_up(&mut |batch: Vec<RecordedEvent>| {
            shops.extend(
                batch
                    .iter()
                    .filter_map(|e| store::shop_of_stream(&e.stream_id).map(str::to_owned)),
            );
            let (store, held, lease) = (store.clone(), held.clone(), lease.clone());
            async move {
                if !held.lock().await.held().await {
                    return Err(StoreError::Unavailable(format!(
                        "the lease {lease} was lost during the rebuild; run it again"
                    )));
                }
                project(&*store, batch, line_pairs).await
            }
        })
        .await
        .map_err(|e| match e {
            FollowError::Store(e) | FollowError::Handler(e) => e,
        })?;
    Ok(Some(Rebuilt {
        events,
        shops: shops.len(),
    }))
}

/// Writes the documents of one batch of the log, in one transaction; a
/// batch handed over again (a crash before the checkpoint moved) writes the
/// same documents again.
pub async fn project(
    store: &dyn EventStore,
    batch: Vec<RecordedEvent>,
    line_pairs: LinePairs,
) -> Result<(), StoreError> {
    let mut shops: BTreeMap<String, Vec<Logged>> = BTreeMap::new();
    for e in &batch {
        let Some(shop) = store::shop_of_stream(&e.stream_id) else {
            continue;
        };
        shops.entry(shop.to_owned()).or_default().push(Logged {
            position: e.stream_version,
            at: e.occurred_at,
            event: store::decode(e)?,
        });
    }
    let mut documents = Vec::new();
    for (shop, events) in shops {
        let before = projected(store, &shop).await?;
        let mark = before.version;
        // Every line of the shop carries its pairs only if every batch so
        // far wrote them, from the shop's first line on.
        let all_paired =
            line_pairs == LinePairs::Written && (before.version == 0 || before.all_paired);
        let ids: Vec<String> = events
            .iter()
            .filter_map(|l| l.event.conversation_id().map(str::to_owned))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut records: HashMap<String, (Record, i64)> = HashMap::new();
        for d in store.load_documents(CONVERSATIONS, &shop, &ids).await? {
            records.insert(d.doc_id.clone(), (parse(&d)?, d.version));
        }
        let mut last = mark;
        for l in &events {
            last = last.max(l.position);
            // Already projected (a batch handed over again after a crash).
            if l.position <= mark {
                continue;
            }
            let Some(id) = l.event.conversation_id() else {
                continue;
            };
            documents.push(line_document(&shop, id, l, line_pairs)?);
            if let Event::ConversationOpened { .. } = &l.event {
                let mut desk = ChatDesk::default();
                desk.apply(&l.event);
                if let Some(c) = desk.conversations.remove(id) {
                    records.entry(id.to_owned()).or_insert((Record::new(c), 0));
                }
            }
            if let Some((record, version)) = records.get_mut(id) {
                if l.position > *version {
                    record.apply(&l.event);
                    *version = l.position;
                }
            }
        }
        for (record, version) in records.values() {
            documents.push(record.document(&shop, *version)?);
        }
        documents.push(Document {
            index: PROJECTED.into(),
            shop_id: shop.clone(),
            doc_id: shop.clone(),
            starts_at: 0,
            ends_at: None,
            version: last,
            terms: Vec::new(),
            text: String::new(),
            body: body(&MarkBody { all_paired })?,
        });
    }
    store.save_documents(&documents).await
}

/// How far a shop's stream is projected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    /// The shop stream's version the documents reflect (0: none yet).
    version: i64,
    /// Whether every projected line of the shop carries its pairs of
    /// characters ([`SAID`]); a shop with a line without them (projected
    /// before they existed, or while they were not written) is searched by
    /// the substring scan until its read model is projected again.
    all_paired: bool,
}

/// The mark's document body.
#[derive(Debug, Serialize, Deserialize)]
struct MarkBody {
    all_paired: bool,
}

async fn projected(store: &dyn EventStore, shop: &str) -> Result<Mark, StoreError> {
    let Some(d) = store
        .load_documents(PROJECTED, shop, &[shop.to_owned()])
        .await?
        .into_iter()
        .next()
    else {
        return Ok(Mark {
            version: 0,
            all_paired: false,
        });
    };
    // A mark written before the pairs existed has an empty body: its lines
    // are without them.
    let all_paired = !d.body.is_empty() && parse::<MarkBody>(&d)?.all_paired;
    Ok(Mark {
        version: d.version,
        all_paired,
    })
}

/// The lines of a conversation after position `after`, in order, up to what
/// is committed now: the projected lines, then the shop stream past the mark.
/// Also returns the shop stream's version it read up to.
pub async fn lines(
    store: &Arc<dyn EventStore>,
    shop: &str,
    conversation: &str,
    after: i64,
) -> Result<(Vec<Arc<Logged>>, i64), AppError> {
    let mark = projected(&**store, shop).await?.version;
    let mut out: Vec<Arc<Logged>> = Vec::new();
    let mut seen = after;
    if mark > after {
        let mut projected = Vec::new();
        for d in store
            .documents_with_term(LINES, shop, &format!("conversation:{conversation}"))
            .await?
        {
            if d.starts_at > after {
                let line: Line = parse(&d)?;
                projected.push(Arc::new(Logged {
                    position: d.starts_at,
                    at: line.at,
                    event: line.event,
                }));
            }
        }
        projected.sort_by_key(|l| l.position);
        seen = projected.last().map_or(seen, |l| l.position);
        out = projected;
    }
    // Lines projected after the mark was read are in `out` already; the
    // stream past both is read once.
    let from = mark.max(seen);
    let mut head = from;
    sellerdesk_runtime::command::for_each_event(store, &store::desk_stream(shop), from, |r| {
        head = r.stream_version;
        let event = store::decode(r)?;
        if event.conversation_id() == Some(conversation) && r.stream_version > seen {
            out.push(Arc::new(Logged {
                position: r.stream_version,
                at: r.occurred_at,
                event,
            }));
        }
        Ok(())
    })
    .await?;
    Ok((out, head))
}

/// A conversation's document, if the projector has written it.
pub async fn record(
    store: &dyn EventStore,
    shop: &str,
    conversation: &str,
) -> Result<Option<Record>, StoreError> {
    store
        .load_documents(CONVERSATIONS, shop, &[conversation.to_owned()])
        .await?
        .first()
        .map(parse)
        .transpose()
}

/// What a search asks for (every field optional).
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub buyer_id: Option<String>,
    pub order_id: Option<String>,
    pub agent_id: Option<String>,
    pub status: Option<ConversationStatus>,
    /// Opened in [from, before), Unix milliseconds.
    pub opened_from: Option<i64>,
    pub opened_before: Option<i64>,
    pub text: Option<String>,
    /// After this (opened_at, conversation id), newest first.
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

/// One page of a shop's conversations that match, newest opened first.
pub async fn search(
    store: &dyn EventStore,
    shop: &str,
    s: &Search,
) -> Result<Vec<Record>, StoreError> {
    search_within(store, shop, s, RARE_LINES).await
}

/// [`search`], a text found through its pairs when one is said in at most
/// `rare_lines` lines (0: never, always by the substring scan, which the
/// bench and the tests compare on the same data).
pub async fn search_within(
    store: &dyn EventStore,
    shop: &str,
    s: &Search,
    rare_lines: i64,
) -> Result<Vec<Record>, StoreError> {
    let mut terms = Vec::new();
    terms.extend(s.buyer_id.iter().map(|b| format!("buyer:{b}")));
    terms.extend(s.order_id.iter().map(|o| format!("order:{o}")));
    terms.extend(s.agent_id.iter().map(|a| format!("agent:{a}")));
    terms.extend(s.status.map(|st| match st {
        ConversationStatus::Open => "status:open".to_owned(),
        ConversationStatus::Closed => "status:closed".to_owned(),
    }));
    let mut query = DocumentQuery {
        index: CONVERSATIONS.into(),
        shop_id: shop.into(),
        terms,
        starts_from: s.opened_from,
        starts_before: s.opened_before,
        text: s.text.clone(),
        after: s.after.clone(),
        limit: s.limit,
        ..Default::default()
    };
    if let Some(text) = s.text.as_deref().filter(|_| rare_lines > 0) {
        if let Some(ids) = saying(store, shop, text, rare_lines).await? {
            query.text = None;
            query.ids = Some(ids);
        }
    }
    let found = store.search_documents(&query).await?;
    found.iter().map(parse).collect()
}

/// The conversations with a line that says `text` (any case), found through
/// the lines' pairs of characters, when one of its pairs is said in at most
/// `rare_lines` lines ([`RARE_LINES`]): a handful of index walks and the lines they name,
/// whatever the shop's size. `None` where the pairs cannot answer: a text
/// of one character or with a line break, a common word (the substring
/// scan finds a page of it within its first rows), or a shop whose lines
/// were projected without pairs ([`LinePairs`]). Every line, not only a
/// conversation's first 16 KB of text, is found this way.
async fn saying(
    store: &dyn EventStore,
    shop: &str,
    text: &str,
    rare_lines: i64,
) -> Result<Option<Vec<String>>, StoreError> {
    let text = text.to_lowercase();
    let all = pairs(&text);
    if all.is_empty() || text.contains('\n') || !projected(store, shop).await?.all_paired {
        return Ok(None);
    }
    // Spread over the text, so a rare part of a long one is among them.
    let step = all.len().div_ceil(PROBED_PAIRS);
    let mut lines: Option<Vec<String>> = None;
    for pair in all.iter().step_by(step) {
        let ids = store
            .term_postings(LINES, shop, &format!("{SAID}{pair}"), rare_lines + 1)
            .await?;
        if ids.is_empty() {
            return Ok(Some(Vec::new()));
        }
        // Only a complete list narrows the others: both are in id order.
        if ids.len() as i64 <= rare_lines {
            lines = Some(match lines {
                None => ids,
                Some(kept) => {
                    let ids: BTreeSet<String> = ids.into_iter().collect();
                    kept.into_iter().filter(|id| ids.contains(id)).collect()
                }
            });
        }
    }
    let Some(lines) = lines else {
        return Ok(None);
    };
    let mut conversations = BTreeSet::new();
    for d in store.load_documents(LINES, shop, &lines).await? {
        // Pairs say where the words may be; the line says whether they are.
        let line: Line = parse(&d)?;
        if said(&line.event).is_some_and(|t| t.to_lowercase().contains(&text)) {
            conversations.extend(line.event.conversation_id().map(str::to_owned));
        }
    }
    Ok(Some(conversations.into_iter().collect()))
}

/// Conversations that closed in [from, before) and opened before
/// `opened_before`: what the figures of a window need from the read model.
pub async fn closed_between(
    store: &dyn EventStore,
    shop: &str,
    from: crate::domain::Instant,
    before: crate::domain::Instant,
    opened_before: crate::domain::Instant,
) -> Result<Vec<Conversation>, StoreError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .search_documents(&DocumentQuery {
                index: CONVERSATIONS.into(),
                shop_id: shop.into(),
                starts_before: Some(opened_before.timestamp_millis()),
                ends_from: Some(from.timestamp_millis()),
                ends_before: Some(before.timestamp_millis()),
                after: after.clone(),
                limit: ARCHIVED_PAGE,
                ..Default::default()
            })
            .await?;
        let full = page.len() as i64 == ARCHIVED_PAGE;
        after = page.last().map(|d| (d.starts_at, d.doc_id.clone()));
        for d in &page {
            out.push(parse::<Record>(d)?.conversation);
        }
        if !full {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RobotVerdict, Topic};
    use sellerdesk_eventstore::{Append, ExpectedVersion, Metadata};

    const SHOP: &str = "shop-a";

    fn at(minute: i64) -> crate::domain::Instant {
        chrono::DateTime::from_timestamp(1_780_000_000 + 60 * minute, 0).unwrap()
    }

    /// A shop's log: conversation `c{i}` opened at minute i, then what its
    /// buyer said, line by line.
    fn opened_and_said(conversations: &[Vec<String>]) -> Vec<Event> {
        let mut events = Vec::new();
        for (i, lines) in conversations.iter().enumerate() {
            let id = format!("c{i:02}");
            events.push(Event::ConversationOpened {
                conversation_id: id.clone(),
                buyer_id: format!("b{i}"),
                buyer_name: String::new(),
                order_id: None,
                topic: Topic::PreSale,
                at: at(i as i64),
            });
            for (n, text) in lines.iter().enumerate() {
                events.push(Event::BuyerMessageReceived {
                    conversation_id: id.clone(),
                    message_id: format!("m{i}-{n}"),
                    text: text.clone(),
                    attachment: None,
                    assignee: None,
                    robot: RobotVerdict::NotAsked,
                    waits_for_human: true,
                    at: at(i as i64),
                });
            }
        }
        events
    }

    async fn empty_store() -> (tempfile::TempDir, Arc<dyn EventStore>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("chat.db").display());
        let store = sellerdesk_eventstore::open(&url).await.unwrap();
        (dir, store)
    }

    /// `events` appended to the shop's stream, and the log after
    /// `after`, as the projector would be handed it.
    async fn append(store: &dyn EventStore, events: &[Event], after: i64) -> Vec<RecordedEvent> {
        let md = Metadata::default();
        let new = events
            .iter()
            .map(|e| store::encode(SHOP, e, at(0), &md))
            .collect();
        store
            .append(Append::new(
                store::desk_stream(SHOP),
                ExpectedVersion::Any,
                new,
            ))
            .await
            .unwrap();
        store.read_all(after, 100_000).await.unwrap()
    }

    /// The log appended and projected without the pairs, the projector's
    /// checkpoint at its head: a shop as a replica left it before the pairs
    /// were written. Returns the log and its head too.
    async fn projected_without_pairs(
        events: &[Event],
    ) -> (
        tempfile::TempDir,
        Arc<dyn EventStore>,
        Vec<RecordedEvent>,
        i64,
    ) {
        let (dir, store) = empty_store().await;
        let (log, head) = without_pairs_in(&*store, events).await;
        (dir, store, log, head)
    }

    /// [`projected_without_pairs`] in a store of the test's.
    async fn without_pairs_in(
        store: &dyn EventStore,
        events: &[Event],
    ) -> (Vec<RecordedEvent>, i64) {
        let log = append(store, events, 0).await;
        project(store, log.clone(), LinePairs::Left).await.unwrap();
        let head = store.head().await.unwrap();
        store.save_checkpoint(PROJECTOR, head).await.unwrap();
        (log, head)
    }

    /// The log appended and projected with the pairs.
    async fn projected_store(events: Vec<Event>) -> (tempfile::TempDir, Arc<dyn EventStore>) {
        let (dir, store) = empty_store().await;
        let log = append(&*store, &events, 0).await;
        project(&*store, log, LinePairs::Written).await.unwrap();
        (dir, store)
    }

    async fn found(store: &dyn EventStore, text: &str, rare_lines: i64) -> Vec<String> {
        let s = Search {
            text: Some(text.to_owned()),
            limit: 1_000,
            ..Default::default()
        };
        search_within(store, SHOP, &s, rare_lines)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.conversation.conversation_id)
            .collect()
    }

    #[test]
    fn pairs_are_distinct_folded_and_never_cross_a_line_break() {
        assert_eq!(pairs("退款退款"), ["退款", "款退"]);
        assert_eq!(pairs("iPhone"), ["ip", "ph", "ho", "on", "ne"]);
        assert_eq!(pairs("好\n的"), Vec::<String>::new());
        assert_eq!(pairs("好的，谢谢 A1"), ["好的", "谢谢", "a1"]);
        assert!(pairs("好").is_empty());
    }

    /// Decision 0017: a text is found through the lines' pairs exactly as
    /// the substring scan finds it: the same conversations in the same
    /// order, for words rare and common, present and absent, in any case,
    /// whichever pairs are complete enough to narrow the search.
    #[tokio::test]
    async fn r_x_4_the_pairs_find_what_the_scan_finds() {
        // Conversations written from a few characters, so words repeat.
        let alphabet: Vec<char> = "退款发货快递多久到了吗好的亲AbC，? ".chars().collect();
        let mut seed = 7u64;
        let mut next = move |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let conversations: Vec<Vec<String>> = (0..40)
            .map(|_| {
                (0..1 + next(4))
                    .map(|_| {
                        (0..2 + next(9))
                            .map(|_| alphabet[next(alphabet.len())])
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let (_dir, store) = projected_store(opened_and_said(&conversations)).await;
        let mut texts: Vec<String> =
            vec!["退款".into(), "没有的词".into(), "abc".into(), "B".into()];
        for lines in conversations.iter().take(12) {
            let chars: Vec<char> = lines[0].chars().collect();
            for len in 1..=4.min(chars.len()) {
                texts.push(chars[..len].iter().collect());
                texts.push(chars[chars.len() - len..].iter().collect());
            }
        }
        let mut through_pairs = 0;
        for text in &texts {
            let scanned = found(&*store, text, 0).await;
            let expected: Vec<String> = conversations
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, lines)| {
                    lines
                        .iter()
                        .any(|l| l.to_lowercase().contains(&text.to_lowercase()))
                })
                .map(|(i, _)| format!("c{i:02}"))
                .collect();
            assert_eq!(scanned, expected, "the scan, {text:?}");
            for rare_lines in [3, 1_000] {
                assert_eq!(
                    found(&*store, text, rare_lines).await,
                    expected,
                    "{text:?} at {rare_lines}"
                );
            }
            if saying(&*store, SHOP, text, 1_000).await.unwrap().is_some() {
                through_pairs += 1;
            }
        }
        assert!(
            through_pairs > texts.len() / 2,
            "{through_pairs} of {}",
            texts.len()
        );
    }

    /// Decision 0017: a word said after a conversation's first 16 KB of
    /// text, which the conversation's own document does not keep, is found
    /// through its line.
    #[tokio::test]
    async fn r_x_4_a_word_said_late_in_a_long_conversation_is_found() {
        let mut long: Vec<String> = (0..10).map(|_| "好".repeat(1_900)).collect();
        long.push("翡翠手镯还有吗".into());
        let (_dir, store) = projected_store(opened_and_said(&[long, vec!["翡翠".into()]])).await;
        assert_eq!(found(&*store, "翡翠手镯", RARE_LINES).await, ["c00"]);
        assert_eq!(found(&*store, "翡翠", RARE_LINES).await, ["c01", "c00"]);
        assert!(
            found(&*store, "翡翠手镯", 0).await.is_empty(),
            "the scan reads the kept text only"
        );
    }

    /// A projector that does not write the pairs (the default) leaves a
    /// shop to the scan, and a shop that once got lines without them stays
    /// there when a later projector writes them: its mark says so, so every
    /// replica searches it alike, whatever each one is configured with.
    #[tokio::test]
    async fn lines_projected_without_pairs_leave_the_shop_to_the_scan() {
        let events = opened_and_said(&[vec!["退款多久到".into()], vec!["发货了吗".into()]]);
        let (_dir, store) = empty_store().await;
        let log = append(&*store, &events, 0).await;
        project(&*store, log[..2].to_vec(), LinePairs::Left)
            .await
            .unwrap();
        assert!(!projected(&*store, SHOP).await.unwrap().all_paired);
        assert!(store
            .term_postings(LINES, SHOP, "said:退款", 10)
            .await
            .unwrap()
            .is_empty());
        project(&*store, log[2..].to_vec(), LinePairs::Written)
            .await
            .unwrap();
        assert!(!projected(&*store, SHOP).await.unwrap().all_paired);
        assert!(saying(&*store, SHOP, "发货", RARE_LINES)
            .await
            .unwrap()
            .is_none());
        assert_eq!(found(&*store, "退款", RARE_LINES).await, ["c00"]);
        assert_eq!(found(&*store, "发货", RARE_LINES).await, ["c01"]);
    }

    /// Decision 0017, R-X-4: a shop projected without the pairs is searched
    /// by the scan until a rebuild projects the log again with them; then
    /// its words are found through the pairs, with the same answers, and the
    /// projector goes on from the log's head. While another process holds
    /// the projector's lease (a chat replica runs) the rebuild is refused and
    /// changes nothing.
    #[tokio::test]
    async fn a_rebuild_gives_a_shop_projected_without_pairs_its_pairs() {
        let events = opened_and_said(&[
            vec!["退款多久到账".into(), "好的".into()],
            vec!["发货了吗".into()],
            vec!["能退款吗".into(), "发什么快递".into()],
        ]);
        let (_dir, store, log, head) = projected_without_pairs(&events).await;
        let texts = ["退款", "发货", "快递", "好的", "没说过"];
        let mut before = Vec::new();
        for text in texts {
            before.push(found(&*store, text, RARE_LINES).await);
        }
        assert_eq!(before[0], ["c02", "c00"]);
        assert!(saying(&*store, SHOP, "退款", RARE_LINES)
            .await
            .unwrap()
            .is_none());

        let lease = projector_lease();
        assert_eq!(lease, "chat:chat-archive");
        let running = store.try_lease(&lease).await.unwrap().expect("lease free");
        let refused = rebuild(store.clone(), LinePairs::Written).await;
        assert!(matches!(refused, Ok(None)), "{refused:?}");
        assert!(!projected(&*store, SHOP).await.unwrap().all_paired);
        assert_eq!(store.load_checkpoint(PROJECTOR).await.unwrap(), head);
        drop(running);

        let rebuilt = rebuild(store.clone(), LinePairs::Written)
            .await
            .unwrap()
            .expect("the lease is free");
        assert_eq!(
            rebuilt,
            Rebuilt {
                events: log.len(),
                shops: 1
            }
        );
        let mark = projected(&*store, SHOP).await.unwrap();
        assert!(mark.all_paired);
        assert_eq!(mark.version, events.len() as i64);
        assert!(saying(&*store, SHOP, "退款", RARE_LINES)
            .await
            .unwrap()
            .is_some());
        for (text, was) in texts.iter().zip(&before) {
            assert_eq!(&found(&*store, text, RARE_LINES).await, was, "{text}");
        }
        assert_eq!(store.load_checkpoint(PROJECTOR).await.unwrap(), head);
        // The lease is given back for the replicas.
        assert!(store.try_lease(&lease).await.unwrap().is_some());
    }

    /// How a test's lease is lost.
    #[derive(Debug, Clone)]
    enum Loss {
        /// It simply answers "lost", as a session ended by a restart of
        /// the database would make it.
        Said,
        /// The server ends its PostgreSQL session at `url`
        /// (`pg_terminate_backend`, as a restart or a failover does), and
        /// the store's own lease finds it gone.
        SessionEnded { url: String },
    }

    /// A lease that is held for `checks` asks and lost after them, as
    /// `loss` says.
    #[derive(Debug)]
    struct LostAfter {
        checks: usize,
        loss: Loss,
    }

    #[async_trait::async_trait]
    impl sellerdesk_eventstore::hooked::Hooks for LostAfter {
        async fn lease_taken(
            &self,
            name: &str,
            lease: Box<dyn sellerdesk_eventstore::Lease>,
        ) -> Box<dyn sellerdesk_eventstore::Lease> {
            Box::new(Losing {
                lease,
                left: Some(self.checks),
                loss: self.loss.clone(),
                key: sellerdesk_eventstore::lease_key(name),
            })
        }
    }

    #[derive(Debug)]
    struct Losing {
        lease: Box<dyn sellerdesk_eventstore::Lease>,
        /// Asks before it is lost; None once it was.
        left: Option<usize>,
        loss: Loss,
        key: i64,
    }

    #[async_trait::async_trait]
    impl sellerdesk_eventstore::Lease for Losing {
        async fn held(&mut self) -> bool {
            match self.left {
                Some(0) => {
                    if let Loss::SessionEnded { url } = &self.loss {
                        let ended = sellerdesk_testkit::end_session_holding(url, self.key).await;
                        assert_eq!(ended, 1, "the lease's session was ended");
                    }
                    self.left = None;
                }
                Some(n) => self.left = Some(n - 1),
                None => {}
            }
            match self.loss {
                Loss::Said => self.left.is_some(),
                Loss::SessionEnded { .. } => self.lease.held().await,
            }
        }
    }

    /// A rebuild whose lease is lost between two batches stops there with
    /// an error and writes nothing more, so it never writes beside the
    /// replica that may hold the lease now. What it left (the checkpoint
    /// after its last batch, the shop's mark saying how far it is projected)
    /// lets the projector finish it: every conversation of both batches is
    /// found, through the pairs.
    #[tokio::test]
    async fn a_rebuild_that_loses_its_lease_stops_and_the_projector_finishes_it() {
        let (_dir, store) = empty_store().await;
        let loss = Loss::Said;
        rebuild_losing_its_lease(store, Arc::new(LostAfter { checks: 1, loss })).await;
    }

    /// The same on PostgreSQL, with the lease lost as it is there: the
    /// server ends the session that holds it, between the two batches, and
    /// the store's lease finds it gone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgresql_a_rebuild_whose_lease_session_ends_stops_and_the_projector_finishes_it()
    {
        let url = sellerdesk_testkit::fresh_postgres_url().await;
        let store = sellerdesk_eventstore::open(&url).await.unwrap();
        let loss = Loss::SessionEnded { url };
        rebuild_losing_its_lease(store, Arc::new(LostAfter { checks: 1, loss })).await;
    }

    async fn rebuild_losing_its_lease(
        store: Arc<dyn EventStore>,
        hooks: Arc<impl sellerdesk_eventstore::hooked::Hooks>,
    ) {
        // 1,500 conversations of one line: 3,000 events, two batches.
        let lines: Vec<Vec<String>> = (0..1_500)
            .map(|i| vec![format!("订单{i:04}退款")])
            .collect();
        let events = opened_and_said(&lines);
        let (log, head) = without_pairs_in(&*store, &events).await;
        assert!(head > BATCH, "two batches at least");

        let losing: Arc<dyn EventStore> = Arc::new(sellerdesk_eventstore::hooked::Hooked::new(
            store.clone(),
            hooks,
        ));
        let stopped = rebuild(losing, LinePairs::Written).await;
        match &stopped {
            Err(StoreError::Unavailable(why)) => assert!(why.contains("lost"), "{why}"),
            other => panic!("the rebuild went on without its lease: {other:?}"),
        }
        // One batch written, none after the lease was lost.
        let first = log[BATCH as usize - 1].global_position;
        assert_eq!(store.load_checkpoint(PROJECTOR).await.unwrap(), first);
        let mark = projected(&*store, SHOP).await.unwrap();
        assert!(mark.version < events.len() as i64, "{mark:?}");
        assert!(mark.all_paired);
        // The last conversations were not projected again yet.
        assert_eq!(
            found(&*store, "订单1499", RARE_LINES).await,
            Vec::<String>::new()
        );

        // The projector of the replica that takes the lease next.
        let mut follower = Follower::checkpointed(store.clone(), PROJECTOR, BATCH);
        let store_ = store.clone();
        follower
            .catch_up(&mut |batch: Vec<RecordedEvent>| {
                let store = store_.clone();
                async move { project(&*store, batch, LinePairs::Written).await }
            })
            .await
            .unwrap();
        let mark = projected(&*store, SHOP).await.unwrap();
        assert_eq!(mark.version, events.len() as i64);
        assert!(mark.all_paired, "every line was written with its pairs");
        for i in [0, 999, 1_000, 1_499] {
            assert_eq!(
                found(&*store, &format!("订单{i:04}"), RARE_LINES).await,
                [format!("c{i:02}")],
                "{i}"
            );
        }
        assert_eq!(store.load_checkpoint(PROJECTOR).await.unwrap(), head);
    }

    /// A shop whose lines were projected before the pairs existed (its mark
    /// has no body) is searched by the scan, before and after new lines are
    /// projected with pairs, so none of its old conversations goes missing.
    #[tokio::test]
    async fn a_shop_projected_before_the_pairs_keeps_the_scan() {
        let (_dir, store) = projected_store(opened_and_said(&[vec!["退款多久到".into()]])).await;
        // As the projector before the pairs left it: its lines without
        // pairs, its mark without a body.
        let mut lines = store
            .documents_with_term(LINES, SHOP, "conversation:c00")
            .await
            .unwrap();
        for l in &mut lines {
            l.terms.retain(|t| !t.starts_with(SAID));
        }
        let mut mark = store
            .load_documents(PROJECTED, SHOP, &[SHOP.into()])
            .await
            .unwrap();
        mark[0].body.clear();
        store.delete_documents(LINES).await.unwrap();
        store.delete_documents(PROJECTED).await.unwrap();
        store.save_documents(&lines).await.unwrap();
        store.save_documents(&mark).await.unwrap();
        assert!(!projected(&*store, SHOP).await.unwrap().all_paired);
        assert!(saying(&*store, SHOP, "退款", RARE_LINES)
            .await
            .unwrap()
            .is_none());
        assert_eq!(found(&*store, "退款", RARE_LINES).await, ["c00"]);
        // New lines are projected with pairs; the shop still scans.
        let more = vec![Event::BuyerMessageReceived {
            conversation_id: "c00".into(),
            message_id: "m-late".into(),
            text: "发货了吗".into(),
            attachment: None,
            assignee: None,
            robot: RobotVerdict::NotAsked,
            waits_for_human: true,
            at: at(1),
        }];
        let log = append(&*store, &more, 2).await;
        project(&*store, log, LinePairs::Written).await.unwrap();
        let now = projected(&*store, SHOP).await.unwrap();
        assert_eq!((now.version, now.all_paired), (3, false));
        assert_eq!(found(&*store, "退款", RARE_LINES).await, ["c00"]);
        assert_eq!(found(&*store, "发货", RARE_LINES).await, ["c00"]);
    }
}
