use super::{
    Command, CommissionLine, ContentKind, CreatorProfile, DomainError, Event, Fen, Goal, Instant,
    Limits, Marketplace, Penalties, PlanProduct, PlanSales, PlanSource, MAX_PLAN_CREATORS,
};
use chrono::NaiveDate;
use sellerdesk_core::money;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// R-AFF-6, R-X-4: how long after it was sent an invitation stays in the
/// shop's outreach. An invitation waits at most 90 days for its answer
/// (`affiliate_invitation_days` is 1 to 90), so by then nothing can change
/// it; it is read from the invitations read model after (decision 0022).
pub const INVITATION_KEPT_DAYS: i64 = 180;

impl Invitation {
    /// The invitation an `InvitationSent` starts, if `event` is one.
    pub fn sent(event: &Event) -> Option<Self> {
        match event {
            Event::InvitationSent {
                creator_id,
                goal,
                message,
                at,
                ..
            } => Some(Invitation {
                creator_id: creator_id.to_owned(),
                goal: *goal,
                message: message.to_owned(),
                sent_at: *at,
                accepted: None,
            }),
            _ => None,
        }
    }

    /// What an answer makes of it; the outreach fold and the read model
    /// share it.
    pub fn apply(&mut self, event: &Event) {
        if let Event::InvitationAnswered { accepted, .. } = event {
            self.accepted = Some(*accepted);
        }
    }

    /// Whether it has left the outreach by `at`.
    pub fn retired_by(&self, at: Instant) -> bool {
        sellerdesk_core::days_passed(self.sent_at, INVITATION_KEPT_DAYS, at)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invitation {
    pub creator_id: String,
    pub goal: Goal,
    pub message: String,
    pub sent_at: Instant,
    pub accepted: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    pub goal: Goal,
    pub products: Vec<PlanProduct>,
    pub creator_ids: Vec<String>,
    pub source: PlanSource,
    pub sales: PlanSales,
    /// R-AFF-6: each creator's answer to the plan; absent while pending.
    pub answers: BTreeMap<String, bool>,
    pub ended_at: Option<Instant>,
}

/// R-AFF-6, R-X-4 (decision 0022): how long after it ended a plan stays in
/// the shop's outreach; the plans read model holds it after. Nothing can
/// change it by then: sales stop when it ends, and their refunds are taken
/// for ORDER_KEPT_DAYS.
pub const PLAN_KEPT_DAYS: i64 = 180;

impl Plan {
    /// The plan an event creates.
    pub fn started(event: &Event) -> Option<Self> {
        match event {
            Event::PlanCreated {
                name,
                goal,
                products,
                creator_ids,
                source,
                ..
            } => Some(Plan {
                name: name.to_owned(),
                goal: *goal,
                products: products.to_vec(),
                creator_ids: creator_ids.to_vec(),
                source: *source,
                sales: PlanSales::default(),
                answers: BTreeMap::new(),
                ended_at: None,
            }),
            _ => None,
        }
    }

    /// What an event about this plan makes of it; the outreach fold and the
    /// read model share it.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::PlanEdited { name, products, .. } => {
                self.name = name.to_owned();
                self.products = products.to_vec();
            }
            Event::PlanEnded { at, .. } => self.ended_at = Some(*at),
            Event::PlanAnswered {
                creator_id,
                accepted,
                ..
            } => {
                self.answers.insert(creator_id.to_owned(), *accepted);
            }
            Event::PlanCreatorsAdded { creator_ids, .. } => {
                self.creator_ids.extend(creator_ids.iter().cloned());
            }
            Event::PlanSaleRecorded {
                revenue_fen,
                product_cost_fen,
                commission_fen,
                ..
            } => {
                // decide checked these sums (R-X-3); saturating keeps the fold total.
                let sales = &mut self.sales;
                sales.revenue_fen = sales.revenue_fen.saturating_add(*revenue_fen);
                sales.product_cost_fen = sales.product_cost_fen.saturating_add(*product_cost_fen);
                sales.commission_fen = sales.commission_fen.saturating_add(*commission_fen);
            }
            Event::OrderRefunded {
                refund_fen,
                commission_clawback_fen,
                ..
            } => {
                let sales = &mut self.sales;
                sales.refunded_fen = sales.refunded_fen.saturating_add(*refund_fen);
                sales.commission_fen = sales
                    .commission_fen
                    .saturating_sub(*commission_clawback_fen);
            }
            _ => {}
        }
    }

    /// The plan an event is about, if it is about one.
    pub fn id_of(event: &Event) -> Option<&str> {
        match event {
            Event::PlanCreated { plan_id, .. }
            | Event::PlanEdited { plan_id, .. }
            | Event::PlanEnded { plan_id, .. }
            | Event::PlanAnswered { plan_id, .. }
            | Event::PlanCreatorsAdded { plan_id, .. }
            | Event::PlanSaleRecorded { plan_id, .. }
            | Event::OrderRefunded { plan_id, .. } => Some(plan_id),
            _ => None,
        }
    }

    /// Whether it has left the outreach by `at`: it ended PLAN_KEPT_DAYS
    /// before. A running plan stays however old.
    pub fn retired_by(&self, at: Instant) -> bool {
        self.ended_at
            .is_some_and(|ended| sellerdesk_core::days_passed(ended, PLAN_KEPT_DAYS, at))
    }
}

/// A sample's way (R-AFF-5, R-AFF-6): requested by the creator (or offered
/// by the shop), reviewed, shipped, delivered, and the content that followed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Sample {
    pub creator_id: String,
    pub product_id: String,
    pub requested_at: Option<Instant>,
    /// The shop's review of a request: approved, or rejected with a reason.
    pub review: Option<Result<(), String>>,
    pub shipped_at: Option<Instant>,
    pub delivered_at: Option<Instant>,
    pub content_due: Option<Instant>,
    pub content: Option<(ContentKind, Instant)>,
    /// When nothing could change it any more: its request was rejected, or
    /// its content was posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<Instant>,
}

/// R-AFF-6, R-X-4: how long after it settled a sample stays in the shop's
/// outreach; it is read from the samples read model after (decision 0022).
pub const SAMPLE_KEPT_DAYS: i64 = 180;

