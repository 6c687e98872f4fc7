//! Facebook Messenger and Instagram Direct, both on Meta's Messenger
//! Platform: the subscription check and `X-Hub-Signature-256` (the same as
//! WhatsApp's), the `entry[].messaging[]` webhook turned into
//! [`InboundEvent`]s, the Send API request, the answers to it, and the
//! messaging window (24 hours free-form, then the `HUMAN_AGENT` tag up to
//! 7 days, then nothing).
//!
//! One module for both: Instagram Messaging uses the Messenger Platform's
//! wire format with `object: "instagram"`, Instagram-scoped ids instead of
//! page-scoped ones, and a few message types of its own (story mentions,
//! shares, reels, `read.mid` instead of a read watermark). [`Platform`]
//! says which one an inbox is.
//!
//! Pure: no IO and no clock. Formats follow Meta's "Messenger Platform"
//! webhook event reference (`messages`, `messaging_postbacks`,
//! `message_deliveries`, `message_reads`, `message_echoes`), the Instagram
//! Platform webhook examples, the Send API reference and its error codes;
//! the tests carry their examples.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use switchboard_core::DeliveryStatus;

use crate::provider::{InboundEvent, MediaRef, SendOutcome, SendRequest, Sender, WebhookError};
use crate::whatsapp;

/// The real Graph API; tests and the demo point `api_base_url` at the
/// emulator instead.
pub const DEFAULT_API_BASE: &str = whatsapp::DEFAULT_API_BASE;
pub const API_VERSION: &str = whatsapp::API_VERSION;
pub const SIGNATURE_HEADER: &str = whatsapp::SIGNATURE_HEADER;
/// Free-form (`RESPONSE`) messages: this long after the customer's last
/// message.
pub const STANDARD_WINDOW_SECS: i64 = 24 * 60 * 60;
/// With the `HUMAN_AGENT` tag, a human may answer this long after it.
pub const HUMAN_AGENT_WINDOW_SECS: i64 = 7 * 24 * 60 * 60;
/// Send API text limits: Messenger counts characters, Instagram bytes.
pub const MESSENGER_MAX_TEXT_CHARS: usize = 2000;
pub const INSTAGRAM_MAX_TEXT_BYTES: usize = 1000;

/// Which Meta product an inbox speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Messenger,
    Instagram,
}

impl Platform {
    /// The webhook's `object`.
    pub fn object(self) -> &'static str {
        match self {
            Platform::Messenger => "page",
            Platform::Instagram => "instagram",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Platform::Messenger => "Messenger",
            Platform::Instagram => "Instagram",
        }
    }
}

// ---------------------------------------------------------------------------
// Verification: Meta's, shared with WhatsApp
// ---------------------------------------------------------------------------

/// Answers the subscription GET (`hub.mode=subscribe`, `hub.verify_token`,
/// `hub.challenge`): see [`whatsapp::verify_challenge`].
pub fn verify_challenge(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&str>,
    verify_token: &str,
) -> Result<String, WebhookError> {
    whatsapp::verify_challenge(mode, token, challenge, verify_token)
}

/// Checks `X-Hub-Signature-256` (HMAC-SHA256 of the raw body under the app
/// secret) before anything is parsed: see [`whatsapp::verify_signature`].
pub fn verify_signature(app_secret: &str, raw_body: &[u8], header: Option<&str>) -> Result<(), WebhookError> {
    whatsapp::verify_signature(app_secret, raw_body, header)
}

pub fn signature_header(app_secret: &str, raw_body: &[u8]) -> String {
    whatsapp::signature_header(app_secret, raw_body)
}

// ---------------------------------------------------------------------------
// Inbound
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct Notification {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    /// The page id (Messenger) or Instagram professional account id.
    #[serde(deserialize_with = "id_string")]
    id: String,
    /// Events for this app. `standby` (another app owns the thread under
    /// the handover protocol) is not ours to answer and is skipped.
    #[serde(default)]
    messaging: Vec<Event>,
}

#[derive(Deserialize)]
struct Party {
    #[serde(deserialize_with = "id_string")]
    id: String,
}

#[derive(Deserialize)]
struct Event {
    sender: Party,
    recipient: Party,
    /// Unix milliseconds. Delivery events carry none.
    #[serde(default)]
    timestamp: Option<i64>,
    message: Option<Message>,
    postback: Option<Postback>,
    delivery: Option<Delivery>,
    read: Option<Read>,
}

#[derive(Deserialize)]
struct Message {
    mid: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    is_echo: bool,
    /// On an echo: the `metadata` string the sender put on the send.
    #[serde(default)]
    metadata: Option<String>,
    /// Instagram: the customer unsent the message `mid`.
    #[serde(default)]
    is_deleted: bool,
    /// Instagram: a message the platform cannot show through the API.
    #[serde(default)]
    is_unsupported: bool,
    #[serde(default)]
    quick_reply: Option<QuickReply>,
    #[serde(default)]
    attachments: Vec<Attachment>,
}

