//! The application: load -> decide -> append (retrying on a version conflict),
//! each knowledge base's state and match index in memory, the robot's
//! interaction record, and the help centre (R-FAQ-9).

use crate::{
    day_book,
    domain::{
        analytics::{Interaction, Summary, Window},
        decide, Command, DomainError, Entry, Event, Instant, KnowledgeBase, Limits, PresetSet,
    },
    entry_vectors, help_centre,
    matcher::{
        second_stage::{HELP_CENTRE_STAGE, RERANKED, SHOP_STAGE},
        Analyzer, Calibration, Index, Scored, StageCalibration,
    },
    sentence::{ModelSource, OwnVectors, SentenceModel, SentenceStage},
    store,
};
use sellerdesk_eventstore::{
    Append, AppendError, EventStore, ExpectedVersion, Metadata, RecordedEvent, StoreError,
};
use sellerdesk_runtime::{
    bounded::Bounded,
    command::{CommandPath, Target as StreamTarget},
    Clock,
};
use std::sync::{Arc, Mutex as StdMutex, OnceLock, RwLock};
use tokio::sync::Mutex;

/// The robot's answer rate (R-FAQ-7): auto_answered / all, per replica.
static ROBOT_ANSWERS: std::sync::LazyLock<sellerdesk_runtime::metrics::Counter> =
    std::sync::LazyLock::new(|| {
        sellerdesk_runtime::metrics::Counter::new(
            "sellerdesk_faq_robot_answers_total",
            "Buyer questions the robot matched, by outcome: auto_answered (confident enough to send), below_threshold, no_match.",
            &["outcome"],
        )
    });

/// Questions the lexical matcher was unsure of, re-ranked by the sentence
/// model or left lexical because it failed, was busy or lacked a
/// candidate's vectors (decisions 0023, 0024, 0025), by the stage.
static SENTENCE_STAGE: std::sync::LazyLock<sellerdesk_runtime::metrics::Counter> =
    std::sync::LazyLock::new(|| {
        sellerdesk_runtime::metrics::Counter::new(
            "sellerdesk_faq_sentence_stage_total",
            "Questions that went to the sentence model (every question whose candidates a stage knows, decision 0026), by stage (help_centre; presets: every candidate a preset as shipped; shop: some with the shop's stored vectors) and outcome: reranked, reranked_kept_vector (the same text was embedded lately: no call to the model), failed, busy (answered lexically: too many waited for the model), over_share (answered lexically: the model had its share of a core), not_embedded (answered lexically: a candidate's stored vectors are missing or stale).",
            &["stage", "outcome"],
        )
    });

/// Which second stages are attached (decision 0024): 1 once the base is
/// embedded, seconds after start.
static STAGES_ATTACHED: std::sync::LazyLock<sellerdesk_runtime::metrics::Gauge> =
    std::sync::LazyLock::new(|| {
        sellerdesk_runtime::metrics::Gauge::new(
            "sellerdesk_faq_sentence_stages_attached",
            "Second stages attached to the sentence model, by stage (help_centre, presets): 1 once the base is embedded.",
            &["stage"],
        )
    });

/// A second stage for a model source and a base the build ships (the help
/// centre, the presets): embedded once per process, since it is the same
/// for every replica and every service instance the process hosts.
fn shipped_stage(
    source: &ModelSource,
    entries: &[Entry],
    calibration: StageCalibration,
) -> Result<Option<Arc<SentenceStage>>, String> {
    type Stages = Vec<(ModelSource, Vec<Entry>, Arc<SentenceStage>)>;
    static STAGES: OnceLock<StdMutex<Stages>> = OnceLock::new();
    let Some(model) = source.open()? else {
        return Ok(None);
    };
    let mut stages = STAGES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some((_, _, s)) = stages.iter().find(|(s, e, _)| s == source && e == entries) {
        return Ok(Some(s.clone()));
    }
    let stage = Arc::new(SentenceStage::new(model, entries, calibration)?);
    stages.push((source.clone(), entries.to_vec(), stage.clone()));
    Ok(Some(stage))
}

