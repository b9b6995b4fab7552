use super::{
    handover::asks_for_human,
    phrases,
    routing::{self, Loads},
    AgentStatus, AssignmentRule, BuyerNotice, ChatDesk, Command, Conversation, ConversationStatus,
    DeskSettings, DomainError, Event, HandoverReason, Instant, Limits, Permissions, QuickPhrase,
    RobotVerdict, ServiceHours, ServiceRole, Topic,
};
use std::collections::VecDeque;

/// The events `command` causes on `desk`, or why it is refused. A refused
/// command causes nothing; a repeated one (same id, same content) causes
/// nothing and succeeds.
pub fn decide(
    desk: &ChatDesk,
    command: &Command,
    limits: &Limits,
) -> Result<Vec<Event>, DomainError> {
    match command {
        Command::AddAgent {
            agent_id,
            name,
            phone,
            role,
            permissions,
            capacity,
        } => add_agent(
            desk,
            limits,
            agent_id,
            name,
            phone,
            role,
            permissions,
            capacity,
        ),
        Command::UpdateAgent {
            agent_id,
            name,
            role,
            permissions,
            capacity,
        } => update_agent(desk, agent_id, name, role, permissions, capacity),
        Command::VerifyAgentRealName { agent_id } => verify_agent_real_name(desk, agent_id),
        Command::RemoveAgent { agent_id, at } => remove_agent(desk, agent_id, at),
        Command::SetAgentStatus {
            agent_id,
            status,
            at,
        } => set_agent_status(desk, agent_id, status, at),
        Command::OpenConversation {
            conversation_id,
            buyer_id,
            buyer_name,
            order_id,
            topic,
            greeting,
            at,
        } => open_new_conversation(
            desk,
            conversation_id,
            buyer_id,
            buyer_name,
            order_id,
            topic,
            greeting,
            at,
        ),
        Command::ReceiveBuyerMessage {
            conversation_id,
            message_id,
            text,
            attachment,
            robot,
            at,
        } => receive_buyer_message(
            desk,
            limits,
            conversation_id,
            message_id,
            text,
            attachment.as_ref(),
            robot,
            at,
        ),
        Command::TapCard {
            conversation_id,
            entry_id,
            answer,
            at,
        } => tap_card(desk, conversation_id, entry_id, answer, at),
        Command::SendAgentReply {
            conversation_id,
            agent_id,
            message_id,
            text,
            attachment,
            at,
        } => send_agent_reply(
            desk,
            limits,
            conversation_id,
            agent_id,
            message_id,
            text,
            attachment.as_ref(),
            at,
        ),
        Command::Transfer {
            conversation_id,
            to_agent,
            by,
            at,
        } => transfer(desk, conversation_id, to_agent, by, at),
        Command::Close {
            conversation_id,
            by,
            at,
        } => close(desk, conversation_id, by, at),
        Command::Rate {
            conversation_id,
            rating,
            at,
        } => rate(desk, conversation_id, rating, at),
        Command::SetServiceHours { hours } => set_service_hours(desk, hours),
        Command::UpdateSettings { settings } => update_settings(desk, settings),
        Command::SaveQuickPhrase { phrase, create } => {
            save_quick_phrase(desk, limits, phrase, create)
        }
        Command::DeleteQuickPhrase {
            phrase_id,
            agent_id,
        } => delete_quick_phrase(desk, phrase_id, agent_id.as_deref()),
        Command::Tick { at } => tick(desk, at),
        Command::FileAfterSale {
            conversation_id,
            request_id,
            order_id,
            kind,
            reason,
            amount_fen,
            order_amount_fen,
            at,
        } => super::aftersale::file(
            desk,
            conversation_id,
            request_id,
            order_id,
            *kind,
            reason,
            *amount_fen,
            *order_amount_fen,
            *at,
        ),
        Command::DecideAfterSale {
            conversation_id,
            request_id,
            agent_id,
            approve,
            reason,
            at,
        } => super::aftersale::decide(
            desk,
            conversation_id,
            request_id,
            agent_id,
            *approve,
            reason,
            *at,
        ),
        Command::SendOrderCard {
            conversation_id,
            agent_id,
            card,
            at,
        } => super::aftersale::send_order_card(desk, conversation_id, agent_id, card, *at),
        Command::TagConversation {
            conversation_id,
            tag,
            add,
            by,
            at,
        } => super::notes::tag(desk, conversation_id, tag, *add, by, *at),
        Command::AddNote {
            conversation_id,
            note_id,
            author,
            text,
            at,
        } => super::notes::note(desk, conversation_id, note_id, author, text, *at),
        Command::MarkAddressChanged {
            conversation_id,
            agent_id,
            order_id,
            at,
        } => super::aftersale::mark_address_changed(desk, conversation_id, agent_id, order_id, *at),
        Command::MarkRead {
            conversation_id,
            reader,
            up_to_position,
            at,
        } => super::buyer::mark_read(desk, conversation_id, reader, *up_to_position, *at),
        Command::LeaveMessage {
            conversation_id,
            message_id,
            text,
            at,
        } => super::leave::leave(desk, limits, conversation_id, message_id, text, *at),
    }
}

