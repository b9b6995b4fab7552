//! R-CMP-13: the penalty measures compliance-svc applies, as the services
//! they concern keep them to refuse what a measure forbids. Pure: the state a
//! service folds from compliance-svc's published TierChanged events, and the
//! contract of that event as published (its JSON, not compliance-svc's code).
//!
//! Every TierChanged counts once, whatever order its deliveries come in
//! (several replicas share one durable consumer; a redelivery may come after
//! a newer event): the measures accumulate, the event with the newest log
//! position sets the tier, and an appeal's change lifts the measures its
//! violation caused, before or after they arrive.

use crate::refusal::Refusal;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A measure compliance-svc applied to a shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotedMeasure {
    pub tier: u32,
    /// The policy's measure code: `restrict_marketing`, `suspend_sales`,
    /// `deactivate` ...
    pub code: String,
    pub started_at: DateTime<Utc>,
    /// None: while the shop stays at `tier` or above.
    pub ends_at: Option<DateTime<Utc>>,
    /// The violation that caused it: a granted appeal against it lifts it.
    pub caused_by: Option<String>,
}

/// One TierChanged as published, reduced to what the other services read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierChange {
    pub to: u32,
    /// The violation a granted appeal overturned (R-CMP-8), if that is why
    /// the tier changed.
    pub overturned: Option<String>,
    pub measures: Vec<NotedMeasure>,
}

#[derive(Deserialize)]
struct Published {
    to: u32,
    reason: String,
    caused_by: Option<String>,
    #[serde(default)]
    measures_applied: Vec<PublishedMeasure>,
}

#[derive(Deserialize)]
struct PublishedMeasure {
    tier: u32,
    measure: PublishedCode,
    started_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct PublishedCode {
    code: String,
}

impl TierChange {
    /// Reads compliance-svc's TierChanged payload.
    pub fn from_payload(payload: &[u8]) -> Result<Self, String> {
        let p: Published =
            serde_json::from_slice(payload).map_err(|e| format!("TierChanged payload: {e}"))?;
        let caused_by = p.caused_by.clone();
        Ok(TierChange {
            to: p.to,
            overturned: (p.reason == "appeal").then_some(p.caused_by).flatten(),
            measures: p
                .measures_applied
                .into_iter()
                .map(|m| NotedMeasure {
                    tier: m.tier,
                    code: m.measure.code,
                    started_at: m.started_at,
                    ends_at: m.ends_at,
                    caused_by: caused_by.clone(),
                })
                .collect(),
        })
    }
}

/// What a service knows of a shop's penalties.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Penalties {
    pub tier: u32,
    /// The log position of the change that set `tier`.
    pub tier_position: i64,
    pub measures: Vec<NotedMeasure>,
    pub overturned: BTreeSet<String>,
    /// Positions of the changes counted.
    pub seen: BTreeSet<i64>,
}

impl Penalties {
    /// Whether the change at `position` was counted already (a redelivery).
    pub fn has_seen(&self, position: i64) -> bool {
        self.seen.contains(&position)
    }

    pub fn note(&mut self, change: &TierChange, position: i64) {
        if !self.seen.insert(position) {
            return;
        }
        self.measures.extend(change.measures.iter().cloned());
        self.overturned.extend(change.overturned.iter().cloned());
        if position > self.tier_position {
            self.tier = change.to;
            self.tier_position = position;
        }
    }

    /// The first measure in force at `at` among `codes`: started, not lifted
    /// by an appeal, and either within its days or (without an end) while
    /// the shop is still at its tier.
    pub fn in_force(&self, at: DateTime<Utc>, codes: &[&str]) -> Option<&NotedMeasure> {
        self.measures.iter().find(|m| {
            codes.contains(&m.code.as_str())
                && m.caused_by
                    .as_ref()
                    .is_none_or(|v| !self.overturned.contains(v))
                && m.started_at <= at
                && match m.ends_at {
                    Some(end) => at < end,
                    None => self.tier >= m.tier,
                }
        })
    }

    /// FAILED_PRECONDITION `MEASURE_IN_FORCE` if a measure among `codes` is
    /// in force at `at`, naming it and its tier; `what` is what it forbids.
    pub fn check(
        &self,
        at: DateTime<Utc>,
        codes: &[&str],
        subject: &str,
        what: &str,
    ) -> Result<(), Refusal> {
        match self.in_force(at, codes) {
            None => Ok(()),
            Some(m) => {
                let until = m.ends_at.map_or_else(
                    || " while the tier holds".to_owned(),
                    |e| format!(" until {e}"),
                );
                Err(Refusal::precondition(
                    "MEASURE_IN_FORCE",
                    subject,
                    format!(
                        "penalty measure {} of tier {} forbids {what}{until}",
                        m.code, m.tier
                    ),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_cmp_13_reads_the_published_tier_change() {
        let payload = br#"{"from":0,"to":3,"points":36,"reason":"violation","effective_at":"2026-03-04T02:00:00Z","caused_by":"v1","measures_applied":[{"tier":3,"measure":{"code":"suspend_sales","description":"x","duration_days":30},"started_at":"2026-03-04T02:00:00Z","ends_at":"2026-04-03T02:00:00Z"},{"tier":4,"measure":{"code":"deactivate","description":"y","duration_days":0},"started_at":"2026-03-04T02:00:00Z"}]}"#;
        let c = TierChange::from_payload(payload).unwrap();
        assert_eq!(c.to, 3);
        assert_eq!(c.overturned, None);
        assert_eq!(c.measures.len(), 2);
        assert_eq!(c.measures[1].ends_at, None);
        assert_eq!(c.measures[0].caused_by.as_deref(), Some("v1"));
        let appeal = br#"{"from":3,"to":0,"points":0,"reason":"appeal","effective_at":"2026-03-05T00:00:00Z","caused_by":"v1","measures_applied":[]}"#;
        let a = TierChange::from_payload(appeal).unwrap();
        assert_eq!(a.overturned.as_deref(), Some("v1"));
        assert!(TierChange::from_payload(b"{}").is_err());
    }
}
