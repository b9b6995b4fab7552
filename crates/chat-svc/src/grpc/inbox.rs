//! An agent's live inbox, resumable by position.

use super::*;

pub(super) async fn watch_inbox(
    api: &ChatApi,
    request: Request<pb::WatchInboxRequest>,
) -> Result<Response<BoxStream<pb::WatchInboxResponse>>, Status> {
    let (caller, shop) = api
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
    let exists = api
        .app
        .read(&shop, |v| v.desk.agents.contains_key(&agent))
        .await
        .map_err(to_status)?;
    if !exists {
        return Err(errors::not_found("agent", &agent));
    }
    let items = api
        .app
        .inbox(&shop, agent.clone(), r.after_position as i64)
        .await
        .map_err(to_status)?;
    let app = api.app.clone();
    Ok(Response::new(bounds.apply(items.then(move |item| {
        let (app, shop, agent) = (app.clone(), shop.clone(), agent.clone());
        async move {
            let l = item.map_err(to_status)?;
            let mut response = inbox_pb(&agent, &l);
            if matches!(
                response.item,
                Some(pb::watch_inbox_response::Item::Assigned(_))
            ) {
                let (lines, _) = app
                    .lines(&shop, &response.conversation_id, 0)
                    .await
                    .map_err(to_status)?;
                response.history = history_before(&lines, l.position);
            }
            Ok(response)
        }
    }))))
}