#[derive(Deserialize)]
struct QuickReply {
    #[serde(default)]
    payload: Option<String>,
}

#[derive(Deserialize)]
struct Attachment {
    #[serde(rename = "type")]
    kind: String,
    /// Older fallback attachments put these beside `payload`.
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    payload: Option<Value>,
}

#[derive(Deserialize)]
struct Postback {
    #[serde(default)]
    mid: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    payload: Option<String>,
}

#[derive(Deserialize)]
struct Delivery {
    #[serde(default)]
    mids: Vec<String>,
    #[serde(default)]
    watermark: Option<i64>,
}

#[derive(Deserialize)]
struct Read {
    /// Messenger: everything sent at or before this (Unix ms) was read.
    #[serde(default)]
    watermark: Option<i64>,
    /// Instagram `messaging_seen`: this message (and those before it).
    #[serde(default)]
    mid: Option<String>,
}

/// Meta sends ids as strings; a relay that turns them into numbers is
/// accepted too.
fn id_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("id {other} is not a string"))),
    }
}

fn malformed(e: impl std::fmt::Display) -> WebhookError {
    WebhookError::Malformed(e.to_string())
}

/// Parses a signed notification for the inbox whose page / Instagram
/// account is `account_id`. Entries of other pages of the same app (one
/// webhook for many inboxes) are skipped.
///
/// - customer messages and postbacks → [`InboundEvent::Message`], every
///   attachment type with a readable line, unknown ones as
///   "[unsupported message: …]";
/// - `is_echo` messages (sent by the page, from Meta's own inbox or by
///   us) → [`InboundEvent::Echo`];
/// - `delivery.mids` → one [`InboundEvent::Status`] `delivered` each, and
///   Instagram's `read.mid` → `read`;
/// - watermarks (`delivery.watermark`, Messenger's `read.watermark`) →
///   [`InboundEvent::ReadUpTo`]: Meta names no message, only "everything
///   sent to this person up to then", so the store advances by time.
///
/// Unsent messages (Instagram `is_deleted`), reactions, referrals, opt-ins
/// and other events are acknowledged and skipped.
pub fn parse_webhook(platform: Platform, raw_body: &[u8], account_id: &str) -> Result<Vec<InboundEvent>, WebhookError> {
    let n: Notification = serde_json::from_slice(raw_body).map_err(malformed)?;
    if n.object != platform.object() {
        return Err(WebhookError::Malformed(format!("object {:?} is not {:?}", n.object, platform.object())));
    }
    let mut events = Vec::new();
    for entry in n.entry.into_iter().filter(|e| e.id == account_id) {
        for m in entry.messaging {
            events.extend(messaging_events(m)?);
        }
    }
    Ok(events)
}

fn messaging_events(m: Event) -> Result<Vec<InboundEvent>, WebhookError> {
    let secs = m.timestamp.unwrap_or(0) / 1000;
    let mut out = Vec::new();
    if let Some(message) = m.message {
        if message.is_deleted {
            return Ok(out);
        }
        let (content, media) = render(&message);
        if message.is_echo {
            // Sent by the page: the customer is the recipient.
            let to = Sender { external_id: m.recipient.id, name: None, phone: None };
            let idempotency_key = message.metadata.clone().filter(|k| !k.is_empty());
            out.push(InboundEvent::Echo { external_id: message.mid, to, content, sent_at: secs, idempotency_key });
        } else {
            let from = Sender { external_id: m.sender.id, name: None, phone: None };
            out.push(InboundEvent::Message { external_id: message.mid, from, content, media, sent_at: secs, edit_of: None });
        }
        return Ok(out);
    }
    if let Some(p) = m.postback {
        // Older postbacks carry no mid: sender and time identify the tap,
        // which is what a redelivery repeats.
        let external_id = p
            .mid
            .filter(|mid| !mid.is_empty())
            .unwrap_or_else(|| format!("postback:{}:{}", m.sender.id, m.timestamp.unwrap_or(0)));
        let content = p.title.filter(|t| !t.trim().is_empty()).or(p.payload).unwrap_or_else(|| "[button]".to_owned());
        let from = Sender { external_id: m.sender.id, name: None, phone: None };
        out.push(InboundEvent::Message { external_id, from, content, media: Vec::new(), sent_at: secs, edit_of: None });
        return Ok(out);
    }
    if let Some(d) = m.delivery {
        let at = d.watermark.map_or(secs, |w| w / 1000);
        for mid in d.mids.into_iter().filter(|mid| !mid.is_empty()) {
            out.push(InboundEvent::Status { external_id: mid, status: DeliveryStatus::Delivered, error: None, at });
        }
        if let Some(w) = d.watermark {
            out.push(InboundEvent::ReadUpTo { peer: m.sender.id, up_to_ms: w, status: DeliveryStatus::Delivered });
        }
        return Ok(out);
    }
    if let Some(r) = m.read {
        match (r.mid.filter(|mid| !mid.is_empty()), r.watermark) {
            (Some(mid), _) => out.push(InboundEvent::Status { external_id: mid, status: DeliveryStatus::Read, error: None, at: secs }),
            (None, Some(w)) => out.push(InboundEvent::ReadUpTo { peer: m.sender.id, up_to_ms: w, status: DeliveryStatus::Read }),
            (None, None) => return Err(WebhookError::Malformed("read without watermark or mid".to_owned())),
        }
    }
    Ok(out)
}