impl Sample {
    /// The sample an event starts: a creator's request, or the shop's own
    /// offer shipped under a new id.
    pub fn started(event: &Event) -> Option<Self> {
        let (creator_id, product_id, requested_at, shipped_at) = match event {
            Event::SampleRequested {
                creator_id,
                product_id,
                at,
                ..
            } => (creator_id, product_id, Some(*at), None),
            Event::SampleShipped {
                creator_id,
                product_id,
                at,
                ..
            } => (creator_id, product_id, None, Some(*at)),
            _ => return None,
        };
        Some(Sample {
            creator_id: creator_id.to_owned(),
            product_id: product_id.to_owned(),
            requested_at,
            shipped_at,
            ..Sample::default()
        })
    }

    /// What an event about this sample makes of it; the outreach fold and
    /// the read model share it.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::SampleRequestApproved { .. } => self.review = Some(Ok(())),
            Event::SampleRequestRejected { reason, at, .. } => {
                self.review = Some(Err(reason.to_owned()));
                self.settled_at = Some(*at);
            }
            Event::SampleShipped { at, .. } => self.shipped_at = Some(*at),
            Event::SampleDelivered {
                content_due, at, ..
            } => {
                self.delivered_at = Some(*at);
                self.content_due = Some(*content_due);
            }
            Event::ContentPosted { kind, at, .. } => {
                self.content = Some((*kind, *at));
                self.settled_at = Some(*at);
            }
            _ => {}
        }
    }

    /// Whether it has left the outreach by `at`.
    pub fn retired_by(&self, at: Instant) -> bool {
        self.settled_at
            .is_some_and(|settled| sellerdesk_core::days_passed(settled, SAMPLE_KEPT_DAYS, at))
    }

    /// The sample an event is about, if it is about one.
    pub fn id_of(event: &Event) -> Option<&str> {
        match event {
            Event::SampleRequested { sample_id, .. }
            | Event::SampleRequestApproved { sample_id, .. }
            | Event::SampleRequestRejected { sample_id, .. }
            | Event::SampleShipped { sample_id, .. }
            | Event::SampleDelivered { sample_id, .. }
            | Event::ContentPosted { sample_id, .. } => Some(sample_id),
            _ => None,
        }
    }
}

/// An order attributed to a plan's creator (R-AFF-1, R-AFF-6).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AttributedOrder {
    pub plan_id: String,
    pub creator_id: String,
    pub product_id: String,
    pub revenue_fen: Fen,
    pub product_cost_fen: Fen,
    pub commission_fen: Fen,
    pub refunded_fen: Fen,
    pub clawed_back_fen: Fen,
    /// When the sale was recorded: refunds are taken for ORDER_KEPT_DAYS
    /// from it.
    #[serde(default)]
    pub sold_at: Instant,
}

/// R-AFF-1, R-X-4 (decision 0022): how long after its sale an attributed
/// order takes refunds, and stays in the shop's outreach; the orders read
/// model holds it after. The seed sets no limit. Without one the outreach
/// would hold every order a shop's creators ever sold, and platforms settle
/// a creator's commission once the after-sale period has passed, which is
/// weeks, not months.
pub const ORDER_KEPT_DAYS: i64 = 90;

/// R-AFF-1, R-X-4: how long a settlement's id stays known, so a repeated
/// SettleCommissions is a no-op. The platform repeats a settlement within
/// minutes, not months; without a limit the outreach would hold every
/// settlement the shop was ever paid by. A settlement repeated after them
/// pays only what became due since, so nothing is paid twice either way.
pub const SETTLEMENT_IDS_KEPT_DAYS: i64 = 90;

impl AttributedOrder {
    /// The order a sale attributes; sales recorded before orders had ids
    /// start none.
    pub fn started(event: &Event) -> Option<Self> {
        match event {
            Event::PlanSaleRecorded {
                order_id,
                creator_id,
                plan_id,
                product_id,
                revenue_fen,
                product_cost_fen,
                commission_fen,
                at,
            } if !order_id.is_empty() => Some(AttributedOrder {
                plan_id: plan_id.to_owned(),
                creator_id: creator_id.to_owned(),
                product_id: product_id.to_owned(),
                revenue_fen: *revenue_fen,
                product_cost_fen: *product_cost_fen,
                commission_fen: *commission_fen,
                sold_at: *at,
                ..AttributedOrder::default()
            }),
            _ => None,
        }
    }

    /// What an event about this order makes of it; the outreach fold and
    /// the read model share it.
    pub fn apply(&mut self, event: &Event) {
        if let Event::OrderRefunded {
            refund_fen,
            commission_clawback_fen,
            ..
        } = event
        {
            self.refunded_fen = self.refunded_fen.saturating_add(*refund_fen);
            self.clawed_back_fen = self
                .clawed_back_fen
                .saturating_add(*commission_clawback_fen);
        }
    }

    /// The order an event is about, if it is about one.
    pub fn id_of(event: &Event) -> Option<&str> {
        match event {
            Event::PlanSaleRecorded { order_id, .. } | Event::OrderRefunded { order_id, .. }
                if !order_id.is_empty() =>
            {
                Some(order_id)
            }
            _ => None,
        }
    }

    /// Whether its refund window has closed, and so it has left the
    /// outreach, by `at`.
    pub fn retired_by(&self, at: Instant) -> bool {
        sellerdesk_core::days_passed(self.sold_at, ORDER_KEPT_DAYS, at)
    }
}

/// What a creator has earned from the shop's plans, fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CommissionAccount {
    pub earned_fen: Fen,
    pub clawed_back_fen: Fen,
    pub settled_fen: Fen,
}

impl CommissionAccount {
    /// Earned, less clawed back, less paid: what the next settlement pays
    /// (negative: what it deducts). Each term is bounded (R-X-3), so the
    /// difference fits; saturating keeps it total regardless.
    pub fn due_fen(&self) -> Fen {
        self.earned_fen
            .saturating_sub(self.clawed_back_fen)
            .saturating_sub(self.settled_fen)
    }
}

/// A shop's outreach: the fold of its stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outreach {
    pub version: i64,
    /// R-CMP-13: compliance-svc's word on the shop, by its log position.
    pub selling_rights_revoked: bool,
    pub rights_position: i64,
    pub penalties: Penalties,
    pub invitations: BTreeMap<String, Invitation>,
    /// R-AFF-3: invitations sent per local date.
    pub sent_per_day: BTreeMap<NaiveDate, u32>,
    pub plans: BTreeMap<String, Plan>,
    pub samples: BTreeMap<String, Sample>,
    pub orders: BTreeMap<String, AttributedOrder>,
    pub commissions: BTreeMap<String, CommissionAccount>,
    /// Settlements paid, when: kept [`SETTLEMENT_IDS_KEPT_DAYS`], so a
    /// repeated request is recognised.
    pub settlements: BTreeMap<String, Instant>,
    /// R-X-3: the IANA zone the shop set; Asia/Shanghai while None.
    pub time_zone: Option<String>,
}

