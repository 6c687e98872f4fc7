//! Agents on the WebSocket: each socket notes, for every `message.created`
//! carrying a load marker, how long after its send it arrived; assignment
//! listeners note when a conversation is assigned to their agent.

use crate::payload;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message as WsMessage;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(url: &str) -> Result<Socket, String> {
    // A 4 KiB read buffer, as the server's: tungstenite's default 128 KiB
    // is zero-filled on every read, which was a quarter of all CPU samples
    // (this tool's) while 19,500 sockets took a broadcast.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4 * 1024);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await.map_err(|e| format!("ws connect: {e}"))?;
    // The server greets with `ready` once the socket is subscribed: from
    // then on no event can be missed.
    let ready = tokio::time::timeout(Duration::from_secs(30), ws.next()).await.map_err(|_| "no ready frame in 30 s".to_owned())?;
    match ready {
        Some(Ok(WsMessage::Text(t))) if t.contains("\"ready\"") => Ok(ws),
        other => Err(format!("unexpected first frame: {other:?}")),
    }
}

#[derive(Default)]
pub struct Heard {
    /// (sequence number, latency in µs) of each marked message seen.
    pub marked: Vec<(u64, u64)>,
    /// (conversation id, micros since epoch) of assignments to this agent.
    pub assigned: Vec<(i64, u64)>,
    /// (conversation id, send micros) of marked messages (supervisor socket).
    pub conversation_sent: HashMap<i64, u64>,
    pub resyncs: u64,
}

#[derive(Clone)]
pub enum Mode {
    /// Note latency of marked `message.created` frames.
    Messages,
    /// Note `conversation.updated` frames assigning to this user, and the
    /// conversation of each marked message.
    Assignments { user_id: i64 },
}

/// Reads frames until `stop` turns true, then returns what it heard.
pub async fn listen(mut ws: Socket, mode: Mode, epoch: Instant, mut stop: watch::Receiver<bool>) -> Heard {
    let mut heard = Heard::default();
    // Made once: every listener waits on the one stop channel, and a waiter
    // made per frame would take that channel's lock twice per frame, from
    // every socket, which was most of this tool's cost at 20,000 sockets.
    let stopped = stop.changed();
    tokio::pin!(stopped);
    let assignee = match &mode {
        Mode::Assignments { user_id } => Some(format!("\"assignee_id\":{user_id}")),
        Mode::Messages => None,
    };
    loop {
        tokio::select! {
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(WsMessage::Text(t))) => t,
                    Some(Ok(WsMessage::Ping(p))) => { let _ = ws.send(WsMessage::Pong(p)).await; continue }
                    Some(Ok(_)) => continue,
                    _ => break,
                };
                let now_us = epoch.elapsed().as_micros() as u64;
                let text: &str = &text;
                if text.contains("\"resync\"") {
                    heard.resyncs += 1;
                    continue;
                }
                match &assignee {
                    None => {
                        if text.contains("message.created") && let Some((seq, sent_us)) = payload::find_marker(text) {
                            heard.marked.push((seq, now_us.saturating_sub(sent_us)));
                        }
                    }
                    Some(pattern) => {
                        if text.contains("conversation.updated") && text.contains(pattern.as_str()) {
                            if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) && let Some(id) = v["data"]["id"].as_i64() {
                                heard.assigned.push((id, now_us));
                            }
                        } else if text.contains("message.created") && let Some((_, sent_us)) = payload::find_marker(text)
                            && let Ok(v) = serde_json::from_str::<serde_json::Value>(text)
                            && let Some(conv) = v["data"]["conversation_id"].as_i64() {
                            heard.conversation_sent.entry(conv).or_insert(sent_us);
                        }
                    }
                }
            }
            _ = &mut stopped => break,
        }
    }
    heard
}

/// Opens `count` sockets to `url`, `parallel` handshakes at a time.
pub async fn open_many(urls: Vec<String>, parallel: usize) -> Result<Vec<Socket>, String> {
    let results: Vec<Result<Socket, String>> =
        futures_util::stream::iter(urls.into_iter().map(|u| async move { connect(&u).await })).buffered(parallel).collect().await;
    results.into_iter().collect()
}
