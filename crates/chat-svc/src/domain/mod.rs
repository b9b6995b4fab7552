//! The pure chat domain: no I/O, no async, no clock. A shop's chat desk
//! (agents, conversations, the waiting queue, service hours, quick phrases)
//! is a fold of its events ([`ChatDesk::apply`]); [`decide`] turns a command
//! into events or refuses it. Time and the robot's verdict arrive inside the
//! command: the application asks faq-svc before it decides.
//!
//! Where each rule lives:
//! - R-CHAT-1 agent limit: [`Limits::max_agents`], checked in [`decide`]
//! - R-CHAT-2 phone and real-name verification before going online: [`Command::SetAgentStatus`] in [`decide`]
//! - R-CHAT-3 roles and permissions: [`ServiceRole`], [`Permissions`] (who manages agents: the gRPC layer)
//! - R-CHAT-4 routing, fewest open conversations first: [`routing`]
//! - R-CHAT-5 what an agent's inbox holds: [`Event::concerns_agent`]
//! - R-CHAT-6 automatic reply: [`RobotVerdict`], [`Event::RobotReplied`]
//! - R-CHAT-7 unreplied until a human answers: [`Conversation::first_human_reply_at`], [`metrics`]
//! - R-CHAT-8 transfer to a human: [`handover::asks_for_human`], [`Event::HumanRequested`]
//! - R-CHAT-9 service hours: [`hours`]
//! - R-CHAT-10 quick phrases: [`phrases`]
//! - R-CHAT-11 response-time target and figures: [`metrics`]
//! - R-CHAT-12 every buyer message's clock, hours left out: [`response`]
//! - R-CHAT-13 the buyer's side (attachments, read receipts, the buyer's stream): [`buyer`]
//! - R-CHAT-14 after-sale requests and order actions: [`aftersale`]
//! - R-CHAT-15 leaving a message (留言): [`leave`]; tags and notes: [`notes`]

pub mod aftersale;
pub mod buyer;
mod decide;
pub mod handover;
pub mod hours;
pub mod leave;
pub mod metrics;
pub mod notes;
pub mod phrases;
pub mod response;
pub mod routing;
mod state;
pub mod topic;

pub use aftersale::{AfterSale, AfterSaleKind, OrderCard};
pub use buyer::{Attachment, Reader};
pub use decide::decide;
pub use hours::{DayHours, ServiceHours, SpecialDay, TimeRange};
pub use state::{Agent, ChatDesk, Conversation, ConversationStatus, CLOSED_KEPT_DAYS};

use serde::{Deserialize, Serialize};

/// An instant: UTC (R-X-3).
pub type Instant = chrono::DateTime<chrono::Utc>;

/// Limits the deployment sets; the numbers are the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// R-CHAT-1: customer-service accounts per shop.
    pub max_agents: usize,
    pub max_message_chars: usize,
    pub max_quick_phrases: usize,
    pub max_phrase_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_agents: 20,
            max_message_chars: 2000,
            max_quick_phrases: 500,
            max_phrase_chars: 500,
        }
    }
}

/// What a shop tunes about its desk (each change is an event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeskSettings {
    /// R-CHAT-11, R-CHAT-12: a human reply within this many seconds of each
    /// buyer message that waits for one (service hours only).
    pub response_target_secs: u32,
    /// A conversation whose assigned agent leaves the buyer waiting this long
    /// is given to another agent who fits.
    pub reassign_after_secs: u32,
    /// Conversations that may wait for a human at once; beyond it the buyer
    /// is told to try again later.
    pub queue_capacity: u32,
    /// Open conversations an agent carries at most, unless the agent has its own.
    pub default_agent_capacity: u32,
}

impl Default for DeskSettings {
    fn default() -> Self {
        Self {
            response_target_secs: 30,
            reassign_after_secs: 120,
            queue_capacity: 100,
            default_agent_capacity: 10,
        }
    }
}

/// R-CHAT-3: what kind of questions an agent takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceRole {
    /// 售前
    PreSale,
    /// 售后
    AfterSale,
    Both,
}

