//! Team business hours, the workspace's automation settings (SLA policy and
//! idle auto-resolve) and a conversation's SLA clocks (SPEC §3.4).

use crate::auth::Ctx;
use crate::automation_hooks;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use switchboard_core::business_hours::BusinessHours;
use switchboard_core::sla::{self, AutomationSettings, SlaKind, SlaPolicy, SlaTarget};
use switchboard_core::*;
use utoipa::ToSchema;

/// A team's hours: its own (`null` when it follows the workspace's) and the
/// ones in effect for its conversations.
#[derive(Serialize, ToSchema)]
pub struct TeamBusinessHours {
    pub team_id: TeamId,
    pub business_hours: Option<BusinessHours>,
    pub effective: BusinessHours,
}

async fn team_hours_view(st: &AppState, ws: WorkspaceId, team: TeamId) -> ApiResult<TeamBusinessHours> {
    let own = st.store.get_team_business_hours(ws, team).await?;
    let own: Option<BusinessHours> = own
        .map(|text| serde_json::from_str(&text).map_err(|e| ApiError::Internal(format!("stored team business hours: {e}"))))
        .transpose()?;
    let effective = match &own {
        Some(h) => h.clone(),
        None => automation_hooks::effective_hours(st, ws, None).await?.unwrap_or_default(),
    };
    Ok(TeamBusinessHours { team_id: team, business_hours: own, effective })
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/teams/{team_id}/business-hours", tag = "teams",
    responses((status = 200, body = TeamBusinessHours), (status = 404, body = ErrorBody)))]
pub async fn get_team_hours(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<Json<TeamBusinessHours>> {
    let (_, team) = path;
    Ok(Json(team_hours_view(&st, ctx.ws(), TeamId(team)).await?))
}

/// Sets the team's own hours; `null` makes it follow the workspace's again.
#[utoipa::path(put, path = "/api/v1/workspaces/{workspace_id}/teams/{team_id}/business-hours", tag = "teams",
    request_body(content = Option<BusinessHours>, description = "the team's hours, or null for the workspace's"),
    responses((status = 200, body = TeamBusinessHours), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn put_team_hours(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiJson(hours): ApiJson<Option<BusinessHours>>,
) -> ApiResult<Json<TeamBusinessHours>> {
    let (_, team) = path;
    ctx.require(Role::Admin)?;
    let text = match &hours {
        Some(h) => {
            h.check()?;
            Some(serde_json::to_string(h).map_err(|e| ApiError::Internal(e.to_string()))?)
        }
        None => None,
    };
    st.store.set_team_business_hours(ctx.ws(), TeamId(team), text, st.now()).await?;
    Ok(Json(team_hours_view(&st, ctx.ws(), TeamId(team)).await?))
}

/// Makes the team follow the workspace's hours again.
#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/teams/{team_id}/business-hours", tag = "teams",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_team_hours(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<StatusCode> {
    let (_, team) = path;
    ctx.require(Role::Admin)?;
    st.store.set_team_business_hours(ctx.ws(), TeamId(team), None, st.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The SLA policy and the idle auto-resolve threshold (all off until set).
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/automation-settings", tag = "workspaces",
    responses((status = 200, body = AutomationSettings), (status = 403, body = ErrorBody)))]
pub async fn get_settings(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<AutomationSettings>> {
    ctx.require(Role::Supervisor)?;
    let text = st.store.get_automation_settings(ctx.ws()).await?;
    let settings = match text {
        Some(text) => serde_json::from_str(&text).map_err(|e| ApiError::Internal(format!("stored automation settings: {e}")))?,
        None => AutomationSettings::default(),
    };
    Ok(Json(settings))
}

#[utoipa::path(put, path = "/api/v1/workspaces/{workspace_id}/automation-settings", tag = "workspaces",
    request_body = AutomationSettings,
    responses((status = 200, body = AutomationSettings), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn put_settings(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiJson(settings): ApiJson<AutomationSettings>,
) -> ApiResult<Json<AutomationSettings>> {
    ctx.require(Role::Admin)?;
    settings.check()?;
    let text = serde_json::to_string(&settings).map_err(|e| ApiError::Internal(e.to_string()))?;
    st.store.set_automation_settings(ctx.ws(), &text, st.now()).await?;
    Ok(Json(settings))
}

#[derive(Serialize, ToSchema)]
pub struct SlaBreachView {
    pub kind: SlaKind,
    pub due_at: Timestamp,
    pub breached_at: Timestamp,
}

/// A conversation's SLA clocks under the current policy, and the breaches
/// recorded so far.
#[derive(Serialize, ToSchema)]
pub struct ConversationSla {
    pub conversation_id: ConversationId,
    pub policy: SlaPolicy,
    pub targets: Vec<SlaTarget>,
    pub breaches: Vec<SlaBreachView>,
}

/// Due times and breaches of one conversation; anyone who may see the
/// conversation may see its clocks.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/sla", tag = "conversations",
    responses((status = 200, body = ConversationSla), (status = 404, body = ErrorBody)))]
pub async fn conversation_sla(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<Json<ConversationSla>> {
    let (_, id) = path;
    let conv = super::conversations::visible(&st, &ctx, id).await?;
    let policy = automation_hooks::load_settings(&st, ctx.ws()).await?.sla;
    let hours = if policy.business_hours_only { automation_hooks::effective_hours(&st, ctx.ws(), conv.team_id).await? } else { None };
    let targets = sla::targets(&policy, hours.as_ref(), &conv, st.now());
    let breaches = st
        .store
        .list_sla_breaches(ctx.ws(), conv.id)
        .await?
        .into_iter()
        .filter_map(|b| Some(SlaBreachView { kind: SlaKind::parse(&b.kind)?, due_at: b.due_at, breached_at: b.breached_at }))
        .collect();
    Ok(Json(ConversationSla { conversation_id: conv.id, policy, targets, breaches }))
}