/// Kept as a snapshot by the command path. Raise the shape with any change
/// to these fields or to what `apply` makes of an event.
impl sellerdesk_core::Snapshotted for Outreach {
    // 2: only the last days of sent invitations are counted.
    // 3: invitations sent INVITATION_KEPT_DAYS before retire.
    // 4: samples know when they settled, and retire.
    // 5: attributed orders know when they sold, and retire; so do plans
    // that ended.
    // 6: settlement ids know when they were paid, and retire.
    const SHAPE: u32 = 6;
}

impl Outreach {
    /// Samples settled long before leave as a new one comes (R-X-4), by the
    /// event's time: every replica folds the same outreach.
    fn retire_samples(&mut self, at: Instant) {
        self.samples.retain(|_, s| !s.retired_by(at));
    }

    /// The shop's time zone (R-X-3).
    pub fn zone(&self) -> chrono_tz::Tz {
        sellerdesk_core::zone::or_default(self.time_zone.as_deref())
    }

    pub fn apply(&mut self, event: &Event) {
        self.version += 1;
        match event {
            Event::TimeZoneSet { time_zone, .. } => self.time_zone = Some(time_zone.to_owned()),
            Event::CreatorProfiled { .. } => {}
            Event::SellingRightsNoted {
                revoked,
                source_position,
                ..
            } => {
                if *source_position > self.rights_position {
                    self.selling_rights_revoked = *revoked;
                    self.rights_position = *source_position;
                }
            }
            Event::TierChangedNoted {
                change,
                source_position,
                ..
            } => self.penalties.note(change, *source_position),
            Event::InvitationSent {
                invitation_id,
                local_date,
                at,
                ..
            } => {
                *self.sent_per_day.entry(*local_date).or_default() += 1;
                // R-AFF-3 counts the day a command is sent on, and no command
                // comes before this one: older days are never read again.
                // Two days are kept for a shop that moves its time zone west.
                if let Some(oldest) = local_date.checked_sub_days(chrono::Days::new(2)) {
                    self.sent_per_day = self.sent_per_day.split_off(&oldest);
                }
                // Invitations sent long before leave as a new one goes out
                // (R-X-4), by the event's time: every replica folds the same.
                self.invitations.retain(|_, i| !i.retired_by(*at));
                if let Some(sent) = Invitation::sent(event) {
                    self.invitations.insert(invitation_id.to_owned(), sent);
                }
            }
            Event::InvitationAnswered { invitation_id, .. } => {
                if let Some(i) = self.invitations.get_mut(invitation_id) {
                    i.apply(event);
                }
            }
            Event::PlanCreated { plan_id, at, .. } => {
                // Plans ended long before leave as a new one comes, by the
                // event's time (R-X-4).
                self.plans.retain(|_, p| !p.retired_by(*at));
                if let Some(started) = Plan::started(event) {
                    self.plans.insert(plan_id.to_owned(), started);
                }
            }
            Event::PlanEdited { plan_id, .. }
            | Event::PlanEnded { plan_id, .. }
            | Event::PlanAnswered { plan_id, .. }
            | Event::PlanCreatorsAdded { plan_id, .. } => {
                if let Some(p) = self.plans.get_mut(plan_id) {
                    p.apply(event);
                }
            }
            Event::SampleRequested { sample_id, at, .. } => {
                self.retire_samples(*at);
                if let Some(started) = Sample::started(event) {
                    self.samples.insert(sample_id.to_owned(), started);
                }
            }
            Event::SampleShipped { sample_id, at, .. } => {
                match self.samples.get_mut(sample_id) {
                    Some(s) => s.apply(event),
                    None => {
                        // The shop's own offer: a new sample.
                        self.retire_samples(*at);
                        if let Some(started) = Sample::started(event) {
                            self.samples.insert(sample_id.to_owned(), started);
                        }
                    }
                }
            }
            Event::SampleRequestApproved { sample_id, .. }
            | Event::SampleRequestRejected { sample_id, .. }
            | Event::SampleDelivered { sample_id, .. }
            | Event::ContentPosted { sample_id, .. } => {
                if let Some(s) = self.samples.get_mut(sample_id) {
                    s.apply(event);
                }
            }
            Event::PlanSaleRecorded {
                order_id,
                creator_id,
                plan_id,
                commission_fen,
                ..
            } => {
                if let Some(p) = self.plans.get_mut(plan_id) {
                    p.apply(event);
                }
                if let Some(started) = AttributedOrder::started(event) {
                    // Orders whose refund window closed leave as a new one
                    // comes, by the event's time (R-X-4).
                    self.orders.retain(|_, o| !o.retired_by(started.sold_at));
                    self.orders.insert(order_id.to_owned(), started);
                    let a = self.commissions.entry(creator_id.to_owned()).or_default();
                    a.earned_fen = a.earned_fen.saturating_add(*commission_fen);
                }
            }
            Event::OrderRefunded {
                order_id,
                plan_id,
                creator_id,
                commission_clawback_fen,
                ..
            } => {
                if let Some(o) = self.orders.get_mut(order_id) {
                    o.apply(event);
                }
                if let Some(p) = self.plans.get_mut(plan_id) {
                    p.apply(event);
                }
                let a = self.commissions.entry(creator_id.to_owned()).or_default();
                a.clawed_back_fen = a.clawed_back_fen.saturating_add(*commission_clawback_fen);
            }
            Event::CommissionsSettled {
                settlement_id,
                lines,
                at,
            } => {
                // Ids paid long before leave as a new settlement comes, by the
                // event's time (R-X-4).
                self.settlements
                    .retain(|_, paid| !settlement_id_retired(*paid, *at));
                self.settlements.insert(settlement_id.to_owned(), *at);
                for l in lines {
                    let a = self.commissions.entry(l.creator_id.to_owned()).or_default();
                    a.settled_fen = a.settled_fen.saturating_add(l.amount_fen);
                }
            }
        }
    }
}

/// Whether a settlement paid at `paid` is forgotten by `at`: the fold and
/// the decision read the same days.
fn settlement_id_retired(paid: Instant, at: Instant) -> bool {
    sellerdesk_core::days_passed(paid, SETTLEMENT_IDS_KEPT_DAYS, at)
}