/// Embeds the help centre, then the presets, and attaches each stage as it
/// is ready (a few seconds of one core). A failure leaves that base lexical
/// and says so. It runs on a thread of its own, not the runtime's blocking
/// pool: a service told to stop exits at once, without waiting for it.
fn attach_stages(
    source: ModelSource,
    dir: std::path::PathBuf,
    (help_centre, presets): (Vec<Entry>, Vec<Entry>),
    stages: Arc<Stages>,
) {
    let embed = move || {
        let started = std::time::Instant::now();
        let attached = [
            (
                "help_centre",
                help_centre,
                HELP_CENTRE_STAGE,
                &stages.help_centre,
            ),
            ("presets", presets, SHOP_STAGE, &stages.presets),
        ]
        .into_iter()
        .try_for_each(|(name, entries, calibration, slot)| {
            if let Some(stage) = shipped_stage(&source, &entries, calibration)? {
                let _ = slot.set(stage);
                STAGES_ATTACHED.set(&[name], 1.0);
            }
            Ok::<_, String>(())
        });
        match attached {
            Ok(()) => tracing::info!(
                model = %dir.display(),
                seconds = started.elapsed().as_secs_f64(),
                "the second stage is on for the help centre and the presets (decisions 0023, 0024)"
            ),
            Err(e) => tracing::error!(
                error = %e,
                "the sentence model could not embed the shipped bases: they are matched lexically"
            ),
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("faq-stages".into())
        .spawn(embed)
    {
        tracing::error!(error = %e, "no thread to embed the shipped bases: they are matched lexically");
    }
}

pub use sellerdesk_runtime::errors::AppError;

/// How a domain refusal joins the shared error (the mapping to gRPC is the runtime's).
fn refused(d: DomainError) -> AppError {
    AppError::Domain(d.into())
}

/// Which knowledge base a call is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Shop(String),
    /// The platform's help centre for merchants (R-FAQ-9), asked by `asker`.
    /// Its questions are one stream for the platform's aggregate; each is
    /// recorded under the shop that asked, and a shop reads only its own
    /// (R-X-1). `None`: the platform reading the aggregate.
    HelpCentre {
        asker: Option<String>,
    },
}

impl Target {
    /// The key its interactions are recorded under.
    fn key(&self) -> &str {
        match self {
            Target::Shop(s) => s,
            Target::HelpCentre { .. } => store::HELP_CENTRE_KEY,
        }
    }

    /// The shop an interaction is recorded under.
    fn recorded_shop(&self) -> &str {
        match self {
            Target::Shop(s) | Target::HelpCentre { asker: Some(s) } => s,
            Target::HelpCentre { asker: None } => store::HELP_CENTRE_KEY,
        }
    }
}

/// A knowledge base and its index, kept in step.
#[derive(Debug, Default)]
pub struct Loaded {
    pub kb: KnowledgeBase,
    pub index: Index,
}

impl Loaded {
    fn apply(&mut self, analyzer: &Analyzer, event: &Event) {
        self.kb.apply(event);
        for id in event.touched_entries() {
            match self.kb.entries.get(id) {
                Some(e) => self.index.upsert_content(analyzer, id, &e.content),
                None => self.index.remove(id),
            }
        }
    }
}

/// A shop's knowledge base as the command path's cached state. Readers
/// share it behind the lock; the follower of other replicas' writes folds
/// into it too, so a fold skips what is already there.
struct KbWriter<'a> {
    kb: &'a ShopKb,
    analyzer: &'a Analyzer,
}

impl sellerdesk_runtime::command::CachedState for KbWriter<'_> {
    type Event = Event;

    fn version(&self) -> i64 {
        self.kb.loaded.read().expect("kb lock").kb.version
    }

    fn fold(&mut self, version: i64, _at: Instant, event: Event) {
        let mut loaded = self.kb.loaded.write().expect("kb lock");
        if version == loaded.kb.version + 1 {
            loaded.apply(self.analyzer, &event);
        }
    }

    fn decode(stored: &RecordedEvent) -> Result<Event, StoreError> {
        store::decode_kb_event(stored)
    }
}

#[derive(Debug, Default)]
struct ShopKb {
    /// Serialises this process's commands on the shop (decide needs the latest state).
    writer: Mutex<()>,
    loaded: RwLock<Loaded>,
}

/// Marks of unwritten shops kept per written knowledge base held: a mark is
/// a shop id, a knowledge base with its index is thousands of times more.
const UNWRITTEN_PER_CACHED_SHOP: usize = 10;

/// Shops known to have written nothing, and how many knowledge-base writes
/// this replica has seen: a probe that saw the count move while it read does
/// not mark its shop, since the write it raced may be that shop's first. A
/// write by this replica or, through the follower, by another one takes the
/// shop out, so a mark is as fresh as a written shop's memory is.
#[derive(Debug)]
struct Unwritten {
    shops: Bounded<()>,
    writes_seen: u64,
}

impl Unwritten {
    fn written(&mut self, shop: &str) {
        self.shops.remove(shop);
        self.writes_seen += 1;
    }
}

/// What the robot did with one question.
#[derive(Debug, Clone)]
pub struct MatchOutcome {
    pub best: Option<(Scored, Entry)>,
    pub auto_answer: bool,
    pub threshold: f64,
}

