//! The pure compliance domain: no I/O, no async, no clock. Time arrives in
//! every command and event; a shop's standing at any instant is a fold of its
//! events plus that instant, so "now" and "as of" share one code path (R-CMP-10).
//!
//! Where each rule lives:
//! - R-CMP-1 points range and policy lookup: [`decider::decide`] (`record_violation`)
//! - R-CMP-2, R-CMP-11 expiry and half-open windows: [`rules`], [`state::ShopState::advance`]
//! - R-CMP-3, R-CMP-4 revocation and freeze: [`state::ShopState`] (`apply_violation`, `advance`)
//! - R-CMP-5 tiers and measures: [`policy`], [`decider`] (`TierChanged` carries the measures);
//!   a policy taking effect moves tiers by itself: [`state::ShopState::tier_moved_by_time`],
//!   announced by [`Command::ObserveTime`] with the reason `policy`
//! - R-CMP-6, R-CMP-7 appeals: [`decider::decide`] (`file_appeal`)
//! - R-CMP-8 granted appeals: [`state::ShopState`] (`apply_decision`)
//! - R-CMP-9 health page: [`state::ShopState::health_page`]
//! - R-CMP-12 errors: [`DomainError`]

pub mod decider;
pub mod events;
pub mod policy;
pub mod rules;
pub mod state;
mod stored;

pub use decider::{decide, decide_policy, Command, PublishPolicy};
pub use events::{AppealOutcome, Event, PolicyPublished, TierChangeReason};
pub use policy::{Measure, Policy, PolicyHistory, Tier};
pub use state::{evolve, initial_state, ShopState, Standing};

/// An instant: UTC (R-X-3).
pub type Instant = chrono::DateTime<chrono::Utc>;

/// Why a command was refused. Each maps to one gRPC code (R-CMP-12).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// INVALID_ARGUMENT, naming each bad field.
    #[error("invalid argument: {0:?}")]
    Invalid(Vec<(&'static str, String)>),
    /// NOT_FOUND: unknown violation, or another shop's.
    #[error("violation {0:?} not found")]
    ViolationNotFound(String),
    /// ALREADY_EXISTS: the id was recorded with other content.
    #[error("violation {0:?} already recorded with other content")]
    ViolationConflict(String),
    /// FAILED_PRECONDITION: the first appeal must come within 30 days (R-CMP-7).
    #[error("the first appeal against {violation:?} had to be filed before {deadline}")]
    FirstAppealWindowClosed {
        violation: String,
        deadline: Instant,
    },
    /// FAILED_PRECONDITION: the second appeal must come within 15 days of the rejection (R-CMP-7).
    #[error("the second appeal against {violation:?} had to be filed before {deadline}")]
    SecondAppealWindowClosed {
        violation: String,
        deadline: Instant,
    },
    /// FAILED_PRECONDITION: one appeal pending at a time (R-CMP-7).
    #[error("an appeal against {0:?} is already pending")]
    AppealPending(String),
    /// FAILED_PRECONDITION: the second decision is final (R-CMP-7).
    #[error("both appeals against {0:?} were used; the second decision is final")]
    NoAppealsLeft(String),
    /// FAILED_PRECONDITION: the violation was already overturned (R-CMP-8).
    #[error("violation {0:?} was already overturned")]
    AlreadyOverturned(String),
    /// FAILED_PRECONDITION: a decision needs a pending appeal (R-CMP-12).
    #[error("no appeal against {0:?} is pending")]
    NoPendingAppeal(String),
    /// FAILED_PRECONDITION: a policy may not take effect in the past, or before the newest one.
    #[error("policy effective_at {effective_at} is before {earliest}")]
    PolicyInThePast {
        effective_at: Instant,
        earliest: Instant,
    },
}

/// R-CMP-12: each refusal as the shared kind (and so its gRPC code): the
/// runtime maps refusals to statuses in one place.
impl From<DomainError> for sellerdesk_core::Refusal {
    fn from(d: DomainError) -> Self {
        use sellerdesk_core::Refusal;
        let why = d.to_string();
        match d {
            DomainError::Invalid(fields) => {
                Refusal::Invalid(fields.into_iter().map(|(f, w)| (f.to_owned(), w)).collect())
            }
            DomainError::ViolationNotFound(id) => Refusal::NotFound {
                kind: "violation",
                id,
            },
            DomainError::ViolationConflict(id) => Refusal::AlreadyExists {
                kind: "violation",
                id,
            },
            DomainError::FirstAppealWindowClosed { violation, .. }
            | DomainError::SecondAppealWindowClosed { violation, .. } => {
                Refusal::precondition("APPEAL_WINDOW_CLOSED", &violation, why)
            }
            DomainError::AppealPending(v) => Refusal::precondition("APPEAL_PENDING", &v, why),
            DomainError::NoAppealsLeft(v) => Refusal::precondition("NO_APPEALS_LEFT", &v, why),
            DomainError::AlreadyOverturned(v) => {
                Refusal::precondition("ALREADY_OVERTURNED", &v, why)
            }
            DomainError::NoPendingAppeal(v) => Refusal::precondition("NO_PENDING_APPEAL", &v, why),
            DomainError::PolicyInThePast { .. } => {
                Refusal::precondition("POLICY_IN_THE_PAST", "policy.effective_at", why)
            }
        }
    }
}

/// A shop's compliance record as the shared [`sellerdesk_core::Decider`]
/// shape; the policy history is what deciding reads besides it.
#[derive(Debug)]
pub struct Shop;

impl sellerdesk_core::Decider for Shop {
    type Command = Command;
    type Event = Event;
    type State = ShopState;
    type Context<'a> = PolicyHistory;
    type Error = DomainError;

    fn decide(
        command: &Command,
        state: &ShopState,
        policies: &PolicyHistory,
    ) -> Result<Vec<Event>, DomainError> {
        decide(command, state, policies)
    }

    fn evolve(state: &mut ShopState, event: &Event) {
        state.apply(event);
    }

    fn version(state: &ShopState) -> i64 {
        state.version
    }
}
