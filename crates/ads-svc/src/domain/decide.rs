use super::{
    AdsAccount, Bid, Channel, Command, DomainError, Event, Fen, FundsMove, Instant, InvoiceKind,
    Order, OrderSpec, OrderStatus, PaidStats, PaymentMethod, Product, Refund, Subject, Target,
    AGE_BANDS, DURATIONS_HOURS, GENDERS, MAX_EXTENSION_HOURS, MIN_AMOUNT_FEN, MIN_TITLE_CHARS,
    MIN_VIDEO_SECS, ORDER_KEPT_DAYS, RECOMMEND_24H_ABOVE_FEN, REFUND_BUSINESS_DAYS,
};
use chrono::{Duration, TimeZone};
use sellerdesk_core::money;

/// R-ADS-7, R-ADS-14: a refund decided at `at` arrives before the end of
/// the 7th business day after that day, in shop time: Monday to Friday but
/// China's public holidays, plus the weekend days worked in their place
/// (调休), as `sellerdesk_core::calendar` has them.
pub fn refund_due_by(at: Instant, zone: chrono_tz::Tz) -> Instant {
    let mut date = at.with_timezone(&zone).date_naive();
    let mut left = REFUND_BUSINESS_DAYS;
    while left > 0 {
        date += Duration::days(1);
        if sellerdesk_core::calendar::is_business_day(date) {
            left -= 1;
        }
    }
    let end = (date + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists");
    // Midnight may fall in a daylight-saving gap in some zones: then the
    // first instant of that day.
    zone.from_local_datetime(&end)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(end + Duration::hours(1)))
                .earliest()
        })
        .map_or(at, |t| t.with_timezone(&chrono::Utc))
        .with_timezone(&chrono::Utc)
}

/// R-ADS-6: what the machine part of the review refuses, in the buyer-facing words.
pub fn review_problems(target: &Target) -> Vec<String> {
    let mut problems = Vec::new();
    if let Target::Video {
        public,
        title,
        duration_secs,
        ..
    } = target
    {
        if !public {
            problems.push("投放的视频需为公开视频".to_owned());
        }
        if title.chars().count() < MIN_TITLE_CHARS {
            problems.push(format!("标题文案字数不得少于{MIN_TITLE_CHARS}个字"));
        }
        if *duration_secs < MIN_VIDEO_SECS {
            problems.push(format!("视频时长不得少于{MIN_VIDEO_SECS}s"));
        }
    }
    problems
}

/// R-ADS-3: advice that does not refuse the order.
pub fn recommendations(spec: &OrderSpec) -> Vec<String> {
    let mut advice = Vec::new();
    if spec.amount_fen > RECOMMEND_24H_ABOVE_FEN && spec.duration_hours != 24 {
        advice.push("对于500元以上的订单，建议投放时长选择24小时".to_owned());
    }
    advice
}

