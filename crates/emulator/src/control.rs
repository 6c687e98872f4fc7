//! `/_emulator/…`: a small HTTP control API so the demo and scripts can
//! drive a running `switchboard-emulator` the way tests drive the library.
//! Calls here are neither counted as attempts nor failed by the plan.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::Delivery;
use crate::state::{FailurePlan, Inner};

pub(crate) fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route("/_emulator/failures", post(set_failures))
        .route("/_emulator/sent", get(sent))
        .route("/_emulator/stats", get(stats))
        .route("/_emulator/tokens", post(allow_tokens))
        .route("/_emulator/whatsapp/inbound", post(whatsapp_inbound))
        .route("/_emulator/whatsapp/status", post(whatsapp_status))
        .route("/_emulator/whatsapp/window", post(whatsapp_window))
        .route("/_emulator/whatsapp/subscribe", post(whatsapp_subscribe))
        .route("/_emulator/telegram/inbound", post(telegram_inbound))
        .route("/_emulator/telegram/block", post(telegram_block))
}

async fn set_failures(
    State(inner): State<Arc<Inner>>,
    Json(plan): Json<FailurePlan>,
) -> StatusCode {
    inner.set_failures(plan);
    StatusCode::NO_CONTENT
}

async fn sent(State(inner): State<Arc<Inner>>) -> Response {
    Json(inner.lock().sent.to_vec()).into_response()
}

async fn stats(State(inner): State<Arc<Inner>>) -> Response {
    let sent = inner.lock().sent.len();
    Json(json!({ "attempts": inner.attempts(), "sent": sent })).into_response()
}

#[derive(Deserialize)]
struct Tokens {
    whatsapp: Option<String>,
    telegram: Option<String>,
}

async fn allow_tokens(State(inner): State<Arc<Inner>>, Json(tokens): Json<Tokens>) -> StatusCode {
    let mut state = inner.lock();
    state.whatsapp_tokens.extend(tokens.whatsapp);
    state.telegram_tokens.extend(tokens.telegram);
    StatusCode::NO_CONTENT
}

/// What the product answered to the webhook the emulator posted.
fn delivered(result: reqwest::Result<Delivery>) -> Response {
    match result {
        Ok(delivery) => {
            Json(json!({ "status": delivery.status.as_u16(), "id": delivery.id })).into_response()
        }
        Err(err) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "error": err.to_string() })),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct WhatsAppInbound {
    webhook_url: String,
    app_secret: String,
    phone_number_id: String,
    from: String,
    name: String,
    text: String,
}

async fn whatsapp_inbound(
    State(inner): State<Arc<Inner>>,
    Json(req): Json<WhatsAppInbound>,
) -> Response {
    let content = json!({ "type": "text", "text": { "body": req.text } });
    let result = inner
        .whatsapp_inbound(
            &req.webhook_url,
            &req.app_secret,
            &req.phone_number_id,
            &req.from,
            &req.name,
            content,
        )
        .await;
    delivered(result)
}

#[derive(Deserialize)]
struct WhatsAppStatus {
    webhook_url: String,
    app_secret: String,
    phone_number_id: String,
    wamid: String,
    status: String,
    recipient: String,
}

async fn whatsapp_status(
    State(inner): State<Arc<Inner>>,
    Json(req): Json<WhatsAppStatus>,
) -> Response {
    let result = inner
        .whatsapp_status(
            &req.webhook_url,
            &req.app_secret,
            &req.phone_number_id,
            &req.wamid,
            &req.status,
            &req.recipient,
        )
        .await;
    delivered(result)
}

#[derive(Deserialize)]
struct Subscribe {
    phone_number_id: String,
    webhook_url: String,
    app_secret: String,
}

async fn whatsapp_subscribe(
    State(inner): State<Arc<Inner>>,
    Json(req): Json<Subscribe>,
) -> StatusCode {
    let subscription = crate::state::WebhookSubscription {
        url: req.webhook_url,
        app_secret: req.app_secret,
    };
    inner
        .lock()
        .whatsapp_webhooks
        .insert(req.phone_number_id, subscription);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Window {
    wa_id: String,
    closed: bool,
}

async fn whatsapp_window(State(inner): State<Arc<Inner>>, Json(req): Json<Window>) -> StatusCode {
    inner.set_window(&req.wa_id, req.closed);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct TelegramInbound {
    webhook_url: String,
    secret_token: String,
    chat_id: i64,
    first_name: String,
    text: String,
}

async fn telegram_inbound(
    State(inner): State<Arc<Inner>>,
    Json(req): Json<TelegramInbound>,
) -> Response {
    let content = json!({ "text": req.text });
    let result = inner
        .telegram_inbound(
            &req.webhook_url,
            &req.secret_token,
            req.chat_id,
            &req.first_name,
            content,
        )
        .await;
    delivered(result)
}

#[derive(Deserialize)]
struct Block {
    chat_id: i64,
    blocked: bool,
}

async fn telegram_block(State(inner): State<Arc<Inner>>, Json(req): Json<Block>) -> StatusCode {
    inner.set_blocked(req.chat_id, req.blocked);
    StatusCode::NO_CONTENT
}
