//! Tags and templates (canned replies): the workspace's shared vocabulary.

use crate::auth::Ctx;
use crate::dto::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use switchboard_core::*;

const MAX_TEMPLATE_CHARS: usize = 5000;

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/tags", tag = "library", responses((status = 200, body = ListOf<Tag>)))]
pub async fn list_tags(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<ListOf<Tag>>> {
    Ok(Json(ListOf { data: st.store.list_tags(ctx.ws()).await? }))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/tags", tag = "library", request_body = CreateTagRequest,
    responses((status = 201, body = Tag), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_tag(State(st): State<AppState>, ctx: Ctx, ApiJson(req): ApiJson<CreateTagRequest>) -> ApiResult<(StatusCode, Json<Tag>)> {
    ctx.require(Role::Supervisor)?;
    let name = validate::tag(&req.name)?;
    let color = match req.color.as_deref() {
        Some(c) => validate::color(c)?,
        None => "#64748b".to_owned(),
    };
    Ok((StatusCode::CREATED, Json(st.store.create_tag(ctx.ws(), &name, &color).await?)))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/tags/{tag_id}", tag = "library",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_tag(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<StatusCode> {
    let (_, id) = path;
    ctx.require(Role::Supervisor)?;
    st.store.delete_tag(ctx.ws(), TagId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/templates", tag = "library", responses((status = 200, body = ListOf<Template>)))]
pub async fn list_templates(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<ListOf<Template>>> {
    Ok(Json(ListOf { data: st.store.list_templates(ctx.ws()).await? }))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/templates", tag = "library", request_body = TemplateRequest,
    responses((status = 201, body = Template), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_template(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<TemplateRequest>,
) -> ApiResult<(StatusCode, Json<Template>)> {
    ctx.require(Role::Supervisor)?;
    let name = validate::name("name", req.name.as_deref().unwrap_or(""))?;
    let content = validate::text("content", req.content.as_deref().unwrap_or(""), MAX_TEMPLATE_CHARS)?;
    Ok((StatusCode::CREATED, Json(st.store.create_template(ctx.ws(), &name, &content, st.now()).await?)))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{workspace_id}/templates/{template_id}", tag = "library", request_body = TemplateRequest,
    responses((status = 200, body = Template), (status = 404, body = ErrorBody)))]
pub async fn update_template(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<TemplateRequest>,
) -> ApiResult<Json<Template>> {
    let (_, id) = path;
    ctx.require(Role::Supervisor)?;
    let name = req.name.as_deref().map(|n| validate::name("name", n)).transpose()?;
    let content = req.content.as_deref().map(|c| validate::text("content", c, MAX_TEMPLATE_CHARS)).transpose()?;
    if name.is_none() && content.is_none() {
        return Err(ApiError::Validation("nothing to change: give name and/or content".into()));
    }
    Ok(Json(st.store.update_template(ctx.ws(), TemplateId(id), name.as_deref(), content.as_deref()).await?))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/templates/{template_id}", tag = "library",
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_template(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<StatusCode> {
    let (_, id) = path;
    ctx.require(Role::Supervisor)?;
    st.store.delete_template(ctx.ws(), TemplateId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