fn check_spec(order_id: &str, spec: &OrderSpec) -> Result<(), DomainError> {
    let mut e: Vec<(String, String)> = Vec::new();
    let mut bad = |f: &str, why: String| e.push((f.to_owned(), why));
    if order_id.is_empty() || order_id.len() > 64 {
        bad("order_id", "1 to 64 bytes".into());
    }
    // R-ADS-2
    if spec.amount_fen < MIN_AMOUNT_FEN {
        bad(
            "spec.amount_fen",
            format!("at least {MIN_AMOUNT_FEN} fen (100 CNY)"),
        );
    } else if spec.amount_fen > money::MAX_AMOUNT_FEN {
        // R-X-3: bounded, so balances and refunds that sum amounts stay exact.
        bad(
            "spec.amount_fen",
            format!("at most {} fen", money::MAX_AMOUNT_FEN),
        );
    }
    // R-ADS-3
    if !DURATIONS_HOURS.contains(&spec.duration_hours) {
        bad("spec.duration_hours", "2, 6, 12 or 24".into());
    }
    // R-ADS-4
    if !spec.objective.fits(&spec.target) {
        bad(
            "spec.objective",
            match spec.target {
                Target::Video { .. } => "a short video: product purchase, content seeding, or followers and profile views".into(),
                Target::LiveRoom { .. } => "a live room: popularity, product clicks, sales, followers or comments".into(),
            },
        );
    }
    // R-ADS-5
    if !spec.bid.fits(&spec.target) {
        bad(
            "spec.bid_mode",
            "a live room supports automatic bidding only".into(),
        );
    }
    if let Bid::GoalManual { bid_fen } = spec.bid {
        if bid_fen <= 0 || bid_fen > spec.amount_fen {
            bad(
                "spec.bid_fen",
                "a positive bid no larger than the amount".into(),
            );
        }
    }
    // R-ADS-6: what review would certainly refuse is a request error at
    // placement, not an order that is rejected a moment later (issue 19).
    if let Target::Video {
        public,
        title,
        duration_secs,
        ..
    } = &spec.target
    {
        if !public {
            bad(
                "spec.video.public",
                "the video must be public (投放的视频需为公开视频)".into(),
            );
        }
        if title.chars().count() < MIN_TITLE_CHARS {
            bad(
                "spec.video.title",
                format!("at least {MIN_TITLE_CHARS} characters (标题文案字数不得少于{MIN_TITLE_CHARS}个字)"),
            );
        }
        if *duration_secs < MIN_VIDEO_SECS {
            bad(
                "spec.video.duration_secs",
                format!("at least {MIN_VIDEO_SECS} s (视频时长不得少于{MIN_VIDEO_SECS}s)"),
            );
        }
    }
    match &spec.target {
        Target::Video { video_id, .. } if video_id.is_empty() => {
            bad("spec.video.video_id", "required".into())
        }
        Target::LiveRoom { room_id } if room_id.is_empty() => {
            bad("spec.live_room.room_id", "required".into())
        }
        _ => {}
    }
    if spec
        .targeting
        .genders
        .iter()
        .any(|g| !GENDERS.contains(&g.as_str()))
    {
        bad("spec.targeting.genders", "male or female".into());
    }
    // The bad value is not quoted back: it may be any size.
    if spec
        .targeting
        .age_bands
        .iter()
        .any(|a| !AGE_BANDS.contains(&a.as_str()))
    {
        bad(
            "spec.targeting.age_bands",
            format!("one of {}", AGE_BANDS.join(", ")),
        );
    }
    if spec.targeting.regions.len() > 100 || spec.targeting.regions.iter().any(|r| r.is_empty()) {
        bad(
            "spec.targeting.regions",
            "at most 100 non-empty regions".into(),
        );
    }
    if e.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Invalid(e))
    }
}

fn order<'a>(account: &'a AdsAccount, id: &str) -> Result<&'a Order, DomainError> {
    account.orders.get(id).ok_or_else(|| DomainError::NotFound {
        kind: "order",
        id: id.to_owned(),
    })
}