impl ServiceRole {
    pub fn fits(self, topic: Topic) -> bool {
        matches!(
            (self, topic),
            (ServiceRole::Both, _)
                | (ServiceRole::PreSale, Topic::PreSale)
                | (ServiceRole::AfterSale, Topic::AfterSale)
        )
    }
}

/// R-CHAT-3: what an agent may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Permissions {
    /// Reply to buyers' messages.
    pub reply: bool,
    /// Handle orders (change address, price, ship).
    pub handle_orders: bool,
    /// Review after-sale requests (refunds, returns).
    pub review_after_sale: bool,
}

/// R-CHAT-4: online agents receive new conversations; busy ones keep theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Online,
    Busy,
    #[default]
    Offline,
}

/// What a conversation is about, which decides who may take it (R-CHAT-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    PreSale,
    AfterSale,
}

/// What faq-svc said about a buyer's message, asked before deciding (R-CHAT-6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum RobotVerdict {
    /// A confident match: sent to the buyer as an automatic reply.
    Answered {
        entry_id: String,
        answer: String,
        confidence: f64,
        /// The topic of the entry's category, when it is pre- or after-sale
        /// (issue 18: routing by what the buyer asks).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<Topic>,
    },
    /// Nothing confident enough (R-CHAT-8: the robot hands over).
    NoAnswer { confidence: f64 },
    /// faq-svc did not answer in time; the message goes to humans.
    Unavailable,
    /// The robot was not asked: a human has the conversation, or the buyer asked for one.
    NotAsked,
}

/// Why a conversation now waits for a human (R-CHAT-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoverReason {
    /// The buyer asked (转人工 and its variants).
    BuyerAsked,
    /// The robot had no confident answer.
    RobotNoAnswer,
    /// faq-svc was unreachable.
    RobotUnavailable,
}

/// Which rule chose the agent of an assignment, so routing can be explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum AssignmentRule {
    /// R-CHAT-4: an online agent whose role fits, fewest open conversations first.
    FewestOpen,
    /// The conversation waited in the queue until an agent who fits had room.
    FromQueue { waited_secs: i64 },
    /// The assigned agent left the buyer waiting past `reassign_after_secs`.
    UnansweredTimeout { waited_secs: i64 },
    /// The assigned agent went offline or was removed.
    AgentUnavailable,
    /// An agent or manager handed it to a named colleague.
    Transfer { by: String },
}

/// An agent considered by routing, with its load at that moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateLoad {
    pub agent_id: String,
    pub open: u32,
    pub capacity: u32,
}

/// A system message to the buyer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "notice")]
pub enum BuyerNotice {
    /// The opening greeting and FAQ cards (R-FAQ-5, fetched from faq-svc).
    Greeting { text: String, cards: Vec<Card> },
    /// Waiting for a human: `place` 1 is next.
    QueuePlace { place: u32 },
    /// Nobody can take more: try again later.
    QueueFull,
    /// R-CHAT-9: outside service hours; humans are back at `back_at` (none: no hours set ahead).
    OutsideHours { back_at: Option<Instant> },
    /// A human took the conversation.
    AgentJoined { agent_name: String },
    /// R-CHAT-15: the buyer's message is left for the agents.
    MessageTaken,
}

/// A FAQ card shown when a chat opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub entry_id: String,
    pub question: String,
}

/// A quick phrase (R-CHAT-10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickPhrase {
    pub phrase_id: String,
    pub title: String,
    /// May hold `{buyer_name}`, `{order_id}`, `{agent_name}`.
    pub text: String,
    /// The agent whose own phrase it is (issue 18); None: the shop's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
}