/// The second stages of the bases the build ships, attached once their
/// entries are embedded (seconds after start, in the background, so a
/// restarted replica serves at once); until then those questions are
/// answered lexically.
#[derive(Debug, Default)]
struct Stages {
    /// The help centre's (decision 0023).
    help_centre: OnceLock<Arc<SentenceStage>>,
    /// The presets', for a shop's questions whose candidates are all
    /// presets as shipped (decision 0024).
    presets: OnceLock<Arc<SentenceStage>>,
}

#[derive(Debug)]
pub struct Faq {
    store: Arc<dyn EventStore>,
    path: CommandPath,
    clock: Arc<dyn Clock>,
    analyzer: Arc<Analyzer>,
    presets: PresetSet,
    limits: Limits,
    /// Knowledge bases of shops that wrote, at most a configured number
    /// (R-X-4): an idle one goes and comes back from its stream.
    shops: StdMutex<Bounded<ShopKb>>,
    /// Shops found with no knowledge-base stream, so a Match of a shop on
    /// the presets is not one read of the log each (R-FAQ-3).
    unwritten: StdMutex<Unwritten>,
    help_centre: Loaded,
    /// The sentence model's second stages, once embedded.
    stages: Arc<Stages>,
    /// The share of a core the model may use (decision 0024).
    model_budget: crate::sentence::ModelBudget,
    /// The sentence model, if one loaded.
    model: Option<Arc<SentenceModel>>,
    /// What a shop that never wrote reads (the presets, not persisted): a
    /// read never writes (R-X-4).
    fresh_shop: Loaded,
    recorder: tokio::sync::mpsc::Sender<PendingRecord>,
}

/// An interaction waiting for the recorder, and who to tell when it is committed.
type PendingRecord = (
    String,
    sellerdesk_eventstore::NewEvent,
    tokio::sync::oneshot::Sender<Result<(), StoreError>>,
);
/// Interactions committed together at most.
const RECORD_GROUP: usize = 1_000;

/// Groups whose appends may be on their way to the store at once.
const GROUPS_IN_FLIGHT: usize = 4;

/// Group commit for the robot's record (R-FAQ-8): every interaction waiting
/// goes into one append per knowledge base, so a busy shop costs one
/// transaction per group instead of one per buyer question, and every caller
/// still gets its answer only after its record is committed. A few groups
/// are in flight at once, so the next group gathers while the previous one
/// commits (the store's writer may join them in one transaction); records of
/// groups in flight together may land in either order, which the analytics,
/// counted by instant, do not mind.
async fn record_in_groups(
    store: Arc<dyn EventStore>,
    mut queue: tokio::sync::mpsc::Receiver<PendingRecord>,
) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(GROUPS_IN_FLIGHT));
    while let Some(first) = queue.recv().await {
        let permit = in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let mut group = vec![first];
        while group.len() < RECORD_GROUP {
            match queue.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        let mut by_stream: Vec<(String, Vec<PendingRecord>)> = Vec::new();
        for p in group {
            match by_stream.iter_mut().find(|(k, _)| *k == p.0) {
                Some((_, v)) => v.push(p),
                None => by_stream.push((p.0.clone(), vec![p])),
            }
        }
        let appends: Vec<_> = by_stream
            .into_iter()
            .map(|(key, pending)| {
                let store = store.clone();
                async move {
                    let (events, replies): (Vec<_>, Vec<_>) =
                        pending.into_iter().map(|(_, e, r)| (e, r)).unzip();
                    let result = store
                        .append(Append::new(
                            store::interactions_stream(&key),
                            ExpectedVersion::Any,
                            events,
                        ))
                        .await;
                    for reply in replies {
                        let r = match &result {
                            Ok(_) => Ok(()),
                            Err(AppendError::Store(e)) => Err(e.shared()),
                            Err(e) => Err(StoreError::WriteFailed(e.to_string())),
                        };
                        let _ = reply.send(r);
                    }
                }
            })
            .collect();
        tokio::spawn(async move {
            futures::future::join_all(appends).await;
            drop(permit);
        });
    }
}

/// The stage a question goes to, as `sellerdesk_faq_sentence_stage_total`
/// labels it: the help centre's, the presets' as shipped, or a shop's with
/// candidates of its own (`missing` is what the stage did not embed).
fn stage_label(target: &Target, missing: &[String]) -> &'static str {
    match target {
        Target::HelpCentre { .. } => "help_centre",
        Target::Shop(_) if missing.is_empty() => "presets",
        Target::Shop(_) => "shop",
    }
}

/// The lexical answer: the best `k` candidates as the index ranked them.
fn lexical_top(
    mut ranked: Vec<(Scored, Entry)>,
    k: usize,
    threshold: f64,
) -> (Vec<(Scored, Entry)>, f64) {
    ranked.truncate(k);
    (ranked, threshold)
}

