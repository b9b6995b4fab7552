//! The public API (`sellerdesk.chat.v1`) mapped onto [`Chat`]. Permissions
//! live here: the platform's buyer gateway speaks for buyers, agents act as
//! themselves (their token's account is their agent id), owner and admin
//! manage the desk (R-CHAT-3), another shop sees nothing (R-X-1).

use crate::{
    app::{Chat, Logged, View},
    domain::{
        metrics, phrases, Agent, AgentStatus, AssignmentRule, Attachment, BuyerNotice, ChatDesk,
        Command, Conversation, ConversationStatus, DayHours, DeskSettings, Event, Permissions,
        QuickPhrase, Reader, ServiceHours, ServiceRole, SpecialDay, TimeRange, Topic,
    },
};
use futures::{Stream, StreamExt};
use sellerdesk_api::chat::v1 as pb;
use sellerdesk_runtime::page::{Cursor, Page};
use sellerdesk_runtime::{
    errors,
    wire::{authorize, command_metadata, instant, timestamp, StreamBounds, ANY_ROLE, MANAGERS},
    Caller, Role,
};
use std::{pin::Pin, sync::Arc, time::Duration};
use tonic::{Request, Response, Status};

mod aftersale;
mod agents;
mod buyer;
mod conversations;
mod figures;
mod hours;
mod inbox;
mod mapping;
mod quick_phrases;

use mapping::*;

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
        self.authorize_with(request, shop_id, roles, action, AgentCheck::OnTheHead)
            .await
    }

    /// As [`Self::authorize`], with the agent's account checked `check`.
    /// `ByTheCommand` is for a command whose decision itself refuses an
    /// agent who is not on the desk (decided on the stream's head, R-X-4),
    /// with [`not_an_agent`] mapping that refusal: it keeps the reply path
    /// to one write and no read.
    async fn authorize_with<T>(
        &self,
        request: &Request<T>,
        shop_id: &str,
        roles: &[Role],
        action: &str,
        check: AgentCheck,
    ) -> Result<(Caller, String), Status> {
        let (caller, shop) = authorize(request, shop_id, roles, action)?;
        if caller.role() == Role::Agent {
            let on_desk = |v: &View| v.desk.agents.contains_key(caller.account());
            // An agent this replica's view shows goes on to the command; one
            // it does not show may have been added elsewhere: read the head.
            let is_agent = match check {
                AgentCheck::ByTheCommand
                    if self.app.peek(&shop, on_desk).await.map_err(to_status)? =>
                {
                    true
                }
                _ => self.app.read(&shop, on_desk).await.map_err(to_status)?,
            };
            if !is_agent {
                return Err(Status::unauthenticated(NOT_AN_AGENT));
            }
        }
        Ok((caller, shop))
    }
}

/// Where an agent token's account is checked against the desk.
#[derive(Clone, Copy)]
enum AgentCheck {
    /// Here, on the view caught up to the stream's head.
    OnTheHead,
    /// By the command's own decision; here only on this replica's view.
    ByTheCommand,
}

/// The refusal of a command by an agent the desk no longer has, as
/// [`ChatApi::authorize`] answers it; any other error as usual.
fn not_an_agent(caller: &Caller, e: sellerdesk_runtime::errors::AppError) -> Status {
    match &e {
        sellerdesk_runtime::errors::AppError::Domain(sellerdesk_core::Refusal::NotFound {
            kind: "agent",
            id,
        }) if caller.role() == Role::Agent && id == caller.account() => {
            Status::unauthenticated(NOT_AN_AGENT)
        }
        _ => to_status(e),
    }
}

const NOT_AN_AGENT: &str =
    "the token's account is not an agent of this shop (removed, or never added)";

use sellerdesk_runtime::errors::to_status;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

impl ChatApi {
    async fn agent_view(&self, shop: &str, agent_id: &str) -> Result<pb::Agent, Status> {
        self.app
            .read(shop, |v| v.desk.agents.get(agent_id).map(agent_pb))
            .await
            .map_err(to_status)?
            .ok_or_else(|| errors::not_found("agent", agent_id))
    }

    /// Runs a command on a conversation and answers with the conversation
    /// as `caller` sees it afterwards.
    async fn execute_then_view(
        &self,
        caller: &Caller,
        shop: &str,
        command: Command,
        conversation_id: &str,
    ) -> Result<pb::Conversation, Status> {
        let committed = self
            .app
            .execute(shop, command, command_metadata(caller))
            .await
            .map_err(to_status)?;
        self.conversation_view(caller, shop, conversation_id, &committed)
            .await
    }