/// The events `command` causes on `account`, or why it is refused.
pub fn decide(account: &AdsAccount, command: &Command) -> Result<Vec<Event>, DomainError> {
    match command {
        Command::SetTimeZone { time_zone, at } => {
            let zone = sellerdesk_core::zone::parse("time_zone", time_zone)?;
            Ok(if account.time_zone.as_deref() == Some(zone.name()) {
                vec![]
            } else {
                vec![Event::TimeZoneSet {
                    time_zone: zone.name().to_owned(),
                    at: *at,
                }]
            })
        }
        Command::PlaceOrder {
            order_id,
            spec,
            at,
            on_record,
        } => place_order(account, order_id, spec, at, *on_record),
        Command::DecideReview {
            order_id,
            approve,
            reasons,
            at,
        } => decide_review(account, order_id, approve, reasons, at),
        Command::CloseDeliveryWindow {
            order_id,
            window_hours,
            at,
        } => close_delivery_window(account, order_id, *window_hours, *at),
        Command::RecordDelivery {
            order_id,
            spent_fen,
            stats,
            at,
        } => record_delivery(account, order_id, spent_fen, stats, at),
        Command::TerminateOrder { order_id, at } => terminate_order(account, order_id, *at),
        Command::AddBudget {
            order_id,
            amount_fen,
            at,
        } => add_budget(account, order_id, *amount_fen, *at),
        Command::ExtendDelivery {
            order_id,
            hours,
            window_hours,
            at,
        } => extend_delivery(account, order_id, *hours, *window_hours, *at),
        Command::ReportShoppingCartUsed { room_id, at } => {
            report_shopping_cart_used(account, room_id, at)
        }
        Command::RequestInvoice {
            order_id,
            kind,
            title,
            at,
            on_record,
        } => request_invoice(account, order_id, kind, title, at, *on_record),
        Command::SetSubject { subject } => set_subject(account, subject),
        Command::MoveFunds {
            movement,
            amount_fen,
            channel,
            payment_id,
            at,
        } => move_funds(account, movement, amount_fen, channel, payment_id, at),
        Command::ConfirmPayment {
            payment_id,
            amount_fen,
            succeeded,
            at,
        } => confirm_payment(account, payment_id, *amount_fen, *succeeded, *at),
        Command::RecordRightsRevoked {
            at,
            source_position,
        } => record_rights(account, true, *at, *source_position),
        Command::RecordRightsRestored {
            at,
            source_position,
        } => record_rights(account, false, *at, *source_position),
        Command::RecordTierChanged {
            change,
            at,
            source_position,
        } => Ok(if account.penalties.has_seen(*source_position) {
            // A redelivery: counted already.
            vec![]
        } else {
            vec![Event::TierChangedNoted {
                change: change.clone(),
                at: *at,
                source_position: *source_position,
            }]
        }),
    }
}

/// R-CMP-13: the measures that forbid new promotion orders
/// (docs/penalties.md has the table for every service).
pub const MEASURES_BLOCKING_ORDERS: &[&str] =
    &["restrict_marketing", "suspend_sales", "deactivate"];

/// R-ADS-1..7, 9, 13: an order, checked, refused while rights are revoked, reviewed by machine at once.
fn place_order(
    account: &AdsAccount,
    order_id: &str,
    spec: &OrderSpec,
    at: &Instant,
    on_record: bool,
) -> Result<Vec<Event>, DomainError> {
    check_spec(order_id, spec)?;
    if let Some(existing) = account.orders.get(order_id) {
        return if &existing.spec == spec {
            Ok(vec![])
        } else {
            Err(DomainError::AlreadyExists {
                kind: "order",
                id: order_id.to_owned(),
            })
        };
    }
    // On record but not in the account: archived, and its id stays taken.
    // Not even the same content is a retry: a retry comes within seconds,
    // not after ORDER_KEPT_DAYS.
    if on_record {
        return Err(DomainError::AlreadyExists {
            kind: "order",
            id: order_id.to_owned(),
        });
    }
    may_promote(account, order_id, *at, "new promotion orders")?;
    // R-ADS-9
    if spec.product == Product::DouPlus {
        let cart = match &spec.target {
            Target::Video { has_shop_cart, .. } => *has_shop_cart,
            Target::LiveRoom { room_id } => account.rooms_with_cart.contains(room_id),
        };
        if cart {
            return Err(DomainError::precondition(
                "ONLY_XIAODIAN_SUIXINTUI",
                order_id,
                "content with a shop cart can only be promoted with 小店随心推, not DOU+",
            ));
        }
    }
    if spec.payment == PaymentMethod::AccountBalance && account.balance_fen < spec.amount_fen {
        return Err(DomainError::precondition(
            "INSUFFICIENT_BALANCE",
            order_id,
            format!(
                "the balance is {} fen; the order needs {}",
                account.balance_fen, spec.amount_fen
            ),
        ));
    }
    // What the machine review can see was refused above (check_spec); the
    // content review decides the rest (DecideReview).
    Ok(vec![Event::OrderPlaced {
        order_id: order_id.to_owned(),
        spec: spec.clone(),
        at: *at,
    }])
}

