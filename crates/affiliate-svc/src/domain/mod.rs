//! The pure affiliate domain: no I/O, no async, no clock. Two folds:
//! a shop's outreach ([`Outreach`]: invitations, targeted plans, samples)
//! and the creator marketplace ([`Marketplace`]: profiles, plus each
//! creator's reliability folded from every shop's events, R-AFF-5).
//!
//! Where each rule lives:
//! - R-AFF-1 a collaboration's goal, and ROI after product cost and commission: [`Goal`], [`PlanSales::roi_bps`]
//! - R-AFF-2 marketplace search: [`Marketplace::search`], [`CreatorQuery`]
//! - R-AFF-3 invitations and the per-shop daily limit: [`Command::SendInvitation`]
//! - R-X-4 old invitations and settled samples leave the outreach:
//!   [`Invitation::retired_by`], [`Sample::retired_by`] (decision 0022)
//! - R-AFF-4 targeted plans, at most 30 creators: [`MAX_PLAN_CREATORS`]
//! - R-AFF-5 metrics from what happens: [`Marketplace::apply`]

mod decide;
mod marketplace;

pub use decide::{
    decide, AttributedOrder, Invitation, Outreach, Plan, Sample, INVITATION_KEPT_DAYS,
    MEASURES_BLOCKING_OUTREACH, ORDER_KEPT_DAYS, PLAN_KEPT_DAYS, SAMPLE_KEPT_DAYS,
    SETTLEMENT_IDS_KEPT_DAYS,
};
pub use marketplace::{
    CreatorMetrics, CreatorQuery, CreatorView, Cursor, Marketplace, Page, SortBy,
};

use serde::{Deserialize, Serialize};

pub type Instant = chrono::DateTime<chrono::Utc>;
pub type Fen = i64;

/// R-AFF-4.
pub const MAX_PLAN_CREATORS: usize = 30;
/// R-AFF-3: invitations a shop may send per day (shop time), unless configured.
pub const DEFAULT_DAILY_INVITATIONS: u32 = 50;
/// R-AFF-6 (issue 19): days an invitation waits for its answer, unless configured.
pub const DEFAULT_INVITATION_DAYS: u32 = 7;
/// R-AFF-6: days after delivery for a sample's content, unless configured.
pub const DEFAULT_SAMPLE_CONTENT_DAYS: u32 = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// R-AFF-3.
    pub daily_invitations: u32,
    /// How long an unanswered invitation stands: after it, it has expired
    /// (derived from its sending time, never stored: decision 0002), the
    /// creator can no longer answer it, and the shop may invite again.
    pub invitation_days: u32,
    /// R-AFF-6: the content deadline is this many days after delivery.
    pub sample_content_days: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            daily_invitations: DEFAULT_DAILY_INVITATIONS,
            invitation_days: DEFAULT_INVITATION_DAYS,
            sample_content_days: DEFAULT_SAMPLE_CONTENT_DAYS,
        }
    }
}

impl Limits {
    /// Whether an invitation sent at `sent_at` and not answered has expired at `at`.
    pub fn expired(&self, sent_at: Instant, at: Instant) -> bool {
        at >= sent_at + chrono::Duration::days(i64::from(self.invitation_days))
    }
}

/// R-AFF-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// 品牌推广
    BrandPromotion,
    /// 销量提升: judged on ROI after product cost and commission.
    Sales,
}

/// What the marketplace knows of a creator (R-AFF-2), published by the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CreatorProfile {
    pub creator_id: String,
    pub handle: String,
    pub categories: Vec<String>,
    pub followers: u64,
    /// 粉丝画像: share of female followers, in basis points (0..=10000).
    pub female_share_bps: u32,
    /// The largest age band among followers, e.g. "24-30".
    pub main_age_band: String,
    /// Regions with most followers, first the largest.
    pub top_regions: Vec<String>,
    /// Interactions per view, basis points.
    pub engagement_bps: u32,
    /// 达人带货榜: brands sold most, and the usual price band in fen.
    pub top_brands: Vec<String>,
    pub price_band_fen: (Fen, Fen),
    /// Video and live content statistics.
    pub videos: u32,
    pub lives: u32,
    pub avg_video_views: u64,
    /// Mean viewers of a live stream; absent from profiles published
    /// before it existed.
    #[serde(default)]
    pub avg_live_viewers: u64,
}

