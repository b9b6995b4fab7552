//! Conversations: the buyer gateway opens them and speaks for buyers (robot first, R-CHAT-6..8); agents reply, transfer, close.

use super::*;

pub(super) async fn open_conversation(
    api: &ChatApi,
    request: Request<pb::OpenConversationRequest>,
) -> Result<Response<pb::OpenConversationResponse>, Status> {
    let (caller, shop) = api
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
    let greeting = api.app.robot().greeting(&caller, &shop).await;
    let command = Command::OpenConversation {
        conversation_id: r.conversation_id.clone(),
        buyer_id: r.buyer_id,
        buyer_name: r.buyer_name,
        order_id: Some(r.order_id).filter(|o| !o.is_empty()),
        topic,
        greeting,
        at: api.app.now(),
    };
    let committed = api
        .app
        .execute(&shop, command, command_metadata(&caller))
        .await
        .map_err(to_status)?;
    let now = api.app.now();
    let conversation = api
        .app
        .read(&shop, |v| {
            v.desk
                .conversation(&r.conversation_id)
                .map(|c| conversation_pb(&v.desk, c, now, caller.role()))
        })
        .await
        .map_err(to_status)?;
    // A repeated open of one that left the desk: as the read model has it.
    let conversation = match conversation {
        Some(c) => Some(c),
        None => api
            .app
            .conversation(&shop, &r.conversation_id)
            .await
            .map_err(to_status)?
            .map(|c| conversation_pb(&ChatDesk::default(), &c, now, caller.role())),
    };
    // The greeting as first sent, also for a repeated open (which committed
    // nothing: the greeting is then read back from the conversation's lines).
    let greeting = |lines: &[Arc<Logged>]| -> Vec<pb::ChatMessage> {
        lines
            .iter()
            .find(|l| {
                matches!(
                    l.event,
                    Event::BuyerNotified {
                        notice: BuyerNotice::Greeting { .. },
                        ..
                    }
                )
            })
            .and_then(|l| line_pb(l))
            .into_iter()
            .collect()
    };
    let replies = if committed.is_empty() {
        let (lines, _) = api
            .app
            .lines(&shop, &r.conversation_id, 0)
            .await
            .map_err(to_status)?;
        greeting(&lines)
    } else {
        greeting(&committed)
    };
    Ok(Response::new(pb::OpenConversationResponse {
        conversation,
        replies,
    }))
}

pub(super) async fn send_buyer_message(
    api: &ChatApi,
    request: Request<pb::SendBuyerMessageRequest>,
) -> Result<Response<pb::SendBuyerMessageResponse>, Status> {
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            GATEWAY,
            "relaying a buyer message",
        )
        .await?;
    let r = request.into_inner();
    let attachment = attachment_from_pb(r.attachment)?;
    let (events, robot_available) = api
        .app
        .receive_buyer_message(
            &caller,
            &shop,
            crate::app::BuyerMessage {
                conversation_id: r.conversation_id.clone(),
                message_id: r.message_id,
                text: r.text,
                attachment,
            },
            command_metadata(&caller),
        )
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
        conversation: Some(
            api.conversation_view(&caller, &shop, &r.conversation_id, &events)
                .await?,
        ),
        replies,
        robot_available,
    }))
}

pub(super) async fn tap_card(
    api: &ChatApi,
    request: Request<pb::TapCardRequest>,
) -> Result<Response<pb::TapCardResponse>, Status> {
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            GATEWAY,
            "relaying a card tap",
        )
        .await?;
    let r = request.into_inner();
    check_required("entry_id", &r.entry_id)?;
    api.conversation_view(&caller, &shop, &r.conversation_id, &[])
        .await?;
    let answer = api
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
        at: api.app.now(),
    };
    let events = api
        .app
        .execute(&shop, command, command_metadata(&caller))
        .await
        .map_err(to_status)?;
    Ok(Response::new(pb::TapCardResponse {
        reply: events.first().and_then(|l| line_pb(l)),
    }))
}

pub(super) async fn send_agent_reply(
    api: &ChatApi,
    request: Request<pb::SendAgentReplyRequest>,
) -> Result<Response<pb::SendAgentReplyResponse>, Status> {
    let (caller, shop) = api
        .authorize_with(
            &request,
            &request.get_ref().shop_id,
            &[Role::Agent],
            "replying to a buyer",
            AgentCheck::ByTheCommand,
        )
        .await?;
    let r = request.into_inner();
    let command = Command::SendAgentReply {
        conversation_id: r.conversation_id.clone(),
        agent_id: caller.account().to_owned(),
        message_id: r.message_id.clone(),
        text: r.text,
        attachment: attachment_from_pb(r.attachment)?,
        at: api.app.now(),
    };
    let events = api
        .app
        .execute(&shop, command, command_metadata(&caller))
        .await
        .map_err(|e| not_an_agent(&caller, e))?;
    let message = match events.first() {
        Some(l) => line_pb(l),
        // A retry: the reply as first recorded.
        None => {
            let (lines, _) = api
                .app
                .lines(&shop, &r.conversation_id, 0)
                .await
                .map_err(to_status)?;
            lines
                .iter()
                .find(|l| matches!(&l.event, Event::AgentReplied { message_id, .. } if *message_id == r.message_id))
                .and_then(|l| line_pb(l))
        }
    };
    Ok(Response::new(pb::SendAgentReplyResponse { message }))
}