/// R-CHAT-1..3: a customer-service account, within the shop's limit, bound to one phone.
// One parameter per field of the command, as the other deciders take them.
#[allow(clippy::too_many_arguments)]
fn add_agent(
    desk: &ChatDesk,
    limits: &Limits,
    agent_id: &str,
    name: &str,
    phone: &str,
    role: &ServiceRole,
    permissions: &Permissions,
    capacity: &Option<u32>,
) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision::new(desk);
    check_agent(agent_id, name, Some(phone), *capacity)?;
    if let Some(a) = desk.agents.get(agent_id) {
        let same = (
            a.name.as_str(),
            a.phone.as_str(),
            a.role,
            a.permissions,
            a.capacity,
        ) == (name, phone, *role, *permissions, *capacity);
        return if same {
            Ok(vec![])
        } else {
            Err(DomainError::AlreadyExists {
                kind: "agent",
                id: agent_id.to_owned(),
            })
        };
    }
    // R-CHAT-1
    if desk.agents.len() >= limits.max_agents {
        return Err(DomainError::LimitReached(format!(
            "a shop has at most {} customer-service accounts",
            limits.max_agents
        )));
    }
    // R-CHAT-2: one account per phone number.
    if desk.agents.values().any(|a| a.phone == phone) {
        return Err(DomainError::AlreadyExists {
            kind: "phone",
            id: phone.to_owned(),
        });
    }
    d.push(Event::AgentAdded {
        agent_id: agent_id.to_owned(),
        name: name.to_owned(),
        phone: phone.to_owned(),
        role: *role,
        permissions: *permissions,
        capacity: *capacity,
    });
    Ok(d.events)
}

/// R-CHAT-2, R-CHAT-3: an agent's name, role, permissions and capacity.
fn update_agent(
    desk: &ChatDesk,
    agent_id: &str,
    name: &str,
    role: &ServiceRole,
    permissions: &Permissions,
    capacity: &Option<u32>,
) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision::new(desk);
    check_agent(agent_id, name, None, *capacity)?;
    let a = agent(desk, agent_id)?;
    if (a.name.as_str(), a.role, a.permissions, a.capacity)
        != (name, *role, *permissions, *capacity)
    {
        d.push(Event::AgentUpdated {
            agent_id: agent_id.to_owned(),
            name: name.to_owned(),
            role: *role,
            permissions: *permissions,
            capacity: *capacity,
        });
    }
    Ok(d.events)
}

/// R-CHAT-2: the platform's real-name check; only verified agents take conversations.
fn verify_agent_real_name(desk: &ChatDesk, agent_id: &str) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision::new(desk);
    if !agent(desk, agent_id)?.verified {
        d.push(Event::AgentRealNameVerified {
            agent_id: agent_id.to_owned(),
        });
    }
    Ok(d.events)
}

/// R-CHAT-2: an agent removed; their conversations go back to routing.
fn remove_agent(desk: &ChatDesk, agent_id: &str, at: &Instant) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision::new(desk);
    agent(desk, agent_id)?;
    d.loads.set_status(agent_id, AgentStatus::Offline);
    d.hand_back_conversations_of(agent_id, *at);
    d.push(Event::AgentRemoved {
        agent_id: agent_id.to_owned(),
        at: *at,
    });
    Ok(d.events)
}

/// R-CHAT-4: online, busy or offline; going online drains the queue.
fn set_agent_status(
    desk: &ChatDesk,
    agent_id: &str,
    status: &AgentStatus,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision::new(desk);
    let a = agent(desk, agent_id)?;
    if a.status == *status {
        return Ok(vec![]);
    }
    // R-CHAT-2
    if *status != AgentStatus::Offline && !a.verified {
        return Err(DomainError::precondition(
            "REAL_NAME_NOT_VERIFIED",
            agent_id,
            format!("agent {agent_id} must finish real-name verification before going online"),
        ));
    }
    d.push(Event::AgentStatusChanged {
        agent_id: agent_id.to_owned(),
        status: *status,
        at: *at,
    });
    d.loads.set_status(agent_id, *status);
    match status {
        AgentStatus::Online => d.drain_queue(*at),
        AgentStatus::Offline => d.hand_back_conversations_of(agent_id, *at),
        // Busy: keeps what it has, gets nothing new (R-CHAT-4).
        AgentStatus::Busy => {}
    }
    Ok(d.events)
}

