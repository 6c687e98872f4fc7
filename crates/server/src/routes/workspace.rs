use crate::auth::{self, API_TOKEN_PREFIX, Ctx};
use crate::dto::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use switchboard_core::*;
use switchboard_store::{MemberPatch, StoreError};

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}", tag = "workspaces",
    responses((status = 200, body = Workspace), (status = 404, body = ErrorBody)))]
pub async fn get_workspace(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<Workspace>> {
    Ok(Json(st.store.get_workspace(ctx.ws()).await?.ok_or(ApiError::NotFound)?))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/users", tag = "users",
    responses((status = 200, body = ListOf<Member>)))]
pub async fn list_users(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<ListOf<Member>>> {
    Ok(Json(ListOf { data: st.store.list_members(ctx.ws()).await? }))
}

/// Adds a user to the workspace, creating the account if the email is new
/// (a password is then required).
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 201, body = Member), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_user(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<Member>)> {
    ctx.require(Role::Admin)?;
    let email = validate::email("email", &req.email)?;
    let now = st.now();
    let user = match st.store.find_credentials(&email).await? {
        Some(existing) => existing.user,
        None => {
            let password = req.password.as_deref().ok_or_else(|| ApiError::Validation("password: is required for a new account".into()))?;
            let (email, name) = super::auth::check_new_user(&email, &req.name, password)?;
            let hash = auth::hash_password(password).await?;
            st.store.create_user(&email, &name, &hash, now).await?
        }
    };
    let member = st.store.add_member(ctx.ws(), user.id, req.role, now).await?;
    Ok((StatusCode::CREATED, Json(member)))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{workspace_id}/users/{user_id}", tag = "users", request_body = UpdateUserRequest,
    responses((status = 200, body = Member), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_user(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<UpdateUserRequest>,
) -> ApiResult<Json<Member>> {
    let (_, user) = path;
    ctx.require(Role::Admin)?;
    let user = UserId(user);
    if user == ctx.user() && req.role.is_some_and(|r| r != Role::Admin) {
        return Err(ApiError::Conflict { code: "last_admin", message: "you cannot lower your own role".into() });
    }
    let name = req.name.as_deref().map(|n| validate::name("name", n)).transpose()?;
    if let Some(profile) = &req.routing {
        profile.check()?;
    }
    // A name belongs to the account, which may be in other workspaces too:
    // one workspace's admin must not rename someone in another.
    if name.is_some() && user != ctx.user() && st.store.user_workspaces(user).await?.len() > 1 {
        return Err(ApiError::Conflict {
            code: "shared_account",
            message: "this account belongs to other workspaces too; only its owner can change its name".into(),
        });
    }
    let mut member = st.store.update_member(ctx.ws(), user, MemberPatch { role: req.role, name }).await?;
    if let Some(profile) = req.routing {
        let written = st.store.set_member_routing(ctx.ws(), user, profile, st.now()).await?;
        member = written.value;
        st.publish(written.events);
    }
    st.publish(vec![events::Event {
        workspace_id: ctx.ws(),
        scope: None,
        payload: events::EventPayload::MembershipChanged { user_id: user },
    }]);
    Ok(Json(member))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/users/{user_id}", tag = "users",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_user(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<StatusCode> {
    let (_, user) = path;
    ctx.require(Role::Admin)?;
    if UserId(user) == ctx.user() {
        return Err(ApiError::Conflict { code: "last_admin", message: "you cannot remove yourself".into() });
    }
    let written = st.store.remove_member(ctx.ws(), UserId(user), st.now()).await?;
    st.publish(written.events);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/v1/workspaces/{workspace_id}/presence", tag = "users", request_body = PresenceRequest,
    responses((status = 200, body = PresenceView)))]
pub async fn set_presence(State(st): State<AppState>, ctx: Ctx, ApiJson(req): ApiJson<PresenceRequest>) -> ApiResult<Json<PresenceView>> {
    if req.status.is_set_by_voice() {
        return Err(ApiError::Validation("status: in_call and wrap_up are set by the phone system".into()));
    }
    let written = st.store.set_presence(ctx.ws(), ctx.user(), req.status, st.now()).await?;
    let v = PresenceView { user_id: written.value.user_id, status: written.value.status, since: written.value.since };
    st.publish(written.events);
    Ok(Json(v))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/api-tokens", tag = "users", request_body = ApiTokenRequest,
    responses((status = 201, body = ApiTokenCreated), (status = 403, body = ErrorBody)))]
pub async fn create_api_token(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<ApiTokenRequest>,
) -> ApiResult<(StatusCode, Json<ApiTokenCreated>)> {
    ctx.require(Role::Admin)?;
    let name = validate::name("name", &req.name)?;
    let token = auth::new_token(API_TOKEN_PREFIX);
    let id = st
        .store
        .create_api_token(ctx.ws(), ctx.user(), &name, &auth::token_hash(&token), st.now())
        .await
        .map_err(|e| match e {
            StoreError::Conflict { .. } => ApiError::Internal("token collision".into()),
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(ApiTokenCreated { id, name, token })))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/api-tokens", tag = "users",
    responses((status = 200, body = ListOf<ApiTokenInfo>), (status = 403, body = ErrorBody)))]
pub async fn list_api_tokens(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<ListOf<ApiTokenInfo>>> {
    ctx.require(Role::Admin)?;
    Ok(Json(ListOf { data: st.store.list_api_tokens(ctx.ws()).await? }))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/api-tokens/{token_id}", tag = "users",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_api_token(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<StatusCode> {
    let (_, id) = path;
    ctx.require(Role::Admin)?;
    let user_id = st.store.delete_api_token(ctx.ws(), ApiTokenId(id)).await?;
    st.publish(vec![events::Event { workspace_id: ctx.ws(), scope: None, payload: events::EventPayload::CredentialsRevoked { user_id } }]);
    Ok(StatusCode::NO_CONTENT)
}

/// The workspace's opening hours (defaults until an admin sets them).
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/business-hours", tag = "workspaces",
    responses((status = 200, body = business_hours::BusinessHours)))]
pub async fn get_business_hours(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<business_hours::BusinessHours>> {
    let hours = match st.store.get_business_hours(ctx.ws()).await? {
        Some(text) => serde_json::from_str(&text).map_err(|e| ApiError::Internal(format!("stored business hours: {e}")))?,
        None => business_hours::BusinessHours::default(),
    };
    Ok(Json(hours))
}

#[utoipa::path(put, path = "/api/v1/workspaces/{workspace_id}/business-hours", tag = "workspaces",
    request_body = business_hours::BusinessHours,
    responses((status = 200, body = business_hours::BusinessHours), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn put_business_hours(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiJson(hours): ApiJson<business_hours::BusinessHours>,
) -> ApiResult<Json<business_hours::BusinessHours>> {
    ctx.require(Role::Admin)?;
    hours.check()?;
    let text = serde_json::to_string(&hours).map_err(|e| ApiError::Internal(e.to_string()))?;
    st.store.set_business_hours(ctx.ws(), &text, st.now()).await?;
    Ok(Json(hours))
}

/// The live dashboard's numbers: waiting and active conversations per team
/// and channel, and each member's presence and load.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/stats/live", tag = "supervision",
    responses((status = 200, body = live::LiveStats), (status = 403, body = ErrorBody)))]
pub async fn live_stats(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<live::LiveStats>> {
    ctx.require(Role::Supervisor)?;
    Ok(Json(st.store.live_stats(ctx.ws()).await?))
}
