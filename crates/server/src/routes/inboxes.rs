use crate::auth::{self, Ctx};
use crate::dto::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::Json;
use switchboard_core::*;
use switchboard_store::{InboxPatch, NewInbox};

/// The origin clients reached us at, for URLs shown to admins.
pub fn public_base(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let proto = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    format!("{proto}://{host}")
}

pub fn view(inbox: &Inbox, base: &str) -> InboxView {
    let widget_snippet = inbox.website_token.as_ref().map(|t| {
        format!("<script src=\"{base}/widget.js\" data-token=\"{t}\" async></script>")
    });
    InboxView {
        id: inbox.id,
        name: inbox.name.clone(),
        channel: inbox.channel,
        config: inbox.public_config(),
        website_token: inbox.website_token.clone(),
        webhook_url: format!("{base}/webhooks/{}/{}", inbox.channel, inbox.id),
        widget_snippet,
        created_at: inbox.created_at,
    }
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/inboxes", tag = "inboxes",
    responses((status = 200, body = ListOf<InboxView>)))]
pub async fn list_inboxes(State(st): State<AppState>, ctx: Ctx, headers: HeaderMap) -> ApiResult<Json<ListOf<InboxView>>> {
    let base = public_base(&headers);
    let list = st.store.list_inboxes(ctx.ws()).await?;
    Ok(Json(ListOf { data: list.iter().map(|i| view(i, &base)).collect() }))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/inboxes", tag = "inboxes", request_body = CreateInboxRequest,
    responses((status = 201, body = InboxView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_inbox(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateInboxRequest>,
) -> ApiResult<(StatusCode, Json<InboxView>)> {
    ctx.require(Role::Admin)?;
    let name = validate::name("name", &req.name)?;
    inbox_config::check(req.channel, &req.config, false)?;
    let website_token = (req.channel == Channel::Webchat).then(|| auth::random_secret()[..24].to_owned());
    let new = NewInbox { name, channel: req.channel, config: req.config, website_token };
    let inbox = if req.channel == Channel::Voice {
        // The listed numbers become `voice_numbers` rows in the same
        // transaction (the config key then mirrors them; see inbox_config).
        let numbers = voice_numbers(&new.config)?;
        st.store.create_voice_inbox(ctx.ws(), new, numbers, st.now()).await?
    } else {
        st.store.create_inbox(ctx.ws(), new, st.now()).await?
    };
    Ok((StatusCode::CREATED, Json(view(&inbox, &public_base(&headers)))))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/inboxes/{inbox_id}", tag = "inboxes",
    responses((status = 200, body = InboxView), (status = 404, body = ErrorBody)))]
pub async fn get_inbox(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    ApiPath(path): ApiPath<(i64, i64)>,
) -> ApiResult<Json<InboxView>> {
    let (_, id) = path;
    let inbox = st.store.get_inbox(ctx.ws(), InboxId(id)).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(view(&inbox, &public_base(&headers))))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{workspace_id}/inboxes/{inbox_id}", tag = "inboxes", request_body = UpdateInboxRequest,
    responses((status = 200, body = InboxView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_inbox(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<UpdateInboxRequest>,
) -> ApiResult<Json<InboxView>> {
    let (_, id) = path;
    ctx.require(Role::Admin)?;
    let existing = st.store.get_inbox(ctx.ws(), InboxId(id)).await?.ok_or(ApiError::NotFound)?;
    let name = req.name.as_deref().map(|n| validate::name("name", n)).transpose()?;
    if let Some(config) = &req.config {
        inbox_config::check(existing.channel, config, true)?;
        if existing.channel == Channel::Voice && config.contains_key("numbers") {
            return Err(ApiError::Validation("config: numbers are managed with /voice/numbers".into()));
        }
    }
    let inbox = st.store.update_inbox(ctx.ws(), InboxId(id), InboxPatch { name, config: req.config }).await?;
    Ok(Json(view(&inbox, &public_base(&headers))))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/inboxes/{inbox_id}", tag = "inboxes",
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_inbox(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<StatusCode> {
    let (_, id) = path;
    ctx.require(Role::Admin)?;
    st.store.delete_inbox(ctx.ws(), InboxId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The E.164 numbers listed in a new voice inbox's config.
fn voice_numbers(config: &serde_json::Map<String, serde_json::Value>) -> ApiResult<Vec<String>> {
    let Some(list) = config.get("numbers").and_then(|v| v.as_array()) else { return Ok(Vec::new()) };
    let mut out = Vec::with_capacity(list.len());
    for v in list {
        let n = switchboard_core::voice::e164("numbers", v.as_str().unwrap_or_default())?;
        if out.contains(&n) {
            return Err(ApiError::Validation(format!("numbers: {n} is listed twice")));
        }
        out.push(n);
    }
    Ok(out)
}
