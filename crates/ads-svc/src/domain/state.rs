use super::{
    Event, Fen, FundsMove, Instant, InvoiceKind, OrderSpec, PaidStats, Penalties, Refund, Subject,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    PendingReview,
    /// R-ADS-7: refunded to the original payment account.
    Rejected {
        reasons: Vec<String>,
    },
    Delivering {
        since: Instant,
    },
    /// R-ADS-8, R-ADS-14: the budget is spent or the delivery window closed.
    Completed {
        run_secs: i64,
    },
    /// R-ADS-9.
    Terminated,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: String,
    pub spec: OrderSpec,
    pub placed_at: Instant,
    pub status: OrderStatus,
    pub spent_fen: Fen,
    pub stats: PaidStats,
    pub refund: Option<Refund>,
    pub ended_at: Option<Instant>,
    pub invoice: Option<(InvoiceKind, String, Fen)>,
    /// Hours the shop added to the delivery window.
    pub extended_hours: u32,
}

/// R-ADS-11: how long after its end an order stays in the account: invoices
/// are requested within these days. After them the order is read-only, in
/// the orders read model (decision 0022), and the account no longer grows
/// with every order the shop ever placed (R-X-4).
pub const ORDER_KEPT_DAYS: i64 = 90;
/// R-ADS-14: how long a settled payment's id stays known, so a repeated
/// callback is a no-op and a repeated request is refused; a provider or
/// client repeats within minutes, not months.
pub const PAYMENT_IDS_KEPT_DAYS: i64 = 90;

impl Order {
    pub fn placed(order_id: &str, spec: &OrderSpec, at: Instant) -> Self {
        Order {
            order_id: order_id.to_owned(),
            spec: spec.clone(),
            placed_at: at,
            status: OrderStatus::PendingReview,
            spent_fen: 0,
            stats: PaidStats::default(),
            refund: None,
            ended_at: None,
            invoice: None,
            extended_hours: 0,
        }
    }

    /// What an event about this order makes of it; the account's fold and
    /// the orders read model share it, so an order reads the same from
    /// either. Events about other orders or none change nothing.
    pub fn apply(&mut self, event: &Event) {
        if event.order_id() != Some(self.order_id.as_str()) {
            return;
        }
        match event {
            Event::ReviewApproved { at, .. } => {
                self.status = OrderStatus::Delivering { since: *at };
            }
            Event::ReviewRejected {
                reasons,
                refund,
                at,
                ..
            } => {
                self.status = OrderStatus::Rejected {
                    reasons: reasons.clone(),
                };
                self.refund = Some(refund.clone());
                self.ended_at = Some(*at);
            }
            Event::DeliveryReported {
                spent_fen, stats, ..
            } => {
                self.spent_fen = self.spent_fen.saturating_add(*spent_fen);
                self.stats.add(stats);
            }
            Event::DeliveryCompleted { run_secs, at, .. } => {
                self.status = OrderStatus::Completed {
                    run_secs: *run_secs,
                };
                self.ended_at = Some(*at);
            }
            Event::RemainderRefunded { refund, .. } => self.refund = Some(refund.clone()),
            Event::OrderTerminated { at, .. } => {
                self.status = OrderStatus::Terminated;
                self.ended_at = Some(*at);
            }
            Event::DouPlusOrderTerminated { refund, at, .. } => {
                self.status = OrderStatus::Terminated;
                self.ended_at = Some(*at);
                self.refund = Some(refund.clone());
            }
            // decide checked the sums (R-X-3).
            Event::BudgetAdded { amount_fen, .. } => {
                self.spec.amount_fen = self.spec.amount_fen.saturating_add(*amount_fen)
            }
            Event::DeliveryExtended { hours, .. } => {
                self.extended_hours = self.extended_hours.saturating_add(*hours)
            }
            Event::InvoiceIssued {
                kind,
                title,
                amount_fen,
                ..
            } => self.invoice = Some((*kind, title.clone(), *amount_fen)),
            _ => {}
        }
    }

    /// Whether the order has left the account by `at`: ended (or rejected)
    /// at least [`ORDER_KEPT_DAYS`] before it.
    pub fn retired_by(&self, at: Instant) -> bool {
        !self.running()
            && self
                .ended_at
                .is_some_and(|end| sellerdesk_core::days_passed(end, ORDER_KEPT_DAYS, at))
    }

    /// Review pending or delivering: budget still committed.
    pub fn running(&self) -> bool {
        matches!(
            self.status,
            OrderStatus::PendingReview | OrderStatus::Delivering { .. }
        )
    }

    pub fn delivery_ended(&self) -> bool {
        matches!(
            self.status,
            OrderStatus::Completed { .. } | OrderStatus::Terminated
        )
    }
}

/// A shop's ads account: the fold of its stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdsAccount {
    pub version: i64,
    pub orders: BTreeMap<String, Order>,
    pub balance_fen: Fen,
    pub subject: Option<Subject>,
    /// R-ADS-13, as compliance-svc last said.
    pub selling_rights_revoked: bool,
    /// The compliance log position of the rights event applied last.
    pub rights_source_position: i64,
    /// R-ADS-9: live rooms that have used the shopping cart.
    pub rooms_with_cart: BTreeSet<String>,
    /// R-CMP-13: the penalty measures compliance-svc applied.
    pub penalties: Penalties,
    /// Top-ups waiting for the payment provider, by payment id.
    pub pending_payments: BTreeMap<String, (FundsMove, Fen)>,
    /// Payments the provider has answered (confirmed or failed), when:
    /// kept [`PAYMENT_IDS_KEPT_DAYS`], so a retry is still recognised.
    pub settled_payments: BTreeMap<String, Instant>,
    /// R-X-3: the IANA zone the shop set; Asia/Shanghai while None.
    pub time_zone: Option<String>,
}

