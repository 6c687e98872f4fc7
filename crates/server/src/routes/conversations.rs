use crate::auth::Ctx;
use crate::dto::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::{next_cursor, PageQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use std::sync::atomic::Ordering;
use switchboard_core::events::ConversationScope;
use switchboard_core::*;
use switchboard_store::{AssigneeFilter, Claim, ConversationFilter, ConversationPatch, OutboundMessage};

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ConversationQuery {
    pub status: Option<String>,
    /// `me`, `none` or a user id.
    pub assignee: Option<String>,
    pub team: Option<i64>,
    pub inbox: Option<i64>,
    /// webchat, whatsapp, telegram, …
    pub channel: Option<String>,
    pub tag: Option<String>,
    /// Part of the contact's name, email or phone.
    pub q: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

impl ConversationQuery {
    fn filter(&self, me: UserId) -> ApiResult<ConversationFilter> {
        let status = match self.status.as_deref().filter(|s| !s.is_empty() && *s != "all") {
            None => None,
            Some(s) => Some(ConversationStatus::parse(s).ok_or_else(|| ApiError::BadRequest(format!("unknown status {s:?}")))?),
        };
        let assignee = match self.assignee.as_deref().filter(|s| !s.is_empty()) {
            None | Some("any") => AssigneeFilter::Any,
            Some("me") => AssigneeFilter::User(me),
            Some("none") => AssigneeFilter::Unassigned,
            Some(id) => AssigneeFilter::User(UserId(
                id.parse().map_err(|_| ApiError::BadRequest("assignee must be me, none or a user id".into()))?,
            )),
        };
        let channel = match self.channel.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(c) => Some(Channel::parse(c).ok_or_else(|| ApiError::BadRequest(format!("unknown channel {c:?}")))?),
        };
        let tag = self.tag.as_deref().filter(|t| !t.is_empty()).map(validate::tag).transpose()?;
        Ok(ConversationFilter {
            status,
            assignee,
            team: self.team.map(TeamId),
            inbox: self.inbox.map(InboxId),
            channel,
            tag,
            contact: None,
            search: self.q.clone(),
        })
    }
}

/// Loads a conversation the caller may see; anything else is "not found".
pub async fn visible(st: &AppState, ctx: &Ctx, id: i64) -> ApiResult<Conversation> {
    let conv = st.store.get_conversation(ctx.ws(), ConversationId(id)).await?.ok_or(ApiError::NotFound)?;
    if !ctx.viewer.can_see(&ConversationScope::of(&conv)) {
        return Err(ApiError::NotFound);
    }
    Ok(conv)
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/conversations", tag = "conversations", params(ConversationQuery),
    responses((status = 200, body = Paginated<Conversation>), (status = 400, body = ErrorBody)))]
pub async fn list_conversations(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiQuery(q): ApiQuery<ConversationQuery>,
) -> ApiResult<Json<Paginated<Conversation>>> {
    let filter = q.filter(ctx.user())?;
    let page = PageQuery { cursor: q.cursor.clone(), limit: q.limit }.page()?;
    let p = st.store.list_conversations(&ctx.viewer, &filter, page).await?;
    Ok(Json(Paginated { data: p.items, next_cursor: next_cursor(p.next) }))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}", tag = "conversations",
    responses((status = 200, body = Conversation), (status = 404, body = ErrorBody)))]
