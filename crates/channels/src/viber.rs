//! Viber REST Bot API adapter: checks `X-Viber-Content-Signature`, turns
//! callbacks into [`InboundEvent`]s and describes `send_message` calls and
//! what their answers mean. Pure: no IO, no clock.
//!
//! Wire format (developers.viber.com/docs/api/rest-bot-api):
//! - Callbacks: one JSON object per POST, `{"event": …, "timestamp": <unix
//!   ms>, "chat_hostname": …, "message_token": <int64>, …}`, signed with
//!   `X-Viber-Content-Signature` = hex HMAC-SHA256(auth token, raw body).
//!   Events: `message`, `delivered`, `seen`, `failed`, `subscribed`,
//!   `unsubscribed`, `conversation_started`, `webhook`. Viber retries a
//!   callback that is not answered 200.
//! - Send: `POST {base}/pa/send_message` with `X-Viber-Auth-Token`. The
//!   answer is HTTP 200 either way: `{"status":0,"status_message":"ok",
//!   "message_token":…}`, or `status` ≠ 0 with the error's name.
//!
//! Ids: a callback's `message_token` is the message's id (int64, written as
//! its decimal string); it is what `delivered`/`seen`/`failed` refer to for
//! the messages we sent, and the dedup key of inbound messages.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use switchboard_core::DeliveryStatus;

use crate::provider::{InboundEvent, MediaRef, SendOutcome, SendRequest, Sender, WebhookError};

type HmacSha256 = Hmac<Sha256>;

/// The real API; inboxes override it (`api_base_url`) to reach the
/// emulator.
pub const DEFAULT_API_BASE: &str = "https://chatapi.viber.com";

/// The header Viber signs every callback with.
pub const SIGNATURE_HEADER: &str = "x-viber-content-signature";

/// The header every API call carries the bot's auth token in.
pub const AUTH_HEADER: &str = "X-Viber-Auth-Token";

/// `sender.name` is limited to 28 characters.
pub const MAX_SENDER_NAME_CHARS: usize = 28;

/// Text messages are limited to 7000 characters.
pub const MAX_TEXT_CHARS: usize = 7000;

/// Plain text needs no newer client features.
const MIN_API_VERSION: u32 = 1;

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("hmac key of any size"))
}

/// The `X-Viber-Content-Signature` value for `raw_body` (lower-case hex).
pub fn signature(auth_token: &str, raw_body: &[u8]) -> String {
    let mut m = mac(auth_token.as_bytes());
    m.update(raw_body);
    hex::encode(m.finalize().into_bytes())
}

/// Checks the signature of a callback's raw body in constant time.
///
/// An inbox with no auth token refuses every callback.
pub fn verify_signature(
    auth_token: &str,
    raw_body: &[u8],
    header: Option<&str>,
) -> Result<(), WebhookError> {
    let header = header.ok_or(WebhookError::MissingSignature)?;
    let sig = hex::decode(header.trim()).map_err(|_| WebhookError::BadSignature)?;
    if auth_token.is_empty() {
        return Err(WebhookError::BadSignature);
    }
    let mut m = mac(auth_token.as_bytes());
    m.update(raw_body);
    m.verify_slice(&sig).map_err(|_| WebhookError::BadSignature)
}

/// One callback. `events` is empty for callbacks that carry nothing for an
/// inbox (`webhook`, `conversation_started`, unknown events); they are
/// acknowledged all the same, so Viber does not retry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCallback {
    pub event: String,
    /// Unix milliseconds as Viber stamped the callback.
    pub timestamp_ms: i64,
    pub message_token: Option<String>,
    pub events: Vec<InboundEvent>,
}

