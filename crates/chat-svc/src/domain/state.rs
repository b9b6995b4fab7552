use super::{
    AgentStatus, DeskSettings, Event, Instant, Permissions, QuickPhrase, ServiceHours, ServiceRole,
    Topic,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// A customer-service account (R-CHAT-1..3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub agent_id: String,
    pub name: String,
    pub phone: String,
    pub role: ServiceRole,
    pub permissions: Permissions,
    /// The agent's own limit; None: the shop's default.
    pub capacity: Option<u32>,
    pub verified: bool,
    pub status: AgentStatus,
    /// Open conversations assigned to the agent.
    pub open: HashSet<String>,
    /// Sequence number of the agent's latest assignment: among equally loaded
    /// agents the one who waited longest goes first.
    pub last_assigned: u64,
    /// The agent's own quick phrases (issue 18), beside the shop's.
    pub phrases: BTreeMap<String, QuickPhrase>,
}

impl Agent {
    pub fn capacity(&self, settings: &DeskSettings) -> u32 {
        self.capacity.unwrap_or(settings.default_agent_capacity)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConversationStatus {
    Open,
    Closed,
}

/// What the desk remembers of a conversation; its messages stay in the log.
/// Serialised as the body of its document in the read model (`archive`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub conversation_id: String,
    pub buyer_id: String,
    pub buyer_name: String,
    pub order_id: Option<String>,
    pub topic: Topic,
    pub opened_at: Instant,
    pub status: ConversationStatus,
    pub closed_at: Option<Instant>,
    pub assignee: Option<String>,
    pub assigned_at: Option<Instant>,
    /// R-CHAT-8: waiting for a human (in the queue, or for service hours).
    pub waiting_since: Option<Instant>,
    pub first_buyer_message_at: Option<Instant>,
    /// The oldest buyer message no human has answered yet (R-CHAT-7: the
    /// robot's replies do not count, so every buyer message sets it). Not the
    /// same as `waiting_messages`, which holds only the messages that wait for
    /// a human (R-CHAT-12): a message the robot settled is unanswered here but
    /// has no clock there.
    pub unanswered_since: Option<Instant>,
    /// R-CHAT-7: None while only the robot has answered.
    pub first_human_reply_at: Option<Instant>,
    pub first_responder: Option<String>,
    pub buyer_messages: u32,
    pub robot_replies: u32,
    /// Buyer messages that found faq-svc unreachable.
    pub robot_unavailable: u32,
    pub rating: Option<u8>,
    /// Every message id of the conversation (buyer's and agents'), with what
    /// it carried: a retry with the same content is a no-op, other content
    /// under a used id is ALREADY_EXISTS.
    pub message_ids: HashMap<String, MessageFingerprint>,
    /// R-CHAT-14: after-sale requests filed here, by request id.
    pub after_sales: std::collections::BTreeMap<String, super::AfterSale>,
    /// Why the conversation has its topic (issue 18), for the assignment's
    /// explanation.
    pub topic_reason: String,
    /// Issue 18: the shop's tags.
    pub tags: std::collections::BTreeSet<String>,
    /// Issue 18: private notes by id: author and text (to tell a retry).
    pub notes: std::collections::BTreeMap<String, (String, String)>,
    /// R-CHAT-13: read receipts, as positions of the shop's log.
    pub buyer_read_up_to: i64,
    pub agent_read_up_to: i64,
    /// R-CHAT-12: buyer messages waiting for a human, oldest first. Kept
    /// when the conversation closes (unanswered, so a miss if overdue); the
    /// figures stop their clocks at `closed_at`. See `unanswered_since`.
    pub waiting_messages: Vec<super::response::WaitingMessage>,
    /// R-CHAT-12: every buyer message a human answered, with its wait.
    pub responses: Vec<super::response::Answered>,
    /// R-CHAT-15: when the buyer left a message (留言) that no agent has
    /// picked up yet; None once an agent has the conversation.
    pub left_message_at: Option<Instant>,
    /// R-CHAT-11: when the clock of the first response started: the first
    /// buyer message, or, for a message left for later, the pickup.
    pub first_clock_from: Option<Instant>,
}

/// Who sent a message and a digest of its text: enough to tell a retry from a
/// different message under the same id, without keeping the text twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFingerprint(u64);

impl MessageFingerprint {
    pub fn of(sender: &str, text: &str, attachment: Option<&super::Attachment>) -> Self {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: the same on every replica and every fold.
        let mut h = std::hash::DefaultHasher::new();
        sender.hash(&mut h);
        text.hash(&mut h);
        attachment.hash(&mut h);
        Self(h.finish())
    }
}

/// How long a closed conversation stays on the desk (R-X-4, issue 15 item
/// 4): the buyer may still rate it, agents may tag and note it and decide
/// its after-sale requests. After that it is read-only and lives in the
/// read model only (`archive`), so a desk holds the open conversations and a
/// week of closed ones, not the shop's whole history. A constant, not a
/// setting: every replica must fold the same desk from the same log.
pub const CLOSED_KEPT_DAYS: i64 = 7;

/// A shop's whole chat desk: the fold of its stream. Serialised as a desk
/// snapshot, so a desk loads from its snapshot and the stream after it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChatDesk {
    /// Events folded: the stream version.
    pub version: i64,
    pub agents: BTreeMap<String, Agent>,
    pub conversations: HashMap<String, Conversation>,
    /// Conversations waiting for a human, first come first served.
    pub queue: VecDeque<String>,
    /// R-CHAT-15: conversations with a message left (留言), oldest first;
    /// not bounded by the queue's capacity, which is why they exist.
    pub left_messages: VecDeque<String>,
    pub hours: ServiceHours,
    pub settings: DeskSettings,
    pub phrases: BTreeMap<String, QuickPhrase>,
    assignments: u64,
    /// Closed conversations in the order they closed, for retiring them.
    closed: VecDeque<(Instant, String)>,
    /// Conversations closed before this instant have left the desk
    /// ([`CLOSED_KEPT_DAYS`]); the figures read them from the read model.
    pub retired_before: Option<Instant>,
}

