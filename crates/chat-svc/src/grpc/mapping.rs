//! Between the wire's messages and the domain's types.

use super::*;

pub(super) fn role_from_pb(v: i32) -> Result<ServiceRole, Status> {
    match pb::ServiceRole::try_from(v) {
        Ok(pb::ServiceRole::PreSale) => Ok(ServiceRole::PreSale),
        Ok(pb::ServiceRole::AfterSale) => Ok(ServiceRole::AfterSale),
        Ok(pb::ServiceRole::Both) => Ok(ServiceRole::Both),
        _ => Err(errors::invalid_argument(&[(
            "role",
            "pre-sale, after-sale or both".into(),
        )])),
    }
}

pub(super) fn role_pb(r: ServiceRole) -> pb::ServiceRole {
    match r {
        ServiceRole::PreSale => pb::ServiceRole::PreSale,
        ServiceRole::AfterSale => pb::ServiceRole::AfterSale,
        ServiceRole::Both => pb::ServiceRole::Both,
    }
}

pub(super) fn status_from_pb(v: i32) -> Result<AgentStatus, Status> {
    match pb::AgentStatus::try_from(v) {
        Ok(pb::AgentStatus::Online) => Ok(AgentStatus::Online),
        Ok(pb::AgentStatus::Busy) => Ok(AgentStatus::Busy),
        Ok(pb::AgentStatus::Offline) => Ok(AgentStatus::Offline),
        _ => Err(errors::invalid_argument(&[(
            "status",
            "online, busy or offline".into(),
        )])),
    }
}

pub(super) fn status_pb(s: AgentStatus) -> pb::AgentStatus {
    match s {
        AgentStatus::Online => pb::AgentStatus::Online,
        AgentStatus::Busy => pb::AgentStatus::Busy,
        AgentStatus::Offline => pb::AgentStatus::Offline,
    }
}

pub(super) fn topic_pb(t: Topic) -> pb::Topic {
    match t {
        Topic::PreSale => pb::Topic::PreSale,
        Topic::AfterSale => pb::Topic::AfterSale,
    }
}

pub(super) fn permissions_from_pb(p: Option<pb::Permissions>) -> Permissions {
    let p = p.unwrap_or_default();
    Permissions {
        reply: p.reply,
        handle_orders: p.handle_orders,
        review_after_sale: p.review_after_sale,
    }
}

pub(super) fn agent_pb(a: &Agent) -> pb::Agent {
    pb::Agent {
        agent_id: a.agent_id.clone(),
        name: a.name.clone(),
        phone: a.phone.clone(),
        role: role_pb(a.role) as i32,
        permissions: Some(pb::Permissions {
            reply: a.permissions.reply,
            handle_orders: a.permissions.handle_orders,
            review_after_sale: a.permissions.review_after_sale,
        }),
        capacity: a.capacity.unwrap_or(0),
        real_name_verified: a.verified,
        status: status_pb(a.status) as i32,
        open_conversations: a.open.len() as u32,
    }
}

pub(super) fn conversation_pb(
    desk: &ChatDesk,
    c: &Conversation,
    now: crate::domain::Instant,
    viewer: Role,
) -> pb::Conversation {
    pb::Conversation {
        conversation_id: c.conversation_id.clone(),
        buyer_id: c.buyer_id.clone(),
        buyer_name: c.buyer_name.clone(),
        order_id: c.order_id.clone().unwrap_or_default(),
        topic: topic_pb(c.topic) as i32,
        status: match c.status {
            ConversationStatus::Open => pb::ConversationStatus::Open,
            ConversationStatus::Closed => pb::ConversationStatus::Closed,
        } as i32,
        assignee_agent_id: c.assignee.clone().unwrap_or_default(),
        queue_place: desk.queue_place(&c.conversation_id).unwrap_or(0),
        waiting_for_human: c.waiting_since.is_some(),
        // R-CHAT-7: until a human answers, and again while a later buyer
        // message waits for one (issue 18).
        unreplied: c.first_human_reply_at.is_none() || c.unanswered_since.is_some(),
        opened_at: Some(timestamp(c.opened_at)),
        first_human_reply_at: c.first_human_reply_at.map(timestamp),
        rating: c.rating.unwrap_or(0) as u32,
        // Tags are the shop's own, like notes: the buyer's gateway never reads them.
        tags: if viewer == Role::Platform {
            Vec::new()
        } else {
            c.tags.iter().cloned().collect()
        },
        leave_message_offered: crate::domain::leave::offered(desk, c, now),
        left_message_at: c.left_message_at.map(timestamp),
        buyer_read_up_to: c.buyer_read_up_to.max(0) as u64,
        agent_read_up_to: c.agent_read_up_to.max(0) as u64,
        messages_waiting: c.waiting_messages.len() as u32,
    }
}

