//! The pure promotion-order domain (小店随心推): no I/O, no async, no clock.
//! A shop's ads account (its orders, balance, invoice subject and whether it
//! may sell) is a fold of its events ([`AdsAccount::apply`]); [`decide`]
//! turns a command into events or refuses it. Money is integer fen (R-X-3).
//!
//! Where each rule lives:
//! - R-ADS-1 an order's parts: [`OrderSpec`]
//! - R-ADS-2 at least 100 CNY: [`MIN_AMOUNT_FEN`]
//! - R-ADS-3 durations and the 24 h advice: [`DURATIONS_HOURS`], [`recommendations`]
//! - R-ADS-4 objectives per target: [`Objective::fits`]
//! - R-ADS-5 bidding per target: [`Bid::fits`]
//! - R-ADS-6 review requirements: [`review_problems`], [`Command::DecideReview`]
//! - R-ADS-7 refunds within 7 business days: [`refund_due_by`]
//! - R-ADS-8 delivery ends when the budget is spent: [`Command::RecordDelivery`]
//! - R-ADS-14 or when its window closes, the remainder refunded: [`Command::CloseDeliveryWindow`];
//!   the shop stops an order, adds budget or extends the window:
//!   [`Command::TerminateOrder`], [`Command::AddBudget`], [`Command::ExtendDelivery`]
//! - R-ADS-9 only 小店随心推 once a cart is involved: [`Command::ReportShoppingCartUsed`]
//! - R-ADS-10 paid traffic only, every interaction kept: [`PaidStats`]
//! - R-ADS-11 invoices: [`Command::RequestInvoice`], within [`ORDER_KEPT_DAYS`] of the end
//! - R-X-4 ended orders leave the account: [`Order::retired_by`], [`Order::apply`]
//!   (shared with the orders read model, decision 0022)
//! - R-ADS-12 PC channel only for funds: [`Command::MoveFunds`]
//! - R-ADS-13 no new orders while selling rights are revoked: [`Command::RecordRightsRevoked`]

mod decide;
mod state;

pub use decide::{
    decide, recommendations, refund_due_by, review_problems, MEASURES_BLOCKING_ORDERS,
};
pub use state::{AdsAccount, Order, OrderStatus, ORDER_KEPT_DAYS, PAYMENT_IDS_KEPT_DAYS};

use serde::{Deserialize, Serialize};

pub type Instant = chrono::DateTime<chrono::Utc>;
/// Money: integer fen (R-X-3).
pub type Fen = i64;

/// R-ADS-2: 100 CNY.
pub const MIN_AMOUNT_FEN: Fen = 10_000;
/// R-ADS-3.
pub const DURATIONS_HOURS: [u32; 4] = [2, 6, 12, 24];
/// The most a delivering order's window may be extended by, in all: one
/// longest duration (R-ADS-3).
pub const MAX_EXTENSION_HOURS: u32 = 24;
/// R-ADS-3: above 500 CNY, 24 hours is recommended.
pub const RECOMMEND_24H_ABOVE_FEN: Fen = 50_000;
/// R-ADS-6.
pub const MIN_TITLE_CHARS: usize = 5;
pub const MIN_VIDEO_SECS: u32 = 4;
/// R-ADS-7: refunds arrive within this many business days.
pub const REFUND_BUSINESS_DAYS: u32 = 7;

/// Which promotion product an order buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Product {
    /// 小店随心推
    XiaodianSuixintui,
    /// DOU+上热门: not allowed once a shop cart is involved (R-ADS-9).
    DouPlus,
}

/// What is promoted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Target {
    Video {
        video_id: String,
        public: bool,
        title: String,
        duration_secs: u32,
        /// The video carries a shopping cart with shop products.
        has_shop_cart: bool,
    },
    LiveRoom {
        room_id: String,
    },
}

/// R-ADS-4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// 商品购买
    ProductPurchase,
    /// 内容种草
    ContentSeeding,
    /// 提升粉丝和主页浏览量
    FollowersAndProfileViews,
    /// 直播间人气
    RoomPopularity,
    /// 直播间商品点击
    RoomProductClicks,
    /// 直播间带货
    RoomSales,
    /// 直播间涨粉
    RoomFollowers,
    /// 直播间评论
    RoomComments,
}

impl Objective {
    pub fn fits(self, target: &Target) -> bool {
        let video = matches!(
            self,
            Objective::ProductPurchase
                | Objective::ContentSeeding
                | Objective::FollowersAndProfileViews
        );
        video == matches!(target, Target::Video { .. })
    }
}

