//! A shop's compliance record and the fold that builds it.
//!
//! The state holds facts (violations, appeals, measures, revocation) as of the
//! last applied instant. Expiry is not an event: it is derived from time by
//! [`ShopState::advance`] (R-CMP-2) and by [`ShopState::standing`] for any
//! later instant, which is why a past moment and now cost the same.

use super::{
    events::{AppealOutcome, AppliedMeasure, Event},
    rules, Instant, PolicyHistory,
};
use imbl::{OrdMap, Vector};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViolationStatus {
    Active,
    Expired { at: Instant },
    Overturned { at: Instant },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppealRecord {
    pub number: u32,
    pub filed_at: Instant,
    pub reason: String,
    pub attachments: Vec<String>,
    pub decision: Option<AppealDecision>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppealDecision {
    pub outcome: AppealOutcome,
    pub at: Instant,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViolationRecord {
    pub id: String,
    pub violation_type: String,
    pub points: u32,
    pub evidence: String,
    pub recorded_at: Instant,
    pub expires_at: Instant,
    /// Recording order within the shop (R-CMP-11: same-instant ties keep it).
    pub seq: u64,
    pub status: ViolationStatus,
    pub appeals: Vec<AppealRecord>,
}

impl ViolationRecord {
    pub fn pending_appeal(&self) -> Option<&AppealRecord> {
        self.appeals.iter().find(|a| a.decision.is_none())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasureRecord {
    pub applied: AppliedMeasure,
    pub caused_by: Option<String>,
    /// Set when the violation that caused it was overturned (R-CMP-8).
    pub cancelled_at: Option<Instant>,
}

/// Everything compliance-svc knows about one shop, as of `clock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ShopState {
    /// Stream version: how many events were folded.
    pub version: i64,
    /// The latest instant applied.
    pub clock: Option<Instant>,
    violations: OrdMap<String, ViolationRecord>,
    /// Ids in recording order.
    recorded: Vector<String>,
    /// Points that still count, by expiry: (expires_at, seq) -> (id, points).
    #[serde(with = "entries")]
    active: OrdMap<(Instant, u64), (String, u32)>,
    /// Sum of `active`.
    points: u32,
    revoked_at: Option<Instant>,
    measures: Vector<MeasureRecord>,
    /// The tier last announced with `TierChanged`.
    pub announced_tier: u32,
}

/// A shop's standing at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub as_of: Instant,
    pub points: u32,
    pub tier: u32,
    pub revoked: bool,
    pub revoked_at: Option<Instant>,
    pub measures: Vec<MeasureRecord>,
    pub policy_version: u32,
    pub next_change_at: Option<Instant>,
}

/// Where a violation stands at an instant, for the health page (R-CMP-9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAt {
    Active,
    Expired,
    Overturned,
    /// Past 180 days, held by the revocation (R-CMP-4).
    Frozen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineAt {
    FirstAppeal(Instant),
    SecondAppeal(Instant),
    Expiry(Instant),
    AwaitingDecision,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViolationView {
    pub record: ViolationRecord,
    pub status: StatusAt,
    pub next_deadline: Option<DeadlineAt>,
}

pub fn initial_state() -> ShopState {
    ShopState::default()
}

/// Applies one event. Time first moves to the event's instant (expiring what
/// is due, unless rights are revoked), then the fact is recorded.
pub fn evolve(mut state: ShopState, event: &Event) -> ShopState {
    state.apply(event);
    state
}

impl Event {
    /// The instant the fact took effect.
    pub fn at(&self) -> Instant {
        match self {
            Event::ViolationRecorded { recorded_at, .. } => *recorded_at,
            Event::AppealFiled { filed_at, .. } => *filed_at,
            Event::AppealDecided { decided_at, .. } => *decided_at,
            Event::TierChanged { effective_at, .. } => *effective_at,
            Event::SellingRightsRevoked { revoked_at, .. } => *revoked_at,
            Event::SellingRightsRestored { restored_at, .. } => *restored_at,
        }
    }
}

impl ShopState {
    /// Applies one event in place (see [`evolve`]).
    pub fn apply(&mut self, event: &Event) {
        self.advance(event.at());
        self.version += 1;
        match event {
            Event::ViolationRecorded {
                violation_id,
                violation_type,
                points,
                evidence,
                recorded_at,
            } => self.apply_violation(ViolationRecord {
                id: violation_id.clone(),
                violation_type: violation_type.clone(),
                points: *points,
                evidence: evidence.clone(),
                recorded_at: *recorded_at,
                expires_at: *recorded_at + rules::point_validity(),
                seq: self.recorded.len() as u64,
                status: ViolationStatus::Active,
                appeals: Vec::new(),
            }),
            Event::AppealFiled {
                violation_id,
                appeal_number,
                reason,
                attachments,
                filed_at,
            } => {
                if let Some(v) = self.violations.get_mut(violation_id) {
                    v.appeals.push(AppealRecord {
                        number: *appeal_number,
                        filed_at: *filed_at,
                        reason: reason.clone(),
                        attachments: attachments.clone(),
                        decision: None,
                    });
                }
            }
            Event::AppealDecided {
                violation_id,
                outcome,
                note,
                decided_at,
                ..
            } => self.apply_decision(violation_id, *outcome, note, *decided_at),
            Event::TierChanged {
                to,
                caused_by,
                measures_applied,
                ..
            } => {
                self.announced_tier = *to;
                for m in measures_applied {
                    self.measures.push_back(MeasureRecord {
                        applied: m.clone(),
                        caused_by: caused_by.clone(),
                        cancelled_at: None,
                    });
                }
            }
            // Announcements: the revocation itself follows from the points.
            Event::SellingRightsRevoked { .. } | Event::SellingRightsRestored { .. } => {}
        }
    }

    /// Moves time to `to`: points past their 180 days stop counting
    /// (R-CMP-2, half-open per R-CMP-11), except while rights are revoked (R-CMP-4).
    pub fn advance(&mut self, to: Instant) {
        if self.clock.is_none_or(|c| c < to) {
            self.clock = Some(to);
        }
        if self.revoked_at.is_some() {
            return;
        }
        while let Some(((expires_at, seq), _)) = self.active.get_min().map(|(k, v)| (*k, v.clone()))
        {
            if expires_at > to {
                break;
            }
            if let Some((id, points)) = self.active.remove(&(expires_at, seq)) {
                self.points -= points;
                if let Some(v) = self.violations.get_mut(&id) {
                    v.status = ViolationStatus::Expired { at: expires_at };
                }
            }
        }
    }

    fn apply_violation(&mut self, record: ViolationRecord) {
        self.active.insert(
            (record.expires_at, record.seq),
            (record.id.clone(), record.points),
        );
        self.points += record.points;
        // R-CMP-3: revoked the moment a new violation brings the total to 48.
        if self.revoked_at.is_none() && self.points >= rules::REVOCATION_POINTS {
            self.revoked_at = Some(record.recorded_at);
        }
        self.recorded.push_back(record.id.clone());
        self.violations.insert(record.id.clone(), record);
    }

    fn apply_decision(&mut self, id: &str, outcome: AppealOutcome, note: &str, at: Instant) {
        let Some(v) = self.violations.get_mut(id) else {
            return;
        };
        if let Some(appeal) = v.appeals.iter_mut().find(|a| a.decision.is_none()) {
            appeal.decision = Some(AppealDecision {
                outcome,
                at,
                note: note.to_owned(),
            });
        }
        if outcome != AppealOutcome::Granted {
            return;
        }
        // R-CMP-8: the violation's points and the penalties it caused go.
        let was_counting = v.status == ViolationStatus::Active;
        v.status = ViolationStatus::Overturned { at };
        let key = (v.expires_at, v.seq);
        if was_counting && self.active.remove(&key).is_some() {
            self.points -= v.points;
        }
        for m in self.measures.iter_mut() {
            if m.caused_by.as_deref() == Some(id) && m.cancelled_at.is_none() {
                m.cancelled_at = Some(at);
            }
        }
        // R-CMP-8: below 48 rights come back, and overdue points expire at once.
        if self.revoked_at.is_some() && self.points < rules::REVOCATION_POINTS {
            self.revoked_at = None;
            self.advance(at);
        }
    }

    pub fn violation(&self, id: &str) -> Option<&ViolationRecord> {
        self.violations.get(id)
    }

    pub fn violation_count(&self) -> usize {
        self.recorded.len()
    }

    /// Points counting at `at` (>= the state's clock), and the next instant one
    /// expires.
    fn points_at(&self, at: Instant) -> (u32, Option<Instant>, Option<Instant>) {
        if self.revoked_at.is_some() {
            return (self.points, None, None);
        }
        let mut points = self.points;
        let mut last_expiry = None;
        for ((expires_at, _), (_, p)) in self.active.iter() {
            if *expires_at > at {
                return (points, Some(*expires_at), last_expiry);
            }
            points -= p;
            last_expiry = Some(*expires_at);
        }
        (points, None, last_expiry)
    }

    /// The instant the latest points expired at or before `at` (for announcing a
    /// tier change caused by time).
    pub fn last_expiry_at_or_before(&self, at: Instant) -> Option<Instant> {
        self.points_at(at).2
    }

    /// The standing at `at`, which must not be before the last folded event.
    /// The answer for `at` depends only on the events up to it (R-CMP-10).
    pub fn standing(&self, at: Instant, policies: &PolicyHistory) -> Standing {
        let (points, next_expiry, _) = self.points_at(at);
        let policy = policies.in_force(at);
        let tier = policy.tier_for(points);
        let measures: Vec<MeasureRecord> = self
            .measures
            .iter()
            .filter(|m| {
                m.cancelled_at.is_none()
                    && m.applied.started_at <= at
                    && match m.applied.ends_at {
                        Some(end) => at < end,
                        None => tier >= m.applied.tier,
                    }
            })
            .cloned()
            .collect();
        let next_measure_end = measures.iter().filter_map(|m| m.applied.ends_at).min();
        let next_change_at = match (next_expiry, next_measure_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Standing {
            as_of: at,
            points,
            tier,
            revoked: self.revoked_at.is_some(),
            revoked_at: self.revoked_at,
            measures,
            policy_version: policy.version,
            next_change_at,
        }
    }

    /// Every violation newest first, as it stands at `at` (R-CMP-9).
    pub fn health_page(&self, at: Instant) -> Vec<ViolationView> {
        self.recorded
            .iter()
            .rev()
            .filter_map(|id| self.violations.get(id))
            .map(|v| self.view(v, at))
            .collect()
    }

    /// One page of violations, newest first, starting `offset` from the newest.
    pub fn violations_page(&self, at: Instant, offset: usize, limit: usize) -> Vec<ViolationView> {
        let n = self.recorded.len();
        (0..n)
            .rev()
            .skip(offset)
            .take(limit)
            .filter_map(|i| self.violations.get(&self.recorded[i]))
            .map(|v| self.view(v, at))
            .collect()
    }

    pub fn view(&self, v: &ViolationRecord, at: Instant) -> ViolationView {
        let status = match v.status {
            ViolationStatus::Overturned { .. } => StatusAt::Overturned,
            ViolationStatus::Expired { .. } => StatusAt::Expired,
            ViolationStatus::Active if v.expires_at > at => StatusAt::Active,
            ViolationStatus::Active if self.revoked_at.is_some() => StatusAt::Frozen,
            ViolationStatus::Active => StatusAt::Expired,
        };
        let next_deadline = if v.pending_appeal().is_some() {
            Some(DeadlineAt::AwaitingDecision)
        } else if matches!(status, StatusAt::Overturned | StatusAt::Expired) {
            None
        } else {
            let first_deadline = v.recorded_at + rules::first_appeal_window();
            let second_deadline = match v.appeals.as_slice() {
                [only] => only
                    .decision
                    .as_ref()
                    .filter(|d| d.outcome == AppealOutcome::Rejected)
                    .map(|d| d.at + rules::second_appeal_window()),
                _ => None,
            };
            if v.appeals.is_empty() && at < first_deadline {
                Some(DeadlineAt::FirstAppeal(first_deadline))
            } else if let Some(d) = second_deadline.filter(|d| at < *d) {
                Some(DeadlineAt::SecondAppeal(d))
            } else if status == StatusAt::Active {
                Some(DeadlineAt::Expiry(v.expires_at))
            } else {
                None
            }
        };
        ViolationView {
            record: v.clone(),
            status,
            next_deadline,
        }
    }
}

/// JSON object keys must be strings; the expiry index is keyed by a tuple, so
/// snapshots store it as a list of entries.
mod entries {
    use imbl::OrdMap;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<K, V, S>(map: &OrdMap<K, V>, s: S) -> Result<S::Ok, S::Error>
    where
        K: Serialize + Ord + Clone,
        V: Serialize + Clone,
        S: Serializer,
    {
        s.collect_seq(map.iter())
    }

    pub(super) fn deserialize<'de, K, V, D>(d: D) -> Result<OrdMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord + Clone,
        V: Deserialize<'de> + Clone,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}