/// R-ADS-13, R-CMP-13: whether the shop may put more into promotion (a new
/// order, more budget, a longer window): not while its selling rights are
/// revoked or a measure that forbids it is in force.
fn may_promote(
    account: &AdsAccount,
    order_id: &str,
    at: Instant,
    what: &str,
) -> Result<(), DomainError> {
    if account.selling_rights_revoked {
        return Err(DomainError::precondition(
            "SELLING_RIGHTS_REVOKED",
            order_id,
            format!("the shop's selling rights are revoked: no {what}"),
        ));
    }
    account
        .penalties
        .check(at, MEASURES_BLOCKING_ORDERS, order_id, what)
}

/// R-ADS-6, R-ADS-7: the review; a rejection is refunded by the due date.
fn decide_review(
    account: &AdsAccount,
    order_id: &str,
    approve: &bool,
    reasons: &[String],
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    let o = order(account, order_id)?;
    if o.status != OrderStatus::PendingReview {
        return Err(DomainError::precondition(
            "NOT_IN_REVIEW",
            order_id,
            format!("order {order_id} is not waiting for review"),
        ));
    }
    if *approve {
        Ok(vec![Event::ReviewApproved {
            order_id: order_id.to_owned(),
            at: *at,
        }])
    } else {
        if reasons.is_empty() {
            return Err(DomainError::Invalid(vec![(
                "reasons".into(),
                "a rejection names its reasons".into(),
            )]));
        }
        Ok(vec![Event::ReviewRejected {
            order_id: order_id.to_owned(),
            reasons: reasons.to_vec(),
            refund: Refund {
                amount_fen: o.spec.amount_fen,
                to: o.spec.payment,
                due_by: refund_due_by(*at, account.zone()),
            },
            at: *at,
        }])
    }
}

/// R-ADS-8, R-ADS-10: paid delivery reported; the budget decides the end.
fn record_delivery(
    account: &AdsAccount,
    order_id: &str,
    spent_fen: &Fen,
    stats: &PaidStats,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    let o = order(account, order_id)?;
    let OrderStatus::Delivering { since } = o.status else {
        return Err(DomainError::precondition(
            "NOT_DELIVERING",
            order_id,
            format!("order {order_id} is not delivering"),
        ));
    };
    if *spent_fen < 0 {
        return Err(DomainError::Invalid(vec![(
            "spent_fen".into(),
            "spend only grows".into(),
        )]));
    }
    // R-X-3: checked, so an absurd report is refused rather than wrapped.
    let spent_total = o.spent_fen.checked_add(*spent_fen);
    if spent_total.is_none_or(|t| t > o.spec.amount_fen) {
        return Err(DomainError::Invalid(vec![(
            "spent_fen".into(),
            format!(
                "{} fen of the budget are left",
                o.spec.amount_fen - o.spent_fen
            ),
        )]));
    }
    o.stats.checked_add(stats)?;
    let mut events = vec![Event::DeliveryReported {
        order_id: order_id.to_owned(),
        spent_fen: *spent_fen,
        stats: *stats,
        at: *at,
    }];
    // R-ADS-8: the budget decides the end, whatever duration was chosen.
    if spent_total == Some(o.spec.amount_fen) {
        events.push(Event::DeliveryCompleted {
            order_id: order_id.to_owned(),
            run_secs: (*at - since).num_seconds(),
            at: *at,
        });
    }
    Ok(events)
}

