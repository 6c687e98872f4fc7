//! The call log (CDRs), missed calls, recordings, click-to-call and callback
//! requests (SPEC §3.6). Every member reads calls as `Viewer::can_see`
//! allows on the call's own team and agent (the same rule as the live
//! `call.*` events); writes here only record intent — the SIP engine does
//! the dialing.

use crate::auth::Ctx;
use crate::dto::Paginated;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, ClientIp};
use crate::routes::{PageQuery, next_cursor};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use switchboard_core::events::call_scope;
use switchboard_core::voice::{
    self, Call, CallDirection, CallDisposition, CallMedia, CallbackRequest, CallbackRequestStatus, CallbackSource, CallbackStatus,
};
use switchboard_core::*;
use switchboard_store::{CallFilter, NewCall, NewCallbackRequest};
use utoipa::{IntoParams, ToSchema};

/// A call this member may see, or 404 (also for another workspace's ids).
async fn visible_call(st: &AppState, ctx: &Ctx, id: i64) -> ApiResult<Call> {
    let call = st.store.get_call(ctx.ws(), CallId(id)).await?.ok_or(ApiError::NotFound)?;
    if !ctx.viewer.can_see(&call_scope(&call)) {
        return Err(ApiError::NotFound);
    }
    Ok(call)
}

fn parse_time(field: &str, raw: Option<&str>) -> ApiResult<Option<Timestamp>> {
    raw.map(|t| Timestamp::parse_rfc3339(t).ok_or_else(|| ApiError::BadRequest(format!("{field} must be an RFC 3339 time")))).transpose()
}

#[derive(Deserialize, IntoParams)]
pub struct CallQuery {
    /// `inbound` or `outbound`.
    pub direction: Option<String>,
    /// answered, abandoned, missed, voicemail, failed, busy, no_answer.
    pub disposition: Option<String>,
    /// An agent's user id, or `me`.
    pub agent: Option<String>,
    pub contact: Option<i64>,
    pub team: Option<i64>,
    /// Offered at or after (RFC 3339).
    pub from: Option<String>,
    /// Offered before (RFC 3339).
    pub to: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// The call log, newest first.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/calls", tag = "calls", params(CallQuery),
    responses((status = 200, body = Paginated<Call>), (status = 400, body = ErrorBody)))]
pub async fn list_calls(State(st): State<AppState>, ctx: Ctx, ApiQuery(q): ApiQuery<CallQuery>) -> ApiResult<Json<Paginated<Call>>> {
    let page = PageQuery { cursor: q.cursor.clone(), limit: q.limit }.page()?;
    let bad = |what: &str| ApiError::BadRequest(format!("unknown {what}"));
    let filter = CallFilter {
        direction: q.direction.as_deref().map(|d| CallDirection::parse(d).ok_or_else(|| bad("direction"))).transpose()?,
        disposition: q.disposition.as_deref().map(|d| CallDisposition::parse(d).ok_or_else(|| bad("disposition"))).transpose()?,
        agent: match q.agent.as_deref() {
            None => None,
            Some("me") => Some(ctx.user()),
            Some(id) => Some(UserId(id.parse().map_err(|_| bad("agent"))?)),
        },
        contact: q.contact.map(ContactId),
        team: q.team.map(TeamId),
        from: parse_time("from", q.from.as_deref())?,
        to: parse_time("to", q.to.as_deref())?,
    };
    let p = st.store.list_calls(&ctx.viewer, &filter, page).await?;
    Ok(Json(Paginated { data: p.items, next_cursor: next_cursor(p.next) }))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/calls/{call_id}", tag = "calls",
    responses((status = 200, body = Call), (status = 404, body = ErrorBody)))]
