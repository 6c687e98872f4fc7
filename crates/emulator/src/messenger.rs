//! Meta's Messenger Platform for Facebook Messenger and Instagram Direct:
//! the Send API (`POST /{version}/me/messages`) with its window rule, and
//! the `entry[].messaging[]` webhooks (messages, delivery and read
//! receipts) signed with `X-Hub-Signature-256` like WhatsApp's.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;

use crate::Delivery;
use crate::state::{Injected, Inner, Provider, SentMessage};

const MESSENGER_MAX_TEXT_CHARS: usize = 2000;
const INSTAGRAM_MAX_TEXT_BYTES: usize = 1000;
/// Tags the Send API takes with `messaging_type: MESSAGE_TAG`.
const TAGS: &[&str] = &[
    "HUMAN_AGENT",
    "CONFIRMED_EVENT_UPDATE",
    "POST_PURCHASE_UPDATE",
    "ACCOUNT_UPDATE",
];

pub(crate) fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn graph_error(
    inner: &Inner,
    status: StatusCode,
    code: u32,
    subcode: Option<u32>,
    message: &str,
) -> Response {
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": inner.new_fbtrace_id(),
    });
    if let Some(subcode) = subcode {
        error["error_subcode"] = json!(subcode);
    }
    (status, Json(json!({ "error": error }))).into_response()
}

/// The page token from `Authorization: Bearer` or `?access_token=`, and
/// the product it belongs to.
fn page_token<'a>(headers: &'a HeaderMap, query: &'a HashMap<String, String>) -> Option<&'a str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .or_else(|| query.get("access_token").map(String::as_str))
}