/// Parses one callback body (after [`verify_signature`]).
///
/// - `message` → a [`InboundEvent::Message`] with id `message_token`.
/// - `delivered` / `seen` / `failed` → [`InboundEvent::Status`]
///   (delivered / read / failed with `desc`) for the message we sent with
///   that `message_token`.
/// - `subscribed` / `unsubscribed` → [`InboundEvent::Subscription`] of the
///   user.
/// - `conversation_started` → nothing: the user opened the chat (deep link
///   or the bot's info screen) but wrote nothing, and is not subscribed; a
///   conversation for agents starts with the first message.
/// - `webhook` (the check Viber makes when the webhook is set), and events
///   added later → nothing.
pub fn parse_callback(raw_body: &[u8]) -> Result<ParsedCallback, WebhookError> {
    let cb: Callback =
        serde_json::from_slice(raw_body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let token = cb.message_token.as_ref().map(token_string).transpose()?;
    let at = cb.timestamp.div_euclid(1000);
    let missing =
        |what: &str| WebhookError::Malformed(format!("{} callback without {what}", cb.event));
    let mut events = Vec::new();
    match cb.event.as_str() {
        "message" => {
            let external_id = token.clone().ok_or_else(|| missing("message_token"))?;
            let sender = cb.sender.ok_or_else(|| missing("sender"))?;
            let message = cb.message.ok_or_else(|| missing("message"))?;
            let (content, media) = describe(&message);
            events.push(InboundEvent::Message {
                external_id,
                from: Sender {
                    external_id: sender.id,
                    name: non_empty(sender.name),
                    phone: None,
                },
                content,
                media,
                sent_at: at,
                edit_of: None,
            });
        }
        "delivered" | "seen" | "failed" => {
            let external_id = token.clone().ok_or_else(|| missing("message_token"))?;
            let (status, error) = match cb.event.as_str() {
                "delivered" => (DeliveryStatus::Delivered, None),
                "seen" => (DeliveryStatus::Read, None),
                _ => (
                    DeliveryStatus::Failed,
                    Some(
                        non_empty(cb.desc)
                            .unwrap_or_else(|| "Viber could not deliver the message".to_owned()),
                    ),
                ),
            };
            events.push(InboundEvent::Status {
                external_id,
                status,
                error,
                at,
            });
        }
        "subscribed" => {
            let user = cb.user.ok_or_else(|| missing("user"))?;
            events.push(InboundEvent::Subscription {
                external_id: user.id,
                subscribed: true,
            });
        }
        "unsubscribed" => {
            let user_id = cb.user_id.ok_or_else(|| missing("user_id"))?;
            events.push(InboundEvent::Subscription {
                external_id: user_id,
                subscribed: false,
            });
        }
        // conversation_started, webhook, client_status, anything newer.
        _ => {}
    }
    Ok(ParsedCallback {
        event: cb.event,
        timestamp_ms: cb.timestamp,
        message_token: token,
        events,
    })
}

/// `message_token` is an int64; it is kept as its decimal string. A token
/// sent as a string of digits is accepted too.
fn token_string(value: &Value) -> Result<String, WebhookError> {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => Ok(s.clone()),
        other => Err(WebhookError::Malformed(format!(
            "message_token is not an integer: {other}"
        ))),
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn unsupported(kind: &str) -> String {
    format!("[unsupported message: {kind}]")
}

/// The text agents see, and the files to fetch.
fn describe(msg: &Message) -> (String, Vec<MediaRef>) {
    let text = || msg.text.clone().unwrap_or_default();
    let file = |default_mime: Option<&str>| {
        msg.media
            .as_ref()
            .filter(|m| !m.is_empty())
            .map(|url| MediaRef {
                id: url.clone(),
                mime_type: default_mime.map(str::to_owned),
                filename: non_empty(msg.file_name.clone()),
                caption: non_empty(msg.text.clone()),
            })
    };
    match msg.kind.as_str() {
        "text" => (text(), Vec::new()),
        // Viber re-encodes pictures as JPEG; the text is the caption.
        "picture" => (text(), file(Some("image/jpeg")).into_iter().collect()),
        "video" => (text(), file(Some("video/mp4")).into_iter().collect()),
        "file" => (String::new(), file(None).into_iter().collect()),
        "sticker" => {
            let media = msg
                .media
                .as_ref()
                .filter(|m| !m.is_empty())
                .map(|url| MediaRef {
                    id: url.clone(),
                    mime_type: Some("image/png".to_owned()),
                    filename: None,
                    caption: None,
                });
            ("[sticker]".to_owned(), media.into_iter().collect())
        }
        "contact" => {
            let content = match &msg.contact {
                Some(c) => match (non_empty(c.name.clone()), non_empty(c.phone_number.clone())) {
                    (Some(name), Some(phone)) => format!("Contact: {name}, {phone}"),
                    (Some(name), None) => format!("Contact: {name}"),
                    (None, Some(phone)) => format!("Contact: {phone}"),
                    (None, None) => "Contact".to_owned(),
                },
                None => "Contact".to_owned(),
            };
            (content, Vec::new())
        }
        // The URL is in `media`.
        "url" => (
            msg.media
                .clone()
                .or_else(|| msg.text.clone())
                .unwrap_or_default(),
            Vec::new(),
        ),
        "location" => match &msg.location {
            Some(Location { lat, lon, address }) => match non_empty(address.clone()) {
                Some(address) => (format!("Location: {address} ({lat}, {lon})"), Vec::new()),
                None => (format!("Location: {lat}, {lon}"), Vec::new()),
            },
            None => (unsupported("location"), Vec::new()),
        },
        other => (unsupported(other), Vec::new()),
    }
}

// ---- wire types (only the fields we read) ----

#[derive(Deserialize)]
struct Callback {
    event: String,
    #[serde(default)]
    timestamp: i64,
    message_token: Option<Value>,
    /// `message`
    sender: Option<User>,
    message: Option<Message>,
    /// `subscribed`, `conversation_started`
    user: Option<User>,
    /// `delivered`, `seen`, `failed`, `unsubscribed`
    user_id: Option<String>,
    /// `failed`
    desc: Option<String>,
}

/// The sender / user object: id, name, avatar, country, language,
/// api_version. Name and avatar are absent when the user hides them.
#[derive(Deserialize)]
struct User {
    id: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    media: Option<String>,
    file_name: Option<String>,
    location: Option<Location>,
    contact: Option<Contact>,
}

#[derive(Deserialize)]
struct Location {
    lat: f64,
    lon: f64,
    address: Option<String>,
}

#[derive(Deserialize)]
struct Contact {
    name: Option<String>,
    phone_number: Option<String>,
}

// ---- outbound ----

/// The callbacks the product handles (`message` and `webhook` always come).
const EVENT_TYPES: [&str; 6] = [
    "delivered",
    "seen",
    "failed",
    "subscribed",
    "unsubscribed",
    "conversation_started",
];

/// `POST {base}/pa/set_webhook`: Viber checks `url` at once with a
/// `webhook` callback (which must be answered 200), then posts every
/// callback there, signed with the auth token.
pub fn set_webhook(base: &str, auth_token: &str, url: &str) -> SendRequest {
    SendRequest {
        url: format!("{}/pa/set_webhook", base.trim_end_matches('/')),
        headers: vec![(AUTH_HEADER.to_owned(), auth_token.to_owned())],
        body: json!({ "url": url, "event_types": EVENT_TYPES, "send_name": true, "send_photo": true }),
    }
}

/// What `set_webhook` answered: `Ok` for status 0, else the status, its
/// documented name and Viber's `status_message`.
pub fn parse_set_webhook_response(http_status: u16, body: &[u8]) -> Result<(), String> {
    match serde_json::from_slice::<Answer>(body) {
        Ok(a) if a.status == 0 && (200..300).contains(&http_status) => Ok(()),
        Ok(a) => Err(format!(
            "Viber refused set_webhook: status {} ({}): {}",
            a.status,
            status_name(a.status).unwrap_or("unknown"),
            a.status_message.unwrap_or_default()
        )),
        Err(_) => Err(format!(
            "Viber answered set_webhook with HTTP {http_status} and no REST API answer"
        )),
    }
}

/// The body that answers a `conversation_started` callback with the
/// inbox's welcome message (Viber shows it to the user who opened the
/// chat; no `receiver`: it goes to that user). `None` when there is no
/// message to send.
pub fn welcome_message(sender_name: &str, text: &str) -> Option<Value> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let name = sender(sender_name);
    Some(json!({
        "sender": { "name": name },
        "min_api_version": MIN_API_VERSION,
        "type": "text",
        "text": text,
    }))
}

/// The sender name Viber shows: trimmed, cut to 28 characters, and
/// "Support" when empty (Viber requires one).
fn sender(sender_name: &str) -> String {
    let name: String = sender_name.trim().chars().take(MAX_SENDER_NAME_CHARS).collect();
    if name.is_empty() { "Support".to_owned() } else { name }
}

/// `POST {base}/pa/send_message`.
pub fn send_message_url(base: &str) -> String {
    format!("{}/pa/send_message", base.trim_end_matches('/'))
}

/// A text message to subscriber `receiver`. `sender_name` is what the user
/// sees as the sender (cut to 28 characters; Viber requires one). Texts over
/// 7000 characters are refused by Viber, so longer replies must be split by
/// the caller.
pub fn send_text(
    base: &str,
    auth_token: &str,
    receiver: &str,
    sender_name: &str,
    text: &str,
) -> SendRequest {
    let name = sender(sender_name);
    SendRequest {
        url: send_message_url(base),
        headers: vec![(AUTH_HEADER.to_owned(), auth_token.to_owned())],
        body: json!({
            "receiver": receiver,
            "min_api_version": MIN_API_VERSION,
            "sender": { "name": name },
            "type": "text",
            "text": text,
        }),
    }
}

/// Longest `text` Viber shows with a picture.
pub const MAX_PICTURE_TEXT_CHARS: usize = 120;
/// Largest picture Viber takes as `type: picture` (bigger ones go as files).
pub const MAX_PICTURE_BYTES: usize = 1024 * 1024;
/// Longest `file_name` Viber takes.
pub const MAX_FILE_NAME_CHARS: usize = 256;

/// A file Viber fetches from `url`: a JPEG, PNG or GIF of at most 1 MB is a
/// `picture` with `text` (the caption, at most 120 characters; Viber
/// requires the field, empty allowed), anything else a `file` with `size`
/// and `file_name` (no caption: the caller sends text on its own).
/// Refuses a caption a picture cannot carry, and captions on files.
#[allow(clippy::too_many_arguments)]
pub fn send_media(
    base: &str,
    auth_token: &str,
    receiver: &str,
    sender_name: &str,
    url: &str,
    content_type: &str,
    filename: &str,
    size: usize,
    caption: &str,
) -> Result<SendRequest, String> {
    let mut req = send_text(base, auth_token, receiver, sender_name, caption);
    let main = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let picture = matches!(main.as_str(), "image/jpeg" | "image/jpg" | "image/png" | "image/gif") && size <= MAX_PICTURE_BYTES;
    let Some(body) = req.body.as_object_mut() else { return Err("internal: the request body is not an object".to_owned()) };
    if picture {
        if caption.chars().count() > MAX_PICTURE_TEXT_CHARS {
            return Err(format!("Viber shows at most {MAX_PICTURE_TEXT_CHARS} characters with a picture: send the text in its own message"));
        }
        body.insert("type".to_owned(), json!("picture"));
        body.insert("media".to_owned(), json!(url));
    } else {
        if !caption.is_empty() {
            return Err("Viber shows no text with a file: send the text in its own message".to_owned());
        }
        let name: String = filename.chars().take(MAX_FILE_NAME_CHARS).collect();
        body.remove("text");
        body.insert("type".to_owned(), json!("file"));
        body.insert("media".to_owned(), json!(url));
        body.insert("size".to_owned(), json!(size));
        body.insert("file_name".to_owned(), json!(if name.is_empty() { "file".to_owned() } else { name }));
    }
    Ok(req)
}

#[derive(Deserialize)]
struct Answer {
    status: i64,
    status_message: Option<String>,
    message_token: Option<Value>,
}

/// The name Viber's documentation gives each status code.
pub fn status_name(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "ok",
        1 => "invalidUrl",
        2 => "invalidAuthToken",
        3 => "badData",
        4 => "missingData",
        5 => "receiverNotRegistered",
        6 => "receiverNotSubscribed",
        7 => "publicAccountBlocked",
        8 => "publicAccountNotFound",
        9 => "publicAccountSuspended",
        10 => "webhookNotSet",
        11 => "receiverNoSuitableDevice",
        12 => "tooManyRequests",
        13 => "apiVersionNotSupported",
        14 => "incompatibleWithVersion",
        15 => "publicAccountNotAuthorized",
        16 => "inchatReplyMessageNotAllowed",
        17 => "publicAccountIsNotInline",
        18 => "noPublicChat",
        19 => "cannotSendBroadcast",
        20 => "broadcastNotAllowed",
        _ => return None,
    })
}