pub async fn get_conversation(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<Json<Conversation>> {
    let (_, id) = path;
    Ok(Json(visible(&st, &ctx, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}", tag = "conversations",
    request_body = ConversationUpdate,
    responses((status = 200, body = Conversation), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_conversation(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<ConversationUpdate>,
) -> ApiResult<Json<Conversation>> {
    let (_, id) = path;
    visible(&st, &ctx, id).await?;
    let now = st.now();
    if let Some(Some(until)) = req.snoozed_until
        && until <= now {
            return Err(ApiError::Validation("snoozed_until: must be in the future".into()));
        }
    let patch = ConversationPatch {
        status: req.status.or(match req.snoozed_until {
            Some(Some(_)) => Some(ConversationStatus::Snoozed),
            _ => None,
        }),
        priority: req.priority,
        assignee: req.assignee_id,
        team: req.team_id,
        snoozed_until: req.snoozed_until,
    };
    let written = st.store.update_conversation(ctx.ws(), ConversationId(id), patch, Some(ctx.user()), now).await?;
    st.publish(written.events);
    Ok(Json(written.value))
}

/// Takes an unassigned conversation. Of concurrent claims exactly one wins;
/// the others get 409 `already_assigned`. Claiming your own is a no-op.
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/claim", tag = "conversations",
    responses((status = 200, body = Conversation), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn claim(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<Json<Conversation>> {
    let (_, id) = path;
    visible(&st, &ctx, id).await?;
    match st.store.claim_conversation(ctx.ws(), ConversationId(id), ctx.user(), st.now()).await? {
        Claim::Claimed(written) => {
            st.publish(written.events);
            Ok(Json(written.value))
        }
        Claim::AlreadyYours(conv) => Ok(Json(conv)),
        Claim::Taken { assignee } => Err(ApiError::Conflict {
            code: "already_assigned",
            message: format!("the conversation is already assigned to user {assignee}"),
        }),
    }
}

#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/tags", tag = "conversations",
    request_body = TagRequest, responses((status = 200, body = Conversation), (status = 404, body = ErrorBody)))]
pub async fn add_tag(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<TagRequest>,
) -> ApiResult<Json<Conversation>> {
    let (_, id) = path;
    visible(&st, &ctx, id).await?;
    let tag = validate::tag(&req.tag)?;
    let written = st.store.tag_conversation(ctx.ws(), ConversationId(id), &tag, true, st.now()).await?;
    st.publish(written.events);
    Ok(Json(written.value))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/tags/{tag}", tag = "conversations",
    responses((status = 200, body = Conversation), (status = 404, body = ErrorBody)))]
pub async fn remove_tag(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64, String)>,
) -> ApiResult<Json<Conversation>> {
    let (_, id, tag) = path;
    visible(&st, &ctx, id).await?;
    let tag = validate::tag(&tag).map_err(|_| ApiError::NotFound)?;
    let written = st.store.tag_conversation(ctx.ws(), ConversationId(id), &tag, false, st.now()).await?;
    st.publish(written.events);
    Ok(Json(written.value))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/messages", tag = "messages",
    params(PageQuery), responses((status = 200, body = Paginated<Message>), (status = 404, body = ErrorBody)))]
pub async fn list_messages(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Paginated<Message>>> {
    let (_, id) = path;
    visible(&st, &ctx, id).await?;
    let p = st.store.list_messages(ctx.ws(), ConversationId(id), q.page()?).await?;
    Ok(Json(Paginated { data: p.items, next_cursor: next_cursor(p.next) }))
}

/// Replies to the customer (`out`) or leaves an internal note. The first
/// reply to an unassigned conversation assigns it to the replier.
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/messages", tag = "messages",
    request_body = NewMessageRequest,
    responses((status = 201, body = Message), (status = 200, description = "a resend (same echo_id) of a stored message", body = Message),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_message(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<NewMessageRequest>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    let (_, id) = path;
    let conv = visible(&st, &ctx, id).await?;
    let kind = req.kind.unwrap_or(MessageKind::Out);
    if !matches!(kind, MessageKind::Out | MessageKind::Note) {
        return Err(ApiError::Validation("kind: must be out or note".into()));
    }
    let attachment_ids = super::files::attachment_ids(req.attachment_ids)?;
    let template = match &req.whatsapp_template {
        None => None,
        Some(t) => {
            if conv.channel != Channel::Whatsapp {
                return Err(ApiError::Validation("whatsapp_template: only on WhatsApp conversations".into()));
            }
            if kind != MessageKind::Out {
                return Err(ApiError::Validation("whatsapp_template: only on replies (kind out)".into()));
            }
            if !attachment_ids.is_empty() {
                return Err(ApiError::Validation("whatsapp_template: cannot carry attachments".into()));
            }
            t.validate()?;
            Some(t)
        }
    };
    let content = match (template, req.content.as_deref().map(str::trim).filter(|c| !c.is_empty())) {
        (Some(t), None) => t.display_text(),
        _ => super::files::message_text(req.content.as_deref(), !attachment_ids.is_empty())?,
    };
    let echo_id = req.echo_id.as_deref().map(validate::echo_id).transpose()?;
    let me = st.store.get_user(ctx.user()).await?.ok_or(ApiError::Unauthorized)?;
    let outbound = OutboundMessage {
        kind,
        content,
        sender: Sender { kind: SenderType::User, id: Some(me.id.0), name: Some(me.name) },
        echo_id,
        // Web chat has no provider in between: stored is sent. Provider
        // channels will queue here and the outbox worker will send.
        status: DeliveryStatus::Sent,
        attachment_ids,
    };
    let written = match template {
        Some(t) => {
            let json = serde_json::to_string(t).map_err(|e| ApiError::Validation(format!("whatsapp_template: {e}")))?;
            st.store.send_message_with_template(ctx.ws(), ConversationId(id), outbound, json, st.now()).await?
        }
        None => st.store.send_message(ctx.ws(), ConversationId(id), outbound, st.now()).await?,
    };
    // No events means the echo id matched an earlier message: a resend.
    let status = if written.events.is_empty() { StatusCode::OK } else { StatusCode::CREATED };
    if status == StatusCode::CREATED {
        st.metrics.messages_sent.fetch_add(1, Ordering::Relaxed);
    }
    st.publish(written.events);
    Ok((status, Json(written.value)))
}

/// What may be sent now, from when the customer last wrote: WhatsApp needs
/// a template after 24 hours; Messenger and Instagram tag replies
/// HUMAN_AGENT after 24 hours and allow nothing after 7 days.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/messaging-window", tag = "conversations",
    responses((status = 200, body = switchboard_core::messaging_window::MessagingWindow), (status = 404, body = ErrorBody)))]
pub async fn messaging_window(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
) -> ApiResult<Json<switchboard_core::messaging_window::MessagingWindow>> {
    let (_, id) = path;
    let conv = visible(&st, &ctx, id).await?;
    let last = st.store.last_inbound_at(ctx.ws(), conv.id).await?;
    Ok(Json(switchboard_core::messaging_window::messaging_window(conv.channel, last, st.now())))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// 1 (poor) … 5 (excellent).
    pub score: i64,
    pub comment: Option<String>,
}

/// Spot-check marks, newest first. Supervisors see all; an agent sees the
/// marks on conversations assigned to them.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/reviews", tag = "conversations",
    responses((status = 200, body = ListOf<Review>), (status = 404, body = ErrorBody)))]
pub async fn list_reviews(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<Json<ListOf<Review>>> {
    let (_, id) = path;
    let conv = visible(&st, &ctx, id).await?;
    if !ctx.viewer.sees_all() && conv.assignee_id != Some(ctx.user()) {
        return Err(ApiError::Forbidden);
    }
    Ok(Json(ListOf { data: st.store.list_reviews(ctx.ws(), conv.id).await? }))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/reviews", tag = "conversations",
    request_body = ReviewRequest,
    responses((status = 201, body = Review), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_review(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<ReviewRequest>,
) -> ApiResult<(StatusCode, Json<Review>)> {
    let (_, id) = path;
    ctx.require(Role::Supervisor)?;
    let conv = visible(&st, &ctx, id).await?;
    if !(1..=5).contains(&req.score) {
        return Err(ApiError::Validation("score: must be between 1 and 5".into()));
    }
    let comment = match req.comment.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => validate::text("comment", c, 2000)?,
        None => String::new(),
    };
    let review = st.store.create_review(ctx.ws(), conv.id, ctx.user(), req.score, &comment, st.now()).await?;
    Ok((StatusCode::CREATED, Json(review)))
}
