//! R-CHAT-13 and R-CHAT-15: the buyer's side, through the platform's buyer
//! gateway: the conversation as a live stream, read receipts, and a message
//! left for later.

use super::*;

pub(super) async fn watch_conversation(
    api: &ChatApi,
    request: Request<pb::WatchConversationRequest>,
) -> Result<Response<BoxStream<pb::WatchConversationResponse>>, Status> {
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            GATEWAY,
            "watching a conversation for its buyer",
        )
        .await?;
    let bounds = StreamBounds::of(&request)?;
    let r = request.into_inner();
    check_required("conversation_id", &r.conversation_id)?;
    if r.after_position > i64::MAX as u64 {
        return Err(errors::invalid_argument(&[(
            "after_position",
            "too large".into(),
        )]));
    }
    // An unknown conversation is NOT_FOUND, and watching it creates nothing.
    api.conversation_view(&caller, &shop, &r.conversation_id, &[])
        .await?;
    let items = api
        .app
        .buyer_side(&shop, r.conversation_id, r.after_position as i64)
        .await
        .map_err(to_status)?;
    Ok(Response::new(bounds.apply(items.filter_map(
        |item| async move {
            match item {
                Ok(l) => buyer_item_pb(&l).map(Ok),
                Err(e) => Some(Err(to_status(e))),
            }
        },
    ))))
}

pub(super) async fn mark_read(
    api: &ChatApi,
    request: Request<pb::MarkReadRequest>,
) -> Result<Response<pb::MarkReadResponse>, Status> {
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            &[Role::Platform, Role::Agent],
            "marking a conversation read",
        )
        .await?;
    let r = request.into_inner();
    check_required("conversation_id", &r.conversation_id)?;
    // The gateway reads for the buyer; an agent for itself.
    let reader = match caller.role() {
        Role::Agent => Reader::Agent(caller.account().to_owned()),
        _ => Reader::Buyer,
    };
    let command = Command::MarkRead {
        conversation_id: r.conversation_id.clone(),
        reader,
        up_to_position: i64::try_from(r.up_to_position).unwrap_or(i64::MAX),
        at: api.app.now(),
    };
    let conversation = api
        .execute_then_view(&caller, &shop, command, &r.conversation_id)
        .await?;
    Ok(Response::new(pb::MarkReadResponse {
        conversation: Some(conversation),
    }))
}

pub(super) async fn leave_message(
    api: &ChatApi,
    request: Request<pb::LeaveMessageRequest>,
) -> Result<Response<pb::LeaveMessageResponse>, Status> {
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            GATEWAY,
            "leaving a message for the buyer",
        )
        .await?;
    let r = request.into_inner();
    let command = Command::LeaveMessage {
        conversation_id: r.conversation_id.clone(),
        message_id: r.message_id,
        text: r.text,
        at: api.app.now(),
    };
    let events = api
        .app
        .execute(&shop, command, command_metadata(&caller))
        .await
        .map_err(to_status)?;
    let replies = events
        .iter()
        .filter(|l| matches!(l.event, Event::BuyerNotified { .. }))
        .filter_map(|l| line_pb(l))
        .collect();
    Ok(Response::new(pb::LeaveMessageResponse {
        conversation: Some(
            api.conversation_view(&caller, &shop, &r.conversation_id, &events)
                .await?,
        ),
        replies,
    }))
}
