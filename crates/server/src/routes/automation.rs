//! Automation rules and their run log (SPEC §3.4). Supervisors read, admins
//! write. A rule is checked twice before it is stored: its shape by
//! `core::automation` and every id it names against this workspace, so a
//! rule can never act on another workspace's team, user or template.

use crate::auth::Ctx;
use crate::dto::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::{next_cursor, PageQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::automation::{Action, AutomationRule, Condition, Rule, RuleRun, Trigger};
use switchboard_core::*;
use utoipa::ToSchema;

/// A partial update: fields left out keep their value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulePatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub trigger: Option<Trigger>,
    pub conditions: Option<Vec<Condition>>,
    pub actions: Option<Vec<Action>>,
    /// Lower runs first.
    pub position: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookSigningKey {
    /// `X-Switchboard-Signature: sha256=<hex HMAC-SHA256(key, raw body)>`.
    pub key: String,
}

/// Validates the rule and that every id it names belongs to this workspace.
async fn checked(st: &AppState, ws: WorkspaceId, rule: Rule) -> ApiResult<Rule> {
    let rule = rule.checked()?;
    for (i, action) in rule.actions.iter().enumerate() {
        let missing = match action {
            Action::AssignTeam { team_id } => {
                st.store.get_team(ws, *team_id).await?.is_none().then(|| format!("team {team_id} is not a team of this workspace"))
            }
            Action::AssignAgent { user_id } => st
                .store
                .get_member(ws, *user_id)
                .await?
                .is_none()
                .then(|| format!("user {user_id} is not a member of this workspace")),
            Action::SendTemplate { template_id } => st
                .store
                .get_template(ws, *template_id)
                .await?
                .is_none()
                .then(|| format!("template {template_id} is not a template of this workspace")),
            _ => None,
        };
        if let Some(problem) = missing {
            return Err(ApiError::Validation(format!("actions: [{i}]: {problem}")));
        }
    }
    Ok(rule)
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/rules", tag = "automation",
    responses((status = 200, body = ListOf<AutomationRule>), (status = 403, body = ErrorBody)))]
pub async fn list_rules(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<ListOf<AutomationRule>>> {
    ctx.require(Role::Supervisor)?;
    Ok(Json(ListOf { data: st.store.list_rules(ctx.ws()).await? }))
}

/// Adds a rule after the existing ones.
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/rules", tag = "automation", request_body = Rule,
    responses((status = 201, body = AutomationRule), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_rule(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiJson(rule): ApiJson<Rule>,
) -> ApiResult<(StatusCode, Json<AutomationRule>)> {
    ctx.require(Role::Admin)?;
    let rule = checked(&st, ctx.ws(), rule).await?;
    Ok((StatusCode::CREATED, Json(st.store.create_rule(ctx.ws(), rule, st.now()).await?)))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/rules/{rule_id}", tag = "automation",
    responses((status = 200, body = AutomationRule), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_rule(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<Json<AutomationRule>> {
    let (_, id) = path;
    ctx.require(Role::Supervisor)?;
    Ok(Json(st.store.get_rule(ctx.ws(), RuleId(id)).await?.ok_or(ApiError::NotFound)?))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{workspace_id}/rules/{rule_id}", tag = "automation", request_body = RulePatch,
    responses((status = 200, body = AutomationRule), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn update_rule(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiJson(patch): ApiJson<RulePatch>,
) -> ApiResult<Json<AutomationRule>> {
    let (_, id) = path;
    ctx.require(Role::Admin)?;
    let id = RuleId(id);
    let mut rule = st.store.get_rule(ctx.ws(), id).await?.ok_or(ApiError::NotFound)?.rule;
    if let Some(name) = patch.name {
        rule.name = name;
    }
    if let Some(enabled) = patch.enabled {
        rule.enabled = enabled;
    }
    if let Some(trigger) = patch.trigger {
        rule.trigger = trigger;
    }
    if let Some(conditions) = patch.conditions {
        rule.conditions = conditions;
    }
    if let Some(actions) = patch.actions {
        rule.actions = actions;
    }
    if patch.position.is_some_and(|p| !(0..=1_000_000).contains(&p)) {
        return Err(ApiError::Validation("position: must be between 0 and 1000000".into()));
    }
    let rule = checked(&st, ctx.ws(), rule).await?;
    Ok(Json(st.store.update_rule(ctx.ws(), id, rule, patch.position, st.now()).await?))
}

/// Deletes the rule; its runs stay in the log.
#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/rules/{rule_id}", tag = "automation",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_rule(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<StatusCode> {
    let (_, id) = path;
    ctx.require(Role::Admin)?;
    st.store.delete_rule(ctx.ws(), RuleId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One rule's runs, newest first.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/rules/{rule_id}/runs", tag = "automation", params(PageQuery),
    responses((status = 200, body = Paginated<RuleRun>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_rule_runs(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Paginated<RuleRun>>> {
    let (_, id) = path;
    ctx.require(Role::Supervisor)?;
    let page = q.page()?;
    let rule = st.store.get_rule(ctx.ws(), RuleId(id)).await?.ok_or(ApiError::NotFound)?;
    let p = st.store.list_rule_runs(ctx.ws(), Some(rule.id), page).await?;
    Ok(Json(Paginated { data: p.items, next_cursor: next_cursor(p.next) }))
}

/// Every rule's runs (including deleted rules'), newest first.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/rule_runs", tag = "automation", params(PageQuery),
    responses((status = 200, body = Paginated<RuleRun>), (status = 403, body = ErrorBody)))]
pub async fn list_all_runs(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Paginated<RuleRun>>> {
    ctx.require(Role::Supervisor)?;
    let p = st.store.list_rule_runs(ctx.ws(), None, q.page()?).await?;
    Ok(Json(Paginated { data: p.items, next_cursor: next_cursor(p.next) }))
}

/// The key `send_webhook` signs with, for receivers to verify.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/webhook-signing-key", tag = "automation",
    responses((status = 200, body = WebhookSigningKey), (status = 403, body = ErrorBody)))]
pub async fn webhook_signing_key(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<WebhookSigningKey>> {
    ctx.require(Role::Admin)?;
    let secret = st.signing_secret(ctx.ws()).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(WebhookSigningKey { key: switchboard_channels::webhook::signing_key(&secret) }))
}
