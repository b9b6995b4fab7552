//! Quick phrases (R-CHAT-10): the shop's, kept by owner and admin, and
//! (issue 18) each agent's own, kept by that agent.

use super::*;

/// Who may keep the phrase a request names: the calling agent for its own
/// (`personal`), owner and admin for the shop's.
fn keepers(personal: bool) -> &'static [Role] {
    if personal {
        &[Role::Agent]
    } else {
        MANAGERS
    }
}

fn owner_of(caller: &Caller, personal: bool) -> Option<&str> {
    personal.then(|| caller.account())
}

pub(super) async fn create_quick_phrase(
    api: &ChatApi,
    request: Request<pb::CreateQuickPhraseRequest>,
) -> Result<Response<pb::CreateQuickPhraseResponse>, Status> {
    let personal = request.get_ref().personal;
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            keepers(personal),
            "creating a quick phrase",
        )
        .await?;
    let mut phrase = phrase_from_pb(request.into_inner().phrase, owner_of(&caller, personal))?;
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
    let personal = request.get_ref().personal;
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            keepers(personal),
            "changing a quick phrase",
        )
        .await?;
    let phrase = phrase_from_pb(request.into_inner().phrase, owner_of(&caller, personal))?;
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
    let personal = request.get_ref().personal;
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            keepers(personal),
            "deleting a quick phrase",
        )
        .await?;
    let phrase_id = request.into_inner().phrase_id;
    let agent_id = owner_of(&caller, personal).map(str::to_owned);
    api.app
        .execute(
            &shop,
            Command::DeleteQuickPhrase {
                phrase_id,
                agent_id,
            },
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
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "listing quick phrases",
        )
        .await?;
    let phrases = api
        .app
        .read(&shop, |v| {
            let own = v
                .desk
                .agents
                .get(caller.account())
                .filter(|_| caller.role() == Role::Agent)
                .into_iter()
                .flat_map(|a| a.phrases.values());
            v.desk.phrases.values().chain(own).map(phrase_pb).collect()
        })
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
            // The agent's own phrase first, then the shop's.
            let own = v
                .desk
                .agents
                .get(caller.account())
                .filter(|_| caller.role() == Role::Agent)
                .and_then(|a| a.phrases.get(&r.phrase_id));
            let p = own
                .or_else(|| v.desk.phrases.get(&r.phrase_id))
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