fn unsupported_line(kind: &str) -> String {
    format!("[unsupported message: {kind}]")
}

fn payload_str<'a>(a: &'a Attachment, key: &str) -> Option<&'a str> {
    a.payload.as_ref().and_then(|p| p.get(key)).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The text agents see and the files to fetch. Text comes first; each
/// attachment adds a line (media: `[image]`, only when there is no text).
fn render(m: &Message) -> (String, Vec<MediaRef>) {
    let mut lines: Vec<String> = Vec::new();
    let mut media = Vec::new();
    if let Some(text) = m.text.as_deref().filter(|t| !t.trim().is_empty()) {
        lines.push(text.to_owned());
    } else if let Some(payload) = m.quick_reply.as_ref().and_then(|q| q.payload.clone()) {
        lines.push(payload);
    }
    let has_text = !lines.is_empty();
    for a in &m.attachments {
        match a.kind.as_str() {
            "image" | "audio" | "video" | "file" | "story_mention" | "ig_reel" | "reel" | "animated_image" => {
                let url = payload_str(a, "url").or(a.url.as_deref());
                let label = match a.kind.as_str() {
                    "story_mention" => Some("[mentioned you in their story]".to_owned()),
                    "ig_reel" | "reel" => Some(match payload_str(a, "title") {
                        Some(t) => format!("[reel] {t}"),
                        None => "[reel]".to_owned(),
                    }),
                    // A Messenger sticker arrives as an image with a sticker_id.
                    "image" if a.payload.as_ref().and_then(|p| p.get("sticker_id")).is_some() => Some("[sticker]".to_owned()),
                    kind if !has_text => Some(format!("[{kind}]")),
                    _ => None,
                };
                lines.extend(label);
                if let Some(url) = url {
                    media.push(MediaRef { id: url.to_owned(), mime_type: None, filename: None, caption: None });
                }
            }
            "location" => {
                let coords = a.payload.as_ref().and_then(|p| p.get("coordinates"));
                let lat = coords.and_then(|c| c.get("lat")).and_then(Value::as_f64);
                let long = coords.and_then(|c| c.get("long")).and_then(Value::as_f64);
                lines.push(match (lat, long, a.title.as_deref().filter(|t| !t.is_empty())) {
                    (Some(lat), Some(long), Some(t)) => format!("📍 {t} ({lat}, {long})"),
                    (Some(lat), Some(long), None) => format!("📍 ({lat}, {long})"),
                    _ => unsupported_line("location"),
                });
            }
            // A link share Meta summarises: title and URL.
            "fallback" | "share" | "template" => {
                let title = payload_str(a, "title").or(a.title.as_deref()).filter(|t| !t.is_empty());
                let url = payload_str(a, "url").or(a.url.as_deref());
                lines.push(match (title, url) {
                    (Some(t), Some(u)) => format!("🔗 {t} {u}"),
                    (Some(t), None) => format!("🔗 {t}"),
                    (None, Some(u)) => format!("🔗 {u}"),
                    (None, None) => unsupported_line(&a.kind),
                });
            }
            other => lines.push(unsupported_line(other)),
        }
    }
    if lines.is_empty() {
        lines.push(unsupported_line(if m.is_unsupported { "unsupported" } else { "message" }));
    }
    (lines.join("\n"), media)
}

// ---------------------------------------------------------------------------
// The messaging window
// ---------------------------------------------------------------------------

/// How a message may be sent given the customer's last message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Messaging {
    /// `messaging_type: RESPONSE`: within 24 hours.
    Response,
    /// `messaging_type: MESSAGE_TAG`, `tag: HUMAN_AGENT`: a person answering,
    /// from 24 hours up to 7 days.
    HumanAgent,
}

/// The messaging type for a send now, or why none is allowed (after 7
/// days, or if the customer never wrote). A last message stamped in the
/// future (clock skew) counts as just now.
pub fn messaging_for(last_customer_message_at_secs: Option<i64>, now_secs: i64, platform: Platform) -> Result<Messaging, String> {
    let Some(last) = last_customer_message_at_secs else {
        return Err(format!("the customer has not written on {}: Meta allows no first message", platform.name()));
    };
    let age = now_secs.saturating_sub(last);
    if age < STANDARD_WINDOW_SECS {
        Ok(Messaging::Response)
    } else if age < HUMAN_AGENT_WINDOW_SECS {
        Ok(Messaging::HumanAgent)
    } else {
        Err(format!("outside {}'s 7-day window for human agents: the customer must write first", platform.name()))
    }
}