/// How a `send_message` call ended.
///
/// Viber answers HTTP 200 with `status`: 0 is sent (its `message_token` is
/// the id receipts refer to); 12 (rate control) is retried; every other
/// code is permanent — a receiver who is not subscribed (6) or not on Viber
/// (5), a bad token (2), a blocked or suspended bot (7, 9), a missing
/// webhook (10), … will not change by sending again, and neither do codes
/// the documentation calls "general error". HTTP 429/408/5xx (a proxy, an
/// outage) are retried; other non-200 answers are permanent.
pub fn parse_send_response(
    http_status: u16,
    retry_after: Option<&str>,
    body: &[u8],
) -> SendOutcome {
    if !(200..300).contains(&http_status) {
        let reason = format!("Viber answered HTTP {http_status}");
        return match http_status {
            408 | 429 | 500..=599 => SendOutcome::Retry {
                after_secs: retry_after.and_then(|v| v.trim().parse().ok()),
                reason,
            },
            _ => SendOutcome::Permanent { reason },
        };
    }
    let answer = match serde_json::from_slice::<Answer>(body) {
        Ok(answer) => answer,
        // The message may well have gone out: never retry (no duplicates).
        Err(_) => {
            return SendOutcome::Permanent {
                reason: "unexpected answer from Viber (not a send_message result)".to_owned(),
            };
        }
    };
    if answer.status == 0 {
        return match answer.message_token.as_ref().map(token_string) {
            Some(Ok(external_id)) => SendOutcome::Sent { external_id },
            _ => SendOutcome::Permanent {
                reason: "Viber accepted the message but its answer has no message_token".to_owned(),
            },
        };
    }
    let reason = reason(answer.status, answer.status_message.as_deref());
    match answer.status {
        12 => SendOutcome::Retry {
            after_secs: None,
            reason,
        },
        _ => SendOutcome::Permanent { reason },
    }
}

