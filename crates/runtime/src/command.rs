//! The one command path: load → decide → append with the expected version →
//! retry on a conflict, a bounded number of times. The outbox relay (run by
//! the host) publishes what was appended.
//!
//! One instant per command: read once, handed to the decision (the command
//! carries it) and stored as the events' time, on every attempt alike.
//!
//! Strategies for loading the state, all on this path: load per command
//! ([`CommandPath::execute`]: the stream's snapshot and the events after it,
//! for ads accounts and affiliate outreach), a cached state caught up to the
//! stream's head (compliance), a per-shop task that commits groups (chat).

use crate::errors::AppError;
use sellerdesk_core::{Decider, DomainEvent, Instant, Refusal, Snapshotted};
use sellerdesk_eventstore::{
    codec, Append, AppendError, EventStore, ExpectedVersion, Metadata, RecordedEvent, Snapshot,
};
use std::sync::Arc;

/// Attempts before a command that keeps meeting concurrent appends is
/// answered ABORTED (the client retries later).
pub const MAX_ATTEMPTS: usize = 16;
/// Events read per page of a stream.
pub const READ_PAGE: i64 = 10_000;
/// Events folded past a stream's snapshot before a load keeps a new one:
/// a load reads at most about this many events, and a snapshot is written
/// about once per this many commands.
pub const SNAPSHOT_AFTER: i64 = 100;

/// The snapshot of the state a stream folds to.
pub fn snapshot_key(stream: &str) -> String {
    format!("state:{stream}")
}

/// A snapshot's body: the state and the shape it was written in.
#[derive(serde::Serialize)]
struct Kept<'a, S> {
    shape: u32,
    state: &'a S,
}

#[derive(serde::Deserialize)]
struct Restored<S> {
    shape: u32,
    state: S,
}

/// The state a snapshot holds, if it was written in today's shape and is
/// what it claims to be; otherwise none, and the stream is folded whole.
fn restore<D>(kept: &Snapshot) -> Option<D::State>
where
    D: Decider,
    D::State: Snapshotted,
{
    /// Enough of a body to tell its shape when the state no longer parses.
    #[derive(serde::Deserialize)]
    struct ShapeOnly {
        shape: u32,
    }
    let today = D::State::SHAPE;
    let shape = match serde_json::from_str::<Restored<D::State>>(&kept.body) {
        Ok(r) if r.shape == today && D::version(&r.state) == kept.version => return Some(r.state),
        Ok(r) if r.shape == today => {
            tracing::warn!(
                key = kept.key,
                "state snapshot holds another version than its row; folding the stream"
            );
            return None;
        }
        Ok(r) => r.shape,
        Err(e) => match serde_json::from_str::<ShapeOnly>(&kept.body) {
            Ok(other) if other.shape != today => other.shape,
            _ => {
                tracing::warn!(key = kept.key, error = %e, "state snapshot unreadable; folding the stream");
                return None;
            }
        },
    };
    // Written by code before or after a change: not worth a warning, the
    // fold keeps one in today's shape.
    tracing::debug!(
        key = kept.key,
        shape,
        "state snapshot of another shape ignored"
    );
    None
}

/// Where a command's events go.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub stream: &'a str,
    /// The shop the events belong to (empty for platform-wide streams).
    pub shop: &'a str,
    pub schema_version: i32,
    /// Fold the stream and append after its version (the usual case), or
    /// decide on an empty state and append whatever the version (streams
    /// whose events stand alone, like a creator's published profile).
    pub fold: bool,
}

/// A state kept between commands (compliance's per-shop cache): the path
/// folds what other writers appended since, decides, appends after its
/// version and folds its own events, with the same bounded retries.
pub trait CachedState: Send {
    type Event: DomainEvent;
    /// Events folded: the stream version.
    fn version(&self) -> i64;
    /// Folds the event at stream version `version`, committed at `at`. A
    /// state that another task may also fold (a replica follower) skips what
    /// it has already.
    fn fold(&mut self, version: i64, at: Instant, event: Self::Event);
    /// Folds an event another writer appended (found when catching up); a
    /// state with live readers (chat's desk) also tells them.
    fn caught_up(&mut self, version: i64, at: Instant, event: Self::Event) {
        self.fold(version, at, event)
    }
    /// Decodes a stored event of the stream (upcasting old schema versions).
    fn decode(stored: &RecordedEvent) -> Result<Self::Event, sellerdesk_eventstore::StoreError>;
}

