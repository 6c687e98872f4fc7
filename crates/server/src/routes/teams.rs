use crate::auth::Ctx;
use crate::dto::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, OptionalJson};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use switchboard_core::*;

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/teams", tag = "teams",
    responses((status = 200, body = ListOf<Team>)))]
pub async fn list_teams(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<ListOf<Team>>> {
    Ok(Json(ListOf { data: st.store.list_teams(ctx.ws()).await? }))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/teams", tag = "teams", request_body = TeamRequest,
    responses((status = 201, body = Team), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_team(State(st): State<AppState>, ctx: Ctx, ApiJson(req): ApiJson<TeamRequest>) -> ApiResult<(StatusCode, Json<Team>)> {
    ctx.require(Role::Admin)?;
    let name = validate::name("name", &req.name)?;
    Ok((StatusCode::CREATED, Json(st.store.create_team(ctx.ws(), &name, st.now()).await?)))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{workspace_id}/teams/{team_id}", tag = "teams", request_body = TeamPatchRequest,
    responses((status = 200, body = Team), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_team(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<TeamPatchRequest>,
) -> ApiResult<Json<Team>> {
    let team = TeamId(path.1);
    ctx.require(Role::Admin)?;
    // Check everything before writing anything.
    let name = req.name.as_deref().map(|n| validate::name("name", n)).transpose()?;
    if let Some(r) = &req.routing {
        r.check()?;
    }
    st.store.get_team(ctx.ws(), team).await?.ok_or(ApiError::NotFound)?;
    if let Some(routing) = req.routing {
        let written = st.store.set_team_routing(ctx.ws(), team, routing, st.now()).await?;
        st.publish(written.events);
    }
    if let Some(name) = name {
        st.store.rename_team(ctx.ws(), team, &name).await?;
    }
    Ok(Json(st.store.get_team(ctx.ws(), team).await?.ok_or(ApiError::NotFound)?))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/teams/{team_id}", tag = "teams",
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_team(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<StatusCode> {
    let (_, team) = path;
    ctx.require(Role::Admin)?;
    st.store.delete_team(ctx.ws(), TeamId(team)).await?;
    // Routers drop the team's queue (its conversations stay, unassigned).
    st.publish(vec![events::Event { workspace_id: ctx.ws(), scope: None, payload: events::EventPayload::RoutingChanged }]);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/v1/workspaces/{workspace_id}/teams/{team_id}/members/{user_id}", tag = "teams",
    request_body = TeamMemberRequest, responses((status = 200, body = Team), (status = 404, body = ErrorBody)))]
pub async fn put_member(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64, i64)>,
    OptionalJson(body): OptionalJson<TeamMemberRequest>,
) -> ApiResult<Json<Team>> {
    let (_, team, user) = path;
    ctx.require(Role::Admin)?;
    let req = body.unwrap_or_default();
    let capacity = req.capacity.unwrap_or(5);
    if !(1..=100).contains(&capacity) {
        return Err(ApiError::Validation("capacity: must be between 1 and 100".into()));
    }
    if req.priority.is_some_and(|p| !(-1000..=1000).contains(&p)) {
        return Err(ApiError::Validation("priority: must be between -1000 and 1000".into()));
    }
    if req.weight.is_some_and(|w| w > 1000) {
        return Err(ApiError::Validation("weight: must be between 0 and 1000".into()));
    }
    let settings = switchboard_store::TeamMemberSettings { capacity, priority: req.priority, weight: req.weight };
    let written = st.store.put_team_member(ctx.ws(), TeamId(team), UserId(user), settings, st.now()).await?;
    st.publish(written.events);
    Ok(Json(written.value))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/teams/{team_id}/members/{user_id}", tag = "teams",
    responses((status = 200, body = Team), (status = 404, body = ErrorBody)))]
pub async fn delete_member(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64, i64)>,
) -> ApiResult<Json<Team>> {
    let (_, team, user) = path;
    ctx.require(Role::Admin)?;
    let written = st.store.remove_team_member(ctx.ws(), TeamId(team), UserId(user), st.now()).await?;
    st.publish(written.events);
    Ok(Json(written.value))
}
