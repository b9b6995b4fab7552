//! The plans read model (decision 0022): one document per targeted plan,
//! folded by the domain's own [`Plan::started`] and [`Plan::apply`]. A
//! shop's outreach holds its running plans and those ended within
//! [`crate::domain::PLAN_KEPT_DAYS`]; this read model holds every one, so
//! an archived plan is still read (GetPlan) and its id stays taken.

use crate::domain::{Event, Plan};
use sellerdesk_runtime::records::{Record, Records};

/// Where the plans are: index (and checkpoint) `affiliate-plans`, written
/// from the shops' streams under the lease `affiliate:plans`.
pub const PLANS: Records = Records {
    index: "affiliate-plans",
    stream_prefix: crate::app::SHOP_STREAM_PREFIX,
};

impl Record for Plan {
    type Event = Event;

    fn id_of(event: &Event) -> Option<&str> {
        Plan::id_of(event)
    }

    fn started(event: &Event) -> Option<Self> {
        Plan::started(event)
    }

    fn apply(&mut self, event: &Event) {
        Plan::apply(self, event)
    }

    fn span(&self) -> (i64, Option<i64>) {
        // A plan does not keep when it was created; its end is what
        // retires it.
        (0, self.ended_at.map(|at| at.timestamp_millis()))
    }
}