/// A product in a targeted plan with its commission (R-AFF-4), basis points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanProduct {
    pub product_id: String,
    pub commission_bps: u32,
}

/// How a plan came to be (R-AFF-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanSource {
    /// 计划管理, with creator handles.
    PlanManagement,
    /// Straight from a creator's page.
    CreatorPage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    Video,
    Live,
}

/// R-AFF-1: a sales plan's money, all integer fen. `commission_fen` is
/// net of what refunds clawed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PlanSales {
    pub revenue_fen: Fen,
    pub product_cost_fen: Fen,
    pub commission_fen: Fen,
    pub refunded_fen: Fen,
}

/// One creator's payout in a settlement, fen; negative deducts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionLine {
    pub creator_id: String,
    pub amount_fen: Fen,
}

impl PlanSales {
    /// Net profit over what the shop put in (product cost and commission), in
    /// basis points; None before anything was spent.
    pub fn roi_bps(&self) -> Option<i64> {
        // i128: totals are bounded (R-X-3), their products need not be.
        let spent = i128::from(self.product_cost_fen) + i128::from(self.commission_fen);
        let kept = i128::from(self.revenue_fen) - i128::from(self.refunded_fen);
        (spent > 0).then(|| {
            let roi = (kept - spent) * 10_000 / spent;
            i64::try_from(roi).unwrap_or(if roi < 0 { i64::MIN } else { i64::MAX })
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// R-X-3: the shop's time zone, whose days the daily invitation limit
    /// counts (Asia/Shanghai until set).
    SetTimeZone { time_zone: String, at: Instant },
    /// The platform publishes or updates a creator's marketplace profile.
    ProfileCreator { profile: CreatorProfile },
    SendInvitation {
        invitation_id: String,
        creator_id: String,
        goal: Goal,
        message: String,
        at: Instant,
        /// The invitations read model holds one under this id (the app
        /// looks before deciding): if the outreach does not, it was
        /// archived and the id stays taken.
        on_record: bool,
    },
    /// The creator answered in the app (relayed by the platform).
    AnswerInvitation {
        invitation_id: String,
        accepted: bool,
        at: Instant,
        /// As for SendInvitation: an archived invitation has expired.
        on_record: bool,
    },
    CreatePlan {
        plan_id: String,
        name: String,
        goal: Goal,
        products: Vec<PlanProduct>,
        creator_ids: Vec<String>,
        /// R-AFF-4: plan management names creators by handle (抖音号);
        /// each is resolved to its creator, unknown ones reported one by one.
        creator_handles: Vec<String>,
        source: PlanSource,
        at: Instant,
        /// Whether the plans read model holds `plan_id` (a plan archived
        /// after it ended keeps its id); looked up by the caller.
        on_record: bool,
    },
    AddPlanCreators {
        plan_id: String,
        creator_ids: Vec<String>,
    },
    /// R-AFF-6: a new name or new products and commissions for a running plan.
    EditPlan {
        plan_id: String,
        name: Option<String>,
        products: Option<Vec<PlanProduct>>,
        at: Instant,
    },
    /// R-AFF-6: the shop ends a plan; no edits, creators or sales after it.
    EndPlan { plan_id: String, at: Instant },
    /// R-AFF-6: a creator of the plan accepts or declines it (relayed by the platform).
    AnswerPlan {
        plan_id: String,
        creator_id: String,
        accepted: bool,
        at: Instant,
    },
    /// R-AFF-6: a creator applies for a sample (relayed by the platform).
    RequestSample {
        sample_id: String,
        creator_id: String,
        product_id: String,
        at: Instant,
        /// The samples read model holds one under this id (the app looks
        /// before deciding): if the outreach does not, it was archived.
        on_record: bool,
    },
    /// R-AFF-6: the shop approves or rejects a creator's request, a
    /// rejection with its reason.
    ReviewSampleRequest {
        sample_id: String,
        approved: bool,
        reason: String,
        at: Instant,
    },
    /// A sample sent to a creator: an approved request, or the shop's own
    /// offer (no request).
    ShipSample {
        sample_id: String,
        creator_id: String,
        product_id: String,
        at: Instant,
        /// As for RequestSample.
        on_record: bool,
    },
    /// R-AFF-6: the carrier delivered the sample; the content deadline runs
    /// from here (relayed by the platform).
    RecordSampleDelivered { sample_id: String, at: Instant },
    /// The creator posted the agreed video or live stream for a sample.
    RecordContentPosted {
        sample_id: String,
        kind: ContentKind,
        at: Instant,
    },
    /// An order attributed to a creator of a plan (relayed by the platform):
    /// revenue, cost and the commission it earns the creator.
    RecordPlanSale {
        order_id: String,
        plan_id: String,
        creator_id: String,
        product_id: String,
        revenue_fen: Fen,
        product_cost_fen: Fen,
        at: Instant,
        /// Whether the orders read model holds `order_id` (an archived
        /// order's id stays taken); looked up by the caller, so deciding
        /// stays pure.
        on_record: bool,
    },
    /// A refund on an attributed order: its share of the commission is
    /// clawed back (relayed by the platform).
    RecordOrderRefund {
        order_id: String,
        refund_fen: Fen,
        at: Instant,
        /// Whether the orders read model holds `order_id`.
        on_record: bool,
    },
    /// Pays out what each creator is due since the last settlement; a
    /// negative line deducts refunds clawed back after it was paid.
    SettleCommissions { settlement_id: String, at: Instant },
    /// R-CMP-13, from compliance-svc's SellingRightsRevoked / Restored;
    /// `source_position` is the event's position in compliance-svc's log.
    RecordSellingRights {
        revoked: bool,
        at: Instant,
        source_position: i64,
    },
    /// R-CMP-13, from compliance-svc's TierChanged.
    RecordTierChanged {
        change: TierChange,
        at: Instant,
        source_position: i64,
    },
}

pub use sellerdesk_core::penalties::{NotedMeasure, Penalties, TierChange};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    TimeZoneSet {
        time_zone: String,
        at: Instant,
    },
    CreatorProfiled {
        profile: CreatorProfile,
    },
    InvitationSent {
        invitation_id: String,
        creator_id: String,
        goal: Goal,
        message: String,
        /// The shop's local date the invitation counts against (R-AFF-3).
        local_date: chrono::NaiveDate,
        at: Instant,
    },
    InvitationAnswered {
        invitation_id: String,
        creator_id: String,
        accepted: bool,
        reply_secs: i64,
        at: Instant,
    },
    PlanCreated {
        plan_id: String,
        name: String,
        goal: Goal,
        products: Vec<PlanProduct>,
        creator_ids: Vec<String>,
        source: PlanSource,
        at: Instant,
    },
    PlanCreatorsAdded {
        plan_id: String,
        creator_ids: Vec<String>,
    },
    PlanEdited {
        plan_id: String,
        name: String,
        products: Vec<PlanProduct>,
        at: Instant,
    },
    PlanEnded {
        plan_id: String,
        at: Instant,
    },
    PlanAnswered {
        plan_id: String,
        creator_id: String,
        accepted: bool,
        at: Instant,
    },
    SampleRequested {
        sample_id: String,
        creator_id: String,
        product_id: String,
        at: Instant,
    },
    SampleRequestApproved {
        sample_id: String,
        at: Instant,
    },
    SampleRequestRejected {
        sample_id: String,
        reason: String,
        at: Instant,
    },
    SampleShipped {
        sample_id: String,
        creator_id: String,
        product_id: String,
        at: Instant,
    },
    SampleDelivered {
        sample_id: String,
        creator_id: String,
        /// Delivery plus the shop's content days (R-AFF-6).
        content_due: Instant,
        at: Instant,
    },
    ContentPosted {
        sample_id: String,
        creator_id: String,
        kind: ContentKind,
        at: Instant,
        /// The sample's deadline, when it was delivered; absent in events
        /// recorded before deadlines existed.
        #[serde(default)]
        content_due: Option<Instant>,
        /// Posted after the deadline: the sample counts as missed.
        #[serde(default)]
        late: bool,
    },
    PlanSaleRecorded {
        /// Absent in sales recorded before orders were attributed.
        #[serde(default)]
        order_id: String,
        #[serde(default)]
        creator_id: String,
        plan_id: String,
        product_id: String,
        revenue_fen: Fen,
        product_cost_fen: Fen,
        commission_fen: Fen,
        at: Instant,
    },
    OrderRefunded {
        order_id: String,
        plan_id: String,
        creator_id: String,
        refund_fen: Fen,
        /// The commission that the refunded share of the order had earned.
        commission_clawback_fen: Fen,
        at: Instant,
    },
    CommissionsSettled {
        settlement_id: String,
        lines: Vec<CommissionLine>,
        at: Instant,
    },
    SellingRightsNoted {
        revoked: bool,
        at: Instant,
        source_position: i64,
    },
    TierChangedNoted {
        change: TierChange,
        at: Instant,
        source_position: i64,
    },
}

impl Event {
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::TimeZoneSet { .. } => "TimeZoneSet",
            Event::CreatorProfiled { .. } => "CreatorProfiled",
            Event::InvitationSent { .. } => "InvitationSent",
            Event::InvitationAnswered { .. } => "InvitationAnswered",
            Event::PlanCreated { .. } => "PlanCreated",
            Event::PlanCreatorsAdded { .. } => "PlanCreatorsAdded",
            Event::PlanEdited { .. } => "PlanEdited",
            Event::PlanEnded { .. } => "PlanEnded",
            Event::PlanAnswered { .. } => "PlanAnswered",
            Event::SampleRequested { .. } => "SampleRequested",
            Event::SampleRequestApproved { .. } => "SampleRequestApproved",
            Event::SampleRequestRejected { .. } => "SampleRequestRejected",
            Event::SampleShipped { .. } => "SampleShipped",
            Event::SampleDelivered { .. } => "SampleDelivered",
            Event::ContentPosted { .. } => "ContentPosted",
            Event::PlanSaleRecorded { .. } => "PlanSaleRecorded",
            Event::OrderRefunded { .. } => "OrderRefunded",
            Event::CommissionsSettled { .. } => "CommissionsSettled",
            Event::SellingRightsNoted { .. } => "SellingRightsNoted",
            Event::TierChangedNoted { .. } => "TierChangedNoted",
        }
    }
}