/// A transcript line, for the events that are one.
pub(super) fn line_pb(l: &Logged) -> Option<pb::ChatMessage> {
    let mut m = pb::ChatMessage {
        position: l.position as u64,
        conversation_id: l.event.conversation_id()?.to_owned(),
        ..Default::default()
    };
    match &l.event {
        Event::BuyerMessageReceived {
            message_id,
            text,
            attachment,
            at,
            ..
        } => {
            m.sender = pb::Sender::Buyer as i32;
            m.message_id = message_id.clone();
            m.text = text.clone();
            m.sent_at = Some(timestamp(*at));
            m.kind = attachment_kind(attachment.as_ref()) as i32;
            m.attachment = attachment.as_ref().map(attachment_pb);
        }
        Event::RobotReplied {
            entry_id, text, at, ..
        } => {
            m.kind = pb::MessageKind::Text as i32;
            m.sender = pb::Sender::Robot as i32;
            m.entry_id = entry_id.clone();
            m.text = text.clone();
            m.sent_at = Some(timestamp(*at));
        }
        Event::AgentReplied {
            agent_id,
            message_id,
            text,
            attachment,
            at,
            ..
        } => {
            m.sender = pb::Sender::Agent as i32;
            m.agent_id = agent_id.clone();
            m.message_id = message_id.clone();
            m.text = text.clone();
            m.sent_at = Some(timestamp(*at));
            m.kind = attachment_kind(attachment.as_ref()) as i32;
            m.attachment = attachment.as_ref().map(attachment_pb);
        }
        Event::BuyerNotified {
            notice, text, at, ..
        } => {
            m.kind = pb::MessageKind::Notice as i32;
            m.sender = pb::Sender::System as i32;
            m.text = text.clone();
            m.sent_at = Some(timestamp(*at));
            if let BuyerNotice::Greeting { cards, .. } = notice {
                m.cards = cards
                    .iter()
                    .map(|c| pb::Card {
                        entry_id: c.entry_id.clone(),
                        question: c.question.clone(),
                    })
                    .collect();
            }
        }
        Event::AfterSaleFiled {
            request_id,
            order_id,
            kind,
            reason,
            amount_fen,
            at,
            ..
        } => {
            m.kind = pb::MessageKind::AfterSale as i32;
            m.sender = pb::Sender::Buyer as i32;
            m.text = reason.clone();
            m.sent_at = Some(timestamp(*at));
            m.after_sale = Some(pb::AfterSaleRequest {
                request_id: request_id.clone(),
                order_id: order_id.clone(),
                kind: after_sale_kind_pb(*kind) as i32,
                reason: reason.clone(),
                amount_fen: *amount_fen,
                ..Default::default()
            });
        }
        Event::AfterSaleDecided {
            request_id,
            agent_id,
            approved,
            reason,
            at,
            ..
        } => {
            m.kind = pb::MessageKind::AfterSale as i32;
            m.sender = pb::Sender::Agent as i32;
            m.agent_id = agent_id.clone();
            m.text = reason.clone();
            m.sent_at = Some(timestamp(*at));
            m.after_sale = Some(pb::AfterSaleRequest {
                request_id: request_id.clone(),
                reason: reason.clone(),
                decided: true,
                approved: *approved,
                ..Default::default()
            });
        }
        Event::OrderCardSent {
            agent_id, card, at, ..
        } => {
            m.kind = pb::MessageKind::OrderCard as i32;
            m.sender = pb::Sender::Agent as i32;
            m.agent_id = agent_id.clone();
            m.text = card.title.clone();
            m.sent_at = Some(timestamp(*at));
            m.order_card = Some(pb::OrderCard {
                order_id: card.order_id.clone(),
                title: card.title.clone(),
                price_fen: card.price_fen,
                status: card.status.clone(),
            });
        }
        Event::ShippingAddressChangeMarked {
            agent_id,
            order_id,
            at,
            ..
        } => {
            m.sender = pb::Sender::Agent as i32;
            m.agent_id = agent_id.clone();
            m.kind = pb::MessageKind::Notice as i32;
            m.text = "收货地址已修改".into();
            m.sent_at = Some(timestamp(*at));
            m.address_changed_order_id = order_id.clone();
        }
        Event::NoteAdded {
            author, text, at, ..
        } => {
            m.sender = pb::Sender::Agent as i32;
            m.agent_id = author.clone();
            m.text = text.clone();
            m.sent_at = Some(timestamp(*at));
            m.private_note = true;
            m.kind = pb::MessageKind::Text as i32;
        }
        _ => return None,
    }
    Some(m)
}

