//! The samples read model (decision 0022): one document per sample, folded
//! by the domain's own [`Sample::started`] and [`Sample::apply`]. A shop's
//! outreach holds its open samples and those settled within
//! [`crate::domain::SAMPLE_KEPT_DAYS`]; this read model holds every one, so
//! an archived sample is still read (GetSample) and its id stays taken.

use crate::domain::{Event, Sample};
use sellerdesk_runtime::records::{Record, Records};

/// Where the samples are: index (and checkpoint) `affiliate-samples`,
/// written from the shops' streams under the lease `affiliate:samples`.
pub const SAMPLES: Records = Records {
    index: "affiliate-samples",
    stream_prefix: crate::app::SHOP_STREAM_PREFIX,
};

impl Record for Sample {
    type Event = Event;

    fn id_of(event: &Event) -> Option<&str> {
        Sample::id_of(event)
    }

    fn started(event: &Event) -> Option<Self> {
        Sample::started(event)
    }

    fn apply(&mut self, event: &Event) {
        Sample::apply(self, event)
    }

    fn span(&self) -> (i64, Option<i64>) {
        let began = self.requested_at.or(self.shipped_at);
        (
            began.map_or(0, |at| at.timestamp_millis()),
            self.settled_at.map(|at| at.timestamp_millis()),
        )
    }
}
