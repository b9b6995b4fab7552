//! Service hours (R-CHAT-9) and desk settings.

use super::*;

pub(super) async fn set_service_hours(
    api: &ChatApi,
    request: Request<pb::SetServiceHoursRequest>,
) -> Result<Response<pb::SetServiceHoursResponse>, Status> {
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            MANAGERS,
            "setting service hours",
        )
        .await?;
    let hours = hours_from_pb(request.into_inner().hours)?;
    api.app
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

pub(super) async fn get_service_hours(
    api: &ChatApi,
    request: Request<pb::GetServiceHoursRequest>,
) -> Result<Response<pb::GetServiceHoursResponse>, Status> {
    let (_, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "reading service hours",
        )
        .await?;
    let now = api.app.now();
    let response = api
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

pub(super) async fn get_desk_settings(
    api: &ChatApi,
    request: Request<pb::GetDeskSettingsRequest>,
) -> Result<Response<pb::GetDeskSettingsResponse>, Status> {
    let (_, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "reading desk settings",
        )
        .await?;
    let settings = api
        .app
        .read(&shop, |v| settings_pb(&v.desk.settings))
        .await
        .map_err(to_status)?;
    Ok(Response::new(pb::GetDeskSettingsResponse {
        settings: Some(settings),
        max_agents: api.app.limits().max_agents as u32,
    }))
}

pub(super) async fn update_desk_settings(
    api: &ChatApi,
    request: Request<pb::UpdateDeskSettingsRequest>,
) -> Result<Response<pb::UpdateDeskSettingsResponse>, Status> {
    let (caller, shop) = api
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
    api.app
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