fn product(
    inner: &Inner,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Option<Provider> {
    let token = page_token(headers, query)?;
    inner.lock().page_tokens.get(token).copied()
}

/// The app id Meta puts on echoes of sends made through the Send API.
const APP_ID: u64 = 1_517_776_481_860_111;

#[derive(Debug, PartialEq, Eq)]
struct Outbound {
    recipient: String,
    /// `RESPONSE`/`UPDATE` (free-form) or tagged `HUMAN_AGENT`.
    human_agent: bool,
}

/// The Send API's checks; the error is Meta's (#100) message text.
fn validate(body: &Value, product: Provider) -> Result<Outbound, String> {
    let obj = body
        .as_object()
        .ok_or("The request body must be a JSON object")?;
    let recipient = obj
        .get("recipient")
        .and_then(|r| r.get("id"))
        .and_then(Value::as_str)
        .filter(|id| !id.trim().is_empty())
        .ok_or("(#100) The parameter recipient is required")?;
    let messaging_type = obj
        .get("messaging_type")
        .and_then(Value::as_str)
        .ok_or("(#100) The parameter messaging_type is required")?;
    let tag = obj.get("tag").and_then(Value::as_str);
    let human_agent = match messaging_type {
        "RESPONSE" | "UPDATE" => false,
        "MESSAGE_TAG" => match tag {
            Some(t) if TAGS.contains(&t) => t == "HUMAN_AGENT",
            _ => return Err("(#100) Param tag must be one of {HUMAN_AGENT, CONFIRMED_EVENT_UPDATE, POST_PURCHASE_UPDATE, ACCOUNT_UPDATE}".into()),
        },
        other => return Err(format!("(#100) Param messaging_type has an unsupported value: {other}")),
    };
    let message = obj
        .get("message")
        .and_then(Value::as_object)
        .ok_or("(#100) The parameter message is required")?;
    match (message.get("text"), message.get("attachment")) {
        (Some(Value::String(text)), None) => {
            if text.trim().is_empty() {
                return Err("(#100) Param message[text] must be non-empty".into());
            }
            let too_long = match product {
                Provider::Instagram => text.len() > INSTAGRAM_MAX_TEXT_BYTES,
                _ => text.chars().count() > MESSENGER_MAX_TEXT_CHARS,
            };
            if too_long {
                return Err(
                    "(#100) Length of param message[text] must be less than or equal to 2000"
                        .into(),
                );
            }
        }
        (None, Some(Value::Object(_))) => {}
        _ => return Err("(#100) Must send either message[text] or message[attachment]".into()),
    }
    Ok(Outbound {
        recipient: recipient.trim().to_owned(),
        human_agent,
    })
}

/// The Send API's "upload and send": a `multipart/form-data` body whose
/// `recipient` and `message` fields are JSON text and whose `filedata`
/// part is the file. The file is kept as media; the recorded send's body
/// names it as `filedata` (see [`crate::Emulator::media_bytes`]).
fn upload_and_send(inner: &Inner, raw: &[u8], boundary: &str) -> Result<Value, String> {
    let parts = crate::telegram::parse_multipart(raw, boundary)
        .ok_or("(#100) The multipart/form-data body could not be parsed")?;
    let mut body = serde_json::Map::new();
    let mut file = None;
    for part in parts {
        if part.name == "filedata" {
            if part.filename.is_none() {
                return Err("(#100) filedata must be a file".into());
            }
            file = Some(part);
            continue;
        }
        let text = String::from_utf8(part.data)
            .map_err(|_| format!("(#100) Param {} is not valid UTF-8", part.name))?;
        let value = match part.name.as_str() {
            "recipient" | "message" => serde_json::from_str::<Value>(&text)
                .map_err(|_| format!("(#100) Param {} must be a JSON object", part.name))?,
            _ => Value::String(text),
        };
        body.insert(part.name, value);
    }
    let kind = body
        .get("message")
        .and_then(|m| m.get("attachment"))
        .and_then(|a| a.get("type"))
        .and_then(Value::as_str)
        .ok_or("(#100) An upload needs message[attachment][type]")?;
    if !["image", "video", "audio", "file"].contains(&kind) {
        return Err(format!("(#100) Param message[attachment][type] must be one of {{image, video, audio, file}}, not {kind}"));
    }
    let file = file.ok_or("(#100) An attachment upload needs a filedata part")?;
    if file.data.is_empty() {
        return Err("(#100) The uploaded file is empty".into());
    }
    let id = inner.add_media(
        file.content_type
            .as_deref()
            .unwrap_or("application/octet-stream"),
        file.data,
    );
    body.insert("filedata".to_owned(), Value::String(id));
    Ok(Value::Object(body))
}

/// `POST /{version}/me/messages`
pub(crate) async fn send_message(
    State(inner): State<Arc<Inner>>,
    Path(_version): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    inner.count_attempt();
    let Some(product) = product(&inner, &headers, &query) else {
        return graph_error(
            &inner,
            StatusCode::UNAUTHORIZED,
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
        );
    };
    if let Some(failure) = inner.draw_failure() {
        return match failure {
            Injected::TooManyRequests { retry_after_secs } => {
                let mut r = graph_error(
                    &inner,
                    StatusCode::TOO_MANY_REQUESTS,
                    613,
                    None,
                    "(#613) Calls to this api have exceeded the rate limit.",
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                r
            }
            Injected::ServerError(status) => graph_error(
                &inner,
                status,
                2,
                None,
                "An unexpected error has occurred. Please retry your request later.",
            ),
        };
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let body = if let Some(boundary) = crate::telegram::multipart_boundary(content_type) {
        match upload_and_send(&inner, &body, &boundary) {
            Ok(body) => body,
            Err(message) => {
                return graph_error(&inner, StatusCode::BAD_REQUEST, 100, None, &message);
            }
        }
    } else {
        let Ok(body) = serde_json::from_slice::<Value>(&body) else {
            return graph_error(
                &inner,
                StatusCode::BAD_REQUEST,
                100,
                None,
                "(#100) The request body is not valid JSON",
            );
        };
        body
    };
    // An attachment named by URL is downloaded by Meta.
    let mut body = body;
    let attachment_url = body
        .pointer("/message/attachment/payload/url")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let (Some(url), Some(fields)) = (attachment_url, body.as_object_mut()) {
        inner.fetch_into(&url, fields).await;
    }
    let outbound = match validate(&body, product) {
        Ok(o) => o,
        Err(message) => return graph_error(&inner, StatusCode::BAD_REQUEST, 100, None, &message),
    };
    let closed = !outbound.human_agent
        && inner
            .lock()
            .meta_closed_windows
            .contains(&outbound.recipient);
    if closed {
        return graph_error(
            &inner,
            StatusCode::BAD_REQUEST,
            10,
            Some(2_018_278),
            "(#10) This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview",
        );
    }
    let mid = inner.new_wamid().replacen("wamid.", "m_", 1);
    // The page's `message_echoes` event: our send as Meta echoes it, with
    // the `metadata` the send carried.
    let mut echo_message = body.get("message").cloned().unwrap_or_else(|| json!({}));
    // An uploaded file comes back as Meta shows it: `attachments[]` with
    // a CDN URL of the file.
    if let Some(media_id) = body.get("filedata").and_then(Value::as_str)
        && let Some(message) = echo_message.as_object_mut()
        && let Some(attachment) = message.remove("attachment")
    {
        let kind = attachment.get("type").cloned().unwrap_or_else(|| json!("file"));
        let url = format!("{}/cdn/{media_id}", inner.base_url);
        message.insert("attachments".to_owned(), json!([{ "type": kind, "payload": { "url": url } }]));
    }
    echo_message["mid"] = json!(mid);
    echo_message["is_echo"] = json!(true);
    echo_message["app_id"] = json!(APP_ID);
    let subscription = {
        let mut state = inner.lock();
        state.sent.push(SentMessage {
            provider: product,
            account: "me".to_owned(),
            to: outbound.recipient.clone(),
            body,
            external_id: mid.clone(),
        });
        page_token(&headers, &query).and_then(|t| state.page_webhooks.get(t).cloned())
    };
    if let Some((page_id, subscription)) = subscription {
        let event = json!({
            "sender": { "id": page_id },
            "recipient": { "id": outbound.recipient },
            "timestamp": unix_ms(),
            "message": echo_message,
        });
        // Delivered before the send is answered: the race a product must
        // survive (Meta gives no order between the two).
        let _ = inner
            .meta_event(
                product,
                &subscription.url,
                &subscription.app_secret,
                &page_id,
                &mid,
                event,
            )
            .await;
    }
    inner.delay_answer().await;
    Json(json!({ "recipient_id": outbound.recipient, "message_id": mid })).into_response()
}

fn object(product: Provider) -> &'static str {
    if product == Provider::Instagram {
        "instagram"
    } else {
        "page"
    }
}

/// `{"object":"page"|"instagram","entry":[{"id","time","messaging":[event]}]}`.
pub(crate) fn envelope(product: Provider, account_id: &str, event: Value) -> Vec<u8> {
    json!({
        "object": object(product),
        "entry": [{ "id": account_id, "time": unix_ms(), "messaging": [event] }],
    })
    .to_string()
    .into_bytes()
}

/// A customer's message event; `message` gets its `mid` filled in.
pub(crate) fn message_payload(
    inner: &Inner,
    product: Provider,
    account_id: &str,
    sender: &str,
    mut message: Value,
) -> (String, Vec<u8>) {
    let mid = inner.new_wamid().replacen("wamid.", "m_", 1);
    message["mid"] = json!(mid);
    let event = json!({
        "sender": { "id": sender },
        "recipient": { "id": account_id },
        "timestamp": unix_ms(),
        "message": message,
    });
    (mid, envelope(product, account_id, event))
}

impl Inner {
    pub(crate) async fn meta_inbound(
        &self,
        product: Provider,
        webhook_url: &str,
        app_secret: &str,
        account_id: &str,
        sender: &str,
        message: Value,
    ) -> reqwest::Result<Delivery> {
        let (id, body) = message_payload(self, product, account_id, sender, message);
        let status = self
            .post_signed_whatsapp(webhook_url, app_secret, &body)
            .await?;
        Ok(Delivery { status, id, body })
    }

    pub(crate) async fn meta_event(
        &self,
        product: Provider,
        webhook_url: &str,
        app_secret: &str,
        account_id: &str,
        id: &str,
        event: Value,
    ) -> reqwest::Result<Delivery> {
        let body = envelope(product, account_id, event);
        let status = self
            .post_signed_whatsapp(webhook_url, app_secret, &body)
            .await?;
        Ok(Delivery {
            status,
            id: id.to_owned(),
            body,
        })
    }

    pub(crate) fn set_meta_window(&self, recipient: &str, closed: bool) {
        let mut state = self.lock();
        if closed {
            state
                .meta_closed_windows
                .insert(recipient.trim().to_owned());
        } else {
            state.meta_closed_windows.remove(recipient.trim());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_accepts_documented_shapes() {
        let ok = validate(
            &json!({"recipient":{"id":"1254459154682919"},"messaging_type":"RESPONSE","message":{"text":"hello, world!"}}),
            Provider::Messenger,
        );
        assert_eq!(
            ok,
            Ok(Outbound {
                recipient: "1254459154682919".into(),
                human_agent: false
            })
        );
        let tagged = validate(
            &json!({"recipient":{"id":"u"},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT","message":{"text":"late"}}),
            Provider::Instagram,
        );
        assert_eq!(
            tagged,
            Ok(Outbound {
                recipient: "u".into(),
                human_agent: true
            })
        );
        assert!(validate(&json!({"recipient":{"id":"u"},"messaging_type":"UPDATE","message":{"attachment":{"type":"image","payload":{"url":"https://x"}}}}), Provider::Messenger).is_ok());
    }

    #[test]
    fn validate_rejects_malformed() {
        let bad = [
            json!([]),
            json!({"messaging_type":"RESPONSE","message":{"text":"no recipient"}}),
            json!({"recipient":{"id":"u"},"message":{"text":"no type"}}),
            json!({"recipient":{"id":"u"},"messaging_type":"MESSAGE_TAG","message":{"text":"no tag"}}),
            json!({"recipient":{"id":"u"},"messaging_type":"MESSAGE_TAG","tag":"PROMO","message":{"text":"bad tag"}}),
            json!({"recipient":{"id":"u"},"messaging_type":"RESPONSE","message":{"text":""}}),
            json!({"recipient":{"id":"u"},"messaging_type":"RESPONSE","message":{"text":"x".repeat(2001)}}),
            json!({"recipient":{"id":"u"},"messaging_type":"RESPONSE"}),
        ];
        for body in bad {
            assert!(validate(&body, Provider::Messenger).is_err(), "{body}");
        }
        assert!(validate(&json!({"recipient":{"id":"u"},"messaging_type":"RESPONSE","message":{"text":"é".repeat(501)}}), Provider::Instagram).is_err());
    }
}
