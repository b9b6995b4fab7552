//! The application: each shop's desk is driven by one task that decides
//! commands in arrival order and commits them in groups (one append for
//! every command waiting), so a live-stream rush in one shop costs one
//! transaction per group, not per buyer message. Queries read the committed
//! desk; inboxes follow the committed events; a scheduler lets time act
//! (queue draining when hours open, reassigning unanswered conversations)
//! on the shops its schedule, a read model, has due.

use crate::{
    archive,
    domain::{decide, ChatDesk, Command, DomainError, Event, Limits},
    robot::Robot,
    store,
};
use futures::Stream;
use sellerdesk_eventstore::{
    Document, DocumentQuery, EventStore, Follower, Metadata, RecordedEvent, Snapshot, StoreError,
};
use sellerdesk_runtime::{
    bounded::Bounded,
    command::{for_each_event, CachedState, CommandPath, Grouped, Target},
    Clock,
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex as StdMutex, RwLock},
    time::Duration,
};
use tokio::sync::{broadcast, mpsc, oneshot};

/// Commands committed together at most.
const GROUP: usize = 512;
const READ_BATCH: i64 = 10_000;
/// How often an inbox looks at the log for events other replicas appended.
const INBOX_POLL: Duration = Duration::from_secs(2);

pub use sellerdesk_runtime::errors::AppError;

/// A buyer's message as the gateway relays it.
#[derive(Debug, Clone)]
pub struct BuyerMessage {
    pub conversation_id: String,
    pub message_id: String,
    /// May be empty when the message carries an attachment.
    pub text: String,
    pub attachment: Option<crate::domain::Attachment>,
}

/// A committed event and its position: the shop stream's version.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    pub position: i64,
    pub at: crate::domain::Instant,
    pub event: Event,
}

/// What queries read: the committed desk. A conversation's lines are not
/// kept here: they are read from the read model and the log
/// ([`Chat::lines`]), so memory does not grow with what was said (R-X-4).
#[derive(Debug, Default)]
pub struct View {
    pub desk: ChatDesk,
}

impl View {
    fn apply(&mut self, logged: &Arc<Logged>) {
        self.desk.apply(&logged.event);
    }
}

struct Pending {
    command: Command,
    metadata: Metadata,
    reply: oneshot::Sender<Result<Vec<Arc<Logged>>, AppError>>,
}

/// Committed events published together, in order.
type Group = Arc<Vec<Arc<Logged>>>;

/// One shop's desk: its command queue, committed view and live feed.
#[derive(Debug)]
pub struct DeskHandle {
    shop: String,
    /// Boxed: a channel allocates its first block of 32 slots up front, and
    /// a command is a large enum (32 inline slots were ~10 KiB per desk).
    commands: mpsc::Sender<Box<Pending>>,
    pub view: RwLock<View>,
    /// Each committed group, in order, while a stream of the whole shop
    /// (the live figures) follows: made on the first subscription, not per
    /// desk, as a broadcast channel allocates its whole ring up front (40
    /// KiB at 1,024 groups: most of an idle desk's memory before).
    feed: StdMutex<Option<broadcast::Sender<Group>>>,
    /// When live streams last had the view caught up with other replicas'
    /// writes: one read per desk and poll, however many streams follow it.
    polled: StdMutex<Option<std::time::Instant>>,
    /// R-CHAT-13: the live feed of each conversation a buyer's stream
    /// follows, so a commit wakes the streams of its own conversations only,
    /// not every buyer stream of the shop.
    conversation_feeds: StdMutex<HashMap<String, broadcast::Sender<Group>>>,
    /// R-CHAT-5: the live feed of each agent an inbox stream follows, for
    /// the same reason: a commit wakes the inbox it concerns, not the inbox
    /// of every agent of the shop.
    agent_feeds: StdMutex<HashMap<String, broadcast::Sender<Group>>>,
}

/// What a live stream follows.
enum Scope {
    /// Every event of the shop (the live figures).
    Shop,
    /// The events of one conversation (the buyer's stream).
    Conversation(String),
    /// The events that concern one agent (the agent's inbox).
    Agent(String),
}

impl Drop for DeskHandle {
    fn drop(&mut self) {
        // An evicted desk's queue is no longer this replica's to count.
        if let Ok(view) = self.view.read() {
            crate::metrics::queue_changed(view.desk.queue.len(), 0);
        }
    }
}

impl DeskHandle {
    /// Whether the desk may go: no command waits and no inbox watches. A
    /// desk with timers may go too: the schedule in the database, not this
    /// cache, is what the scheduler reads (R-X-4). Its task holds it weakly
    /// and ends with it.
    fn idle(desk: &Arc<Self>) -> bool {
        desk.commands.capacity() == desk.commands.max_capacity()
            && desk
                .feed
                .lock()
                .expect("feed lock")
                .as_ref()
                .is_none_or(|f| f.receiver_count() == 0)
            && [&desk.conversation_feeds, &desk.agent_feeds]
                .iter()
                .all(|feeds| {
                    feeds
                        .lock()
                        .expect("feeds lock")
                        .values()
                        .all(|f| f.receiver_count() == 0)
                })
    }
}