fn invalid(field: &str, why: impl Into<String>) -> DomainError {
    DomainError::Invalid(vec![(field.to_owned(), why.into())])
}

fn check_id(field: &str, id: &str) -> Result<(), DomainError> {
    if id.is_empty() || id.len() > 64 {
        return Err(invalid(field, "1 to 64 bytes"));
    }
    Ok(())
}

/// A creator named alone is NOT_FOUND; one in a list names its place.
fn known_creator(market: &Marketplace, field: &str, id: &str) -> Result<(), DomainError> {
    if market.contains(id) {
        Ok(())
    } else if field.contains('[') {
        Err(invalid(field, format!("no creator {id:?}")))
    } else {
        Err(DomainError::NotFound {
            kind: "creator",
            id: id.to_owned(),
        })
    }
}

fn check_profile(p: &CreatorProfile) -> Result<(), DomainError> {
    let mut e = Vec::new();
    if p.creator_id.is_empty() || p.creator_id.len() > 64 {
        e.push(("profile.creator_id".to_owned(), "1 to 64 bytes".to_owned()));
    }
    if p.handle.trim().is_empty() {
        e.push(("profile.handle".into(), "required".into()));
    }
    if p.female_share_bps > 10_000 {
        e.push(("profile.female_share_bps".into(), "0 to 10000".into()));
    }
    if p.engagement_bps > 10_000 {
        e.push(("profile.engagement_bps".into(), "0 to 10000".into()));
    }
    if p.price_band_fen.0 < 0 || p.price_band_fen.0 > p.price_band_fen.1 {
        e.push((
            "profile.price_low_fen".into(),
            "0 <= price_low_fen <= price_high_fen".into(),
        ));
    }
    if e.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Invalid(e))
    }
}

/// The events `command` causes, or why it is refused. Shop commands are
/// decided on the shop's outreach and the marketplace (which creators exist).
/// R-CMP-13: the measures that forbid outreach (docs/penalties.md).
pub const MEASURES_BLOCKING_OUTREACH: &[&str] =
    &["restrict_marketing", "suspend_sales", "deactivate"];

/// Refuses outreach while rights are revoked, or (for commands that carry a
/// time) while a forbidding measure is in force.
fn may_reach_out(
    outreach: &Outreach,
    subject: &str,
    at: Option<&Instant>,
    what: &str,
) -> Result<(), DomainError> {
    if outreach.selling_rights_revoked {
        return Err(DomainError::precondition(
            "SELLING_RIGHTS_REVOKED",
            subject,
            format!("the shop's selling rights are revoked: no {what}"),
        ));
    }
    if let Some(at) = at {
        outreach
            .penalties
            .check(*at, MEASURES_BLOCKING_OUTREACH, subject, what)?;
    }
    Ok(())
}