/// R-ADS-5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Bid {
    /// 按播放量出价 (short videos).
    PerPlay,
    /// 按优化目标出价, the advertiser's own bid in fen (short videos).
    GoalManual { bid_fen: Fen },
    /// 按优化目标出价, the system bids (short videos and live rooms).
    GoalAutomatic,
}

impl Bid {
    pub fn fits(self, target: &Target) -> bool {
        match target {
            Target::Video { .. } => true,
            // 引流直播间仅支持系统自动出价
            Target::LiveRoom { .. } => self == Bid::GoalAutomatic,
        }
    }
}

/// R-ADS-1 定向.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Targeting {
    /// Empty: the system's smart targeting.
    pub genders: Vec<String>,
    pub age_bands: Vec<String>,
    pub regions: Vec<String>,
}

pub const GENDERS: [&str; 2] = ["male", "female"];
pub const AGE_BANDS: [&str; 5] = ["18-23", "24-30", "31-40", "41-49", "50+"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// The 巨量千川 account balance (shared with the PC versions).
    AccountBalance,
    DouyinPay,
    Alipay,
    WechatPay,
}

/// Where a request comes from (R-ADS-12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Mobile,
    Pc,
}

/// R-ADS-1: everything an order is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSpec {
    pub product: Product,
    pub target: Target,
    pub objective: Objective,
    pub duration_hours: u32,
    pub targeting: Targeting,
    pub bid: Bid,
    pub amount_fen: Fen,
    pub payment: PaymentMethod,
}

/// R-ADS-10: paid traffic only; counts only grow, so later un-likes and
/// deleted comments never take an interaction back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PaidStats {
    pub impressions: u64,
    pub plays: u64,
    pub clicks: u64,
    pub likes: u64,
    pub comments: u64,
    pub follows: u64,
    pub orders: u64,
}

impl PaidStats {
    /// These counts plus `d`, or INVALID_ARGUMENT naming the request's
    /// `stats.<count>` that cannot be represented (R-X-3).
    pub fn checked_add(&self, d: &PaidStats) -> Result<PaidStats, DomainError> {
        use sellerdesk_core::money::add_count;
        Ok(PaidStats {
            impressions: add_count("stats.impressions", self.impressions, d.impressions)?,
            plays: add_count("stats.plays", self.plays, d.plays)?,
            clicks: add_count("stats.clicks", self.clicks, d.clicks)?,
            likes: add_count("stats.likes", self.likes, d.likes)?,
            comments: add_count("stats.comments", self.comments, d.comments)?,
            follows: add_count("stats.follows", self.follows, d.follows)?,
            orders: add_count("stats.orders", self.orders, d.orders)?,
        })
    }

    /// Folds a report that `decide` accepted (so checked); saturates rather
    /// than wrapping should an old log hold one that was not.
    pub fn add(&mut self, d: &PaidStats) {
        *self = self.checked_add(d).unwrap_or(PaidStats {
            impressions: self.impressions.saturating_add(d.impressions),
            plays: self.plays.saturating_add(d.plays),
            clicks: self.clicks.saturating_add(d.clicks),
            likes: self.likes.saturating_add(d.likes),
            comments: self.comments.saturating_add(d.comments),
            follows: self.follows.saturating_add(d.follows),
            orders: self.orders.saturating_add(d.orders),
        });
    }
}

