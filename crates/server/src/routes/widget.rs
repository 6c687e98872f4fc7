//! The website widget's public API: a visitor, identified by a signed
//! visitor token, reads and writes only their own thread in one inbox.

use crate::dto::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ClientIp};
use crate::state::AppState;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::sync::atomic::Ordering;
use std::time::Duration;
use switchboard_channels::webchat::{identity_matches, VisitorClaims};
use switchboard_core::events::{Event, EventPayload, TypingChange};
use switchboard_core::*;
use switchboard_store::{ContactFields, InboundMessage, Received};
use crate::fanout::VisitorDelivery;

const HISTORY_LIMIT: i64 = 200;

/// A verified visitor and the inbox they write to.
pub struct Visitor {
    pub claims: VisitorClaims,
    pub inbox: Inbox,
}

async fn verify_visitor(st: &AppState, token: &str) -> ApiResult<Visitor> {
    let bad = || ApiError::InvalidCredentials("invalid_visitor_token");
    let peeked = VisitorClaims::peek(token).map_err(|_| bad())?;
    let secret = st.signing_secret(peeked.workspace_id).await?.ok_or_else(bad)?;
    let claims = VisitorClaims::verify(token, &secret).map_err(|_| bad())?;
    let inbox = st.store.get_inbox(claims.workspace_id, claims.inbox_id).await?.ok_or_else(bad)?;
    Ok(Visitor { claims, inbox })
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let token = crate::auth::header_or_socket_token(parts).ok_or(ApiError::Unauthorized)?;
        let visitor = verify_visitor(st, &token).await?;
        check_origin(&visitor.inbox, &parts.headers)?;
        Ok(visitor)
    }
}

/// When an inbox lists `allowed_origins`, browsers on other sites are
/// refused. (Non-browser clients send no Origin and are not affected: the
/// check protects visitors, the token protects data.)
pub(crate) fn check_origin(inbox: &Inbox, headers: &HeaderMap) -> ApiResult<()> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else { return Ok(()) };
    let Some(allowed) = inbox.config.get("allowed_origins").and_then(|v| v.as_array()) else { return Ok(()) };
    if allowed.is_empty() || allowed.iter().any(|a| a.as_str().is_some_and(|a| a == "*" || a.trim_end_matches('/') == origin)) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

pub(crate) fn rate_limit(st: &AppState, ip: &str) -> ApiResult<()> {
    if let Ok(mut limiter) = st.limiters.public.lock()
        && let Err(retry_ms) = limiter.check(&ip.to_owned(), st.now().0) {
            return Err(ApiError::RateLimited { retry_after_secs: (retry_ms as u64).div_ceil(1000) });
        }
    Ok(())
}

fn session_view(token: String, contact: &Contact, inbox: &Inbox) -> WidgetSession {
    WidgetSession {
        visitor_token: token,
        contact: WidgetContact { name: contact.name.clone(), email: contact.email.clone(), phone: contact.phone.clone() },
        inbox: WidgetInbox {
            name: inbox.name.clone(),
            prechat: inbox.config.get("prechat").and_then(|v| v.as_bool()).unwrap_or(true),
            greeting: inbox.config_str("greeting").map(str::to_owned),
        },
    }
}