/// R-CHAT-6, R-CHAT-9: a buyer opens a chat and is greeted (with the FAQ cards).
// One parameter per field of the command, as the other deciders take them.
#[allow(clippy::too_many_arguments)]
fn open_new_conversation(
    desk: &ChatDesk,
    conversation_id: &str,
    buyer_id: &str,
    buyer_name: &str,
    order_id: &Option<String>,
    topic: &Option<Topic>,
    greeting: &BuyerNotice,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision::new(desk);
    let mut errors = Vec::new();
    check_id("conversation_id", conversation_id, 128, &mut errors);
    check_id("buyer_id", buyer_id, 128, &mut errors);
    if buyer_name.chars().count() > 50 {
        errors.push(("buyer_name".into(), "at most 50 characters".into()));
    }
    if order_id.as_ref().is_some_and(|o| o.len() > 64) {
        errors.push(("order_id".into(), "at most 64 bytes".into()));
    }
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors));
    }
    if let Some(c) = desk.conversation(conversation_id) {
        return if c.buyer_id == buyer_id {
            Ok(vec![])
        } else {
            Err(DomainError::AlreadyExists {
                kind: "conversation",
                id: conversation_id.to_owned(),
            })
        };
    }
    let topic = topic.unwrap_or(if order_id.is_some() {
        Topic::AfterSale
    } else {
        Topic::PreSale
    });
    d.push(Event::ConversationOpened {
        conversation_id: conversation_id.to_owned(),
        buyer_id: buyer_id.to_owned(),
        buyer_name: buyer_name.to_owned(),
        order_id: order_id.to_owned(),
        topic,
        at: *at,
    });
    d.notify(conversation_id, greeting.clone(), *at);
    Ok(d.events)
}

/// R-CHAT-6..8: a buyer's message, answered by the robot or handed to a human.
// One parameter per field of the command, as the other deciders take them.
#[allow(clippy::too_many_arguments)]
fn receive_buyer_message(
    desk: &ChatDesk,
    limits: &Limits,
    conversation_id: &str,
    message_id: &str,
    text: &str,
    attachment: Option<&super::Attachment>,
    robot: &RobotVerdict,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision::new(desk);
    check_message(message_id, text, attachment, limits)?;
    let c = open_conversation(desk, conversation_id)?;
    if known_message(c, message_id, "", text, attachment)? {
        return Ok(vec![]);
    }
    d.push(Event::BuyerMessageReceived {
        conversation_id: conversation_id.to_owned(),
        message_id: message_id.to_owned(),
        text: text.to_owned(),
        attachment: attachment.cloned(),
        assignee: c.assignee.clone(),
        robot: robot.clone(),
        waits_for_human: false,
        at: *at,
    });
    // Issue 18: what the buyer asks may move the conversation's topic;
    // routing below, and later from the queue, uses the new one.
    let moved = super::topic::from_message(text, robot)
        .filter(|(topic, _)| *topic != c.topic)
        .map(|(topic, reason)| {
            d.push(Event::TopicChanged {
                conversation_id: conversation_id.to_owned(),
                topic,
                reason: reason.clone(),
                at: *at,
            });
            let mut moved = c.clone();
            moved.topic = topic;
            moved.topic_reason = reason;
            moved
        });
    if c.assignee.is_none() {
        d.robot_then_human(moved.as_ref().unwrap_or(c), text, robot, *at);
    }
    // R-CHAT-12: the message waits for a human when one has, or is asked
    // to take, the conversation; a message the robot settled alone does not.
    let waits = c.assignee.is_some()
        || c.waiting_since.is_some()
        || c.left_message_at.is_some()
        || d.events
            .iter()
            .any(|e| matches!(e, Event::HumanRequested { .. }));
    if let Some(Event::BuyerMessageReceived {
        waits_for_human, ..
    }) = d.events.first_mut()
    {
        *waits_for_human = waits;
    }
    Ok(d.events)
}

/// R-FAQ-5 through chat: a tapped card's answer, sent by the robot.
fn tap_card(
    desk: &ChatDesk,
    conversation_id: &str,
    entry_id: &str,
    answer: &str,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision::new(desk);
    let c = open_conversation(desk, conversation_id)?;
    d.push(Event::RobotReplied {
        conversation_id: conversation_id.to_owned(),
        entry_id: entry_id.to_owned(),
        text: answer.to_owned(),
        assignee: c.assignee.clone(),
        at: *at,
    });
    Ok(d.events)
}

