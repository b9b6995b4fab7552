//! R-CHAT-14 over gRPC: after-sale requests and order actions, each answered
//! with the conversation line it added.

use super::{to_status, ChatApi, GATEWAY};
use crate::domain::{AfterSaleKind, Command, OrderCard};
use sellerdesk_api::chat::v1 as pb;
use sellerdesk_runtime::{errors, wire::command_metadata, Role};
use tonic::{Request, Response, Status};

/// Runs `command` for the shop and answers with the line it added (or, for a
/// retry that added nothing, an empty line).
async fn run<T>(
    api: &ChatApi,
    request: &Request<T>,
    shop_id: &str,
    roles: &[Role],
    what: &str,
    command: impl FnOnce(&sellerdesk_runtime::Caller, crate::domain::Instant) -> Command,
) -> Result<Option<pb::ChatMessage>, Status> {
    let (caller, shop) = api.authorize(request, shop_id, roles, what).await?;
    let command = command(&caller, api.app.now());
    let events = api
        .app
        .execute(&shop, command, command_metadata(&caller))
        .await
        .map_err(to_status)?;
    Ok(events.first().and_then(|l| super::mapping::line_pb(l)))
}

pub(super) async fn file_after_sale(
    api: &ChatApi,
    request: Request<pb::FileAfterSaleRequest>,
) -> Result<Response<pb::FileAfterSaleResponse>, Status> {
    let r = request.get_ref().clone();
    let kind = match pb::AfterSaleKind::try_from(r.kind) {
        Ok(pb::AfterSaleKind::RefundOnly) => AfterSaleKind::RefundOnly,
        Ok(pb::AfterSaleKind::ReturnAndRefund) => AfterSaleKind::ReturnAndRefund,
        Ok(pb::AfterSaleKind::Exchange) => AfterSaleKind::Exchange,
        _ => {
            return Err(errors::invalid_argument(&[(
                "kind",
                "refund only, return and refund, or exchange".into(),
            )]))
        }
    };
    let message = run(
        api,
        &request,
        &r.shop_id,
        GATEWAY,
        "filing an after-sale request",
        |_, at| Command::FileAfterSale {
            conversation_id: r.conversation_id.clone(),
            request_id: r.request_id.clone(),
            order_id: r.order_id.clone(),
            kind,
            reason: r.reason.clone(),
            amount_fen: r.amount_fen,
            order_amount_fen: r.order_amount_fen,
            at,
        },
    )
    .await?;
    Ok(Response::new(pb::FileAfterSaleResponse { message }))
}

pub(super) async fn decide_after_sale(
    api: &ChatApi,
    request: Request<pb::DecideAfterSaleRequest>,
) -> Result<Response<pb::DecideAfterSaleResponse>, Status> {
    let r = request.get_ref().clone();
    let message = run(
        api,
        &request,
        &r.shop_id,
        &[Role::Agent],
        "deciding an after-sale request",
        |caller, at| Command::DecideAfterSale {
            conversation_id: r.conversation_id.clone(),
            request_id: r.request_id.clone(),
            agent_id: caller.account().to_owned(),
            approve: r.approve,
            reason: r.reason.clone(),
            at,
        },
    )
    .await?;
    Ok(Response::new(pb::DecideAfterSaleResponse { message }))
}

pub(super) async fn send_order_card(
    api: &ChatApi,
    request: Request<pb::SendOrderCardRequest>,
) -> Result<Response<pb::SendOrderCardResponse>, Status> {
    let r = request.get_ref().clone();
    let card = r.card.clone().unwrap_or_default();
    let message = run(
        api,
        &request,
        &r.shop_id,
        &[Role::Agent],
        "sending an order card",
        |caller, at| Command::SendOrderCard {
            conversation_id: r.conversation_id.clone(),
            agent_id: caller.account().to_owned(),
            card: OrderCard {
                order_id: card.order_id,
                title: card.title,
                price_fen: card.price_fen,
                status: card.status,
            },
            at,
        },
    )
    .await?;
    Ok(Response::new(pb::SendOrderCardResponse { message }))
}

pub(super) async fn mark_address_changed(
    api: &ChatApi,
    request: Request<pb::MarkAddressChangedRequest>,
) -> Result<Response<pb::MarkAddressChangedResponse>, Status> {
    let r = request.get_ref().clone();
    let message = run(
        api,
        &request,
        &r.shop_id,
        &[Role::Agent],
        "changing a shipping address",
        |caller, at| Command::MarkAddressChanged {
            conversation_id: r.conversation_id.clone(),
            agent_id: caller.account().to_owned(),
            order_id: r.order_id.clone(),
            at,
        },
    )
    .await?;
    Ok(Response::new(pb::MarkAddressChangedResponse { message }))
}

/// The shop's people: tags and notes are theirs.
const SHOP_PEOPLE: &[Role] = &[Role::Owner, Role::Admin, Role::Agent];

fn who(caller: &sellerdesk_runtime::Caller) -> String {
    match caller.role() {
        Role::Agent => caller.account().to_owned(),
        role => format!("{}:{}", role.as_str(), caller.account()),
    }
}

pub(super) async fn tag_conversation(
    api: &ChatApi,
    request: Request<pb::TagConversationRequest>,
) -> Result<Response<pb::TagConversationResponse>, Status> {
    let r = request.get_ref().clone();
    let (caller, shop) = api
        .authorize(&request, &r.shop_id, SHOP_PEOPLE, "tagging a conversation")
        .await?;
    let command = Command::TagConversation {
        conversation_id: r.conversation_id.clone(),
        tag: r.tag.clone(),
        add: !r.remove,
        by: who(&caller),
        at: api.app.now(),
    };
    let conversation = api
        .execute_then_view(&caller, &shop, command, &r.conversation_id)
        .await?;
    Ok(Response::new(pb::TagConversationResponse {
        conversation: Some(conversation),
    }))
}

pub(super) async fn add_note(
    api: &ChatApi,
    request: Request<pb::AddNoteRequest>,
) -> Result<Response<pb::AddNoteResponse>, Status> {
    let r = request.get_ref().clone();
    let note = run(
        api,
        &request,
        &r.shop_id,
        SHOP_PEOPLE,
        "writing a note",
        |caller, at| Command::AddNote {
            conversation_id: r.conversation_id.clone(),
            note_id: r.note_id.clone(),
            author: who(caller),
            text: r.text.clone(),
            at,
        },
    )
    .await?;
    Ok(Response::new(pb::AddNoteResponse { note }))
}