pub fn decide(
    outreach: &Outreach,
    market: &Marketplace,
    command: &Command,
    limits: &Limits,
) -> Result<Vec<Event>, DomainError> {
    // R-CMP-13: what compliance-svc forbids the shop, before anything else.
    let gate = match command {
        Command::SendInvitation {
            invitation_id, at, ..
        } => Some((invitation_id, Some(at), "new creator invitations")),
        Command::CreatePlan { plan_id, at, .. } => Some((plan_id, Some(at), "new targeted plans")),
        Command::AddPlanCreators { plan_id, .. } => {
            Some((plan_id, None, "adding creators to a plan"))
        }
        Command::EditPlan { plan_id, at, .. } => Some((plan_id, Some(at), "editing plans")),
        Command::ShipSample { sample_id, at, .. } => {
            Some((sample_id, Some(at), "shipping samples"))
        }
        Command::ReviewSampleRequest {
            sample_id,
            approved: true,
            at,
            ..
        } => Some((sample_id, Some(at), "approving sample requests")),
        _ => None,
    };
    if let Some((subject, at, what)) = gate {
        may_reach_out(outreach, subject, at, what)?;
    }
    match command {
        Command::SetTimeZone { time_zone, at } => {
            let zone = sellerdesk_core::zone::parse("time_zone", time_zone)?;
            Ok(if outreach.time_zone.as_deref() == Some(zone.name()) {
                vec![]
            } else {
                vec![Event::TimeZoneSet {
                    time_zone: zone.name().to_owned(),
                    at: *at,
                }]
            })
        }
        Command::ProfileCreator { profile } => profile_creator(market, profile),
        Command::RecordSellingRights {
            revoked,
            at,
            source_position,
        } => Ok(if *source_position <= outreach.rights_position {
            // Older than what was applied, or a redelivery.
            vec![]
        } else {
            vec![Event::SellingRightsNoted {
                revoked: *revoked,
                at: *at,
                source_position: *source_position,
            }]
        }),
        Command::RecordTierChanged {
            change,
            at,
            source_position,
        } => Ok(if outreach.penalties.has_seen(*source_position) {
            vec![]
        } else {
            vec![Event::TierChangedNoted {
                change: change.clone(),
                at: *at,
                source_position: *source_position,
            }]
        }),
        Command::SendInvitation {
            invitation_id,
            creator_id,
            goal,
            message,
            at,
            on_record,
        } => {
            if *on_record && !outreach.invitations.contains_key(invitation_id) {
                // Archived, and its id stays taken: a retry comes within
                // seconds, not INVITATION_KEPT_DAYS.
                return Err(DomainError::AlreadyExists {
                    kind: "invitation",
                    id: invitation_id.to_owned(),
                });
            }
            send_invitation(
                outreach,
                market,
                limits,
                invitation_id,
                creator_id,
                goal,
                message,
                at,
            )
        }
        Command::AnswerInvitation {
            invitation_id,
            accepted,
            at,
            on_record,
        } => {
            if *on_record && !outreach.invitations.contains_key(invitation_id) {
                return Err(DomainError::Precondition {
                    reason: "INVITATION_EXPIRED",
                    subject: invitation_id.to_owned(),
                    why: format!(
                        "the invitation was sent more than {INVITATION_KEPT_DAYS} days ago and is archived"
                    ),
                });
            }
            answer_invitation(outreach, limits, invitation_id, accepted, at)
        }
        Command::CreatePlan {
            plan_id,
            name,
            goal,
            products,
            creator_ids,
            creator_handles,
            source,
            at,
            on_record,
        } => {
            // An id the plans read model holds but the outreach does not is
            // a plan's that ended long ago, and stays taken.
            if *on_record && !outreach.plans.contains_key(plan_id) {
                return Err(DomainError::AlreadyExists {
                    kind: "plan",
                    id: plan_id.to_owned(),
                });
            }
            create_plan(
                outreach,
                market,
                plan_id,
                name,
                goal,
                products,
                (creator_ids, creator_handles),
                source,
                at,
            )
        }
        Command::EditPlan {
            plan_id,
            name,
            products,
            at,
        } => edit_plan(outreach, plan_id, name.as_deref(), products.as_deref(), at),
        Command::EndPlan { plan_id, at } => {
            let plan = running_plan(outreach, plan_id);
            match plan {
                Err(DomainError::Precondition { .. }) => Ok(vec![]),
                Err(e) => Err(e),
                Ok(_) => Ok(vec![Event::PlanEnded {
                    plan_id: plan_id.to_owned(),
                    at: *at,
                }]),
            }
        }
        Command::AnswerPlan {
            plan_id,
            creator_id,
            accepted,
            at,
        } => answer_plan(outreach, plan_id, creator_id, *accepted, at),
        Command::AddPlanCreators {
            plan_id,
            creator_ids,
        } => add_plan_creators(outreach, market, plan_id, creator_ids),
        Command::ShipSample {
            sample_id,
            creator_id,
            product_id,
            at,
            on_record,
        } => {
            archived_sample(outreach, sample_id, *on_record)?;
            ship_sample(outreach, market, sample_id, creator_id, product_id, at)
        }
        Command::RecordContentPosted {
            sample_id,
            kind,
            at,
        } => record_content_posted(outreach, sample_id, kind, at),
        Command::RequestSample {
            sample_id,
            creator_id,
            product_id,
            at,
            on_record,
        } => {
            archived_sample(outreach, sample_id, *on_record)?;
            request_sample(outreach, market, sample_id, creator_id, product_id, at)
        }
        Command::ReviewSampleRequest {
            sample_id,
            approved,
            reason,
            at,
        } => review_sample_request(outreach, sample_id, *approved, reason, at),
        Command::RecordSampleDelivered { sample_id, at } => {
            let s = sample(outreach, sample_id)?;
            match (s.shipped_at, s.delivered_at) {
                (_, Some(_)) => Ok(vec![]),
                (None, None) => Err(DomainError::precondition(
                    "SAMPLE_NOT_SHIPPED",
                    sample_id,
                    "the sample has not been shipped",
                )),
                (Some(_), None) => Ok(vec![Event::SampleDelivered {
                    sample_id: sample_id.to_owned(),
                    creator_id: s.creator_id.to_owned(),
                    content_due: *at
                        + chrono::Duration::days(i64::from(limits.sample_content_days)),
                    at: *at,
                }]),
            }
        }
        Command::RecordPlanSale {
            order_id,
            plan_id,
            creator_id,
            product_id,
            revenue_fen,
            product_cost_fen,
            at,
            on_record,
        } => record_plan_sale(
            outreach,
            (order_id, plan_id, creator_id, product_id),
            revenue_fen,
            product_cost_fen,
            at,
            *on_record,
        ),
        Command::RecordOrderRefund {
            order_id,
            refund_fen,
            at,
            on_record,
        } => record_order_refund(outreach, order_id, *refund_fen, at, *on_record),
        Command::SettleCommissions { settlement_id, at } => {
            check_id("settlement_id", settlement_id)?;
            let known = outreach.settlements.get(settlement_id);
            if known.is_some_and(|paid| !settlement_id_retired(*paid, *at)) {
                return Ok(vec![]);
            }
            let lines: Vec<CommissionLine> = outreach
                .commissions
                .iter()
                .filter(|(_, a)| a.due_fen() != 0)
                .map(|(c, a)| CommissionLine {
                    creator_id: c.to_owned(),
                    amount_fen: a.due_fen(),
                })
                .collect();
            Ok(if lines.is_empty() {
                vec![]
            } else {
                vec![Event::CommissionsSettled {
                    settlement_id: settlement_id.to_owned(),
                    lines,
                    at: *at,
                }]
            })
        }
    }
}

/// R-AFF-2: the platform publishes a creator's marketplace profile.
fn profile_creator(
    market: &Marketplace,
    profile: &CreatorProfile,
) -> Result<Vec<Event>, DomainError> {
    check_profile(profile)?;
    // A handle (抖音号) names one creator: plans are made from handles (R-AFF-4).
    if let Some(other) = market
        .creator_id_by_handle(&profile.handle)
        .filter(|other| *other != profile.creator_id)
    {
        return Err(invalid(
            "profile.handle",
            format!("already the handle of creator {other:?}"),
        ));
    }
    let same = market
        .profile(&profile.creator_id)
        .is_some_and(|p| &p == profile);
    Ok(if same {
        vec![]
    } else {
        vec![Event::CreatorProfiled {
            profile: profile.clone(),
        }]
    })
}

/// R-AFF-3: an invitation, within the shop's daily limit (shop time).
// One parameter per field of the command, as the other deciders take them.
#[allow(clippy::too_many_arguments)]
fn send_invitation(
    outreach: &Outreach,
    market: &Marketplace,
    limits: &Limits,
    invitation_id: &str,
    creator_id: &str,
    goal: &Goal,
    message: &str,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    check_id("invitation_id", invitation_id)?;
    if message.chars().count() > 500 {
        return Err(invalid("message", "at most 500 characters"));
    }
    if let Some(i) = outreach.invitations.get(invitation_id) {
        return if (i.creator_id.as_str(), i.goal, i.message.as_str())
            == (creator_id, *goal, message)
        {
            Ok(vec![])
        } else {
            Err(DomainError::AlreadyExists {
                kind: "invitation",
                id: invitation_id.to_owned(),
            })
        };
    }
    known_creator(market, "creator_id", creator_id)?;
    let local_date = at.with_timezone(&outreach.zone()).date_naive();
    // R-AFF-3: not too many creators at once.
    let sent = outreach.sent_per_day.get(&local_date).copied().unwrap_or(0);
    if sent >= limits.daily_invitations {
        return Err(DomainError::LimitReached(format!(
            "a shop sends at most {} invitations a day; {local_date} is used up",
            limits.daily_invitations
        )));
    }
    // R-AFF-6: an unanswered invitation blocks another until it expires.
    if outreach.invitations.values().any(|i| {
        i.creator_id == creator_id && i.accepted.is_none() && !limits.expired(i.sent_at, *at)
    }) {
        return Err(DomainError::Precondition {
            reason: "INVITATION_PENDING",
            subject: creator_id.to_owned(),
            why: format!("creator {creator_id} has not answered the shop's last invitation yet"),
        });
    }
    Ok(vec![Event::InvitationSent {
        invitation_id: invitation_id.to_owned(),
        creator_id: creator_id.to_owned(),
        goal: *goal,
        message: message.to_owned(),
        local_date,
        at: *at,
    }])
}