/// How fresh a read of a shop's knowledge base is (R-X-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// As of the shop's stream head: every change any replica acknowledged.
    /// Costs one indexed probe of the stream (empty when nothing is new).
    Head,
    /// As this replica's follower last left it, at most one poll (200 ms)
    /// behind a change made through another replica. The robot's path
    /// (Match, AssistReply), which answers thousands of questions a second
    /// and whose answer to a question asked while an entry changes may be
    /// either version; decision 0012.
    Followed,
}

/// jieba's dictionary takes a while to load: once per process.
pub fn shared_analyzer() -> Arc<Analyzer> {
    static ANALYZER: OnceLock<Arc<Analyzer>> = OnceLock::new();
    ANALYZER.get_or_init(|| Arc::new(Analyzer::new())).clone()
}

impl Faq {
    pub async fn open(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        presets: PresetSet,
        limits: Limits,
        cache_shops: usize,
        sentence: &crate::sentence::SentenceSettings,
        tasks: &sellerdesk_runtime::host::Tasks,
    ) -> Result<Arc<Self>, AppError> {
        let installed = presets.clone();
        let limits_now = limits;
        let source = sentence.model.clone();
        let (analyzer, help_centre, fresh_shop, shipped, model) =
            tokio::task::spawn_blocking(move || {
                let analyzer = shared_analyzer();
                // What a shop that never wrote reads: the presets, installed in
                // memory only (R-FAQ-3); its first change installs them for real.
                let mut fresh = Loaded::default();
                let empty = KnowledgeBase::default();
                if let Ok(events) = decide(
                    &empty,
                    &Command::InstallPresets { presets: installed },
                    &limits_now,
                ) {
                    for e in &events {
                        fresh.apply(&analyzer, e);
                    }
                }
                let mut presets: Vec<Entry> = fresh.kb.entries.values().cloned().collect();
                presets.sort_by(|a, b| a.id.cmp(&b.id));
                let mut help = Loaded::default();
                let entries = help_centre::entries(&help_centre::parse(help_centre::SEED_001));
                // A directory that was named must load now: the service does
                // not start with a worse matcher than it was told to have.
                let model = source.open();
                let shipped = (entries.clone(), presets);
                help.apply(
                    &analyzer,
                    &Event::PresetsInstalled {
                        version: "help-centre-001".into(),
                        greeting: String::new(),
                        entries,
                        cards: Vec::new(),
                    },
                );
                (analyzer, help, fresh, shipped, model)
            })
            .await
            .map_err(|e| StoreError::Corrupt(format!("building the analyzer: {e}")))?;
        let model = model.map_err(StoreError::Corrupt)?;
        let stages = Arc::new(Stages::default());
        match model.clone() {
            Some(model) => attach_stages(
                sentence.model.clone(),
                model.source.clone(),
                shipped,
                stages.clone(),
            ),
            None => tracing::info!("no sentence model: questions are matched lexically alone"),
        }
        let (recorder, queue) = tokio::sync::mpsc::channel(4 * RECORD_GROUP);
        // Owned by the host: stopping the service stops the recorder.
        tasks.spawn(record_in_groups(store.clone(), queue));
        Ok(Arc::new(Self {
            path: CommandPath::new(store.clone(), clock.clone()),
            store,
            clock,
            analyzer,
            presets,
            limits,
            shops: StdMutex::new(Bounded::new(cache_shops, |_| true)),
            unwritten: StdMutex::new(Unwritten {
                shops: Bounded::new(UNWRITTEN_PER_CACHED_SHOP * cache_shops, |_| true),
                writes_seen: 0,
            }),
            help_centre,
            stages,
            model_budget: crate::sentence::ModelBudget::new(
                sentence.share,
                std::time::Instant::now(),
            ),
            model,
            fresh_shop,
            recorder,
        }))
    }