impl ChatDesk {
    pub fn conversation(&self, id: &str) -> Option<&Conversation> {
        self.conversations.get(id)
    }

    /// Place in the queue, 1 = next.
    pub fn queue_place(&self, id: &str) -> Option<u32> {
        self.queue
            .iter()
            .position(|c| c == id)
            .map(|p| p as u32 + 1)
    }

    /// Whether time alone can make something happen (a queue to drain, an
    /// agent who may run out of time): the scheduler ticks only such shops.
    pub fn has_timers(&self) -> bool {
        !self.queue.is_empty()
            || !self.left_messages.is_empty()
            || self.conversations.values().any(|c| {
                c.status == ConversationStatus::Open
                    && c.assignee.is_some()
                    && c.unanswered_since.is_some()
            })
    }

    /// Lets closed conversations older than [`CLOSED_KEPT_DAYS`] before `now`
    /// (an event's time: the fold stays pure) leave the desk.
    fn retire(&mut self, now: Instant) {
        let cutoff = now - chrono::Duration::days(CLOSED_KEPT_DAYS);
        while let Some((closed_at, _)) = self.closed.front() {
            if *closed_at >= cutoff {
                break;
            }
            if let Some((_, id)) = self.closed.pop_front() {
                if self
                    .conversations
                    .get(&id)
                    .is_some_and(|c| c.status == ConversationStatus::Closed)
                {
                    self.conversations.remove(&id);
                }
            }
            self.retired_before = Some(self.retired_before.map_or(cutoff, |r| r.max(cutoff)));
        }
    }

    /// Whether any conversation has left the desk (closed before
    /// [`Self::retired_before`]). Only the read model can tell which ids
    /// those were: a conversation the desk does not hold is worth looking
    /// up there only when this is true.
    pub fn has_retired(&self) -> bool {
        self.retired_before.is_some()
    }

