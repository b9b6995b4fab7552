//! The application: load -> decide -> append (retrying on a version conflict),
//! the per-shop caches that answer "now" and "as of", snapshots, the read
//! models, and the scheduler that announces tier changes caused by time.

use crate::{
    domain::{
        decide, decide_policy, Command, DomainError, Event, Instant, Policy, PolicyHistory,
        PublishPolicy, ShopState, Standing,
    },
    store::{self, ShopSummary, StoredSnapshot},
};
use sellerdesk_eventstore::{
    Append, AppendError, Document, DocumentQuery, EventStore, ExpectedVersion, FollowError,
    Follower, Metadata, RecordedEvent, Snapshot, StoreError,
};
use sellerdesk_runtime::{
    bounded::Bounded,
    command::{for_each_event, CommandPath, Target},
    Clock,
};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex as StdMutex, RwLock},
    time::Duration,
};
use tokio::sync::{broadcast, Mutex};

/// An in-memory checkpoint every this many events keeps "as of" fast.
const CHECKPOINT_EVERY: usize = 256;
/// A snapshot is persisted every this many events.
const SNAPSHOT_EVERY: i64 = 1000;
/// Events the projector handles per read-model write.
const PROJECTION_BATCH: i64 = 5_000;
/// The projector's checkpoint.
const READ_MODEL_CHECKPOINT: &str = "compliance-read-models";
const READ_BATCH: i64 = 10_000;
/// Due shops the scheduler reads at a time.
const DUE_PAGE: i64 = 256;
/// The version of the last policy whose taking effect the schedule was swept
/// for ([`Compliance::sweep_for_policy`]). Under the read models' prefix: a
/// rebuild drops it with them, and the sweep after it runs once more, which
/// costs one look at each shop with points and changes nothing else.
const POLICY_SWEPT: &str = "compliance/policy-swept";
/// How often the timekeeper looks for due shops when no clock change wakes it.
const LOOK_EVERY: Duration = Duration::from_secs(1);

pub use sellerdesk_runtime::errors::AppError;

/// How a domain refusal joins the shared error (the mapping to gRPC is the runtime's).
fn refused(d: DomainError) -> AppError {
    AppError::Domain(d.into())
}

/// One shop's state with enough history to answer any past instant.
#[derive(Debug, Default)]
struct ShopCache {
    state: ShopState,
    /// Envelope instants of the events folded into `state`, by stream version - 1.
    /// Empty until history is first needed.
    history: Vec<(Instant, Event)>,
    /// True when `history` holds every event since the stream began.
    history_loaded: bool,
    /// (events folded, state after them), every CHECKPOINT_EVERY events.
    checkpoints: Vec<(usize, ShopState)>,
    last_at: Option<Instant>,
}

impl sellerdesk_runtime::command::CachedState for ShopCache {
    type Event = Event;

    fn version(&self) -> i64 {
        self.state.version
    }

    /// Keeps the history too when it holds every event since the stream
    /// began (it then answers any past instant, R-CMP-10).
    fn fold(&mut self, _version: i64, at: Instant, event: Event) {
        let track = self.history_loaded || self.state.version == 0;
        self.fold_tracking(at, event, track);
        if track {
            self.history_loaded = true;
        }
    }

    fn decode(stored: &sellerdesk_eventstore::RecordedEvent) -> Result<Event, StoreError> {
        store::decode_shop_event(stored)
    }
}

impl ShopCache {
    fn fold_tracking(&mut self, at: Instant, event: Event, track_history: bool) {
        self.state.apply(&event);
        self.last_at = Some(self.last_at.map_or(at, |l| l.max(at)));
        if track_history {
            self.history.push((at, event));
            if self.history.len().is_multiple_of(CHECKPOINT_EVERY) {
                self.checkpoints
                    .push((self.history.len(), self.state.clone()));
            }
        }
    }

    /// The state folded from exactly the events with envelope instant <= `at`.
    fn state_as_of(&self, at: Instant) -> ShopState {
        let n = self.history.partition_point(|(t, _)| *t <= at);
        let i = self.checkpoints.partition_point(|(count, _)| *count <= n);
        let (start, mut state) = match i.checked_sub(1) {
            Some(c) => (self.checkpoints[c].0, self.checkpoints[c].1.clone()),
            None => (0, ShopState::default()),
        };
        for (_, e) in &self.history[start..n] {
            state.apply(e);
        }
        state
    }
}