    /// The platform presets this build ships (R-FAQ-3).
    pub fn presets(&self) -> &PresetSet {
        &self.presets
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn analyzer(&self) -> &Arc<Analyzer> {
        &self.analyzer
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The shop's knowledge base, loaded from its stream on first use; a shop
    /// with no stream yet starts from the presets (R-FAQ-3).
    async fn shop(&self, shop: &str) -> Result<Arc<ShopKb>, AppError> {
        let kb = {
            let mut shops = self.shops.lock().expect("shops lock");
            shops.get_or_insert_with(shop, ShopKb::default)
        };
        if kb.loaded.read().expect("kb lock").kb.version > 0 {
            return Ok(kb);
        }
        let writer = kb.writer.lock().await;
        self.catch_up(shop, &kb).await?;
        drop(writer);
        Ok(kb)
    }

    /// The knowledge base of a shop that has written to it, or `None` for a
    /// shop that never did (its reads are the presets'); nothing is written
    /// and nothing is kept for a shop that only reads.
    async fn written_shop(
        &self,
        shop: &str,
        freshness: Freshness,
    ) -> Result<Option<Arc<ShopKb>>, AppError> {
        let known = self.shops.lock().expect("shops lock").get(shop);
        if let Some(kb) = known {
            if kb.loaded.read().expect("kb lock").kb.version > 0 {
                if freshness == Freshness::Head {
                    let _writer = kb.writer.lock().await;
                    self.catch_up(shop, &kb).await?;
                }
                return Ok(Some(kb));
            }
        }
        let writes_seen = {
            let mut unwritten = self.unwritten.lock().expect("unwritten lock");
            // A mark is as fresh as the follower; a read at the head probes.
            if freshness == Freshness::Followed && unwritten.shops.get(shop).is_some() {
                return Ok(None);
            }
            unwritten.writes_seen
        };
        let probe = ShopKb::default();
        self.catch_up(shop, &probe).await?;
        if probe.loaded.read().expect("kb lock").kb.version == 0 {
            let mut unwritten = self.unwritten.lock().expect("unwritten lock");
            if unwritten.writes_seen == writes_seen {
                unwritten.shops.insert(shop, Arc::new(()));
            }
            return Ok(None);
        }
        // Another replica (or this one) wrote, or the shop went from the
        // cache: keep what the probe read, so the stream is not read a
        // second time. A command or another read of this replica may have
        // put its own copy there first, read before this probe (and before a
        // write acknowledged since): a read at the head answers from a copy
        // at least as fresh as its probe.
        let probed = probe.loaded.read().expect("kb lock").kb.version;
        let kb = self
            .shops
            .lock()
            .expect("shops lock")
            .get_or_insert_with(shop, || probe);
        if kb.loaded.read().expect("kb lock").kb.version < probed {
            let _writer = kb.writer.lock().await;
            self.catch_up(shop, &kb).await?;
        }
        Ok(Some(kb))
    }

    /// Folds whatever the stream holds beyond what is loaded (other replicas' writes).
    async fn catch_up(&self, shop: &str, kb: &ShopKb) -> Result<(), AppError> {
        let mut writer = KbWriter {
            kb,
            analyzer: &self.analyzer,
        };
        self.path
            .catch_up(&store::kb_stream(shop), &mut writer)
            .await
    }

    /// One command on the one command path, with the cached strategy: the
    /// knowledge base and its index are the cache, caught up on a conflict.
    async fn decide_and_append(
        &self,
        shop: &str,
        kb: &ShopKb,
        command: &Command,
        metadata: &Metadata,
    ) -> Result<Vec<Event>, AppError> {
        let stream = store::kb_stream(shop);
        let target = StreamTarget {
            stream: &stream,
            shop,
            schema_version: store::SCHEMA_VERSION,
            fold: true,
        };
        let mut writer = KbWriter {
            kb,
            analyzer: &self.analyzer,
        };
        let (events, _) = self
            .path
            .execute_cached(
                target,
                &mut writer,
                metadata,
                |_, now| now,
                |w, _| {
                    let loaded = w.kb.loaded.read().expect("kb lock");
                    if loaded.kb.version > 0 || matches!(command, Command::InstallPresets { .. }) {
                        return decide(&loaded.kb, command, &self.limits)
                            .map_err(sellerdesk_core::Refusal::from);
                    }
                    // R-FAQ-3: a shop's first change installs the presets it
                    // has been reading, in the same append: a refused first
                    // change writes nothing.
                    let install = Command::InstallPresets {
                        presets: self.presets.clone(),
                    };
                    let mut kb = loaded.kb.clone();
                    let mut events = decide(&kb, &install, &self.limits)?;
                    for e in &events {
                        kb.apply(e);
                    }
                    let change = decide(&kb, command, &self.limits)?;
                    if change.is_empty() {
                        return Ok(Vec::new());
                    }
                    events.extend(change);
                    Ok(events)
                },
            )
            .await?;
        Ok(events)
    }

    /// Runs a change on the shop's knowledge base; the index follows before
    /// this returns, so the next query sees it (R-FAQ-7).
    pub async fn execute(
        &self,
        target: &Target,
        command: Command,
        metadata: &Metadata,
    ) -> Result<Vec<Event>, AppError> {
        let Target::Shop(shop) = target else {
            // Unreachable through the API (commands name a shop); kept as a refusal.
            return Err(AppError::Domain(sellerdesk_core::Refusal::precondition(
                "HELP_CENTRE_READ_ONLY",
                "knowledge_base",
                "the help centre is the platform's and is not edited through a shop's API",
            )));
        };
        let kb = self.shop(shop).await?;
        let _writer = kb.writer.lock().await;
        let result = self.decide_and_append(shop, &kb, &command, metadata).await;
        if result.as_ref().is_ok_and(|events| !events.is_empty()) {
            self.unwritten.lock().expect("unwritten lock").written(shop);
        }
        result
    }

    /// Reads a knowledge base and its index as of the stream's head: every
    /// change any replica acknowledged is in it (R-X-4).
    pub async fn read<R>(
        &self,
        target: &Target,
        f: impl FnOnce(&Loaded) -> R,
    ) -> Result<R, AppError> {
        self.read_as(target, Freshness::Head, f).await
    }

    async fn read_as<R>(
        &self,
        target: &Target,
        freshness: Freshness,
        f: impl FnOnce(&Loaded) -> R,
    ) -> Result<R, AppError> {
        match target {
            Target::HelpCentre { .. } => Ok(f(&self.help_centre)),
            Target::Shop(shop) => match self.written_shop(shop, freshness).await? {
                Some(kb) => {
                    let loaded = kb.loaded.read().expect("kb lock");
                    Ok(f(&loaded))
                }
                None => Ok(f(&self.fresh_shop)),
            },
        }
    }

    /// The top `k` entries for `query` (assist-reply, R-FAQ-6), with each
    /// entry, and the threshold of the base they come from. A question goes
    /// to the base's second stage when there is one and it knows every
    /// candidate (decisions 0023, 0024), however sure the lexical matcher
    /// is (decision 0026).
    pub async fn rank(
        &self,
        target: &Target,
        query: &str,
        k: usize,
        freshness: Freshness,
    ) -> Result<(Vec<(Scored, Entry)>, f64), AppError> {
        // Segmentation happens outside the lock: writers wait only for the scoring.
        let features = self.analyzer.analyze(query);
        let stage = match target {
            Target::HelpCentre { .. } => self.stages.help_centre.get(),
            Target::Shop(_) => self.stages.presets.get(),
        };
        // A question embedded lately costs the model nothing: looked up
        // once, outside the lock, and carried to the re-ranking.
        let kept = stage.and_then(|s| s.model().cached_query(query));
        let (ranked, threshold, missing) = self
            .read_as(target, freshness, |loaded| {
                let threshold = match target {
                    Target::HelpCentre { .. } => crate::domain::DEFAULT_THRESHOLD,
                    Target::Shop(_) => loaded.kb.threshold(),
                };
                let wanted = if stage.is_some() { k.max(RERANKED) } else { k };
                let mut scored = loaded.index.search_features(&features, wanted);
                let content_of = |id: &str| loaded.kb.entries.get(id).map(|e| &e.content);
                // With a stage: which candidates it did not embed as they
                // are now, whose stored vectors the model needs. Once the
                // model has had its share of a core the question is
                // answered lexically at once, without carrying the stage's
                // 30 candidates further: under load that is most questions,
                // and since decision 0026 every question would otherwise.
                let missing = stage
                    .map(|stage| stage.not_its_own(&scored, content_of))
                    .filter(|missing| {
                        let allowed =
                            kept.is_some() || self.model_budget.allows(std::time::Instant::now());
                        if !allowed {
                            SENTENCE_STAGE.inc(&[stage_label(target, missing), "over_share"]);
                        }
                        allowed
                    });
                // The model may also bring up entries no word matched: for a
                // stage over its whole base (the help centre), every entry.
                let keep = if missing.is_some() { RERANKED } else { k };
                scored.truncate(keep);
                let ranked: Vec<(Scored, Entry)> = scored
                    .into_iter()
                    .filter_map(|s| {
                        let entry = loaded.kb.entries.get(&s.entry_id)?.clone();
                        Some((s, entry))
                    })
                    .collect();
                (ranked, threshold, missing)
            })
            .await?;
        let (Some(stage), Some(missing)) = (stage, missing) else {
            return Ok((ranked, threshold));
        };
        let label = stage_label(target, &missing);
        let own = match target {
            // The budget allowed the model a moment ago, or the question's
            // vector is kept (above): either way the cosines need the
            // shop's stored vectors, so the store is asked for them.
            Target::Shop(shop) if !missing.is_empty() => {
                self.own_vectors(stage, shop, &missing).await
            }
            _ => OwnVectors::new(),
        };
        let takes = stage.takes(
            &ranked.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(),
            |id| {
                ranked
                    .iter()
                    .find(|(s, _)| s.entry_id == id)
                    .map(|(_, e)| &e.content)
            },
            &own,
        );
        if !takes {
            if !missing.is_empty() {
                // An entry the projector has not embedded (yet): lexically.
                SENTENCE_STAGE.inc(&[label, "not_embedded"]);
            }
            return Ok(lexical_top(ranked, k, threshold));
        }
        let (lexical, mut entries): (Vec<Scored>, std::collections::HashMap<String, Entry>) =
            ranked
                .into_iter()
                .map(|(s, e)| {
                    let id = s.entry_id.clone();
                    (s, (id, e))
                })
                .unzip();
        let reranked = self.rerank(stage, label, query, kept, lexical, own).await;
        let ranked = reranked
            .into_iter()
            .take(k)
            .filter_map(|s| {
                let entry = entries.remove(&s.entry_id).or_else(|| match target {
                    // The help centre's stage covers the whole help centre.
                    Target::HelpCentre { .. } => {
                        self.help_centre.kb.entries.get(&s.entry_id).cloned()
                    }
                    // A shop's answer is one of its own candidates, nothing else.
                    Target::Shop(_) => None,
                })?;
                Some((s, entry))
            })
            .collect();
        Ok((ranked, threshold))
    }

    /// The stored vectors of a shop's entries `ids` that say what each is
    /// now (decision 0025); an entry with none, or a store that does not
    /// answer, leaves it out, and the question is answered lexically.
    async fn own_vectors(&self, stage: &SentenceStage, shop: &str, ids: &[String]) -> OwnVectors {
        entry_vectors::stored(&*self.store, shop, ids, stage.model().dim())
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the entries' vectors could not be read: the lexical answer stands");
                OwnVectors::new()
            })
    }