/// Who the account is bound to, which decides its invoices (R-ADS-11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Subject {
    Person { name: String },
    Company { name: String, certified: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    Personal,
    Company,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FundsMove {
    TopUp,
    Withdraw,
    /// 对公充值
    CompanyTopUp,
}

/// Where refunded money goes and by when (R-ADS-7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub amount_fen: Fen,
    pub to: PaymentMethod,
    pub due_by: Instant,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// R-X-3: the shop's time zone, in which refund due dates count
    /// business days (Asia/Shanghai until set).
    SetTimeZone {
        time_zone: String,
        at: Instant,
    },
    PlaceOrder {
        order_id: String,
        spec: OrderSpec,
        at: Instant,
        /// The orders read model holds an order under this id (the app
        /// looks before deciding): if the account does not, it was archived
        /// and the id stays taken.
        on_record: bool,
    },
    /// The platform's ad and shop review (R-ADS-6).
    DecideReview {
        order_id: String,
        approve: bool,
        reasons: Vec<String>,
        at: Instant,
    },
    /// The platform's delivery report: spend and paid interactions since the last one.
    RecordDelivery {
        order_id: String,
        spent_fen: Fen,
        stats: PaidStats,
        at: Instant,
    },
    /// R-ADS-14: time passed for a delivering order. When its delivery
    /// window (`window_hours` from the start of delivery, a deployment
    /// setting) has closed, delivery ends whatever was spent, and the
    /// unspent remainder is refunded.
    CloseDeliveryWindow {
        order_id: String,
        window_hours: u32,
        at: Instant,
    },
    /// The shop stops an order (R-ADS-14): under review, the whole amount
    /// is refunded; delivering, delivery ends now and the unspent remainder
    /// is refunded.
    TerminateOrder {
        order_id: String,
        at: Instant,
    },
    /// The shop adds budget to a delivering order, paid the way the order
    /// was (at least 100 CNY, R-ADS-2; from the balance only if it holds it).
    AddBudget {
        order_id: String,
        amount_fen: Fen,
        at: Instant,
    },
    /// The shop extends a delivering order's window by one of the durations
    /// (R-ADS-3), at most [`MAX_EXTENSION_HOURS`] in all, while the window is
    /// still open (`window_hours` is the deployment's window, R-ADS-14).
    ExtendDelivery {
        order_id: String,
        hours: u32,
        window_hours: u32,
        at: Instant,
    },
    /// R-ADS-9: a live room used its shopping cart.
    ReportShoppingCartUsed {
        room_id: String,
        at: Instant,
    },
    RequestInvoice {
        order_id: String,
        kind: InvoiceKind,
        title: String,
        at: Instant,
        /// As for PlaceOrder: the read model holds an order under this id.
        on_record: bool,
    },
    /// The platform's qualification of who the account is bound to.
    SetSubject {
        subject: Subject,
    },
    /// R-ADS-12, R-ADS-14: a withdrawal leaves at once; a top-up is a
    /// payment, pending (under the client's `payment_id`) until the payment
    /// provider confirms it, and only then credited.
    MoveFunds {
        movement: FundsMove,
        amount_fen: Fen,
        channel: Channel,
        payment_id: String,
        at: Instant,
    },
    /// R-ADS-14: the payment provider's (verified) word on a pending top-up.
    ConfirmPayment {
        payment_id: String,
        amount_fen: Fen,
        succeeded: bool,
        at: Instant,
    },
    /// R-ADS-13, from compliance-svc's published events; `source_position`
    /// is the event's position in compliance-svc's log.
    RecordRightsRevoked {
        at: Instant,
        source_position: i64,
    },
    RecordRightsRestored {
        at: Instant,
        source_position: i64,
    },
    /// R-CMP-13, from compliance-svc's TierChanged: the tier now, the
    /// measures newly applied, and (when an appeal was granted) the violation
    /// whose measures no longer hold.
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
    OrderPlaced {
        order_id: String,
        spec: OrderSpec,
        at: Instant,
    },
    ReviewApproved {
        order_id: String,
        at: Instant,
    },
    ReviewRejected {
        order_id: String,
        reasons: Vec<String>,
        refund: Refund,
        at: Instant,
    },
    DeliveryReported {
        order_id: String,
        spent_fen: Fen,
        stats: PaidStats,
        at: Instant,
    },
    /// R-ADS-8, R-ADS-14: delivery ended (the budget is spent, or the
    /// delivery window closed); `run_secs` is the actual run time.
    DeliveryCompleted {
        order_id: String,
        run_secs: i64,
        at: Instant,
    },
    /// R-ADS-14: what an ended order did not spend, refunded as its own fact.
    RemainderRefunded {
        order_id: String,
        refund: Refund,
        at: Instant,
    },
    ShoppingCartUsed {
        room_id: String,
        at: Instant,
    },
    /// The shop stopped the order; `run_secs` is how long it delivered
    /// (none if it never did). The refund follows as RemainderRefunded.
    OrderTerminated {
        order_id: String,
        run_secs: Option<i64>,
        at: Instant,
    },
    BudgetAdded {
        order_id: String,
        amount_fen: Fen,
        at: Instant,
    },
    DeliveryExtended {
        order_id: String,
        hours: u32,
        at: Instant,
    },
    /// R-ADS-9: a running DOU+ order for a room that used its cart.
    DouPlusOrderTerminated {
        order_id: String,
        refund: Refund,
        at: Instant,
    },
    InvoiceIssued {
        order_id: String,
        kind: InvoiceKind,
        title: String,
        amount_fen: Fen,
        at: Instant,
    },
    SubjectSet {
        subject: Subject,
    },
    /// A withdrawal (and, in logs written before payments were confirmed,
    /// a top-up credited on request).
    FundsMoved {
        movement: FundsMove,
        amount_fen: Fen,
        at: Instant,
    },
    /// A top-up waiting for the payment provider; nothing credited yet.
    TopUpRequested {
        payment_id: String,
        movement: FundsMove,
        amount_fen: Fen,
        at: Instant,
    },
    /// The provider confirmed the payment: the balance is credited.
    TopUpConfirmed {
        payment_id: String,
        amount_fen: Fen,
        at: Instant,
    },
    /// The provider said the payment failed: nothing is credited.
    TopUpFailed {
        payment_id: String,
        at: Instant,
    },
    /// `source_position`: the compliance event's position in its log (0 in
    /// events stored before positions were kept).
    SellingRightsRevokedNoted {
        at: Instant,
        #[serde(default)]
        source_position: i64,
    },
    SellingRightsRestoredNoted {
        at: Instant,
        #[serde(default)]
        source_position: i64,
    },
    TierChangedNoted {
        change: TierChange,
        at: Instant,
        source_position: i64,
    },
}