/// Starts or resumes a visitor's session.
#[utoipa::path(post, path = "/api/v1/widget/session", tag = "widget", request_body = WidgetSessionRequest,
    responses((status = 200, body = WidgetSession), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn session(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<WidgetSessionRequest>,
) -> ApiResult<Json<WidgetSession>> {
    rate_limit(&st, &ip)?;
    let inbox = st
        .store
        .find_inbox_by_website_token(req.website_token.trim())
        .await?
        .filter(|i| i.channel == Channel::Webchat)
        .ok_or(ApiError::NotFound)?;
    check_origin(&inbox, &headers)?;
    let ws = inbox.workspace_id;
    let secret = st.signing_secret(ws).await?.ok_or(ApiError::NotFound)?;
    let now = st.now();
    let contact = if let Some(identifier) = req.identifier.as_deref() {
        let identifier = validate::text("identifier", identifier, 200)?;
        let secret = inbox.config_str("identity_secret").ok_or(ApiError::InvalidCredentials("invalid_identity"))?;
        let hash = req.identifier_hash.as_deref().unwrap_or("");
        if !identity_matches(secret, &identifier, hash) {
            return Err(ApiError::InvalidCredentials("invalid_identity"));
        }
        match st.store.find_contact_by_identifier(ws, &identifier).await? {
            Some(c) => c,
            None => {
                let fields = ContactFields { identifier: Some(identifier), ..Default::default() };
                st.store.create_contact(ws, fields, now).await?
            }
        }
    } else if let Some(token) = req.visitor_token.as_deref() {
        let visitor = verify_visitor(&st, token).await?;
        if visitor.claims.inbox_id != inbox.id {
            return Err(ApiError::InvalidCredentials("invalid_visitor_token"));
        }
        st.store.get_contact(ws, visitor.claims.contact_id).await?.ok_or(ApiError::InvalidCredentials("invalid_visitor_token"))?
    } else {
        st.store.create_contact(ws, ContactFields::default(), now).await?
    };
    let claims = VisitorClaims { workspace_id: ws, inbox_id: inbox.id, contact_id: contact.id };
    Ok(Json(session_view(claims.sign(&secret), &contact, &inbox)))
}

/// The pre-chat form: the visitor fills their card.
#[utoipa::path(patch, path = "/api/v1/widget/contact", tag = "widget", request_body = WidgetContactRequest,
    responses((status = 200, body = WidgetContact), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn update_contact(
    State(st): State<AppState>,
    visitor: Visitor,
    ApiJson(req): ApiJson<WidgetContactRequest>,
) -> ApiResult<Json<WidgetContact>> {
    let fields = super::contacts::card_fields(ContactRequest {
        name: req.name.map(Some),
        email: req.email.map(Some),
        phone: req.phone.map(Some),
        custom_fields: None,
    })?;
    let c = st.store.update_contact(visitor.claims.workspace_id, visitor.claims.contact_id, fields, st.now()).await?;
    Ok(Json(WidgetContact { name: c.name, email: c.email, phone: c.phone }))
}

#[utoipa::path(get, path = "/api/v1/widget/messages", tag = "widget",
    responses((status = 200, body = ListOf<Message>), (status = 401, body = ErrorBody)))]
pub async fn messages(State(st): State<AppState>, visitor: Visitor) -> ApiResult<Json<ListOf<Message>>> {
    let c = visitor.claims;
    Ok(Json(ListOf { data: st.store.contact_thread(c.workspace_id, c.inbox_id, c.contact_id, HISTORY_LIMIT).await? }))
}

/// Stores a visitor message (deduplicated by `echo_id`) and publishes it.
pub async fn visitor_send(
    st: &AppState,
    v: &VisitorClaims,
    content: Option<&str>,
    echo_id: &str,
    attachment_ids: Option<Vec<i64>>,
) -> ApiResult<Received> {
    let attachment_ids = super::files::attachment_ids(attachment_ids)?;
    let content = super::files::message_text(content, !attachment_ids.is_empty())?;
    let echo_id = validate::echo_id(echo_id)?;
    let inbound = InboundMessage {
        inbox_id: v.inbox_id,
        contact_id: v.contact_id,
        content,
        dedup_key: Some(format!("webchat:{}:{echo_id}", v.contact_id)),
        echo_id: Some(echo_id),
        attachment_ids,
    };
    let received = st.store.receive_message(v.workspace_id, inbound, st.now()).await?;
    if received.created {
        st.metrics.messages_received.fetch_add(1, Ordering::Relaxed);
        st.publish(received.events.clone());
        // Away message / greeting: after the customer's message is safe and
        // published, and off the request path so the widget is answered at once.
        let (st, ws, r) = (st.clone(), v.workspace_id, received.clone());
        tokio::spawn(async move { crate::automation_hooks::after_inbound(&st, ws, &r).await });
    }
    Ok(received)
}