/// R-AFF-5: a creator's answer, which their reliability counts.
fn answer_invitation(
    outreach: &Outreach,
    limits: &Limits,
    invitation_id: &str,
    accepted: &bool,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    let i = outreach
        .invitations
        .get(invitation_id)
        .ok_or_else(|| DomainError::NotFound {
            kind: "invitation",
            id: invitation_id.to_owned(),
        })?;
    match i.accepted {
        Some(a) if a == *accepted => Ok(vec![]),
        Some(_) => Err(DomainError::Precondition {
            reason: "ALREADY_ANSWERED",
            subject: invitation_id.to_owned(),
            why: "the creator already answered this invitation".into(),
        }),
        None if limits.expired(i.sent_at, *at) => Err(DomainError::Precondition {
            reason: "INVITATION_EXPIRED",
            subject: invitation_id.to_owned(),
            why: format!(
                "the invitation expired {} days after it was sent",
                limits.invitation_days
            ),
        }),
        None => Ok(vec![Event::InvitationAnswered {
            invitation_id: invitation_id.to_owned(),
            creator_id: i.creator_id.to_owned(),
            accepted: *accepted,
            reply_secs: (*at - i.sent_at).num_seconds().max(0),
            at: *at,
        }]),
    }
}

/// R-AFF-1, R-AFF-4: a targeted plan of at most 30 creators with commissions.
// One parameter per field of the command, as the other deciders take them.
#[allow(clippy::too_many_arguments)]
fn create_plan(
    outreach: &Outreach,
    market: &Marketplace,
    plan_id: &str,
    name: &str,
    goal: &Goal,
    products: &[PlanProduct],
    (creator_ids, creator_handles): (&[String], &[String]),
    source: &PlanSource,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    check_id("plan_id", plan_id)?;
    let mut e = check_plan_content(name, products);
    let count = creator_ids.len() + creator_handles.len();
    if count == 0 || count > MAX_PLAN_CREATORS {
        e.push((
            "creator_ids".into(),
            format!("1 to {MAX_PLAN_CREATORS} creators, by id or handle (R-AFF-4)"),
        ));
    }
    if *source == PlanSource::CreatorPage && count != 1 {
        e.push((
            "creator_ids".into(),
            "a plan from a creator's page names that one creator".into(),
        ));
    }
    // Every creator named, with the request field that named them.
    let mut named: Vec<(String, String)> = Vec::new();
    for (i, c) in creator_ids.iter().enumerate() {
        let field = format!("creator_ids[{i}]");
        if market.contains(c) {
            named.push((field, c.to_owned()));
        } else {
            e.push((field, format!("no creator {c:?}")));
        }
    }
    for (i, h) in creator_handles.iter().enumerate() {
        let field = format!("creator_handles[{i}]");
        match market.creator_id_by_handle(h) {
            Some(id) => named.push((field, id.to_owned())),
            None => e.push((field, format!("no creator with the handle {h:?}"))),
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (field, id) in &named {
        if !seen.insert(id) {
            e.push((field.to_owned(), format!("creator {id:?} is named twice")));
        }
    }
    if !e.is_empty() {
        return Err(DomainError::Invalid(e));
    }
    let creator_ids: Vec<String> = named.into_iter().map(|(_, id)| id).collect();
    if let Some(p) = outreach.plans.get(plan_id) {
        let same = (
            p.name.as_str(),
            p.goal,
            p.products.as_slice(),
            p.creator_ids.as_slice(),
            p.source,
        ) == (name, *goal, products, creator_ids.as_slice(), *source);
        return if same {
            Ok(vec![])
        } else {
            Err(DomainError::AlreadyExists {
                kind: "plan",
                id: plan_id.to_owned(),
            })
        };
    }
    Ok(vec![Event::PlanCreated {
        plan_id: plan_id.to_owned(),
        name: name.to_owned(),
        goal: *goal,
        products: products.to_vec(),
        creator_ids,
        source: *source,
        at: *at,
    }])
}

/// R-AFF-1, R-AFF-4: a plan's name and its products with their commissions.
fn check_plan_content(name: &str, products: &[PlanProduct]) -> Vec<(String, String)> {
    let mut e = Vec::new();
    if name.trim().is_empty() || name.chars().count() > 50 {
        e.push(("name".to_owned(), "1 to 50 characters".to_owned()));
    }
    if products.is_empty() {
        e.push(("products".into(), "at least one product".into()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, p) in products.iter().enumerate() {
        if p.product_id.is_empty() {
            e.push((format!("products[{i}].product_id"), "required".into()));
        } else if !seen.insert(&p.product_id) {
            e.push((format!("products[{i}].product_id"), "listed twice".into()));
        }
        if !(1..=10_000).contains(&p.commission_bps) {
            e.push((
                format!("products[{i}].commission_bps"),
                "1 to 10000 basis points".into(),
            ));
        }
    }
    e
}

/// The plan, if it exists and has not ended (R-AFF-6).
fn running_plan<'a>(outreach: &'a Outreach, plan_id: &str) -> Result<&'a Plan, DomainError> {
    let plan = outreach
        .plans
        .get(plan_id)
        .ok_or_else(|| DomainError::NotFound {
            kind: "plan",
            id: plan_id.to_owned(),
        })?;
    match plan.ended_at {
        Some(_) => Err(DomainError::precondition(
            "PLAN_ENDED",
            plan_id,
            "the plan has ended".to_owned(),
        )),
        None => Ok(plan),
    }
}

/// R-AFF-6: a running plan's new name or products; what is not given stays.
fn edit_plan(
    outreach: &Outreach,
    plan_id: &str,
    name: Option<&str>,
    products: Option<&[PlanProduct]>,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    let plan = running_plan(outreach, plan_id)?;
    let name = name.unwrap_or(&plan.name);
    let products = products.unwrap_or(&plan.products);
    let e = check_plan_content(name, products);
    if !e.is_empty() {
        return Err(DomainError::Invalid(e));
    }
    Ok(
        if (name, products) == (plan.name.as_str(), plan.products.as_slice()) {
            vec![]
        } else {
            vec![Event::PlanEdited {
                plan_id: plan_id.to_owned(),
                name: name.to_owned(),
                products: products.to_vec(),
                at: *at,
            }]
        },
    )
}

/// R-AFF-6: a creator of a running plan accepts or declines it, once.
fn answer_plan(
    outreach: &Outreach,
    plan_id: &str,
    creator_id: &str,
    accepted: bool,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    let plan = running_plan(outreach, plan_id)?;
    if !plan.creator_ids.iter().any(|c| c == creator_id) {
        return Err(invalid(
            "creator_id",
            format!("creator {creator_id:?} is not in plan {plan_id:?}"),
        ));
    }
    match plan.answers.get(creator_id) {
        Some(&a) if a == accepted => Ok(vec![]),
        Some(_) => Err(DomainError::precondition(
            "ALREADY_ANSWERED",
            plan_id,
            format!("creator {creator_id} already answered this plan"),
        )),
        None => Ok(vec![Event::PlanAnswered {
            plan_id: plan_id.to_owned(),
            creator_id: creator_id.to_owned(),
            accepted,
            at: *at,
        }]),
    }
}

/// R-AFF-4: more creators for a plan, still at most 30.
fn add_plan_creators(
    outreach: &Outreach,
    market: &Marketplace,
    plan_id: &str,
    creator_ids: &[String],
) -> Result<Vec<Event>, DomainError> {
    let plan = running_plan(outreach, plan_id)?;
    let new: Vec<String> = creator_ids
        .iter()
        .filter(|c| !plan.creator_ids.contains(c))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for (i, c) in creator_ids.iter().enumerate() {
        known_creator(market, &format!("creator_ids[{i}]"), c)?;
    }
    // R-AFF-4
    if plan.creator_ids.len() + new.len() > MAX_PLAN_CREATORS {
        return Err(invalid(
            "creator_ids",
            format!(
                "the plan has {} creators; at most {MAX_PLAN_CREATORS} (R-AFF-4)",
                plan.creator_ids.len()
            ),
        ));
    }
    Ok(if new.is_empty() {
        vec![]
    } else {
        vec![Event::PlanCreatorsAdded {
            plan_id: plan_id.to_owned(),
            creator_ids: new,
        }]
    })
}

/// An id the samples read model holds (`on_record`) but the outreach does
/// not is an archived sample's, and stays taken: a retry comes within
/// seconds, not SAMPLE_KEPT_DAYS.
fn archived_sample(
    outreach: &Outreach,
    sample_id: &str,
    on_record: bool,
) -> Result<(), DomainError> {
    if on_record && !outreach.samples.contains_key(sample_id) {
        return Err(DomainError::AlreadyExists {
            kind: "sample",
            id: sample_id.to_owned(),
        });
    }
    Ok(())
}

fn sample<'a>(outreach: &'a Outreach, sample_id: &str) -> Result<&'a Sample, DomainError> {
    outreach
        .samples
        .get(sample_id)
        .ok_or_else(|| DomainError::NotFound {
            kind: "sample",
            id: sample_id.to_owned(),
        })
}