/// Why a command is refused: the refusal every service shares, so the
/// gRPC layer maps it the same way everywhere.
pub use sellerdesk_core::Refusal as DomainError;

/// A shop's outreach as the shared [`sellerdesk_core::Decider`] shape; the
/// marketplace and the limits are what deciding reads besides it.
#[derive(Debug)]
pub struct ShopOutreach;

/// What deciding an outreach command reads besides the shop's own stream.
#[derive(Debug)]
pub struct World<'a> {
    pub market: &'a Marketplace,
    pub limits: &'a Limits,
}

impl sellerdesk_core::DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        self.type_name()
    }
}

impl sellerdesk_core::Decider for ShopOutreach {
    type Command = Command;
    type Event = Event;
    type State = Outreach;
    type Context<'a> = World<'a>;
    type Error = DomainError;

    fn decide(
        command: &Command,
        state: &Outreach,
        world: &World<'_>,
    ) -> Result<Vec<Event>, DomainError> {
        decide(state, world.market, command, world.limits)
    }

    fn evolve(state: &mut Outreach, event: &Event) {
        state.apply(event);
    }

    fn version(state: &Outreach) -> i64 {
        state.version
    }
}

/// A shop's outreach together with the marketplace it reads, as one
/// [`sellerdesk_core::Decider`]: both fold the same events (a creator's
/// answer changes their reliability). Tests decide and evolve through it.
#[derive(Debug, Clone, Default)]
pub struct Affiliation {
    pub outreach: Outreach,
    pub market: Marketplace,
}

impl sellerdesk_core::Decider for Affiliation {
    type Command = Command;
    type Event = Event;
    type State = Affiliation;
    type Context<'a> = Limits;
    type Error = DomainError;

    fn decide(
        command: &Command,
        state: &Affiliation,
        limits: &Limits,
    ) -> Result<Vec<Event>, DomainError> {
        decide(&state.outreach, &state.market, command, limits)
    }

    fn evolve(state: &mut Affiliation, event: &Event) {
        state.outreach.apply(event);
        state.market.apply(event);
    }

    fn version(state: &Affiliation) -> i64 {
        state.outreach.version
    }
}