impl DeskHandle {
    fn subscribe(&self, scope: &Scope) -> broadcast::Receiver<Group> {
        let (feeds, key, capacity) = match scope {
            Scope::Shop => {
                return self
                    .feed
                    .lock()
                    .expect("feed lock")
                    .get_or_insert_with(|| broadcast::channel(1024).0)
                    .subscribe()
            }
            Scope::Conversation(c) => (&self.conversation_feeds, c, 64),
            Scope::Agent(a) => (&self.agent_feeds, a, 256),
        };
        let mut feeds = feeds.lock().expect("feeds lock");
        feeds
            .entry(key.to_owned())
            .or_insert_with(|| broadcast::channel(capacity).0)
            .subscribe()
    }

    /// Sends each followed agent the part of `fresh` that concerns it; a
    /// feed nobody follows any more goes.
    fn publish_to_agents(&self, fresh: &[Arc<Logged>]) {
        let mut feeds = self.agent_feeds.lock().expect("feeds lock");
        feeds.retain(|agent, feed| {
            let part: Vec<Arc<Logged>> = fresh
                .iter()
                .filter(|l| l.event.concerns_agent(agent))
                .cloned()
                .collect();
            part.is_empty() || feed.send(Arc::new(part)).is_ok()
        });
    }

    /// Sends each conversation's part of `fresh` to its feed, if a stream
    /// follows it; a feed nobody follows any more goes.
    fn publish_to_conversations(&self, fresh: &[Arc<Logged>]) {
        let mut feeds = self.conversation_feeds.lock().expect("feeds lock");
        if feeds.is_empty() {
            return;
        }
        let mut parts: HashMap<&str, Vec<Arc<Logged>>> = HashMap::new();
        for l in fresh {
            if let Some(c) = l.event.conversation_id() {
                if feeds.contains_key(c) {
                    parts.entry(c).or_default().push(l.clone());
                }
            }
        }
        for (c, part) in parts {
            let gone = feeds
                .get(c)
                .is_some_and(|f| f.send(Arc::new(part)).is_err());
            if gone {
                feeds.remove(c);
            }
        }
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("command", &self.command)
            .finish()
    }
}

/// The checkpoint of the scheduler's projector, which writes the schedule
/// ([`store::DUE_INDEX`]) from the log.
const TIMED_CHECKPOINT: &str = "chat-timers";
/// Where an older release kept the shops that had timers (one snapshot row
/// per shop, no body): adopted into the schedule once, then deleted.
pub const OLD_TIMED_PREFIX: &str = "chat:timers/";
/// Schedule entries read per query: the shops due at once are ticked a page
/// at a time, so a take-over after a long stop reads no more than this.
const DUE_PAGE: i64 = 256;

/// Desk snapshots, under `chat:desk/<shop>`.
const DESK_PREFIX: &str = "chat:desk/";
/// A load that folds at least this many events saves the desk it made.
const SNAPSHOT_AFTER: usize = 500;
/// The form of the desk a snapshot holds: a change to `ChatDesk` or to its
/// fold bumps it, and snapshots of an older form are folded again from the
/// log instead of being read wrongly.
const DESK_FORM: u32 = 1;

fn desk_key(shop: &str) -> String {
    format!("{DESK_PREFIX}{shop}")
}

#[derive(serde::Serialize, serde::Deserialize)]
struct DeskSnapshot {
    form: u32,
    desk: ChatDesk,
}

/// An older release's `chat:timers/<shop>/`.
fn old_timed_shop(key: &str) -> Option<&str> {
    key.strip_prefix(OLD_TIMED_PREFIX)?.strip_suffix('/')
}

/// The shop's schedule entry: due when a tick from `from` on would first
/// decide something ([`ChatDesk::next_tick`]), never when only a command can
/// change the desk.
fn schedule_entry(shop: &str, desk: &ChatDesk, from: crate::domain::Instant) -> Document {
    Document::schedule_entry(
        store::DUE_INDEX,
        shop,
        desk.next_tick(from),
        desk.version,
        String::new(),
    )
}

#[derive(Debug)]
pub struct Chat {
    store: Arc<dyn EventStore>,
    path: CommandPath,
    limits: Limits,
    robot: Arc<Robot>,
    /// The desks this replica holds, at most a configured number: idle ones
    /// ([`DeskHandle::idle`]) go and come back from their stream (R-X-4).
    desks: StdMutex<Bounded<DeskHandle>>,
    loading: tokio::sync::Mutex<()>,
    /// Where desk tasks run: the host stops them with the service.
    tasks: sellerdesk_runtime::host::Tasks,
}

impl Chat {
    /// Opens the service. Nothing is read from the log: a desk loads when its
    /// shop is first used, and the replica that keeps time reads the shops
    /// that are due from the schedule ([`Chat::run_scheduler`]), so start-up
    /// does not grow with history (R-X-4).
    pub async fn open(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        limits: Limits,
        robot: Arc<Robot>,
        tasks: sellerdesk_runtime::host::Tasks,
        cache_shops: usize,
    ) -> Result<Arc<Self>, AppError> {
        let chat = Arc::new(Self {
            tasks,
            path: CommandPath::new(store.clone(), clock),
            store,
            limits,
            robot,
            desks: StdMutex::new(Bounded::new(cache_shops, DeskHandle::idle)),
            loading: tokio::sync::Mutex::new(()),
        });
        Ok(chat)
    }