/// R-CHAT-3, R-CHAT-7: the assigned agent replies (with the reply permission).
#[allow(clippy::too_many_arguments)]
fn send_agent_reply(
    desk: &ChatDesk,
    limits: &Limits,
    conversation_id: &str,
    agent_id: &str,
    message_id: &str,
    text: &str,
    attachment: Option<&super::Attachment>,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision::new(desk);
    // First: an account no longer on the desk learns nothing more, not even
    // that a retry was already taken. The gRPC layer answers UNAUTHENTICATED.
    let a = agent(desk, agent_id)?;
    check_message(message_id, text, attachment, limits)?;
    let c = open_conversation(desk, conversation_id)?;
    if known_message(c, message_id, agent_id, text, attachment)? {
        return Ok(vec![]);
    }
    if !a.permissions.reply {
        return Err(DomainError::precondition(
            "NO_REPLY_PERMISSION",
            agent_id,
            format!("agent {agent_id} has no permission to reply to messages"),
        ));
    }
    if c.assignee.as_deref() != Some(agent_id) {
        return Err(DomainError::precondition(
            "NOT_ASSIGNED",
            conversation_id,
            format!("conversation {conversation_id} is not assigned to agent {agent_id}"),
        ));
    }
    d.push(Event::AgentReplied {
        conversation_id: conversation_id.to_owned(),
        agent_id: agent_id.to_owned(),
        message_id: message_id.to_owned(),
        text: text.to_owned(),
        attachment: attachment.cloned(),
        answered: super::response::answered_by_reply(c, &desk.hours, agent_id, *at),
        at: *at,
    });
    Ok(d.events)
}

/// R-CHAT-4, R-CHAT-8: a conversation handed to another agent.
fn transfer(
    desk: &ChatDesk,
    conversation_id: &str,
    to_agent: &str,
    by: &str,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision::new(desk);
    let c = open_conversation(desk, conversation_id)?;
    if c.assignee.as_deref() == Some(to_agent) {
        return Ok(vec![]);
    }
    let to = agent(desk, to_agent)?;
    if to.status != AgentStatus::Online || !to.verified || !to.permissions.reply {
        return Err(DomainError::precondition(
            "AGENT_NOT_AVAILABLE",
            to_agent,
            format!("agent {to_agent} is not online with the permission to reply"),
        ));
    }
    let load = super::CandidateLoad {
        agent_id: to.agent_id.clone(),
        open: to.open.len() as u32,
        capacity: to.capacity(&desk.settings),
    };
    if load.open >= load.capacity {
        return Err(DomainError::precondition(
            "AGENT_AT_CAPACITY",
            to_agent,
            format!(
                "agent {to_agent} already has {} open conversations",
                load.open
            ),
        ));
    }
    d.assign(
        c,
        to_agent,
        AssignmentRule::Transfer { by: by.to_owned() },
        vec![load],
        *at,
    );
    d.drain_queue(*at);
    Ok(d.events)
}

/// A conversation closed; the buyer is asked to rate it (R-CHAT-11's CSAT).
fn close(
    desk: &ChatDesk,
    conversation_id: &str,
    by: &str,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision::new(desk);
    let c = conversation(desk, conversation_id)?;
    if c.status == ConversationStatus::Closed {
        return Ok(vec![]);
    }
    d.push(Event::ConversationClosed {
        conversation_id: conversation_id.to_owned(),
        by: by.to_owned(),
        assignee: c.assignee.clone(),
        at: *at,
    });
    if let Some(a) = &c.assignee {
        d.loads.release(a);
    }
    d.queue.retain(|q| q != conversation_id);
    d.drain_queue(*at);
    Ok(d.events)
}

/// R-CHAT-11: the buyer's rating (CSAT).
fn rate(
    desk: &ChatDesk,
    conversation_id: &str,
    rating: &u8,
    at: &Instant,
) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision::new(desk);
    if !(1..=5).contains(rating) {
        return Err(DomainError::invalid("rating", "1 to 5"));
    }
    let c = conversation(desk, conversation_id)?;
    match c.rating {
        Some(r) if r == *rating => {}
        Some(_) => {
            return Err(DomainError::precondition(
                "ALREADY_RATED",
                conversation_id,
                format!("conversation {conversation_id} was already rated"),
            ))
        }
        None => d.push(Event::ConversationRated {
            conversation_id: conversation_id.to_owned(),
            rating: *rating,
            assignee: c.assignee.clone(),
            at: *at,
        }),
    }
    Ok(d.events)
}

/// R-CHAT-9: when humans answer.
fn set_service_hours(desk: &ChatDesk, hours: &ServiceHours) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision::new(desk);
    hours.validate()?;
    if &desk.hours != hours {
        d.push(Event::ServiceHoursSet {
            hours: hours.clone(),
        });
    }
    Ok(d.events)
}

/// R-CHAT-4, R-CHAT-11: routing and the response target.
fn update_settings(desk: &ChatDesk, settings: &DeskSettings) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision::new(desk);
    check_settings(settings)?;
    if &desk.settings != settings {
        d.push(Event::DeskSettingsChanged {
            settings: *settings,
        });
    }
    Ok(d.events)
}