/// R-ADS-14: delivery ends when its window closes, whatever was spent; the
/// remainder goes back to where the order was paid from. Time-driven and so
/// idempotent: before the window closes, or once the order ended, nothing.
fn close_delivery_window(
    account: &AdsAccount,
    order_id: &str,
    window_hours: u32,
    at: Instant,
) -> Result<Vec<Event>, DomainError> {
    let o = order(account, order_id)?;
    let OrderStatus::Delivering { since } = o.status else {
        return Ok(vec![]);
    };
    if at < window_closes(o, since, window_hours) {
        return Ok(vec![]);
    }
    let mut events = vec![Event::DeliveryCompleted {
        order_id: order_id.to_owned(),
        run_secs: (at - since).num_seconds(),
        at,
    }];
    events.extend(remainder_refund(o, at, account.zone()));
    Ok(events)
}

/// When a delivering order's window closes: the deployment's window from
/// the start of delivery, plus what the shop extended it by.
fn window_closes(o: &Order, since: Instant, window_hours: u32) -> Instant {
    since
        + chrono::Duration::hours(i64::from(window_hours))
        + chrono::Duration::hours(i64::from(o.extended_hours))
}

/// R-ADS-14: what an ending order did not spend goes back, as its own event.
fn remainder_refund(o: &Order, at: Instant, zone: chrono_tz::Tz) -> Option<Event> {
    // R-X-3: spend never exceeds the amount (RecordDelivery refuses it).
    let remainder = o.spec.amount_fen.saturating_sub(o.spent_fen);
    (remainder > 0).then(|| Event::RemainderRefunded {
        order_id: o.order_id.clone(),
        refund: Refund {
            amount_fen: remainder,
            to: o.spec.payment,
            due_by: refund_due_by(at, zone),
        },
        at,
    })
}

fn not_delivering(order_id: &str) -> DomainError {
    DomainError::precondition(
        "NOT_DELIVERING",
        order_id,
        format!("order {order_id} is not delivering"),
    )
}

/// The shop stops an order that is under review or delivering.
fn terminate_order(
    account: &AdsAccount,
    order_id: &str,
    at: Instant,
) -> Result<Vec<Event>, DomainError> {
    let o = order(account, order_id)?;
    let run_secs = match o.status {
        OrderStatus::PendingReview => None,
        OrderStatus::Delivering { since } => Some((at - since).num_seconds().max(0)),
        _ => {
            return Err(DomainError::precondition(
                "ORDER_ENDED",
                order_id,
                format!("order {order_id} is no longer running"),
            ))
        }
    };
    let mut events = vec![Event::OrderTerminated {
        order_id: order_id.to_owned(),
        run_secs,
        at,
    }];
    events.extend(remainder_refund(o, at, account.zone()));
    Ok(events)
}

/// More budget for a delivering order, paid the way the order was.
fn add_budget(
    account: &AdsAccount,
    order_id: &str,
    amount_fen: Fen,
    at: Instant,
) -> Result<Vec<Event>, DomainError> {
    let o = order(account, order_id)?;
    if !matches!(o.status, OrderStatus::Delivering { .. }) {
        return Err(not_delivering(order_id));
    }
    if amount_fen < MIN_AMOUNT_FEN {
        return Err(DomainError::Invalid(vec![(
            "amount_fen".into(),
            format!("at least {MIN_AMOUNT_FEN} fen (100 CNY)"),
        )]));
    }
    may_promote(account, order_id, at, "more promotion budget")?;
    // R-X-3: the new total is checked, never wrapped or saturated.
    if o.spec
        .amount_fen
        .checked_add(amount_fen)
        .is_none_or(|total| total > money::MAX_AMOUNT_FEN)
    {
        return Err(DomainError::Invalid(vec![(
            "amount_fen".into(),
            format!(
                "the order may hold at most {} fen; it holds {}",
                money::MAX_AMOUNT_FEN,
                o.spec.amount_fen
            ),
        )]));
    }
    if o.spec.payment == PaymentMethod::AccountBalance && account.balance_fen < amount_fen {
        return Err(DomainError::precondition(
            "INSUFFICIENT_BALANCE",
            order_id,
            format!(
                "the balance is {} fen; adding needs {amount_fen}",
                account.balance_fen
            ),
        ));
    }
    Ok(vec![Event::BudgetAdded {
        order_id: order_id.to_owned(),
        amount_fen,
        at,
    }])
}