/// Refuses text the Send API would refuse for its length.
pub fn check_text(platform: Platform, text: &str) -> Result<(), String> {
    match platform {
        Platform::Messenger if text.chars().count() > MESSENGER_MAX_TEXT_CHARS => {
            Err(format!("Messenger takes at most {MESSENGER_MAX_TEXT_CHARS} characters per message"))
        }
        Platform::Instagram if text.len() > INSTAGRAM_MAX_TEXT_BYTES => {
            Err(format!("Instagram takes at most {INSTAGRAM_MAX_TEXT_BYTES} bytes (UTF-8) per message"))
        }
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// Outbound: the Send API
// ---------------------------------------------------------------------------
//
// Like WhatsApp's, the Send API has no idempotency key: a POST retried
// after its answer was lost may deliver twice. The outbox worker records
// the message id before settling and never re-posts a row that has one.
// A send may carry `message.metadata` (at most 1,000 characters), which
// Meta hands back on the send's `message_echoes` event: the outbox puts
// its idempotency key there, so the echo of our own send is recognised
// even when it arrives before the send's answer ([`with_metadata`]).

/// Meta's limit on `message.metadata`.
const METADATA_MAX_CHARS: usize = 1000;

/// Puts `metadata` on a send built here (`message.metadata`); an empty one
/// leaves the request as it is.
pub fn with_metadata(mut req: SendRequest, metadata: &str) -> SendRequest {
    if metadata.is_empty() {
        return req;
    }
    let metadata: String = metadata.chars().take(METADATA_MAX_CHARS).collect();
    if let Some(message) = req.body.get_mut("message").and_then(Value::as_object_mut) {
        message.insert("metadata".to_owned(), json!(metadata));
    }
    req
}

/// `POST {base}/{version}/me/messages`: `me` is the page (or the Instagram
/// account's page) the token belongs to.
pub fn messages_url(base: &str) -> String {
    format!("{}/{API_VERSION}/me/messages", base.trim_end_matches('/'))
}

/// The page access token goes in `Authorization` (Graph accepts it there
/// as well as in `?access_token=`), so it stays out of URLs and logs.
pub fn auth_header(page_access_token: &str) -> (String, String) {
    ("Authorization".to_owned(), format!("Bearer {page_access_token}"))
}

/// `{"recipient":{"id"},"messaging_type":"RESPONSE","message":{"text"}}`,
/// or `MESSAGE_TAG` with `tag: HUMAN_AGENT`.
pub fn send_text(base: &str, page_access_token: &str, recipient: &str, text: &str, messaging: Messaging) -> SendRequest {
    let mut body = Map::new();
    body.insert("recipient".to_owned(), json!({ "id": recipient.trim() }));
    match messaging {
        Messaging::Response => {
            body.insert("messaging_type".to_owned(), json!("RESPONSE"));
        }
        Messaging::HumanAgent => {
            body.insert("messaging_type".to_owned(), json!("MESSAGE_TAG"));
            body.insert("tag".to_owned(), json!("HUMAN_AGENT"));
        }
    }
    body.insert("message".to_owned(), json!({ "text": text }));
    SendRequest {
        url: messages_url(base),
        headers: vec![auth_header(page_access_token), ("Content-Type".to_owned(), "application/json".to_owned())],
        body: Value::Object(body),
    }
}

/// The Send API's attachment type for a file of this MIME type: `image`,
/// `video`, `audio`, or `file` for anything else.
pub fn attachment_type(content_type: &str) -> &'static str {
    let main = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if main.starts_with("image/") {
        "image"
    } else if main.starts_with("video/") {
        "video"
    } else if main.starts_with("audio/") {
        "audio"
    } else {
        "file"
    }
}

/// A message with a file the Send API fetches from `url` (Instagram takes
/// files only this way): `message.attachment` with `payload.url`, no text.
pub fn send_attachment_url(base: &str, page_access_token: &str, recipient: &str, messaging: Messaging, content_type: &str, url: &str) -> SendRequest {
    let mut req = send_text(base, page_access_token, recipient, "", messaging);
    if let Some(body) = req.body.as_object_mut() {
        body.insert(
            "message".to_owned(),
            json!({ "attachment": { "type": attachment_type(content_type), "payload": { "url": url } } }),
        );
    }
    req
}

/// A message with a file, uploaded in the same call ("upload and send"):
/// `multipart/form-data` to `/me/messages` with `recipient` and `message`
/// as JSON text fields and the bytes as `filedata`. A Send API message is
/// text or an attachment, never both: a caption goes in its own message.
/// `metadata` (the outbox's idempotency key) rides on `message` as on
/// text sends; empty leaves it out.
#[allow(clippy::too_many_arguments)]
pub fn send_upload(
    base: &str,
    page_access_token: &str,
    recipient: &str,
    messaging: Messaging,
    filename: &str,
    content_type: &str,
    data: Vec<u8>,
    metadata: &str,
) -> crate::provider::MultipartRequest {
    let mut message = json!({
        "attachment": { "type": attachment_type(content_type), "payload": { "is_reusable": false } },
    });
    if !metadata.is_empty() {
        message["metadata"] = json!(metadata.chars().take(METADATA_MAX_CHARS).collect::<String>());
    }
    let mut fields = vec![("recipient".to_owned(), json!({ "id": recipient.trim() }).to_string())];
    match messaging {
        Messaging::Response => fields.push(("messaging_type".to_owned(), "RESPONSE".to_owned())),
        Messaging::HumanAgent => {
            fields.push(("messaging_type".to_owned(), "MESSAGE_TAG".to_owned()));
            fields.push(("tag".to_owned(), "HUMAN_AGENT".to_owned()));
        }
    }
    fields.push(("message".to_owned(), message.to_string()));
    crate::provider::MultipartRequest {
        url: messages_url(base),
        headers: vec![auth_header(page_access_token)],
        fields,
        file: crate::provider::Upload {
            field: "filedata".to_owned(),
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
            data,
        },
    }
}

#[derive(Deserialize)]
struct Accepted {
    #[serde(default)]
    message_id: Option<String>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    error_subcode: Option<i64>,
}

/// Codes a later identical request may pass: rate limits (4 app, 17 user,
/// 32 page, 613 calls, 80006 Messenger), temporary errors (1, 2) and
/// "temporary send message failure" (1200).
const RETRY_CODES: &[i64] = &[1, 2, 4, 17, 32, 613, 1200, 80006];

/// Codes no retry fixes: outside the window (10 / 2018278) and other
/// permission errors (10, 200–299), bad token (190), the person is not
/// available or blocked the page (551, 2018108 …), bad parameters or no
/// such user (100 / 2018001), policy (368).
fn permanent_code(code: i64) -> bool {
    matches!(code, 3 | 10 | 100 | 190 | 200..=299 | 368 | 551)
}

/// Reads the Send API's answer: 2xx with `message_id` is sent; errors are
/// classified by Meta's code first, then HTTP status (429 and 5xx retry,
/// other 4xx are permanent). `Retry-After` in seconds is honoured.
pub fn parse_send_response(platform: Platform, http_status: u16, retry_after: Option<&str>, body: &[u8]) -> SendOutcome {
    let after_secs = retry_after.and_then(|v| v.trim().parse::<u64>().ok());
    let name = platform.name();
    if (200..300).contains(&http_status) {
        return match serde_json::from_slice::<Accepted>(body).ok().and_then(|a| a.message_id).filter(|id| !id.is_empty()) {
            Some(id) => SendOutcome::Sent { external_id: id },
            // Sending again could deliver twice: report rather than guess.
            None => SendOutcome::Permanent { reason: format!("{name} answered {http_status} without a message id") },
        };
    }
    let error = serde_json::from_slice::<ErrorEnvelope>(body).ok().map(|e| e.error);
    let code = error.as_ref().and_then(|e| e.code);
    let subcode = error.as_ref().and_then(|e| e.error_subcode);
    let mut reason = match error.as_ref().and_then(|e| e.message.as_deref()).filter(|m| !m.is_empty()) {
        Some(m) => m.to_owned(),
        None => format!("{name} answered HTTP {http_status}"),
    };
    match (code, subcode) {
        (Some(c), Some(s)) => reason = format!("{reason} (code {c}, subcode {s})"),
        (Some(c), None) if !reason.contains(&format!("#{c}")) => reason = format!("{reason} (code {c})"),
        _ => {}
    }
    if code == Some(10) && subcode == Some(2_018_278) {
        reason = format!("outside {name}'s messaging window: {reason}");
    }
    let retry = match code {
        Some(c) if RETRY_CODES.contains(&c) => true,
        Some(c) if permanent_code(c) => false,
        _ => http_status == 429 || http_status >= 500,
    };
    if retry {
        SendOutcome::Retry { after_secs, reason }
    } else {
        SendOutcome::Permanent { reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "1234567890";

    #[test]
    fn upload_and_send_is_multipart_with_filedata() {
        let req = send_upload("http://graph", "tok", " 42 ", Messaging::HumanAgent, "a.png", "image/png", b"\x89PNG".to_vec(), "switchboard-outbox:7");
        assert_eq!(req.url, messages_url("http://graph"));
        assert_eq!(req.file.field, "filedata");
        assert_eq!(req.file.data, b"\x89PNG".to_vec());
        let field = |k: &str| req.fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(field("recipient").as_deref(), Some(r#"{"id":"42"}"#));
        assert_eq!(field("messaging_type").as_deref(), Some("MESSAGE_TAG"));
        assert_eq!(field("tag").as_deref(), Some("HUMAN_AGENT"));
        let message: Value = serde_json::from_str(&field("message").unwrap_or_default()).unwrap_or_default();
        assert_eq!(message["attachment"]["type"], "image");
        assert_eq!(message["attachment"]["payload"]["is_reusable"], false);
        assert_eq!(message["metadata"], "switchboard-outbox:7");
        assert!(message.get("text").is_none());
        assert_eq!(attachment_type("video/mp4"), "video");
        assert_eq!(attachment_type("Audio/OGG; codecs=opus"), "audio");
        assert_eq!(attachment_type("application/pdf"), "file");
    }

    fn parse(body: &str) -> Vec<InboundEvent> {
        parse_webhook(Platform::Messenger, body.as_bytes(), PAGE).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    fn page(messaging: &str) -> String {
        format!(r#"{{"object":"page","entry":[{{"id":"{PAGE}","time":1458692752478,"messaging":[{messaging}]}}]}}"#)
    }

    /// "messages Webhook Event Reference", text message example.
    const TEXT: &str = r#"{
      "object": "page",
      "entry": [
        {
          "id": "1234567890",
          "time": 1458692752478,
          "messaging": [
            {
              "sender": { "id": "1254459154682919" },
              "recipient": { "id": "1234567890" },
              "timestamp": 1458692752478,
              "message": {
                "mid": "mid.1457764197618:41d102a3e1ae206a38",
                "text": "hello, world!",
                "quick_reply": { "payload": "<DEVELOPER_DEFINED_PAYLOAD>" }
              }
            }
          ]
        }
      ]
    }"#;

    #[test]
    fn text_message_from_the_documentation() {
        assert_eq!(
            parse(TEXT),
            vec![InboundEvent::Message {
                external_id: "mid.1457764197618:41d102a3e1ae206a38".into(),
                from: Sender { external_id: "1254459154682919".into(), name: None, phone: None },
                content: "hello, world!".into(),
                media: vec![],
                sent_at: 1458692752,
                edit_of: None,
            }]
        );
        // Another page of the same app: nothing for this inbox.
        assert_eq!(parse_webhook(Platform::Messenger, TEXT.as_bytes(), "999"), Ok(vec![]));
        // The Instagram inbox refuses a page notification.
        assert!(matches!(parse_webhook(Platform::Instagram, TEXT.as_bytes(), PAGE), Err(WebhookError::Malformed(_))));
        assert!(matches!(parse_webhook(Platform::Messenger, b"{\"object\":", PAGE), Err(WebhookError::Malformed(_))));
    }

    #[test]
    fn attachments_have_lines_and_urls() {
        let body = page(
            r#"{"sender":{"id":"u1"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,
               "message":{"mid":"m_1","attachments":[
                 {"type":"image","payload":{"url":"https://cdn.example/a.jpg"}},
                 {"type":"file","payload":{"url":"https://cdn.example/b.pdf"}},
                 {"type":"location","title":"Home","payload":{"coordinates":{"lat":50.45,"long":30.52}}},
                 {"type":"fallback","payload":{"url":"https://example.com","title":"Example"}},
                 {"type":"image","payload":{"url":"https://cdn.example/s.png","sticker_id":369239263222822}},
                 {"type":"hologram","payload":{}}]}}"#,
        );
        let events = parse(&body);
        let [InboundEvent::Message { content, media, .. }] = events.as_slice() else { panic!("one message: {events:?}") };
        assert_eq!(content, "[image]\n[file]\n📍 Home (50.45, 30.52)\n🔗 Example https://example.com\n[sticker]\n[unsupported message: hologram]");
        let urls: Vec<&str> = media.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(urls, ["https://cdn.example/a.jpg", "https://cdn.example/b.pdf", "https://cdn.example/s.png"]);
        // A caption-like text keeps media lines out.
        let body = page(
            r#"{"sender":{"id":"u1"},"recipient":{"id":"1234567890"},"timestamp":1,
               "message":{"mid":"m_2","text":"look","attachments":[{"type":"video","payload":{"url":"https://v"}}]}}"#,
        );
        assert!(matches!(&parse(&body)[0], InboundEvent::Message { content, media, .. } if content == "look" && media.len() == 1));
    }

    #[test]
    fn quick_reply_without_text_shows_its_payload() {
        let body = page(
            r#"{"sender":{"id":"u1"},"recipient":{"id":"1234567890"},"timestamp":1000,
               "message":{"mid":"m_3","quick_reply":{"payload":"RED"}}}"#,
        );
        assert!(matches!(&parse(&body)[0], InboundEvent::Message { content, .. } if content == "RED"));
    }

    /// "message_echoes Webhook Event Reference" example.
    #[test]
    fn echo_is_addressed_to_the_customer() {
        let body = page(
            r#"{"sender":{"id":"1234567890"},"recipient":{"id":"1254459154682919"},"timestamp":1457764197627,
               "message":{"is_echo":true,"app_id":1517776481860111,"metadata":"<DEVELOPER_DEFINED_METADATA_STRING>",
                          "mid":"mid.1457764197618:41d102a3e1ae206a38","text":"hello, world!"}}"#,
        );
        assert_eq!(
            parse(&body),
            vec![InboundEvent::Echo {
                external_id: "mid.1457764197618:41d102a3e1ae206a38".into(),
                to: Sender { external_id: "1254459154682919".into(), name: None, phone: None },
                content: "hello, world!".into(),
                sent_at: 1457764197,
                idempotency_key: Some("<DEVELOPER_DEFINED_METADATA_STRING>".into()),
            }]
        );
    }

    /// "messaging_postbacks Webhook Event Reference" example.
    #[test]
    fn postbacks_are_messages_with_a_stable_id() {
        let body = page(
            r#"{"sender":{"id":"1254459154682919"},"recipient":{"id":"1234567890"},"timestamp":1527459824,
               "postback":{"mid":"m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P",
                           "title":"Get Started","payload":"GET_STARTED"}}"#,
        );
        assert!(matches!(&parse(&body)[0], InboundEvent::Message { external_id, content, .. }
            if external_id.starts_with("m_AG5H") && content == "Get Started"));
        let old = page(r#"{"sender":{"id":"u1"},"recipient":{"id":"1234567890"},"timestamp":1527459824000,"postback":{"payload":"MENU"}}"#);
        assert_eq!(parse(&old), parse(&old));
        assert!(matches!(&parse(&old)[0], InboundEvent::Message { external_id, content, .. }
            if external_id == "postback:u1:1527459824000" && content == "MENU"));
    }

    /// "message_deliveries" and "message_reads" examples.
    #[test]
    fn receipts_by_mid_and_by_watermark() {
        let delivery = page(
            r#"{"sender":{"id":"u1"},"recipient":{"id":"1234567890"},
               "delivery":{"mids":["mid.1458668856218:ed81099e15d3f4f233"],"watermark":1458668856253}}"#,
        );
        assert_eq!(
            parse(&delivery),
            vec![
                InboundEvent::Status {
                    external_id: "mid.1458668856218:ed81099e15d3f4f233".into(),
                    status: DeliveryStatus::Delivered,
                    error: None,
                    at: 1458668856
                },
                InboundEvent::ReadUpTo { peer: "u1".into(), up_to_ms: 1458668856253, status: DeliveryStatus::Delivered },
            ]
        );
        let read = page(r#"{"sender":{"id":"u1"},"recipient":{"id":"1234567890"},"timestamp":1458668856463,"read":{"watermark":1458668856253}}"#);
        assert_eq!(parse(&read), vec![InboundEvent::ReadUpTo { peer: "u1".into(), up_to_ms: 1458668856253, status: DeliveryStatus::Read }]);
    }

    /// Instagram Platform webhook examples: a message, `messaging_seen`,
    /// a story mention and an unsent message.
    #[test]
    fn instagram_events() {
        let ig = |messaging: &str| format!(r#"{{"object":"instagram","entry":[{{"id":"17841400000000000","time":1569262486134,"messaging":[{messaging}]}}]}}"#);
        let parse_ig = |b: &str| parse_webhook(Platform::Instagram, b.as_bytes(), "17841400000000000").unwrap_or_else(|e| panic!("{e}"));
        let text = ig(r#"{"sender":{"id":"6400000000000001"},"recipient":{"id":"17841400000000000"},"timestamp":1569262485349,
                         "message":{"mid":"aWdfZAG1faWQZD","text":"Hi there"}}"#);
        assert!(matches!(&parse_ig(&text)[0], InboundEvent::Message { external_id, from, content, sent_at: 1569262485, .. }
            if external_id == "aWdfZAG1faWQZD" && from.external_id == "6400000000000001" && content == "Hi there"));
        let seen = ig(r#"{"sender":{"id":"6400000000000001"},"recipient":{"id":"17841400000000000"},"timestamp":1569262486000,"read":{"mid":"aWdfZAG1faWQZD"}}"#);
        assert_eq!(
            parse_ig(&seen),
            vec![InboundEvent::Status { external_id: "aWdfZAG1faWQZD".into(), status: DeliveryStatus::Read, error: None, at: 1569262486 }]
        );
        let story = ig(r#"{"sender":{"id":"6400000000000001"},"recipient":{"id":"17841400000000000"},"timestamp":1569262485349,
                          "message":{"mid":"aWdfZAG1faWQZE","attachments":[{"type":"story_mention","payload":{"url":"https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"}}]}}"#);
        assert!(matches!(&parse_ig(&story)[0], InboundEvent::Message { content, media, .. }
            if content == "[mentioned you in their story]" && media.len() == 1));
        let unsent = ig(r#"{"sender":{"id":"6400000000000001"},"recipient":{"id":"17841400000000000"},"timestamp":1569262485349,
                           "message":{"mid":"aWdfZAG1faWQZD","is_deleted":true}}"#);
        assert_eq!(parse_ig(&unsent), vec![]);
    }

    #[test]
    fn signature_and_verification_are_metas() {
        let body = TEXT.as_bytes();
        let sig = signature_header("s3cret", body);
        assert_eq!(verify_signature("s3cret", body, Some(&sig)), Ok(()));
        assert_eq!(verify_signature("other", body, Some(&sig)), Err(WebhookError::BadSignature));
        assert_eq!(verify_signature("s3cret", body, None), Err(WebhookError::MissingSignature));
        assert_eq!(verify_challenge(Some("subscribe"), Some("v"), Some("42"), "v"), Ok("42".into()));
        assert_eq!(verify_challenge(Some("subscribe"), Some("x"), Some("42"), "v"), Err(WebhookError::VerificationRefused));
    }

    #[test]
    fn window_response_then_human_agent_then_nothing() {
        let now = 10_000_000;
        let m = Platform::Messenger;
        assert_eq!(messaging_for(Some(now - 60), now, m), Ok(Messaging::Response));
        assert_eq!(messaging_for(Some(now + 60), now, m), Ok(Messaging::Response), "clock skew");
        assert_eq!(messaging_for(Some(now - STANDARD_WINDOW_SECS + 1), now, m), Ok(Messaging::Response));
        assert_eq!(messaging_for(Some(now - STANDARD_WINDOW_SECS), now, m), Ok(Messaging::HumanAgent));
        assert_eq!(messaging_for(Some(now - HUMAN_AGENT_WINDOW_SECS + 1), now, m), Ok(Messaging::HumanAgent));
        assert!(messaging_for(Some(now - HUMAN_AGENT_WINDOW_SECS), now, m).is_err());
        assert!(messaging_for(None, now, Platform::Instagram).is_err());
    }

    #[test]
    fn send_request_shapes() {
        let r = send_text("http://emu/", "tok", "1254459154682919", "hello, world!", Messaging::Response);
        assert_eq!(r.url, "http://emu/v25.0/me/messages");
        assert!(r.headers.contains(&("Authorization".into(), "Bearer tok".into())));
        assert_eq!(r.body, json!({"recipient":{"id":"1254459154682919"},"messaging_type":"RESPONSE","message":{"text":"hello, world!"}}));
        let r = send_text("http://emu", "tok", "u", "late", Messaging::HumanAgent);
        assert_eq!(r.body, json!({"recipient":{"id":"u"},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT","message":{"text":"late"}}));
        let keyed = with_metadata(r.clone(), "switchboard-outbox:7");
        assert_eq!(keyed.body["message"], json!({"text":"late","metadata":"switchboard-outbox:7"}));
        assert_eq!(with_metadata(r.clone(), "").body, r.body);
        let long = with_metadata(r, &"k".repeat(1500));
        assert_eq!(long.body["message"]["metadata"].as_str().map(|m| m.chars().count()), Some(1000));
        assert!(check_text(Platform::Messenger, &"é".repeat(2000)).is_ok());
        assert!(check_text(Platform::Messenger, &"a".repeat(2001)).is_err());
        assert!(check_text(Platform::Instagram, &"é".repeat(501)).is_err(), "1002 bytes");
    }

    #[test]
    fn send_answers_are_classified() {
        let m = Platform::Messenger;
        // Send API reference, successful response.
        let ok = br#"{"recipient_id":"1254477777772919","message_id":"AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"}"#;
        assert!(matches!(parse_send_response(m, 200, None, ok), SendOutcome::Sent { external_id } if external_id.starts_with("AG5H")));
        assert!(matches!(parse_send_response(m, 200, None, b"{}"), SendOutcome::Permanent { .. }));
        let err = |code: i64, sub: Option<i64>| {
            let mut e = json!({"error":{"message":"(#x) msg","type":"OAuthException","code":code,"fbtrace_id":"A"}});
            if let Some(s) = sub {
                e["error"]["error_subcode"] = json!(s);
            }
            e.to_string().into_bytes()
        };
        let window = parse_send_response(m, 400, None, &err(10, Some(2018278)));
        assert!(matches!(&window, SendOutcome::Permanent { reason } if reason.contains("window") && reason.contains("2018278")), "{window:?}");
        for code in [613, 4, 32, 1200] {
            assert!(matches!(parse_send_response(m, 400, None, &err(code, None)), SendOutcome::Retry { .. }), "{code}");
        }
        for code in [190, 551, 100, 200] {
            assert!(matches!(parse_send_response(m, 400, None, &err(code, None)), SendOutcome::Permanent { .. }), "{code}");
        }
        assert_eq!(parse_send_response(m, 503, Some("7"), b"oops"), SendOutcome::Retry { after_secs: Some(7), reason: "Messenger answered HTTP 503".into() });
        assert!(matches!(parse_send_response(m, 429, None, b""), SendOutcome::Retry { .. }));
        assert!(matches!(parse_send_response(m, 403, None, b""), SendOutcome::Permanent { .. }));
    }
}