/// R-CHAT-10: a quick phrase, with known placeholders only.
/// The phrases `agent_id` (or, for None, the shop) keeps.
fn phrase_book<'a>(
    desk: &'a ChatDesk,
    agent_id: Option<&str>,
) -> Result<&'a std::collections::BTreeMap<String, QuickPhrase>, DomainError> {
    match agent_id {
        None => Ok(&desk.phrases),
        Some(id) => Ok(&agent(desk, id)?.phrases),
    }
}

/// R-CHAT-10: a quick phrase saved, the shop's or (issue 18) an agent's
/// own, with the same placeholders and the same limit per book.
fn save_quick_phrase(
    desk: &ChatDesk,
    limits: &Limits,
    phrase: &QuickPhrase,
    create: &bool,
) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision::new(desk);
    phrases::validate(phrase, limits.max_phrase_chars)?;
    let book = phrase_book(desk, phrase.agent_id.as_deref())?;
    let whose = if phrase.agent_id.is_some() {
        "an agent"
    } else {
        "a shop"
    };
    match (book.get(&phrase.phrase_id), create) {
        (Some(p), _) if p == phrase => {}
        (Some(_), true) => {
            return Err(DomainError::AlreadyExists {
                kind: "quick phrase",
                id: phrase.phrase_id.clone(),
            })
        }
        (None, false) => {
            return Err(DomainError::NotFound {
                kind: "quick phrase",
                id: phrase.phrase_id.clone(),
            })
        }
        (None, true) if book.len() >= limits.max_quick_phrases => {
            return Err(DomainError::LimitReached(format!(
                "{whose} has at most {} quick phrases",
                limits.max_quick_phrases
            )))
        }
        _ => d.push(Event::QuickPhraseSaved {
            phrase: phrase.clone(),
        }),
    }
    Ok(d.events)
}

/// R-CHAT-10: a quick phrase removed.
fn delete_quick_phrase(
    desk: &ChatDesk,
    phrase_id: &str,
    agent_id: Option<&str>,
) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision::new(desk);
    if !phrase_book(desk, agent_id)?.contains_key(phrase_id) {
        return Err(DomainError::NotFound {
            kind: "quick phrase",
            id: phrase_id.to_owned(),
        });
    }
    d.push(Event::QuickPhraseDeleted {
        phrase_id: phrase_id.to_owned(),
        agent_id: agent_id.map(str::to_owned),
    });
    Ok(d.events)
}

/// R-CHAT-4, R-CHAT-9: time passed: silent conversations are reassigned, the queue drains.
fn tick(desk: &ChatDesk, at: &Instant) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision::new(desk);
    d.reassign_unanswered(*at);
    d.drain_queue(*at);
    Ok(d.events)
}

/// At most this many instants are tried by [`ChatDesk::next_tick`]; past
/// them the next one is returned untried, which costs at most a tick that
/// decides nothing.
const TICK_PROBES: usize = 64;

impl ChatDesk {
    /// R-CHAT-4, R-CHAT-9, R-CHAT-15: the first instant at or after `from`
    /// at which time alone lets the desk act, that is when a tick would
    /// decide something, or `None` when only a command can.
    ///
    /// Between commands a tick's outcome changes only when an unanswered
    /// conversation's silence reaches the limit or the service hours open,
    /// so those instants (and `from`) are the only ones worth trying, and
    /// each is tried by deciding a tick there. A queue that nobody can take
    /// at opening is therefore not due again until a command changes the
    /// desk, and the scheduler that keeps this instant (chat's schedule
    /// read model) looks at no shop that has nothing to do.
    pub fn next_tick(&self, from: Instant) -> Option<Instant> {
        if !self.has_timers() {
            return None;
        }
        let limit = chrono::Duration::seconds(self.settings.reassign_after_secs as i64);
        let mut candidates: Vec<Instant> = self
            .conversations
            .values()
            .filter(|c| c.status == ConversationStatus::Open)
            .filter_map(|c| Some(c.unanswered_since?.max(c.assigned_at?) + limit))
            .map(|due| due.max(from))
            .collect();
        candidates.push(from);
        if !self.queue.is_empty() || !self.left_messages.is_empty() {
            candidates.extend(self.hours.next_opening(from));
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates
            .iter()
            .enumerate()
            .find(|(tried, at)| {
                *tried >= TICK_PROBES || tick(self, at).is_ok_and(|events| !events.is_empty())
            })
            .map(|(_, at)| *at)
    }
}

/// One decision in progress: the events so far, and the loads and queue as
/// they will be once those events are applied.
struct Decision<'a> {
    desk: &'a ChatDesk,
    loads: Loads,
    queue: VecDeque<String>,
    events: Vec<Event>,
}

