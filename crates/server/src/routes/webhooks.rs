//! Provider webhooks: `/webhooks/{channel}/{inbox_id}`. The raw body's
//! signature is checked with the inbox's own secret before anything is
//! parsed; every event is stored (deduplicated by the provider's id) before
//! the provider gets its 200, so nothing acknowledged is lost and a
//! redelivery changes nothing. Files a message carries are fetched into the
//! attachment store first, within a short budget (`media.rs`).

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use switchboard_channels::provider::{self, InboundEvent, WebhookError};
use switchboard_channels::{telegram, whatsapp};
use switchboard_core::*;
use switchboard_store::{InboundMessage, ProviderIdentity};

fn webhook_error(e: WebhookError) -> ApiError {
    match e {
        WebhookError::MissingSignature => ApiError::InvalidCredentials("missing_signature"),
        WebhookError::BadSignature => ApiError::Forbidden,
        WebhookError::VerificationRefused => ApiError::Forbidden,
        WebhookError::Malformed(why) => ApiError::BadRequest(format!("malformed webhook payload: {why}")),
    }
}

async fn inbox_for(st: &AppState, channel: &str, inbox_id: &str) -> ApiResult<Inbox> {
    let channel = Channel::parse(channel).ok_or(ApiError::NotFound)?;
    let id: i64 = inbox_id.parse().map_err(|_| ApiError::NotFound)?;
    st.store.webhook_inbox(channel, InboxId(id)).await?.ok_or(ApiError::NotFound)
}

fn secret<'a>(inbox: &'a Inbox, key: &str) -> ApiResult<&'a str> {
    // An inbox without its secret can verify nothing: refuse everything.
    inbox.config_str(key).filter(|s| !s.is_empty()).ok_or(ApiError::Forbidden)
}

