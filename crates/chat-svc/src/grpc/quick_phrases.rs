//! Quick phrases (R-CHAT-10).

use super::*;

pub(super) async fn create_quick_phrase(
    api: &ChatApi,
    request: Request<pb::CreateQuickPhraseRequest>,
) -> Result<Response<pb::CreateQuickPhraseResponse>, Status> {
    let (caller, shop) = api
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
    api.app
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

pub(super) async fn update_quick_phrase(
    api: &ChatApi,
    request: Request<pb::UpdateQuickPhraseRequest>,
) -> Result<Response<pb::UpdateQuickPhraseResponse>, Status> {
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            MANAGERS,
            "changing a quick phrase",
        )
        .await?;
    let phrase = phrase_from_pb(request.into_inner().phrase)?;
    check_required("phrase.phrase_id", &phrase.phrase_id)?;
    api.app
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

pub(super) async fn delete_quick_phrase(
    api: &ChatApi,
    request: Request<pb::DeleteQuickPhraseRequest>,
) -> Result<Response<pb::DeleteQuickPhraseResponse>, Status> {
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            MANAGERS,
            "deleting a quick phrase",
        )
        .await?;
    let phrase_id = request.into_inner().phrase_id;
    api.app
        .execute(
            &shop,
            Command::DeleteQuickPhrase { phrase_id },
            command_metadata(&caller),
        )
        .await
        .map_err(to_status)?;
    Ok(Response::new(pb::DeleteQuickPhraseResponse {}))
}

pub(super) async fn list_quick_phrases(
    api: &ChatApi,
    request: Request<pb::ListQuickPhrasesRequest>,
) -> Result<Response<pb::ListQuickPhrasesResponse>, Status> {
    let (_, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "listing quick phrases",
        )
        .await?;
    let phrases = api
        .app
        .read(&shop, |v| v.desk.phrases.values().map(phrase_pb).collect())
        .await
        .map_err(to_status)?;
    Ok(Response::new(pb::ListQuickPhrasesResponse { phrases }))
}

pub(super) async fn render_quick_phrase(
    api: &ChatApi,
    request: Request<pb::RenderQuickPhraseRequest>,
) -> Result<Response<pb::RenderQuickPhraseResponse>, Status> {
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "rendering a quick phrase",
        )
        .await?;
    let r = request.into_inner();
    let text = api
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