    pub fn apply(&mut self, event: &Event) {
        self.version += 1;
        match event {
            Event::ConversationOpened { at, .. } | Event::ConversationClosed { at, .. } => {
                self.retire(*at)
            }
            _ => {}
        }
        match event {
            Event::AgentAdded {
                agent_id,
                name,
                phone,
                role,
                permissions,
                capacity,
            } => {
                self.agents.insert(
                    agent_id.clone(),
                    Agent {
                        agent_id: agent_id.clone(),
                        name: name.clone(),
                        phone: phone.clone(),
                        role: *role,
                        permissions: *permissions,
                        capacity: *capacity,
                        verified: false,
                        status: AgentStatus::Offline,
                        open: HashSet::new(),
                        last_assigned: 0,
                        phrases: BTreeMap::new(),
                    },
                );
            }
            Event::AgentUpdated {
                agent_id,
                name,
                role,
                permissions,
                capacity,
            } => {
                if let Some(a) = self.agents.get_mut(agent_id) {
                    a.name = name.clone();
                    a.role = *role;
                    a.permissions = *permissions;
                    a.capacity = *capacity;
                }
            }
            Event::AgentRealNameVerified { agent_id } => {
                if let Some(a) = self.agents.get_mut(agent_id) {
                    a.verified = true;
                }
            }
            Event::AgentRemoved { agent_id, .. } => {
                self.agents.remove(agent_id);
            }
            Event::AgentStatusChanged {
                agent_id, status, ..
            } => {
                if let Some(a) = self.agents.get_mut(agent_id) {
                    a.status = *status;
                }
            }
            Event::ConversationOpened {
                conversation_id,
                buyer_id,
                buyer_name,
                order_id,
                topic,
                at,
            } => {
                self.conversations.insert(
                    conversation_id.clone(),
                    Conversation {
                        conversation_id: conversation_id.clone(),
                        buyer_id: buyer_id.clone(),
                        buyer_name: buyer_name.clone(),
                        order_id: order_id.clone(),
                        topic: *topic,
                        opened_at: *at,
                        status: ConversationStatus::Open,
                        closed_at: None,
                        assignee: None,
                        assigned_at: None,
                        waiting_since: None,
                        first_buyer_message_at: None,
                        unanswered_since: None,
                        first_human_reply_at: None,
                        first_responder: None,
                        buyer_messages: 0,
                        robot_replies: 0,
                        robot_unavailable: 0,
                        rating: None,
                        message_ids: HashMap::new(),
                        after_sales: Default::default(),
                        topic_reason: if order_id.is_some() {
                            "opened about an order".into()
                        } else {
                            "opened as the gateway said, or before any order".into()
                        },
                        tags: Default::default(),
                        notes: Default::default(),
                        buyer_read_up_to: 0,
                        agent_read_up_to: 0,
                        waiting_messages: Vec::new(),
                        responses: Vec::new(),
                        left_message_at: None,
                        first_clock_from: None,
                    },
                );
            }
            Event::BuyerMessageReceived {
                conversation_id,
                message_id,
                text,
                attachment,
                robot,
                waits_for_human,
                at,
                ..
            } => {
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    c.message_ids.insert(
                        message_id.clone(),
                        MessageFingerprint::of("", text, attachment.as_ref()),
                    );
                    if *waits_for_human {
                        // R-CHAT-15: a left message's clock starts when an agent picks it up.
                        let clock_from = c.left_message_at.is_none().then_some(*at);
                        c.waiting_messages.push(super::response::WaitingMessage {
                            message_id: message_id.clone(),
                            at: *at,
                            clock_from,
                        });
                    }
                    c.buyer_messages += 1;
                    if c.first_buyer_message_at.is_none() && c.left_message_at.is_none() {
                        c.first_clock_from = Some(*at);
                    }
                    c.first_buyer_message_at.get_or_insert(*at);
                    c.unanswered_since.get_or_insert(*at);
                    if matches!(robot, super::RobotVerdict::Unavailable) {
                        c.robot_unavailable += 1;
                    }
                }
            }
            Event::RobotReplied {
                conversation_id, ..
            } => {
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    c.robot_replies += 1;
                }
            }
            Event::BuyerNotified { .. } => {}
            Event::HumanRequested {
                conversation_id,
                at,
                ..
            } => {
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    c.waiting_since.get_or_insert(*at);
                }
            }
            Event::ConversationQueued {
                conversation_id, ..
            } => {
                if !self.queue.contains(conversation_id) {
                    self.queue.push_back(conversation_id.clone());
                }
            }
            Event::ConversationAssigned {
                conversation_id,
                agent_id,
                at,
                ..
            } => {
                self.assignments += 1;
                self.queue.retain(|c| c != conversation_id);
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    if let Some(prev) = c.assignee.take() {
                        if let Some(a) = self.agents.get_mut(&prev) {
                            a.open.remove(conversation_id);
                        }
                    }
                    c.assignee = Some(agent_id.clone());
                    c.assigned_at = Some(*at);
                    c.waiting_since = None;
                    // R-CHAT-15: from now on the left message counts against the target.
                    c.left_message_at = None;
                    if c.first_human_reply_at.is_none() && c.first_buyer_message_at.is_some() {
                        c.first_clock_from.get_or_insert(*at);
                    }
                    for w in &mut c.waiting_messages {
                        w.clock_from.get_or_insert(*at);
                    }
                }
                self.left_messages.retain(|c| c != conversation_id);
                if let Some(a) = self.agents.get_mut(agent_id) {
                    a.open.insert(conversation_id.clone());
                    a.last_assigned = self.assignments;
                }
            }
            Event::ConversationReleased {
                conversation_id,
                agent_id,
                at,
            } => {
                if let Some(a) = self.agents.get_mut(agent_id) {
                    a.open.remove(conversation_id);
                }
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    c.assignee = None;
                    c.assigned_at = None;
                    c.waiting_since.get_or_insert(*at);
                }
            }
            Event::AgentReplied {
                conversation_id,
                agent_id,
                message_id,
                text,
                attachment,
                answered,
                at,
            } => {
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    c.message_ids.insert(
                        message_id.clone(),
                        MessageFingerprint::of(agent_id, text, attachment.as_ref()),
                    );
                    c.waiting_messages.clear();
                    c.responses.extend(answered.iter().cloned());
                    if c.first_human_reply_at.is_none() {
                        c.first_human_reply_at = Some(*at);
                        c.first_responder = Some(agent_id.clone());
                    }
                    c.unanswered_since = None;
                }
            }
            Event::ConversationClosed {
                conversation_id,
                at,
                ..
            } => {
                self.queue.retain(|c| c != conversation_id);
                self.left_messages.retain(|c| c != conversation_id);
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    if c.status == ConversationStatus::Open {
                        self.closed.push_back((*at, conversation_id.clone()));
                    }
                    c.status = ConversationStatus::Closed;
                    c.closed_at = Some(*at);
                    c.waiting_since = None;
                    if let Some(a) = c.assignee.as_ref().and_then(|a| self.agents.get_mut(a)) {
                        a.open.remove(conversation_id);
                    }
                }
            }
            Event::ConversationRated {
                conversation_id,
                rating,
                ..
            } => {
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    c.rating = Some(*rating);
                }
            }
            Event::ServiceHoursSet { hours } => self.hours = hours.clone(),
            Event::DeskSettingsChanged { settings } => self.settings = *settings,
            Event::QuickPhraseSaved { phrase } => match &phrase.agent_id {
                None => {
                    self.phrases
                        .insert(phrase.phrase_id.clone(), phrase.clone());
                }
                Some(agent) => {
                    if let Some(a) = self.agents.get_mut(agent) {
                        a.phrases.insert(phrase.phrase_id.clone(), phrase.clone());
                    }
                }
            },
            Event::QuickPhraseDeleted {
                phrase_id,
                agent_id,
            } => match agent_id {
                None => {
                    self.phrases.remove(phrase_id);
                }
                Some(agent) => {
                    if let Some(a) = self.agents.get_mut(agent) {
                        a.phrases.remove(phrase_id);
                    }
                }
            },
            Event::AfterSaleFiled {
                conversation_id,
                request_id,
                order_id,
                kind,
                reason,
                amount_fen,
                ..
            } => {
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    c.after_sales.insert(
                        request_id.clone(),
                        super::AfterSale {
                            order_id: order_id.clone(),
                            kind: *kind,
                            reason: reason.clone(),
                            amount_fen: *amount_fen,
                            decision: None,
                        },
                    );
                }
            }
            Event::AfterSaleDecided {
                conversation_id,
                request_id,
                approved,
                reason,
                ..
            } => {
                if let Some(r) = self
                    .conversations
                    .get_mut(conversation_id)
                    .and_then(|c| c.after_sales.get_mut(request_id))
                {
                    r.decision = Some((*approved, reason.clone()));
                }
            }
            Event::OrderCardSent { .. } | Event::ShippingAddressChangeMarked { .. } => {}
            Event::TopicChanged {
                conversation_id,
                topic,
                reason,
                ..
            } => {
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    c.topic = *topic;
                    c.topic_reason = reason.clone();
                }
            }
            Event::ConversationTagged {
                conversation_id,
                tag,
                ..
            } => {
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    c.tags.insert(tag.clone());
                }
            }
            Event::ConversationUntagged {
                conversation_id,
                tag,
                ..
            } => {
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    c.tags.remove(tag);
                }
            }
            Event::NoteAdded {
                conversation_id,
                note_id,
                author,
                text,
                ..
            } => {
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    c.notes
                        .insert(note_id.clone(), (author.clone(), text.clone()));
                }
            }
            Event::MessagesRead {
                conversation_id,
                reader,
                up_to_position,
                ..
            } => {
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    let mark = match reader {
                        super::Reader::Buyer => &mut c.buyer_read_up_to,
                        super::Reader::Agent(_) => &mut c.agent_read_up_to,
                    };
                    *mark = (*mark).max(*up_to_position);
                }
            }
            Event::MessageLeft {
                conversation_id,
                at,
            } => {
                self.queue.retain(|c| c != conversation_id);
                if !self.left_messages.contains(conversation_id) {
                    self.left_messages.push_back(conversation_id.clone());
                }
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    c.left_message_at.get_or_insert(*at);
                    // Waiting for a human, outside the queue.
                    c.waiting_since.get_or_insert(*at);
                    if c.first_human_reply_at.is_none() {
                        c.first_clock_from = None;
                    }
                    // R-CHAT-15: the clock stops until an agent picks the message up.
                    for w in &mut c.waiting_messages {
                        w.clock_from = None;
                    }
                }
            }
        }
    }
}