pub(super) async fn transfer_conversation(
    api: &ChatApi,
    request: Request<pb::TransferConversationRequest>,
) -> Result<Response<pb::TransferConversationResponse>, Status> {
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            &[Role::Owner, Role::Admin, Role::Agent],
            "transferring a conversation",
        )
        .await?;
    let r = request.into_inner();
    check_required("to_agent_id", &r.to_agent_id)?;
    api.check_handles(&caller, &shop, &r.conversation_id)
        .await?;
    let command = Command::Transfer {
        conversation_id: r.conversation_id.clone(),
        to_agent: r.to_agent_id,
        by: format!("{}:{}", caller.role().as_str(), caller.account()),
        at: api.app.now(),
    };
    let conversation = api
        .execute_then_view(&caller, &shop, command, &r.conversation_id)
        .await?;
    Ok(Response::new(pb::TransferConversationResponse {
        conversation: Some(conversation),
    }))
}

pub(super) async fn close_conversation(
    api: &ChatApi,
    request: Request<pb::CloseConversationRequest>,
) -> Result<Response<pb::CloseConversationResponse>, Status> {
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "closing a conversation",
        )
        .await?;
    let r = request.into_inner();
    api.check_handles(&caller, &shop, &r.conversation_id)
        .await?;
    let command = Command::Close {
        conversation_id: r.conversation_id.clone(),
        by: format!("{}:{}", caller.role().as_str(), caller.account()),
        at: api.app.now(),
    };
    let conversation = api
        .execute_then_view(&caller, &shop, command, &r.conversation_id)
        .await?;
    Ok(Response::new(pb::CloseConversationResponse {
        conversation: Some(conversation),
    }))
}

pub(super) async fn rate_conversation(
    api: &ChatApi,
    request: Request<pb::RateConversationRequest>,
) -> Result<Response<pb::RateConversationResponse>, Status> {
    let (caller, shop) = api
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
        at: api.app.now(),
    };
    let conversation = api
        .execute_then_view(&caller, &shop, command, &r.conversation_id)
        .await?;
    Ok(Response::new(pb::RateConversationResponse {
        conversation: Some(conversation),
    }))
}

pub(super) async fn get_conversation(
    api: &ChatApi,
    request: Request<pb::GetConversationRequest>,
) -> Result<Response<pb::GetConversationResponse>, Status> {
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "reading a conversation",
        )
        .await?;
    // Private notes are the shop's: the platform (the buyer's side) never
    // reads them.
    let notes = caller.role() != Role::Platform;
    let id = request.into_inner().conversation_id;
    let now = api.app.now();
    let conversation = api
        .app
        .read(&shop, |v| {
            v.desk
                .conversation(&id)
                .map(|c| conversation_pb(&v.desk, c, now, caller.role()))
        })
        .await
        .map_err(to_status)?;
    // One that left the desk (closed over a week ago) is in the read model.
    let conversation = match conversation {
        Some(c) => c,
        None => api
            .app
            .conversation(&shop, &id)
            .await
            .map_err(to_status)?
            .map(|c| conversation_pb(&ChatDesk::default(), &c, now, caller.role()))
            .ok_or_else(|| errors::not_found("conversation", &id))?,
    };
    // The lines come from the read model and the log, not from memory.
    let (lines, _) = api.app.lines(&shop, &id, 0).await.map_err(to_status)?;
    Ok(Response::new(pb::GetConversationResponse {
        conversation: Some(conversation),
        transcript: lines
            .iter()
            .filter_map(|l| line_pb(l))
            .filter(|m| notes || !m.private_note)
            .collect(),
        assignments: lines.iter().filter_map(|l| assignment_pb(l)).collect(),
    }))
}