impl Event {
    /// The order the event is about, if it is about one.
    pub fn order_id(&self) -> Option<&str> {
        match self {
            Event::OrderPlaced { order_id, .. }
            | Event::ReviewApproved { order_id, .. }
            | Event::ReviewRejected { order_id, .. }
            | Event::DeliveryReported { order_id, .. }
            | Event::DeliveryCompleted { order_id, .. }
            | Event::RemainderRefunded { order_id, .. }
            | Event::OrderTerminated { order_id, .. }
            | Event::BudgetAdded { order_id, .. }
            | Event::DeliveryExtended { order_id, .. }
            | Event::DouPlusOrderTerminated { order_id, .. }
            | Event::InvoiceIssued { order_id, .. } => Some(order_id),
            Event::TimeZoneSet { .. }
            | Event::ShoppingCartUsed { .. }
            | Event::SubjectSet { .. }
            | Event::FundsMoved { .. }
            | Event::TopUpRequested { .. }
            | Event::TopUpConfirmed { .. }
            | Event::TopUpFailed { .. }
            | Event::SellingRightsRevokedNoted { .. }
            | Event::SellingRightsRestoredNoted { .. }
            | Event::TierChangedNoted { .. } => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Event::TimeZoneSet { .. } => "TimeZoneSet",
            Event::OrderPlaced { .. } => "OrderPlaced",
            Event::ReviewApproved { .. } => "ReviewApproved",
            Event::ReviewRejected { .. } => "ReviewRejected",
            Event::DeliveryReported { .. } => "DeliveryReported",
            Event::DeliveryCompleted { .. } => "DeliveryCompleted",
            Event::RemainderRefunded { .. } => "RemainderRefunded",
            Event::ShoppingCartUsed { .. } => "ShoppingCartUsed",
            Event::OrderTerminated { .. } => "OrderTerminated",
            Event::BudgetAdded { .. } => "BudgetAdded",
            Event::DeliveryExtended { .. } => "DeliveryExtended",
            Event::DouPlusOrderTerminated { .. } => "DouPlusOrderTerminated",
            Event::InvoiceIssued { .. } => "InvoiceIssued",
            Event::SubjectSet { .. } => "SubjectSet",
            Event::FundsMoved { .. } => "FundsMoved",
            Event::TopUpRequested { .. } => "TopUpRequested",
            Event::TopUpConfirmed { .. } => "TopUpConfirmed",
            Event::TopUpFailed { .. } => "TopUpFailed",
            Event::SellingRightsRevokedNoted { .. } => "SellingRightsRevokedNoted",
            Event::SellingRightsRestoredNoted { .. } => "SellingRightsRestoredNoted",
            Event::TierChangedNoted { .. } => "TierChangedNoted",
        }
    }
}

/// Why a command is refused: the refusal every service shares, so the
/// gRPC layer maps it the same way everywhere.
pub use sellerdesk_core::Refusal as DomainError;

/// The ads account as the shared [`sellerdesk_core::Decider`] shape: the
/// runtime's command path loads, decides and appends with it.
#[derive(Debug)]
pub struct Account;

impl sellerdesk_core::Decider for Account {
    type Command = Command;
    type Event = Event;
    type State = AdsAccount;
    type Context<'a> = ();
    type Error = DomainError;

    fn decide(command: &Command, state: &AdsAccount, _: &()) -> Result<Vec<Event>, DomainError> {
        decide(state, command)
    }

    fn evolve(state: &mut AdsAccount, event: &Event) {
        state.apply(event);
    }

    fn version(state: &AdsAccount) -> i64 {
        state.version
    }
}

impl sellerdesk_core::DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        self.type_name()
    }
}