/// "Viber status 6 (receiverNotSubscribed): notSubscribed", without
/// repeating a message that only restates the name.
fn reason(code: i64, message: Option<&str>) -> String {
    let message = message.map(str::trim).filter(|m| !m.is_empty());
    match (status_name(code), message) {
        (Some(name), Some(m)) if !m.eq_ignore_ascii_case(name) => {
            format!("Viber status {code} ({name}): {m}")
        }
        (Some(name), _) => format!("Viber status {code} ({name})"),
        (None, Some(m)) => format!("Viber status {code}: {m}"),
        (None, None) => format!("Viber status {code} (general error)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> ParsedCallback {
        match parse_callback(body.as_bytes()) {
            Ok(parsed) => parsed,
            Err(e) => panic!("payload should parse: {e}\n{body}"),
        }
    }

    fn only_message(parsed: &ParsedCallback) -> (&str, &Sender, &str, &[MediaRef], i64) {
        match parsed.events.as_slice() {
            [
                InboundEvent::Message {
                    external_id,
                    from,
                    content,
                    media,
                    sent_at,
                    edit_of: None,
                },
            ] => (external_id, from, content, media, *sent_at),
            other => panic!("expected one message, got {other:?}"),
        }
    }

    /// The documentation's message callback, with `message` replaced.
    fn message_with(message: &str) -> String {
        format!(
            r#"{{"event":"message","timestamp":1457764197627,"chat_hostname":"SN-376_","message_token":4912661846655238145,"sender":{{"id":"01234567890A=","name":"John McClane","avatar":"http://avatar.example.com","country":"UK","language":"en","api_version":1}},"message":{message}}}"#
        )
    }

    #[test]
    fn signature_is_hex_hmac_sha256_of_the_raw_body() {
        // Independent vector: printf '%s' '{"event":"webhook"}' | openssl dgst -sha256 -hmac 'test-token'
        let body = br#"{"event":"webhook"}"#;
        let sig = signature("test-token", body);
        assert_eq!(
            sig,
            "b7fbc451b190bf79244d04197e0858bcb84dc3f7232c41173600818592b0aa5b"
        );
        assert_eq!(verify_signature("test-token", body, Some(&sig)), Ok(()));
        assert_eq!(
            verify_signature("test-token", body, Some(&sig.to_uppercase())),
            Ok(())
        );
        assert_eq!(
            verify_signature("test-token", body, Some(&format!(" {sig}\n"))),
            Ok(())
        );
        assert_eq!(
            verify_signature("other-token", body, Some(&sig)),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify_signature("test-token", br#"{"event":"webhook "}"#, Some(&sig)),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify_signature("test-token", body, Some(&sig[..62])),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify_signature("test-token", body, Some("zz")),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify_signature("test-token", body, Some("")),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify_signature("test-token", body, None),
            Err(WebhookError::MissingSignature)
        );
        assert_eq!(
            verify_signature("", body, Some(&signature("", body))),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn text_message_from_the_documentation() {
        let parsed = parse(&message_with(
            r#"{"type":"text","text":"a message to the service","tracking_data":"tracking data"}"#,
        ));
        assert_eq!(parsed.event, "message");
        assert_eq!(parsed.timestamp_ms, 1457764197627);
        assert_eq!(parsed.message_token.as_deref(), Some("4912661846655238145"));
        let (id, from, content, media, sent_at) = only_message(&parsed);
        assert_eq!(id, "4912661846655238145");
        assert_eq!(
            from,
            &Sender {
                external_id: "01234567890A=".into(),
                name: Some("John McClane".into()),
                phone: None
            }
        );
        assert_eq!(content, "a message to the service");
        assert!(media.is_empty());
        assert_eq!(sent_at, 1457764197);
    }

    #[test]
    fn sender_without_name_and_silent_flag() {
        let body = r#"{"event":"message","timestamp":1457764197627,"chat_hostname":"SN-376_","message_token":5,"sender":{"id":"u1==","language":"uk","country":"UA","api_version":10},"message":{"type":"text","text":"hi"},"silent":false}"#;
        let parsed = parse(body);
        let (id, from, ..) = only_message(&parsed);
        assert_eq!(
            (id, from.external_id.as_str(), from.name.as_deref()),
            ("5", "u1==", None)
        );
    }

    #[test]
    fn picture_video_and_file_carry_media() {
        let parsed = parse(&message_with(
            r#"{"type":"picture","text":"my receipt","media":"https://dl-media.viber.com/1.jpg","thumbnail":"https://dl-media.viber.com/t.jpg","file_name":"receipt.jpg","size":51234}"#,
        ));
        let (_, _, content, media, _) = only_message(&parsed);
        assert_eq!(content, "my receipt");
        assert_eq!(
            media,
            [MediaRef {
                id: "https://dl-media.viber.com/1.jpg".into(),
                mime_type: Some("image/jpeg".into()),
                filename: Some("receipt.jpg".into()),
                caption: Some("my receipt".into()),
            }]
        );

        let parsed = parse(&message_with(
            r#"{"type":"video","media":"https://dl-media.viber.com/v.mp4","thumbnail":"https://dl-media.viber.com/t.jpg","size":10000,"duration":10}"#,
        ));
        let (_, _, content, media, _) = only_message(&parsed);
        assert_eq!(content, "");
        assert_eq!(
            (media[0].id.as_str(), media[0].mime_type.as_deref()),
            ("https://dl-media.viber.com/v.mp4", Some("video/mp4"))
        );

        let parsed = parse(&message_with(
            r#"{"type":"file","media":"https://dl-media.viber.com/doc.pdf","size":10000,"file_name":"invoice.pdf"}"#,
        ));
        let (_, _, content, media, _) = only_message(&parsed);
        assert_eq!(content, "");
        assert_eq!(
            media,
            [MediaRef {
                id: "https://dl-media.viber.com/doc.pdf".into(),
                mime_type: None,
                filename: Some("invoice.pdf".into()),
                caption: None
            }]
        );
    }

    #[test]
    fn sticker_contact_url_and_location_are_readable() {
        let parsed = parse(&message_with(
            r#"{"type":"sticker","sticker_id":46105,"media":"https://viber.com/sticker.png"}"#,
        ));
        let (_, _, content, media, _) = only_message(&parsed);
        assert_eq!(content, "[sticker]");
        assert_eq!(media[0].mime_type.as_deref(), Some("image/png"));

        let parsed = parse(&message_with(
            r#"{"type":"contact","contact":{"name":"Itamar","phone_number":"+972511123123","avatar":"http://avatar_url"}}"#,
        ));
        let (_, from, content, ..) = only_message(&parsed);
        assert_eq!(content, "Contact: Itamar, +972511123123");
        assert_eq!(
            from.phone, None,
            "a shared card is not the sender's own number"
        );

        let parsed = parse(&message_with(
            r#"{"type":"url","media":"http://www.website.com/go_here"}"#,
        ));
        assert_eq!(only_message(&parsed).2, "http://www.website.com/go_here");

        let parsed = parse(&message_with(
            r#"{"type":"location","location":{"lat":50.76891,"lon":6.11499}}"#,
        ));
        assert_eq!(only_message(&parsed).2, "Location: 50.76891, 6.11499");
        let parsed = parse(&message_with(
            r#"{"type":"location","location":{"lat":48.85837,"lon":2.294481,"address":"Champ de Mars, Paris"}}"#,
        ));
        assert_eq!(
            only_message(&parsed).2,
            "Location: Champ de Mars, Paris (48.85837, 2.294481)"
        );
    }

    #[test]
    fn unknown_message_types_are_kept_visible() {
        let parsed = parse(&message_with(
            r#"{"type":"rich_media","rich_media":{"Type":"rich_media","Buttons":[]}}"#,
        ));
        let (id, _, content, media, _) = only_message(&parsed);
        assert_eq!(id, "4912661846655238145");
        assert_eq!(content, "[unsupported message: rich_media]");
        assert!(media.is_empty());
    }

    #[test]
    fn receipts_become_statuses() {
        let delivered = r#"{"event":"delivered","timestamp":1457764197627,"chat_hostname":"SN-376_","message_token":4912661846655238145,"user_id":"01234567890A="}"#;
        assert_eq!(
            parse(delivered).events,
            [InboundEvent::Status {
                external_id: "4912661846655238145".into(),
                status: DeliveryStatus::Delivered,
                error: None,
                at: 1457764197
            }]
        );
        let seen = r#"{"event":"seen","timestamp":1457764197627,"message_token":4912661846655238145,"user_id":"jc9HsWTZ2Yf2NkRZ8KcNug=="}"#;
        assert_eq!(
            parse(seen).events,
            [InboundEvent::Status {
                external_id: "4912661846655238145".into(),
                status: DeliveryStatus::Read,
                error: None,
                at: 1457764197
            }]
        );
        let failed = r#"{"event":"failed","timestamp":1457764197627,"chat_hostname":"SN-376_","message_token":4912661846655238145,"user_id":"01234567890A=","desc":"failure description"}"#;
        assert_eq!(
            parse(failed).events,
            [InboundEvent::Status {
                external_id: "4912661846655238145".into(),
                status: DeliveryStatus::Failed,
                error: Some("failure description".into()),
                at: 1457764197
            }]
        );
        let failed_bare = r#"{"event":"failed","timestamp":1,"message_token":7,"user_id":"u"}"#;
        assert!(matches!(
            &parse(failed_bare).events[..],
            [InboundEvent::Status { error: Some(_), .. }]
        ));
    }

    #[test]
    fn subscriptions() {
        let subscribed = r#"{"event":"subscribed","timestamp":1457764197627,"chat_hostname":"SN-376_","user":{"id":"01234567890A=","name":"John McClane","avatar":"http://avatar.example.com","country":"UK","language":"en","api_version":1},"message_token":4912661846655238145}"#;
        assert_eq!(
            parse(subscribed).events,
            [InboundEvent::Subscription {
                external_id: "01234567890A=".into(),
                subscribed: true
            }]
        );
        let unsubscribed = r#"{"event":"unsubscribed","timestamp":1457764197627,"chat_hostname":"SN-376_","user_id":"01234567890A=","message_token":4912661846655238145}"#;
        assert_eq!(
            parse(unsubscribed).events,
            [InboundEvent::Subscription {
                external_id: "01234567890A=".into(),
                subscribed: false
            }]
        );
    }

    #[test]
    fn conversation_started_webhook_and_unknown_events_are_acknowledged_without_events() {
        let started = r#"{"event":"conversation_started","timestamp":1457764197627,"chat_hostname":"SN-376_","message_token":4912661846655238145,"type":"open","context":"context information","user":{"id":"01234567890A=","name":"John McClane","avatar":"http://avatar.example.com","country":"UK","language":"en","api_version":1},"subscribed":false}"#;
        let parsed = parse(started);
        assert_eq!(
            (parsed.event.as_str(), parsed.events.len()),
            ("conversation_started", 0)
        );
        let webhook = r#"{"event":"webhook","timestamp":1457764197627,"chat_hostname":"SN-376_","message_token":241256543215}"#;
        assert_eq!(
            parse(webhook),
            ParsedCallback {
                event: "webhook".into(),
                timestamp_ms: 1457764197627,
                message_token: Some("241256543215".into()),
                events: vec![]
            }
        );
        assert!(
            parse(r#"{"event":"client_status","timestamp":1}"#)
                .events
                .is_empty()
        );
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for body in [
            &b"not json"[..],
            b"",
            b"[]",
            br#"{"timestamp":1}"#,
            br#"{"event":"message","timestamp":1,"message_token":1,"message":{"type":"text","text":"x"}}"#,
            br#"{"event":"message","timestamp":1,"sender":{"id":"u"},"message":{"type":"text","text":"x"}}"#,
            br#"{"event":"message","timestamp":1,"message_token":1.5,"sender":{"id":"u"},"message":{"type":"text"}}"#,
            br#"{"event":"delivered","timestamp":1,"user_id":"u"}"#,
            br#"{"event":"seen","timestamp":1,"message_token":"abc","user_id":"u"}"#,
            br#"{"event":"subscribed","timestamp":1,"message_token":1}"#,
            br#"{"event":"unsubscribed","timestamp":1,"message_token":1}"#,
        ] {
            assert!(matches!(parse_callback(body), Err(WebhookError::Malformed(_))), "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn send_media_picture_and_file() {
        let pic = send_media("http://h", "tok", "u1", "Acme", "https://x/p", "image/png", "a.png", 10, "Hi")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pic.body["type"], "picture");
        assert_eq!(pic.body["media"], "https://x/p");
        assert_eq!(pic.body["text"], "Hi");
        let long = "x".repeat(MAX_PICTURE_TEXT_CHARS + 1);
        assert!(send_media("http://h", "tok", "u1", "Acme", "https://x/p", "image/png", "a.png", 10, &long).is_err());
        let file = send_media("http://h", "tok", "u1", "Acme", "https://x/f", "application/pdf", "t.pdf", 42, "")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(file.body["type"], "file");
        assert_eq!(file.body["size"], 42);
        assert_eq!(file.body["file_name"], "t.pdf");
        assert!(file.body.get("text").is_none());
        assert!(send_media("http://h", "tok", "u1", "Acme", "https://x/f", "application/pdf", "t.pdf", 42, "caption").is_err());
        // A picture over 1 MB goes as a file.
        let big = send_media("http://h", "tok", "u1", "Acme", "https://x/p", "image/jpeg", "b.jpg", MAX_PICTURE_BYTES + 1, "")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(big.body["type"], "file");
    }

    #[test]
    fn send_text_request() {
        let req = send_text(
            "http://127.0.0.1:9000/",
            "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9",
            "01234567890A=",
            "Acme support",
            "Hello",
        );
        assert_eq!(req.url, "http://127.0.0.1:9000/pa/send_message");
        assert_eq!(
            req.headers,
            [(
                "X-Viber-Auth-Token".to_owned(),
                "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9".to_owned()
            )]
        );
        assert_eq!(
            req.body,
            json!({"receiver": "01234567890A=", "min_api_version": 1, "sender": {"name": "Acme support"}, "type": "text", "text": "Hello"})
        );
        let req = send_text(
            DEFAULT_API_BASE,
            "t",
            "u",
            "  A very long sender name that Viber would refuse  ",
            "x",
        );
        assert_eq!(req.url, "https://chatapi.viber.com/pa/send_message");
        assert_eq!(req.body["sender"]["name"], "A very long sender name that");
        assert_eq!(
            send_text(DEFAULT_API_BASE, "t", "u", " ", "x").body["sender"]["name"],
            "Support"
        );
    }

    #[test]
    fn sent_answer_gives_the_message_token() {
        let body = br#"{"status":0,"status_message":"ok","message_token":5741311803571721087,"chat_hostname":"SN-CHAT-05_","billing_status":1}"#;
        assert_eq!(
            parse_send_response(200, None, body),
            SendOutcome::Sent {
                external_id: "5741311803571721087".into()
            }
        );
    }

    #[test]
    fn not_subscribed_not_registered_and_bad_token_are_permanent() {
        assert_eq!(
            parse_send_response(
                200,
                None,
                br#"{"status":6,"status_message":"notSubscribed","chat_hostname":"SN-CHAT-05_"}"#
            ),
            SendOutcome::Permanent {
                reason: "Viber status 6 (receiverNotSubscribed): notSubscribed".into()
            }
        );
        assert_eq!(
            parse_send_response(
                200,
                None,
                br#"{"status":5,"status_message":"receiverNotRegistered"}"#
            ),
            SendOutcome::Permanent {
                reason: "Viber status 5 (receiverNotRegistered)".into()
            }
        );
        assert_eq!(
            parse_send_response(
                200,
                None,
                br#"{"status":2,"status_message":"invalidAuthToken"}"#
            ),
            SendOutcome::Permanent {
                reason: "Viber status 2 (invalidAuthToken)".into()
            }
        );
        for code in [1, 3, 4, 7, 8, 9, 10, 11, 13, 14, 15] {
            let body = format!(r#"{{"status":{code},"status_message":"x"}}"#);
            assert!(
                matches!(
                    parse_send_response(200, None, body.as_bytes()),
                    SendOutcome::Permanent { .. }
                ),
                "{code}"
            );
        }
        assert_eq!(
            parse_send_response(200, None, br#"{"status":99}"#),
            SendOutcome::Permanent {
                reason: "Viber status 99 (general error)".into()
            }
        );
    }

    #[test]
    fn rate_control_and_outages_retry() {
        assert_eq!(
            parse_send_response(
                200,
                None,
                br#"{"status":12,"status_message":"tooManyRequests"}"#
            ),
            SendOutcome::Retry {
                after_secs: None,
                reason: "Viber status 12 (tooManyRequests)".into()
            }
        );
        assert_eq!(
            parse_send_response(500, None, b"<html>Internal Server Error</html>"),
            SendOutcome::Retry {
                after_secs: None,
                reason: "Viber answered HTTP 500".into()
            }
        );
        assert!(matches!(
            parse_send_response(503, Some("7"), b""),
            SendOutcome::Retry {
                after_secs: Some(7),
                ..
            }
        ));
        assert!(matches!(
            parse_send_response(429, None, b""),
            SendOutcome::Retry { .. }
        ));
        assert_eq!(
            parse_send_response(404, None, b""),
            SendOutcome::Permanent {
                reason: "Viber answered HTTP 404".into()
            }
        );
    }

    #[test]
    fn odd_success_answers_are_not_sent_again() {
        for body in [
            &br#"{"status":0,"status_message":"ok"}"#[..],
            br#"{"status":0,"message_token":"x1"}"#,
            b"<html>ok</html>",
            b"",
        ] {
            assert!(
                matches!(
                    parse_send_response(200, None, body),
                    SendOutcome::Permanent { .. }
                ),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
