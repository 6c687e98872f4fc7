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

#[utoipa::path(patch, path = "/api/v1/workspaces/{workspace_id}/teams/{team_id}", tag = "teams", request_body = TeamRequest,
    responses((status = 200, body = Team), (status = 404, body = ErrorBody)))]
pub async fn update_team(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<TeamRequest>,
) -> ApiResult<Json<Team>> {
    let (_, team) = path;
    ctx.require(Role::Admin)?;
    let name = validate::name("name", &req.name)?;
    Ok(Json(st.store.rename_team(ctx.ws(), TeamId(team), &name).await?))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/teams/{team_id}", tag = "teams",
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_team(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<StatusCode> {
    let (_, team) = path;
    ctx.require(Role::Admin)?;
    st.store.delete_team(ctx.ws(), TeamId(team)).await?;
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
    let written = st.store.set_team_member(ctx.ws(), TeamId(team), UserId(user), capacity, st.now()).await?;
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