pub(super) async fn list_conversations(
    api: &ChatApi,
    request: Request<pb::ListConversationsRequest>,
) -> Result<Response<pb::ListConversationsResponse>, Status> {
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "listing conversations",
        )
        .await?;
    let r = request.into_inner();
    let page = Page::of(r.page.as_ref())?;
    let after = page.after_key()?.to_owned();
    let status = match pb::ConversationStatus::try_from(r.status) {
        Ok(pb::ConversationStatus::Open) => Some(ConversationStatus::Open),
        Ok(pb::ConversationStatus::Closed) => Some(ConversationStatus::Closed),
        _ => None,
    };
    let now = api.app.now();
    let (conversations, next) = api
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
                .filter(|c| !r.left_message_only || c.left_message_at.is_some())
                .filter(|c| r.tag.is_empty() || c.tags.contains(r.tag.trim()))
                .collect();
            matching.sort_by(|a, b| a.conversation_id.cmp(&b.conversation_id));
            let next = page.trim(&mut matching, |c| Cursor::After(c.conversation_id.clone()));
            (
                matching
                    .iter()
                    .map(|c| conversation_pb(&v.desk, c, now, caller.role()))
                    .collect(),
                next,
            )
        })
        .await
        .map_err(to_status)?;
    Ok(Response::new(pb::ListConversationsResponse {
        conversations,
        page: next,
    }))
}

/// Issue 15 item 4: conversations found in the read model, newest first.
pub(super) async fn search_conversations(
    api: &ChatApi,
    request: Request<pb::SearchConversationsRequest>,
) -> Result<Response<pb::SearchConversationsResponse>, Status> {
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "searching conversations",
        )
        .await?;
    let r = request.into_inner();
    let page = Page::of(r.page.as_ref())?;
    let mut bad: Vec<(String, String)> = Vec::new();
    let id = |field: &str, v: String, max: usize, bad: &mut Vec<(String, String)>| {
        if v.len() > max || v.chars().any(char::is_control) {
            bad.push((
                field.into(),
                format!("at most {max} bytes, no control characters"),
            ));
        }
        Some(v).filter(|v| !v.is_empty())
    };
    let buyer_id = id("buyer_id", r.buyer_id, 128, &mut bad);
    let order_id = id("order_id", r.order_id, 64, &mut bad);
    let agent_id = id("agent_id", r.agent_id, 64, &mut bad);
    let text = r.text.trim().to_owned();
    if text.chars().count() > 100 || text.chars().any(char::is_control) {
        bad.push((
            "text".into(),
            "at most 100 characters, no control characters".into(),
        ));
    }
    let status = match pb::ConversationStatus::try_from(r.status) {
        Ok(pb::ConversationStatus::Open) => Some(ConversationStatus::Open),
        Ok(pb::ConversationStatus::Closed) => Some(ConversationStatus::Closed),
        Ok(pb::ConversationStatus::Unspecified) => None,
        Err(_) => {
            bad.push(("status".into(), "unspecified, open or closed".into()));
            None
        }
    };
    let mut window = |field: &str, t: Option<&prost_types::Timestamp>| {
        t.and_then(|t| match instant(t, field) {
            Ok(t) => Some(t.timestamp_millis()),
            Err(_) => {
                bad.push((field.into(), "not a valid timestamp".into()));
                None
            }
        })
    };
    let opened_from = window("opened_from", r.opened_from.as_ref());
    let opened_before = window("opened_before", r.opened_before.as_ref());
    if let (Some(from), Some(before)) = (opened_from, opened_before) {
        if before <= from {
            bad.push(("opened_before".into(), "must be after opened_from".into()));
        }
    }
    // The page continues after the last conversation's opening and id.
    let after = page.after_instant()?;
    if !bad.is_empty() {
        let fields: Vec<(&str, String)> =
            bad.iter().map(|(f, m)| (f.as_str(), m.clone())).collect();
        return Err(errors::invalid_argument(&fields));
    }
    let search = crate::archive::Search {
        buyer_id,
        order_id,
        agent_id,
        status,
        opened_from,
        opened_before,
        text: Some(text).filter(|t| !t.is_empty()),
        after,
        limit: page.read_ahead(),
    };
    let mut found = crate::archive::search(&**api.app.store(), &shop, &search)
        .await
        .map_err(|e| to_status(e.into()))?;
    let next = page.trim(&mut found, |last| {
        let c = &last.conversation;
        Cursor::after_instant(c.opened_at.timestamp_millis(), &c.conversation_id)
    });
    let now = api.app.now();
    let role = caller.role();
    // An open conversation is shown as the desk has it now (its queue place,
    // whether a message may be left); a closed one as the read model has it.
    let any_open = found
        .iter()
        .any(|f| f.conversation.status == ConversationStatus::Open);
    let conversations = if any_open {
        api.app
            .read(&shop, |v| {
                found
                    .iter()
                    .map(|f| {
                        let c = v.desk.conversation(&f.conversation.conversation_id);
                        conversation_pb(&v.desk, c.unwrap_or(&f.conversation), now, role)
                    })
                    .collect()
            })
            .await
            .map_err(to_status)?
    } else {
        let empty = ChatDesk::default();
        found
            .iter()
            .map(|f| conversation_pb(&empty, &f.conversation, now, role))
            .collect()
    };
    Ok(Response::new(pb::SearchConversationsResponse {
        conversations,
        page: next,
    }))
}