fn attachment_kind(a: Option<&Attachment>) -> pb::MessageKind {
    match a {
        None => pb::MessageKind::Text,
        Some(Attachment::Image { .. }) => pb::MessageKind::Image,
        Some(Attachment::Video { .. }) => pb::MessageKind::Video,
        Some(Attachment::Product { .. }) => pb::MessageKind::ProductCard,
    }
}

pub(super) fn attachment_pb(a: &Attachment) -> pb::Attachment {
    use pb::attachment::Content;
    let content = match a {
        Attachment::Image { url } => Content::ImageUrl(url.clone()),
        Attachment::Video { url } => Content::VideoUrl(url.clone()),
        Attachment::Product {
            product_id,
            title,
            price_fen,
        } => Content::Product(pb::ProductCard {
            product_id: product_id.clone(),
            title: title.clone(),
            price_fen: *price_fen,
        }),
    };
    pb::Attachment {
        content: Some(content),
    }
}

/// None when the request carries no attachment; an attachment with nothing
/// in it is INVALID_ARGUMENT on `attachment`.
pub(super) fn attachment_from_pb(a: Option<pb::Attachment>) -> Result<Option<Attachment>, Status> {
    use pb::attachment::Content;
    let Some(a) = a else { return Ok(None) };
    Ok(Some(match a.content {
        Some(Content::ImageUrl(url)) => Attachment::Image { url },
        Some(Content::VideoUrl(url)) => Attachment::Video { url },
        Some(Content::Product(p)) => Attachment::Product {
            product_id: p.product_id,
            title: p.title,
            price_fen: p.price_fen,
        },
        None => {
            return Err(errors::invalid_argument(&[(
                "attachment",
                "an image_url, a video_url or a product".into(),
            )]))
        }
    }))
}

fn read_receipt_pb(reader: &Reader, up_to: i64) -> pb::ReadReceipt {
    let (sender, agent_id) = match reader {
        Reader::Buyer => (pb::Sender::Buyer, String::new()),
        Reader::Agent(a) => (pb::Sender::Agent, a.clone()),
    };
    pb::ReadReceipt {
        reader: sender as i32,
        agent_id,
        up_to_position: up_to.max(0) as u64,
    }
}

