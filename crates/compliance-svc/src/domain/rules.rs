//! The fixed numbers of the rules. Configurable ones live in [`super::Policy`].

use chrono::Duration;

/// R-CMP-1: a violation is worth 1 to 48 points.
pub const MIN_POINTS: u32 = 1;
pub const MAX_POINTS: u32 = 48;

/// R-CMP-3: at this total, selling rights are revoked.
pub const REVOCATION_POINTS: u32 = 48;

/// R-CMP-2: points count for 180 x 24 h (R-CMP-11: while t < recorded + this).
pub fn point_validity() -> Duration {
    Duration::hours(180 * 24)
}

/// R-CMP-7: the first appeal within 30 x 24 h of the violation.
pub fn first_appeal_window() -> Duration {
    Duration::hours(30 * 24)
}

/// R-CMP-7: the second appeal within 15 x 24 h of the first rejection.
pub fn second_appeal_window() -> Duration {
    Duration::hours(15 * 24)
}

/// R-CMP-7: at most two appeals per violation.
pub const MAX_APPEALS: usize = 2;

/// Input limits (not business rules: they keep the log and the page sane).
pub const MAX_ID_LEN: usize = 128;
pub const MAX_TYPE_LEN: usize = 64;
pub const MAX_TEXT_LEN: usize = 4000;
pub const MAX_ATTACHMENTS: usize = 20;
pub const MAX_ATTACHMENT_LEN: usize = 512;