/// A longer window for a delivering order, while it is open.
fn extend_delivery(
    account: &AdsAccount,
    order_id: &str,
    hours: u32,
    window_hours: u32,
    at: Instant,
) -> Result<Vec<Event>, DomainError> {
    let o = order(account, order_id)?;
    let OrderStatus::Delivering { since } = o.status else {
        return Err(not_delivering(order_id));
    };
    if !DURATIONS_HOURS.contains(&hours) {
        return Err(DomainError::Invalid(vec![(
            "hours".into(),
            format!("one of {DURATIONS_HOURS:?}"),
        )]));
    }
    if o.extended_hours.saturating_add(hours) > MAX_EXTENSION_HOURS {
        return Err(DomainError::precondition(
            "EXTENSION_LIMIT",
            order_id,
            format!(
                "an order may be extended by {MAX_EXTENSION_HOURS} hours in all; it has {}",
                o.extended_hours
            ),
        ));
    }
    may_promote(account, order_id, at, "longer promotion")?;
    if at >= window_closes(o, since, window_hours) {
        return Err(DomainError::precondition(
            "WINDOW_CLOSED",
            order_id,
            format!("order {order_id}'s delivery window has closed"),
        ));
    }
    Ok(vec![Event::DeliveryExtended {
        order_id: order_id.to_owned(),
        hours,
        at,
    }])
}

/// R-ADS-9: a room that used its cart stops its DOU+ orders, refunded.
fn report_shopping_cart_used(
    account: &AdsAccount,
    room_id: &str,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    if room_id.is_empty() {
        return Err(DomainError::Invalid(vec![(
            "room_id".into(),
            "required".into(),
        )]));
    }
    let mut events = Vec::new();
    if !account.rooms_with_cart.contains(room_id) {
        events.push(Event::ShoppingCartUsed {
            room_id: room_id.to_owned(),
            at: *at,
        });
    }
    for o in account.orders.values().filter(|o| {
        o.running()
            && o.spec.product == Product::DouPlus
            && matches!(&o.spec.target, Target::LiveRoom { room_id: r } if r == room_id)
    }) {
        events.push(Event::DouPlusOrderTerminated {
            order_id: o.order_id.to_owned(),
            refund: Refund {
                amount_fen: o.spec.amount_fen - o.spent_fen,
                to: o.spec.payment,
                due_by: refund_due_by(*at, account.zone()),
            },
            at: *at,
        });
    }
    Ok(events)
}