    /// A conversation as `caller` may see it, after what this request
    /// `committed` (none: a plain read, caught up with other replicas).
    async fn conversation_view(
        &self,
        caller: &Caller,
        shop: &str,
        id: &str,
        committed: &[Arc<Logged>],
    ) -> Result<pb::Conversation, Status> {
        let now = self.app.now();
        self.app
            .read_after_commit(shop, committed, |v| {
                v.desk
                    .conversation(id)
                    .map(|c| conversation_pb(&v.desk, c, now, caller.role()))
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
    type WatchInboxStream = BoxStream<pb::WatchInboxResponse>;
    type WatchConversationStream = BoxStream<pb::WatchConversationResponse>;
    type WatchResponseMetricsStream = BoxStream<pb::WatchResponseMetricsResponse>;

    async fn add_agent(
        &self,
        request: Request<pb::AddAgentRequest>,
    ) -> Result<Response<pb::AddAgentResponse>, Status> {
        agents::add_agent(self, request).await
    }

    async fn update_agent(
        &self,
        request: Request<pb::UpdateAgentRequest>,
    ) -> Result<Response<pb::UpdateAgentResponse>, Status> {
        agents::update_agent(self, request).await
    }

    async fn verify_agent_real_name(
        &self,
        request: Request<pb::VerifyAgentRealNameRequest>,
    ) -> Result<Response<pb::VerifyAgentRealNameResponse>, Status> {
        agents::verify_agent_real_name(self, request).await
    }

    async fn remove_agent(
        &self,
        request: Request<pb::RemoveAgentRequest>,
    ) -> Result<Response<pb::RemoveAgentResponse>, Status> {
        agents::remove_agent(self, request).await
    }

    async fn set_agent_status(
        &self,
        request: Request<pb::SetAgentStatusRequest>,
    ) -> Result<Response<pb::SetAgentStatusResponse>, Status> {
        agents::set_agent_status(self, request).await
    }

    async fn get_agent(
        &self,
        request: Request<pb::GetAgentRequest>,
    ) -> Result<Response<pb::GetAgentResponse>, Status> {
        agents::get_agent(self, request).await
    }

    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        agents::list_agents(self, request).await
    }

    async fn open_conversation(
        &self,
        request: Request<pb::OpenConversationRequest>,
    ) -> Result<Response<pb::OpenConversationResponse>, Status> {
        conversations::open_conversation(self, request).await
    }

    async fn send_buyer_message(
        &self,
        request: Request<pb::SendBuyerMessageRequest>,
    ) -> Result<Response<pb::SendBuyerMessageResponse>, Status> {
        conversations::send_buyer_message(self, request).await
    }

    async fn tap_card(
        &self,
        request: Request<pb::TapCardRequest>,
    ) -> Result<Response<pb::TapCardResponse>, Status> {
        conversations::tap_card(self, request).await
    }

    async fn send_agent_reply(
        &self,
        request: Request<pb::SendAgentReplyRequest>,
    ) -> Result<Response<pb::SendAgentReplyResponse>, Status> {
        conversations::send_agent_reply(self, request).await
    }

    async fn file_after_sale(
        &self,
        request: Request<pb::FileAfterSaleRequest>,
    ) -> Result<Response<pb::FileAfterSaleResponse>, Status> {
        aftersale::file_after_sale(self, request).await
    }

    async fn decide_after_sale(
        &self,
        request: Request<pb::DecideAfterSaleRequest>,
    ) -> Result<Response<pb::DecideAfterSaleResponse>, Status> {
        aftersale::decide_after_sale(self, request).await
    }

    async fn send_order_card(
        &self,
        request: Request<pb::SendOrderCardRequest>,
    ) -> Result<Response<pb::SendOrderCardResponse>, Status> {
        aftersale::send_order_card(self, request).await
    }

    async fn mark_address_changed(
        &self,
        request: Request<pb::MarkAddressChangedRequest>,
    ) -> Result<Response<pb::MarkAddressChangedResponse>, Status> {
        aftersale::mark_address_changed(self, request).await
    }

    async fn tag_conversation(
        &self,
        request: Request<pb::TagConversationRequest>,
    ) -> Result<Response<pb::TagConversationResponse>, Status> {
        aftersale::tag_conversation(self, request).await
    }

    async fn add_note(
        &self,
        request: Request<pb::AddNoteRequest>,
    ) -> Result<Response<pb::AddNoteResponse>, Status> {
        aftersale::add_note(self, request).await
    }

    async fn transfer_conversation(
        &self,
        request: Request<pb::TransferConversationRequest>,
    ) -> Result<Response<pb::TransferConversationResponse>, Status> {
        conversations::transfer_conversation(self, request).await
    }

    async fn close_conversation(
        &self,
        request: Request<pb::CloseConversationRequest>,
    ) -> Result<Response<pb::CloseConversationResponse>, Status> {
        conversations::close_conversation(self, request).await
    }

    async fn rate_conversation(
        &self,
        request: Request<pb::RateConversationRequest>,
    ) -> Result<Response<pb::RateConversationResponse>, Status> {
        conversations::rate_conversation(self, request).await
    }

    async fn get_conversation(
        &self,
        request: Request<pb::GetConversationRequest>,
    ) -> Result<Response<pb::GetConversationResponse>, Status> {
        conversations::get_conversation(self, request).await
    }

    async fn list_conversations(
        &self,
        request: Request<pb::ListConversationsRequest>,
    ) -> Result<Response<pb::ListConversationsResponse>, Status> {
        conversations::list_conversations(self, request).await
    }

    async fn search_conversations(
        &self,
        request: Request<pb::SearchConversationsRequest>,
    ) -> Result<Response<pb::SearchConversationsResponse>, Status> {
        conversations::search_conversations(self, request).await
    }

    async fn watch_inbox(
        &self,
        request: Request<pb::WatchInboxRequest>,
    ) -> Result<Response<Self::WatchInboxStream>, Status> {
        inbox::watch_inbox(self, request).await
    }

    async fn watch_conversation(
        &self,
        request: Request<pb::WatchConversationRequest>,
    ) -> Result<Response<Self::WatchConversationStream>, Status> {
        buyer::watch_conversation(self, request).await
    }

    async fn mark_read(
        &self,
        request: Request<pb::MarkReadRequest>,
    ) -> Result<Response<pb::MarkReadResponse>, Status> {
        buyer::mark_read(self, request).await
    }

    async fn leave_message(
        &self,
        request: Request<pb::LeaveMessageRequest>,
    ) -> Result<Response<pb::LeaveMessageResponse>, Status> {
        buyer::leave_message(self, request).await
    }

    async fn set_service_hours(
        &self,
        request: Request<pb::SetServiceHoursRequest>,
    ) -> Result<Response<pb::SetServiceHoursResponse>, Status> {
        hours::set_service_hours(self, request).await
    }

    async fn get_service_hours(
        &self,
        request: Request<pb::GetServiceHoursRequest>,
    ) -> Result<Response<pb::GetServiceHoursResponse>, Status> {
        hours::get_service_hours(self, request).await
    }

    async fn get_desk_settings(
        &self,
        request: Request<pb::GetDeskSettingsRequest>,
    ) -> Result<Response<pb::GetDeskSettingsResponse>, Status> {
        hours::get_desk_settings(self, request).await
    }

    async fn update_desk_settings(
        &self,
        request: Request<pb::UpdateDeskSettingsRequest>,
    ) -> Result<Response<pb::UpdateDeskSettingsResponse>, Status> {
        hours::update_desk_settings(self, request).await
    }

    async fn create_quick_phrase(
        &self,
        request: Request<pb::CreateQuickPhraseRequest>,
    ) -> Result<Response<pb::CreateQuickPhraseResponse>, Status> {
        quick_phrases::create_quick_phrase(self, request).await
    }

    async fn update_quick_phrase(
        &self,
        request: Request<pb::UpdateQuickPhraseRequest>,
    ) -> Result<Response<pb::UpdateQuickPhraseResponse>, Status> {
        quick_phrases::update_quick_phrase(self, request).await
    }

    async fn delete_quick_phrase(
        &self,
        request: Request<pb::DeleteQuickPhraseRequest>,
    ) -> Result<Response<pb::DeleteQuickPhraseResponse>, Status> {
        quick_phrases::delete_quick_phrase(self, request).await
    }

    async fn list_quick_phrases(
        &self,
        request: Request<pb::ListQuickPhrasesRequest>,
    ) -> Result<Response<pb::ListQuickPhrasesResponse>, Status> {
        quick_phrases::list_quick_phrases(self, request).await
    }

    async fn render_quick_phrase(
        &self,
        request: Request<pb::RenderQuickPhraseRequest>,
    ) -> Result<Response<pb::RenderQuickPhraseResponse>, Status> {
        quick_phrases::render_quick_phrase(self, request).await
    }

    async fn get_response_metrics(
        &self,
        request: Request<pb::GetResponseMetricsRequest>,
    ) -> Result<Response<pb::GetResponseMetricsResponse>, Status> {
        figures::get_response_metrics(self, request).await
    }

    async fn watch_response_metrics(
        &self,
        request: Request<pb::WatchResponseMetricsRequest>,
    ) -> Result<Response<Self::WatchResponseMetricsStream>, Status> {
        figures::watch_response_metrics(self, request).await
    }
}