pub async fn get_call(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<Json<Call>> {
    let (_, id) = path;
    Ok(Json(visible_call(&st, &ctx, id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClickToCall {
    /// The customer to call (their phone is used unless `number` is given).
    pub contact_id: Option<ContactId>,
    /// An E.164 number to call.
    pub number: Option<String>,
    /// Our number to call from (the caller id shown to the customer).
    pub voice_number_id: VoiceNumberId,
}

/// Click-to-call: records an outbound call for the calling agent and
/// answers 202 — the call is **accepted for dialing**, not yet ringing.
/// The SIP engine rings the agent's phone, then the customer, and moves the
/// call on (`call.updated` / `call.ended` events).
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/calls", tag = "calls", request_body = ClickToCall,
    responses((status = 202, body = Call, description = "accepted for dialing"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn click_to_call(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<ClickToCall>,
) -> ApiResult<(StatusCode, Json<Call>)> {
    let number = req.number.as_deref().map(|n| voice::e164("number", n)).transpose()?;
    if number.is_none() && req.contact_id.is_none() {
        return Err(ApiError::Validation("contact_id or number is required".into()));
    }
    let new = NewCall {
        direction: CallDirection::Outbound,
        voice_number_id: req.voice_number_id,
        remote_number: number,
        contact_id: req.contact_id,
        agent_user_id: Some(ctx.user()),
        sip_call_id: None,
    };
    let written = st.store.create_call(ctx.ws(), new, st.now()).await?;
    st.publish(written.events);
    Ok((StatusCode::ACCEPTED, Json(written.value)))
}

#[derive(Deserialize, IntoParams)]
pub struct MissedQuery {
    /// pending (default), done, dismissed or all.
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Unanswered inbound calls (abandoned, missed, voicemail), newest first,
/// waiting for a callback unless `status` says otherwise.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/calls/missed", tag = "calls", params(MissedQuery),
    responses((status = 200, body = Paginated<Call>), (status = 400, body = ErrorBody)))]
pub async fn missed_calls(State(st): State<AppState>, ctx: Ctx, ApiQuery(q): ApiQuery<MissedQuery>) -> ApiResult<Json<Paginated<Call>>> {
    let page = PageQuery { cursor: q.cursor.clone(), limit: q.limit }.page()?;
    let status = match q.status.as_deref().unwrap_or("pending") {
        "all" => None,
        s => Some(CallbackStatus::parse(s).ok_or_else(|| ApiError::BadRequest("unknown status".into()))?),
    };
    let p = st.store.missed_calls(&ctx.viewer, status, page).await?;
    Ok(Json(Paginated { data: p.items, next_cursor: next_cursor(p.next) }))
}

/// Takes a missed call off the callback list.
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/calls/missed/{call_id}/dismiss", tag = "calls",
    responses((status = 200, body = Call), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "not_a_missed_call")))]
pub async fn dismiss_missed(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<Json<Call>> {
    let (_, id) = path;
    let call = visible_call(&st, &ctx, id).await?;
    let written = st.store.set_callback_status(ctx.ws(), call.id, CallbackStatus::Dismissed, st.now()).await?;
    st.publish(written.events);
    Ok(Json(written.value))
}

async fn media(st: &AppState, ctx: &Ctx, id: i64, kind: CallMedia, headers: &HeaderMap) -> ApiResult<Response> {
    let call = visible_call(st, ctx, id).await?;
    let file = st.store.call_media_file(ctx.ws(), call.id, kind).await?.ok_or(ApiError::NotFound)?;
    // Our own WAV files: audio plays inline; anything else downloads.
    let audio = file.content_type.starts_with("audio/");
    let mut resp = super::files::ranged(file.data, headers);
    let served = resp.status() != StatusCode::RANGE_NOT_SATISFIABLE;
    let h = resp.headers_mut();
    if served {
        let ct = if audio { file.content_type.as_str() } else { "application/octet-stream" };
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap_or(HeaderValue::from_static("application/octet-stream")));
        let disposition =
            format!("{}; filename=\"{}\"", if audio { "inline" } else { "attachment" }, file.filename.replace(['"', '\\'], "_"));
        if let Ok(v) = HeaderValue::from_str(&disposition) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    Ok(resp)
}

/// The call's recording (WAV). Supports `Range: bytes=…` (206 with
/// `Content-Range`; 416 when no byte is in range) so players can seek.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/calls/{call_id}/recording", tag = "calls",
    responses((status = 200, content_type = "audio/wav", body = Vec<u8>), (status = 206, content_type = "audio/wav", body = Vec<u8>),
              (status = 404, body = ErrorBody), (status = 416, body = ErrorBody)))]
pub async fn recording(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    ApiPath(path): ApiPath<(i64, i64)>,
) -> ApiResult<Response> {
    let (_, id) = path;
    media(&st, &ctx, id, CallMedia::Recording, &headers).await
}

/// The voicemail the caller left (WAV); `Range` as for recordings.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/calls/{call_id}/voicemail", tag = "calls",
    responses((status = 200, content_type = "audio/wav", body = Vec<u8>), (status = 206, content_type = "audio/wav", body = Vec<u8>),
              (status = 404, body = ErrorBody), (status = 416, body = ErrorBody)))]