/// What a change notification says: this shop's standing may have moved.
pub type ShopChanged = String;

#[derive(Debug)]
pub struct Compliance {
    store: Arc<dyn EventStore>,
    path: CommandPath,
    clock: Arc<dyn Clock>,
    /// The shops whose state this replica holds, at most a configured
    /// number: idle ones go and come back from snapshot and tail.
    shops: StdMutex<Bounded<Mutex<ShopCache>>>,
    policies: RwLock<PolicyHistory>,
    policy_version: Mutex<i64>,
    changes: broadcast::Sender<ShopChanged>,
}

/// The answer to a command: the shop's state after it, the events it appended.
#[derive(Debug)]
pub struct Outcome {
    pub state: ShopState,
    pub events: Vec<Event>,
    pub at: Instant,
}

impl Compliance {
    /// Opens the service on `store`: loads policies and the scheduler's view
    /// of every shop from the read model (rebuilding it if it is missing).
    pub async fn open(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        cache_shops: usize,
    ) -> Result<Arc<Self>, AppError> {
        let app = Arc::new(Self {
            path: CommandPath::new(store.clone(), clock.clone()),
            store,
            clock,
            shops: StdMutex::new(Bounded::new(cache_shops, |_| true)),
            policies: RwLock::new(PolicyHistory::default()),
            policy_version: Mutex::new(0),
            changes: broadcast::channel(1024).0,
        });
        app.reload_policies().await?;
        Ok(app)
    }

    /// How many shops' states this replica holds now.
    pub fn cached_shops(&self) -> usize {
        self.shops.lock().expect("shops lock").len()
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Tells this replica's watchers of changes any replica committed: follows
    /// the log while anyone watches (reading the log costs the writers, so
    /// it rests while nobody listens). A shop's own writes here are heard
    /// twice (watchers re-read and send only what changed); a policy concerns
    /// every shop and is told as the empty shop.
    pub async fn run_change_follower(self: Arc<Self>) {
        let mut head = self.store.watch_head();
        loop {
            while self.changes.receiver_count() == 0 {
                tokio::time::sleep(sellerdesk_eventstore::POLL_INTERVAL).await;
            }
            let start = match self.store.head().await {
                Ok(head) => head,
                Err(e) => {
                    tracing::warn!(error = %e, "change follower cannot read the head; retrying");
                    tokio::time::sleep(sellerdesk_eventstore::RETRY_INTERVAL).await;
                    continue;
                }
            };
            // Whatever committed before `start` while nobody followed: every
            // watcher re-reads once.
            let _ = self.changes.send(String::new());
            let mut follower = Follower::after(
                self.store.clone(),
                "compliance-watchers",
                start,
                PROJECTION_BATCH,
            );
            while self.changes.receiver_count() > 0 {
                match follower
                    .catch_up(&mut |batch| self.tell_watchers(batch))
                    .await
                {
                    Ok(0) => {
                        let _ = tokio::time::timeout(
                            sellerdesk_eventstore::POLL_INTERVAL,
                            head.changed(),
                        )
                        .await;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "change follower failed; retrying");
                        tokio::time::sleep(sellerdesk_eventstore::RETRY_INTERVAL).await;
                    }
                }
            }
        }
    }