impl<'a> Decision<'a> {
    fn new(desk: &'a ChatDesk) -> Self {
        Self {
            desk,
            loads: Loads::default(),
            queue: desk.queue.clone(),
            events: Vec::new(),
        }
    }

    fn push(&mut self, e: Event) {
        self.events.push(e);
    }

    fn notify(&mut self, conversation_id: &str, notice: BuyerNotice, at: Instant) {
        let text = notice_text(&notice, self.desk);
        self.push(Event::BuyerNotified {
            conversation_id: conversation_id.to_owned(),
            notice,
            text,
            at,
        });
    }

    /// R-CHAT-6 and R-CHAT-8 for a message nobody human has yet.
    fn robot_then_human(
        &mut self,
        c: &Conversation,
        text: &str,
        robot: &RobotVerdict,
        at: Instant,
    ) {
        let asked = asks_for_human(text);
        let reason = match robot {
            _ if asked => Some(HandoverReason::BuyerAsked),
            RobotVerdict::Answered {
                entry_id, answer, ..
            } => {
                self.push(Event::RobotReplied {
                    conversation_id: c.conversation_id.clone(),
                    entry_id: entry_id.to_owned(),
                    text: answer.to_owned(),
                    assignee: None,
                    at,
                });
                None
            }
            RobotVerdict::NoAnswer { .. } | RobotVerdict::NotAsked => {
                Some(HandoverReason::RobotNoAnswer)
            }
            RobotVerdict::Unavailable => Some(HandoverReason::RobotUnavailable),
        };
        let Some(reason) = reason else { return };
        if c.left_message_at.is_some() {
            // R-CHAT-15: already waiting with the messages left for later.
            self.notify(&c.conversation_id, BuyerNotice::MessageTaken, at);
            return;
        }
        if let Some(place) = self.queue.iter().position(|q| q == &c.conversation_id) {
            // Already waiting: tell the buyer where they stand (or when humans are back).
            if self.desk.hours.is_open(at) {
                self.notify(
                    &c.conversation_id,
                    BuyerNotice::QueuePlace {
                        place: place as u32 + 1,
                    },
                    at,
                );
            } else {
                let back_at = self.desk.hours.next_opening(at);
                self.notify(
                    &c.conversation_id,
                    BuyerNotice::OutsideHours { back_at },
                    at,
                );
            }
            return;
        }
        self.push(Event::HumanRequested {
            conversation_id: c.conversation_id.clone(),
            reason,
            at,
        });
        // R-CHAT-9: outside service hours only the robot answers.
        if !self.desk.hours.is_open(at) {
            let back_at = self.desk.hours.next_opening(at);
            self.notify(
                &c.conversation_id,
                BuyerNotice::OutsideHours { back_at },
                at,
            );
            self.enqueue(c, at, false);
            return;
        }
        if !self.route(c, AssignmentRule::FewestOpen, None, at) {
            self.enqueue(c, at, true);
        }
    }

    fn enqueue(&mut self, c: &Conversation, at: Instant, tell_place: bool) {
        if self.queue.len() >= self.desk.settings.queue_capacity as usize {
            self.notify(&c.conversation_id, BuyerNotice::QueueFull, at);
            return;
        }
        self.queue.push_back(c.conversation_id.clone());
        let place = self.queue.len() as u32;
        self.push(Event::ConversationQueued {
            conversation_id: c.conversation_id.clone(),
            place,
            at,
        });
        if tell_place {
            self.notify(&c.conversation_id, BuyerNotice::QueuePlace { place }, at);
        }
    }

    /// R-CHAT-4: gives `c` to the agent routing picks; false when nobody fits.
    fn route(
        &mut self,
        c: &Conversation,
        rule: AssignmentRule,
        exclude: Option<&str>,
        at: Instant,
    ) -> bool {
        let candidates = routing::candidates(self.desk, &self.loads, c.topic, exclude);
        match routing::choose(self.desk, &self.loads, &candidates) {
            Some(agent) => {
                self.assign(c, &agent, rule, candidates, at);
                true
            }
            None => false,
        }
    }

    fn assign(
        &mut self,
        c: &Conversation,
        agent: &str,
        rule: AssignmentRule,
        candidates: Vec<super::CandidateLoad>,
        at: Instant,
    ) {
        let previous = self.current_assignee(c);
        self.loads.assign(agent, previous.as_deref());
        self.queue.retain(|q| q != &c.conversation_id);
        self.push(Event::ConversationAssigned {
            conversation_id: c.conversation_id.clone(),
            agent_id: agent.to_owned(),
            previous,
            rule,
            topic_reason: c.topic_reason.clone(),
            candidates,
            at,
        });
        let agent_name = self
            .desk
            .agents
            .get(agent)
            .map_or_else(String::new, |a| a.name.clone());
        self.notify(
            &c.conversation_id,
            BuyerNotice::AgentJoined { agent_name },
            at,
        );
    }

