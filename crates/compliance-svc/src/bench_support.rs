//! Synthetic shop histories for benchmarks and load drivers (not used by the service).

use crate::domain::{events::AppealOutcome, Event, Instant};
use chrono::{DateTime, Duration};

/// `n` events of one shop: a violation every 7 hours from 2020 on (so the
/// 180-day window holds ~600 of them), every tenth appealed, half of those
/// granted. Returns each event with its instant.
pub fn history(n: usize) -> Vec<(Instant, Event)> {
    let t0 = DateTime::from_timestamp(1_577_836_800, 0).expect("2020-01-01");
    let mut out = Vec::with_capacity(n);
    let mut i = 0usize;
    while out.len() < n {
        let at = t0 + Duration::hours(i as i64 * 7);
        let id = format!("v{i}");
        out.push((
            at,
            Event::ViolationRecorded {
                violation_id: id.clone(),
                violation_type: "delayed_shipment".into(),
                points: 1,
                evidence: String::new(),
                recorded_at: at,
            },
        ));
        if i.is_multiple_of(10) {
            let filed = at + Duration::hours(1);
            out.push((
                filed,
                Event::AppealFiled {
                    violation_id: id.clone(),
                    appeal_number: 1,
                    reason: String::new(),
                    attachments: vec![],
                    filed_at: filed,
                },
            ));
            let decided = at + Duration::hours(2);
            out.push((
                decided,
                Event::AppealDecided {
                    violation_id: id,
                    appeal_number: 1,
                    outcome: if i.is_multiple_of(20) {
                        AppealOutcome::Granted
                    } else {
                        AppealOutcome::Rejected
                    },
                    note: String::new(),
                    decided_at: decided,
                },
            ));
        }
        i += 1;
    }
    out.truncate(n);
    out
}