#[utoipa::path(post, path = "/api/v1/widget/messages", tag = "widget", request_body = WidgetMessageRequest,
    responses((status = 201, body = Message), (status = 200, description = "a resend of a stored message", body = Message),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn send(
    State(st): State<AppState>,
    visitor: Visitor,
    ApiJson(req): ApiJson<WidgetMessageRequest>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    let r = visitor_send(&st, &visitor.claims, req.content.as_deref(), &req.echo_id, req.attachment_ids).await?;
    let status = if r.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(r.message)))
}

pub async fn socket(State(st): State<AppState>, visitor: Visitor, upgrade: WebSocketUpgrade) -> Response {
    super::realtime::lean(upgrade).on_upgrade(move |ws| visitor_socket(st, visitor.claims, ws)).into_response()
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum VisitorFrame {
    Message {
        #[serde(default)]
        content: Option<String>,
        echo_id: String,
        #[serde(default)]
        attachment_ids: Option<Vec<i64>>,
    },
    /// The visitor has seen every agent message up to this id.
    Read { up_to: i64 },
    Typing { on: bool },
    Ping,
}

fn frame(kind: &str, data: serde_json::Value) -> WsMessage {
    WsMessage::Text(serde_json::json!({ "type": kind, "data": data }).to_string().into())
}

fn error_frame(e: &ApiError) -> WsMessage {
    WsMessage::Text(serde_json::json!({ "type": "error", "error": e.body().error }).to_string().into())
}

async fn visitor_socket(st: AppState, v: VisitorClaims, mut ws: WebSocket) {
    // Only this contact's events reach the socket (see fanout.rs).
    let mut feed = st.fanout.subscribe_visitor(&st.bus, v.workspace_id, v.contact_id);
    st.metrics.ws_visitor_connections.fetch_add(1, Ordering::Relaxed);
    let mut heartbeat = tokio::time::interval(Duration::from_secs(25));
    let mut stopping = st.shutdown.clone();
    // Made once: every socket waits on the one shutdown channel, and a
    // waiter made per loop turn would take that channel's lock twice per
    // frame, from every socket (measured: contention at 20,000 sockets).
    let shutdown = stopping.changed();
    tokio::pin!(shutdown);
    // A reloaded page learns its place in line at once, not at the next move.
    if let Ok(Some(conv)) = st.store.open_conversation_of(v.workspace_id, v.inbox_id, v.contact_id).await
        && let Some(p) = st.router.position(v.workspace_id, conv.id).await
        && let Ok(data) = serde_json::to_value(&p)
        && ws.send(frame("queue.position", data)).await.is_err()
    {
        st.metrics.ws_visitor_connections.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    loop {
        tokio::select! {
            incoming = ws.recv() => {
                let Some(Ok(msg)) = incoming else { break };
                let text = match msg {
                    WsMessage::Text(t) => t,
                    WsMessage::Close(_) => break,
                    _ => continue,
                };
                let reply = match serde_json::from_str::<VisitorFrame>(&text) {
                    Err(e) => Some(error_frame(&ApiError::InvalidJson(e.to_string()))),
                    Ok(VisitorFrame::Ping) => Some(WsMessage::Text(r#"{"type":"pong"}"#.into())),
                    Ok(VisitorFrame::Read { up_to }) => {
                        advance(&st, &v, MessageId(up_to), DeliveryStatus::Read).await.err().map(|e| error_frame(&e))
                    }
                    Ok(VisitorFrame::Typing { on }) => {
                        publish_visitor_typing(&st, &v, on).await;
                        None
                    }
                    Ok(VisitorFrame::Message { content, echo_id, attachment_ids }) => match visitor_send(&st, &v, content.as_deref(), &echo_id, attachment_ids).await {
                        // A resend publishes nothing: answer this socket directly.
                        Ok(r) if !r.created => serde_json::to_value(&r.message).ok().map(|m| frame("message.created", m)),
                        Ok(_) => None,
                        Err(e) => Some(error_frame(&e)),
                    },
                };
                if let Some(reply) = reply
                    && ws.send(reply).await.is_err() { break }
            }
            next = feed.recv() => {
                match next {
                    Some(VisitorDelivery::Event(e)) => {
                        if let Some(out) = visitor_frame(&v, &e) {
                            if ws.send(out).await.is_err() { break }
                            // Handed to the visitor's browser: delivered.
                            if let EventPayload::MessageCreated(m) = &e.payload
                                && m.kind == MessageKind::Out
                                && m.status == DeliveryStatus::Sent
                            {
                                let (st, v, id) = (st.clone(), v, m.id);
                                tokio::spawn(async move {
                                    if let Err(e) = advance(&st, &v, id, DeliveryStatus::Delivered).await {
                                        tracing::warn!(error = %e, "cannot mark a web chat message delivered");
                                    }
                                });
                            }
                        }
                    }
                    Some(VisitorDelivery::Resync) => {
                        if ws.send(WsMessage::Text(r#"{"type":"resync"}"#.into())).await.is_err() { break }
                    }
                    None => break,
                }
            }
            _ = &mut shutdown => {
                let _ = ws.send(WsMessage::Close(None)).await;
                break;
            }
            _ = heartbeat.tick() => {
                if ws.send(WsMessage::Ping(Vec::new().into())).await.is_err() { break }
            }
        }
    }
    st.metrics.ws_visitor_connections.fetch_sub(1, Ordering::Relaxed);
}

async fn publish_visitor_typing(st: &AppState, v: &VisitorClaims, on: bool) {
    // Typing goes to the visitor's open conversation, if there is one.
    let Ok(Some(conv)) = st.store.open_conversation_of(v.workspace_id, v.inbox_id, v.contact_id).await else { return };
    let actor = Sender { kind: SenderType::Contact, id: Some(v.contact_id.0), name: conv.contact.name.clone() };
    st.bus.publish(Event::conversation(
        v.workspace_id,
        &conv,
        EventPayload::Typing(TypingChange { conversation_id: conv.id, actor, on }),
    ));
}

/// What of an event this visitor sees, shaped for the widget.
fn visitor_frame(v: &VisitorClaims, e: &Event) -> Option<WsMessage> {
    let scope = e.scope?;
    if e.workspace_id != v.workspace_id || scope.contact_id != v.contact_id || scope.inbox_id != v.inbox_id {
        return None;
    }
    if !e.visible_to_customer() {
        return None;
    }
    match &e.payload {
        EventPayload::MessageCreated(m) => Some(frame("message.created", serde_json::to_value(m).ok()?)),
        EventPayload::MessageUpdated(m) => Some(frame("message.updated", serde_json::to_value(m).ok()?)),
        EventPayload::Typing(t) => Some(frame("typing", serde_json::json!({ "on": t.on, "name": t.actor.name }))),
        EventPayload::QueuePosition(p) => Some(frame("queue.position", serde_json::to_value(p).ok()?)),
        _ => None,
    }
}

/// Moves the visitor's agent messages up to `up_to` forward to `status` and
/// tells the agents.
async fn advance(st: &AppState, v: &VisitorClaims, up_to: MessageId, status: DeliveryStatus) -> ApiResult<()> {
    let written = st.store.advance_delivery(v.workspace_id, v.inbox_id, v.contact_id, up_to, status, st.now()).await?;
    st.publish(written.events);
    Ok(())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadReceipt {
    /// The newest agent message the visitor has seen.
    pub up_to: i64,
}

/// Read receipt over HTTP (the socket's `{"type":"read","up_to"}` frame does
/// the same).
#[utoipa::path(post, path = "/api/v1/widget/read", tag = "widget", request_body = ReadReceipt,
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn read(State(st): State<AppState>, visitor: Visitor, ApiJson(req): ApiJson<ReadReceipt>) -> ApiResult<StatusCode> {
    advance(&st, &visitor.claims, MessageId(req.up_to), DeliveryStatus::Read).await?;
    Ok(StatusCode::NO_CONTENT)
}