    async fn tell_watchers(
        &self,
        batch: Vec<RecordedEvent>,
    ) -> Result<(), std::convert::Infallible> {
        let mut told = HashSet::new();
        for e in &batch {
            let shop = match store::SHOP_STREAM.key_of(&e.stream_id) {
                Some(shop) => shop,
                None if e.stream_id == store::POLICY_STREAM => "",
                None => continue,
            };
            if told.insert(shop) {
                let _ = self.changes.send(shop.to_owned());
            }
        }
        Ok(())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ShopChanged> {
        self.changes.subscribe()
    }

    pub fn policies(&self) -> PolicyHistory {
        self.policies.read().expect("policy lock").clone()
    }

    async fn reload_policies(&self) -> Result<(), AppError> {
        let mut version = self.policy_version.lock().await;
        let mut published = Vec::new();
        for_each_event(&self.store, store::POLICY_STREAM, *version, |e| {
            published.push((e.stream_version, store::decode_policy_event(e)?));
            Ok(())
        })
        .await?;
        let mut policies = self.policies.write().expect("policy lock");
        for (v, p) in &published {
            policies.apply(p);
            *version = *v;
        }
        Ok(())
    }

    async fn cache(&self, shop: &str) -> Result<Arc<Mutex<ShopCache>>, AppError> {
        let cache = self
            .shops
            .lock()
            .expect("shops lock")
            .get_or_insert_with(shop, Default::default);
        {
            let mut guard = cache.lock().await;
            if guard.state.version == 0 && !guard.history_loaded {
                // Snapshot + tail: a large shop starts without replaying everything.
                if let Some(s) = self
                    .store
                    .load_snapshot(&format!("{}{shop}", store::SNAPSHOT_PREFIX))
                    .await?
                {
                    if let Ok(snap) = serde_json::from_str::<StoredSnapshot>(&s.body) {
                        guard.state = snap.state;
                        guard.last_at = snap.last_at;
                    }
                }
                self.catch_up(shop, &mut guard).await?;
            }
        }
        Ok(cache)
    }

    /// Folds whatever the log has beyond the cached state (other replicas' appends).
    async fn catch_up(&self, shop: &str, cache: &mut ShopCache) -> Result<(), AppError> {
        self.path.catch_up(&store::shop_stream(shop), cache).await?;
        // An empty stream is a complete history too.
        if cache.state.version == 0 {
            cache.history_loaded = true;
        }
        Ok(())
    }

    /// Loads every event of the shop into the cache so any past instant can be answered.
    async fn ensure_history(&self, shop: &str, cache: &mut ShopCache) -> Result<(), AppError> {
        if cache.history_loaded {
            return Ok(());
        }
        let mut fresh = ShopCache::default();
        self.catch_up(shop, &mut fresh).await?;
        *cache = fresh;
        Ok(())
    }

    /// Runs a command for a shop on the one command path, with the cached
    /// strategy: decide on the cached state, append after its version, and
    /// on a conflict (another replica) catch up and decide again.
    pub async fn execute(
        &self,
        shop: &str,
        metadata: Metadata,
        command: impl Fn(Instant) -> Command,
    ) -> Result<Outcome, AppError> {
        let cache = self.cache(shop).await?;
        let mut guard = cache.lock().await;
        let stream = store::shop_stream(shop);
        let target = Target {
            stream: &stream,
            shop,
            schema_version: crate::domain::events::SCHEMA_VERSION,
            fold: true,
        };
        let (events, at) = self
            .path
            .execute_cached(
                target,
                &mut *guard,
                &metadata,
                // Never before the last event: the stream's instants only move forward.
                |c, now| c.last_at.map_or(now, |l| l.max(now)),
                |c, at| {
                    decide(&command(at), &c.state, &self.policies())
                        .map_err(sellerdesk_core::Refusal::from)
                },
            )
            .await?;
        if !events.is_empty() {
            // Persistent read models, the schedule among them, are the
            // projector's job ([`Self::project_pending`]).
            let _ = self.changes.send(shop.to_owned());
        }
        Ok(Outcome {
            state: guard.state.clone(),
            events,
            at,
        })
    }

    /// Brings the persistent read models (the schedule, snapshots) up to
    /// the log's head: follows the log from its checkpoint, so nothing is
    /// missed across restarts, and writes each batch's documents together.
    /// Returns the number of events projected.
    pub async fn project_pending(&self) -> Result<usize, AppError> {
        let mut follower = self.projector();
        follower
            .catch_up(&mut |batch| self.project(batch))
            .await
            .map_err(|e| match e {
                FollowError::Store(e) => e.into(),
                FollowError::Handler(e) => e,
            })
    }

    fn projector(&self) -> Follower {
        Follower::checkpointed(self.store.clone(), READ_MODEL_CHECKPOINT, PROJECTION_BATCH)
    }

    /// Writes the documents of the shops one batch of the log touched.
    async fn project(&self, batch: Vec<RecordedEvent>) -> Result<(), AppError> {
        let Some(last) = batch.last().map(|e| e.global_position) else {
            return Ok(());
        };
        // Shop -> (its highest version in the batch, whether a snapshot boundary was crossed).
        let mut touched: HashMap<String, (i64, bool)> = HashMap::new();
        for e in &batch {
            if let Some(shop) = store::SHOP_STREAM.key_of(&e.stream_id) {
                let entry = touched.entry(shop.to_owned()).or_default();
                entry.0 = entry.0.max(e.stream_version);
                entry.1 |= e.stream_version % SNAPSHOT_EVERY == 0;
            }
        }
        let policies = self.policies();
        let mut due = Vec::with_capacity(touched.len());
        let mut docs = Vec::new();
        for (shop, (version, snapshot)) in touched {
            let cache = self.cache(&shop).await?;
            let mut guard = cache.lock().await;
            if guard.state.version < version {
                // Appended by another replica: the cache must cover this batch.
                self.catch_up(&shop, &mut guard).await?;
            }
            let at = guard.last_at.unwrap_or_else(|| self.clock.now());
            due.push(due_document(&shop, &guard.state, at, &policies));
            if snapshot {
                docs.push(snapshot_doc(&shop, &guard.state, guard.last_at, last));
            }
        }
        self.store.save_documents(&due).await?;
        if !docs.is_empty() {
            self.store.save_snapshots(&docs).await?;
        }
        Ok(())
    }

    /// The standing now, or at `as_of` (R-CMP-10): the same fold either way.
    pub async fn standing(&self, shop: &str, as_of: Option<Instant>) -> Result<Standing, AppError> {
        let (state, at) = self.state_at(shop, as_of).await?;
        Ok(state.standing(at, &self.policies()))
    }

    /// The state that answers questions about `as_of` (default now), and that instant.
    pub async fn state_at(
        &self,
        shop: &str,
        as_of: Option<Instant>,
    ) -> Result<(ShopState, Instant), AppError> {
        // Read your writes on any replica (R-X-4): another replica may have
        // appended to this shop or published a policy since this one last
        // looked. One indexed probe each, usually answering "nothing new".
        self.reload_policies().await?;
        let cache = self.cache(shop).await?;
        let mut guard = cache.lock().await;
        self.catch_up(shop, &mut guard).await?;
        let now = self.clock.now();
        let at = as_of.unwrap_or(now);
        if guard.last_at.is_none_or(|last| at >= last) {
            // Expiry after the last event is derived from `at` in standing().
            return Ok((guard.state.clone(), at));
        }
        self.ensure_history(shop, &mut guard).await?;
        Ok((guard.state_as_of(at), at))
    }

    pub async fn publish_policy(
        &self,
        policy: Policy,
        metadata: Metadata,
    ) -> Result<Policy, AppError> {
        loop {
            self.reload_policies().await?;
            let mut version = self.policy_version.lock().await;
            let at = self.clock.now();
            let history = self.policies();
            let published = decide_policy(
                &PublishPolicy {
                    policy: policy.clone(),
                    at,
                },
                &history,
            )
            .map_err(refused)?;
            let append = Append::new(
                store::POLICY_STREAM,
                ExpectedVersion::Exact(*version),
                vec![store::encode_policy_event(&published, at, &metadata)],
            );
            match self.store.append(append).await {
                Ok(a) => {
                    self.policies
                        .write()
                        .expect("policy lock")
                        .apply(&published);
                    *version = a.stream_version;
                    return Ok(published.policy);
                }
                Err(AppendError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Brings the schedule up to the log ([`Self::project_pending`]) and
    /// looks at what is due ([`Self::look`]): what the timekeeper does, in
    /// one call.
    pub async fn tick(&self) -> Result<usize, AppError> {
        self.project_pending().await?;
        self.look().await
    }

    /// What the timekeeper does every second once the schedule is up to the
    /// log: learns the policies another replica published, makes the shops
    /// a policy now in force may move due ([`Self::sweep_for_policy`]), and
    /// announces what is due ([`Self::announce_due`]).
    pub async fn look(&self) -> Result<usize, AppError> {
        self.reload_policies().await?;
        self.sweep_for_policy().await?;
        self.announce_due().await
    }

    /// R-CMP-5: a policy taking effect with other thresholds moves the tier
    /// of shops that nobody writes to, whose entries were written before it
    /// was published. Once per policy, when it takes effect, every entry of
    /// a shop with points is made due then; [`Self::announce_due`] then
    /// announces the shops whose tier moved and moves the others on.
    /// Returns how many entries it moved.
    pub async fn sweep_for_policy(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let policies = self.policies();
        let in_force = policies.in_force(now);
        // Before any sweep existed, version 1 (the default) was in force.
        let swept = self
            .store
            .load_snapshot(POLICY_SWEPT)
            .await?
            .map_or(1, |s| s.version);
        if i64::from(in_force.version) <= swept {
            return Ok(0);
        }
        let due_at = in_force.effective_at;
        let due_millis = schedule_entry("", Some(due_at), 0, String::new()).starts_at;
        let mut query = DocumentQuery {
            index: store::DUE_INDEX.to_owned(),
            shop_id: store::DUE_OWNER.to_owned(),
            starts_from: Some(due_millis.saturating_add(1)),
            oldest_first: true,
            limit: DUE_PAGE,
            ..DocumentQuery::default()
        };
        let mut moved = 0;
        loop {
            let page = self.store.search_documents(&query).await?;
            let with_points: Vec<Document> = page
                .iter()
                .filter(|d| {
                    serde_json::from_str::<ShopSummary>(&d.body).map_or(true, |s| s.points > 0)
                })
                .map(|d| schedule_entry(&d.doc_id, Some(due_at), d.version, d.body.clone()))
                .collect();
            self.store.save_documents(&with_points).await?;
            moved += with_points.len();
            match page.last() {
                // Moved entries are now before the cursor: never read twice.
                Some(last) if page.len() as i64 == DUE_PAGE => {
                    query.after = Some((last.starts_at, last.doc_id.clone()));
                }
                _ => break,
            }
        }
        self.store
            .save_snapshots(&[Snapshot {
                key: POLICY_SWEPT.to_owned(),
                version: i64::from(in_force.version),
                position: 0,
                body: due_at.to_rfc3339(),
            }])
            .await?;
        if moved > 0 {
            tracing::info!(
                policy = in_force.version,
                shops = moved,
                "a policy took effect: shops with points are due"
            );
        }
        Ok(moved)
    }

    /// Announces the tier changes that time caused, for every shop whose
    /// document in the schedule is due, a page at a time in due order. Safe
    /// to run any time: a shop with nothing to announce has its document
    /// moved to its next change. A shop that fails stays due and is tried
    /// again next time (the error is returned after every due shop was tried).
    pub async fn announce_due(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let policies = self.policies();
        let mut query = DocumentQuery::due(store::DUE_INDEX, now, DUE_PAGE);
        let mut announced = 0;
        let mut failed = None;
        loop {
            let page = self.store.search_documents(&query).await?;
            for doc in &page {
                let shop = &doc.doc_id;
                let observed = match self
                    .execute(shop, system_metadata(), |at| Command::ObserveTime { at })
                    .await
                {
                    Ok(outcome) if outcome.events.is_empty() => {
                        // Points expired without a tier change: the schedule
                        // moves on to the next change, and watchers hear of it.
                        let moved = due_document(shop, &outcome.state, outcome.at, &policies);
                        let saved = self.store.save_documents(&[moved]).await;
                        let _ = self.changes.send(shop.clone());
                        saved.map_err(AppError::from)
                    }
                    // The projector writes the schedule from the announcement.
                    Ok(outcome) => {
                        announced += outcome.events.len();
                        Ok(())
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = observed {
                    tracing::warn!(error = %e, shop, "announcing a time-driven change failed");
                    failed = Some(e);
                }
            }
            match page.last() {
                Some(last) if page.len() as i64 == DUE_PAGE => {
                    query.after = Some((last.starts_at, last.doc_id.clone()));
                }
                _ => break,
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(announced)
    }

    /// Drops every compliance read model and rebuilds it from the whole log.
    pub async fn rebuild(store: &Arc<dyn EventStore>) -> Result<RebuildReport, AppError> {
        let started = std::time::Instant::now();
        store.delete_snapshots(store::READ_MODEL_PREFIX).await?;
        store.delete_documents(store::DUE_INDEX).await?;
        let dropped = started.elapsed();
        let mut policies = PolicyHistory::default();
        // Each shop's state, last instant and position; found through `index`,
        // or for a run of one stream's events through `current`.
        let mut shops: Vec<(String, ShopState, Option<Instant>, i64)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut current: Option<(Arc<str>, usize)> = None;
        let mut replayed = 0u64;
        let mut last_position = 0;
        // The next page is read while this one is folded. Nothing overlaps
        // the first read, so it is a short one.
        let mut asked = READ_BATCH / 5;
        let mut next = Some(tokio::spawn({
            let store = store.clone();
            async move { store.replay_all(0, asked).await }
        }));
        while let Some(reading) = next.take() {
            let batch = reading
                .await
                .map_err(|e| StoreError::Config(format!("rebuild reader failed: {e}")))??;
            let done = (batch.len() as i64) < asked;
            let position = batch.last().map_or(last_position, |e| e.global_position);
            last_position = position;
            if !done {
                let store = store.clone();
                asked = READ_BATCH;
                next = Some(tokio::spawn(async move {
                    store.replay_all(position, READ_BATCH).await
                }));
            }
            for e in &batch {
                replayed += 1;
                if &*e.stream_id == store::POLICY_STREAM {
                    policies.apply(&store::decode_policy_event(e)?);
                } else if let Some(shop) = e.stream_id.strip_prefix("compliance-shop-") {
                    let event = store::decode_shop_event(e)?;
                    let at = match &current {
                        Some((stream, at)) if Arc::ptr_eq(stream, &e.stream_id) => *at,
                        _ => {
                            let at = *index.entry(shop.to_owned()).or_insert_with(|| {
                                shops.push((shop.to_owned(), ShopState::default(), None, 0));
                                shops.len() - 1
                            });
                            current = Some((e.stream_id.clone(), at));
                            at
                        }
                    };
                    let entry = &mut shops[at];
                    entry.1.apply(&event);
                    entry.2 = Some(e.occurred_at);
                    entry.3 = e.global_position;
                }
            }
        }
        let replayed_in = started.elapsed() - dropped;
        let mut due = Vec::with_capacity(shops.len());
        let mut docs = Vec::new();
        for (shop, state, last_at, position) in &shops {
            due.push(due_document(
                shop,
                state,
                last_at.unwrap_or_default(),
                &policies,
            ));
            if state.version >= SNAPSHOT_EVERY {
                docs.push(snapshot_doc(shop, state, *last_at, *position));
            }
        }
        // Freeing a large history's records costs as much as a tenth of its
        // replay; it overlaps the write instead of following it.
        let shop_count = shops.len();
        tokio::task::spawn_blocking(move || drop((shops, index, current)));
        store.save_documents(&due).await?;
        store.save_snapshots(&docs).await?;
        store
            .save_checkpoint(READ_MODEL_CHECKPOINT, last_position)
            .await?;
        let report = RebuildReport {
            events: replayed,
            shops: shop_count,
            dropping: dropped,
            replaying: replayed_in,
            writing: started.elapsed() - dropped - replayed_in,
        };
        tracing::info!(
            events = report.events,
            shops = report.shops,
            drop_ms = report.dropping.as_millis() as u64,
            replay_ms = report.replaying.as_millis() as u64,
            write_ms = report.writing.as_millis() as u64,
            "compliance read models rebuilt"
        );
        Ok(report)
    }

    /// Once, in a database written before decision 0020: each shop's
    /// summary snapshot becomes its entry in the schedule, due as the
    /// summary said, and the summaries are deleted. A shop the projector has
    /// written since keeps its newer entry (the store's version guard), and
    /// a crash before the delete only repeats this. The one time a
    /// timekeeper reads a document per shop; afterwards there is nothing to
    /// read and it costs one probe.
    pub async fn adopt_old_summaries(&self) -> Result<usize, AppError> {
        let old = self.store.load_snapshots(store::OLD_SUMMARY_PREFIX).await?;
        if old.is_empty() {
            return Ok(0);
        }
        let now = self.clock.now();
        let entries: Vec<Document> = old
            .into_iter()
            .filter_map(|s| {
                let summary: ShopSummary = serde_json::from_str(&s.body).ok()?;
                // Time may have moved the tier while nobody kept it.
                let due = if summary.tier != summary.announced_tier {
                    Some(now)
                } else {
                    summary.next_change_at
                };
                Some(schedule_entry(&summary.shop, due, s.version, s.body))
            })
            .collect();
        for chunk in entries.chunks(1000) {
            self.store.save_documents(chunk).await?;
        }
        self.store
            .delete_snapshots(store::OLD_SUMMARY_PREFIX)
            .await?;
        tracing::info!(
            shops = entries.len(),
            "compliance summaries adopted into the schedule"
        );
        Ok(entries.len())
    }

    /// Keeps time until aborted: projects the log into the read models
    /// (the schedule among them) whenever something is committed, and
    /// looks at what is due ([`Self::look`]) every second, or at once when
    /// a manual clock jumps. One loop, so a shop's document is written before it is looked
    /// for, and the projector and the announcements never race each other.
    pub async fn run_timekeeper(
        self: Arc<Self>,
        mut clock_changes: Option<tokio::sync::watch::Receiver<Instant>>,
    ) {
        while let Err(e) = self.adopt_old_summaries().await {
            tracing::warn!(error = %e, "cannot adopt the old summaries; retrying");
            tokio::time::sleep(sellerdesk_eventstore::RETRY_INTERVAL).await;
        }
        let mut head = self.store.watch_head();
        let mut next_look = tokio::time::Instant::now();
        loop {
            // Marked seen before reading: a commit during the pass wakes the
            // wait below at once.
            head.borrow_and_update();
            let wait = match self.project_pending().await {
                Ok(_) => {
                    if tokio::time::Instant::now() >= next_look {
                        if let Err(e) = self.look().await {
                            tracing::warn!(error = %e, "announcing what is due failed");
                        }
                        next_look = tokio::time::Instant::now() + LOOK_EVERY;
                    }
                    sellerdesk_eventstore::POLL_INTERVAL
                        .min(next_look.saturating_duration_since(tokio::time::Instant::now()))
                }
                // Not shortened by an overdue look: a look waits for the
                // projector, so while the store fails the loop must back off
                // rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "projecting the read models failed; retrying");
                    sellerdesk_eventstore::RETRY_INTERVAL
                }
            };
            let clock_jumped = async {
                match clock_changes.as_mut() {
                    Some(c) => c.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = head.changed() => {}
                jumped = clock_jumped => {
                    if jumped {
                        next_look = tokio::time::Instant::now();
                    } else {
                        // The clock's sender is gone: time is only polled now.
                        clock_changes = None;
                    }
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// What [`Compliance::rebuild`] did and where its time went.
#[derive(Debug, Clone, Copy)]
pub struct RebuildReport {
    /// Events replayed (the whole log).
    pub events: u64,
    pub shops: usize,
    pub dropping: Duration,
    /// Reading, decoding and folding the log.
    pub replaying: Duration,
    /// Saving summaries and snapshots.
    pub writing: Duration,
}

/// A shop's entry in the schedule, as its state stands at `at` (its last
/// event, or the moment an announcement found nothing to say): due when
/// [`ShopState::announcement_due`] says, never without that. Its version is
/// the state's, so a timekeeper that lost its lease cannot move it back.
fn due_document(shop: &str, state: &ShopState, at: Instant, policies: &PolicyHistory) -> Document {
    let standing = state.standing(at, policies);
    let due = state.announcement_due(&standing);
    let summary = ShopSummary {
        shop: shop.to_owned(),
        points: standing.points,
        tier: standing.tier,
        revoked: standing.revoked,
        announced_tier: state.announced_tier,
        next_change_at: standing.next_change_at,
        violations: state.violation_count(),
    };
    schedule_entry(
        shop,
        due,
        state.version,
        serde_json::to_string(&summary).expect("summary serialises"),
    )
}

fn schedule_entry(shop: &str, due: Option<Instant>, version: i64, body: String) -> Document {
    Document::schedule_entry(store::DUE_INDEX, shop, due, version, body)
}

fn snapshot_doc(
    shop: &str,
    state: &ShopState,
    last_at: Option<Instant>,
    position: i64,
) -> Snapshot {
    Snapshot {
        key: format!("{}{shop}", store::SNAPSHOT_PREFIX),
        version: state.version,
        position,
        body: serde_json::to_string(&StoredSnapshot {
            state: state.clone(),
            last_at,
        })
        .expect("state serialises"),
    }
}

pub fn system_metadata() -> Metadata {
    Metadata {
        correlation_id: Some(sellerdesk_eventstore::new_event_id()),
        causation_id: None,
        actor: Some("system:scheduler".into()),
        traceparent: sellerdesk_runtime::telemetry::current_traceparent(),
    }
}