/// Kept as a snapshot by the command path. Raise the shape with any change
/// to these fields or to what `apply` makes of an event.
impl sellerdesk_core::Snapshotted for AdsAccount {
    // 2: a rejected order has an end, and ended orders retire.
    // 3: settled payments are kept with their time, and retire.
    const SHAPE: u32 = 3;
}

impl AdsAccount {
    /// The shop's time zone (R-X-3).
    pub fn zone(&self) -> chrono_tz::Tz {
        sellerdesk_core::zone::or_default(self.time_zone.as_deref())
    }

    pub fn apply(&mut self, event: &Event) {
        self.version += 1;
        match event {
            Event::TimeZoneSet { time_zone, .. } => self.time_zone = Some(time_zone.to_owned()),
            Event::OrderPlaced { order_id, spec, at } => {
                if spec.payment == super::PaymentMethod::AccountBalance {
                    self.balance_fen = self.balance_fen.saturating_sub(spec.amount_fen);
                }
                // Orders long ended leave as a new one comes (R-X-4): by the
                // event's time, so every replica folds the same account.
                self.orders.retain(|_, o| !o.retired_by(*at));
                self.orders
                    .insert(order_id.clone(), Order::placed(order_id, spec, *at));
            }
            Event::ReviewRejected { refund, .. }
            | Event::RemainderRefunded { refund, .. }
            | Event::DouPlusOrderTerminated { refund, .. } => {
                self.refund(refund);
                self.apply_to_order(event);
            }
            Event::ShoppingCartUsed { room_id, .. } => {
                self.rooms_with_cart.insert(room_id.clone());
            }
            Event::BudgetAdded {
                order_id,
                amount_fen,
                ..
            } => {
                // decide checked the sums (R-X-3).
                if self
                    .orders
                    .get(order_id)
                    .is_some_and(|o| o.spec.payment == super::PaymentMethod::AccountBalance)
                {
                    self.balance_fen = self.balance_fen.saturating_sub(*amount_fen);
                }
                self.apply_to_order(event);
            }
            Event::ReviewApproved { .. }
            | Event::DeliveryReported { .. }
            | Event::DeliveryCompleted { .. }
            | Event::OrderTerminated { .. }
            | Event::DeliveryExtended { .. }
            | Event::InvoiceIssued { .. } => self.apply_to_order(event),
            Event::SubjectSet { subject } => self.subject = Some(subject.clone()),
            Event::FundsMoved {
                movement,
                amount_fen,
                ..
            } => match movement {
                // decide checked these sums (R-X-3); saturating keeps a fold total.
                FundsMove::TopUp | FundsMove::CompanyTopUp => {
                    self.balance_fen = self.balance_fen.saturating_add(*amount_fen)
                }
                FundsMove::Withdraw => {
                    self.balance_fen = self.balance_fen.saturating_sub(*amount_fen)
                }
            },
            Event::TopUpRequested {
                payment_id,
                movement,
                amount_fen,
                at,
            } => {
                self.pending_payments
                    .insert(payment_id.clone(), (*movement, *amount_fen));
                // Ids settled long before leave as a new payment comes (R-X-4).
                self.settled_payments.retain(|_, settled| {
                    !sellerdesk_core::days_passed(*settled, PAYMENT_IDS_KEPT_DAYS, *at)
                });
            }
            Event::TopUpConfirmed {
                payment_id,
                amount_fen,
                at,
            } => {
                self.pending_payments.remove(payment_id);
                self.settled_payments.insert(payment_id.clone(), *at);
                // decide checked the sum (R-X-3).
                self.balance_fen = self.balance_fen.saturating_add(*amount_fen);
            }
            Event::TopUpFailed { payment_id, at } => {
                self.pending_payments.remove(payment_id);
                self.settled_payments.insert(payment_id.clone(), *at);
            }
            Event::SellingRightsRevokedNoted {
                source_position, ..
            } => {
                self.selling_rights_revoked = true;
                self.rights_source_position = (*source_position).max(self.rights_source_position);
            }
            Event::SellingRightsRestoredNoted {
                source_position, ..
            } => {
                self.selling_rights_revoked = false;
                self.rights_source_position = (*source_position).max(self.rights_source_position);
            }
            Event::TierChangedNoted {
                change,
                source_position,
                ..
            } => self.penalties.note(change, *source_position),
        }
    }

    /// Money refunded to the balance comes back at once; other methods are
    /// paid out by the payment provider by `due_by`.
    /// What orders paid from the balance may still give back to it.
    pub fn refundable_to_balance(&self) -> Fen {
        self.orders
            .values()
            .filter(|o| {
                o.spec.payment == super::PaymentMethod::AccountBalance && o.refund.is_none()
            })
            .filter(|o| !o.delivery_ended())
            .map(|o| o.spec.amount_fen)
            .fold(0, Fen::saturating_add)
    }

    fn apply_to_order(&mut self, event: &Event) {
        if let Some(o) = event.order_id().and_then(|id| self.orders.get_mut(id)) {
            o.apply(event);
        }
    }

    fn refund(&mut self, refund: &Refund) {
        if refund.to == super::PaymentMethod::AccountBalance {
            self.balance_fen = self.balance_fen.saturating_add(refund.amount_fen);
        }
    }
}
