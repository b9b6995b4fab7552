//! The one command path: load → decide → append with the expected version →
//! retry on a conflict, a bounded number of times. The outbox relay (run by
//! the host) publishes what was appended.
//!
//! One instant per command: read once, handed to the decision (the command
//! carries it) and stored as the events' time, on every attempt alike.
//!
//! Strategies for loading the state, all on this path: fold the stream per
//! command ([`CommandPath::execute`], for small streams: ads accounts,
//! affiliate outreach), a cached state caught up to the stream's head
//! (compliance), a per-shop task that commits groups (chat).

use crate::errors::AppError;
use sellerdesk_core::{Decider, DomainEvent, Instant, Refusal};
use sellerdesk_eventstore::{
    codec, Append, AppendError, EventStore, ExpectedVersion, Metadata, RecordedEvent,
};
use std::sync::Arc;

/// Attempts before a command that keeps meeting concurrent appends is
/// answered ABORTED (the client retries later).
pub const MAX_ATTEMPTS: usize = 16;
/// Events read per page of a stream.
pub const READ_PAGE: i64 = 10_000;

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
    /// Decodes a stored event of the stream (upcasting old schema versions).
    fn decode(stored: &RecordedEvent) -> Result<Self::Event, sellerdesk_eventstore::StoreError>;
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

    /// The state of `stream` as its log says now.
    pub async fn load<D: Decider>(&self, stream: &str) -> Result<D::State, AppError> {
        let mut state = D::State::default();
        self.fold_from::<D>(stream, &mut state).await?;
        Ok(state)
    }

    /// Folds what `stream` has past `state`'s version into it.
    pub async fn fold_from<D: Decider>(
        &self,
        stream: &str,
        state: &mut D::State,
    ) -> Result<(), AppError> {
        for_each_event(&self.store, stream, D::version(state), |e| {
            D::evolve(state, &codec::decode(e)?);
            Ok(())
        })
        .await
    }

    /// Runs one command: `decide` sees the state and the command's instant.
    /// Returns the state after the command and the events it caused (none
    /// for a no-op, which appends nothing).
    pub async fn execute<D: Decider>(
        &self,
        target: Target<'_>,
        metadata: &Metadata,
        decide: impl Fn(&D::State, Instant) -> Result<Vec<D::Event>, D::Error>,
    ) -> Result<(D::State, Vec<D::Event>), AppError> {
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
            cache.fold(e.stream_version, e.occurred_at, C::decode(e)?);
            Ok(())
        })
        .await
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
            let events = decide(cache, at)?;
            if events.is_empty() {
                return Ok((events, at));
            }
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
    mut after: i64,
    mut f: impl FnMut(&RecordedEvent) -> Result<(), sellerdesk_eventstore::StoreError>,
) -> Result<(), AppError> {
    loop {
        let page = store.read_stream(stream, after, READ_PAGE).await?;
        for e in &page {
            f(e)?;
            after = e.stream_version;
        }
        if (page.len() as i64) < READ_PAGE {
            return Ok(());
        }
    }
}