pub async fn voicemail(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    ApiPath(path): ApiPath<(i64, i64)>,
) -> ApiResult<Response> {
    let (_, id) = path;
    media(&st, &ctx, id, CallMedia::Voicemail, &headers).await
}

#[derive(Deserialize, IntoParams)]
pub struct CallbackQuery {
    /// pending, dialing, done or failed (default: all).
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Callback requests (website button, queued callers), newest first.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/calls/callback-requests", tag = "calls", params(CallbackQuery),
    responses((status = 200, body = Paginated<CallbackRequest>), (status = 400, body = ErrorBody)))]
pub async fn callback_requests(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiQuery(q): ApiQuery<CallbackQuery>,
) -> ApiResult<Json<Paginated<CallbackRequest>>> {
    let page = PageQuery { cursor: q.cursor.clone(), limit: q.limit }.page()?;
    let status = q
        .status
        .as_deref()
        .map(|s| CallbackRequestStatus::parse(s).ok_or_else(|| ApiError::BadRequest("unknown status".into())))
        .transpose()?;
    let p = st.store.list_callback_requests(ctx.ws(), status, page).await?;
    Ok(Json(Paginated { data: p.items, next_cursor: next_cursor(p.next) }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetCallbackRequest {
    pub website_token: String,
    /// The visitor's number in international form (+380…); spaces and
    /// dashes are allowed.
    pub phone: String,
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WidgetCallbackAccepted {
    pub id: CallbackRequestId,
    pub status: CallbackRequestStatus,
}

/// The website's "call me back" button (public, rate-limited per client
/// like the other widget endpoints). It records the request with the
/// widget's inbox and announces it (`callback.requested`); the SIP engine
/// then rings a free agent of the inbox's team and dials the visitor.
#[utoipa::path(post, path = "/api/v1/widget/callback-request", tag = "widget", request_body = WidgetCallbackRequest,
    responses((status = 202, body = WidgetCallbackAccepted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
pub async fn widget_callback(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<WidgetCallbackRequest>,
) -> ApiResult<(StatusCode, Json<WidgetCallbackAccepted>)> {
    super::widget::rate_limit(&st, &ip)?;
    let inbox = st
        .store
        .find_inbox_by_website_token(req.website_token.trim())
        .await?
        .filter(|i| i.channel == Channel::Webchat)
        .ok_or(ApiError::NotFound)?;
    super::widget::check_origin(&inbox, &headers)?;
    let phone = voice::e164("phone", &validate::phone("phone", &req.phone)?)?;
    let name = req.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(|n| validate::name("name", n)).transpose()?;
    let new = NewCallbackRequest { phone, name, source: CallbackSource::Website, call_id: None, inbox_id: Some(inbox.id) };
    let written = st.store.create_callback_request(inbox.workspace_id, new, st.now()).await?;
    st.publish(written.events);
    Ok((StatusCode::ACCEPTED, Json(WidgetCallbackAccepted { id: written.value.id, status: written.value.status })))
}
