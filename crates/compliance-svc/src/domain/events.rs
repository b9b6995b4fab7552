//! What happened, in the domain's words. Stored as JSON in the shop's stream
//! (`compliance-shop-<shop>`) or, for policies, in `compliance-policy`.
//! Every event carries its `schema_version` in the envelope; see
//! [`crate::store::SHOP_STREAM`]'s upcasts for reading old versions.

use super::{policy::Measure, Instant, Policy};
use sellerdesk_core::{instant, optional_instant};
use serde::{Deserialize, Serialize};

/// Instants go through the event store's RFC 3339 codec: chrono's stored
/// form, read and written by hand.
///
/// Serialised externally tagged (`{"ViolationRecorded": {...}}`); the store
/// keeps the type in the envelope and the inner object as the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// The platform recorded a violation (R-CMP-1).
    ViolationRecorded {
        violation_id: String,
        violation_type: String,
        points: u32,
        evidence: String,
        #[serde(with = "instant")]
        recorded_at: Instant,
    },
    /// The shop appealed one violation (R-CMP-6, R-CMP-7).
    AppealFiled {
        violation_id: String,
        /// 1 or 2.
        appeal_number: u32,
        reason: String,
        attachments: Vec<String>,
        #[serde(with = "instant")]
        filed_at: Instant,
    },
    /// The platform decided the pending appeal (R-CMP-8 when granted).
    AppealDecided {
        violation_id: String,
        appeal_number: u32,
        outcome: AppealOutcome,
        note: String,
        #[serde(with = "instant")]
        decided_at: Instant,
    },
    /// The tier (R-CMP-5) differs from the one last announced.
    TierChanged {
        from: u32,
        to: u32,
        points: u32,
        reason: TierChangeReason,
        /// When the change took effect: the command's instant, or for expiry
        /// the instant the last points expired, or for a policy the instant
        /// it took effect (announced possibly later).
        #[serde(with = "instant")]
        effective_at: Instant,
        /// The violation whose recording or overturning caused it, if any.
        caused_by: Option<String>,
        /// Measures newly applied by crossing thresholds upwards.
        measures_applied: Vec<AppliedMeasure>,
    },
    /// Selling rights revoked: a violation brought the total to the policy's
    /// deactivating tier, 48 by default (R-CMP-3, R-CMP-13).
    SellingRightsRevoked {
        points: u32,
        caused_by: String,
        #[serde(with = "instant")]
        revoked_at: Instant,
    },
    /// Selling rights restored: a granted appeal brought the total below that
    /// tier (R-CMP-8).
    SellingRightsRestored {
        points: u32,
        caused_by: String,
        #[serde(with = "instant")]
        restored_at: Instant,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppealOutcome {
    Granted,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierChangeReason {
    Violation,
    Appeal,
    Expiry,
    /// A published policy took effect with other thresholds (R-CMP-5).
    Policy,
}

/// A measure applied when a tier was reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedMeasure {
    pub tier: u32,
    pub measure: Measure,
    #[serde(with = "instant")]
    pub started_at: Instant,
    /// `None`: lasts while the tier holds.
    #[serde(default, with = "optional_instant")]
    pub ends_at: Option<Instant>,
}

/// A new policy version (stream `compliance-policy`, R-CMP-5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyPublished {
    pub policy: Policy,
}

impl Event {
    /// The type name stored in the envelope and used in bus subjects.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::ViolationRecorded { .. } => "ViolationRecorded",
            Event::AppealFiled { .. } => "AppealFiled",
            Event::AppealDecided { .. } => "AppealDecided",
            Event::TierChanged { .. } => "TierChanged",
            Event::SellingRightsRevoked { .. } => "SellingRightsRevoked",
            Event::SellingRightsRestored { .. } => "SellingRightsRestored",
        }
    }
}

/// Current schema version of every compliance event.
pub const SCHEMA_VERSION: i32 = 1;

impl sellerdesk_core::DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        self.type_name()
    }
}
