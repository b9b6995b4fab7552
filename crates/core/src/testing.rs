//! given/when/then for deciders: the one harness every domain's tests use.
//!
//! ```ignore
//! given::<Ads>(&[]).when(&place("o1")).then(|events| assert_eq!(events.len(), 1));
//! given::<Ads>(&revoked).when(&place("o1")).then_refused("SELLING_RIGHTS_REVOKED");
//! ```

use crate::{Decider, Refusal, Snapshotted};

/// A state folded from events, with the context deciding reads.
pub struct Given<'c, D: Decider> {
    pub state: D::State,
    context: D::Context<'c>,
}

impl<D: Decider> std::fmt::Debug for Given<'_, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Given { .. }")
    }
}

/// The state after `events`, for a decider whose context is `()`.
pub fn given<D>(events: &[D::Event]) -> Given<'static, D>
where
    D: for<'a> Decider<Context<'a> = ()>,
{
    given_with::<D>((), events)
}

/// The state after `events`, deciding with `context`.
pub fn given_with<'c, D: Decider>(context: D::Context<'c>, events: &[D::Event]) -> Given<'c, D> {
    let mut state = D::State::default();
    for e in events {
        D::evolve(&mut state, e);
    }
    Given { state, context }
}

impl<'c, D: Decider> Given<'c, D> {
    /// What deciding reads besides the state.
    pub fn context(&self) -> &D::Context<'c> {
        &self.context
    }

    /// Changes what deciding reads (a limit a test lowers).
    pub fn context_mut(&mut self) -> &mut D::Context<'c> {
        &mut self.context
    }

    /// Decides `command` on the state; what it caused is folded in, so
    /// `when` can be chained through a scenario.
    pub fn when(&mut self, command: &D::Command) -> Then<D> {
        let outcome = D::decide(command, &self.state, &self.context);
        if let Ok(events) = &outcome {
            for e in events {
                D::evolve(&mut self.state, e);
            }
        }
        Then { outcome }
    }
}

/// Checks that `state` comes back unchanged from the snapshot the command
/// path keeps of it: a field that does not survive would give a state loaded
/// from a snapshot another meaning than the same state folded from the log.
/// A domain's harness calls it on every state its tests build.
pub fn survives_snapshot<S>(state: &S)
where
    S: Snapshotted + PartialEq + std::fmt::Debug,
{
    let body = serde_json::to_string(state).expect("the state serializes");
    let back: S = serde_json::from_str(&body).expect("the snapshot reads back");
    assert_eq!(
        &back, state,
        "the state changed through its snapshot: {body}"
    );
}

/// The field names a value is stored with, in order: a test that lists them
/// beside a state's [`Snapshotted::SHAPE`] fails when a field is added,
/// removed or renamed, so the shape is raised with it (serde reads a missing
/// `Option` field as `None`, so an old snapshot would not fail to read).
pub fn stored_fields(value: &impl serde::Serialize) -> Vec<String> {
    match serde_json::to_value(value).expect("the value serializes") {
        serde_json::Value::Object(fields) => fields.keys().cloned().collect(),
        other => panic!("not a struct: {other}"),
    }
}

/// What one command did.
#[must_use = "a `when` is checked with `then`, `then_refused` or `events`"]
pub struct Then<D: Decider> {
    pub outcome: Result<Vec<D::Event>, D::Error>,
}

impl<D: Decider> std::fmt::Debug for Then<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            Ok(events) => write!(f, "Then(Ok: {} events)", events.len()),
            Err(r) => write!(f, "Then(Err: {r:?})"),
        }
    }
}

impl<D: Decider> Then<D> {
    /// The events, failing the test with the refusal if there is one.
    pub fn events(self) -> Vec<D::Event> {
        match self.outcome {
            Ok(events) => events,
            Err(r) => panic!("expected events, the command was refused: {r:?}"),
        }
    }

    /// Checks the events.
    pub fn then(self, check: impl FnOnce(&[D::Event])) -> Vec<D::Event> {
        let events = self.events();
        check(&events);
        events
    }

    /// The command was a no-op (a retry).
    pub fn then_nothing(self) {
        let events = self.events();
        assert!(
            events.is_empty(),
            "expected no events, got {}",
            events.len()
        );
    }

    /// Refused, named by its precondition reason, its gRPC code, or (for
    /// invalid input) one of the fields it names; returns the domain's error.
    pub fn then_refused(self, name: &str) -> D::Error {
        match self.outcome {
            Ok(events) => panic!("expected a refusal {name}, got {} events", events.len()),
            Err(e) => {
                let r: Refusal = e.clone().into();
                assert!(
                    r.code() == name || r.names().iter().any(|n| n == name),
                    "expected refusal {name}, got {r:?}"
                );
                e
            }
        }
    }
}
