//! A shop's compliance record and the fold that builds it.
//!
//! The state holds facts (violations, appeals, measures, revocation) as of the
//! last applied instant. Expiry is not an event: it is derived from time by
//! [`ShopState::advance`] (R-CMP-2) and by [`ShopState::standing`] for any
//! later instant, which is why a past moment and now cost the same.

use super::{
    events::{AppealOutcome, AppliedMeasure, Event, TierChangeReason},
    rules, Instant, PolicyHistory,
};
use imbl::Vector;
use sellerdesk_core::instant;
use serde::{Deserialize, Serialize};
use std::{
    collections::HashMap,
    hash::{BuildHasher, BuildHasherDefault},
    sync::{Arc, Mutex},
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViolationStatus {
    Active,
    Expired {
        #[serde(with = "instant")]
        at: Instant,
    },
    Overturned {
        #[serde(with = "instant")]
        at: Instant,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppealRecord {
    pub number: u32,
    #[serde(with = "instant")]
    pub filed_at: Instant,
    pub reason: String,
    pub attachments: Vec<String>,
    pub decision: Option<AppealDecision>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppealDecision {
    pub outcome: AppealOutcome,
    #[serde(with = "instant")]
    pub at: Instant,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViolationRecord {
    /// Shared with the id index, so recording a violation copies its id once.
    pub id: Arc<str>,
    /// Interned: a shop has a handful of distinct types.
    pub violation_type: Arc<str>,
    pub points: u32,
    /// Left out of snapshots when empty: a long history is mostly such
    /// fields, and a smaller snapshot is faster to write and read.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub evidence: String,
    #[serde(with = "instant")]
    pub recorded_at: Instant,
    #[serde(with = "instant")]
    pub expires_at: Instant,
    /// Recording order within the shop (R-CMP-11: same-instant ties keep it).
    pub seq: u64,
    pub status: ViolationStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
#[serde(from = "ShopStateData", into = "ShopStateData")]
pub struct ShopState {
    /// Stream version: how many events were folded.
    pub version: i64,
    /// The latest instant applied.
    pub clock: Option<Instant>,
    /// Every violation, in recording order (index = `seq`). Persistent
    /// structures: cloning a state for an as-of checkpoint shares the data.
    violations: Vector<Arc<ViolationRecord>>,
    /// Violation id -> seq, shared by every version of this shop's state,
    /// built lazily (see [`ShopState::seq_of`]).
    index: IdIndex,
    /// How many of this state's violations, from the first, are in `index`.
    indexed: IndexedUpTo,
    /// Violations below this seq are no longer active (expired or
    /// overturned). Recordings are time-ordered, so expiry order is recording
    /// order and the expiry queue is just this cursor (R-CMP-2).
    expiry_cursor: u32,
    /// `expires_at` of the violation at the cursor: most events expire
    /// nothing, and this makes that a single comparison.
    next_expiry: Option<Instant>,
    /// Sum of the points of active violations.
    points: u32,
    revoked_at: Option<Instant>,
    measures: Vector<MeasureRecord>,
    /// The tier last announced with `TierChanged`.
    pub announced_tier: u32,
}

/// The stored form of [`ShopState`]: its facts, without the derived index.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ShopStateData {
    /// Stream version: how many events were folded.
    version: i64,
    /// The latest instant applied.
    clock: Option<Instant>,
    /// Every violation, in recording order (index = `seq`), in the compact
    /// stored form.
    #[serde(with = "super::stored")]
    violations: Vector<Arc<ViolationRecord>>,
    /// Violations below this seq are no longer active (expired or
    /// overturned). Recordings are time-ordered, so expiry order is recording
    /// order and the expiry queue is just this cursor (R-CMP-2).
    expiry_cursor: u32,
    /// Sum of the points of active violations.
    points: u32,
    revoked_at: Option<Instant>,
    measures: Vector<MeasureRecord>,
    /// The tier last announced with `TierChanged`.
    announced_tier: u32,
}

impl From<ShopStateData> for ShopState {
    fn from(d: ShopStateData) -> Self {
        let next_expiry = d
            .violations
            .get(d.expiry_cursor as usize)
            .map(|v| v.expires_at);
        Self {
            version: d.version,
            clock: d.clock,
            violations: d.violations,
            index: IdIndex::default(),
            indexed: IndexedUpTo::default(),
            expiry_cursor: d.expiry_cursor,
            next_expiry,
            points: d.points,
            revoked_at: d.revoked_at,
            measures: d.measures,
            announced_tier: d.announced_tier,
        }
    }
}

impl From<ShopState> for ShopStateData {
    fn from(s: ShopState) -> Self {
        Self {
            version: s.version,
            clock: s.clock,
            violations: s.violations,
            expiry_cursor: s.expiry_cursor,
            points: s.points,
            revoked_at: s.revoked_at,
            measures: s.measures,
            announced_tier: s.announced_tier,
        }
    }
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
            } => {
                let id: Arc<str> = Arc::from(violation_id.as_str());
                let seq = self.violations.len() as u64;
                // Shops repeat types: the previous record's copy is usually it.
                let previous = self
                    .violations
                    .last()
                    .map(|v| &v.violation_type)
                    .filter(|t| ***t == **violation_type)
                    .cloned();
                let violation_type = match previous {
                    Some(shared) => shared,
                    None => self.index.intern(violation_type),
                };
                self.apply_violation(ViolationRecord {
                    id,
                    violation_type,
                    points: *points,
                    evidence: evidence.clone(),
                    recorded_at: *recorded_at,
                    expires_at: *recorded_at + rules::point_validity(),
                    seq,
                    status: ViolationStatus::Active,
                    appeals: Vec::new(),
                })
            }
            Event::AppealFiled {
                violation_id,
                appeal_number,
                reason,
                attachments,
                filed_at,
            } => {
                if let Some(v) = self.violation_mut(violation_id) {
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
            // R-CMP-3, R-CMP-13: the decider revokes at the threshold of the
            // policy in force (the tier that deactivates); the fold records it.
            Event::SellingRightsRevoked { revoked_at, .. } => {
                if self.revoked_at.is_none() {
                    self.revoked_at = Some(*revoked_at);
                }
            }
            // R-CMP-8: rights come back, and overdue points expire at once.
            Event::SellingRightsRestored { restored_at, .. } => {
                self.revoked_at = None;
                self.advance(*restored_at);
            }
        }
    }

    /// Moves time to `to`: points past their 180 days stop counting
    /// (R-CMP-2, half-open per R-CMP-11), except while rights are revoked (R-CMP-4).
    pub fn advance(&mut self, to: Instant) {
        if self.clock.is_none_or(|c| c < to) {
            self.clock = Some(to);
        }
        if self.revoked_at.is_some() || self.next_expiry.is_none_or(|e| e > to) {
            return;
        }
        let mut cursor = self.expiry_cursor as usize;
        while let Some(v) = self.violations.get(cursor) {
            if v.expires_at > to {
                break;
            }
            if v.status == ViolationStatus::Active {
                let (points, expires_at) = (v.points, v.expires_at);
                self.points -= points;
                if let Some(v) = self.violations.get_mut(cursor).map(Arc::make_mut) {
                    v.status = ViolationStatus::Expired { at: expires_at };
                }
            }
            cursor += 1;
        }
        self.expiry_cursor = cursor as u32;
        self.next_expiry = self.violations.get(cursor).map(|v| v.expires_at);
    }

    fn apply_violation(&mut self, record: ViolationRecord) {
        debug_assert!(
            self.violations
                .last()
                .is_none_or(|l| l.expires_at <= record.expires_at),
            "recordings are time-ordered (the app never moves a stream's clock backwards)"
        );
        self.points += record.points;
        if self.next_expiry.is_none() {
            // The cursor is at the end: this violation is the next to expire.
            self.next_expiry = Some(record.expires_at);
        }
        self.violations.push_back(Arc::new(record));
    }

    fn apply_decision(&mut self, id: &str, outcome: AppealOutcome, note: &str, at: Instant) {
        let Some(v) = self.violation_mut(id) else {
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
        if was_counting {
            self.points -= v.points;
        }
        for m in self.measures.iter_mut() {
            if m.caused_by.as_deref() == Some(id) && m.cancelled_at.is_none() {
                m.cancelled_at = Some(at);
            }
        }
    }

    pub fn violation(&self, id: &str) -> Option<&ViolationRecord> {
        let seq = self.seq_of(id)?;
        self.violations.get(seq).map(|v| &**v)
    }

    fn violation_mut(&mut self, id: &str) -> Option<&mut ViolationRecord> {
        let seq = self.seq_of(id)?;
        self.violations.get_mut(seq).map(Arc::make_mut)
    }

    /// Where the violation `id` is. Appeals name recent violations (R-CMP-7:
    /// 30 days, then 15 after a rejection), so the newest records are looked
    /// at first, and recording a violation indexes nothing: the index catches
    /// up with this state's records only when a lookup reaches past them
    /// (the fold does no index work, a fifth of its time before).
    ///
    /// The index may know ids that this version of the state does not
    /// (recorded later, or by a discarded fork): only an entry that points at
    /// a violation with that very id counts.
    fn seq_of(&self, id: &str) -> Option<usize> {
        let len = self.violations.len();
        if let Some(back) = self
            .violations
            .iter()
            .rev()
            .take(RECENT_SCAN)
            .position(|v| &*v.id == id)
        {
            return Some(len - 1 - back);
        }
        if len <= RECENT_SCAN {
            return None;
        }
        let indexed = self.indexed.get();
        if indexed < len {
            self.index
                .insert_all(self.violations.iter().skip(indexed).map(|v| &v.id), indexed);
            self.indexed.raise(len);
        }
        let holds = |seq: u32| {
            self.violations
                .get(seq as usize)
                .is_some_and(|v| &*v.id == id)
        };
        self.index.find(id, holds).map(|seq| seq as usize)
    }

    pub fn violation_count(&self) -> usize {
        self.violations.len()
    }

    /// Points counting at `at` (>= the state's clock), and the next instant one
    /// expires.
    fn points_at(&self, at: Instant) -> (u32, Option<Instant>) {
        if self.revoked_at.is_some() {
            return (self.points, None);
        }
        let mut points = self.points;
        for v in self.violations.iter().skip(self.expiry_cursor as usize) {
            if v.status != ViolationStatus::Active {
                continue;
            }
            if v.expires_at > at {
                return (points, Some(v.expires_at));
            }
            points -= v.points;
        }
        (points, None)
    }

    /// When time alone last moved the tier, in `(last event, at]`, and what
    /// moved it (R-CMP-2, R-CMP-5): points expiring, or a published policy
    /// taking effect with other thresholds. `None` when time has not moved
    /// it. At an instant where both happen, the policy is named: under the
    /// old thresholds the points alone would have been announced already.
    pub fn tier_moved_by_time(
        &self,
        at: Instant,
        policies: &PolicyHistory,
    ) -> Option<(Instant, TierChangeReason)> {
        let since = self.clock?;
        let mut points = self.points_at(since).0;
        let mut tier = policies.in_force(since).tier_for(points);
        // R-CMP-4: nothing expires while rights are revoked.
        let mut expiring = self
            .violations
            .iter()
            .skip(if self.revoked_at.is_some() {
                self.violations.len()
            } else {
                self.expiry_cursor as usize
            })
            .filter(|v| v.status == ViolationStatus::Active)
            .map(|v| (v.expires_at, v.points))
            .take_while(|(expires_at, _)| *expires_at <= at)
            .filter(|(expires_at, _)| *expires_at > since)
            .peekable();
        let mut taking_effect = policies.taking_effect(since, Some(at)).peekable();
        let mut moved = None;
        loop {
            let instant = match (expiring.peek(), taking_effect.peek()) {
                (Some((e, _)), Some(p)) => (*e).min(*p),
                (Some((e, _)), None) => *e,
                (None, Some(p)) => *p,
                (None, None) => break,
            };
            while let Some((_, gone)) = expiring.next_if(|(e, _)| *e == instant) {
                points = points.saturating_sub(gone);
            }
            let by_policy = taking_effect.next_if_eq(&instant).is_some();
            let now = policies.in_force(instant).tier_for(points);
            if now != tier {
                let reason = if by_policy {
                    TierChangeReason::Policy
                } else {
                    TierChangeReason::Expiry
                };
                moved = Some((instant, reason));
                tier = now;
            }
        }
        moved
    }

    /// The first instant after `at` at which a published policy taking
    /// effect moves this shop's tier (R-CMP-5), with the points it will
    /// have then.
    fn next_policy_move(&self, at: Instant, policies: &PolicyHistory) -> Option<Instant> {
        policies.taking_effect(at, None).find(|&p| {
            let points = self.points_at(p).0;
            policies.in_force_before(p).tier_for(points) != policies.in_force(p).tier_for(points)
        })
    }

    /// The standing at `at`, which must not be before the last folded event.
    /// The answer for `at` depends only on the events up to it (R-CMP-10).
    pub fn standing(&self, at: Instant, policies: &PolicyHistory) -> Standing {
        let (points, next_expiry) = self.points_at(at);
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
        let next_change_at = [
            next_expiry,
            next_measure_end,
            self.next_policy_move(at, policies),
        ]
        .into_iter()
        .flatten()
        .min();
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

    /// When time alone next gives this shop something to announce (R-CMP-2,
    /// R-CMP-5): at once if the standing's tier is not the last one
    /// announced (time passed while nobody kept it), otherwise at the
    /// standing's next change, and never when it has none.
    pub fn announcement_due(&self, standing: &Standing) -> Option<Instant> {
        if standing.tier != self.announced_tier {
            Some(standing.as_of)
        } else {
            standing.next_change_at
        }
    }

    /// Every violation newest first, as it stands at `at` (R-CMP-9).
    pub fn health_page(&self, at: Instant) -> Vec<ViolationView> {
        self.violations
            .iter()
            .rev()
            .map(|v| self.view(v, at))
            .collect()
    }

    /// One page of violations, newest first, starting `offset` from the newest.
    pub fn violations_page(&self, at: Instant, offset: usize, limit: usize) -> Vec<ViolationView> {
        self.violations
            .iter()
            .rev()
            .skip(offset)
            .take(limit)
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

/// An append-only map from violation id to seq. Ids are never removed or
/// remapped within a shop, so one index serves the current state and every
/// as-of checkpoint cloned from it (cloning a state must stay cheap).
#[derive(Debug, Clone, Default)]
struct IdIndex(Arc<Mutex<Indexes>>);

#[derive(Debug, Default)]
struct Indexes {
    /// Hash of the id -> seq. Keyed by the hash alone, so growing the map
    /// rehashes integers rather than strings; the violation at the seq
    /// confirms the id on every lookup.
    ids: HashMap<u64, u32, BuildHasherDefault<Prehashed>>,
    /// Ids whose hash was already taken (a collision, or an id that a
    /// discarded fork of the state recorded at another seq), with every seq
    /// they were indexed at.
    overflow: HashMap<Arc<str>, Vec<u32>, foldhash::fast::RandomState>,
    hasher: foldhash::fast::RandomState,
    types: std::collections::HashSet<Arc<str>, foldhash::fast::RandomState>,
}

impl Indexes {
    fn insert(&mut self, id: &Arc<str>, seq: u32) {
        let hash = self.hasher.hash_one(&**id);
        match self.ids.entry(hash) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(seq);
            }
            std::collections::hash_map::Entry::Occupied(o) if *o.get() == seq => {}
            std::collections::hash_map::Entry::Occupied(_) => {
                let seqs = self.overflow.entry(id.clone()).or_default();
                if !seqs.contains(&seq) {
                    seqs.push(seq);
                }
            }
        }
    }
}

impl IdIndex {
    /// Indexes `ids`, the first of which is at seq `first`.
    fn insert_all<'a>(&self, ids: impl Iterator<Item = &'a Arc<str>>, first: usize) {
        let mut indexes = self.0.lock().expect("index lock");
        for (k, id) in ids.enumerate() {
            indexes.insert(id, (first + k) as u32);
        }
    }

    /// The seq of `id`, where `holds(seq)` confirms that the violation at
    /// that seq is the one with this id.
    fn find(&self, id: &str, holds: impl Fn(u32) -> bool) -> Option<u32> {
        let indexes = self.0.lock().expect("index lock");
        let hash = indexes.hasher.hash_one(id);
        if let Some(&seq) = indexes.ids.get(&hash) {
            if holds(seq) {
                return Some(seq);
            }
        }
        indexes
            .overflow
            .get(id)
            .and_then(|seqs| seqs.iter().copied().find(|&seq| holds(seq)))
    }

    /// The shared copy of a violation type's name.
    fn intern(&self, type_name: &str) -> Arc<str> {
        let mut indexes = self.0.lock().expect("index lock");
        if let Some(found) = indexes.types.get(type_name) {
            return found.clone();
        }
        let name: Arc<str> = Arc::from(type_name);
        indexes.types.insert(name.clone());
        name
    }
}

/// Records the newest look-up scans before it uses the index.
const RECENT_SCAN: usize = 64;

/// A state's high-water mark in the shared index. Raised by lookups, which
/// take `&self` (a state may be read from several tasks); derived data, so
/// it neither compares nor serialises.
#[derive(Debug, Default)]
struct IndexedUpTo(std::sync::atomic::AtomicUsize);

impl IndexedUpTo {
    fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
    fn raise(&self, to: usize) {
        self.0.fetch_max(to, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Clone for IndexedUpTo {
    fn clone(&self) -> Self {
        Self(std::sync::atomic::AtomicUsize::new(self.get()))
    }
}

impl PartialEq for IndexedUpTo {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for IndexedUpTo {}

/// The ids map's keys are already hashes.
#[derive(Debug, Default)]
struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; fold anything else rather than panic.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Derived data: two states are equal when their facts are.
impl PartialEq for IdIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for IdIndex {}
