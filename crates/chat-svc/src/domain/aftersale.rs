//! R-CHAT-14: what the permissions of R-CHAT-3 gate. A buyer files an
//! after-sale request on an order from the conversation (refund only,
//! return and refund, exchange); only an agent with `review_after_sale`
//! decides it, with a reason; only an agent with `handle_orders` sends an
//! order card or marks a shipping-address change. Every step is an event
//! in the conversation; the rest PERMISSION_DENIED.

use super::{ChatDesk, DomainError, Event, Instant};
use serde::{Deserialize, Serialize};

/// R-CHAT-14.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterSaleKind {
    /// 仅退款
    RefundOnly,
    /// 退货退款
    ReturnAndRefund,
    /// 换货: no money moves.
    Exchange,
}

/// An order as the conversation shows it, from the platform's order system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCard {
    pub order_id: String,
    pub title: String,
    pub price_fen: i64,
    pub status: String,
}

/// A request as the conversation holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AfterSale {
    pub order_id: String,
    pub kind: AfterSaleKind,
    pub reason: String,
    pub amount_fen: i64,
    /// The reviewing agent's decision: approved, and why.
    pub decision: Option<(bool, String)>,
}

const MAX_REASON_CHARS: usize = 200;

fn reason_ok(field: &str, reason: &str, errors: &mut Vec<(String, String)>) {
    let n = reason.trim().chars().count();
    if n == 0 || n > MAX_REASON_CHARS {
        errors.push((field.into(), format!("1 to {MAX_REASON_CHARS} characters")));
    }
}

fn id_ok(field: &str, id: &str, errors: &mut Vec<(String, String)>) {
    if id.is_empty() || id.len() > 64 || id.chars().any(char::is_control) {
        errors.push((field.into(), "1 to 64 bytes, no control characters".into()));
    }
}

use super::decide::open_conversation as open;

/// The agent, if they hold `permission` (R-CHAT-3).
fn permitted(
    desk: &ChatDesk,
    agent_id: &str,
    permission: &'static str,
    has: impl Fn(&super::Permissions) -> bool,
    what: &str,
) -> Result<(), DomainError> {
    let a = desk
        .agents
        .get(agent_id)
        .ok_or_else(|| DomainError::NotFound {
            kind: "agent",
            id: agent_id.to_owned(),
        })?;
    if has(&a.permissions) {
        Ok(())
    } else {
        Err(DomainError::Denied {
            permission,
            why: format!(
                "agent {agent_id} lacks the {permission} permission for {what} (R-CHAT-3)"
            ),
        })
    }
}

/// The buyer files a request on an order, its amount at most the order's
/// (R-CHAT-14); an exchange moves no money. Idempotent by `request_id`.
// One parameter per field of the command, as the other deciders take them.
#[allow(clippy::too_many_arguments)]
pub(super) fn file(
    desk: &ChatDesk,
    conversation_id: &str,
    request_id: &str,
    order_id: &str,
    kind: AfterSaleKind,
    reason: &str,
    amount_fen: i64,
    order_amount_fen: i64,
    at: Instant,
) -> Result<Vec<Event>, DomainError> {
    let mut e = Vec::new();
    id_ok("request_id", request_id, &mut e);
    id_ok("order_id", order_id, &mut e);
    reason_ok("reason", reason, &mut e);
    if !(1..=sellerdesk_core::money::MAX_AMOUNT_FEN).contains(&order_amount_fen) {
        e.push((
            "order_amount_fen".into(),
            "the order's amount, a positive number of fen".into(),
        ));
    }
    match kind {
        AfterSaleKind::Exchange if amount_fen != 0 => {
            e.push(("amount_fen".into(), "an exchange moves no money: 0".into()))
        }
        AfterSaleKind::Exchange => {}
        _ if amount_fen <= 0 || amount_fen > order_amount_fen => e.push((
            "amount_fen".into(),
            format!("1 to the order's amount ({order_amount_fen} fen)"),
        )),
        _ => {}
    }
    if !e.is_empty() {
        return Err(DomainError::Invalid(e));
    }
    let c = open(desk, conversation_id)?;
    if let Some(r) = c.after_sales.get(request_id) {
        let same = (r.order_id.as_str(), r.kind, r.reason.as_str(), r.amount_fen)
            == (order_id, kind, reason.trim(), amount_fen);
        return if same {
            Ok(vec![])
        } else {
            Err(DomainError::AlreadyExists {
                kind: "after-sale request",
                id: request_id.to_owned(),
            })
        };
    }
    if c.after_sales
        .values()
        .any(|r| r.order_id == order_id && r.decision.is_none())
    {
        return Err(DomainError::precondition(
            "AFTER_SALE_PENDING",
            order_id,
            format!("order {order_id} already has a request waiting for review"),
        ));
    }
    Ok(vec![Event::AfterSaleFiled {
        conversation_id: conversation_id.to_owned(),
        request_id: request_id.to_owned(),
        order_id: order_id.to_owned(),
        kind,
        reason: reason.trim().to_owned(),
        amount_fen,
        assignee: c.assignee.clone(),
        at,
    }])
}