/// R-AFF-6: a creator applies for a sample of a product.
fn request_sample(
    outreach: &Outreach,
    market: &Marketplace,
    sample_id: &str,
    creator_id: &str,
    product_id: &str,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    check_id("sample_id", sample_id)?;
    check_id("product_id", product_id)?;
    if let Some(s) = outreach.samples.get(sample_id) {
        return if (s.creator_id.as_str(), s.product_id.as_str()) == (creator_id, product_id)
            && s.requested_at.is_some()
        {
            Ok(vec![])
        } else {
            Err(DomainError::AlreadyExists {
                kind: "sample",
                id: sample_id.to_owned(),
            })
        };
    }
    known_creator(market, "creator_id", creator_id)?;
    Ok(vec![Event::SampleRequested {
        sample_id: sample_id.to_owned(),
        creator_id: creator_id.to_owned(),
        product_id: product_id.to_owned(),
        at: *at,
    }])
}

/// R-AFF-6: the shop's answer to a request, once; a rejection says why.
fn review_sample_request(
    outreach: &Outreach,
    sample_id: &str,
    approved: bool,
    reason: &str,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    let s = sample(outreach, sample_id)?;
    if s.requested_at.is_none() {
        return Err(DomainError::precondition(
            "NOT_REQUESTED",
            sample_id,
            "the shop sent this sample unasked: there is no request to review",
        ));
    }
    if !approved && (reason.trim().is_empty() || reason.chars().count() > 200) {
        return Err(invalid(
            "reason",
            "a rejection says why, 1 to 200 characters",
        ));
    }
    match &s.review {
        Some(Ok(())) if approved => Ok(vec![]),
        Some(Err(_)) if !approved => Ok(vec![]),
        Some(_) => Err(DomainError::precondition(
            "ALREADY_REVIEWED",
            sample_id,
            "the request was already reviewed the other way",
        )),
        None if approved => Ok(vec![Event::SampleRequestApproved {
            sample_id: sample_id.to_owned(),
            at: *at,
        }]),
        None => Ok(vec![Event::SampleRequestRejected {
            sample_id: sample_id.to_owned(),
            reason: reason.trim().to_owned(),
            at: *at,
        }]),
    }
}

/// R-AFF-5, R-AFF-6: a sample shipped to a creator: an approved request,
/// or the shop's own offer.
fn ship_sample(
    outreach: &Outreach,
    market: &Marketplace,
    sample_id: &str,
    creator_id: &str,
    product_id: &str,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    check_id("sample_id", sample_id)?;
    check_id("product_id", product_id)?;
    if let Some(s) = outreach.samples.get(sample_id) {
        if (s.creator_id.as_str(), s.product_id.as_str()) != (creator_id, product_id) {
            return Err(DomainError::AlreadyExists {
                kind: "sample",
                id: sample_id.to_owned(),
            });
        }
        if s.shipped_at.is_some() {
            return Ok(vec![]);
        }
        match &s.review {
            Some(Ok(())) => {}
            Some(Err(_)) => {
                return Err(DomainError::precondition(
                    "SAMPLE_REJECTED",
                    sample_id,
                    "the shop rejected this request",
                ))
            }
            None => {
                return Err(DomainError::precondition(
                    "SAMPLE_NOT_APPROVED",
                    sample_id,
                    "review the creator's request before shipping",
                ))
            }
        }
    } else {
        known_creator(market, "creator_id", creator_id)?;
    }
    Ok(vec![Event::SampleShipped {
        sample_id: sample_id.to_owned(),
        creator_id: creator_id.to_owned(),
        product_id: product_id.to_owned(),
        at: *at,
    }])
}

