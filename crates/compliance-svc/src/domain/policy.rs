//! The penalty policy (R-CMP-5): tiers, their measures, and points per
//! violation type (R-CMP-1). Versioned data: a replay uses the version in
//! force at each moment.

use super::{rules, Instant};
use chrono::{DateTime, Duration};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measure {
    pub code: String,
    pub description: String,
    /// 0: lasts while the tier holds.
    pub duration_days: u32,
}

/// The longest a measure may last (R-CMP-5): ten years. A longer one is
/// refused at publication, so ends_at never leaves chrono's range.
pub const MAX_MEASURE_DAYS: u32 = 3_650;
/// How far ahead of its publication a policy may take effect: a policy far in
/// the future would block every later publication until then.
pub const MAX_POLICY_LEAD_DAYS: i64 = 366;
/// Sizes of a policy, so one publication cannot grow every standing without bound.
pub const MAX_TIERS: usize = 20;
pub const MAX_MEASURES_PER_TIER: usize = 20;
pub const MAX_VIOLATION_TYPES: usize = 500;
pub const MAX_DESCRIPTION_CHARS: usize = 500;

impl Measure {
    /// When a measure applied at `started_at` ends; `None` while the tier
    /// holds. Saturates at chrono's range for a measure from an old log
    /// that was published before durations were bounded: never a panic.
    pub fn ends_at(&self, started_at: Instant) -> Option<Instant> {
        (self.duration_days > 0).then(|| {
            Duration::try_days(i64::from(self.duration_days))
                .and_then(|d| started_at.checked_add_signed(d))
                .unwrap_or(DateTime::<chrono::Utc>::MAX_UTC)
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    pub level: u32,
    pub threshold_points: u32,
    pub measures: Vec<Measure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub version: u32,
    pub effective_at: Instant,
    /// Ascending thresholds, levels 1, 2, 3, ...
    pub tiers: Vec<Tier>,
    pub violation_types: BTreeMap<String, u32>,
}

fn measure(code: &str, description: &str, duration_days: u32) -> Measure {
    Measure {
        code: code.into(),
        description: description.into(),
        duration_days,
    }
}

/// The measure code that revokes selling rights (R-CMP-3).
pub const DEACTIVATE: &str = "deactivate";

impl Policy {
    /// R-CMP-13: the points at which selling rights go: the threshold of the
    /// lowest tier whose measures deactivate the shop; None if no tier does.
    pub fn revocation_points(&self) -> Option<u32> {
        self.tiers
            .iter()
            .filter(|t| t.measures.iter().any(|m| m.code == DEACTIVATE))
            .map(|t| t.threshold_points)
            .min()
    }

    /// TikTok Shop's default: tiers at 12, 24, 36 and 48 points, each raising
    /// restrictions, the last deactivating (R-CMP-5). In force from the epoch.
    pub fn default_policy() -> Self {
        let tiers = vec![
            Tier {
                level: 1,
                threshold_points: 12,
                measures: vec![
                    measure("warning", "店铺警告 shop warning", 0),
                    measure(
                        "restrict_marketing",
                        "限制参与营销活动 7 days without platform campaigns",
                        7,
                    ),
                ],
            },
            Tier {
                level: 2,
                threshold_points: 24,
                measures: vec![
                    measure(
                        "restrict_new_listings",
                        "限制商品上新 no new product listings for 14 days",
                        14,
                    ),
                    measure(
                        "restrict_traffic",
                        "限制流量 reduced recommendation traffic for 14 days",
                        14,
                    ),
                ],
            },
            Tier {
                level: 3,
                threshold_points: 36,
                measures: vec![
                    measure(
                        "suspend_sales",
                        "暂停店铺经营 selling suspended for 30 days",
                        30,
                    ),
                    measure("freeze_payouts", "冻结货款 payouts frozen for 30 days", 30),
                ],
            },
            Tier {
                level: 4,
                threshold_points: rules::REVOCATION_POINTS,
                measures: vec![measure(
                    DEACTIVATE,
                    "清退 selling rights revoked, shop deactivated",
                    0,
                )],
            },
        ];
        let violation_types = [
            ("minor_listing_error", 2),
            ("false_advertising", 6),
            ("delayed_shipment", 4),
            ("counterfeit_goods", 24),
            ("off_platform_transaction", 12),
            ("fraud", 48),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Self {
            version: 1,
            effective_at: DateTime::UNIX_EPOCH,
            tiers,
            violation_types,
        }
    }

    /// The tier a total reaches: the highest level whose threshold it meets, or 0.
    pub fn tier_for(&self, points: u32) -> u32 {
        self.tiers
            .iter()
            .filter(|t| points >= t.threshold_points)
            .map(|t| t.level)
            .max()
            .unwrap_or(0)
    }

    /// What is wrong with a proposed policy, by field.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.tiers.is_empty() {
            out.push(("policy.tiers", "at least one tier".to_owned()));
        }
        if self.tiers.len() > MAX_TIERS {
            out.push(("policy.tiers", format!("at most {MAX_TIERS} tiers")));
        }
        if self.violation_types.len() > MAX_VIOLATION_TYPES {
            out.push((
                "policy.violation_types",
                format!("at most {MAX_VIOLATION_TYPES} violation types"),
            ));
        }
        let mut previous = 0;
        for (i, t) in self.tiers.iter().enumerate().take(MAX_TIERS) {
            if t.level != i as u32 + 1 {
                out.push((
                    "policy.tiers.level",
                    format!("tier {} must have level {}", i + 1, i + 1),
                ));
            }
            if t.threshold_points <= previous || t.threshold_points > rules::MAX_POINTS * 100 {
                out.push((
                    "policy.tiers.threshold_points",
                    format!(
                        "tier {} threshold must be above {previous} (ascending)",
                        t.level
                    ),
                ));
            }
            previous = t.threshold_points;
            if t.measures.len() > MAX_MEASURES_PER_TIER {
                out.push((
                    "policy.tiers.measures",
                    format!("at most {MAX_MEASURES_PER_TIER} measures a tier"),
                ));
            }
            for m in t.measures.iter().take(MAX_MEASURES_PER_TIER) {
                if !is_plain_code(&m.code) {
                    out.push((
                        "policy.tiers.measures.code",
                        format!(
                            "tier {}: 1 to {} characters of A-Z, a-z, 0-9, '_', '-' or '.'",
                            t.level,
                            rules::MAX_TYPE_LEN
                        ),
                    ));
                }
                if m.description.chars().count() > MAX_DESCRIPTION_CHARS
                    || m.description.chars().any(char::is_control)
                {
                    out.push((
                        "policy.tiers.measures.description",
                        format!(
                            "tier {}: at most {MAX_DESCRIPTION_CHARS} characters, no control characters",
                            t.level
                        ),
                    ));
                }
                if m.duration_days > MAX_MEASURE_DAYS {
                    out.push((
                        "policy.tiers.measures.duration_days",
                        format!(
                            "tier {}: at most {MAX_MEASURE_DAYS} days (0: while the tier holds)",
                            t.level
                        ),
                    ));
                }
            }
        }
        for (name, points) in self.violation_types.iter().take(MAX_VIOLATION_TYPES) {
            if !is_plain_code(name) {
                out.push((
                    "policy.violation_types.violation_type",
                    format!(
                        "1 to {} characters of A-Z, a-z, 0-9, '_', '-' or '.'",
                        rules::MAX_TYPE_LEN
                    ),
                ));
            }
            if !(rules::MIN_POINTS..=rules::MAX_POINTS).contains(points) {
                out.push((
                    "policy.violation_types.points",
                    format!(
                        "points must be {} to {}",
                        rules::MIN_POINTS,
                        rules::MAX_POINTS
                    ),
                ));
            }
        }
        out.dedup();
        out
    }
}

/// A machine-readable code: measure codes and violation types.
fn is_plain_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= rules::MAX_TYPE_LEN
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Every published policy, oldest first. Never empty: the default is version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyHistory {
    versions: Vec<Policy>,
}

impl Default for PolicyHistory {
    fn default() -> Self {
        Self {
            versions: vec![Policy::default_policy()],
        }
    }
}

impl PolicyHistory {
    /// The policy in force at `at`: the newest whose `effective_at <= at`.
    pub fn in_force(&self, at: Instant) -> &Policy {
        let i = self.versions.partition_point(|p| p.effective_at <= at);
        &self.versions[i.saturating_sub(1)]
    }

    pub fn latest(&self) -> &Policy {
        self.versions.last().expect("never empty")
    }

    pub fn all(&self) -> &[Policy] {
        &self.versions
    }

    pub fn apply(&mut self, published: &super::PolicyPublished) {
        self.versions.push(published.policy.clone());
    }

    /// The instants in `(after, up_to]` at which another policy takes
    /// effect, ascending, each once (R-CMP-5): the moments a policy alone
    /// can move a shop's tier. Several versions may share an instant; the
    /// newest of them is the one in force.
    pub fn taking_effect(
        &self,
        after: Instant,
        up_to: Option<Instant>,
    ) -> impl Iterator<Item = Instant> + '_ {
        let first = self.versions.partition_point(|p| p.effective_at <= after);
        let mut last = None;
        self.versions[first..]
            .iter()
            .map(|p| p.effective_at)
            .take_while(move |at| up_to.is_none_or(|end| *at <= end))
            .filter(move |at| last.replace(*at) != Some(*at))
    }

    /// The policy in force just before `at`: the one a policy taking effect
    /// at `at` replaces.
    pub fn in_force_before(&self, at: Instant) -> &Policy {
        let i = self.versions.partition_point(|p| p.effective_at < at);
        &self.versions[i.saturating_sub(1)]
    }
}
