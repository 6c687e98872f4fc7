//! The agents' live feed: `/api/v1/ws`. Each socket holds one `Viewer` per
//! workspace of its user and forwards exactly the events `Viewer::can_see`
//! allows — the same rule the REST lists apply.

use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::ws::{Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;
use switchboard_core::access::Viewer;
use switchboard_core::events::{ConversationScope, Event, EventPayload, TypingChange};
use switchboard_core::*;
use crate::fanout::Delivery;

#[derive(Deserialize)]
pub struct SocketQuery {
    /// Limit the feed to one workspace (default: all of the user's).
    pub workspace_id: Option<i64>,
}

pub async fn socket(
    State(st): State<AppState>,
    authed: Authed,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<SocketQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let mut workspaces: Vec<WorkspaceId> = st.store.user_workspaces(authed.user_id).await?.into_iter().map(|w| w.id).collect();
    if let Some(only) = authed.only_workspace {
        workspaces.retain(|w| *w == only);
    }
    if let Some(only) = q.workspace_id {
        workspaces.retain(|w| w.0 == only);
        if workspaces.is_empty() {
            return Err(ApiError::NotFound);
        }
    }
    let user = st.store.get_user(authed.user_id).await?.ok_or(ApiError::Unauthorized)?;
    Ok(lean(upgrade).on_upgrade(move |ws| agent_socket(st, user, authed, workspaces, ws)).into_response())
}

/// Socket buffers sized for what flows here (small JSON frames) rather
/// than tungstenite's 128 KiB read and write buffers per socket, which
/// would cap 20,000 agents' sockets at gigabytes. Frames fed without a
/// flush (a batch from the fan-out) collect in the write buffer up to
/// `WRITE_BUFFER` bytes, so a batch is one write call.
pub fn lean(upgrade: WebSocketUpgrade) -> WebSocketUpgrade {
    upgrade.max_message_size(64 * 1024).read_buffer_size(4 * 1024).write_buffer_size(WRITE_BUFFER)
}

const WRITE_BUFFER: usize = 8 * 1024;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum AgentFrame {
    Typing { conversation_id: i64, on: bool, workspace_id: Option<i64> },
    Ping,
}

async fn load_viewers(st: &AppState, user: UserId, workspaces: &[WorkspaceId]) -> HashMap<WorkspaceId, Viewer> {
    let mut viewers = HashMap::new();
    for ws in workspaces {
        if let Ok(Some(v)) = st.store.viewer(*ws, user).await {
            viewers.insert(*ws, v);
        }
    }
    viewers
}

/// Whether this viewer's socket gets the event.
pub fn agent_sees(viewer: &Viewer, e: &Event) -> bool {
    if e.workspace_id != viewer.workspace_id {
        return false;
    }
    match &e.payload {
        EventPayload::MembershipChanged { .. } | EventPayload::CredentialsRevoked { .. } | EventPayload::RoutingChanged => {
            return false;
        }
        // An offer is for the one agent it names.
        EventPayload::OfferCreated(o) if o.agent_id != viewer.user_id => return false,
        EventPayload::OfferEnded(o) if o.agent_id != viewer.user_id => return false,
        // Your own typing is not news to you.
        EventPayload::Typing(t) if t.actor.kind == SenderType::User && t.actor.id == Some(viewer.user_id.0) => return false,
        _ => {}
    }
    e.scope.as_ref().is_none_or(|scope| viewer.can_see(scope))
}

/// The JSON frame of an event as sockets send it.
pub(crate) fn frame_json(e: &Event) -> Option<String> {
    let mut v = serde_json::to_value(&e.payload).ok()?;
    v.as_object_mut()?.insert("workspace_id".into(), serde_json::json!(e.workspace_id));
    Some(v.to_string())
}

async fn agent_socket(st: AppState, user: User, authed: Authed, workspaces: Vec<WorkspaceId>, mut ws: WebSocket) {
    let mut feed = st.fanout.subscribe(&st.bus, user.id, load_viewers(&st, user.id, &workspaces).await);
    st.metrics.ws_agent_connections.fetch_add(1, Ordering::Relaxed);
    let mut heartbeat = tokio::time::interval(Duration::from_secs(25));
    let mut stopping = st.shutdown.clone();
    // Made once: every socket waits on the one shutdown channel, and a
    // waiter made per loop turn would take that channel's lock twice per
    // frame, from every socket (measured: contention at 20,000 sockets).
    let shutdown = stopping.changed();
    tokio::pin!(shutdown);
    let hello = serde_json::json!({"type": "ready", "data": {"user_id": user.id, "workspaces": workspaces}});
    if ws.send(WsMessage::Text(hello.to_string().into())).await.is_err() {
        st.metrics.ws_agent_connections.fetch_sub(1, Ordering::Relaxed);
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
                let reply = match serde_json::from_str::<AgentFrame>(&text) {
                    Err(e) => Some(serde_json::json!({"type": "error", "error": {"code": "invalid_json", "message": e.to_string()}}).to_string()),
                    Ok(AgentFrame::Ping) => Some(r#"{"type":"pong"}"#.to_owned()),
                    Ok(AgentFrame::Typing { conversation_id, on, workspace_id }) => {
                        typing(&st, &user, &feed.viewers(), workspace_id, ConversationId(conversation_id), on).await;
                        None
                    }
                };
                if let Some(reply) = reply
                    && ws.send(WsMessage::Text(reply.into())).await.is_err() { break }
            }
            next = feed.recv() => {
                let out = match next {
                    Some(Delivery::Frames(frames)) => {
                        // One flush, so one write call, for the whole batch.
                        let mut written = true;
                        for frame in frames {
                            if ws.feed(WsMessage::Text(frame)).await.is_err() { written = false; break }
                        }
                        if !written || ws.flush().await.is_err() { break }
                        continue;
                    }
                    // Missed events: the client refetches its lists.
                    Some(Delivery::Resync) => Utf8Bytes::from_static(r#"{"type":"resync"}"#),
                    Some(Delivery::CredentialsChanged) => {
                        if authed.still_valid(&st).await { continue }
                        let _ = ws.send(WsMessage::Close(None)).await;
                        break;
                    }
                    Some(Delivery::MembershipChanged) => {
                        feed.set_viewers(load_viewers(&st, user.id, &workspaces).await);
                        continue;
                    }
                    None => break,
                };
                if ws.send(WsMessage::Text(out)).await.is_err() { break }
            }
            _ = &mut shutdown => {
                let _ = ws.send(WsMessage::Close(None)).await;
                break;
            }
            _ = heartbeat.tick() => {
                // Expired or revoked elsewhere (another process, a password
                // change): the socket ends with its credential.
                if !authed.still_valid(&st).await {
                    let _ = ws.send(WsMessage::Close(None)).await;
                    break;
                }
                if ws.send(WsMessage::Ping(Vec::new().into())).await.is_err() { break }
            }
        }
    }
    st.metrics.ws_agent_connections.fetch_sub(1, Ordering::Relaxed);
}

async fn typing(st: &AppState, user: &User, viewers: &HashMap<WorkspaceId, Viewer>, ws: Option<i64>, id: ConversationId, on: bool) {
    let candidates: Vec<&Viewer> = viewers.values().filter(|v| ws.is_none_or(|w| v.workspace_id.0 == w)).collect();
    for viewer in candidates {
        let Ok(Some(conv)) = st.store.get_conversation(viewer.workspace_id, id).await else { continue };
        if !viewer.can_see(&ConversationScope::of(&conv)) {
            return;
        }
        let actor = Sender { kind: SenderType::User, id: Some(user.id.0), name: Some(user.name.clone()) };
        st.bus.publish(Event::conversation(viewer.workspace_id, &conv, EventPayload::Typing(TypingChange { conversation_id: id, actor, on })));
        return;
    }
}