    /// The assignee once this decision's events are applied.
    fn current_assignee(&self, c: &Conversation) -> Option<String> {
        self.events
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::ConversationAssigned {
                    conversation_id,
                    agent_id,
                    ..
                } if conversation_id == &c.conversation_id => Some(Some(agent_id.to_owned())),
                Event::ConversationReleased {
                    conversation_id, ..
                } if conversation_id == &c.conversation_id => Some(None),
                _ => None,
            })
            .unwrap_or_else(|| c.assignee.clone())
    }

    /// Waiting conversations go, first come first served, to agents who fit
    /// and have room; one that nobody fits keeps its place.
    fn drain_queue(&mut self, at: Instant) {
        if (self.queue.is_empty() && self.desk.left_messages.is_empty())
            || !self.desk.hours.is_open(at)
        {
            return;
        }
        for id in self.queue.clone() {
            let Some(c) = self.desk.conversation(&id) else {
                continue;
            };
            let waited_secs = (at - c.waiting_since.unwrap_or(at)).num_seconds();
            self.route(c, AssignmentRule::FromQueue { waited_secs }, None, at);
        }
        // R-CHAT-15: then the messages left for later, oldest first.
        for id in self.desk.left_messages.iter() {
            let Some(c) = self.desk.conversation(id) else {
                continue;
            };
            let since = c.left_message_at.or(c.waiting_since).unwrap_or(at);
            let waited_secs = (at - since).num_seconds();
            self.route(c, AssignmentRule::FromQueue { waited_secs }, None, at);
        }
    }

    /// The agent went offline or away: each open conversation goes to another
    /// agent who fits, or back to the queue.
    fn hand_back_conversations_of(&mut self, agent_id: &str, at: Instant) {
        let Some(a) = self.desk.agents.get(agent_id) else {
            return;
        };
        let mut open: Vec<&String> = a.open.iter().collect();
        open.sort();
        for id in open {
            let Some(c) = self.desk.conversation(id) else {
                continue;
            };
            if !self.route(c, AssignmentRule::AgentUnavailable, Some(agent_id), at) {
                self.loads.release(agent_id);
                self.push(Event::ConversationReleased {
                    conversation_id: id.clone(),
                    agent_id: agent_id.to_owned(),
                    at,
                });
                self.enqueue(c, at, true);
            }
        }
    }

    /// An assigned agent who leaves a buyer waiting past the limit loses the
    /// conversation to a colleague who fits and has room (none: it stays).
    fn reassign_unanswered(&mut self, at: Instant) {
        let limit = chrono::Duration::seconds(self.desk.settings.reassign_after_secs as i64);
        let mut due: Vec<(&Conversation, Instant)> = self
            .desk
            .conversations
            .values()
            .filter(|c| c.status == ConversationStatus::Open)
            .filter_map(|c| {
                let since = c.unanswered_since?.max(c.assigned_at?);
                (at - since >= limit).then_some((c, since))
            })
            .collect();
        due.sort_by(|a, b| (a.1, &a.0.conversation_id).cmp(&(b.1, &b.0.conversation_id)));
        for (c, since) in due {
            let current = c.assignee.clone();
            let waited_secs = (at - since).num_seconds();
            self.route(
                c,
                AssignmentRule::UnansweredTimeout { waited_secs },
                current.as_deref(),
                at,
            );
        }
    }
}

impl Loads {
    pub(crate) fn set_status(&mut self, agent: &str, status: AgentStatus) {
        self.status.insert(agent.to_owned(), status);
    }
}

/// What the buyer reads.
pub(super) fn notice_text(notice: &BuyerNotice, desk: &ChatDesk) -> String {
    match notice {
        BuyerNotice::Greeting { text, .. } => text.to_owned(),
        BuyerNotice::QueuePlace { place: 1 } => "当前咨询人数较多，您是下一位，请稍候".into(),
        BuyerNotice::QueuePlace { place } => {
            format!("当前咨询人数较多，您前面还有{}位，请稍候", place - 1)
        }
        BuyerNotice::QueueFull => {
            "当前咨询人数较多，暂时无法排队，您可以留言，客服将尽快回复".into()
        }
        BuyerNotice::OutsideHours { back_at: Some(t) } => format!(
            "当前为非人工服务时间，人工客服将于{}上线，机器人将继续为您服务，您也可以留言",
            desk.hours.local_label(*t)
        ),
        BuyerNotice::OutsideHours { back_at: None } => {
            "当前为非人工服务时间，机器人将继续为您服务，您也可以留言".into()
        }
        BuyerNotice::AgentJoined { agent_name } => format!("客服{agent_name}为您服务"),
        BuyerNotice::MessageTaken => "您的留言已收到，客服上线后将第一时间回复您".into(),
    }
}