/// R-CHAT-13: an item of the buyer's stream, for the events that are one
/// ([`Event::concerns_buyer`] chose them).
pub(super) fn buyer_item_pb(l: &Logged) -> Option<pb::WatchConversationResponse> {
    use pb::watch_conversation_response::Item;
    let item = match &l.event {
        Event::HumanRequested { reason, .. } => Item::Handover(match reason {
            crate::domain::HandoverReason::BuyerAsked => pb::HandoverReason::BuyerAsked,
            crate::domain::HandoverReason::RobotNoAnswer => pb::HandoverReason::RobotNoAnswer,
            crate::domain::HandoverReason::RobotUnavailable => pb::HandoverReason::RobotUnavailable,
        } as i32),
        // Closing asks for the rating (once per conversation); the same on
        // every replay, so a later rating follows as its own item.
        Event::ConversationClosed { .. } => Item::Closed(pb::ConversationEnded {
            rating_requested: true,
        }),
        Event::ConversationRated { rating, .. } => Item::Rating(*rating as u32),
        Event::MessagesRead {
            reader,
            up_to_position,
            ..
        } => Item::Read(read_receipt_pb(reader, *up_to_position)),
        _ => Item::Message(line_pb(l)?),
    };
    Some(pb::WatchConversationResponse {
        position: l.position as u64,
        conversation_id: l.event.conversation_id().unwrap_or_default().to_owned(),
        occurred_at: Some(timestamp(l.at)),
        item: Some(item),
    })
}

pub(super) fn after_sale_kind_pb(k: crate::domain::AfterSaleKind) -> pb::AfterSaleKind {
    use crate::domain::AfterSaleKind as K;
    match k {
        K::RefundOnly => pb::AfterSaleKind::RefundOnly,
        K::ReturnAndRefund => pb::AfterSaleKind::ReturnAndRefund,
        K::Exchange => pb::AfterSaleKind::Exchange,
    }
}

pub(super) fn assignment_pb(l: &Logged) -> Option<pb::Assignment> {
    let Event::ConversationAssigned {
        conversation_id,
        agent_id,
        previous,
        rule,
        candidates,
        topic_reason,
        at,
    } = &l.event
    else {
        return None;
    };
    let fitting = candidates.len();
    let (rule_pb, explanation, waited, by) = match rule {
        AssignmentRule::FewestOpen => (
            pb::AssignmentRule::FewestOpen,
            format!("R-CHAT-4: online, role fits, fewest open conversations ({fitting} agents fit)"),
            0,
            String::new(),
        ),
        AssignmentRule::FromQueue { waited_secs } => (
            pb::AssignmentRule::FromQueue,
            format!("first in the queue after {waited_secs} s; fewest open conversations among {fitting} who fit"),
            *waited_secs,
            String::new(),
        ),
        AssignmentRule::UnansweredTimeout { waited_secs } => (
            pb::AssignmentRule::UnansweredTimeout,
            format!("the previous agent left the buyer waiting {waited_secs} s; fewest open among {fitting} others who fit"),
            *waited_secs,
            String::new(),
        ),
        AssignmentRule::AgentUnavailable => (
            pb::AssignmentRule::AgentUnavailable,
            format!("the previous agent went offline; fewest open among {fitting} others who fit"),
            0,
            String::new(),
        ),
        AssignmentRule::Transfer { by } => (
            pb::AssignmentRule::Transfer,
            format!("transferred by {by}"),
            0,
            by.clone(),
        ),
    };
    Some(pb::Assignment {
        conversation_id: conversation_id.clone(),
        agent_id: agent_id.clone(),
        previous_agent_id: previous.clone().unwrap_or_default(),
        rule: rule_pb as i32,
        explanation,
        candidates: candidates
            .iter()
            .map(|c| pb::CandidateLoad {
                agent_id: c.agent_id.clone(),
                open_conversations: c.open,
                capacity: c.capacity,
            })
            .collect(),
        waited_secs: waited.max(0) as u32,
        transferred_by: by,
        assigned_at: Some(timestamp(*at)),
        topic_reason: topic_reason.clone(),
    })
}