/// R-ADS-11: an invoice for an order whose delivery ended, of the subject's kind.
fn request_invoice(
    account: &AdsAccount,
    order_id: &str,
    kind: &InvoiceKind,
    title: &str,
    at: &Instant,
    on_record: bool,
) -> Result<Vec<Event>, DomainError> {
    // R-ADS-11: invoices are requested while the account holds the order,
    // up to ORDER_KEPT_DAYS after its delivery ended.
    if on_record && !account.orders.contains_key(order_id) {
        return Err(DomainError::precondition(
            "ORDER_ARCHIVED",
            order_id,
            format!(
                "the order ended more than {ORDER_KEPT_DAYS} days ago and is archived: \
                 invoices are requested within {ORDER_KEPT_DAYS} days after delivery ends"
            ),
        ));
    }
    let o = order(account, order_id)?;
    if title.trim().is_empty() || title.chars().count() > 100 {
        return Err(DomainError::Invalid(vec![(
            "title".into(),
            "1 to 100 characters".into(),
        )]));
    }
    if !o.delivery_ended() {
        return Err(DomainError::precondition(
            "DELIVERY_NOT_ENDED",
            order_id,
            "invoices come after delivery ends",
        ));
    }
    if let Some((k, t, _)) = &o.invoice {
        return if *k == *kind && t == title {
            Ok(vec![])
        } else {
            Err(DomainError::AlreadyExists {
                kind: "invoice",
                id: order_id.to_owned(),
            })
        };
    }
    match (kind, &account.subject) {
        (InvoiceKind::Personal, Some(Subject::Person { name })) if name != title => {
            return Err(DomainError::precondition(
                "PERSONAL_SUBJECT_ONLY",
                order_id,
                "an account bound to a person gets invoices for that person only",
            ))
        }
        (InvoiceKind::Company, Some(Subject::Person { .. })) => {
            return Err(DomainError::precondition(
                "PERSONAL_SUBJECT_ONLY",
                order_id,
                "an account bound to a person gets invoices for that person only",
            ))
        }
        (
            InvoiceKind::Company,
            Some(Subject::Company {
                certified: true, ..
            }),
        ) => {}
        (InvoiceKind::Company, _) => {
            return Err(DomainError::precondition(
                "COMPANY_NOT_CERTIFIED",
                order_id,
                "a company invoice needs the account's company certification",
            ))
        }
        (InvoiceKind::Personal, None) => {
            return Err(DomainError::precondition(
                "NO_SUBJECT",
                order_id,
                "the account is bound to no subject yet",
            ))
        }
        _ => {}
    }
    if o.spent_fen == 0 {
        return Err(DomainError::precondition(
            "NOTHING_SPENT",
            order_id,
            "nothing was spent: nothing to invoice",
        ));
    }
    Ok(vec![Event::InvoiceIssued {
        order_id: order_id.to_owned(),
        kind: *kind,
        title: title.to_owned(),
        amount_fen: o.spent_fen,
        at: *at,
    }])
}

/// R-ADS-11: who the account is bound to.
fn set_subject(account: &AdsAccount, subject: &Subject) -> Result<Vec<Event>, DomainError> {
    // The request's own path: `subject.person` is the person's name.
    let (name, field) = match subject {
        Subject::Person { name } => (name, "subject.person"),
        Subject::Company { name, .. } => (name, "subject.company.name"),
    };
    if name.trim().is_empty() || name.chars().count() > 100 {
        return Err(DomainError::Invalid(vec![(
            field.into(),
            "1 to 100 characters".into(),
        )]));
    }
    Ok(if account.subject.as_ref() == Some(subject) {
        vec![]
    } else {
        vec![Event::SubjectSet {
            subject: subject.clone(),
        }]
    })
}

