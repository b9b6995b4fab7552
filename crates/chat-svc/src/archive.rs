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
    Document, DocumentQuery, EventStore, Follower, RecordedEvent, StoreError,
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
        let said = match event {
            Event::BuyerMessageReceived { text, .. } | Event::RobotReplied { text, .. } => {
                Some(text)
            }
            Event::AgentReplied { agent_id, text, .. } => {
                self.handled_by.insert(agent_id.clone());
                Some(text)
            }
            _ => None,
        };
        if let Some(text) = said.filter(|t| !t.is_empty()) {
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

fn line_document(shop: &str, conversation: &str, l: &Logged) -> Result<Document, StoreError> {
    Ok(Document {
        index: LINES.into(),
        shop_id: shop.into(),
        // Positions are unique in a shop; padded, ids sort as positions do.
        doc_id: format!("{:012}", l.position),
        starts_at: l.position,
        ends_at: None,
        version: l.position,
        terms: vec![format!("conversation:{conversation}")],
        text: String::new(),
        body: body(&Line {
            at: l.at,
            event: l.event.clone(),
        })?,
    })
}

/// Follows the log for ever, projecting each batch (run under the lease
/// [`PROJECTOR`]).
pub async fn run(store: Arc<dyn EventStore>) {
    Follower::checkpointed(store, PROJECTOR, BATCH)
        .project(|store, batch| async move { project(&*store, batch).await })
        .await
}

/// Writes the documents of one batch of the log, in one transaction; a
/// batch handed over again (a crash before the checkpoint moved) writes the
/// same documents again.
pub async fn project(store: &dyn EventStore, batch: Vec<RecordedEvent>) -> Result<(), StoreError> {
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
        let mark = projected(store, &shop).await?;
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
            documents.push(line_document(&shop, id, l)?);
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
            body: String::new(),
        });
    }
    store.save_documents(&documents).await
}

/// The shop stream's version the documents reflect (0: none yet).
async fn projected(store: &dyn EventStore, shop: &str) -> Result<i64, StoreError> {
    Ok(store
        .load_documents(PROJECTED, shop, &[shop.to_owned()])
        .await?
        .first()
        .map_or(0, |d| d.version))
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
    let mark = projected(&**store, shop).await?;
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
    let mut terms = Vec::new();
    terms.extend(s.buyer_id.iter().map(|b| format!("buyer:{b}")));
    terms.extend(s.order_id.iter().map(|o| format!("order:{o}")));
    terms.extend(s.agent_id.iter().map(|a| format!("agent:{a}")));
    terms.extend(s.status.map(|st| match st {
        ConversationStatus::Open => "status:open".to_owned(),
        ConversationStatus::Closed => "status:closed".to_owned(),
    }));
    let found = store
        .search_documents(&DocumentQuery {
            index: CONVERSATIONS.into(),
            shop_id: shop.into(),
            terms,
            starts_from: s.opened_from,
            starts_before: s.opened_before,
            text: s.text.clone(),
            after: s.after.clone(),
            limit: s.limit,
            ..Default::default()
        })
        .await?;
    found.iter().map(parse).collect()
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