pub(super) fn inbox_pb(agent: &str, l: &Logged) -> pb::WatchInboxResponse {
    use pb::watch_inbox_response::Item;
    let item = match &l.event {
        Event::ConversationAssigned { agent_id, .. } => {
            let a = assignment_pb(l);
            if agent_id == agent {
                a.map(Item::Assigned)
            } else {
                a.map(Item::Unassigned)
            }
        }
        Event::ConversationReleased {
            conversation_id,
            agent_id,
            at,
        } => Some(Item::Unassigned(pb::Assignment {
            conversation_id: conversation_id.clone(),
            previous_agent_id: agent_id.clone(),
            explanation: "back to the queue: no other agent fits".into(),
            assigned_at: Some(timestamp(*at)),
            ..Default::default()
        })),
        Event::ConversationClosed { .. } => Some(Item::Closed(true)),
        Event::ConversationRated { rating, .. } => Some(Item::Rating(*rating as u32)),
        Event::AgentStatusChanged { status, .. } => Some(Item::Status(status_pb(*status) as i32)),
        Event::MessagesRead {
            reader,
            up_to_position,
            ..
        } => Some(Item::Read(read_receipt_pb(reader, *up_to_position))),
        _ => line_pb(l).map(Item::Message),
    };
    pb::WatchInboxResponse {
        position: l.position as u64,
        conversation_id: l.event.conversation_id().unwrap_or_default().to_owned(),
        occurred_at: Some(timestamp(l.at)),
        item,
        history: Vec::new(),
    }
}

/// The lines of a conversation before `position`: the same on every replay.
pub(super) fn history_before(lines: &[Arc<Logged>], position: i64) -> Vec<pb::ChatMessage> {
    lines
        .iter()
        .take_while(|l| l.position < position)
        .filter_map(|l| line_pb(l))
        .collect()
}

pub(super) fn hours_from_pb(h: Option<pb::ServiceHours>) -> Result<ServiceHours, Status> {
    let h = h.ok_or_else(|| errors::invalid_argument(&[("hours", "required".into())]))?;
    let mut bad = Vec::new();
    let date = |field: String, s: &str, bad: &mut Vec<(String, String)>| {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| bad.push((field, format!("{s:?} is not a YYYY-MM-DD date"))))
            .ok()
    };
    let ranges = |rs: Vec<pb::TimeRange>| {
        rs.into_iter()
            .map(|r| TimeRange {
                start_minute: r.start_minute.min(u16::MAX as u32) as u16,
                end_minute: r.end_minute.min(u16::MAX as u32) as u16,
            })
            .collect()
    };
    let holidays = h
        .holidays
        .iter()
        .enumerate()
        .filter_map(|(i, d)| date(format!("hours.holidays[{i}]"), d, &mut bad))
        .collect();
    let special_days = h
        .special_days
        .into_iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let date = date(format!("hours.special_days[{i}].date"), &d.date, &mut bad)?;
            Some(SpecialDay {
                date,
                ranges: ranges(d.ranges),
            })
        })
        .collect();
    if !bad.is_empty() {
        let v: Vec<(&str, String)> = bad.iter().map(|(f, w)| (f.as_str(), w.clone())).collect();
        return Err(errors::invalid_argument(&v));
    }
    Ok(ServiceHours {
        time_zone: if h.time_zone.is_empty() {
            crate::domain::hours::DEFAULT_TIME_ZONE.into()
        } else {
            h.time_zone
        },
        weekly: h
            .weekly
            .into_iter()
            .map(|d| DayHours {
                weekday: d.weekday.min(u8::MAX as u32) as u8,
                ranges: ranges(d.ranges),
            })
            .collect(),
        holidays,
        special_days,
    })
}

pub(super) fn hours_pb(h: &ServiceHours) -> pb::ServiceHours {
    let ranges = |rs: &[TimeRange]| {
        rs.iter()
            .map(|r| pb::TimeRange {
                start_minute: r.start_minute as u32,
                end_minute: r.end_minute as u32,
            })
            .collect()
    };
    pb::ServiceHours {
        time_zone: h.time_zone.clone(),
        weekly: h
            .weekly
            .iter()
            .map(|d| pb::DayHours {
                weekday: d.weekday as u32,
                ranges: ranges(&d.ranges),
            })
            .collect(),
        holidays: h.holidays.iter().map(|d| d.to_string()).collect(),
        special_days: h
            .special_days
            .iter()
            .map(|d| pb::SpecialDay {
                date: d.date.to_string(),
                ranges: ranges(&d.ranges),
            })
            .collect(),
    }
}