pub(super) fn agent<'a>(desk: &'a ChatDesk, id: &str) -> Result<&'a super::Agent, DomainError> {
    desk.agents.get(id).ok_or_else(|| DomainError::NotFound {
        kind: "agent",
        id: id.to_owned(),
    })
}

pub(super) fn conversation<'a>(
    desk: &'a ChatDesk,
    id: &str,
) -> Result<&'a Conversation, DomainError> {
    desk.conversation(id).ok_or_else(|| DomainError::NotFound {
        kind: "conversation",
        id: id.to_owned(),
    })
}

/// Whether `message_id` was used in the conversation already: `Ok(true)` for
/// a retry of the same message (no new event), ALREADY_EXISTS for the id
/// reused with other content, as every other RPC answers an id reused.
pub(super) fn known_message(
    c: &Conversation,
    message_id: &str,
    sender: &str,
    text: &str,
    attachment: Option<&super::Attachment>,
) -> Result<bool, DomainError> {
    match c.message_ids.get(message_id) {
        None => Ok(false),
        Some(f) if *f == super::state::MessageFingerprint::of(sender, text, attachment) => Ok(true),
        Some(_) => Err(DomainError::AlreadyExists {
            kind: "message",
            id: message_id.to_owned(),
        }),
    }
}

pub(super) fn open_conversation<'a>(
    desk: &'a ChatDesk,
    id: &str,
) -> Result<&'a Conversation, DomainError> {
    let c = conversation(desk, id)?;
    if c.status == ConversationStatus::Closed {
        return Err(DomainError::precondition(
            "CONVERSATION_CLOSED",
            id,
            format!("conversation {id} is closed; open a new one"),
        ));
    }
    Ok(c)
}

fn check_id(field: &str, id: &str, max: usize, errors: &mut Vec<(String, String)>) {
    if id.is_empty() || id.len() > max || id.chars().any(char::is_control) {
        errors.push((
            field.into(),
            format!("1 to {max} bytes, no control characters"),
        ));
    }
}

/// A message's id, text and attachment: the text may be empty only when an
/// attachment carries the message (R-CHAT-13).
pub(super) fn check_message(
    message_id: &str,
    text: &str,
    attachment: Option<&super::Attachment>,
    limits: &Limits,
) -> Result<(), DomainError> {
    let mut errors = Vec::new();
    check_id("message_id", message_id, 128, &mut errors);
    match attachment {
        Some(a) => {
            super::buyer::check_attachment("attachment", a, &mut errors);
            if text.chars().count() > limits.max_message_chars {
                errors.push((
                    "text".into(),
                    format!("at most {} characters", limits.max_message_chars),
                ));
            }
        }
        None => check_text("text", text, limits.max_message_chars, &mut errors),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Invalid(errors))
    }
}

fn check_text(field: &str, text: &str, max: usize, errors: &mut Vec<(String, String)>) {
    if text.trim().is_empty() || text.chars().count() > max {
        errors.push((
            field.into(),
            format!("1 to {max} characters, not only spaces"),
        ));
    }
}

fn check_agent(
    agent_id: &str,
    name: &str,
    phone: Option<&str>,
    capacity: Option<u32>,
) -> Result<(), DomainError> {
    let mut errors = Vec::new();
    check_id("agent_id", agent_id, 64, &mut errors);
    let n = name.chars().count();
    if name.trim().is_empty() || n > 50 {
        errors.push(("name".into(), "1 to 50 characters".into()));
    }
    if let Some(p) = phone {
        // R-CHAT-2: bound to a phone number.
        let digits = p.strip_prefix('+').unwrap_or(p);
        if !(6..=20).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
            errors.push((
                "phone".into(),
                "6 to 20 digits, optionally after '+'".into(),
            ));
        }
    }
    if capacity.is_some_and(|c| !(1..=200).contains(&c)) {
        errors.push(("capacity".into(), "1 to 200 open conversations".into()));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Invalid(errors))
    }
}

fn check_settings(s: &DeskSettings) -> Result<(), DomainError> {
    let mut errors = Vec::new();
    if !(1..=3600).contains(&s.response_target_secs) {
        errors.push((
            "settings.response_target_secs".into(),
            "1 to 3600 seconds".into(),
        ));
    }
    if !(10..=86_400).contains(&s.reassign_after_secs) {
        errors.push((
            "settings.reassign_after_secs".into(),
            "10 to 86400 seconds".into(),
        ));
    }
    if s.queue_capacity > 100_000 {
        errors.push(("settings.queue_capacity".into(), "at most 100000".into()));
    }
    if !(1..=200).contains(&s.default_agent_capacity) {
        errors.push(("settings.default_agent_capacity".into(), "1 to 200".into()));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Invalid(errors))
    }
}
