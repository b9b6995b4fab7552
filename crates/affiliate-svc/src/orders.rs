//! The attributed orders read model (decision 0022): one document per order
//! a plan's creator sold, folded by the domain's own
//! [`AttributedOrder::started`] and [`AttributedOrder::apply`]. A shop's
//! outreach holds the orders sold within [`crate::domain::ORDER_KEPT_DAYS`],
//! the ones that still take refunds; this read model holds every one, so an
//! archived order's id stays taken and a late refund is told why it is
//! refused.

use crate::domain::{AttributedOrder, Event};
use sellerdesk_runtime::records::{Record, Records};

/// Where the orders are: index (and checkpoint) `affiliate-orders`, written
/// from the shops' streams under the lease `affiliate:orders`.
pub const ORDERS: Records = Records {
    index: "affiliate-orders",
    stream_prefix: crate::app::SHOP_STREAM_PREFIX,
};

impl Record for AttributedOrder {
    type Event = Event;

    fn id_of(event: &Event) -> Option<&str> {
        AttributedOrder::id_of(event)
    }

    fn started(event: &Event) -> Option<Self> {
        AttributedOrder::started(event)
    }

    fn apply(&mut self, event: &Event) {
        AttributedOrder::apply(self, event)
    }

    fn span(&self) -> (i64, Option<i64>) {
        (self.sold_at.timestamp_millis(), None)
    }
}