/// Everything that changes a shop's desk.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    AddAgent {
        agent_id: String,
        name: String,
        phone: String,
        role: ServiceRole,
        permissions: Permissions,
        capacity: Option<u32>,
    },
    UpdateAgent {
        agent_id: String,
        name: String,
        role: ServiceRole,
        permissions: Permissions,
        capacity: Option<u32>,
    },
    /// R-CHAT-2: the platform's identity check passed.
    VerifyAgentRealName {
        agent_id: String,
    },
    RemoveAgent {
        agent_id: String,
        at: Instant,
    },
    SetAgentStatus {
        agent_id: String,
        status: AgentStatus,
        at: Instant,
    },
    OpenConversation {
        conversation_id: String,
        buyer_id: String,
        buyer_name: String,
        order_id: Option<String>,
        /// None: after-sale when an order is named, else pre-sale.
        topic: Option<Topic>,
        greeting: BuyerNotice,
        at: Instant,
    },
    ReceiveBuyerMessage {
        conversation_id: String,
        message_id: String,
        /// May be empty when the message carries an attachment.
        text: String,
        attachment: Option<Attachment>,
        robot: RobotVerdict,
        at: Instant,
    },
    /// A buyer tapped a FAQ card; faq-svc returned the answer.
    TapCard {
        conversation_id: String,
        entry_id: String,
        answer: String,
        at: Instant,
    },
    SendAgentReply {
        conversation_id: String,
        agent_id: String,
        message_id: String,
        /// May be empty when the reply carries an attachment.
        text: String,
        attachment: Option<Attachment>,
        at: Instant,
    },
    Transfer {
        conversation_id: String,
        to_agent: String,
        by: String,
        at: Instant,
    },
    Close {
        conversation_id: String,
        by: String,
        at: Instant,
    },
    Rate {
        conversation_id: String,
        rating: u8,
        at: Instant,
    },
    SetServiceHours {
        hours: ServiceHours,
    },
    UpdateSettings {
        settings: DeskSettings,
    },
    SaveQuickPhrase {
        phrase: QuickPhrase,
        /// True: a new phrase (ALREADY_EXISTS if the id is taken by other text).
        create: bool,
    },
    DeleteQuickPhrase {
        phrase_id: String,
        /// The agent's own phrase; None: the shop's.
        agent_id: Option<String>,
    },
    /// Time passed: reassign conversations left unanswered, drain the queue
    /// when hours open or agents free up.
    Tick {
        at: Instant,
    },
    /// R-CHAT-14: the buyer files an after-sale request on an order (through
    /// the platform's buyer gateway, which knows the order's amount).
    FileAfterSale {
        conversation_id: String,
        request_id: String,
        order_id: String,
        kind: AfterSaleKind,
        reason: String,
        amount_fen: i64,
        order_amount_fen: i64,
        at: Instant,
    },
    /// R-CHAT-14: an agent with review_after_sale decides a request.
    DecideAfterSale {
        conversation_id: String,
        request_id: String,
        agent_id: String,
        approve: bool,
        reason: String,
        at: Instant,
    },
    /// R-CHAT-14: an agent with handle_orders shows the buyer an order.
    SendOrderCard {
        conversation_id: String,
        agent_id: String,
        card: OrderCard,
        at: Instant,
    },
    /// Issue 18: a tag added to (or removed from) a conversation by the shop's people.
    TagConversation {
        conversation_id: String,
        tag: String,
        add: bool,
        by: String,
        at: Instant,
    },
    /// Issue 18: a private note; the buyer's side never sees it.
    AddNote {
        conversation_id: String,
        note_id: String,
        author: String,
        text: String,
        at: Instant,
    },
    /// R-CHAT-14: an agent with handle_orders records a shipping-address change.
    MarkAddressChanged {
        conversation_id: String,
        agent_id: String,
        order_id: String,
        at: Instant,
    },
    /// R-CHAT-15: the buyer leaves a message (留言) when no human can take
    /// the conversation now.
    LeaveMessage {
        conversation_id: String,
        message_id: String,
        text: String,
        at: Instant,
    },
    /// R-CHAT-13: a read receipt.
    MarkRead {
        conversation_id: String,
        reader: Reader,
        up_to_position: i64,
        at: Instant,
    },
}