/// Meta's subscription check (WhatsApp, Messenger, Instagram): echo
/// `hub.challenge` when `hub.verify_token` matches.
pub async fn verify(
    State(st): State<AppState>,
    Path((channel, inbox_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let inbox = inbox_for(&st, &channel, &inbox_id).await?;
    match inbox.channel {
        Channel::Whatsapp | Channel::Messenger | Channel::Instagram => {
            let token = secret(&inbox, "verify_token")?;
            let challenge = whatsapp::verify_challenge(
                query.get("hub.mode").map(String::as_str),
                query.get("hub.verify_token").map(String::as_str),
                query.get("hub.challenge").map(String::as_str),
                token,
            )
            .map_err(webhook_error)?;
            Ok(challenge.into_response())
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

pub async fn receive(
    State(st): State<AppState>,
    Path((channel, inbox_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let inbox = inbox_for(&st, &channel, &inbox_id).await?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // What the provider gets back besides the 200 (Viber's welcome message).
    let mut answer: Option<serde_json::Value> = None;
    // The customer's language as their app reports it (Telegram).
    let mut language: Option<(String, String)> = None;
    let events = match inbox.channel {
        Channel::Whatsapp => {
            whatsapp::verify_signature(secret(&inbox, "app_secret")?, &body, header("x-hub-signature-256")).map_err(webhook_error)?;
            let number = inbox.config_str("phone_number_id").unwrap_or_default();
            let events = whatsapp::parse_webhook(&body, number).map_err(webhook_error)?;
            // A status naming one of our sends by its idempotency key: the
            // send reached Meta, even if its answer never reached the
            // outbox (a crash mid-send). Recorded before the status itself,
            // so the status finds the message by its wamid.
            for (wamid, key) in whatsapp::status_callback_keys(&body, number).map_err(webhook_error)? {
                if let Some(message) = provider::parse_idempotency_key(&key) {
                    let written = st.store.outbox_sent_by_key(inbox.workspace_id, inbox.id, MessageId(message), &wamid, st.now()).await?;
                    st.publish(written.events);
                }
            }
            events
        }
        Channel::Telegram => {
            telegram::verify_secret(secret(&inbox, "secret_token")?, header("x-telegram-bot-api-secret-token")).map_err(webhook_error)?;
            let parsed = telegram::parse_update(&body).map_err(webhook_error)?;
            language = parsed.sender_language;
            parsed.events
        }
        Channel::Viber => {
            use switchboard_channels::viber;
            viber::verify_signature(secret(&inbox, "auth_token")?, &body, header(viber::SIGNATURE_HEADER)).map_err(webhook_error)?;
            let parsed = viber::parse_callback(&body).map_err(webhook_error)?;
            if parsed.event != "message" {
                tracing::debug!(inbox = inbox.id.0, event = %parsed.event, "viber callback");
            }
            // A user opened the chat: Viber shows the answer's message as
            // the bot's welcome (the only message allowed before they
            // subscribe).
            if parsed.event == "conversation_started" {
                let sender = inbox.viber_sender_name();
                answer = inbox.config_str("welcome_message").and_then(|text| viber::welcome_message(sender, text));
            }
            parsed.events
        }
        Channel::Messenger | Channel::Instagram => {
            use switchboard_channels::messenger::{self, Platform};
            let (platform, account_key) = match inbox.channel {
                Channel::Instagram => (Platform::Instagram, "instagram_account_id"),
                _ => (Platform::Messenger, "page_id"),
            };
            messenger::verify_signature(secret(&inbox, "app_secret")?, &body, header(messenger::SIGNATURE_HEADER)).map_err(webhook_error)?;
            messenger::parse_webhook(platform, &body, inbox.config_str(account_key).unwrap_or_default()).map_err(webhook_error)?
        }
        _ => return Err(ApiError::NotFound),
    };
    let stored_any = !events.is_empty();
    for event in events {
        store_event(&st, &inbox, event).await?;
    }
    if let Some((external_id, code)) = language.filter(|_| stored_any) {
        remember_language(&st, &inbox, external_id, code).await?;
    }
    Ok(match answer {
        Some(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        None => StatusCode::OK.into_response(),
    })
}

/// The contact model has no language field: the customer's language goes
/// in the card's custom fields as `language` (kept up to date, written
/// only when it changes).
async fn remember_language(st: &AppState, inbox: &Inbox, external_id: String, code: String) -> ApiResult<()> {
    let ws = inbox.workspace_id;
    let who = ProviderIdentity { external_id, name: None, phone: None };
    let contact = st.store.contact_for_identity(ws, inbox.id, who, st.now()).await?;
    if contact.custom_fields.get("language").and_then(|v| v.as_str()) == Some(code.as_str()) {
        return Ok(());
    }
    let mut fields = serde_json::Map::new();
    fields.insert("language".to_owned(), code.into());
    let patch = switchboard_store::ContactFields { custom_fields: Some(fields), ..Default::default() };
    st.store.update_contact(ws, contact.id, patch, st.now()).await?;
    Ok(())
}

/// What agents see for a message without text.
fn media_line(media: &[switchboard_channels::provider::MediaRef]) -> String {
    media
        .iter()
        .map(|m| match (&m.filename, &m.mime_type) {
            (Some(f), _) => format!("[file: {f}]"),
            (None, Some(t)) => format!("[{}]", t.split('/').next().unwrap_or("file")),
            (None, None) => "[file]".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn store_event(st: &AppState, inbox: &Inbox, event: InboundEvent) -> ApiResult<()> {
    let ws = inbox.workspace_id;
    let now = st.now();
    match event {
        InboundEvent::Message { external_id, from, content, media, .. } => {
            let who = ProviderIdentity { external_id: from.external_id, name: from.name, phone: from.phone };
            let contact = st.store.contact_for_identity(ws, inbox.id, who, now).await?;
            let dedup_key = format!("{}:{}:{external_id}", inbox.channel.as_str(), inbox.id);
            // Files are fetched before the write (see media.rs), never for a
            // redelivery of a stored message; failures become visible lines.
            let fetched = if media.is_empty() || st.store.dedup_key_seen(ws, &dedup_key).await? {
                crate::media::Fetched::default()
            } else {
                crate::media::fetch_all(st, inbox, contact.id, &media, super::files::MAX_FILES_PER_MESSAGE).await?
            };
            let text = [content.as_str()].into_iter().chain(fetched.notes.iter().map(String::as_str)).filter(|l| !l.trim().is_empty());
            let content = text.collect::<Vec<_>>().join("\n");
            let content = match (content.is_empty(), fetched.attachment_ids.is_empty(), media.is_empty()) {
                (false, _, _) => content,
                // A file-only message, as the widget stores them.
                (true, false, _) => String::new(),
                (true, true, false) => media_line(&media),
                (true, true, true) => "[empty message]".to_owned(),
            };
            let content: String = content.chars().take(validate::MAX_MESSAGE_CHARS).collect();
            let inbound = InboundMessage {
                inbox_id: inbox.id,
                contact_id: contact.id,
                content,
                echo_id: None,
                dedup_key: Some(dedup_key),
                attachment_ids: fetched.attachment_ids,
            };
            let received = st.store.receive_message(ws, inbound, now).await?;
            if received.created {
                st.metrics.messages_received.fetch_add(1, Ordering::Relaxed);
                st.publish(received.events.clone());
                let st = st.clone();
                tokio::spawn(async move { crate::automation_hooks::after_inbound(&st, ws, &received).await });
            }
        }
        InboundEvent::Status { external_id, status, error, .. } => {
            let written = st.store.apply_provider_status(ws, inbox.id, &external_id, status, error.as_deref(), now).await?;
            st.publish(written.events);
        }
        // Meta's watermarks name no message: advance by send time.
        InboundEvent::ReadUpTo { peer, up_to_ms, status } => {
            let written = st.store.advance_delivery_until(ws, inbox.id, &peer, Timestamp(up_to_ms), status, now).await?;
            st.publish(written.events);
        }
        // A message the business sent from the provider's own app: shown
        // in the thread as sent, never sent again. The echo of our own send
        // (its id already stored by the outbox) and redeliveries are no-ops;
        // an echo that beats our send's answer settles that send.
        InboundEvent::Echo { external_id, to, content, idempotency_key, .. } => {
            let who = ProviderIdentity { external_id: to.external_id, name: to.name, phone: to.phone };
            let content: String = content.chars().take(validate::MAX_MESSAGE_CHARS).collect();
            let content = if content.trim().is_empty() { "[empty message]".to_owned() } else { content };
            // The echo of our own send may beat the send's answer: the key
            // (or the send in flight) names the message it is.
            let key = idempotency_key.as_deref().and_then(provider::parse_idempotency_key).map(MessageId);
            let written = st.store.record_echo_keyed(ws, inbox.id, who, &external_id, &content, key, now).await?;
            st.publish(written.events);
        }
        // Subscription news (Viber): acknowledged, not stored.
        InboundEvent::Subscription { .. } => {}
    }
    Ok(())
}
