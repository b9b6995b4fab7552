//! The public API (`sellerdesk.chat.v1`) mapped onto [`Chat`]. Permissions
//! live here: the platform's buyer gateway speaks for buyers, agents act as
//! themselves (their token's account is their agent id), owner and admin
//! manage the desk (R-CHAT-3), another shop sees nothing (R-X-1).

use crate::{
    app::{Chat, Logged, View},
    domain::{
        handover::asks_for_human, metrics, phrases, Agent, AgentStatus, AssignmentRule,
        BuyerNotice, ChatDesk, Command, Conversation, ConversationStatus, DayHours, DeskSettings,
        Event, Permissions, QuickPhrase, RobotVerdict, ServiceHours, ServiceRole, SpecialDay,
        TimeRange, Topic,
    },
};
use futures::{Stream, StreamExt};
use sellerdesk_api::chat::v1 as pb;
use sellerdesk_runtime::page::{self, Cursor, Page};
use sellerdesk_runtime::{
    errors,
    wire::{authorize, command_metadata, instant, timestamp, StreamBounds, ANY_ROLE, MANAGERS},
    Caller, Role,
};
use std::{pin::Pin, sync::Arc, time::Duration};
use tonic::{Request, Response, Status};

const DEFAULT_METRICS_WINDOW_SECS: u32 = 3600;
/// The platform's buyer-facing gateway speaks for buyers.
const GATEWAY: &[Role] = &[Role::Platform];
const MANAGERS_AND_PLATFORM: &[Role] = &[Role::Owner, Role::Admin, Role::Platform];

#[derive(Debug, Clone)]
pub struct ChatApi {
    app: Arc<Chat>,
}

impl ChatApi {
    pub fn new(app: Arc<Chat>) -> Self {
        Self { app }
    }

    /// R-X-1 and the role check, then R-CHAT-2/3 for agents: an agent token
    /// is good only for an account the shop has as an agent now. A removed
    /// agent, or an account that never was one, reads nothing (hardening
    /// item 5): the token outlives the account only until this check.
    async fn authorize<T>(
        &self,
        request: &Request<T>,
        shop_id: &str,
        roles: &[Role],
        action: &str,
    ) -> Result<(Caller, String), Status> {
        let (caller, shop) = authorize(request, shop_id, roles, action)?;
        if caller.role() == Role::Agent {
            let account = caller.account().to_owned();
            let is_agent = self
                .app
                .read(&shop, |v| v.desk.agents.contains_key(&account))
                .await
                .map_err(to_status)?;
            if !is_agent {
                return Err(Status::unauthenticated(
                    "the token's account is not an agent of this shop (removed, or never added)",
                ));
            }
        }
        Ok((caller, shop))
    }
}

use sellerdesk_runtime::errors::to_status;