impl Command {
    /// The instant the command happened at, where it carries one (the desk
    /// stores its events at it); settings and agent changes carry none.
    pub fn at(&self) -> Option<Instant> {
        match self {
            Command::RemoveAgent { at, .. }
            | Command::SetAgentStatus { at, .. }
            | Command::OpenConversation { at, .. }
            | Command::ReceiveBuyerMessage { at, .. }
            | Command::TapCard { at, .. }
            | Command::SendAgentReply { at, .. }
            | Command::Transfer { at, .. }
            | Command::Close { at, .. }
            | Command::Rate { at, .. }
            | Command::Tick { at }
            | Command::FileAfterSale { at, .. }
            | Command::DecideAfterSale { at, .. }
            | Command::SendOrderCard { at, .. }
            | Command::MarkAddressChanged { at, .. }
            | Command::TagConversation { at, .. }
            | Command::AddNote { at, .. }
            | Command::MarkRead { at, .. }
            | Command::LeaveMessage { at, .. } => Some(*at),
            Command::AddAgent { .. }
            | Command::UpdateAgent { .. }
            | Command::VerifyAgentRealName { .. }
            | Command::SetServiceHours { .. }
            | Command::UpdateSettings { .. }
            | Command::SaveQuickPhrase { .. }
            | Command::DeleteQuickPhrase { .. } => None,
        }
    }
}

/// Facts, in the domain's words. Every conversation event carries its instant,
/// so metrics and timeouts are folds of the log alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    AgentAdded {
        agent_id: String,
        name: String,
        phone: String,
        role: ServiceRole,
        permissions: Permissions,
        capacity: Option<u32>,
    },
    AgentUpdated {
        agent_id: String,
        name: String,
        role: ServiceRole,
        permissions: Permissions,
        capacity: Option<u32>,
    },
    AgentRealNameVerified {
        agent_id: String,
    },
    AgentRemoved {
        agent_id: String,
        at: Instant,
    },
    AgentStatusChanged {
        agent_id: String,
        status: AgentStatus,
        at: Instant,
    },
    ConversationOpened {
        conversation_id: String,
        buyer_id: String,
        buyer_name: String,
        order_id: Option<String>,
        topic: Topic,
        at: Instant,
    },
    BuyerMessageReceived {
        conversation_id: String,
        message_id: String,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attachment: Option<Attachment>,
        /// The agent who has the conversation when it arrives (whose inbox shows it).
        assignee: Option<String>,
        robot: RobotVerdict,
        /// R-CHAT-12: the message waits for a human (the robot did not settle
        /// it), so it starts the response clock. Messages logged before
        /// per-message figures existed read as false.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        waits_for_human: bool,
        at: Instant,
    },
    /// R-CHAT-6: the robot's reply, as the buyer sees it.
    RobotReplied {
        conversation_id: String,
        entry_id: String,
        text: String,
        assignee: Option<String>,
        at: Instant,
    },
    BuyerNotified {
        conversation_id: String,
        notice: BuyerNotice,
        text: String,
        at: Instant,
    },
    HumanRequested {
        conversation_id: String,
        reason: HandoverReason,
        at: Instant,
    },
    ConversationQueued {
        conversation_id: String,
        place: u32,
        at: Instant,
    },
    ConversationAssigned {
        conversation_id: String,
        agent_id: String,
        previous: Option<String>,
        rule: AssignmentRule,
        /// Why the conversation has the topic routing used (issue 18);
        /// empty in assignments recorded before topics followed the buyer.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        topic_reason: String,
        /// Every agent routing weighed, with its load: the explanation.
        candidates: Vec<CandidateLoad>,
        at: Instant,
    },
    /// The agent went away and nobody could take the conversation over: back to the queue.
    ConversationReleased {
        conversation_id: String,
        agent_id: String,
        at: Instant,
    },
    AgentReplied {
        conversation_id: String,
        agent_id: String,
        message_id: String,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attachment: Option<Attachment>,
        /// R-CHAT-12: the buyer messages this reply answers, with their waits
        /// as decided (time outside service hours left out).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        answered: Vec<response::Answered>,
        at: Instant,
    },
    ConversationClosed {
        conversation_id: String,
        by: String,
        assignee: Option<String>,
        at: Instant,
    },
    ConversationRated {
        conversation_id: String,
        rating: u8,
        assignee: Option<String>,
        at: Instant,
    },
    ServiceHoursSet {
        hours: ServiceHours,
    },
    DeskSettingsChanged {
        settings: DeskSettings,
    },
    QuickPhraseSaved {
        phrase: QuickPhrase,
    },
    QuickPhraseDeleted {
        phrase_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent_id: Option<String>,
    },
    AfterSaleFiled {
        conversation_id: String,
        request_id: String,
        order_id: String,
        kind: AfterSaleKind,
        reason: String,
        amount_fen: i64,
        /// The agent who has the conversation (whose inbox shows it).
        assignee: Option<String>,
        at: Instant,
    },
    AfterSaleDecided {
        conversation_id: String,
        request_id: String,
        agent_id: String,
        approved: bool,
        reason: String,
        at: Instant,
    },
    OrderCardSent {
        conversation_id: String,
        agent_id: String,
        card: OrderCard,
        at: Instant,
    },
    ShippingAddressChangeMarked {
        conversation_id: String,
        agent_id: String,
        order_id: String,
        at: Instant,
    },
    /// Issue 18: what the buyer asks moved the conversation to another topic.
    TopicChanged {
        conversation_id: String,
        topic: Topic,
        reason: String,
        at: Instant,
    },
    ConversationTagged {
        conversation_id: String,
        tag: String,
        by: String,
        at: Instant,
    },
    ConversationUntagged {
        conversation_id: String,
        tag: String,
        by: String,
        at: Instant,
    },
    /// For the shop's people only: never on the buyer's side.
    NoteAdded {
        conversation_id: String,
        note_id: String,
        author: String,
        text: String,
        assignee: Option<String>,
        at: Instant,
    },
    /// R-CHAT-15: the buyer left a message (留言) for when an agent is back.
    MessageLeft {
        conversation_id: String,
        at: Instant,
    },
    /// R-CHAT-13: a read receipt, shown to the other side.
    MessagesRead {
        conversation_id: String,
        reader: Reader,
        up_to_position: i64,
        /// The agent who has the conversation (whose inbox shows it).
        assignee: Option<String>,
        at: Instant,
    },
}