    /// A conversation's lines after position `after`, up to what is
    /// committed now, and the shop stream's version read up to
    /// ([`crate::archive::lines`]).
    pub async fn lines(
        &self,
        shop: &str,
        conversation: &str,
        after: i64,
    ) -> Result<(Vec<Arc<Logged>>, i64), AppError> {
        crate::archive::lines(&self.store, shop, conversation, after).await
    }

    /// The service's event store (the read model lives beside the log).
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// How many shops' desks this replica holds.
    pub fn loaded_desks(&self) -> usize {
        self.desks.lock().expect("desks lock").len()
    }

    pub fn robot(&self) -> &Robot {
        &self.robot
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn now(&self) -> crate::domain::Instant {
        self.path.now()
    }

    fn start_desk(
        self: &Arc<Self>,
        shop: &str,
        from: ChatDesk,
        events: &[Arc<Logged>],
    ) -> Arc<DeskHandle> {
        let mut view = View { desk: from };
        for e in events {
            view.apply(e);
        }
        let working = view.desk.clone();
        // Counted here; the handle's drop takes it back off.
        crate::metrics::queue_changed(0, view.desk.queue.len());
        let (commands, queue) = mpsc::channel(4 * GROUP);
        let handle = Arc::new(DeskHandle {
            shop: shop.to_owned(),
            commands,
            view: RwLock::new(view),
            feed: StdMutex::new(None),
            polled: StdMutex::new(None),
            conversation_feeds: StdMutex::new(HashMap::new()),
            agent_feeds: StdMutex::new(HashMap::new()),
        });
        self.desks
            .lock()
            .expect("desks lock")
            .insert(shop, handle.clone());
        // Owned by the host: stopping the service stops every desk.
        self.tasks
            .spawn(self.clone().drive(Arc::downgrade(&handle), working, queue));
        handle
    }

    /// The shop's desk, loaded from its stream on first use.
    pub async fn desk(self: &Arc<Self>, shop: &str) -> Result<Arc<DeskHandle>, AppError> {
        Ok(self
            .loaded_desk(shop, true)
            .await?
            .expect("a desk is started when asked to"))
    }

    /// The shop's desk if it is loaded or has a history; a shop that never
    /// wrote gets a desk only when `start` (a command), so reading it
    /// creates nothing (R-X-4).
    async fn loaded_desk(
        self: &Arc<Self>,
        shop: &str,
        start: bool,
    ) -> Result<Option<Arc<DeskHandle>>, AppError> {
        if let Some(h) = self.desks.lock().expect("desks lock").get(shop) {
            return Ok(Some(h));
        }
        let _loading = self.loading.lock().await;
        if let Some(h) = self.desks.lock().expect("desks lock").get(shop) {
            return Ok(Some(h));
        }
        let from = self.desk_snapshot(shop).await;
        let events = self.read_desk_stream(shop, from.version).await?;
        if from.version == 0 && events.is_empty() && !start {
            return Ok(None);
        }
        let tail = events.len();
        let handle = self.start_desk(shop, from, &events);
        if tail >= SNAPSHOT_AFTER {
            // A long fold is saved, so the next load reads only what follows.
            let desk = handle.view.read().expect("view lock").desk.clone();
            self.save_desk_snapshot(shop, &desk).await;
        }
        Ok(Some(handle))
    }

    /// The shop's desk as its last snapshot left it, or the empty desk: a
    /// snapshot that cannot be read, or of another form, is folded again
    /// from the log rather than trusted.
    async fn desk_snapshot(&self, shop: &str) -> ChatDesk {
        let found = match self.store.load_snapshot(&desk_key(shop)).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(shop, error = %e, "desk snapshot unreadable; folding the stream");
                None
            }
        };
        found
            .and_then(|s| {
                serde_json::from_str::<DeskSnapshot>(&s.body)
                    .ok()
                    .filter(|d| d.form == DESK_FORM && d.desk.version == s.version)
            })
            .map(|d| d.desk)
            .unwrap_or_default()
    }

    async fn save_desk_snapshot(&self, shop: &str, desk: &ChatDesk) {
        let body = match serde_json::to_string(&DeskSnapshot {
            form: DESK_FORM,
            desk: desk.clone(),
        }) {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(shop, error = %e, "desk snapshot not written");
                return;
            }
        };
        let snapshot = Snapshot {
            key: desk_key(shop),
            version: desk.version,
            position: 0,
            body,
        };
        // Derived data: failing to save it costs the next load a longer fold.
        if let Err(e) = self.store.save_snapshots(&[snapshot]).await {
            tracing::warn!(shop, error = %e, "desk snapshot not written");
        }
    }

    async fn read_desk_stream(&self, shop: &str, after: i64) -> Result<Vec<Arc<Logged>>, AppError> {
        let mut out = Vec::new();
        for_each_event(&self.store, &store::desk_stream(shop), after, |r| {
            out.push(Arc::new(Logged {
                position: r.stream_version,
                at: r.occurred_at,
                event: store::decode(r)?,
            }));
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Runs `command` on the shop's desk; returns its committed events.
    pub async fn execute(
        self: &Arc<Self>,
        shop: &str,
        command: Command,
        metadata: Metadata,
    ) -> Result<Vec<Arc<Logged>>, AppError> {
        let handle = self.desk(shop).await?;
        // A conversation that left the desk (closed more than a week ago)
        // is known to the read model only: its id is not free again.
        if let Command::OpenConversation {
            conversation_id,
            buyer_id,
            ..
        } = &command
        {
            let retired = {
                let view = handle.view.read().expect("view lock");
                view.desk.has_retired() && view.desk.conversation(conversation_id).is_none()
            };
            if retired {
                if let Some(r) = archive::record(&*self.store, shop, conversation_id).await? {
                    return if r.conversation.buyer_id == *buyer_id {
                        Ok(Vec::new())
                    } else {
                        Err(DomainError::AlreadyExists {
                            kind: "conversation",
                            id: conversation_id.clone(),
                        }
                        .into())
                    };
                }
            }
        }
        let (reply, answer) = oneshot::channel();
        handle
            .commands
            .send(Box::new(Pending {
                command,
                metadata,
                reply,
            }))
            .await
            .map_err(|_| AppError::Stopped(shop.to_owned()))?;
        match answer
            .await
            .map_err(|_| AppError::Stopped(shop.to_owned()))?
        {
            Err(AppError::Domain(DomainError::NotFound {
                kind: "conversation",
                id,
            })) => Err(self.archived_or_missing(&handle, shop, id).await),
            answered => answered,
        }
    }

    /// What a command naming a conversation the desk does not hold gets:
    /// FAILED_PRECONDITION if it left the desk for the read model (it is
    /// read-only now), NOT_FOUND otherwise.
    async fn archived_or_missing(&self, handle: &DeskHandle, shop: &str, id: String) -> AppError {
        let retired = handle.view.read().expect("view lock").desk.has_retired();
        if retired {
            match archive::record(&*self.store, shop, &id).await {
                Ok(Some(_)) => {
                    return DomainError::precondition(
                        "CONVERSATION_ARCHIVED",
                        &id,
                        format!(
                            "conversation {id} closed more than {} days ago and is read-only",
                            crate::domain::CLOSED_KEPT_DAYS
                        ),
                    )
                    .into()
                }
                Ok(None) => {}
                Err(e) => return e.into(),
            }
        }
        DomainError::NotFound {
            kind: "conversation",
            id,
        }
        .into()
    }

    /// A conversation as the desk holds it, or, once it has left the desk,
    /// as the read model keeps it.
    pub async fn conversation(
        self: &Arc<Self>,
        shop: &str,
        id: &str,
    ) -> Result<Option<crate::domain::Conversation>, AppError> {
        let (held, retired) = self
            .read(shop, |v| {
                (v.desk.conversation(id).cloned(), v.desk.has_retired())
            })
            .await?;
        if held.is_some() || !retired {
            return Ok(held);
        }
        Ok(archive::record(&*self.store, shop, id)
            .await?
            .map(|r| r.conversation))
    }

    /// The conversations that left the desk (all closed before
    /// `retired_before`) which the figures over `window` need: closed inside
    /// it, before the desk let them go.
    pub async fn retired_for_figures(
        self: &Arc<Self>,
        shop: &str,
        window: crate::domain::metrics::Window,
        retired_before: crate::domain::Instant,
    ) -> Result<Vec<crate::domain::Conversation>, AppError> {
        archive::closed_between(
            &*self.store,
            shop,
            window.from,
            retired_before.min(window.to),
            window.to,
        )
        .await
        .map_err(AppError::from)
    }

    /// Reads the shop's committed desk.
    /// A buyer's message (R-CHAT-6): the robot first, unless a human has the
    /// conversation, the buyer asked for one (R-CHAT-8) or the message is a
    /// retry; then the desk decides. Returns what it caused, and false when
    /// the robot could not be asked (faq-svc unavailable: humans answer).
    pub async fn receive_buyer_message(
        self: &Arc<Self>,
        caller: &sellerdesk_runtime::Caller,
        shop: &str,
        message: BuyerMessage,
        metadata: Metadata,
    ) -> Result<(Vec<Arc<Logged>>, bool), AppError> {
        use crate::domain::{handover::asks_for_human, ConversationStatus, RobotVerdict};
        let BuyerMessage {
            conversation_id,
            message_id,
            text,
            attachment,
        } = message;
        // The robot reads text only: a picture or a product goes to humans.
        let robot_first = attachment.is_none()
            && !text.trim().is_empty()
            && !asks_for_human(&text)
            && self
                .peek(shop, |v| {
                    v.desk.conversation(&conversation_id).is_some_and(|c| {
                        c.status == ConversationStatus::Open
                            && c.assignee.is_none()
                            && !c.message_ids.contains_key(&message_id)
                    })
                })
                .await?;
        let robot = if robot_first {
            self.robot.ask(caller, shop, &conversation_id, &text).await
        } else {
            RobotVerdict::NotAsked
        };
        let robot_available = robot != RobotVerdict::Unavailable;
        let command = Command::ReceiveBuyerMessage {
            conversation_id,
            message_id,
            text,
            attachment,
            robot,
            at: self.now(),
        };
        Ok((
            self.execute(shop, command, metadata).await?,
            robot_available,
        ))
    }

    /// As [`Self::read`], without catching up with other replicas first: for
    /// a hint the desk's decision checks again (whether to ask the robot),
    /// where one query per buyer message would cost more than a rare stale
    /// hint (a wasted robot call, or a message that goes straight to humans).
    pub async fn peek<R>(
        self: &Arc<Self>,
        shop: &str,
        f: impl FnOnce(&View) -> R,
    ) -> Result<R, AppError> {
        match self.loaded_desk(shop, false).await? {
            Some(handle) => Ok(f(&handle.view.read().expect("view lock"))),
            None => Ok(f(&View::default())),
        }
    }

    /// As [`Self::read`], right after this replica committed `committed`:
    /// when the view already holds them, it is as new as any write
    /// acknowledged before the command (the append found the stream's head,
    /// or folded what other replicas wrote first, R-X-4), so no query is
    /// needed. A command that committed nothing (a retry) reads as usual.
    pub async fn read_after_commit<R>(
        self: &Arc<Self>,
        shop: &str,
        committed: &[Arc<Logged>],
        f: impl FnOnce(&View) -> R,
    ) -> Result<R, AppError> {
        if let (Some(last), Some(handle)) = (committed.last(), self.loaded_desk(shop, false).await?)
        {
            let view = handle.view.read().expect("view lock");
            if view.desk.version >= last.position {
                return Ok(f(&view));
            }
        }
        self.read(shop, f).await
    }

    pub async fn read<R>(
        self: &Arc<Self>,
        shop: &str,
        f: impl FnOnce(&View) -> R,
    ) -> Result<R, AppError> {
        match self.loaded_desk(shop, false).await? {
            Some(handle) => {
                self.catch_up_view(&handle).await?;
                let view = handle.view.read().expect("view lock");
                Ok(f(&view))
            }
            // Nothing was ever written: the empty desk, started nowhere.
            None => Ok(f(&View::default())),
        }
    }

    /// The desk's task: takes every command waiting, decides each on the
    /// state the previous ones left, and commits them in one append.
    async fn drive(
        self: Arc<Self>,
        handle: std::sync::Weak<DeskHandle>,
        mut working: ChatDesk,
        mut queue: mpsc::Receiver<Box<Pending>>,
    ) {
        // The desk is held weakly: once evicted (nobody holds it), its queue
        // closes with it and this task ends.
        while let Some(first) = queue.recv().await {
            let Some(handle) = handle.upgrade() else {
                return;
            };
            let mut group = vec![*first];
            while group.len() < GROUP {
                match queue.try_recv() {
                    Ok(p) => group.push(*p),
                    Err(_) => break,
                }
            }
            self.commit_group(&handle, &mut working, group).await;
        }
    }

    /// Commits one group on the command path's group strategy, then makes
    /// visible what it found other replicas wrote and what it committed.
    async fn commit_group(&self, handle: &DeskHandle, working: &mut ChatDesk, group: Vec<Pending>) {
        {
            // Between groups the working desk is the view's, unless readers'
            // catch-ups or the scheduler's follower brought the view other
            // replicas' events since: decide on those (a tick would
            // otherwise see nothing due) rather than meet them as a conflict.
            let view = handle.view.read().expect("view lock");
            if view.desk.version > working.version {
                *working = view.desk.clone();
            }
        }
        let stream = store::desk_stream(&handle.shop);
        let grouped: Vec<Grouped<'_, Command>> = group
            .iter()
            .map(|p| Grouped {
                command: &p.command,
                at: p.command.at(),
                metadata: &p.metadata,
                // A tick that decided nothing on a stale desk is repaired by
                // the schedule's projector, which reads the newer events and
                // writes the shop's entry again; probing the head for each
                // idle tick would cost a query per due shop.
                answered: !matches!(p.command, Command::Tick { .. }),
            })
            .collect();
        let mut work = DeskWork {
            desk: working,
            remote: Vec::new(),
        };
        let target = Target {
            stream: &stream,
            shop: &handle.shop,
            schema_version: store::SCHEMA_VERSION,
            fold: true,
        };
        let result = self
            .path
            .execute_group(
                target,
                &mut work,
                &grouped,
                |w, command| decide(w.desk, command, &self.limits),
                |w| {
                    // Back to the committed view, plus what other replicas
                    // wrote that the view has not taken in yet. A reader's
                    // catch-up may have brought the view some of them
                    // already: each is applied once, in order, or the desk
                    // would count past the stream's head and every later
                    // probe would read after it (stale refusals).
                    *w.desk = handle.view.read().expect("view lock").desk.clone();
                    for l in &w.remote {
                        if l.position == w.desk.version + 1 {
                            w.desk.apply(&l.event);
                        }
                    }
                },
            )
            .await;
        drop(grouped);
        if !work.remote.is_empty() {
            self.publish(handle, &work.remote);
        }
        match result {
            Ok(committed) => {
                let logged: Vec<Arc<Logged>> = committed
                    .events
                    .into_iter()
                    .enumerate()
                    .map(|(i, (at, event))| {
                        Arc::new(Logged {
                            position: committed.base + 1 + i as i64,
                            at,
                            event,
                        })
                    })
                    .collect();
                if !logged.is_empty() {
                    crate::metrics::committed(logged.iter().map(|l| &l.event));
                    self.publish(handle, &logged);
                }
                reply_all(group, committed.outcomes, &logged)
            }
            Err(AppError::Contended(stream)) => {
                fail_all(group, |_| AppError::Contended(stream.clone()))
            }
            Err(AppError::Store(e)) => fail_all(group, |_| AppError::Store(e.shared())),
            Err(e) => {
                let why = e.to_string();
                fail_all(group, |_| {
                    AppError::Store(StoreError::WriteFailed(why.clone()))
                })
            }
        }
    }

    /// Makes committed events visible: the view first, then the live feed.
    /// Each event once and in order, whoever brings it (this desk's commit,
    /// its catch-up, a read's catch-up, the scheduler's follower): what the
    /// view has is skipped; a gap leaves the rest to the next catch-up.
    fn publish(&self, handle: &DeskHandle, logged: &[Arc<Logged>]) {
        let fresh: Vec<Arc<Logged>> = {
            let mut view = handle.view.write().expect("view lock");
            let queued = view.desk.queue.len();
            let mut fresh = Vec::new();
            for l in logged {
                if l.position == view.desk.version + 1 {
                    view.apply(l);
                    fresh.push(l.clone());
                }
            }
            crate::metrics::queue_changed(queued, view.desk.queue.len());
            fresh
        };
        if !fresh.is_empty() {
            handle.publish_to_conversations(&fresh);
            handle.publish_to_agents(&fresh);
            let mut feed = handle.feed.lock().expect("feed lock");
            // A feed nobody follows any more goes.
            if feed
                .as_ref()
                .is_some_and(|f| f.send(Arc::new(fresh)).is_err())
            {
                *feed = None;
            }
        }
    }

    /// For live streams: catches the view up unless another stream of the
    /// desk did so within the last poll interval.
    async fn poll_for_remote(&self, handle: &DeskHandle) -> Result<(), AppError> {
        {
            let mut polled = handle.polled.lock().expect("poll lock");
            let now = std::time::Instant::now();
            if polled.is_some_and(|t| now.duration_since(t) < INBOX_POLL) {
                return Ok(());
            }
            *polled = Some(now);
        }
        self.catch_up_view(handle).await
    }

    /// Brings the view up to the stream's head (other replicas' writes): one
    /// indexed read that is empty when nothing is new (R-X-4).
    async fn catch_up_view(&self, handle: &DeskHandle) -> Result<(), AppError> {
        let after = handle.view.read().expect("view lock").desk.version;
        let events = self.read_desk_stream(&handle.shop, after).await?;
        self.publish(handle, &events);
        Ok(())
    }

    /// The scheduler's projector, from its kept checkpoint.
    fn timed_follower(&self) -> Follower {
        Follower::checkpointed(self.store.clone(), TIMED_CHECKPOINT, READ_BATCH)
    }

    /// What the replica that takes the scheduler lease does first: adopts an
    /// older release's kept set of shops with timers, then projects what the
    /// log has past the checkpoint (commands the last holder had not seen).
    /// No desk is loaded for the shops that wait: the schedule says which
    /// are due, so taking over costs the same for ten waiting shops or
    /// 100,000 (R-X-4). Returns how many shops the older kept set named.
    pub async fn take_over_time(self: &Arc<Self>) -> Result<usize, AppError> {
        let adopted = self.adopt_old_timers().await?;
        self.project_schedule().await?;
        Ok(adopted)
    }

    /// An older release kept a snapshot row per shop with timers and loaded
    /// each desk when it took the lease; its checkpoint is already past
    /// their events, so the projector alone would never schedule them. Each
    /// becomes an entry due at once at version 0: the first tick writes the
    /// real one, and an entry the projector wrote since is newer and kept.
    async fn adopt_old_timers(&self) -> Result<usize, AppError> {
        let kept = self.store.load_snapshots(OLD_TIMED_PREFIX).await?;
        if kept.is_empty() {
            return Ok(0);
        }
        let now = self.path.now();
        let entries: Vec<Document> = kept
            .iter()
            .filter_map(|k| old_timed_shop(&k.key))
            .map(|shop| {
                Document::schedule_entry(store::DUE_INDEX, shop, Some(now), 0, String::new())
            })
            .collect();
        for chunk in entries.chunks(DUE_PAGE as usize) {
            self.store.save_documents(chunk).await?;
        }
        self.store.delete_snapshots(OLD_TIMED_PREFIX).await?;
        Ok(kept.len())
    }

    /// Brings the schedule up to the log's head.
    async fn project_schedule(self: &Arc<Self>) -> Result<usize, AppError> {
        self.timed_follower()
            .catch_up(&mut |batch| self.fold_foreign(batch))
            .await
            .map_err(|e| match e {
                sellerdesk_eventstore::FollowError::Store(e) => AppError::Store(e),
                sellerdesk_eventstore::FollowError::Handler(e) => e,
            })
    }

    /// Projects a batch of the log into the schedule: every shop it touches
    /// gets its entry from its desk, brought up to at least the batch (the
    /// desks this replica holds hear of other replicas' commands on the way).
    /// A shop whose entry already reflects the batch (the scheduler's own
    /// ticks write theirs) is skipped without loading its desk.
    async fn fold_foreign(self: &Arc<Self>, batch: Vec<RecordedEvent>) -> Result<(), AppError> {
        let mut by_shop: HashMap<&str, Vec<Arc<Logged>>> = HashMap::new();
        for r in &batch {
            if let Some(shop) = store::shop_of_stream(&r.stream_id) {
                by_shop.entry(shop).or_default().push(Arc::new(Logged {
                    position: r.stream_version,
                    at: r.occurred_at,
                    event: store::decode(r)?,
                }));
            }
        }
        let ids: Vec<String> = by_shop.keys().map(|s| (*s).to_owned()).collect();
        let scheduled: HashMap<String, i64> = self
            .store
            .load_documents(store::DUE_INDEX, store::DUE_OWNER, &ids)
            .await?
            .into_iter()
            .map(|d| (d.doc_id, d.version))
            .collect();
        let mut entries = Vec::with_capacity(by_shop.len());
        for (shop, events) in by_shop {
            let Some(last) = events.last() else { continue };
            let loaded = self.desks.lock().expect("desks lock").get(shop);
            if let Some(handle) = &loaded {
                let behind = handle.view.read().expect("view lock").desk.version + 1;
                if events.first().is_some_and(|e| e.position > behind) {
                    self.catch_up_view(handle).await?;
                } else {
                    self.publish(handle, &events);
                }
            }
            if scheduled.get(shop).is_some_and(|v| *v >= last.position) {
                continue;
            }
            let handle = match loaded {
                Some(handle) => handle,
                // A shop another replica served: loaded into the bounded
                // cache like any other, and evicted like any other.
                None => self.desk(shop).await?,
            };
            let view = handle.view.read().expect("view lock");
            entries.push(schedule_entry(shop, &view.desk, last.at));
        }
        // Before the checkpoint moves past the batch: a crash in between
        // projects it again, and an entry is replaced only by one as new.
        if !entries.is_empty() {
            self.store.save_documents(&entries).await?;
        }
        Ok(())
    }

    /// One round of the scheduler: the schedule brought up to the log, then
    /// every shop it has due ticked. Returns how many desks changed.
    pub async fn tick(self: &Arc<Self>) -> Result<usize, AppError> {
        self.project_schedule().await?;
        self.tick_due().await
    }

    /// Lets time act on the shops the schedule has due now, oldest first and
    /// a page at a time; each entry then moves to its shop's next instant.
    /// A shop whose tick fails stays due, and the others still tick.
    async fn tick_due(self: &Arc<Self>) -> Result<usize, AppError> {
        let at = self.path.now();
        let mut query = DocumentQuery::due(store::DUE_INDEX, at, DUE_PAGE);
        let mut changed = 0;
        let mut failed = None;
        loop {
            let page = self.store.search_documents(&query).await?;
            let mut moved = Vec::with_capacity(page.len());
            for entry in &page {
                match self.tick_shop(&entry.doc_id, at).await {
                    Ok((decided, next)) => {
                        changed += usize::from(decided);
                        moved.push(next);
                    }
                    Err(e) => {
                        tracing::warn!(shop = %entry.doc_id, error = %e, "tick failed; next round retries");
                        failed = Some(e);
                    }
                }
            }
            // One write per page; a crash before it leaves the page due, and
            // ticking it again decides nothing new.
            if !moved.is_empty() {
                self.store.save_documents(&moved).await?;
            }
            match page.last() {
                Some(last) if page.len() as i64 == DUE_PAGE => {
                    query.after = Some((last.starts_at, last.doc_id.clone()));
                }
                _ => break,
            }
        }
        failed.map_or(Ok(changed), Err)
    }

    /// Ticks one shop at `at`; returns whether the tick decided anything and
    /// the shop's entry moved to the desk's next instant.
    async fn tick_shop(
        self: &Arc<Self>,
        shop: &str,
        at: crate::domain::Instant,
    ) -> Result<(bool, Document), AppError> {
        let metadata = Metadata {
            actor: Some("system:scheduler".into()),
            ..Metadata::default()
        };
        let events = self.execute(shop, Command::Tick { at }, metadata).await?;
        let handle = self.desk(shop).await?;
        let entry = {
            let view = handle.view.read().expect("view lock");
            // Not again within this second: a pass that met the entry again
            // would never end.
            let due = view
                .desk
                .next_tick(at)
                .map(|due| due.max(at + chrono::Duration::seconds(1)));
            Document::schedule_entry(
                store::DUE_INDEX,
                shop,
                due,
                view.desk.version,
                String::new(),
            )
        };
        Ok((!events.is_empty(), entry))
    }

    /// The scheduler, on the replica that holds its lease: takes time over,
    /// then once a second projects the schedule and ticks what is due.
    pub async fn run_scheduler(self: Arc<Self>) {
        loop {
            match self.take_over_time().await {
                Ok(adopted) => {
                    tracing::info!(adopted, "chat: time taken over");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "taking time over failed; retrying");
                    tokio::time::sleep(sellerdesk_eventstore::RETRY_INTERVAL).await;
                }
            }
        }
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "scheduler round failed; next second retries");
            }
        }
    }

    /// R-CHAT-5: every event of the shop after `after` that `agent`'s inbox
    /// shows, first from the log, then live; each once, in order.
    pub async fn inbox(
        self: &Arc<Self>,
        shop: &str,
        agent: String,
        after: i64,
    ) -> Result<impl Stream<Item = Result<Arc<Logged>, AppError>> + Send + 'static, AppError> {
        let scope = Scope::Agent(agent.clone());
        self.follow(shop, after, scope, move |e| e.concerns_agent(&agent))
            .await
    }

    /// R-CHAT-13: every event of the shop after `after` that the buyer of
    /// `conversation` sees, as [`Self::inbox`] does for an agent.
    pub async fn buyer_side(
        self: &Arc<Self>,
        shop: &str,
        conversation: String,
        after: i64,
    ) -> Result<impl Stream<Item = Result<Arc<Logged>, AppError>> + Send + 'static, AppError> {
        let scope = Scope::Conversation(conversation.clone());
        self.follow(shop, after, scope, move |e| e.concerns_buyer(&conversation))
            .await
    }

    /// Every event of the shop after `after`, for readers that keep their
    /// own fold (the live response figures).
    pub async fn events_after(
        self: &Arc<Self>,
        shop: &str,
        after: i64,
    ) -> Result<impl Stream<Item = Result<Arc<Logged>, AppError>> + Send + 'static, AppError> {
        self.follow(shop, after, Scope::Shop, |_| true).await
    }

    /// The shop's events after `after` that `shows` picks, first from the
    /// log, then live; each once, in order, whichever replica committed them.
    /// For a conversation, the past comes from the view's lines of that
    /// conversation (caught up to the stream's head first) instead of the
    /// shop's whole log: a buyer's stream costs its conversation, not its shop.
    async fn follow(
        self: &Arc<Self>,
        shop: &str,
        after: i64,
        scope: Scope,
        shows: impl Fn(&Event) -> bool + Send + Sync + 'static,
    ) -> Result<impl Stream<Item = Result<Arc<Logged>, AppError>> + Send + 'static, AppError> {
        let handle = self.desk(shop).await?;
        // Subscribed before reading the past, so nothing falls between the
        // two. A conversation's or an agent's feed carries only its own
        // events: positions skip, and only a lagging receiver means something
        // was missed.
        let mut live = handle.subscribe(&scope);
        let contiguous = matches!(scope, Scope::Shop);
        let conversation = match scope {
            Scope::Conversation(c) => Some(c),
            Scope::Shop | Scope::Agent(_) => None,
        };
        let (tx, rx) = mpsc::channel::<Result<Arc<Logged>, AppError>>(256);
        let app = self.clone();
        tokio::spawn(async move {
            let mut seen = after;
            let send = |l: &Arc<Logged>| shows(&l.event).then(|| l.clone());
            loop {
                // The past, up to what is committed now.
                let past = match &conversation {
                    None => app
                        .read_desk_stream(&handle.shop, seen)
                        .await
                        .map(|events| {
                            let head = events.last().map_or(seen, |l| l.position);
                            (events, head)
                        }),
                    Some(c) => app
                        .lines(&handle.shop, c, seen)
                        .await
                        .map(|(lines, head)| (lines, head.max(seen))),
                };
                match past {
                    Ok((events, head)) => {
                        for l in &events {
                            if let Some(item) = send(l) {
                                if tx.send(Ok(item)).await.is_err() {
                                    return;
                                }
                            }
                        }
                        seen = head;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
                // Then live. A lagging receiver or a gap goes back to the
                // past; a quiet spell has the desk catch up with other
                // replicas (once per desk, whatever the number of streams),
                // which the feed then brings.
                let back_to_past = loop {
                    tokio::select! {
                        group = live.recv() => match group {
                            Ok(group) => {
                                let Some(first) = group.first() else { continue };
                                if contiguous && first.position > seen + 1 {
                                    break true;
                                }
                                for l in group.iter() {
                                    if l.position <= seen {
                                        continue;
                                    }
                                    seen = l.position;
                                    if let Some(item) = send(l) {
                                        if tx.send(Ok(item)).await.is_err() {
                                            return;
                                        }
                                    }
                                }
                            }
                            Err(broadcast::error::RecvError::Lagged(_)) => break true,
                            Err(broadcast::error::RecvError::Closed) => return,
                        },
                        _ = tokio::time::sleep(INBOX_POLL) => {
                            if let Err(e) = app.poll_for_remote(&handle).await {
                                let _ = tx.send(Err(e)).await;
                                return;
                            }
                        }
                        _ = tx.closed() => return,
                    }
                };
                if !back_to_past {
                    return;
                }
            }
        });
        Ok(tokio_stream::wrappers::ReceiverStream::new(rx))
    }
}