/// One command of a group: what it asks, its instant if it carries one,
/// and the metadata its events are stored with.
#[derive(Debug)]
pub struct Grouped<'a, I> {
    pub command: &'a I,
    pub at: Option<Instant>,
    pub metadata: &'a Metadata,
    /// Someone waits for the answer (a request). A refusal or a no-op is
    /// then confirmed on the stream's head; for a command nobody waits on (a
    /// scheduler's tick, decided again next round) that probe is skipped.
    pub answered: bool,
}

/// What a group committed: its events from stream version `base + 1` on,
/// each at its instant, and each command's share of them or its refusal.
#[derive(Debug)]
pub struct GroupCommitted<E> {
    pub base: i64,
    pub events: Vec<(Instant, E)>,
    pub outcomes: Vec<Result<std::ops::Range<usize>, Refusal>>,
}

/// The command path of one service's store.
#[derive(Debug, Clone)]
pub struct CommandPath {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn crate::Clock>,
}

impl CommandPath {
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn crate::Clock>) -> Self {
        Self { store, clock }
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// The instant a command is decided at.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The state of `stream` as its log says now: its snapshot, if one can
    /// be read, and the events after it. When that tail is long, the state
    /// is kept as the next snapshot, so a load costs a bounded tail however
    /// long the stream grows (R-X-4).
    pub async fn load<D>(&self, stream: &str) -> Result<D::State, AppError>
    where
        D: Decider,
        D::State: Snapshotted,
    {
        let key = snapshot_key(stream);
        let kept = self.store.load_snapshot(&key).await?;
        let mut state = kept.and_then(|k| restore::<D>(&k)).unwrap_or_default();
        let from = D::version(&state);
        let mut position = 0;
        for_each_event(&self.store, stream, from, |e| {
            D::evolve(&mut state, &codec::decode(e)?);
            position = e.global_position;
            Ok(())
        })
        .await?;
        if D::version(&state) - from >= SNAPSHOT_AFTER {
            self.keep::<D>(key, &state, position).await;
        }
        Ok(state)
    }

    /// Saves `state` as the stream's snapshot. A failure only costs the
    /// next load a longer tail, so it is logged, not returned: the command
    /// that loaded the state goes on. Two replicas may save at once; either
    /// snapshot is a true state of the stream, and the tail covers the rest.
    async fn keep<D>(&self, key: String, state: &D::State, position: i64)
    where
        D: Decider,
        D::State: Snapshotted,
    {
        let body = match serde_json::to_string(&Kept {
            shape: D::State::SHAPE,
            state,
        }) {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(key, error = %e, "state snapshot not encoded");
                return;
            }
        };
        let snapshot = Snapshot {
            key,
            version: D::version(state),
            position,
            body,
        };
        if let Err(e) = self.store.save_snapshots(&[snapshot]).await {
            tracing::warn!(error = %e, "state snapshot not saved; the next load folds a longer tail");
        }
    }

    /// Runs one command: `decide` sees the state and the command's instant.
    /// Returns the state after the command and the events it caused (none
    /// for a no-op, which appends nothing).
    pub async fn execute<D>(
        &self,
        target: Target<'_>,
        metadata: &Metadata,
        decide: impl Fn(&D::State, Instant) -> Result<Vec<D::Event>, D::Error>,
    ) -> Result<(D::State, Vec<D::Event>), AppError>
    where
        D: Decider,
        D::State: Snapshotted,
    {
        let at = self.clock.now();
        for _ in 0..MAX_ATTEMPTS {
            let mut state = if target.fold {
                self.load::<D>(target.stream).await?
            } else {
                D::State::default()
            };
            let events = decide(&state, at).map_err(|e| AppError::Domain(e.into()))?;
            if events.is_empty() {
                return Ok((state, events));
            }
            let expected = if target.fold {
                ExpectedVersion::after(D::version(&state))
            } else {
                ExpectedVersion::Any
            };
            let append = Append::new(
                target.stream,
                expected,
                encode(&events, target.shop, target.schema_version, at, metadata),
            );
            match self.store.append(append).await {
                Ok(_) => {
                    for e in &events {
                        D::evolve(&mut state, e);
                    }
                    return Ok((state, events));
                }
                Err(AppendError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Contended(target.stream.to_owned()))
    }

    /// Folds whatever `stream` has beyond `cache` (other replicas' appends).
    pub async fn catch_up<C: CachedState>(
        &self,
        stream: &str,
        cache: &mut C,
    ) -> Result<(), AppError> {
        for_each_event(&self.store, stream, cache.version(), |e| {
            cache.caught_up(e.stream_version, e.occurred_at, C::decode(e)?);
            Ok(())
        })
        .await
    }

    /// As [`Self::catch_up`]; true when it folded anything.
    async fn caught_up<C: CachedState>(
        &self,
        stream: &str,
        cache: &mut C,
    ) -> Result<bool, AppError> {
        let before = cache.version();
        self.catch_up(stream, cache).await?;
        Ok(cache.version() != before)
    }

    /// Runs one command on a cached state. `instant` turns the clock's
    /// reading (taken once) into the command's instant given the state (so a
    /// stream's instants never go backwards); a conflict catches the cache up
    /// and decides again. Returns the events and the command's instant.
    pub async fn execute_cached<C: CachedState>(
        &self,
        target: Target<'_>,
        cache: &mut C,
        metadata: &Metadata,
        instant: impl Fn(&C, Instant) -> Instant,
        decide: impl Fn(&C, Instant) -> Result<Vec<C::Event>, Refusal>,
    ) -> Result<(Vec<C::Event>, Instant), AppError> {
        let now = self.clock.now();
        for _ in 0..MAX_ATTEMPTS {
            let at = instant(cache, now);
            let decided = decide(cache, at);
            if !matches!(&decided, Ok(events) if !events.is_empty()) {
                // A refusal or a no-op appends nothing, so no conflict
                // would tell that another replica moved the stream: it is
                // answered only on the stream's head (R-X-4).
                if self.caught_up(target.stream, cache).await? {
                    continue;
                }
                return decided.map(|events| (events, at)).map_err(Into::into);
            }
            let events = decided?;
            let base = cache.version();
            let append = Append::new(
                target.stream,
                ExpectedVersion::after(base),
                encode(&events, target.shop, target.schema_version, at, metadata),
            );
            match self.store.append(append).await {
                Ok(_) => {
                    for (version, e) in (base + 1..).zip(&events) {
                        cache.fold(version, at, e.clone());
                    }
                    return Ok((events, at));
                }
                Err(AppendError::Conflict { .. }) => self.catch_up(target.stream, cache).await?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Contended(target.stream.to_owned()))
    }

    /// Runs a group of commands on a cached state and commits their events in
    /// one append (chat's desk: a live-stream rush costs one transaction per
    /// group, not per message). Each command is decided on the state the
    /// previous ones left; a refused command adds nothing and does not stop
    /// the others. Each command's events are stored at its own instant, or
    /// at the group's (the clock read once) when it carries none.
    ///
    /// `working` is folded as the group is decided; when the append fails,
    /// `restore` must put it back to what is committed before the path
    /// catches it up (a conflict) and decides again, or gives up.
    pub async fn execute_group<C: CachedState, I>(
        &self,
        target: Target<'_>,
        working: &mut C,
        group: &[Grouped<'_, I>],
        decide: impl Fn(&C, &I) -> Result<Vec<C::Event>, Refusal>,
        restore: impl Fn(&mut C),
    ) -> Result<GroupCommitted<C::Event>, AppError> {
        let group_at = self.clock.now();
        for _ in 0..MAX_ATTEMPTS {
            let base = working.version();
            let mut committed = GroupCommitted {
                base,
                events: Vec::new(),
                outcomes: Vec::with_capacity(group.len()),
            };
            let mut new = Vec::new();
            for item in group {
                match decide(working, item.command) {
                    Ok(decided) => {
                        let at = item.at.unwrap_or(group_at);
                        let start = committed.events.len();
                        for e in decided {
                            let version = base + 1 + committed.events.len() as i64;
                            new.push(codec::encode(
                                &e,
                                e.event_type(),
                                target.schema_version,
                                target.shop,
                                at,
                                item.metadata,
                            ));
                            working.fold(version, at, e.clone());
                            committed.events.push((at, e));
                        }
                        committed.outcomes.push(Ok(start..committed.events.len()));
                    }
                    Err(refusal) => committed.outcomes.push(Err(refusal)),
                }
            }
            if new.is_empty() {
                // Nothing to append, so no conflict would tell that another
                // replica moved the stream: refusals and no-ops are answered
                // only on its head (R-X-4). A group that appends needs no
                // probe: its append succeeds only on the head it decided on.
                if group.iter().any(|g| g.answered)
                    && self.caught_up(target.stream, working).await?
                {
                    continue;
                }
                return Ok(committed);
            }
            let append = Append::new(target.stream, ExpectedVersion::after(base), new);
            match self.store.append(append).await {
                Ok(_) => return Ok(committed),
                // Another replica wrote first: fold its events and decide again.
                Err(AppendError::Conflict { .. }) => {
                    restore(working);
                    self.catch_up(target.stream, working).await?;
                }
                Err(e) => {
                    // Nothing was written: forget what this group decided.
                    restore(working);
                    return Err(e.into());
                }
            }
        }
        restore(working);
        Err(AppError::Contended(target.stream.to_owned()))
    }

    /// The append a consumer commits with its inbox mark: `events` after
    /// `state`'s version.
    pub fn append_after<D: Decider>(
        &self,
        target: Target<'_>,
        state: &D::State,
        events: &[D::Event],
        metadata: &Metadata,
    ) -> Append {
        Append::new(
            target.stream,
            ExpectedVersion::after(D::version(state)),
            encode(
                events,
                target.shop,
                target.schema_version,
                self.clock.now(),
                metadata,
            ),
        )
    }
}

fn encode<E: DomainEvent>(
    events: &[E],
    shop: &str,
    schema_version: i32,
    at: Instant,
    metadata: &Metadata,
) -> Vec<sellerdesk_eventstore::NewEvent> {
    events
        .iter()
        .map(|e| codec::encode(e, e.event_type(), schema_version, shop, at, metadata))
        .collect()
}

/// The one stream pager: every event of `stream` after `after`, in order.
pub async fn for_each_event(
    store: &Arc<dyn EventStore>,
    stream: &str,
    after: i64,
    f: impl FnMut(&RecordedEvent) -> Result<(), sellerdesk_eventstore::StoreError>,
) -> Result<(), AppError> {
    for_each_event_through(store, stream, after, i64::MAX, f).await
}

/// Every event of `stream` after `after` and up to version `through`, in
/// order: a range of a stream, read a page at a time.
pub async fn for_each_event_through(
    store: &Arc<dyn EventStore>,
    stream: &str,
    mut after: i64,
    through: i64,
    mut f: impl FnMut(&RecordedEvent) -> Result<(), sellerdesk_eventstore::StoreError>,
) -> Result<(), AppError> {
    while after < through {
        let want = READ_PAGE.min(through - after);
        let page = store.read_stream(stream, after, want).await?;
        for e in page.iter().take_while(|e| e.stream_version <= through) {
            f(e)?;
            after = e.stream_version;
        }
        if (page.len() as i64) < want {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use sellerdesk_eventstore::SqliteEventStore;

    /// A tally: commands add to it; adding zero is refused.
    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    enum Tallied {
        Added(u32),
    }

    impl DomainEvent for Tallied {
        fn event_type(&self) -> &'static str {
            "Added"
        }
    }

    #[derive(Debug, Default)]
    struct Tally {
        version: i64,
        total: u32,
        /// Events other writers appended, as the path reported them.
        remote: Vec<u32>,
    }

    impl CachedState for Tally {
        type Event = Tallied;
        fn version(&self) -> i64 {
            self.version
        }
        fn fold(&mut self, version: i64, _at: Instant, Tallied::Added(n): Tallied) {
            self.version = version;
            self.total += n;
        }
        fn caught_up(&mut self, version: i64, at: Instant, event: Tallied) {
            let Tallied::Added(n) = event.clone();
            self.remote.push(n);
            self.fold(version, at, event);
        }
        fn decode(stored: &RecordedEvent) -> Result<Tallied, sellerdesk_eventstore::StoreError> {
            codec::decode(stored)
        }
    }

    fn add(_: &Tally, n: &u32) -> Result<Vec<Tallied>, Refusal> {
        if *n == 0 {
            return Err(Refusal::invalid("amount", "add at least one"));
        }
        Ok(vec![Tallied::Added(*n)])
    }

    const TARGET: Target<'static> = Target {
        stream: "tally-s",
        shop: "s",
        schema_version: 1,
        fold: true,
    };

    async fn on_sqlite(dir: &tempfile::TempDir) -> (Arc<dyn EventStore>, CommandPath) {
        let url = format!("sqlite://{}", dir.path().join("log.db").display());
        let store: Arc<dyn EventStore> = Arc::new(SqliteEventStore::connect(&url).await.unwrap());
        let path = CommandPath::new(store.clone(), Arc::new(SystemClock));
        (store, path)
    }

    /// Another replica, with its own cache, adds `n`.
    async fn another_writer_adds(path: &CommandPath, n: u32) {
        let mut other = Tally::default();
        path.execute_cached(
            TARGET,
            &mut other,
            &Metadata::default(),
            |_, now| now,
            |s, _| add(s, &n),
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_group_commits_once_refusals_aside_and_decides_again_after_a_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let (store, path) = on_sqlite(&dir).await;
        let metadata = Metadata::default();
        let commands = [2u32, 0, 3];
        let group: Vec<Grouped<'_, u32>> = commands
            .iter()
            .map(|c| Grouped {
                command: c,
                at: None,
                metadata: &metadata,
                answered: true,
            })
            .collect();

        // Another writer appends first: the state here is one event behind.
        another_writer_adds(&path, 7).await;

        let mut working = Tally::default();
        let committed = path
            .execute_group(TARGET, &mut working, &group, add, |w| {
                // What is committed here: nothing of this group, and what
                // the path already reported from the other writer.
                let remote = std::mem::take(&mut w.remote);
                *w = Tally::default();
                for n in remote {
                    w.caught_up(w.version + 1, Instant::default(), Tallied::Added(n));
                }
            })
            .await
            .unwrap();
        assert_eq!(
            committed.base, 1,
            "decided again after the other writer's event"
        );
        assert_eq!(committed.events.len(), 2);
        assert_eq!(committed.outcomes[0], Ok(0..1));
        assert_eq!(
            committed.outcomes[1].as_ref().unwrap_err().code(),
            "INVALID_ARGUMENT"
        );
        assert_eq!(committed.outcomes[2], Ok(1..2));
        assert_eq!(working.remote, vec![7]);
        assert_eq!((working.version, working.total), (3, 12));
        // One append for the group: versions 2 and 3, in one transaction.
        let stored = store.read_stream("tally-s", 0, 10).await.unwrap();
        assert_eq!(stored.len(), 3);
        assert_eq!(stored[1].global_position + 1, stored[2].global_position);
    }
    /// Refused unless the tally already holds 5: a decision that depends on
    /// what another replica may have written.
    fn add_once_five(s: &Tally, n: &u32) -> Result<Vec<Tallied>, Refusal> {
        if s.total < 5 {
            return Err(Refusal::precondition("NO_FIVE", "tally", "no five yet"));
        }
        Ok(vec![Tallied::Added(*n)])
    }

    /// R-X-4: a refusal appends nothing, so no conflict would reveal a stale
    /// cache; the path answers it only on the stream's head. Without the
    /// probe both commands below were refused on the stale tally.
    #[tokio::test]
    async fn a_refusal_on_a_stale_cache_is_decided_again_on_the_head() {
        let dir = tempfile::tempdir().unwrap();
        let (_, path) = on_sqlite(&dir).await;
        let metadata = Metadata::default();
        // This replica's caches, taken before another writer added 5.
        let mut cached = Tally::default();
        let mut working = Tally::default();
        another_writer_adds(&path, 5).await;

        let (events, _) = path
            .execute_cached(
                TARGET,
                &mut cached,
                &metadata,
                |_, now| now,
                |s, _| add_once_five(s, &1),
            )
            .await
            .unwrap();
        assert_eq!(events, vec![Tallied::Added(1)]);
        assert_eq!((cached.version, cached.total), (2, 6));

        let command = 2u32;
        let group = [Grouped {
            command: &command,
            at: None,
            metadata: &metadata,
            answered: true,
        }];
        let committed = path
            .execute_group(TARGET, &mut working, &group, add_once_five, |_| {})
            .await
            .unwrap();
        assert_eq!(committed.outcomes, vec![Ok(0..1)]);
        assert_eq!(committed.base, 2);
        assert_eq!(working.remote, vec![5, 1], "told what the others wrote");

        // Nobody waits on a tick: its refusal is not probed for (the next
        // round decides again), so this stale tally stays as it was.
        let mut ticking = Tally::default();
        let tick = [Grouped {
            command: &command,
            at: None,
            metadata: &metadata,
            answered: false,
        }];
        let idle = path
            .execute_group(TARGET, &mut ticking, &tick, add_once_five, |_| {})
            .await
            .unwrap();
        assert!(idle.outcomes[0].is_err());
        assert_eq!(ticking.version, 0);

        // On the head, a refusal stands after one probe.
        let mut fresh = Tally::default();
        let refused = path
            .execute_cached(
                TARGET,
                &mut fresh,
                &metadata,
                |_, now| now,
                |s, _| {
                    if s.total > 100 {
                        Ok(vec![])
                    } else {
                        Err(Refusal::invalid("amount", "too small"))
                    }
                },
            )
            .await;
        assert!(matches!(refused, Err(AppError::Domain(_))));
        assert_eq!(fresh.version, 3);
    }

    /// The tally as a [`Decider`] whose state the path keeps as a snapshot.
    #[derive(Debug)]
    struct Counter;

    #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Count {
        version: i64,
        total: u32,
    }

    impl Snapshotted for Count {
        const SHAPE: u32 = 1;
    }

    impl Decider for Counter {
        type Command = u32;
        type Event = Tallied;
        type State = Count;
        type Context<'a> = ();
        type Error = Refusal;
        fn decide(n: &u32, _: &Count, _: &()) -> Result<Vec<Tallied>, Refusal> {
            Ok(vec![Tallied::Added(*n)])
        }
        fn evolve(state: &mut Count, Tallied::Added(n): &Tallied) {
            state.version += 1;
            state.total += n;
        }
        fn version(state: &Count) -> i64 {
            state.version
        }
    }

    /// Appends `n` events adding one each, as another replica would.
    async fn append_ones(store: &Arc<dyn EventStore>, n: usize) {
        let at = Instant::default();
        let events = encode(
            &vec![Tallied::Added(1); n],
            "s",
            1,
            at,
            &Metadata::default(),
        );
        let append = Append::new(TARGET.stream, ExpectedVersion::Any, events);
        store.append(append).await.unwrap();
    }

    /// Replaces the stream's snapshot with `body` claiming `version`.
    async fn plant(store: &Arc<dyn EventStore>, version: i64, body: String) {
        let planted = Snapshot {
            key: snapshot_key(TARGET.stream),
            version,
            position: 0,
            body,
        };
        store.save_snapshots(&[planted]).await.unwrap();
    }

    /// R-X-4: a load reads the snapshot and the events after it, not the
    /// whole stream, and keeps a new snapshot once the tail is long. The
    /// planted snapshots below say something the log does not, so the
    /// answer shows which one the load read.
    #[tokio::test]
    async fn a_long_stream_loads_from_its_snapshot_and_the_tail_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let (store, path) = on_sqlite(&dir).await;
        let key = snapshot_key(TARGET.stream);

        append_ones(&store, (SNAPSHOT_AFTER - 1) as usize).await;
        let short = path.load::<Counter>(TARGET.stream).await.unwrap();
        assert_eq!(short.total, SNAPSHOT_AFTER as u32 - 1);
        assert!(
            store.load_snapshot(&key).await.unwrap().is_none(),
            "a short tail keeps no snapshot"
        );

        append_ones(&store, 151).await;
        let long = path.load::<Counter>(TARGET.stream).await.unwrap();
        assert_eq!((long.version, long.total), (250, 250));
        let kept = store.load_snapshot(&key).await.unwrap().expect("kept");
        assert_eq!(kept.version, 250);
        assert!(kept.position > 0);

        // The snapshot is what is read: it says 1,000 more than the log.
        let claims = |shape: u32, version: i64, total: u32| {
            serde_json::json!({"shape": shape, "state": {"version": version, "total": total}})
                .to_string()
        };
        plant(&store, 250, claims(1, 250, 1250)).await;
        append_ones(&store, 3).await;
        let loaded = path.load::<Counter>(TARGET.stream).await.unwrap();
        assert_eq!((loaded.version, loaded.total), (253, 1253));

        // A command appends after the snapshot and its tail.
        let (after, events) = path
            .execute::<Counter>(TARGET, &Metadata::default(), |state, _| {
                Counter::decide(&2, state, &())
            })
            .await
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!((after.version, after.total), (254, 1255));

        // Another shape, a version the body does not hold, or a body that
        // cannot be read: ignored, and the stream folded from its start.
        for (version, body) in [
            (250, claims(2, 250, 1250)),
            (249, claims(1, 250, 1250)),
            (250, "{\"shape\": 1, \"state\": 7}".to_owned()),
        ] {
            plant(&store, version, body.clone()).await;
            let folded = path.load::<Counter>(TARGET.stream).await.unwrap();
            assert_eq!((folded.version, folded.total), (254, 255), "{body}");
            let replaced = store.load_snapshot(&key).await.unwrap().unwrap();
            assert_eq!(replaced.version, 254, "the fold keeps a true snapshot");
        }
    }

    /// R-X-4 at two replicas: writers on two paths (two connection pools)
    /// over one PostgreSQL stream load from the snapshots each other keeps.
    /// No command is lost or counted twice, and a load through the last
    /// snapshot says what a fold of the whole log says.
    #[tokio::test]
    async fn replicas_loading_from_each_others_snapshots_lose_no_command() {
        const WRITERS: usize = 4;
        const EACH: usize = 80;
        let url = sellerdesk_testkit::fresh_postgres_url().await;
        let replica = || async {
            let store = sellerdesk_eventstore::open(&url).await.unwrap();
            CommandPath::new(store, Arc::new(SystemClock))
        };
        let (a, b) = (replica().await, replica().await);
        let mut writers = tokio::task::JoinSet::new();
        for w in 0..WRITERS {
            let path = if w % 2 == 0 { a.clone() } else { b.clone() };
            writers.spawn(async move {
                for _ in 0..EACH {
                    // A client retries a command answered ABORTED.
                    loop {
                        match path
                            .execute::<Counter>(TARGET, &Metadata::default(), |s, _| {
                                Counter::decide(&1, s, &())
                            })
                            .await
                        {
                            Ok(_) => break,
                            Err(AppError::Contended(_)) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
        while let Some(done) = writers.join_next().await {
            done.unwrap();
        }
        let n = (WRITERS * EACH) as i64;
        let loaded = a.load::<Counter>(TARGET.stream).await.unwrap();
        assert_eq!((loaded.version, loaded.total as i64), (n, n));
        let mut folded = Count::default();
        for_each_event(a.store(), TARGET.stream, 0, |e| {
            Counter::evolve(&mut folded, &codec::decode(e)?);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(folded, loaded);
        let kept = a
            .store()
            .load_snapshot(&snapshot_key(TARGET.stream))
            .await
            .unwrap()
            .expect("kept along the way");
        assert!(
            kept.version > n - 2 * SNAPSHOT_AFTER && kept.version <= n,
            "{}",
            kept.version
        );
    }
}
