//! Telegram Bot API: `/bot{token}/{method}` (sendMessage, sendPhoto,
//! sendDocument, sendAudio, sendVideo, sendVoice, getFile, getMe,
//! answerCallbackQuery, setWebhook, deleteWebhook), file downloads, and the Update payloads
//! posted to the product with `X-Telegram-Bot-Api-Secret-Token`.
//!
//! Parameters come from the query string and/or a JSON or
//! `multipart/form-data` body, as the real API accepts. An uploaded file
//! (a multipart part with a filename) is kept as media: its new `file_id`
//! stands in the sent parameters, and [`crate::Emulator::media_bytes`]
//! gives back the bytes that arrived.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::Delivery;
use crate::state::{Injected, Inner, Media, Provider, SentMessage, unix_now};

const MAX_TEXT_CHARS: usize = 4096;
const MAX_CAPTION_CHARS: usize = 1024;

fn error(status: StatusCode, description: &str) -> Response {
    let body = json!({ "ok": false, "error_code": status.as_u16(), "description": description });
    (status, Json(body)).into_response()
}

fn bad_request(description: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        &format!("Bad Request: {description}"),
    )
}

fn ok(result: Value) -> Response {
    Json(json!({ "ok": true, "result": result })).into_response()
}

fn injected(failure: Injected) -> Response {
    match failure {
        Injected::TooManyRequests { retry_after_secs } => {
            let body = json!({
                "ok": false,
                "error_code": 429,
                "description": format!("Too Many Requests: retry after {retry_after_secs}"),
                "parameters": { "retry_after": retry_after_secs },
            });
            (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response()
        }
        Injected::ServerError(status) => error(
            status,
            status.canonical_reason().unwrap_or("Internal Server Error"),
        ),
    }
}

/// The bot's own User object; its id is the token's part before `:`.
fn bot_user(token: &str) -> Value {
    let id = token
        .split(':')
        .next()
        .and_then(|id| id.parse::<i64>().ok())
        .unwrap_or(0);
    json!({ "id": id, "is_bot": true, "first_name": "Switchboard Emulator", "username": "switchboard_emulator_bot" })
}

fn bot_id(token: &str) -> String {
    token.split(':').next().unwrap_or_default().to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendKind {
    Text,
    Photo,
    Document,
    Audio,
    Video,
    Voice,
}

impl SendKind {
    fn from_method(method: &str) -> Option<Self> {
        match method {
            "sendmessage" => Some(Self::Text),
            "sendphoto" => Some(Self::Photo),
            "senddocument" => Some(Self::Document),
            "sendaudio" => Some(Self::Audio),
            "sendvideo" => Some(Self::Video),
            "sendvoice" => Some(Self::Voice),
            _ => None,
        }
    }

    /// The parameter (and Message field) that carries the media.
    fn field(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Photo => "photo",
            Self::Document => "document",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Voice => "voice",
        }
    }
}

/// `POST|GET /bot{token}/{method}`
pub(crate) async fn bot_method(
    State(inner): State<Arc<Inner>>,
    Path((token, method)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    // Method names are case-insensitive in the Bot API.
    let method = method.to_ascii_lowercase();
    let send_kind = SendKind::from_method(&method);
    if send_kind.is_some() {
        inner.count_attempt();
    }
    if !inner.lock().telegram_tokens.contains(&token) {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let mut params: Map<String, Value> = query
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(boundary) = multipart_boundary(content_type) {
        let Some(parts) = parse_multipart(&body, &boundary) else {
            return bad_request("can't parse multipart/form-data body");
        };
        for part in parts {
            let value = match part.filename {
                // A file: kept as media, named by its new file_id.
                Some(_) => inner.add_media(
                    part.content_type
                        .as_deref()
                        .unwrap_or("application/octet-stream"),
                    part.data,
                ),
                None => match String::from_utf8(part.data) {
                    Ok(text) => text,
                    Err(_) => return bad_request("can't parse multipart/form-data body"),
                },
            };
            params.insert(part.name, Value::String(value));
        }
    } else if !body.is_empty() {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(fields)) => params.extend(fields),
            _ => return bad_request("can't parse JSON object"),
        }
    }
    match (send_kind, method.as_str()) {
        (Some(kind), _) => {
            if let Some(failure) = inner.draw_failure() {
                return injected(failure);
            }
            let response = send(&inner, &token, kind, params);
            // An accepted send may have its answer held (`set_answer_delay`).
            if response.status().is_success() {
                inner.delay_answer().await;
            }
            response
        }
        (None, "getme") => ok(bot_user(&token)),
        (None, "answercallbackquery") => ok(json!(true)),
        (None, "getfile") => get_file(&inner, &params),
        (None, "setwebhook") => {
            let url = params
                .get("url")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let secret = params
                .get("secret_token")
                .and_then(Value::as_str)
                .map(str::to_owned);
            // Telegram: 1-256 characters, A-Z, a-z, 0-9, _ and -.
            if let Some(s) = &secret
                && (s.is_empty()
                    || s.len() > 256
                    || !s
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
            {
                return bad_request("secret token contains unallowed characters");
            }
            let mut state = inner.lock();
            if url.is_empty() {
                state.telegram_webhooks.remove(&token);
                state.telegram_webhook_secrets.remove(&token);
            } else {
                state.telegram_webhooks.insert(token.clone(), url);
                match secret {
                    Some(s) => state.telegram_webhook_secrets.insert(token, s),
                    None => state.telegram_webhook_secrets.remove(&token),
                };
            }
            Json(json!({ "ok": true, "result": true, "description": "Webhook was set" }))
                .into_response()
        }
        (None, "deletewebhook") => {
            inner.lock().telegram_webhooks.remove(&token);
            Json(json!({ "ok": true, "result": true, "description": "Webhook was deleted" }))
                .into_response()
        }
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

pub(crate) fn multipart_boundary(content_type: &str) -> Option<String> {
    let mut pieces = content_type.split(';');
    if !pieces
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    pieces.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

pub(crate) struct Part {
    pub(crate) name: String,
    pub(crate) filename: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) data: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// A quoted (or bare) parameter of a `Content-Disposition` header.
fn disposition_param(header: &str, key: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The parts of a `multipart/form-data` body (RFC 7578); `None` when it
/// is malformed.
pub(crate) fn parse_multipart(body: &[u8], boundary: &str) -> Option<Vec<Part>> {
    let delimiter = format!("--{boundary}");
    let mut at = find(body, delimiter.as_bytes(), 0)? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        if body.get(at..at + 2)? == b"--" {
            return Some(parts);
        }
        let head_start = find(body, b"\r\n", at)? + 2;
        let head_end = find(body, b"\r\n\r\n", head_start)?;
        let head = std::str::from_utf8(body.get(head_start..head_end)?).ok()?;
        let next = find(body, format!("\r\n{delimiter}").as_bytes(), head_end + 4)?;
        let (mut name, mut filename, mut content_type) = (None, None, None);
        for line in head.split("\r\n") {
            let (k, v) = line.split_once(':')?;
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                name = disposition_param(v, "name");
                filename = disposition_param(v, "filename");
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(v.trim().to_owned());
            }
        }
        parts.push(Part {
            name: name?,
            filename,
            content_type,
            data: body.get(head_end + 4..next)?.to_vec(),
        });
        at = next + 2 + delimiter.len();
    }
}

/// Telegram accepts `chat_id` as a number or a string; `@channel` names
/// do not resolve to private chats, which is all the emulator has.
fn chat_id(params: &Map<String, Value>) -> Option<i64> {
    match params.get("chat_id")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|id| *id != 0)
}

fn text_param<'a>(params: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    params.get(key).and_then(Value::as_str)
}

fn send(inner: &Inner, token: &str, kind: SendKind, params: Map<String, Value>) -> Response {
    let Some(chat_id) = chat_id(&params) else {
        return bad_request(if params.contains_key("chat_id") {
            "chat not found"
        } else {
            "chat_id is empty"
        });
    };
    let mut content = Map::new();
    if kind == SendKind::Text {
        let text = text_param(&params, "text").unwrap_or_default();
        if text.trim().is_empty() {
            return bad_request("message text is empty");
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return bad_request("message is too long");
        }
        content.insert("text".into(), json!(text));
    } else {
        let field = kind.field();
        let Some(reference) = text_param(&params, field).filter(|r| !r.trim().is_empty()) else {
            return bad_request(&format!("there is no {field} in the request"));
        };
        let is_url = reference.starts_with("http://") || reference.starts_with("https://");
        let media = inner.media(reference);
        if media.is_none() && !is_url {
            return bad_request("wrong file identifier/HTTP URL specified");
        }
        let file_id = media
            .as_ref()
            .map_or_else(|| inner.new_media_id(), |m| m.id.clone());
        content.insert(field.into(), file_object(kind, &file_id, media.as_ref()));
        if let Some(caption) = text_param(&params, "caption").filter(|c| !c.is_empty()) {
            if caption.chars().count() > MAX_CAPTION_CHARS {
                return bad_request("message caption is too long");
            }
            content.insert("caption".into(), json!(caption));
        }
    }

    let mut state = inner.lock();
    let first_message_id = inner.first_message_id();
    let chat = state.chats.entry(chat_id).or_default();
    if chat.blocked {
        drop(state);
        return error(
            StatusCode::FORBIDDEN,
            "Forbidden: bot was blocked by the user",
        );
    }
    chat.last_message_id = chat.last_message_id.max(first_message_id) + 1;
    let message_id = chat.last_message_id;
    let mut chat_object = json!({ "id": chat_id, "type": "private" });
    if let Some(name) = &chat.first_name {
        chat_object["first_name"] = json!(name);
    }
    let mut message = json!({
        "message_id": message_id,
        "from": bot_user(token),
        "chat": chat_object,
        "date": unix_now(),
    });
    if let Some(message) = message.as_object_mut() {
        message.extend(content);
    }
    state.sent.push(SentMessage {
        provider: Provider::Telegram,
        account: bot_id(token),
        to: chat_id.to_string(),
        body: Value::Object(params),
        external_id: format!("{chat_id}:{message_id}"),
    });
    drop(state);
    ok(message)
}

/// The PhotoSize array / Document / Audio / Video object of a Message.
fn file_object(kind: SendKind, file_id: &str, media: Option<&Media>) -> Value {
    let mut file = json!({ "file_id": file_id, "file_unique_id": format!("u{file_id}") });
    if let Some(media) = media {
        file["file_size"] = json!(media.bytes.len());
        if kind != SendKind::Photo {
            file["mime_type"] = json!(media.mime_type);
        }
    }
    match kind {
        SendKind::Photo => {
            file["width"] = json!(800);
            file["height"] = json!(600);
            json!([file])
        }
        SendKind::Document => {
            file["file_name"] = json!(format!("file_{file_id}.{}", extension(media)));
            file
        }
        SendKind::Audio | SendKind::Voice => {
            file["duration"] = json!(1);
            file
        }
        SendKind::Video => {
            file["width"] = json!(640);
            file["height"] = json!(360);
            file["duration"] = json!(1);
            file
        }
        SendKind::Text => file,
    }
}

fn extension(media: Option<&Media>) -> &'static str {
    match media.map(|m| m.mime_type.as_str()) {
        Some("image/jpeg") => "jpg",
        Some("image/png") => "png",
        Some("application/pdf") => "pdf",
        Some("audio/ogg") => "ogg",
        Some("audio/mpeg") => "mp3",
        Some("video/mp4") => "mp4",
        Some("text/plain") => "txt",
        _ => "bin",
    }
}

fn file_path(media: &Media) -> String {
    let dir = match media.mime_type.split('/').next() {
        Some("image") => "photos",
        Some("audio") => "music",
        Some("video") => "videos",
        _ => "documents",
    };
    format!("{dir}/file_{}.{}", media.id, extension(Some(media)))
}

fn get_file(inner: &Inner, params: &Map<String, Value>) -> Response {
    let Some(media) = text_param(params, "file_id").and_then(|id| inner.media(id)) else {
        return bad_request("invalid file_id");
    };
    ok(json!({
        "file_id": media.id,
        "file_unique_id": format!("u{}", media.id),
        "file_size": media.bytes.len(),
        "file_path": file_path(&media),
    }))
}

/// `GET /file/bot{token}/{file_path}`
pub(crate) async fn file_download(
    State(inner): State<Arc<Inner>>,
    Path((token, path)): Path<(String, String)>,
) -> Response {
    if !inner.lock().telegram_tokens.contains(&token) {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let id = path
        .rsplit('/')
        .next()
        .and_then(|name| name.strip_prefix("file_"))
        .and_then(|name| name.split('.').next());
    match id.and_then(|id| inner.media(id)) {
        Some(media) => ([(header::CONTENT_TYPE, media.mime_type)], media.bytes).into_response(),
        None => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// An Update with a `message` from the customer in private chat
/// `chat_id`; `content` holds the message's payload fields (`text`, or
/// `photo`/`document`/… with `caption`). Returns the update_id and bytes.
pub(crate) fn update_payload(
    inner: &Inner,
    chat_id: i64,
    first_name: &str,
    content: Value,
) -> (i64, Vec<u8>) {
    let first_message_id = inner.first_message_id();
    let mut state = inner.lock();
    state.last_update_id += 1;
    let update_id = state.last_update_id;
    let chat = state.chats.entry(chat_id).or_default();
    chat.last_message_id = chat.last_message_id.max(first_message_id) + 1;
    chat.first_name = Some(first_name.to_owned());
    let message_id = chat.last_message_id;
    drop(state);

    let mut message = json!({
        "message_id": message_id,
        "from": { "id": chat_id, "is_bot": false, "first_name": first_name, "language_code": "en" },
        "chat": { "id": chat_id, "first_name": first_name, "type": "private" },
        "date": unix_now(),
    });
    if let (Some(message), Value::Object(content)) = (message.as_object_mut(), content) {
        message.extend(content);
    }
    let update = json!({ "update_id": update_id, "message": message });
    (update_id, update.to_string().into_bytes())
}

/// Message content for a file the emulator holds: `photo` for images,
/// `audio`, `video`, else `document`.
pub(crate) fn media_content(inner: &Inner, file_id: &str, caption: Option<&str>) -> Option<Value> {
    let media = inner.media(file_id)?;
    let kind = match media.mime_type.split('/').next() {
        Some("image") => SendKind::Photo,
        Some("audio") => SendKind::Audio,
        Some("video") => SendKind::Video,
        _ => SendKind::Document,
    };
    let mut content = json!({ kind.field(): file_object(kind, &media.id, Some(&media)) });
    if let Some(caption) = caption {
        content["caption"] = json!(caption);
    }
    Some(content)
}

impl Inner {
    pub(crate) async fn post_telegram(
        &self,
        url: &str,
        secret_token: &str,
        raw: &[u8],
    ) -> reqwest::Result<StatusCode> {
        let response = self
            .client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header("X-Telegram-Bot-Api-Secret-Token", secret_token)
            .body(raw.to_vec())
            .send()
            .await?;
        Ok(response.status())
    }

    pub(crate) async fn telegram_inbound(
        &self,
        webhook_url: &str,
        secret_token: &str,
        chat_id: i64,
        first_name: &str,
        content: Value,
    ) -> reqwest::Result<Delivery> {
        let (update_id, body) = update_payload(self, chat_id, first_name, content);
        let status = self.post_telegram(webhook_url, secret_token, &body).await?;
        Ok(Delivery {
            status,
            id: update_id.to_string(),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_id_accepts_number_and_numeric_string() {
        let params = |v: Value| {
            json!({ "chat_id": v })
                .as_object()
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!(chat_id(&params(json!(42))), Some(42));
        assert_eq!(chat_id(&params(json!("-100123"))), Some(-100123));
        assert_eq!(chat_id(&params(json!("@channel"))), None);
        assert_eq!(chat_id(&params(json!(0))), None);
    }

    #[test]
    fn multipart_bodies_parse() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n42\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x00\r\n\xff\r\n--XyZ--\r\n";
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=XyZ").as_deref(),
            Some("XyZ")
        );
        assert_eq!(multipart_boundary("application/json"), None);
        let parts = parse_multipart(body, "XyZ").expect("a valid body");
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].data.as_slice()),
            ("chat_id", &b"42"[..])
        );
        assert_eq!(parts[1].filename.as_deref(), Some("a.png"));
        assert_eq!(parts[1].content_type.as_deref(), Some("image/png"));
        assert_eq!(parts[1].data, b"\x00\r\n\xff");
        assert!(parse_multipart(b"--XyZ\r\nbroken", "XyZ").is_none());
    }

    #[test]
    fn bot_user_takes_id_from_token() {
        assert_eq!(bot_user("123:abc")["id"], json!(123));
        assert_eq!(bot_id("123:abc"), "123");
    }
}