/// The desk task's state on the command path: the desk as decided so far,
/// and the events other replicas appended that the view has yet to show.
struct DeskWork<'a> {
    desk: &'a mut ChatDesk,
    remote: Vec<Arc<Logged>>,
}

impl CachedState for DeskWork<'_> {
    type Event = Event;

    fn version(&self) -> i64 {
        self.desk.version
    }

    fn fold(&mut self, _version: i64, _at: crate::domain::Instant, event: Event) {
        self.desk.apply(&event);
    }

    fn caught_up(&mut self, version: i64, at: crate::domain::Instant, event: Event) {
        self.desk.apply(&event);
        self.remote.push(Arc::new(Logged {
            position: version,
            at,
            event,
        }));
    }

    fn decode(stored: &RecordedEvent) -> Result<Event, StoreError> {
        store::decode(stored)
    }
}

fn reply_all(
    group: Vec<Pending>,
    outcomes: Vec<Result<std::ops::Range<usize>, DomainError>>,
    logged: &[Arc<Logged>],
) {
    for (p, outcome) in group.into_iter().zip(outcomes) {
        let _ = p.reply.send(
            outcome
                .map(|range| logged[range].to_vec())
                .map_err(AppError::Domain),
        );
    }
}

fn fail_all(group: Vec<Pending>, error: impl Fn(&Pending) -> AppError) {
    for p in group {
        let e = error(&p);
        let _ = p.reply.send(Err(e));
    }
}
