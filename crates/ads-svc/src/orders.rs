//! The orders read model (decision 0022): one document per order, the
//! order as [`Order::apply`] folds it from its own events. An account holds
//! its running orders and those ended within [`crate::domain::ORDER_KEPT_DAYS`];
//! this read model holds every order, so an order that left the account is
//! still read (GetOrder, ListOrderHistory) and its id stays taken.

use crate::{
    app::ACCOUNT_PREFIX,
    domain::{Event, Order},
};
use sellerdesk_runtime::records::{Record, Records};

/// Where the orders are: index (and checkpoint) `ads-orders`, written from
/// the shops' account streams under the lease `ads:orders`.
pub const ORDERS: Records = Records {
    index: "ads-orders",
    stream_prefix: ACCOUNT_PREFIX,
};

impl Record for Order {
    type Event = Event;

    fn id_of(event: &Event) -> Option<&str> {
        event.order_id()
    }

    fn started(event: &Event) -> Option<Self> {
        match event {
            Event::OrderPlaced { order_id, spec, at } => Some(Order::placed(order_id, spec, *at)),
            _ => None,
        }
    }

    fn apply(&mut self, event: &Event) {
        Order::apply(self, event)
    }

    fn span(&self) -> (i64, Option<i64>) {
        (
            self.placed_at.timestamp_millis(),
            self.ended_at.map(|at| at.timestamp_millis()),
        )
    }
}
