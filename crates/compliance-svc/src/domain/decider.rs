//! Commands and the decisions they lead to. Pure: the state, the policy
//! history and the command (with its instant) in, events or a refusal out.

use super::{
    events::{AppealOutcome, AppliedMeasure, Event, PolicyPublished, TierChangeReason},
    policy::DEACTIVATE,
    rules, DomainError, Instant, Policy, PolicyHistory, ShopState,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    RecordViolation {
        violation_id: String,
        violation_type: String,
        /// `None`: the policy's points for the type (R-CMP-1).
        points: Option<u32>,
        evidence: String,
        at: Instant,
    },
    FileAppeal {
        violation_id: String,
        reason: String,
        attachments: Vec<String>,
        at: Instant,
    },
    DecideAppeal {
        violation_id: String,
        outcome: Option<AppealOutcome>,
        note: String,
        at: Instant,
    },
    /// Time passed: announce a tier that expiry changed (the scheduler sends it).
    ObserveTime { at: Instant },
}

pub fn decide(
    command: &Command,
    state: &ShopState,
    policies: &PolicyHistory,
) -> Result<Vec<Event>, DomainError> {
    match command {
        Command::RecordViolation {
            violation_id,
            violation_type,
            points,
            evidence,
            at,
        } => record_violation(
            state,
            policies,
            violation_id,
            violation_type,
            *points,
            evidence,
            *at,
        ),
        Command::FileAppeal {
            violation_id,
            reason,
            attachments,
            at,
        } => file_appeal(state, violation_id, reason, attachments, *at),
        Command::DecideAppeal {
            violation_id,
            outcome,
            note,
            at,
        } => decide_appeal(state, policies, violation_id, *outcome, note, *at),
        Command::ObserveTime { at } => observe_time(state, policies, *at),
    }
}