/// An agent with `review_after_sale` approves or rejects, with a reason.
pub(super) fn decide(
    desk: &ChatDesk,
    conversation_id: &str,
    request_id: &str,
    agent_id: &str,
    approve: bool,
    reason: &str,
    at: Instant,
) -> Result<Vec<Event>, DomainError> {
    let mut e = Vec::new();
    reason_ok("reason", reason, &mut e);
    if !e.is_empty() {
        return Err(DomainError::Invalid(e));
    }
    permitted(
        desk,
        agent_id,
        "review_after_sale",
        |p| p.review_after_sale,
        "deciding an after-sale request",
    )?;
    let c = open(desk, conversation_id)?;
    let r = c
        .after_sales
        .get(request_id)
        .ok_or_else(|| DomainError::NotFound {
            kind: "after-sale request",
            id: request_id.to_owned(),
        })?;
    match &r.decision {
        Some((a, why)) if *a == approve && why == reason.trim() => Ok(vec![]),
        Some(_) => Err(DomainError::precondition(
            "ALREADY_DECIDED",
            request_id,
            "the request was already decided",
        )),
        None => Ok(vec![Event::AfterSaleDecided {
            conversation_id: conversation_id.to_owned(),
            request_id: request_id.to_owned(),
            agent_id: agent_id.to_owned(),
            approved: approve,
            reason: reason.trim().to_owned(),
            at,
        }]),
    }
}

/// An agent with `handle_orders` shows the buyer an order.
pub(super) fn send_order_card(
    desk: &ChatDesk,
    conversation_id: &str,
    agent_id: &str,
    card: &OrderCard,
    at: Instant,
) -> Result<Vec<Event>, DomainError> {
    let mut e = Vec::new();
    id_ok("card.order_id", &card.order_id, &mut e);
    if card.title.trim().is_empty() || card.title.chars().count() > 100 {
        e.push(("card.title".into(), "1 to 100 characters".into()));
    }
    if !(0..=sellerdesk_core::money::MAX_AMOUNT_FEN).contains(&card.price_fen) {
        e.push(("card.price_fen".into(), "0 or more fen".into()));
    }
    if card.status.chars().count() > 32 {
        e.push(("card.status".into(), "at most 32 characters".into()));
    }
    if !e.is_empty() {
        return Err(DomainError::Invalid(e));
    }
    permitted(
        desk,
        agent_id,
        "handle_orders",
        |p| p.handle_orders,
        "sending an order card",
    )?;
    open(desk, conversation_id)?;
    Ok(vec![Event::OrderCardSent {
        conversation_id: conversation_id.to_owned(),
        agent_id: agent_id.to_owned(),
        card: card.clone(),
        at,
    }])
}

/// An agent with `handle_orders` records that the order's shipping address
/// was changed at the buyer's request.
pub(super) fn mark_address_changed(
    desk: &ChatDesk,
    conversation_id: &str,
    agent_id: &str,
    order_id: &str,
    at: Instant,
) -> Result<Vec<Event>, DomainError> {
    let mut e = Vec::new();
    id_ok("order_id", order_id, &mut e);
    if !e.is_empty() {
        return Err(DomainError::Invalid(e));
    }
    permitted(
        desk,
        agent_id,
        "handle_orders",
        |p| p.handle_orders,
        "changing an order's shipping address",
    )?;
    open(desk, conversation_id)?;
    Ok(vec![Event::ShippingAddressChangeMarked {
        conversation_id: conversation_id.to_owned(),
        agent_id: agent_id.to_owned(),
        order_id: order_id.to_owned(),
        at,
    }])
}