/// R-AFF-5, R-AFF-6: the creator posted the content a sample was for; after
/// the deadline it is late, and the sample counts as missed.
fn record_content_posted(
    outreach: &Outreach,
    sample_id: &str,
    kind: &ContentKind,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    let s = sample(outreach, sample_id)?;
    if s.shipped_at.is_none() {
        return Err(DomainError::precondition(
            "SAMPLE_NOT_SHIPPED",
            sample_id,
            "the sample has not been shipped",
        ));
    }
    Ok(if s.content.is_some() {
        vec![]
    } else {
        vec![Event::ContentPosted {
            sample_id: sample_id.to_owned(),
            creator_id: s.creator_id.to_owned(),
            kind: *kind,
            at: *at,
            content_due: s.content_due,
            late: s.content_due.is_some_and(|due| *at > due),
        }]
    })
}

/// R-AFF-1, R-AFF-6, R-X-3: an order attributed to a creator who accepted
/// the plan; its commission rounded down to the fen, every total checked.
fn record_plan_sale(
    outreach: &Outreach,
    (order_id, plan_id, creator_id, product_id): (&str, &str, &str, &str),
    revenue_fen: &Fen,
    product_cost_fen: &Fen,
    at: &Instant,
    on_record: bool,
) -> Result<Vec<Event>, DomainError> {
    check_id("order_id", order_id)?;
    // An id the orders read model holds (`on_record`) but the outreach
    // does not is an archived order's, and stays taken: the platform
    // relays an order once, and a retry comes within seconds.
    if on_record && !outreach.orders.contains_key(order_id) {
        return Err(DomainError::AlreadyExists {
            kind: "order",
            id: order_id.to_owned(),
        });
    }
    if let Some(o) = outreach.orders.get(order_id) {
        let same = (
            o.plan_id.as_str(),
            o.creator_id.as_str(),
            o.product_id.as_str(),
            o.revenue_fen,
            o.product_cost_fen,
        ) == (
            plan_id,
            creator_id,
            product_id,
            *revenue_fen,
            *product_cost_fen,
        );
        return if same {
            Ok(vec![])
        } else {
            Err(DomainError::AlreadyExists {
                kind: "order",
                id: order_id.to_owned(),
            })
        };
    }
    // Sales come from orders placed while the plan ran; one that ended
    // earns no commission on later orders (R-AFF-6).
    let plan = running_plan(outreach, plan_id)?;
    let product = plan
        .products
        .iter()
        .find(|p| p.product_id == product_id)
        .ok_or_else(|| invalid("product_id", "not a product of the plan"))?;
    if !plan.creator_ids.iter().any(|c| c == creator_id) {
        return Err(invalid(
            "creator_id",
            format!("creator {creator_id:?} is not in plan {plan_id:?}"),
        ));
    }
    if plan.answers.get(creator_id) != Some(&true) {
        return Err(DomainError::precondition(
            "PLAN_NOT_ACCEPTED",
            creator_id,
            format!("creator {creator_id} has not accepted plan {plan_id}: no commission"),
        ));
    }
    money::positive_amount("revenue_fen", *revenue_fen)?;
    money::amount("product_cost_fen", *product_cost_fen)?;
    // Commission on revenue, rounded down to the fen (R-X-3: integers
    // only); commission_bps is at most 10,000, so it fits.
    let commission_fen = money::share_bps(*revenue_fen, product.commission_bps);
    // The plan's and the creator's totals stay representable (R-X-3).
    money::add_to_total("revenue_fen", plan.sales.revenue_fen, *revenue_fen)?;
    money::add_to_total(
        "product_cost_fen",
        plan.sales.product_cost_fen,
        *product_cost_fen,
    )?;
    money::add_to_total("revenue_fen", plan.sales.commission_fen, commission_fen)?;
    let account = outreach
        .commissions
        .get(creator_id)
        .copied()
        .unwrap_or_default();
    money::add_to_total("revenue_fen", account.earned_fen, commission_fen)?;
    Ok(vec![Event::PlanSaleRecorded {
        order_id: order_id.to_owned(),
        creator_id: creator_id.to_owned(),
        plan_id: plan_id.to_owned(),
        product_id: product_id.to_owned(),
        revenue_fen: *revenue_fen,
        product_cost_fen: *product_cost_fen,
        commission_fen,
        at: *at,
    }])
}

/// R-AFF-1, R-X-3: a refund on an attributed order, at most what is left of
/// it; the commission its refunded share earned is clawed back. Computed on
/// the running total (floor of commission × refunded / revenue, less what
/// was clawed back before), so partial refunds never claw back more than a
/// full one would. Refunds are taken for ORDER_KEPT_DAYS from the sale
/// (R-X-4); an order the outreach no longer holds but the orders read model
/// does (`on_record`) is past them.
fn record_order_refund(
    outreach: &Outreach,
    order_id: &str,
    refund_fen: Fen,
    at: &Instant,
    on_record: bool,
) -> Result<Vec<Event>, DomainError> {
    let closed = || {
        DomainError::precondition(
            "ORDER_ARCHIVED",
            order_id,
            format!(
                "order {order_id} was sold more than {ORDER_KEPT_DAYS} days ago: \
                 its refunds are no longer recorded against the commission"
            ),
        )
    };
    let o = match outreach.orders.get(order_id) {
        Some(o) if o.retired_by(*at) => return Err(closed()),
        Some(o) => o,
        None if on_record => return Err(closed()),
        None => {
            return Err(DomainError::NotFound {
                kind: "order",
                id: order_id.to_owned(),
            })
        }
    };
    money::positive_amount("refund_fen", refund_fen)?;
    let left = o.revenue_fen.saturating_sub(o.refunded_fen);
    if refund_fen > left {
        return Err(invalid(
            "refund_fen",
            format!("at most {left} fen of the order is left to refund"),
        ));
    }
    let refunded = i128::from(o.refunded_fen) + i128::from(refund_fen);
    let owed = i128::from(o.commission_fen) * refunded / i128::from(o.revenue_fen).max(1);
    let clawback = i64::try_from(owed - i128::from(o.clawed_back_fen)).unwrap_or(0);
    Ok(vec![Event::OrderRefunded {
        order_id: order_id.to_owned(),
        plan_id: o.plan_id.to_owned(),
        creator_id: o.creator_id.to_owned(),
        refund_fen,
        commission_clawback_fen: clawback.max(0),
        at: *at,
    }])
}
