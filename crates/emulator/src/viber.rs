//! Viber REST Bot API: `POST /pa/send_message`, and the callbacks posted to
//! the product (`message`, `delivered`, `seen`, `failed`, `subscribed`,
//! `unsubscribed`, …) signed with `X-Viber-Content-Signature` = hex
//! HMAC-SHA256(auth token, raw body).
//!
//! Viber answers API calls with HTTP 200 and a `status` in the body (0 ok,
//! 2 invalidAuthToken, 6 receiverNotSubscribed, 12 tooManyRequests, …).
//! An injected 429 is therefore answered 200 with status 12; an injected
//! 5xx is a bare HTTP 500, as an outage in front of the API would be.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Delivery;
use crate::state::{Injected, Inner, Provider, SentMessage};

const MAX_TEXT_CHARS: usize = 7000;
const MAX_SENDER_NAME_CHARS: usize = 28;
const CHAT_HOSTNAME: &str = "SN-CHAT-05_";

/// The `X-Viber-Content-Signature` of `body`.
pub fn content_signature(auth_token: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("hmac takes keys of any length"));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn answer(status: i64, status_message: &str) -> Response {
    Json(json!({ "status": status, "status_message": status_message, "chat_hostname": CHAT_HOSTNAME })).into_response()
}

/// A stable, non-secret id of the bot behind a token (for `SentMessage`).
fn account(auth_token: &str) -> String {
    hex::encode(&Sha256::digest(auth_token.as_bytes())[..6])
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Inner {
    pub(crate) fn new_viber_token(&self) -> i64 {
        let mut state = self.lock();
        state.viber_last_token += 1;
        state.viber_last_token
    }

    pub(crate) fn set_viber_subscribed(&self, user_id: &str, subscribed: bool) {
        let mut state = self.lock();
        if subscribed {
            state.viber_unsubscribed.remove(user_id);
        } else {
            state.viber_unsubscribed.insert(user_id.to_owned());
        }
    }
}

/// `POST /pa/set_webhook`: checks the URL with a signed `webhook`
/// callback (it must answer 200), then records it for the token.
pub(crate) async fn set_webhook(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = headers
        .get("x-viber-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return answer(2, "missing_auth_token");
    };
    if !inner.lock().viber_tokens.contains(&token) {
        return answer(2, "invalidAuthToken");
    }
    let Ok(Value::Object(params)) = serde_json::from_slice::<Value>(&body) else {
        return answer(3, "badData");
    };
    let Some(url) = params
        .get("url")
        .and_then(Value::as_str)
        .filter(|u| !u.trim().is_empty())
        .map(str::to_owned)
    else {
        // An empty url removes the webhook.
        inner.lock().viber_webhooks.remove(&token);
        return answer(0, "ok");
    };
    let (_, check) = event_payload(&inner, "webhook", "", None);
    match inner.post_viber(&url, &token, &check).await {
        Ok(status) if status == StatusCode::OK => {}
        _ => {
            return answer(
                1,
                "Invalid url: the webhook callback was not answered with 200",
            );
        }
    }
    let event_types = params.get("event_types").cloned().unwrap_or_else(|| {
        json!([
            "delivered",
            "seen",
            "failed",
            "subscribed",
            "unsubscribed",
            "conversation_started"
        ])
    });
    inner.lock().viber_webhooks.insert(token, url);
    Json(json!({ "status": 0, "status_message": "ok", "chat_hostname": CHAT_HOSTNAME, "event_types": event_types })).into_response()
}

/// `POST /pa/send_message`
pub(crate) async fn send_message(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    inner.count_attempt();
    let Some(token) = headers
        .get("x-viber-auth-token")
        .and_then(|v| v.to_str().ok())
    else {
        return answer(2, "missing_auth_token");
    };
    if !inner.lock().viber_tokens.contains(token) {
        return answer(2, "invalidAuthToken");
    }
    if let Some(failure) = inner.draw_failure() {
        return match failure {
            Injected::TooManyRequests { .. } => answer(12, "tooManyRequests"),
            Injected::ServerError(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
            }
        };
    }
    let Ok(Value::Object(mut params)) = serde_json::from_slice::<Value>(&body) else {
        return answer(3, "badData");
    };
    let text_of = |key: &str| {
        params
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let Some(receiver) = text_of("receiver") else {
        return answer(4, "missingData: receiver");
    };
    let sender_name = params
        .get("sender")
        .and_then(|s| s.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if sender_name.is_empty() {
        return answer(4, "missingData: sender.name");
    }
    if sender_name.chars().count() > MAX_SENDER_NAME_CHARS {
        return answer(3, "badData: sender.name is longer than 28 characters");
    }
    match text_of("type") {
        Some("text") => match text_of("text") {
            None => return answer(4, "missingData: text"),
            Some(text) if text.chars().count() > MAX_TEXT_CHARS => {
                return answer(3, "badData: text is too long");
            }
            Some(_) => {}
        },
        Some("picture" | "video" | "file") if text_of("media").is_none() => {
            return answer(4, "missingData: media");
        }
        Some(
            "picture" | "video" | "file" | "url" | "location" | "contact" | "sticker"
            | "rich_media",
        ) => {}
        Some(_) => return answer(3, "badData: unknown message type"),
        None => return answer(4, "missingData: type"),
    }
    let receiver = receiver.to_owned();
    if inner.lock().viber_unsubscribed.contains(&receiver) {
        return answer(6, "notSubscribed");
    }
    // Viber downloads a picture, video or file from its `media` URL.
    if matches!(params.get("type").and_then(Value::as_str), Some("picture" | "video" | "file"))
        && let Some(url) = params.get("media").and_then(Value::as_str).map(str::to_owned)
    {
        inner.fetch_into(&url, &mut params).await;
    }
    let message_token = inner.new_viber_token();
    inner.lock().sent.push(SentMessage {
        provider: Provider::Viber,
        account: account(token),
        to: receiver,
        body: Value::Object(params),
        external_id: message_token.to_string(),
    });
    Json(json!({
        "status": 0,
        "status_message": "ok",
        "message_token": message_token,
        "chat_hostname": CHAT_HOSTNAME,
        "billing_status": 1,
    }))
    .into_response()
}

/// `message_token` as Viber writes it: a JSON integer (kept as a string
/// only if it is not one, so tests can post odd payloads).
fn token_value(token: &str) -> Value {
    token
        .parse::<i64>()
        .map_or_else(|_| json!(token), |n| json!(n))
}

fn user_object(user_id: &str, name: &str) -> Value {
    json!({
        "id": user_id,
        "name": name,
        "avatar": "https://media-direct.cdn.viber.com/download_photo?dlid=emulator",
        "language": "en",
        "country": "UA",
        "api_version": 10,
    })
}

/// A `message` callback from `user_id` carrying `message` (`{"type":"text",
/// "text":…}`, `{"type":"picture","media":…}`, …).
pub(crate) fn message_payload(
    inner: &Inner,
    user_id: &str,
    name: &str,
    message: Value,
) -> (String, Vec<u8>) {
    let token = inner.new_viber_token();
    let body = json!({
        "event": "message",
        "timestamp": unix_ms(),
        "chat_hostname": "SN-376_",
        "message_token": token,
        "sender": user_object(user_id, name),
        "message": message,
        "silent": false,
    });
    (token.to_string(), body.to_string().into_bytes())
}

/// A `delivered` / `seen` / `failed` / `subscribed` / `unsubscribed` /
/// `conversation_started` / `webhook` callback. Receipts refer to
/// `message_token`; the others get a fresh one when it is `None`.
pub(crate) fn event_payload(
    inner: &Inner,
    event: &str,
    user_id: &str,
    message_token: Option<&str>,
) -> (String, Vec<u8>) {
    let token = message_token.map_or_else(|| json!(inner.new_viber_token()), token_value);
    let mut body = json!({
        "event": event,
        "timestamp": unix_ms(),
        "chat_hostname": "SN-376_",
        "message_token": token,
    });
    match event {
        "subscribed" => body["user"] = user_object(user_id, "Viber user"),
        "conversation_started" => {
            body["type"] = json!("open");
            body["user"] = user_object(user_id, "Viber user");
            body["subscribed"] = json!(false);
        }
        "webhook" => {}
        "failed" => {
            body["user_id"] = json!(user_id);
            body["desc"] = json!("failure description");
        }
        _ => body["user_id"] = json!(user_id),
    }
    let id = match &body["message_token"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    (id, body.to_string().into_bytes())
}

impl Inner {
    /// Fetches a file a send names by URL, as the provider does before it
    /// delivers: the bytes are kept as media (their id goes in the recorded
    /// send's `media_id`, see [`crate::Emulator::media_bytes`]), or why the
    /// fetch failed in `media_error`.
    pub(crate) async fn fetch_into(&self, url: &str, body: &mut serde_json::Map<String, Value>) {
        let fetched = async {
            let resp = self.client.get(url).send().await.map_err(|e| format!("fetch failed: {e}"))?;
            let status = resp.status();
            let mime = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_owned();
            let bytes = resp.bytes().await.map_err(|e| format!("fetch cut off: {e}"))?;
            if !status.is_success() {
                return Err(format!("fetch answered {status}: {}", String::from_utf8_lossy(&bytes)));
            }
            Ok(self.add_media(&mime, bytes.to_vec()))
        }
        .await;
        match fetched {
            Ok(id) => body.insert("media_id".to_owned(), Value::String(id)),
            Err(e) => body.insert("media_error".to_owned(), Value::String(e)),
        };
    }

    pub(crate) async fn post_viber(
        &self,
        url: &str,
        auth_token: &str,
        raw: &[u8],
    ) -> reqwest::Result<StatusCode> {
        let response = self
            .client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                "X-Viber-Content-Signature",
                content_signature(auth_token, raw),
            )
            .body(raw.to_vec())
            .send()
            .await?;
        Ok(response.status())
    }

    pub(crate) async fn viber_inbound(
        &self,
        webhook_url: &str,
        auth_token: &str,
        user_id: &str,
        name: &str,
        message: Value,
    ) -> reqwest::Result<Delivery> {
        let (id, body) = message_payload(self, user_id, name, message);
        let status = self.post_viber(webhook_url, auth_token, &body).await?;
        Ok(Delivery { status, id, body })
    }

    /// Subscription events also change what sends to the user answer.
    pub(crate) async fn viber_event(
        &self,
        webhook_url: &str,
        auth_token: &str,
        event: &str,
        user_id: &str,
        message_token: Option<&str>,
    ) -> reqwest::Result<Delivery> {
        match event {
            "subscribed" => self.set_viber_subscribed(user_id, true),
            "unsubscribed" => self.set_viber_subscribed(user_id, false),
            _ => {}
        }
        let (id, body) = event_payload(self, event, user_id, message_token);
        let status = self.post_viber(webhook_url, auth_token, &body).await?;
        Ok(Delivery { status, id, body })
    }
}

// ---- control API: /_emulator/viber/… ----

pub(crate) fn control_routes() -> Router<Arc<Inner>> {
    Router::new()
        .route("/_emulator/viber/inbound", post(control_inbound))
        .route("/_emulator/viber/event", post(control_event))
        .route("/_emulator/viber/subscription", post(control_subscription))
        .route("/_emulator/viber/tokens", post(control_tokens))
}

fn delivered(result: reqwest::Result<Delivery>) -> Response {
    match result {
        Ok(d) => Json(json!({ "status": d.status.as_u16(), "id": d.id })).into_response(),
        Err(err) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "error": err.to_string() })),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct ControlInbound {
    webhook_url: String,
    auth_token: String,
    user_id: String,
    name: String,
    text: String,
}

async fn control_inbound(
    State(inner): State<Arc<Inner>>,
    Json(req): Json<ControlInbound>,
) -> Response {
    let message = json!({ "type": "text", "text": req.text });
    delivered(
        inner
            .viber_inbound(
                &req.webhook_url,
                &req.auth_token,
                &req.user_id,
                &req.name,
                message,
            )
            .await,
    )
}

#[derive(Deserialize)]
struct ControlEvent {
    webhook_url: String,
    auth_token: String,
    event: String,
    user_id: String,
    message_token: Option<String>,
}

async fn control_event(State(inner): State<Arc<Inner>>, Json(req): Json<ControlEvent>) -> Response {
    let result = inner
        .viber_event(
            &req.webhook_url,
            &req.auth_token,
            &req.event,
            &req.user_id,
            req.message_token.as_deref(),
        )
        .await;
    delivered(result)
}

#[derive(Deserialize)]
struct ControlSubscription {
    user_id: String,
    subscribed: bool,
}

async fn control_subscription(
    State(inner): State<Arc<Inner>>,
    Json(req): Json<ControlSubscription>,
) -> StatusCode {
    inner.set_viber_subscribed(&req.user_id, req.subscribed);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct ControlTokens {
    auth_token: String,
}

async fn control_tokens(
    State(inner): State<Arc<Inner>>,
    Json(req): Json<ControlTokens>,
) -> StatusCode {
    inner.lock().viber_tokens.insert(req.auth_token);
    StatusCode::NO_CONTENT
}

// ---- the public face: methods of `Emulator` ----

impl crate::Emulator {
    /// Accept another Viber auth token (besides `VIBER_AUTH_TOKEN`).
    pub fn allow_viber_token(&self, auth_token: &str) {
        self.inner.lock().viber_tokens.insert(auth_token.to_owned());
    }

    /// From now on, sends to `user_id` answer status 6 (receiver not
    /// subscribed). Sticky: only `viber_subscribe` or a `subscribed`
    /// callback sent with `viber_event` undoes it.
    pub fn viber_unsubscribe(&self, user_id: &str) {
        self.inner.set_viber_subscribed(user_id, false);
    }

    pub fn viber_subscribe(&self, user_id: &str) {
        self.inner.set_viber_subscribed(user_id, true);
    }

    /// Posts a `message` callback with a text from subscriber `user_id`,
    /// signed with `auth_token`. `Delivery::id` is its `message_token`.
    pub async fn viber_inbound_text(
        &self,
        webhook_url: &str,
        auth_token: &str,
        user_id: &str,
        name: &str,
        text: &str,
    ) -> reqwest::Result<Delivery> {
        let message = json!({ "type": "text", "text": text });
        self.inner
            .viber_inbound(webhook_url, auth_token, user_id, name, message)
            .await
    }

    /// Posts a `message` callback carrying `message` as Viber writes it,
    /// e.g. `{"type":"picture","text":"caption","media":"https://…"}`.
    pub async fn viber_inbound(
        &self,
        webhook_url: &str,
        auth_token: &str,
        user_id: &str,
        name: &str,
        message: Value,
    ) -> reqwest::Result<Delivery> {
        self.inner
            .viber_inbound(webhook_url, auth_token, user_id, name, message)
            .await
    }

    /// Posts a `delivered` / `seen` / `failed` receipt for `message_token`
    /// (a `SentMessage::external_id`), or a `subscribed` / `unsubscribed` /
    /// `conversation_started` / `webhook` callback (`message_token` `None`
    /// gives a fresh one). `subscribed` / `unsubscribed` also change what
    /// sends to the user answer.
    pub async fn viber_event(
        &self,
        webhook_url: &str,
        auth_token: &str,
        event: &str,
        user_id: &str,
        message_token: Option<&str>,
    ) -> reqwest::Result<Delivery> {
        self.inner
            .viber_event(webhook_url, auth_token, event, user_id, message_token)
            .await
    }

    /// The URL the product registered with `set_webhook` for `auth_token`.
    pub fn viber_webhook(&self, auth_token: &str) -> Option<String> {
        self.inner.lock().viber_webhooks.get(auth_token).cloned()
    }

    /// Posts a `conversation_started` callback from `user_id` (who opened
    /// the chat, not subscribed) and answers what the product answered:
    /// its HTTP status and body (a welcome message, or empty).
    pub async fn viber_conversation_started(
        &self,
        webhook_url: &str,
        auth_token: &str,
        user_id: &str,
    ) -> reqwest::Result<(StatusCode, Vec<u8>)> {
        let (_, body) = event_payload(&self.inner, "conversation_started", user_id, None);
        let response = self
            .inner
            .client
            .post(webhook_url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                "X-Viber-Content-Signature",
                content_signature(auth_token, &body),
            )
            .body(body)
            .send()
            .await?;
        let status = response.status();
        Ok((status, response.bytes().await?.to_vec()))
    }

    /// Posts exactly `raw` with its `X-Viber-Content-Signature`.
    pub async fn post_signed_viber(
        &self,
        url: &str,
        auth_token: &str,
        raw: &[u8],
    ) -> reqwest::Result<StatusCode> {
        self.inner.post_viber(url, auth_token, raw).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_an_independent_vector() {
        // printf '%s' '{"event":"webhook"}' | openssl dgst -sha256 -hmac 'test-token'
        assert_eq!(
            content_signature("test-token", br#"{"event":"webhook"}"#),
            "b7fbc451b190bf79244d04197e0858bcb84dc3f7232c41173600818592b0aa5b"
        );
    }

    #[test]
    fn callbacks_have_viber_shapes() {
        let inner = Inner::new("http://x".into(), "a", "b");
        let (id, body) =
            message_payload(&inner, "u1==", "Olena", json!({"type":"text","text":"hi"}));
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(v["event"], "message");
        assert_eq!(
            v["message_token"].as_i64().map(|t| t.to_string()),
            Some(id.clone())
        );
        assert_eq!(
            (v["sender"]["id"].as_str(), v["sender"]["name"].as_str()),
            (Some("u1=="), Some("Olena"))
        );
        assert_eq!(v["message"]["text"], "hi");

        let (rid, body) = event_payload(&inner, "seen", "u1==", Some(&id));
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(rid, id);
        assert_eq!(
            (v["event"].as_str(), v["user_id"].as_str()),
            (Some("seen"), Some("u1=="))
        );
        assert!(v["message_token"].is_i64());

        let (_, body) = event_payload(&inner, "subscribed", "u2==", None);
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(v["user"]["id"], "u2==");
        assert!(v.get("user_id").is_none());
        let (_, body) = event_payload(&inner, "failed", "u2==", Some("5"));
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(
            (v["message_token"].as_i64(), v["desc"].is_string()),
            (Some(5), true)
        );
    }

    #[test]
    fn tokens_grow_and_fit_in_i64() {
        let inner = Inner::new("http://x".into(), "a", "b");
        let a = inner.new_viber_token();
        let b = inner.new_viber_token();
        assert!(b > a && a > 1 << 40);
    }
}
