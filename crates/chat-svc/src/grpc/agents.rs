//! Agents: accounts, roles, real-name check, status (R-CHAT-1..3).

use super::*;

pub(super) async fn add_agent(
    api: &ChatApi,
    request: Request<pb::AddAgentRequest>,
) -> Result<Response<pb::AddAgentResponse>, Status> {
    let (caller, shop) = api
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
    api.app
        .execute(&shop, command, command_metadata(&caller))
        .await
        .map_err(to_status)?;
    Ok(Response::new(pb::AddAgentResponse {
        agent: Some(api.agent_view(&shop, &r.agent_id).await?),
    }))
}

pub(super) async fn update_agent(
    api: &ChatApi,
    request: Request<pb::UpdateAgentRequest>,
) -> Result<Response<pb::UpdateAgentResponse>, Status> {
    let (caller, shop) = api
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
    api.app
        .execute(&shop, command, command_metadata(&caller))
        .await
        .map_err(to_status)?;
    Ok(Response::new(pb::UpdateAgentResponse {
        agent: Some(api.agent_view(&shop, &r.agent_id).await?),
    }))
}

pub(super) async fn verify_agent_real_name(
    api: &ChatApi,
    request: Request<pb::VerifyAgentRealNameRequest>,
) -> Result<Response<pb::VerifyAgentRealNameResponse>, Status> {
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            &[Role::Platform],
            "recording real-name verification",
        )
        .await?;
    let r = request.into_inner();
    api.app
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
        agent: Some(api.agent_view(&shop, &r.agent_id).await?),
    }))
}

pub(super) async fn remove_agent(
    api: &ChatApi,
    request: Request<pb::RemoveAgentRequest>,
) -> Result<Response<pb::RemoveAgentResponse>, Status> {
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            MANAGERS,
            "removing an agent",
        )
        .await?;
    let r = request.into_inner();
    let at = api.app.now();
    api.app
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

pub(super) async fn set_agent_status(
    api: &ChatApi,
    request: Request<pb::SetAgentStatusRequest>,
) -> Result<Response<pb::SetAgentStatusResponse>, Status> {
    let (caller, shop) = api
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
        at: api.app.now(),
    };
    api.app
        .execute(&shop, command, command_metadata(&caller))
        .await
        .map_err(to_status)?;
    Ok(Response::new(pb::SetAgentStatusResponse {
        agent: Some(api.agent_view(&shop, &agent_id).await?),
    }))
}

pub(super) async fn get_agent(
    api: &ChatApi,
    request: Request<pb::GetAgentRequest>,
) -> Result<Response<pb::GetAgentResponse>, Status> {
    let (_, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "reading an agent",
        )
        .await?;
    let agent = api.agent_view(&shop, &request.get_ref().agent_id).await?;
    Ok(Response::new(pb::GetAgentResponse { agent: Some(agent) }))
}

pub(super) async fn list_agents(
    api: &ChatApi,
    request: Request<pb::ListAgentsRequest>,
) -> Result<Response<pb::ListAgentsResponse>, Status> {
    let (_, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "listing agents",
        )
        .await?;
    let agents = api
        .app
        .read(&shop, |v| v.desk.agents.values().map(agent_pb).collect())
        .await
        .map_err(to_status)?;
    Ok(Response::new(pb::ListAgentsResponse { agents }))
}