fn role_from_pb(v: i32) -> Result<ServiceRole, Status> {
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

fn role_pb(r: ServiceRole) -> pb::ServiceRole {
    match r {
        ServiceRole::PreSale => pb::ServiceRole::PreSale,
        ServiceRole::AfterSale => pb::ServiceRole::AfterSale,
        ServiceRole::Both => pb::ServiceRole::Both,
    }
}

fn status_from_pb(v: i32) -> Result<AgentStatus, Status> {
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

fn status_pb(s: AgentStatus) -> pb::AgentStatus {
    match s {
        AgentStatus::Online => pb::AgentStatus::Online,
        AgentStatus::Busy => pb::AgentStatus::Busy,
        AgentStatus::Offline => pb::AgentStatus::Offline,
    }
}

fn topic_pb(t: Topic) -> pb::Topic {
    match t {
        Topic::PreSale => pb::Topic::PreSale,
        Topic::AfterSale => pb::Topic::AfterSale,
    }
}

fn permissions_from_pb(p: Option<pb::Permissions>) -> Permissions {
    let p = p.unwrap_or_default();
    Permissions {
        reply: p.reply,
        handle_orders: p.handle_orders,
        review_after_sale: p.review_after_sale,
    }
}

fn agent_pb(a: &Agent) -> pb::Agent {
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

fn conversation_pb(desk: &ChatDesk, c: &Conversation) -> pb::Conversation {
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
        unreplied: c.first_human_reply_at.is_none(),
        opened_at: Some(timestamp(c.opened_at)),
        first_human_reply_at: c.first_human_reply_at.map(timestamp),
        rating: c.rating.unwrap_or(0) as u32,
    }
}

/// A transcript line, for the events that are one.
fn line_pb(l: &Logged) -> Option<pb::ChatMessage> {
    let mut m = pb::ChatMessage {
        position: l.position as u64,
        conversation_id: l.event.conversation_id()?.to_owned(),
        ..Default::default()
    };
    match &l.event {
        Event::BuyerMessageReceived {
            message_id,
            text,
            at,
            ..
        } => {
            m.sender = pb::Sender::Buyer as i32;
            m.message_id = message_id.clone();
            m.text = text.clone();
            m.sent_at = Some(timestamp(*at));
        }
        Event::RobotReplied {
            entry_id, text, at, ..
        } => {
            m.sender = pb::Sender::Robot as i32;
            m.entry_id = entry_id.clone();
            m.text = text.clone();
            m.sent_at = Some(timestamp(*at));
        }
        Event::AgentReplied {
            agent_id,
            message_id,
            text,
            at,
            ..
        } => {
            m.sender = pb::Sender::Agent as i32;
            m.agent_id = agent_id.clone();
            m.message_id = message_id.clone();
            m.text = text.clone();
            m.sent_at = Some(timestamp(*at));
        }
        Event::BuyerNotified {
            notice, text, at, ..
        } => {
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
        _ => return None,
    }
    Some(m)
}

fn assignment_pb(l: &Logged) -> Option<pb::Assignment> {
    let Event::ConversationAssigned {
        conversation_id,
        agent_id,
        previous,
        rule,
        candidates,
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
    })
}

fn inbox_pb(agent: &str, l: &Logged) -> pb::WatchInboxResponse {
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
fn history_before(view: &View, conversation_id: &str, position: i64) -> Vec<pb::ChatMessage> {
    view.lines
        .get(conversation_id)
        .map(|lines| {
            lines
                .iter()
                .take_while(|l| l.position < position)
                .filter_map(|l| line_pb(l))
                .collect()
        })
        .unwrap_or_default()
}

fn hours_from_pb(h: Option<pb::ServiceHours>) -> Result<ServiceHours, Status> {
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

fn hours_pb(h: &ServiceHours) -> pb::ServiceHours {
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

fn settings_pb(s: &DeskSettings) -> pb::DeskSettings {
    pb::DeskSettings {
        response_target_secs: s.response_target_secs,
        reassign_after_secs: s.reassign_after_secs,
        queue_capacity: s.queue_capacity,
        default_agent_capacity: s.default_agent_capacity,
    }
}

fn phrase_pb(p: &QuickPhrase) -> pb::QuickPhrase {
    pb::QuickPhrase {
        phrase_id: p.phrase_id.clone(),
        title: p.title.clone(),
        text: p.text.clone(),
    }
}

fn phrase_from_pb(p: Option<pb::QuickPhrase>) -> Result<QuickPhrase, Status> {
    let p = p.ok_or_else(|| errors::invalid_argument(&[("phrase", "required".into())]))?;
    Ok(QuickPhrase {
        phrase_id: p.phrase_id,
        title: p.title,
        text: p.text,
    })
}

fn figures_pb(f: &metrics::Figures) -> pb::ResponseFigures {
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
    }
}

/// The figures of a window; one agent's only when `agent` is given.
fn metrics_pb(
    view: &View,
    window: metrics::Window,
    now: crate::domain::Instant,
    agent: Option<&str>,
) -> pb::GetResponseMetricsResponse {
    let report = metrics::report(&view.desk, window, now);
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
        response_target_secs: view.desk.settings.response_target_secs,
        as_of: Some(timestamp(now)),
    }
}

/// The agent a call acts as: an agent caller is itself (naming another is
/// PERMISSION_DENIED); a manager must name one.
fn acting_agent(caller: &Caller, requested: &str) -> Result<String, Status> {
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

fn check_required(field: &'static str, value: &str) -> Result<(), Status> {
    if value.is_empty() {
        return Err(errors::invalid_argument(&[(field, "required".into())]));
    }
    Ok(())
}

fn capacity(v: u32) -> Option<u32> {
    (v > 0).then_some(v)
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

impl ChatApi {
    async fn agent_view(&self, shop: &str, agent_id: &str) -> Result<pb::Agent, Status> {
        self.app
            .read(shop, |v| v.desk.agents.get(agent_id).map(agent_pb))
            .await
            .map_err(to_status)?
            .ok_or_else(|| errors::not_found("agent", agent_id))
    }

    async fn conversation_view(&self, shop: &str, id: &str) -> Result<pb::Conversation, Status> {
        self.app
            .read(shop, |v| {
                v.desk.conversation(id).map(|c| conversation_pb(&v.desk, c))
            })
            .await
            .map_err(to_status)?
            .ok_or_else(|| errors::not_found("conversation", id))
    }

    /// Agents may act on the conversations they have; managers on any.
    async fn check_handles(
        &self,
        caller: &Caller,
        shop: &str,
        conversation_id: &str,
    ) -> Result<(), Status> {
        if caller.role() != Role::Agent {
            return Ok(());
        }
        let assignee = self
            .app
            .read(shop, |v| {
                v.desk
                    .conversation(conversation_id)
                    .map(|c| c.assignee.clone())
            })
            .await
            .map_err(to_status)?
            .ok_or_else(|| errors::not_found("conversation", conversation_id))?;
        if assignee.as_deref() == Some(caller.account()) {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "conversation {conversation_id} is not assigned to agent {}",
                caller.account()
            )))
        }
    }
}

#[tonic::async_trait]
impl pb::chat_service_server::ChatService for ChatApi {
    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn add_agent(
        &self,
        request: Request<pb::AddAgentRequest>,
    ) -> Result<Response<pb::AddAgentResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                MANAGERS,
                "adding an agent",
            )
            .await?;
        let r = request.into_inner();
        let command = Command::AddAgent {
            agent_id: r.agent_id.clone(),
            name: r.name,
            phone: r.phone,
            role: role_from_pb(r.role)?,
            permissions: permissions_from_pb(r.permissions),
            capacity: capacity(r.capacity),
        };
        self.app
            .execute(&shop, command, command_metadata(&caller))
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::AddAgentResponse {
            agent: Some(self.agent_view(&shop, &r.agent_id).await?),
        }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn update_agent(
        &self,
        request: Request<pb::UpdateAgentRequest>,
    ) -> Result<Response<pb::UpdateAgentResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                MANAGERS,
                "changing an agent",
            )
            .await?;
        let r = request.into_inner();
        let command = Command::UpdateAgent {
            agent_id: r.agent_id.clone(),
            name: r.name,
            role: role_from_pb(r.role)?,
            permissions: permissions_from_pb(r.permissions),
            capacity: capacity(r.capacity),
        };
        self.app
            .execute(&shop, command, command_metadata(&caller))
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::UpdateAgentResponse {
            agent: Some(self.agent_view(&shop, &r.agent_id).await?),
        }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn verify_agent_real_name(
        &self,
        request: Request<pb::VerifyAgentRealNameRequest>,
    ) -> Result<Response<pb::VerifyAgentRealNameResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                &[Role::Platform],
                "recording real-name verification",
            )
            .await?;
        let r = request.into_inner();
        self.app
            .execute(
                &shop,
                Command::VerifyAgentRealName {
                    agent_id: r.agent_id.clone(),
                },
                command_metadata(&caller),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::VerifyAgentRealNameResponse {
            agent: Some(self.agent_view(&shop, &r.agent_id).await?),
        }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn remove_agent(
        &self,
        request: Request<pb::RemoveAgentRequest>,
    ) -> Result<Response<pb::RemoveAgentResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                MANAGERS,
                "removing an agent",
            )
            .await?;
        let r = request.into_inner();
        let at = self.app.now();
        self.app
            .execute(
                &shop,
                Command::RemoveAgent {
                    agent_id: r.agent_id,
                    at,
                },
                command_metadata(&caller),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::RemoveAgentResponse {}))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn set_agent_status(
        &self,
        request: Request<pb::SetAgentStatusRequest>,
    ) -> Result<Response<pb::SetAgentStatusResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                &[Role::Owner, Role::Admin, Role::Agent],
                "setting an agent's status",
            )
            .await?;
        let r = request.into_inner();
        let agent_id = acting_agent(&caller, &r.agent_id)?;
        let command = Command::SetAgentStatus {
            agent_id: agent_id.clone(),
            status: status_from_pb(r.status)?,
            at: self.app.now(),
        };
        self.app
            .execute(&shop, command, command_metadata(&caller))
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::SetAgentStatusResponse {
            agent: Some(self.agent_view(&shop, &agent_id).await?),
        }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn get_agent(
        &self,
        request: Request<pb::GetAgentRequest>,
    ) -> Result<Response<pb::GetAgentResponse>, Status> {
        let (_, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                ANY_ROLE,
                "reading an agent",
            )
            .await?;
        let agent = self.agent_view(&shop, &request.get_ref().agent_id).await?;
        Ok(Response::new(pb::GetAgentResponse { agent: Some(agent) }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        let (_, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                ANY_ROLE,
                "listing agents",
            )
            .await?;
        let agents = self
            .app
            .read(&shop, |v| v.desk.agents.values().map(agent_pb).collect())
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListAgentsResponse { agents }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn open_conversation(
        &self,
        request: Request<pb::OpenConversationRequest>,
    ) -> Result<Response<pb::OpenConversationResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                GATEWAY,
                "opening a conversation",
            )
            .await?;
        let r = request.into_inner();
        let topic = match pb::Topic::try_from(r.topic) {
            Ok(pb::Topic::PreSale) => Some(Topic::PreSale),
            Ok(pb::Topic::AfterSale) => Some(Topic::AfterSale),
            Ok(pb::Topic::Unspecified) => None,
            Err(_) => {
                return Err(errors::invalid_argument(&[(
                    "topic",
                    "unspecified, pre-sale or after-sale".into(),
                )]))
            }
        };
        let greeting = self.app.robot().greeting(&caller, &shop).await;
        let command = Command::OpenConversation {
            conversation_id: r.conversation_id.clone(),
            buyer_id: r.buyer_id,
            buyer_name: r.buyer_name,
            order_id: Some(r.order_id).filter(|o| !o.is_empty()),
            topic,
            greeting,
            at: self.app.now(),
        };
        self.app
            .execute(&shop, command, command_metadata(&caller))
            .await
            .map_err(to_status)?;
        // The greeting as first sent, also for a repeated open.
        let (conversation, replies) = self
            .app
            .read(&shop, |v| {
                let c = v
                    .desk
                    .conversation(&r.conversation_id)
                    .map(|c| conversation_pb(&v.desk, c));
                let replies = v
                    .lines
                    .get(&r.conversation_id)
                    .and_then(|lines| {
                        lines.iter().find(|l| {
                            matches!(
                                l.event,
                                Event::BuyerNotified {
                                    notice: BuyerNotice::Greeting { .. },
                                    ..
                                }
                            )
                        })
                    })
                    .and_then(|l| line_pb(l))
                    .into_iter()
                    .collect();
                (c, replies)
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::OpenConversationResponse {
            conversation,
            replies,
        }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn send_buyer_message(
        &self,
        request: Request<pb::SendBuyerMessageRequest>,
    ) -> Result<Response<pb::SendBuyerMessageResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                GATEWAY,
                "relaying a buyer message",
            )
            .await?;
        let r = request.into_inner();
        // R-CHAT-6: the robot first, unless a human has the conversation or
        // the buyer asked for one (R-CHAT-8).
        let robot_first = !r.text.trim().is_empty()
            && !asks_for_human(&r.text)
            && self
                .app
                .read(&shop, |v| {
                    v.desk.conversation(&r.conversation_id).is_some_and(|c| {
                        c.status == ConversationStatus::Open
                            && c.assignee.is_none()
                            && !c.message_ids.contains_key(&r.message_id)
                    })
                })
                .await
                .map_err(to_status)?;
        let robot = if robot_first {
            self.app
                .robot()
                .ask(&caller, &shop, &r.conversation_id, &r.text)
                .await
        } else {
            RobotVerdict::NotAsked
        };
        let robot_available = robot != RobotVerdict::Unavailable;
        let command = Command::ReceiveBuyerMessage {
            conversation_id: r.conversation_id.clone(),
            message_id: r.message_id,
            text: r.text,
            robot,
            at: self.app.now(),
        };
        let events = self
            .app
            .execute(&shop, command, command_metadata(&caller))
            .await
            .map_err(to_status)?;
        let replies = events
            .iter()
            .filter(|l| {
                matches!(
                    l.event,
                    Event::RobotReplied { .. } | Event::BuyerNotified { .. }
                )
            })
            .filter_map(|l| line_pb(l))
            .collect();
        Ok(Response::new(pb::SendBuyerMessageResponse {
            conversation: Some(self.conversation_view(&shop, &r.conversation_id).await?),
            replies,
            robot_available,
        }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn tap_card(
        &self,
        request: Request<pb::TapCardRequest>,
    ) -> Result<Response<pb::TapCardResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                GATEWAY,
                "relaying a card tap",
            )
            .await?;
        let r = request.into_inner();
        check_required("entry_id", &r.entry_id)?;
        self.conversation_view(&shop, &r.conversation_id).await?;
        let answer = self
            .app
            .robot()
            .tap_card(&caller, &shop, &r.conversation_id, &r.entry_id)
            .await
            .map_err(|s| match s.code() {
                tonic::Code::NotFound => errors::not_found("entry", &r.entry_id),
                tonic::Code::InvalidArgument => errors::invalid_argument(&[(
                    "entry_id",
                    "not an entry id the FAQ service accepts".into(),
                )]),
                _ => Status::unavailable("the FAQ service cannot answer the card now; retry"),
            })?;
        let command = Command::TapCard {
            conversation_id: r.conversation_id,
            entry_id: r.entry_id,
            answer,
            at: self.app.now(),
        };
        let events = self
            .app
            .execute(&shop, command, command_metadata(&caller))
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::TapCardResponse {
            reply: events.first().and_then(|l| line_pb(l)),
        }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn send_agent_reply(
        &self,
        request: Request<pb::SendAgentReplyRequest>,
    ) -> Result<Response<pb::SendAgentReplyResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                &[Role::Agent],
                "replying to a buyer",
            )
            .await?;
        let r = request.into_inner();
        let command = Command::SendAgentReply {
            conversation_id: r.conversation_id.clone(),
            agent_id: caller.account().to_owned(),
            message_id: r.message_id.clone(),
            text: r.text,
            at: self.app.now(),
        };
        let events = self
            .app
            .execute(&shop, command, command_metadata(&caller))
            .await
            .map_err(to_status)?;
        let message = match events.first() {
            Some(l) => line_pb(l),
            // A retry: the reply as first recorded.
            None => self
                .app
                .read(&shop, |v| {
                    v.lines.get(&r.conversation_id).and_then(|lines| {
                        lines
                            .iter()
                            .find(|l| matches!(&l.event, Event::AgentReplied { message_id, .. } if *message_id == r.message_id))
                            .and_then(|l| line_pb(l))
                    })
                })
                .await
                .map_err(to_status)?,
        };
        Ok(Response::new(pb::SendAgentReplyResponse { message }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn transfer_conversation(
        &self,
        request: Request<pb::TransferConversationRequest>,
    ) -> Result<Response<pb::TransferConversationResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                &[Role::Owner, Role::Admin, Role::Agent],
                "transferring a conversation",
            )
            .await?;
        let r = request.into_inner();
        check_required("to_agent_id", &r.to_agent_id)?;
        self.check_handles(&caller, &shop, &r.conversation_id)
            .await?;
        let command = Command::Transfer {
            conversation_id: r.conversation_id.clone(),
            to_agent: r.to_agent_id,
            by: format!("{}:{}", caller.role().as_str(), caller.account()),
            at: self.app.now(),
        };
        self.app
            .execute(&shop, command, command_metadata(&caller))
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::TransferConversationResponse {
            conversation: Some(self.conversation_view(&shop, &r.conversation_id).await?),
        }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn close_conversation(
        &self,
        request: Request<pb::CloseConversationRequest>,
    ) -> Result<Response<pb::CloseConversationResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                ANY_ROLE,
                "closing a conversation",
            )
            .await?;
        let r = request.into_inner();
        self.check_handles(&caller, &shop, &r.conversation_id)
            .await?;
        let command = Command::Close {
            conversation_id: r.conversation_id.clone(),
            by: format!("{}:{}", caller.role().as_str(), caller.account()),
            at: self.app.now(),
        };
        self.app
            .execute(&shop, command, command_metadata(&caller))
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::CloseConversationResponse {
            conversation: Some(self.conversation_view(&shop, &r.conversation_id).await?),
        }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn rate_conversation(
        &self,
        request: Request<pb::RateConversationRequest>,
    ) -> Result<Response<pb::RateConversationResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                GATEWAY,
                "relaying a rating",
            )
            .await?;
        let r = request.into_inner();
        let command = Command::Rate {
            conversation_id: r.conversation_id.clone(),
            rating: r.rating.min(255) as u8,
            at: self.app.now(),
        };
        self.app
            .execute(&shop, command, command_metadata(&caller))
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::RateConversationResponse {
            conversation: Some(self.conversation_view(&shop, &r.conversation_id).await?),
        }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn get_conversation(
        &self,
        request: Request<pb::GetConversationRequest>,
    ) -> Result<Response<pb::GetConversationResponse>, Status> {
        let (_, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                ANY_ROLE,
                "reading a conversation",
            )
            .await?;
        let id = request.into_inner().conversation_id;
        let found = self
            .app
            .read(&shop, |v| {
                let c = v.desk.conversation(&id)?;
                let lines = v.lines.get(&id).map(Vec::as_slice).unwrap_or_default();
                Some(pb::GetConversationResponse {
                    conversation: Some(conversation_pb(&v.desk, c)),
                    transcript: lines.iter().filter_map(|l| line_pb(l)).collect(),
                    assignments: lines.iter().filter_map(|l| assignment_pb(l)).collect(),
                })
            })
            .await
            .map_err(to_status)?;
        found
            .map(Response::new)
            .ok_or_else(|| errors::not_found("conversation", &id))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn list_conversations(
        &self,
        request: Request<pb::ListConversationsRequest>,
    ) -> Result<Response<pb::ListConversationsResponse>, Status> {
        let (_, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                ANY_ROLE,
                "listing conversations",
            )
            .await?;
        let r = request.into_inner();
        let page = Page::of(r.page.as_ref())?;
        let (size, after) = (page.size, page.after_key()?.to_owned());
        let status = match pb::ConversationStatus::try_from(r.status) {
            Ok(pb::ConversationStatus::Open) => Some(ConversationStatus::Open),
            Ok(pb::ConversationStatus::Closed) => Some(ConversationStatus::Closed),
            _ => None,
        };
        let (conversations, next) = self
            .app
            .read(&shop, |v| {
                let mut matching: Vec<&Conversation> = v
                    .desk
                    .conversations
                    .values()
                    .filter(|c| c.conversation_id.as_str() > after.as_str())
                    .filter(|c| status.is_none_or(|s| c.status == s))
                    .filter(|c| {
                        r.agent_id.is_empty() || c.assignee.as_deref() == Some(r.agent_id.as_str())
                    })
                    .filter(|c| !r.waiting_only || c.waiting_since.is_some())
                    .collect();
                matching.sort_by(|a, b| a.conversation_id.cmp(&b.conversation_id));
                let more = matching.len() > size;
                matching.truncate(size);
                let next = more
                    .then(|| {
                        matching
                            .last()
                            .map(|c| Cursor::After(c.conversation_id.clone()))
                    })
                    .flatten();
                (
                    matching
                        .iter()
                        .map(|c| conversation_pb(&v.desk, c))
                        .collect(),
                    next,
                )
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListConversationsResponse {
            conversations,
            page: page::next(next),
        }))
    }

    type WatchInboxStream = BoxStream<pb::WatchInboxResponse>;

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn watch_inbox(
        &self,
        request: Request<pb::WatchInboxRequest>,
    ) -> Result<Response<Self::WatchInboxStream>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                &[Role::Owner, Role::Admin, Role::Agent],
                "watching an inbox",
            )
            .await?;
        let bounds = StreamBounds::of(&request)?;
        let r = request.into_inner();
        let agent = acting_agent(&caller, &r.agent_id)?;
        if r.after_position > i64::MAX as u64 {
            return Err(errors::invalid_argument(&[(
                "after_position",
                "too large".into(),
            )]));
        }
        let exists = self
            .app
            .read(&shop, |v| v.desk.agents.contains_key(&agent))
            .await
            .map_err(to_status)?;
        if !exists {
            return Err(errors::not_found("agent", &agent));
        }
        let items = self
            .app
            .inbox(&shop, agent.clone(), r.after_position as i64)
            .await
            .map_err(to_status)?;
        let app = self.app.clone();
        Ok(Response::new(bounds.apply(items.then(move |item| {
            let (app, shop, agent) = (app.clone(), shop.clone(), agent.clone());
            async move {
                let l = item.map_err(to_status)?;
                let mut response = inbox_pb(&agent, &l);
                if matches!(
                    response.item,
                    Some(pb::watch_inbox_response::Item::Assigned(_))
                ) {
                    response.history = app
                        .read(&shop, |v| {
                            history_before(v, &response.conversation_id, l.position)
                        })
                        .await
                        .map_err(to_status)?;
                }
                Ok(response)
            }
        }))))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn set_service_hours(
        &self,
        request: Request<pb::SetServiceHoursRequest>,
    ) -> Result<Response<pb::SetServiceHoursResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                MANAGERS,
                "setting service hours",
            )
            .await?;
        let hours = hours_from_pb(request.into_inner().hours)?;
        self.app
            .execute(
                &shop,
                Command::SetServiceHours {
                    hours: hours.clone(),
                },
                command_metadata(&caller),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::SetServiceHoursResponse {
            hours: Some(hours_pb(&hours)),
        }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn get_service_hours(
        &self,
        request: Request<pb::GetServiceHoursRequest>,
    ) -> Result<Response<pb::GetServiceHoursResponse>, Status> {
        let (_, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                ANY_ROLE,
                "reading service hours",
            )
            .await?;
        let now = self.app.now();
        let response = self
            .app
            .read(&shop, |v| pb::GetServiceHoursResponse {
                hours: Some(hours_pb(&v.desk.hours)),
                open_now: v.desk.hours.is_open(now),
                next_opening: v.desk.hours.next_opening(now).map(timestamp),
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn get_desk_settings(
        &self,
        request: Request<pb::GetDeskSettingsRequest>,
    ) -> Result<Response<pb::GetDeskSettingsResponse>, Status> {
        let (_, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                ANY_ROLE,
                "reading desk settings",
            )
            .await?;
        let settings = self
            .app
            .read(&shop, |v| settings_pb(&v.desk.settings))
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GetDeskSettingsResponse {
            settings: Some(settings),
            max_agents: self.app.limits().max_agents as u32,
        }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn update_desk_settings(
        &self,
        request: Request<pb::UpdateDeskSettingsRequest>,
    ) -> Result<Response<pb::UpdateDeskSettingsResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                MANAGERS,
                "changing desk settings",
            )
            .await?;
        let s = request
            .into_inner()
            .settings
            .ok_or_else(|| errors::invalid_argument(&[("settings", "required".into())]))?;
        let settings = DeskSettings {
            response_target_secs: s.response_target_secs,
            reassign_after_secs: s.reassign_after_secs,
            queue_capacity: s.queue_capacity,
            default_agent_capacity: s.default_agent_capacity,
        };
        self.app
            .execute(
                &shop,
                Command::UpdateSettings { settings },
                command_metadata(&caller),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::UpdateDeskSettingsResponse {
            settings: Some(settings_pb(&settings)),
        }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn create_quick_phrase(
        &self,
        request: Request<pb::CreateQuickPhraseRequest>,
    ) -> Result<Response<pb::CreateQuickPhraseResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                MANAGERS,
                "creating a quick phrase",
            )
            .await?;
        let mut phrase = phrase_from_pb(request.into_inner().phrase)?;
        if phrase.phrase_id.is_empty() {
            phrase.phrase_id = uuid::Uuid::now_v7().simple().to_string();
        }
        self.app
            .execute(
                &shop,
                Command::SaveQuickPhrase {
                    phrase: phrase.clone(),
                    create: true,
                },
                command_metadata(&caller),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::CreateQuickPhraseResponse {
            phrase: Some(phrase_pb(&phrase)),
        }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn update_quick_phrase(
        &self,
        request: Request<pb::UpdateQuickPhraseRequest>,
    ) -> Result<Response<pb::UpdateQuickPhraseResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                MANAGERS,
                "changing a quick phrase",
            )
            .await?;
        let phrase = phrase_from_pb(request.into_inner().phrase)?;
        check_required("phrase.phrase_id", &phrase.phrase_id)?;
        self.app
            .execute(
                &shop,
                Command::SaveQuickPhrase {
                    phrase: phrase.clone(),
                    create: false,
                },
                command_metadata(&caller),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::UpdateQuickPhraseResponse {
            phrase: Some(phrase_pb(&phrase)),
        }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn delete_quick_phrase(
        &self,
        request: Request<pb::DeleteQuickPhraseRequest>,
    ) -> Result<Response<pb::DeleteQuickPhraseResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                MANAGERS,
                "deleting a quick phrase",
            )
            .await?;
        let phrase_id = request.into_inner().phrase_id;
        self.app
            .execute(
                &shop,
                Command::DeleteQuickPhrase { phrase_id },
                command_metadata(&caller),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::DeleteQuickPhraseResponse {}))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn list_quick_phrases(
        &self,
        request: Request<pb::ListQuickPhrasesRequest>,
    ) -> Result<Response<pb::ListQuickPhrasesResponse>, Status> {
        let (_, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                ANY_ROLE,
                "listing quick phrases",
            )
            .await?;
        let phrases = self
            .app
            .read(&shop, |v| v.desk.phrases.values().map(phrase_pb).collect())
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListQuickPhrasesResponse { phrases }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn render_quick_phrase(
        &self,
        request: Request<pb::RenderQuickPhraseRequest>,
    ) -> Result<Response<pb::RenderQuickPhraseResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                ANY_ROLE,
                "rendering a quick phrase",
            )
            .await?;
        let r = request.into_inner();
        let text = self
            .app
            .read(&shop, |v| {
                let p = v
                    .desk
                    .phrases
                    .get(&r.phrase_id)
                    .ok_or_else(|| errors::not_found("quick phrase", &r.phrase_id))?;
                let c = v
                    .desk
                    .conversation(&r.conversation_id)
                    .ok_or_else(|| errors::not_found("conversation", &r.conversation_id))?;
                let agent_name = v
                    .desk
                    .agents
                    .get(caller.account())
                    .map_or("", |a| a.name.as_str());
                Ok::<_, Status>(phrases::render(
                    &p.text,
                    &c.buyer_name,
                    c.order_id.as_deref(),
                    agent_name,
                ))
            })
            .await
            .map_err(to_status)??;
        Ok(Response::new(pb::RenderQuickPhraseResponse { text }))
    }

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn get_response_metrics(
        &self,
        request: Request<pb::GetResponseMetricsRequest>,
    ) -> Result<Response<pb::GetResponseMetricsResponse>, Status> {
        let (caller, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                ANY_ROLE,
                "reading response figures",
            )
            .await?;
        let r = request.into_inner();
        let from = r
            .from
            .as_ref()
            .ok_or_else(|| errors::invalid_argument(&[("from", "required".into())]))
            .and_then(|t| instant(t, "from"))?;
        let to =
            r.to.as_ref()
                .ok_or_else(|| errors::invalid_argument(&[("to", "required".into())]))
                .and_then(|t| instant(t, "to"))?;
        if to <= from {
            return Err(errors::invalid_argument(&[(
                "to",
                "must be after from".into(),
            )]));
        }
        let agent = match caller.role() {
            Role::Agent => Some(acting_agent(&caller, &r.agent_id)?),
            _ => Some(r.agent_id).filter(|a| !a.is_empty()),
        };
        let now = self.app.now();
        let response = self
            .app
            .read(&shop, |v| {
                metrics_pb(v, metrics::Window { from, to }, now, agent.as_deref())
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(response))
    }

    type WatchResponseMetricsStream = BoxStream<pb::WatchResponseMetricsResponse>;

    #[tracing::instrument(skip_all, fields(shop_id))]
    async fn watch_response_metrics(
        &self,
        request: Request<pb::WatchResponseMetricsRequest>,
    ) -> Result<Response<Self::WatchResponseMetricsStream>, Status> {
        let (_, shop) = self
            .authorize(
                &request,
                &request.get_ref().shop_id,
                MANAGERS_AND_PLATFORM,
                "watching response figures",
            )
            .await?;
        let bounds = StreamBounds::of(&request)?;
        let window_secs = match request.get_ref().window_secs {
            0 => DEFAULT_METRICS_WINDOW_SECS,
            s if (60..=86_400).contains(&s) => s,
            _ => {
                return Err(errors::invalid_argument(&[(
                    "window_secs",
                    "60 to 86400 seconds, or 0 for 3600".into(),
                )]))
            }
        };
        let app = self.app.clone();
        app.desk(&shop).await.map_err(to_status)?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let mut last: Option<pb::GetResponseMetricsResponse> = None;
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = every.tick() => {},
                    _ = tx.closed() => return,
                }
                let now = app.now();
                // Trailing and closed at now: a message at this very instant counts.
                let window = metrics::Window {
                    from: now - chrono::Duration::seconds(window_secs as i64),
                    to: now + chrono::Duration::nanoseconds(1),
                };
                let Ok(m) = app.read(&shop, |v| metrics_pb(v, window, now, None)).await else {
                    return;
                };
                let unchanged = last
                    .as_ref()
                    .is_some_and(|l| (&l.shop, &l.agents) == (&m.shop, &m.agents));
                if unchanged {
                    continue;
                }
                let message = pb::WatchResponseMetricsResponse {
                    shop: m.shop,
                    agents: m.agents.clone(),
                    response_target_secs: m.response_target_secs,
                    as_of: m.as_of,
                };
                last = Some(m);
                if tx.send(Ok(message)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(
            bounds.apply(tokio_stream::wrappers::ReceiverStream::new(rx)),
        ))
    }
}