impl Event {
    /// The serde tag, used as the envelope's event type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::AgentAdded { .. } => "AgentAdded",
            Event::AgentUpdated { .. } => "AgentUpdated",
            Event::AgentRealNameVerified { .. } => "AgentRealNameVerified",
            Event::AgentRemoved { .. } => "AgentRemoved",
            Event::AgentStatusChanged { .. } => "AgentStatusChanged",
            Event::ConversationOpened { .. } => "ConversationOpened",
            Event::BuyerMessageReceived { .. } => "BuyerMessageReceived",
            Event::RobotReplied { .. } => "RobotReplied",
            Event::BuyerNotified { .. } => "BuyerNotified",
            Event::HumanRequested { .. } => "HumanRequested",
            Event::ConversationQueued { .. } => "ConversationQueued",
            Event::ConversationAssigned { .. } => "ConversationAssigned",
            Event::ConversationReleased { .. } => "ConversationReleased",
            Event::AgentReplied { .. } => "AgentReplied",
            Event::ConversationClosed { .. } => "ConversationClosed",
            Event::ConversationRated { .. } => "ConversationRated",
            Event::ServiceHoursSet { .. } => "ServiceHoursSet",
            Event::DeskSettingsChanged { .. } => "DeskSettingsChanged",
            Event::QuickPhraseSaved { .. } => "QuickPhraseSaved",
            Event::AfterSaleFiled { .. } => "AfterSaleFiled",
            Event::AfterSaleDecided { .. } => "AfterSaleDecided",
            Event::OrderCardSent { .. } => "OrderCardSent",
            Event::ShippingAddressChangeMarked { .. } => "ShippingAddressChangeMarked",
            Event::TopicChanged { .. } => "TopicChanged",
            Event::ConversationTagged { .. } => "ConversationTagged",
            Event::ConversationUntagged { .. } => "ConversationUntagged",
            Event::NoteAdded { .. } => "NoteAdded",
            Event::MessagesRead { .. } => "MessagesRead",
            Event::MessageLeft { .. } => "MessageLeft",
            Event::QuickPhraseDeleted { .. } => "QuickPhraseDeleted",
        }
    }

    /// The conversation this event belongs to, if any.
    pub fn conversation_id(&self) -> Option<&str> {
        match self {
            Event::ConversationOpened {
                conversation_id, ..
            }
            | Event::BuyerMessageReceived {
                conversation_id, ..
            }
            | Event::RobotReplied {
                conversation_id, ..
            }
            | Event::BuyerNotified {
                conversation_id, ..
            }
            | Event::HumanRequested {
                conversation_id, ..
            }
            | Event::ConversationQueued {
                conversation_id, ..
            }
            | Event::ConversationAssigned {
                conversation_id, ..
            }
            | Event::ConversationReleased {
                conversation_id, ..
            }
            | Event::AgentReplied {
                conversation_id, ..
            }
            | Event::ConversationClosed {
                conversation_id, ..
            }
            | Event::ConversationRated {
                conversation_id, ..
            }
            | Event::AfterSaleFiled {
                conversation_id, ..
            }
            | Event::AfterSaleDecided {
                conversation_id, ..
            }
            | Event::OrderCardSent {
                conversation_id, ..
            }
            | Event::ShippingAddressChangeMarked {
                conversation_id, ..
            }
            | Event::TopicChanged {
                conversation_id, ..
            }
            | Event::ConversationTagged {
                conversation_id, ..
            }
            | Event::ConversationUntagged {
                conversation_id, ..
            }
            | Event::NoteAdded {
                conversation_id, ..
            }
            | Event::MessagesRead {
                conversation_id, ..
            }
            | Event::MessageLeft {
                conversation_id, ..
            } => Some(conversation_id),
            _ => None,
        }
    }

    /// R-CHAT-5: whether `agent`'s inbox shows this event. Every device of the
    /// agent follows the same events, so they see the same messages.
    pub fn concerns_agent(&self, agent: &str) -> bool {
        let is = |a: &Option<String>| a.as_deref() == Some(agent);
        match self {
            Event::ConversationAssigned {
                agent_id, previous, ..
            } => agent_id == agent || is(previous),
            Event::ConversationReleased { agent_id, .. }
            | Event::AgentReplied { agent_id, .. }
            | Event::AgentStatusChanged { agent_id, .. }
            | Event::AfterSaleDecided { agent_id, .. }
            | Event::OrderCardSent { agent_id, .. }
            | Event::ShippingAddressChangeMarked { agent_id, .. } => agent_id == agent,
            Event::NoteAdded {
                author, assignee, ..
            } => author == agent || is(assignee),
            Event::BuyerMessageReceived { assignee, .. }
            | Event::AfterSaleFiled { assignee, .. }
            | Event::RobotReplied { assignee, .. }
            | Event::ConversationClosed { assignee, .. }
            | Event::ConversationRated { assignee, .. }
            | Event::MessagesRead { assignee, .. } => is(assignee),
            _ => false,
        }
    }
}

/// Why a command is refused: the refusal every service shares, so the
/// gRPC layer maps it the same way everywhere.
pub use sellerdesk_core::Refusal as DomainError;

/// A shop's chat desk as the shared [`sellerdesk_core::Decider`] shape; the
/// limits are what deciding reads besides it.
#[derive(Debug)]
pub struct Desk;

impl sellerdesk_core::Decider for Desk {
    type Command = Command;
    type Event = Event;
    type State = ChatDesk;
    type Context<'a> = Limits;
    type Error = DomainError;

    fn decide(
        command: &Command,
        desk: &ChatDesk,
        limits: &Limits,
    ) -> Result<Vec<Event>, DomainError> {
        decide(desk, command, limits)
    }

    fn evolve(desk: &mut ChatDesk, event: &Event) {
        desk.apply(event);
    }

    fn version(desk: &ChatDesk) -> i64 {
        desk.version
    }
}

impl sellerdesk_core::DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        self.type_name()
    }
}