pub(super) fn settings_pb(s: &DeskSettings) -> pb::DeskSettings {
    pb::DeskSettings {
        response_target_secs: s.response_target_secs,
        reassign_after_secs: s.reassign_after_secs,
        queue_capacity: s.queue_capacity,
        default_agent_capacity: s.default_agent_capacity,
    }
}

pub(super) fn phrase_pb(p: &QuickPhrase) -> pb::QuickPhrase {
    pb::QuickPhrase {
        phrase_id: p.phrase_id.clone(),
        title: p.title.clone(),
        text: p.text.clone(),
        personal: p.agent_id.is_some(),
    }
}

/// The phrase a request names; `agent_id` for an agent's own.
pub(super) fn phrase_from_pb(
    p: Option<pb::QuickPhrase>,
    agent_id: Option<&str>,
) -> Result<QuickPhrase, Status> {
    let p = p.ok_or_else(|| errors::invalid_argument(&[("phrase", "required".into())]))?;
    Ok(QuickPhrase {
        phrase_id: p.phrase_id,
        title: p.title,
        text: p.text,
        agent_id: agent_id.map(str::to_owned),
    })
}

pub(super) fn figures_pb(f: &metrics::Figures) -> pb::ResponseFigures {
    pb::ResponseFigures {
        conversations: f.conversations,
        answered: f.answered,
        answered_within_target: f.answered_within_target,
        unreplied: f.unreplied,
        within_target_share: f.within_target_share,
        first_response_median_ms: f.first_response_median_ms,
        first_response_p90_ms: f.first_response_p90_ms,
        ratings: f.ratings,
        csat_mean: f.csat_mean,
        csat_satisfied_share: f.csat_satisfied_share,
        robot_replies: f.robot_replies,
        robot_unavailable: f.robot_unavailable,
        messages: f.messages,
        messages_answered: f.messages_answered,
        messages_answered_within_target: f.messages_answered_within_target,
        messages_within_target_share: f.messages_within_target_share,
        every_response_median_ms: f.every_response_median_ms,
        every_response_p90_ms: f.every_response_p90_ms,
    }
}

/// The figures of a window; one agent's only when `agent` is given.
pub(super) fn metrics_pb(
    desk: &ChatDesk,
    report: &metrics::Report,
    now: crate::domain::Instant,
    agent: Option<&str>,
) -> pb::GetResponseMetricsResponse {
    let agents = report
        .agents
        .iter()
        .filter(|(a, _)| agent.is_none_or(|only| only == a.as_str()))
        .map(|(a, f)| pb::AgentFigures {
            agent_id: a.clone(),
            figures: Some(figures_pb(f)),
        })
        .collect();
    pb::GetResponseMetricsResponse {
        shop: agent.is_none().then(|| figures_pb(&report.shop)),
        agents,
        response_target_secs: desk.settings.response_target_secs,
        as_of: Some(timestamp(now)),
    }
}

/// The agent a call acts as: an agent caller is itself (naming another is
/// PERMISSION_DENIED); a manager must name one.
pub(super) fn acting_agent(caller: &Caller, requested: &str) -> Result<String, Status> {
    if caller.role() == Role::Agent {
        if requested.is_empty() || requested == caller.account() {
            return Ok(caller.account().to_owned());
        }
        return Err(Status::permission_denied("an agent acts only as itself"));
    }
    if requested.is_empty() {
        return Err(errors::invalid_argument(&[("agent_id", "required".into())]));
    }
    Ok(requested.to_owned())
}

pub(super) fn check_required(field: &'static str, value: &str) -> Result<(), Status> {
    if value.is_empty() {
        return Err(errors::invalid_argument(&[(field, "required".into())]));
    }
    Ok(())
}

pub(super) fn capacity(v: u32) -> Option<u32> {
    (v > 0).then_some(v)
}
