//! The pure core of every sellerdesk domain.
//!
//! A domain is a [`Decider`]: commands (each carrying its instant), events,
//! state; `decide` turns a command and the state into events or a
//! [`Refusal`], `evolve` folds an event into the state. Nothing here does
//! I/O, awaits or reads a clock: the runtime's one command path loads the
//! state, reads the instant once, decides, appends and publishes.
//!
//! Tests of a domain read as the rules do: [`testing::given`] events,
//! `when` a command, `then` events or `then_refused` with a code.

pub mod calendar;
mod instant_codec;
pub mod money;
pub mod penalties;
mod refusal;
pub mod stream;
pub mod testing;
pub mod zone;

pub use instant_codec::{instant, optional_instant};
pub use refusal::Refusal;

/// An instant in UTC, carried by every command and stored with its events.
pub type Instant = chrono::DateTime<chrono::Utc>;

/// Whether `days` whole days from `since` have passed at `at` (the end
/// included): how long a record a shop's state lets go of is kept
/// (decision 0022). Saturates at chrono's range: never a panic.
pub fn days_passed(since: Instant, days: i64, at: Instant) -> bool {
    chrono::Duration::try_days(days)
        .and_then(|d| since.checked_add_signed(d))
        .is_some_and(|end| end <= at)
}

/// An event of a domain: its type's name is what the log stores beside it.
pub trait DomainEvent: serde::Serialize + serde::de::DeserializeOwned + Clone {
    /// The event's type in the domain's words (`ViolationRecorded`).
    fn event_type(&self) -> &'static str;
}

/// The shape of a domain (fmodel's Decider, esrs's Aggregate): pure
/// functions over a state folded from events.
pub trait Decider {
    type Command;
    type Event: DomainEvent;
    /// Folded from the stream's events; `Default` is the state of no events.
    type State: Default + Clone;
    /// What deciding may read besides the state (limits, a policy history,
    /// a marketplace), borrowed for one decision; `()` when nothing.
    type Context<'a>;
    /// Why a command is refused: [`Refusal`], or a domain's richer error
    /// that says which refusal it is (its tests can name the variant).
    type Error: Into<Refusal> + Clone + std::fmt::Debug;

    /// The events `command` causes in `state`, or why it is refused. An
    /// empty list is a no-op (an idempotent retry).
    fn decide(
        command: &Self::Command,
        state: &Self::State,
        context: &Self::Context<'_>,
    ) -> Result<Vec<Self::Event>, Self::Error>;

    /// Folds one event into the state.
    fn evolve(state: &mut Self::State, event: &Self::Event);

    /// The stream version of a state: how many events were folded into it.
    fn version(state: &Self::State) -> i64;
}

/// A state the command path may keep as a snapshot, so that loading it reads
/// one document and the events after it rather than the whole stream.
/// The snapshot is derived data: one that cannot be read, or was written
/// with another [`Snapshotted::SHAPE`], is ignored and the stream folded
/// from its start, so a wrong snapshot costs time, never a wrong state.
pub trait Snapshotted: serde::Serialize + serde::de::DeserializeOwned {
    /// Raised whenever the state's fields or what `evolve` makes of an event
    /// change: a snapshot folded by older code must not be read as current.
    const SHAPE: u32;
}