/// R-ADS-12: funds move on the PC channel only; R-X-3: totals never wrap.
fn move_funds(
    account: &AdsAccount,
    movement: &FundsMove,
    amount_fen: &Fen,
    channel: &Channel,
    payment_id: &str,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    money::positive_amount("amount_fen", *amount_fen)?;
    // R-ADS-12
    if *channel == Channel::Mobile {
        let what = match movement {
            FundsMove::TopUp => "充值",
            FundsMove::Withdraw => "提现",
            FundsMove::CompanyTopUp => "对公充值",
        };
        return Err(DomainError::precondition(
            "PC_CHANNEL_ONLY",
            "channel",
            format!("请通过巨量千川电脑端进行{what}，暂不支持移动端 (use the PC channel)"),
        ));
    }
    let top_up = *movement != FundsMove::Withdraw;
    if top_up {
        if payment_id.is_empty() {
            return Err(DomainError::Invalid(vec![(
                "payment_id".into(),
                "required for a top-up: the client's id for the payment, for retries".into(),
            )]));
        }
        // A retry of the same payment is a no-op; another under its id is refused.
        let same = |m: &FundsMove, a: &Fen| m == movement && a == amount_fen;
        if let Some((m, a)) = account.pending_payments.get(payment_id) {
            return if same(m, a) {
                Ok(vec![])
            } else {
                Err(DomainError::AlreadyExists {
                    kind: "payment",
                    id: payment_id.to_owned(),
                })
            };
        }
        if account.settled_payments.contains_key(payment_id) {
            return Err(DomainError::AlreadyExists {
                kind: "payment",
                id: payment_id.to_owned(),
            });
        }
    }
    if *movement == FundsMove::Withdraw && *amount_fen > account.balance_fen {
        return Err(DomainError::precondition(
            "INSUFFICIENT_BALANCE",
            "amount_fen",
            format!("the balance is {} fen", account.balance_fen),
        ));
    }
    if *movement == FundsMove::CompanyTopUp
        && !matches!(account.subject, Some(Subject::Company { .. }))
    {
        return Err(DomainError::precondition(
            "NOT_A_COMPANY",
            "movement",
            "对公充值 needs an account bound to a company",
        ));
    }
    if top_up {
        // R-X-3: what the balance may come to once every order paid from it
        // is refunded and every pending payment confirmed must still be
        // representable.
        money::add_to_total(
            "amount_fen",
            account.balance_fen,
            account.refundable_to_balance(),
        )
        .and_then(|held| money::add_to_total("amount_fen", held, pending_total(account)))
        .and_then(|held| money::add_to_total("amount_fen", held, *amount_fen))?;
        // Never credited on request: the payment provider confirms it.
        return Ok(vec![Event::TopUpRequested {
            payment_id: payment_id.to_owned(),
            movement: *movement,
            amount_fen: *amount_fen,
            at: *at,
        }]);
    }
    Ok(vec![Event::FundsMoved {
        movement: *movement,
        amount_fen: *amount_fen,
        at: *at,
    }])
}

fn pending_total(account: &AdsAccount) -> Fen {
    account
        .pending_payments
        .values()
        .map(|(_, a)| *a)
        .fold(0, Fen::saturating_add)
}

/// R-ADS-14: the payment provider's answer on a pending top-up (its
/// signature was checked before this command was made). Answered once: a
/// repeated callback changes nothing; one that names another amount is
/// refused.
fn confirm_payment(
    account: &AdsAccount,
    payment_id: &str,
    amount_fen: Fen,
    succeeded: bool,
    at: Instant,
) -> Result<Vec<Event>, DomainError> {
    if account.settled_payments.contains_key(payment_id) {
        return Ok(vec![]);
    }
    let Some((_, pending)) = account.pending_payments.get(payment_id) else {
        return Err(DomainError::NotFound {
            kind: "payment",
            id: payment_id.to_owned(),
        });
    };
    if *pending != amount_fen {
        return Err(DomainError::Invalid(vec![(
            "amount_fen".into(),
            format!("the payment is for {pending} fen"),
        )]));
    }
    if !succeeded {
        return Ok(vec![Event::TopUpFailed {
            payment_id: payment_id.to_owned(),
            at,
        }]);
    }
    money::add_to_total("amount_fen", account.balance_fen, amount_fen)?;
    Ok(vec![Event::TopUpConfirmed {
        payment_id: payment_id.to_owned(),
        amount_fen,
        at,
    }])
}

/// R-ADS-13: compliance-svc revoked (or restored) selling rights. Applied by
/// the event's position in compliance's log, never by arrival: an event at or
/// before the position applied last changes nothing, whichever replica or
/// redelivery brings it.
fn record_rights(
    account: &AdsAccount,
    revoked: bool,
    at: Instant,
    source_position: i64,
) -> Result<Vec<Event>, DomainError> {
    if source_position <= account.rights_source_position {
        return Ok(vec![]);
    }
    Ok(vec![if revoked {
        Event::SellingRightsRevokedNoted {
            at,
            source_position,
        }
    } else {
        Event::SellingRightsRestoredNoted {
            at,
            source_position,
        }
    }])
}