    /// The presets' second stage, once attached (decision 0024).
    pub(crate) fn presets_stage(&self) -> Option<Arc<SentenceStage>> {
        self.stages.presets.get().cloned()
    }

    /// The share of a core the model may use, which the projector of the
    /// entries' vectors spends too (decision 0025).
    pub(crate) fn model_budget(&self) -> &crate::sentence::ModelBudget {
        &self.model_budget
    }

    /// Whether a sentence model was loaded (its stages may still be
    /// embedding).
    pub fn has_model(&self) -> bool {
        self.model.is_some()
    }

    /// The second stage's re-ranking of a question's lexical candidates,
    /// with the question's `kept` vector if the model embedded the same text
    /// lately. The model's call (milliseconds) runs off the async workers. The
    /// lexical answer stands if the model has had its share of the time,
    /// if too many questions already wait for it, or if it fails.
    async fn rerank(
        &self,
        stage: &Arc<SentenceStage>,
        label: &'static str,
        query: &str,
        kept: Option<Arc<Vec<f32>>>,
        lexical: Vec<Scored>,
        own: OwnVectors,
    ) -> Vec<Scored> {
        if let Some(v) = kept {
            // Embedded lately: only the cosines are left to compute, which
            // take microseconds, so neither the queue nor the budget.
            SENTENCE_STAGE.inc(&[label, "reranked_kept_vector"]);
            return stage.answer_with(&v, lexical, &Calibration::default(), &own);
        }
        if !self.model_budget.allows(std::time::Instant::now()) {
            // The model has had its share of a core: lexically.
            SENTENCE_STAGE.inc(&[label, "over_share"]);
            return lexical;
        }
        let Some(admitted) = stage.admit() else {
            // A burst beyond what the model can answer soon: lexically.
            SENTENCE_STAGE.inc(&[label, "busy"]);
            return lexical;
        };
        let (q, fallback) = (query.to_owned(), lexical.clone());
        let reranked = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let answer = admitted
                .stage()
                .answer(&q, lexical, &Calibration::default(), &own);
            (answer, started.elapsed())
        })
        .await;
        if let Ok((_, took)) = &reranked {
            self.model_budget.spend(*took, std::time::Instant::now());
        }
        let reranked = reranked.map_err(|e| e.to_string()).and_then(|(r, _)| r);
        match reranked {
            Ok(r) => {
                SENTENCE_STAGE.inc(&[label, "reranked"]);
                r
            }
            Err(e) => {
                SENTENCE_STAGE.inc(&[label, "failed"]);
                tracing::warn!(error = %e, "the sentence model failed: the lexical answer stands");
                fallback
            }
        }
    }

    /// The robot (R-FAQ-7): the best entry, whether it is confident enough to
    /// send, and the record of what happened (R-FAQ-8), committed before the
    /// answer goes out.
    pub async fn answer(
        &self,
        target: &Target,
        query: &str,
        conversation_id: &str,
        metadata: &Metadata,
    ) -> Result<MatchOutcome, AppError> {
        let (mut ranked, threshold) = self.rank(target, query, 1, Freshness::Followed).await?;
        let best = ranked.pop();
        let auto_answer = best
            .as_ref()
            .is_some_and(|(s, _)| s.confidence >= threshold);
        let interaction = match &best {
            Some((s, e)) if auto_answer => Interaction::QuestionAutoAnswered {
                query: query.to_owned(),
                entry_id: e.id.clone(),
                confidence: s.confidence,
                conversation_id: conversation_id.to_owned(),
            },
            _ => Interaction::QuestionMissed {
                query: query.to_owned(),
                best_entry_id: best.as_ref().map(|(_, e)| e.id.clone()),
                confidence: best.as_ref().map_or(0.0, |(s, _)| s.confidence),
                conversation_id: conversation_id.to_owned(),
            },
        };
        self.record(target, &interaction, metadata).await?;
        ROBOT_ANSWERS.inc(&[if auto_answer {
            "auto_answered"
        } else if best.is_some() {
            "below_threshold"
        } else {
            "no_match"
        }]);
        Ok(MatchOutcome {
            best,
            auto_answer,
            threshold,
        })
    }

    /// A buyer tapped a card (R-FAQ-5): the entry's answer, and the tap recorded.
    pub async fn tap_card(
        &self,
        target: &Target,
        entry_id: &str,
        conversation_id: &str,
        metadata: &Metadata,
    ) -> Result<Entry, AppError> {
        let entry = self
            .read(target, |l| l.kb.entries.get(entry_id).cloned())
            .await?
            .filter(|e| e.content.enabled)
            .ok_or_else(|| refused(DomainError::EntryNotFound(entry_id.to_owned())))?;
        let tap = Interaction::CardTapped {
            entry_id: entry.id.clone(),
            conversation_id: conversation_id.to_owned(),
        };
        self.record(target, &tap, metadata).await?;
        Ok(entry)
    }

    async fn record(
        &self,
        target: &Target,
        interaction: &Interaction,
        metadata: &Metadata,
    ) -> Result<(), AppError> {
        let key = target.key();
        let event = store::encode_interaction(
            target.recorded_shop(),
            interaction,
            self.clock.now(),
            metadata,
        );
        let (done, committed) = tokio::sync::oneshot::channel();
        self.recorder
            .send((key.to_owned(), event, done))
            .await
            .map_err(|_| StoreError::WriteFailed("the interaction recorder stopped".into()))?;
        committed
            .await
            .map_err(|_| StoreError::WriteFailed("the interaction recorder stopped".into()))??;
        Ok(())
    }

    /// The summary of a knowledge base's recorded interactions in `window`
    /// that the target's reader sees, up to every acknowledged write: from
    /// the day book, not the whole stream (R-FAQ-8, R-X-4).
    pub async fn summarise_interactions(
        &self,
        target: &Target,
        window: Window,
    ) -> Result<Summary, AppError> {
        let reader = match target {
            Target::HelpCentre { asker: Some(s) } => day_book::Reader::Asker(s),
            Target::Shop(_) | Target::HelpCentre { asker: None } => day_book::Reader::Everyone,
        };
        day_book::summary(&self.store, target.key(), reader, window).await
    }

    /// Keeps loaded knowledge bases in step with writes by other replicas
    /// (PostgreSQL deployments): follows the log and folds what is missing.
    pub async fn run_follower(self: Arc<Self>) {
        let start = match self.store.head().await {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "faq follower could not read the head");
                return;
            }
        };
        let app = &self;
        // Only the knowledge bases' streams: the interactions, most of the
        // log, stay in the database instead of crossing the wire to be
        // skipped here. This replica's own commits are already folded, so
        // being woken by one reads nothing new: under load it reads once a
        // poll, the bound Followed reads promise anyway (decision 0012),
        // instead of every 5 ms.
        sellerdesk_eventstore::Follower::after(self.store.clone(), "faq-replica", start, 10_000)
            .only_streams(store::KB_STREAM_PREFIX)
            .gathering(sellerdesk_eventstore::POLL_INTERVAL)
            .run(|batch| async move {
                for e in &batch {
                    app.fold_foreign(e);
                }
                Ok::<_, std::convert::Infallible>(())
            })
            .await
    }

    fn fold_foreign(&self, recorded: &RecordedEvent) {
        let Some(shop) = recorded.stream_id.strip_prefix(store::KB_STREAM_PREFIX) else {
            return;
        };
        self.unwritten.lock().expect("unwritten lock").written(shop);
        let Some(kb) = self.shops.lock().expect("shops lock").get(shop) else {
            return;
        };
        let mut loaded = kb.loaded.write().expect("kb lock");
        // Our own appends were folded when they committed; a gap means a
        // missed event, which the next command's catch-up repairs.
        if recorded.stream_version != loaded.kb.version + 1 {
            return;
        }
        match store::decode_kb_event(recorded) {
            Ok(event) => loaded.apply(&self.analyzer, &event),
            Err(e) => tracing::error!(error = %e, "undecodable faq event"),
        }
    }
}