fn check_id(problems: &mut Vec<(&'static str, String)>, id: &str) {
    if id.trim().is_empty() || id.chars().count() > rules::MAX_ID_LEN {
        problems.push((
            "violation_id",
            format!("1 to {} characters", rules::MAX_ID_LEN),
        ));
    }
}

fn record_violation(
    state: &ShopState,
    policies: &PolicyHistory,
    id: &str,
    violation_type: &str,
    points: Option<u32>,
    evidence: &str,
    at: Instant,
) -> Result<Vec<Event>, DomainError> {
    let mut problems = Vec::new();
    check_id(&mut problems, id);
    if violation_type.chars().count() > rules::MAX_TYPE_LEN {
        problems.push((
            "violation_type",
            format!("at most {} characters", rules::MAX_TYPE_LEN),
        ));
    }
    if evidence.chars().count() > rules::MAX_TEXT_LEN {
        problems.push((
            "evidence",
            format!("at most {} characters", rules::MAX_TEXT_LEN),
        ));
    }
    // R-CMP-1: explicit points, or the policy's for the type.
    let points = match points {
        Some(p) if (rules::MIN_POINTS..=rules::MAX_POINTS).contains(&p) => Some(p),
        Some(p) => {
            problems.push(("points", format!("must be 1 to 48, got {p}")));
            None
        }
        None => match policies.in_force(at).violation_types.get(violation_type) {
            Some(p) => Some(*p),
            None => {
                problems.push((
                    "points",
                    format!("no points given and the policy has none for violation type {violation_type:?}"),
                ));
                None
            }
        },
    };
    if !problems.is_empty() {
        return Err(DomainError::Invalid(problems));
    }
    let points = points.expect("checked above");
    // R-CMP-12: the same id again is idempotent with the same content.
    if let Some(existing) = state.violation(id) {
        return if existing.points == points
            && *existing.violation_type == *violation_type
            && existing.evidence == evidence
        {
            Ok(Vec::new())
        } else {
            Err(DomainError::ViolationConflict(id.to_owned()))
        };
    }
    let recorded = Event::ViolationRecorded {
        violation_id: id.to_owned(),
        violation_type: violation_type.to_owned(),
        points,
        evidence: evidence.to_owned(),
        recorded_at: at,
    };
    Ok(with_consequences(
        state,
        policies,
        recorded,
        at,
        TierChangeReason::Violation,
        id,
    ))
}

fn file_appeal(
    state: &ShopState,
    id: &str,
    reason: &str,
    attachments: &[String],
    at: Instant,
) -> Result<Vec<Event>, DomainError> {
    let mut problems = Vec::new();
    check_id(&mut problems, id);
    if reason.chars().count() > rules::MAX_TEXT_LEN {
        problems.push((
            "reason",
            format!("at most {} characters", rules::MAX_TEXT_LEN),
        ));
    }
    if attachments.len() > rules::MAX_ATTACHMENTS {
        problems.push((
            "attachments",
            format!("at most {} references", rules::MAX_ATTACHMENTS),
        ));
    }
    if attachments
        .iter()
        .any(|a| a.is_empty() || a.chars().count() > rules::MAX_ATTACHMENT_LEN)
    {
        problems.push((
            "attachments",
            format!("each 1 to {} characters", rules::MAX_ATTACHMENT_LEN),
        ));
    }
    if !problems.is_empty() {
        return Err(DomainError::Invalid(problems));
    }
    // R-CMP-6: an appeal names one violation of this shop.
    let v = state
        .violation(id)
        .ok_or_else(|| DomainError::ViolationNotFound(id.to_owned()))?;
    if matches!(v.status, super::state::ViolationStatus::Overturned { .. }) {
        return Err(DomainError::AlreadyOverturned(id.to_owned()));
    }
    if v.pending_appeal().is_some() {
        return Err(DomainError::AppealPending(id.to_owned()));
    }
    // R-CMP-7 with R-CMP-11's half-open windows.
    match v.appeals.as_slice() {
        [] => {
            let deadline = v.recorded_at + rules::first_appeal_window();
            if at >= deadline {
                return Err(DomainError::FirstAppealWindowClosed {
                    violation: id.to_owned(),
                    deadline,
                });
            }
        }
        [first] => {
            // Not pending and not granted (checked above): rejected.
            let rejected_at = first
                .decision
                .as_ref()
                .map(|d| d.at)
                .unwrap_or(first.filed_at);
            let deadline = rejected_at + rules::second_appeal_window();
            if at >= deadline {
                return Err(DomainError::SecondAppealWindowClosed {
                    violation: id.to_owned(),
                    deadline,
                });
            }
        }
        _ => return Err(DomainError::NoAppealsLeft(id.to_owned())),
    }
    debug_assert!(v.appeals.len() < rules::MAX_APPEALS);
    Ok(vec![Event::AppealFiled {
        violation_id: id.to_owned(),
        appeal_number: v.appeals.len() as u32 + 1,
        reason: reason.to_owned(),
        attachments: attachments.to_vec(),
        filed_at: at,
    }])
}

fn decide_appeal(
    state: &ShopState,
    policies: &PolicyHistory,
    id: &str,
    outcome: Option<AppealOutcome>,
    note: &str,
    at: Instant,
) -> Result<Vec<Event>, DomainError> {
    let mut problems = Vec::new();
    check_id(&mut problems, id);
    if outcome.is_none() {
        problems.push(("outcome", "granted or rejected".to_owned()));
    }
    if note.chars().count() > rules::MAX_TEXT_LEN {
        problems.push((
            "note",
            format!("at most {} characters", rules::MAX_TEXT_LEN),
        ));
    }
    if !problems.is_empty() {
        return Err(DomainError::Invalid(problems));
    }
    let outcome = outcome.expect("checked above");
    let v = state
        .violation(id)
        .ok_or_else(|| DomainError::ViolationNotFound(id.to_owned()))?;
    let pending = v
        .pending_appeal()
        .ok_or_else(|| DomainError::NoPendingAppeal(id.to_owned()))?;
    let decided = Event::AppealDecided {
        violation_id: id.to_owned(),
        appeal_number: pending.number,
        outcome,
        note: note.to_owned(),
        decided_at: at,
    };
    if outcome == AppealOutcome::Rejected {
        return Ok(vec![decided]);
    }
    Ok(with_consequences(
        state,
        policies,
        decided,
        at,
        TierChangeReason::Appeal,
        id,
    ))
}

fn observe_time(
    state: &ShopState,
    policies: &PolicyHistory,
    at: Instant,
) -> Result<Vec<Event>, DomainError> {
    let now = state.standing(at, policies);
    if now.tier == state.announced_tier {
        return Ok(Vec::new());
    }
    let (effective_at, reason) = state
        .tier_moved_by_time(at, policies)
        .unwrap_or((at, TierChangeReason::Expiry));
    Ok(vec![Event::TierChanged {
        from: state.announced_tier,
        to: now.tier,
        points: now.points,
        reason,
        effective_at,
        caused_by: None,
        // R-CMP-5: expiry only lowers the tier, but a policy with lower
        // thresholds raises it, and the raised tiers' measures apply from
        // the moment it took effect. All but deactivation: R-CMP-3 revokes
        // rights when a new violation reaches that tier, never time alone.
        measures_applied: measures_crossed(
            policies.in_force(at),
            state.announced_tier,
            now.tier,
            effective_at,
        )
        .into_iter()
        .filter(|m| m.measure.code != DEACTIVATE)
        .collect(),
    }])
}

/// The measures of every tier crossed upwards from `from` to `to`, started
/// at `at` (R-CMP-5).
fn measures_crossed(policy: &Policy, from: u32, to: u32, at: Instant) -> Vec<AppliedMeasure> {
    policy
        .tiers
        .iter()
        .filter(|t| t.level > from && t.level <= to)
        .flat_map(|t| {
            t.measures.iter().map(move |m| AppliedMeasure {
                tier: t.level,
                measure: m.clone(),
                started_at: at,
                ends_at: m.ends_at(at),
            })
        })
        .collect()
}

/// The fact, then what it changes: a tier announcement with the measures of
/// every threshold crossed upwards (R-CMP-5), and revocation or restoration of
/// selling rights (R-CMP-3, R-CMP-8).
fn with_consequences(
    state: &ShopState,
    policies: &PolicyHistory,
    fact: Event,
    at: Instant,
    reason: TierChangeReason,
    caused_by: &str,
) -> Vec<Event> {
    let before = state.standing(at, policies);
    let mut next = state.clone();
    next.apply(&fact);
    // R-CMP-3, R-CMP-8, R-CMP-13: the policy in force says at how many points
    // rights go (its deactivating tier); a new violation that reaches it
    // revokes, a granted appeal that falls below it restores.
    let revoking = policies.in_force(at).revocation_points();
    let points = next.standing(at, policies).points;
    let rights = match &fact {
        Event::ViolationRecorded { .. }
            if !before.revoked && revoking.is_some_and(|r| points >= r) =>
        {
            Some(Event::SellingRightsRevoked {
                points,
                caused_by: caused_by.to_owned(),
                revoked_at: at,
            })
        }
        Event::AppealDecided {
            outcome: AppealOutcome::Granted,
            ..
        } if before.revoked && revoking.is_none_or(|r| points < r) => {
            Some(Event::SellingRightsRestored {
                points,
                caused_by: caused_by.to_owned(),
                restored_at: at,
            })
        }
        _ => None,
    };
    let rights = rights.map(|mut r| {
        next.apply(&r);
        // Restoring lets overdue points expire at once: the event says what is left.
        if let Event::SellingRightsRestored { points, .. } = &mut r {
            *points = next.standing(at, policies).points;
        }
        r
    });
    let after = next.standing(at, policies);
    let mut events = vec![fact];
    if after.tier != state.announced_tier || after.tier != before.tier {
        // A tier that a policy raised but nobody announced yet was never
        // applied either: its measures apply now with the rest.
        let measures_applied = measures_crossed(
            policies.in_force(at),
            before.tier.min(state.announced_tier),
            after.tier,
            at,
        );
        events.push(Event::TierChanged {
            from: state.announced_tier,
            to: after.tier,
            points: after.points,
            reason,
            effective_at: at,
            caused_by: Some(caused_by.to_owned()),
            measures_applied,
        });
    }
    events.extend(rights);
    events
}

/// Publishing a policy (R-CMP-5): valid, and never rewriting the past, so that
/// an answer about a past moment never changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishPolicy {
    pub policy: Policy,
    pub at: Instant,
}

pub fn decide_policy(
    command: &PublishPolicy,
    history: &PolicyHistory,
) -> Result<PolicyPublished, DomainError> {
    let problems = command.policy.problems();
    if !problems.is_empty() {
        return Err(DomainError::Invalid(problems));
    }
    // R-CMP-5: a policy takes effect within a year of its publication; one
    // dated far ahead would block every later publication until then.
    let latest_allowed = command
        .at
        .checked_add_signed(chrono::Duration::days(super::policy::MAX_POLICY_LEAD_DAYS))
        .unwrap_or(command.at);
    if command.policy.effective_at > latest_allowed {
        return Err(DomainError::Invalid(vec![(
            "policy.effective_at",
            format!(
                "at most {} days after publication",
                super::policy::MAX_POLICY_LEAD_DAYS
            ),
        )]));
    }
    let earliest = command.at.max(history.latest().effective_at);
    if command.policy.effective_at < earliest {
        return Err(DomainError::PolicyInThePast {
            effective_at: command.policy.effective_at,
            earliest,
        });
    }
    let mut policy = command.policy.clone();
    policy.version = history.latest().version + 1;
    Ok(PolicyPublished { policy })
}
