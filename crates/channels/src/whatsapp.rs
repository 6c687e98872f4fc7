//! WhatsApp Cloud API: the subscription check, the `X-Hub-Signature-256`
//! check, the `messages` webhook turned into [`InboundEvent`]s, the send API
//! requests, the answers to them, and the 24-hour customer service window.
//!
//! Pure: no IO and no clock. The server hands in raw bytes and the time; the
//! outbox worker performs the [`SendRequest`]s built here.
//!
//! Wire formats follow Meta's "WhatsApp Business Platform" documentation
//! (webhook references under `webhooks/reference/messages/*`, the Messages
//! API and the "Error codes" page); the tests carry its examples.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::Sha256;
use switchboard_core::DeliveryStatus;

use crate::provider::{InboundEvent, MediaRef, SendOutcome, SendRequest, Sender, WebhookError};

type HmacSha256 = Hmac<Sha256>;

/// The real Graph API; tests and the demo point an inbox's `api_base_url`
/// at the emulator instead.
pub const DEFAULT_API_BASE: &str = "https://graph.facebook.com";
/// Graph API version used in every URL (the one Meta's examples use).
pub const API_VERSION: &str = "v25.0";
/// The header Meta signs webhooks with.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// Free-form messages may be sent only this long after the customer's last
/// message; templates may be sent at any time.
pub const CUSTOMER_SERVICE_WINDOW_SECS: i64 = 24 * 60 * 60;

/// Meta echoes at most this many characters of `biz_opaque_callback_data`.
const CALLBACK_DATA_MAX_CHARS: usize = 512;

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("hmac key of any size"))
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

/// Answers Meta's subscription GET (`hub.mode`, `hub.verify_token`,
/// `hub.challenge` from the query string): the challenge to echo back as a
/// `text/plain` 200, or [`WebhookError::VerificationRefused`].
///
/// The mode must be `subscribe` and the token must equal the inbox's
/// `verify_token`, compared in constant time. An inbox without a token
/// verifies nothing.
pub fn verify_challenge(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&str>,
    verify_token: &str,
) -> Result<String, WebhookError> {
    if mode != Some("subscribe") || verify_token.is_empty() {
        return Err(WebhookError::VerificationRefused);
    }
    let token = token.ok_or(WebhookError::VerificationRefused)?;
    if !constant_time_eq(token.as_bytes(), verify_token.as_bytes()) {
        return Err(WebhookError::VerificationRefused);
    }
    match challenge {
        Some(c) if !c.is_empty() => Ok(c.to_owned()),
        _ => Err(WebhookError::Malformed("hub.challenge missing".to_owned())),
    }
}

/// Equality that takes the same time wherever the inputs differ, and hides
/// their lengths too: both sides go through HMAC under a fixed key and the
/// tags are compared with `verify_slice`.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    const KEY: &[u8] = b"switchboard/whatsapp/verify-token";
    let mut e = mac(KEY);
    e.update(expected);
    let expected_tag = e.finalize().into_bytes();
    let mut g = mac(KEY);
    g.update(given);
    g.verify_slice(&expected_tag).is_ok()
}

/// The `X-Hub-Signature-256` value Meta would send for `raw_body`:
/// `sha256=<hex HMAC-SHA256(app secret, raw body)>`. Used by the emulator
/// and tests.
pub fn signature_header(app_secret: &str, raw_body: &[u8]) -> String {
    let mut m = mac(app_secret.as_bytes());
    m.update(raw_body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// Checks `X-Hub-Signature-256` against the raw body, in constant time.
/// Must pass before the body is parsed. An empty app secret fails every
/// signature: anyone can compute an HMAC under an empty key.
pub fn verify_signature(app_secret: &str, raw_body: &[u8], header: Option<&str>) -> Result<(), WebhookError> {
    let header = header.ok_or(WebhookError::MissingSignature)?;
    let sig = header
        .trim()
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(WebhookError::BadSignature)?;
    if app_secret.is_empty() {
        return Err(WebhookError::BadSignature);
    }
    let mut m = mac(app_secret.as_bytes());
    m.update(raw_body);
    m.verify_slice(&sig).map_err(|_| WebhookError::BadSignature)
}

// ---------------------------------------------------------------------------
// Inbound: the `messages` webhook
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct Notification {
    object: String,
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    value: Value,
}

#[derive(Deserialize)]
struct ChangeValue {
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<WaMessage>,
    #[serde(default)]
    statuses: Vec<WaStatus>,
    /// Coexistence: messages the business sent from the WhatsApp Business
    /// app (`smb_message_echoes` field).
    #[serde(default)]
    message_echoes: Vec<WaMessage>,
}

#[derive(Deserialize)]
struct Contact {
    #[serde(default)]
    profile: Option<Profile>,
    #[serde(default)]
    wa_id: Option<String>,
    /// Business-scoped user id, for users who hide their number.
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct WaMessage {
    id: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    from_user_id: Option<String>,
    /// Only on echoes: the customer.
    #[serde(default)]
    to: Option<String>,
    #[serde(deserialize_with = "unix_seconds")]
    timestamp: i64,
    #[serde(rename = "type")]
    kind: String,
    text: Option<Text>,
    image: Option<Media>,
    audio: Option<Media>,
    video: Option<Media>,
    document: Option<Media>,
    sticker: Option<Media>,
    location: Option<Location>,
    contacts: Option<Vec<SharedContact>>,
    interactive: Option<Interactive>,
    button: Option<Button>,
    unsupported: Option<Unsupported>,
    system: Option<System>,
}

#[derive(Deserialize)]
struct Text {
    body: String,
}

#[derive(Deserialize)]
struct Media {
    id: String,
    #[serde(default)]
    mime_type: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    filename: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    latitude: f64,
    longitude: f64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

#[derive(Deserialize)]
struct SharedContact {
    #[serde(default)]
    name: Option<ContactName>,
    #[serde(default)]
    phones: Vec<ContactPhone>,
    #[serde(default)]
    emails: Vec<ContactEmail>,
}

#[derive(Deserialize)]
struct ContactName {
    #[serde(default)]
    formatted_name: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
}

#[derive(Deserialize)]
struct ContactPhone {
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    wa_id: Option<String>,
}

#[derive(Deserialize)]
struct ContactEmail {
    #[serde(default)]
    email: Option<String>,
}

#[derive(Deserialize)]
struct Interactive {
    #[serde(rename = "type")]
    kind: String,
    button_reply: Option<Reply>,
    list_reply: Option<Reply>,
}

#[derive(Deserialize)]
struct Reply {
    title: String,
}

#[derive(Deserialize)]
struct Button {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    payload: Option<String>,
}

#[derive(Deserialize)]
struct Unsupported {
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct System {
    #[serde(default)]
    body: Option<String>,
}

#[derive(Deserialize)]
struct WaStatus {
    id: String,
    status: String,
    #[serde(deserialize_with = "unix_seconds")]
    timestamp: i64,
    #[serde(default)]
    errors: Vec<WaError>,
    #[serde(default)]
    biz_opaque_callback_data: Option<String>,
}

#[derive(Deserialize)]
struct WaError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error_data: Option<ErrorData>,
}

#[derive(Deserialize)]
struct ErrorData {
    #[serde(default)]
    details: Option<String>,
}

/// Meta sends timestamps as strings of Unix seconds; some relays send
/// numbers. Both are accepted, anything else is malformed.
fn unix_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StrOrInt {
        Int(i64),
        Str(String),
    }
    match StrOrInt::deserialize(d)? {
        StrOrInt::Int(n) => Ok(n),
        StrOrInt::Str(s) => s.trim().parse().map_err(|_| serde::de::Error::custom(format!("timestamp {s:?} is not Unix seconds"))),
    }
}

fn malformed(e: impl std::fmt::Display) -> WebhookError {
    WebhookError::Malformed(e.to_string())
}

/// The changes of a notification that belong to this inbox's number, with
/// their field name. Other numbers of the same WhatsApp Business Account
/// (several inboxes share one app and one webhook) are skipped, as are
/// fields this adapter does not handle.
fn our_changes(raw_body: &[u8], phone_number_id: &str) -> Result<Vec<(String, ChangeValue)>, WebhookError> {
    let n: Notification = serde_json::from_slice(raw_body).map_err(malformed)?;
    if n.object != "whatsapp_business_account" {
        return Err(WebhookError::Malformed(format!("object {:?} is not whatsapp_business_account", n.object)));
    }
    let mut out = Vec::new();
    for change in n.entry.into_iter().flat_map(|e| e.changes) {
        let field = change.field.unwrap_or_else(|| "messages".to_owned());
        if field != "messages" && field != "smb_message_echoes" {
            continue;
        }
        let Some(number) = change.value.get("metadata").and_then(|m| m.get("phone_number_id")) else {
            return Err(WebhookError::Malformed("value.metadata.phone_number_id missing".to_owned()));
        };
        let number = number.as_str().map(str::to_owned).unwrap_or_else(|| number.to_string());
        if number != phone_number_id {
            continue;
        }
        let value: ChangeValue = serde_json::from_value(change.value).map_err(malformed)?;
        out.push((field, value));
    }
    Ok(out)
}

/// Parses a signed `messages` notification into events for the inbox whose
/// number is `phone_number_id`. Customer messages become
/// [`InboundEvent::Message`] (every type, unknown ones as a visible
/// "[unsupported message: …]" line), statuses of our messages become
/// [`InboundEvent::Status`], and messages sent from the WhatsApp Business
/// app (coexistence echoes) become [`InboundEvent::Echo`].
///
/// Changes for another phone number are ignored; JSON that is not a
/// WhatsApp Business Account notification, or misses required fields, is
/// [`WebhookError::Malformed`].
pub fn parse_webhook(raw_body: &[u8], phone_number_id: &str) -> Result<Vec<InboundEvent>, WebhookError> {
    let mut events = Vec::new();
    for (_, value) in our_changes(raw_body, phone_number_id)? {
        for m in &value.messages {
            events.push(message_event(m, &value.contacts)?);
        }
        for m in &value.message_echoes {
            events.push(echo_event(m, &value.contacts)?);
        }
        events.extend(value.statuses.iter().filter_map(status_event));
    }
    Ok(events)
}

/// `(wamid, biz_opaque_callback_data)` of every status in the notification
/// that carries one. Sends built here put the outbox idempotency key there,
/// so a worker that crashed between Meta accepting a send and recording the
/// wamid can recognise the message as already sent instead of sending it
/// again.
pub fn status_callback_keys(raw_body: &[u8], phone_number_id: &str) -> Result<Vec<(String, String)>, WebhookError> {
    Ok(our_changes(raw_body, phone_number_id)?
        .into_iter()
        .flat_map(|(_, v)| v.statuses)
        .filter_map(|s| s.biz_opaque_callback_data.filter(|k| !k.is_empty()).map(|k| (s.id, k)))
        .collect())
}

fn strip_plus(s: &str) -> &str {
    s.trim().trim_start_matches('+')
}

/// The customer: `wa_id` (their phone number without `+`) is the identity;
/// the business-scoped user id stands in when the number is hidden.
fn customer(number: Option<&str>, user_id: Option<&str>, contacts: &[Contact]) -> Result<Sender, WebhookError> {
    let number = number.map(strip_plus).filter(|n| !n.is_empty());
    let contact = contacts
        .iter()
        .find(|c| number.is_some() && c.wa_id.as_deref().map(strip_plus) == number)
        .or_else(|| contacts.iter().find(|c| user_id.is_some() && c.user_id.as_deref() == user_id))
        .or(match contacts {
            [only] => Some(only),
            _ => None,
        });
    let wa_id = number.or_else(|| contact.and_then(|c| c.wa_id.as_deref()).map(strip_plus)).filter(|n| !n.is_empty());
    let external_id = wa_id
        .or(user_id)
        .ok_or_else(|| WebhookError::Malformed("message without from or from_user_id".to_owned()))?;
    Ok(Sender {
        external_id: external_id.to_owned(),
        name: contact.and_then(|c| c.profile.as_ref()).and_then(|p| p.name.clone()).filter(|n| !n.is_empty()),
        phone: wa_id.map(|w| format!("+{w}")),
    })
}

fn message_event(m: &WaMessage, contacts: &[Contact]) -> Result<InboundEvent, WebhookError> {
    let from = customer(m.from.as_deref(), m.from_user_id.as_deref(), contacts)?;
    let (content, media) = render(m);
    Ok(InboundEvent::Message { external_id: m.id.clone(), from, content, media, sent_at: m.timestamp, edit_of: None })
}

fn echo_event(m: &WaMessage, contacts: &[Contact]) -> Result<InboundEvent, WebhookError> {
    let to = customer(m.to.as_deref(), None, contacts)?;
    let (content, media) = render(m);
    // An echo has no attachment slot: name the file so the thread shows
    // that something was sent.
    let content = match (content.is_empty(), media.first()) {
        (true, Some(_)) => format!("[{}]", m.kind),
        _ => content,
    };
    Ok(InboundEvent::Echo { external_id: m.id.clone(), to, content, sent_at: m.timestamp, idempotency_key: None })
}

fn unsupported_line(kind: &str) -> String {
    format!("[unsupported message: {kind}]")
}

/// What agents see for a message, and its attachments.
fn render(m: &WaMessage) -> (String, Vec<MediaRef>) {
    let media_ref = |media: &Media| MediaRef {
        id: media.id.clone(),
        mime_type: media.mime_type.clone(),
        filename: media.filename.clone(),
        caption: media.caption.clone(),
    };
    let unsupported = || (unsupported_line(&m.kind), Vec::new());
    match m.kind.as_str() {
        "text" => m.text.as_ref().map_or_else(unsupported, |t| (t.body.clone(), Vec::new())),
        "image" | "audio" | "video" | "document" => {
            let media = match m.kind.as_str() {
                "image" => &m.image,
                "audio" => &m.audio,
                "video" => &m.video,
                _ => &m.document,
            };
            media.as_ref().map_or_else(unsupported, |md| (md.caption.clone().unwrap_or_default(), vec![media_ref(md)]))
        }
        "sticker" => m.sticker.as_ref().map_or_else(unsupported, |s| ("[sticker]".to_owned(), vec![media_ref(s)])),
        "location" => m.location.as_ref().map_or_else(unsupported, |l| (location_line(l), Vec::new())),
        "contacts" => m.contacts.as_deref().map_or_else(unsupported, |cs| (contacts_lines(cs), Vec::new())),
        "interactive" => match m.interactive.as_ref() {
            Some(Interactive { kind, button_reply: Some(r), .. }) if kind == "button_reply" => (r.title.clone(), Vec::new()),
            Some(Interactive { kind, list_reply: Some(r), .. }) if kind == "list_reply" => (r.title.clone(), Vec::new()),
            _ => unsupported(),
        },
        // A quick-reply button of a template.
        "button" => m
            .button
            .as_ref()
            .and_then(|b| b.text.clone().or_else(|| b.payload.clone()))
            .map_or_else(unsupported, |t| (t, Vec::new())),
        // Meta names the type it could not represent (e.g. "edit", "poll_creation").
        "unsupported" => {
            let kind = m.unsupported.as_ref().and_then(|u| u.kind.as_deref()).filter(|k| !k.is_empty()).unwrap_or("unsupported");
            (unsupported_line(kind), Vec::new())
        }
        // "User … changed from … to …": readable as is.
        "system" => m.system.as_ref().and_then(|s| s.body.clone()).map_or_else(unsupported, |b| (b, Vec::new())),
        // reaction, order, request_welcome and whatever Meta adds next.
        _ => unsupported(),
    }
}

/// `📍 Philz Coffee, 101 Forest Ave, Palo Alto, CA 94301 (37.44, -122.16)`.
fn location_line(l: &Location) -> String {
    let label: Vec<&str> = [l.name.as_deref(), l.address.as_deref()].into_iter().flatten().filter(|s| !s.trim().is_empty()).collect();
    let coords = format!("({}, {})", l.latitude, l.longitude);
    if label.is_empty() {
        format!("📍 {coords}")
    } else {
        format!("📍 {} {coords}", label.join(", "))
    }
}

/// One line per shared contact: `👤 Barbara J. Johnson: +1 (415) 555-0829`.
fn contacts_lines(contacts: &[SharedContact]) -> String {
    let lines: Vec<String> = contacts
        .iter()
        .map(|c| {
            let name = c.name.as_ref().and_then(|n| {
                n.formatted_name.clone().filter(|f| !f.trim().is_empty()).or_else(|| {
                    let parts: Vec<&str> = [n.first_name.as_deref(), n.last_name.as_deref()].into_iter().flatten().collect();
                    (!parts.is_empty()).then(|| parts.join(" "))
                })
            });
            let reach: Vec<String> = c
                .phones
                .iter()
                .filter_map(|p| p.phone.clone().or_else(|| p.wa_id.as_deref().map(|w| format!("+{}", strip_plus(w)))))
                .chain(c.emails.iter().filter_map(|e| e.email.clone()))
                .collect();
            match (name, reach.is_empty()) {
                (Some(n), false) => format!("👤 {n}: {}", reach.join(", ")),
                (Some(n), true) => format!("👤 {n}"),
                (None, false) => format!("👤 {}", reach.join(", ")),
                (None, true) => "👤 (contact)".to_owned(),
            }
        })
        .collect();
    if lines.is_empty() {
        unsupported_line("contacts")
    } else {
        lines.join("\n")
    }
}

/// `sent`/`delivered`/`read` map one to one; `played` (a voice message was
/// played) implies read; `failed` carries Meta's reason. Statuses this
/// adapter does not know are skipped rather than guessed.
fn status_event(s: &WaStatus) -> Option<InboundEvent> {
    let status = match s.status.as_str() {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" | "played" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        _ => return None,
    };
    let error = (status == DeliveryStatus::Failed).then(|| failure_reason(&s.errors));
    Some(InboundEvent::Status { external_id: s.id.clone(), status, error, at: s.timestamp })
}

/// `131049: This message was not delivered … (In order to maintain …)`.
fn failure_reason(errors: &[WaError]) -> String {
    let Some(e) = errors.first() else { return "failed without a reason from WhatsApp".to_owned() };
    let title = e.title.as_deref().or(e.message.as_deref()).unwrap_or("delivery failed");
    let mut reason = match e.code {
        Some(code) => format!("{code}: {title}"),
        None => title.to_owned(),
    };
    if let Some(details) = e.error_data.as_ref().and_then(|d| d.details.as_deref()).filter(|d| !d.is_empty() && *d != title) {
        reason.push_str(&format!(" ({details})"));
    }
    reason
}

// ---------------------------------------------------------------------------
// Outbound: the Messages API
// ---------------------------------------------------------------------------
//
// The Cloud API has no idempotency header: a POST retried after its answer
// was lost may deliver the message twice. Duplicates are avoided by the
// outbox worker, not here: it records the wamid of each accepted send
// before marking the row sent and never re-posts a row that has one, and
// every request carries the outbox idempotency key as
// `biz_opaque_callback_data`, which Meta echoes on the status webhooks of
// that message (see [`status_callback_keys`]) — the only trace of a send
// whose HTTP answer never arrived.

/// `POST {base}/{version}/{phone_number_id}/messages`.
pub fn messages_url(base: &str, phone_number_id: &str) -> String {
    format!("{}/{API_VERSION}/{phone_number_id}/messages", base.trim_end_matches('/'))
}

/// `GET {base}/{version}/{media_id}` answers the download URL of received
/// media (fetched with the same Bearer token).
pub fn media_info_url(base: &str, media_id: &str) -> String {
    format!("{}/{API_VERSION}/{media_id}", base.trim_end_matches('/'))
}

/// The `Authorization` header for the inbox's access token.
pub fn auth_header(access_token: &str) -> (String, String) {
    ("Authorization".to_owned(), format!("Bearer {access_token}"))
}

/// The fields every send shares.
fn envelope(to: &str, kind: &str, idempotency_key: &str) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("messaging_product".to_owned(), json!("whatsapp"));
    body.insert("recipient_type".to_owned(), json!("individual"));
    body.insert("to".to_owned(), json!(to.trim()));
    body.insert("type".to_owned(), json!(kind));
    if !idempotency_key.is_empty() {
        let key: String = idempotency_key.chars().take(CALLBACK_DATA_MAX_CHARS).collect();
        body.insert("biz_opaque_callback_data".to_owned(), json!(key));
    }
    body
}

fn send_request(base: &str, phone_number_id: &str, access_token: &str, body: Map<String, Value>) -> SendRequest {
    SendRequest {
        url: messages_url(base, phone_number_id),
        headers: vec![auth_header(access_token), ("Content-Type".to_owned(), "application/json".to_owned())],
        body: Value::Object(body),
    }
}

/// A free-form text message. Only allowed inside the customer service
/// window ([`window_open`]); outside it Meta answers 131047.
pub fn send_text(
    base: &str,
    phone_number_id: &str,
    access_token: &str,
    to: &str,
    text: &str,
    idempotency_key: &str,
) -> SendRequest {
    let mut body = envelope(to, "text", idempotency_key);
    body.insert("text".to_owned(), json!({ "body": text }));
    send_request(base, phone_number_id, access_token, body)
}

/// An approved message template, sendable at any time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template<'a> {
    pub name: &'a str,
    /// Language and locale code the template was approved in, e.g. `en_US`.
    pub language: &'a str,
    /// Values for the body's `{{1}}`, `{{2}}`, … in order.
    pub body_parameters: &'a [String],
}

/// A template message: `{"type":"template","template":{"name","language":{"code"},"components"}}`.
pub fn send_template(
    base: &str,
    phone_number_id: &str,
    access_token: &str,
    to: &str,
    template: &Template<'_>,
    idempotency_key: &str,
) -> SendRequest {
    let mut t = Map::new();
    t.insert("name".to_owned(), json!(template.name));
    t.insert("language".to_owned(), json!({ "code": template.language }));
    if !template.body_parameters.is_empty() {
        let parameters: Vec<Value> = template.body_parameters.iter().map(|p| json!({ "type": "text", "text": p })).collect();
        t.insert("components".to_owned(), json!([{ "type": "body", "parameters": parameters }]));
    }
    let mut body = envelope(to, "template", idempotency_key);
    body.insert("template".to_owned(), Value::Object(t));
    send_request(base, phone_number_id, access_token, body)
}

/// The media types the Messages API sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Audio,
    Video,
    Document,
    Sticker,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }

    /// Audio and stickers take no caption.
    pub fn takes_caption(self) -> bool {
        matches!(self, MediaKind::Image | MediaKind::Video | MediaKind::Document)
    }
}

/// Where WhatsApp fetches the file from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaSource<'a> {
    /// A public HTTPS URL (Meta downloads it).
    Link(&'a str),
    /// The id of media uploaded to `/{phone_number_id}/media` beforehand.
    Id(&'a str),
}

/// An attachment to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundMedia<'a> {
    pub kind: MediaKind,
    pub source: MediaSource<'a>,
    /// Sent for images, videos and documents only: the API has no caption
    /// on audio and stickers, so the caller sends that text as its own
    /// message.
    pub caption: Option<&'a str>,
    /// Shown for documents only.
    pub filename: Option<&'a str>,
}

impl MediaKind {
    /// The message type a file is sent as: images WhatsApp shows inline
    /// (JPEG, PNG), its audio and video formats, and a document otherwise.
    pub fn for_mime(mime_type: &str) -> MediaKind {
        let mime = mime_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match mime.as_str() {
            "image/jpeg" | "image/png" => MediaKind::Image,
            "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" => MediaKind::Audio,
            "video/mp4" | "video/3gpp" => MediaKind::Video,
            _ => MediaKind::Document,
        }
    }
}

/// `POST /{phone_number_id}/media`: uploads a file (multipart: `file`,
/// `type`, `messaging_product=whatsapp`); Meta answers `{"id": …}`, the id
/// a media message then names.
pub fn upload_media(
    base: &str,
    phone_number_id: &str,
    access_token: &str,
    filename: &str,
    content_type: &str,
    data: Vec<u8>,
) -> crate::provider::MultipartRequest {
    crate::provider::MultipartRequest {
        url: format!("{}/{API_VERSION}/{phone_number_id}/media", base.trim_end_matches('/')),
        headers: vec![auth_header(access_token)],
        fields: vec![("messaging_product".to_owned(), "whatsapp".to_owned()), ("type".to_owned(), content_type.to_owned())],
        file: crate::provider::Upload {
            field: "file".to_owned(),
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
            data,
        },
    }
}

#[derive(Deserialize)]
struct Uploaded {
    id: String,
}

/// The media id of an upload, or the send's outcome when there is none
/// (an upload sends nothing to the customer, so any failure may be retried
/// or is permanent as for a send).
pub fn parse_upload_response(http_status: u16, retry_after: Option<&str>, body: &[u8]) -> Result<String, SendOutcome> {
    if (200..300).contains(&http_status) {
        return match serde_json::from_slice::<Uploaded>(body) {
            Ok(u) if !u.id.is_empty() => Ok(u.id),
            _ => Err(SendOutcome::Retry { after_secs: None, reason: format!("WhatsApp answered the upload {http_status} without a media id") }),
        };
    }
    Err(match parse_send_response(http_status, retry_after, body) {
        SendOutcome::Sent { .. } => SendOutcome::Retry { after_secs: None, reason: "unexpected upload answer".to_owned() },
        other => other,
    })
}

/// A media message by link or uploaded id: `{"type":"image","image":{"link"|"id","caption"}}`.
pub fn send_media(
    base: &str,
    phone_number_id: &str,
    access_token: &str,
    to: &str,
    media: &OutboundMedia<'_>,
    idempotency_key: &str,
) -> SendRequest {
    let mut object = Map::new();
    match media.source {
        MediaSource::Link(link) => object.insert("link".to_owned(), json!(link)),
        MediaSource::Id(id) => object.insert("id".to_owned(), json!(id)),
    };
    if let Some(caption) = media.caption.filter(|c| media.kind.takes_caption() && !c.is_empty()) {
        object.insert("caption".to_owned(), json!(caption));
    }
    if let Some(filename) = media.filename.filter(|f| media.kind == MediaKind::Document && !f.is_empty()) {
        object.insert("filename".to_owned(), json!(filename));
    }
    let kind = media.kind.as_str();
    let mut body = envelope(to, kind, idempotency_key);
    body.insert(kind.to_owned(), Value::Object(object));
    send_request(base, phone_number_id, access_token, body)
}

#[derive(Deserialize)]
struct SendAccepted {
    #[serde(default)]
    messages: Vec<AcceptedMessage>,
}

#[derive(Deserialize)]
struct AcceptedMessage {
    id: String,
}

#[derive(Deserialize)]
struct GraphErrorEnvelope {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<i64>,
    /// An object with `details` for message errors, a plain string for
    /// some template errors.
    #[serde(default)]
    error_data: Option<Value>,
}

/// Error codes that succeed if the same request is made later: throttling
/// (4 app call rate, 80007 account rate, 130429 throughput, 131056 pair
/// rate), temporary downtime (2, 131016), unknown error "try again"
/// (131000) and maintenance mode (131057).
const RETRY_CODES: &[i64] = &[2, 4, 80007, 130429, 131000, 131016, 131056, 131057];

/// Error codes that no retry fixes: the window is closed (131047: send a
/// template), the number cannot receive (131026), the token or permissions
/// are wrong (0, 3, 10, 190, 200–299), the account or user is blocked or
/// restricted (368, 130403, 130497, 131031, 131050), the spam or marketing
/// limits that need the business to act (131048, 131049), and request or
/// template errors (100, 131008, 131009, 131021, 131051, 131053, 132000…).
fn permanent_code(code: i64) -> bool {
    matches!(
        code,
        0 | 3 | 10 | 33 | 100 | 190 | 200..=299 | 368
            | 130403 | 130472 | 130497
            | 131005 | 131008 | 131009 | 131021 | 131026 | 131031 | 131037 | 131042 | 131045
            | 131047 | 131048 | 131049 | 131050 | 131051 | 131052 | 131053 | 131063 | 131064
            | 132000..=132999
    )
}

/// Reads the Messages API answer. 2xx with `messages[0].id` is
/// [`SendOutcome::Sent`]. Errors are classified by Meta's `code` first (as
/// Meta recommends), then by HTTP status for codes not listed here: 429 and
/// 5xx are retried, other 4xx are permanent. `Retry-After` is honoured when
/// given in seconds (the date form would need a clock; the worker's backoff
/// applies instead).
pub fn parse_send_response(http_status: u16, retry_after: Option<&str>, body: &[u8]) -> SendOutcome {
    let after_secs = retry_after.and_then(|v| v.trim().parse::<u64>().ok());
    if (200..300).contains(&http_status) {
        return match serde_json::from_slice::<SendAccepted>(body).ok().and_then(|a| a.messages.into_iter().next()) {
            Some(m) if !m.id.is_empty() => SendOutcome::Sent { external_id: m.id },
            // Sending again could deliver twice, and without an id the
            // message cannot be followed: report it rather than guess.
            _ => SendOutcome::Permanent { reason: format!("WhatsApp answered {http_status} without a message id") },
        };
    }
    let error = serde_json::from_slice::<GraphErrorEnvelope>(body).ok().map(|e| e.error);
    let reason = error.as_ref().map_or_else(|| format!("WhatsApp answered HTTP {http_status}"), |e| error_reason(e, http_status));
    let code = error.as_ref().and_then(|e| e.code);
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

/// Meta's own words, shown to the agent: `(#131047) Re-engagement message:
/// More than 24 hours have passed …`.
fn error_reason(e: &GraphError, http_status: u16) -> String {
    let mut reason = match (e.message.as_deref().filter(|m| !m.is_empty()), e.code) {
        (Some(m), _) => m.to_owned(),
        (None, Some(c)) => format!("WhatsApp error {c}"),
        (None, None) => format!("WhatsApp answered HTTP {http_status}"),
    };
    let details = match e.error_data.as_ref() {
        Some(Value::Object(o)) => o.get("details").and_then(Value::as_str),
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    };
    if let Some(d) = details.filter(|d| !d.is_empty()) {
        reason.push_str(": ");
        reason.push_str(d);
    }
    reason
}

// ---------------------------------------------------------------------------
// The customer service window
// ---------------------------------------------------------------------------

/// Whether a free-form message may be sent: less than 24 hours since the
/// customer's last message. Templates may be sent whatever this says. A
/// last message stamped in the future (clock skew) counts as just now.
pub fn window_open(last_customer_message_at_secs: i64, now_secs: i64) -> bool {
    now_secs.saturating_sub(last_customer_message_at_secs) < CUSTOMER_SERVICE_WINDOW_SECS
}

#[cfg(test)]
mod tests {
    #[test]
    fn upload_is_multipart_and_its_answer_gives_the_id() {
        let req = upload_media("http://emu/", "106540352242922", "tok", "a.pdf", "application/pdf", b"%PDF".to_vec());
        assert_eq!(req.url, format!("http://emu/{API_VERSION}/106540352242922/media"));
        assert!(req.headers.iter().any(|(k, v)| k == "Authorization" && v == "Bearer tok"));
        assert!(req.fields.contains(&("messaging_product".to_owned(), "whatsapp".to_owned())));
        assert_eq!(req.file.field, "file");
        assert_eq!(parse_upload_response(200, None, br#"{"id":"4490709327384033"}"#), Ok("4490709327384033".to_owned()));
        assert!(matches!(parse_upload_response(200, None, b"{}"), Err(SendOutcome::Retry { .. })));
        assert!(matches!(parse_upload_response(429, Some("7"), b"{}"), Err(SendOutcome::Retry { after_secs: Some(7), .. })));
        let denied = br#"{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100}}"#;
        assert!(matches!(parse_upload_response(400, None, denied), Err(SendOutcome::Permanent { .. })));
        assert_eq!(MediaKind::for_mime("image/png"), MediaKind::Image);
        assert_eq!(MediaKind::for_mime("image/gif"), MediaKind::Document);
        assert_eq!(MediaKind::for_mime("audio/ogg; codecs=opus"), MediaKind::Audio);
    }

    use super::*;

    const PNID: &str = "106540352242922";
    const SECRET: &str = "app-secret";

    /// "Text messages webhook reference", example "Text message".
    const TEXT: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [
        {
          "id": "102290129340398",
          "changes": [
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550783881",
                  "phone_number_id": "106540352242922"
                },
                "contacts": [
                  {
                    "profile": {
                      "name": "Sheena Nelson"
                    },
                    "wa_id": "16505551234"
                  }
                ],
                "messages": [
                  {
                    "from": "16505551234",
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                    "timestamp": "1749416383",
                    "type": "text",
                    "text": {
                      "body": "Does it come in another color?"
                    }
                  }
                ]
              },
              "field": "messages"
            }
          ]
        }
      ]
    }"#;

    /// "Text messages webhook reference", example "Click to WhatsApp ad".
    const TEXT_FROM_AD: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [
        {
          "id": "102290129340398",
          "changes": [
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550783881",
                  "phone_number_id": "106540352242922"
                },
                "contacts": [
                  {
                    "profile": {
                      "name": "Sheena Nelson"
                    },
                    "wa_id": "16505551234"
                  }
                ],
                "messages": [
                  {
                    "referral": {
                      "source_url": "https://fb.me/3cr4Wqqkv",
                      "source_id": "120226305854810726",
                      "source_type": "ad",
                      "body": "Summer Succulents are here!",
                      "headline": "Chat with us",
                      "media_type": "image",
                      "image_url": "https://scontent.xx.fbcdn.net/v/t45.1...",
                      "ctwa_clid": "Aff-n8ZTODiE79d22KtAwQKj9e_mIEOOj27vDVwFjN80dp4_0NiNhEgpGo0AHemvuSoifXaytfTzcchptiErTKCqTrJ5nW1h7IHYeYymGb5K5J5iTROpBhWAGaIAeUzHL50",
                      "welcome_message": {
                        "text": "Hi there! Let us know how we can help!"
                      }
                    },
                    "from": "16505551234",
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUQ0N0VFMDA2MTQ0RkJFNkNDNAA=",
                    "timestamp": "1750275992",
                    "text": {
                      "body": "Can I get more info about this?"
                    },
                    "type": "text"
                  }
                ]
              },
              "field": "messages"
            }
          ]
        }
      ]
    }"#;

    /// "Image messages webhook reference", example.
    const IMAGE: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [
        {
          "id": "102290129340398",
          "changes": [
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550783881",
                  "phone_number_id": "106540352242922"
                },
                "contacts": [
                  {
                    "profile": {
                      "name": "Sheena Nelson"
                    },
                    "wa_id": "16505551234"
                  }
                ],
                "messages": [
                  {
                    "from": "16505551234",
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                    "timestamp": "1744344496",
                    "type": "image",
                    "image": {
                      "caption": "Taj Mahal",
                      "mime_type": "image/jpeg",
                      "sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
                      "id": "1003383421387256",
                      "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=133..."
                    }
                  }
                ]
              },
              "field": "messages"
            }
          ]
        }
      ]
    }"#;

    /// "Document messages webhook reference", example.
    const DOCUMENT: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [
        {
          "id": "102290129340398",
          "changes": [
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550783881",
                  "phone_number_id": "106540352242922"
                },
                "contacts": [
                  {
                    "profile": {
                      "name": "Sheena Nelson"
                    },
                    "wa_id": "16505551234"
                  }
                ],
                "messages": [
                  {
                    "from": "16505551234",
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                    "timestamp": "1744344496",
                    "type": "document",
                    "document": {
                      "caption": "my receipt",
                      "filename": "receipt.pdf",
                      "mime_type": "application/pdf",
                      "sha256": "V5OPpLD/gEG6Xjg0MbmQDLFgcKsL+j5LfY4ny/pZ4MY=",
                      "id": "622684793477189",
                      "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=133..."
                    }
                  }
                ]
              },
              "field": "messages"
            }
          ]
        }
      ]
    }"#;

    /// "Sticker messages webhook reference", example.
    const STICKER: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [
        {
          "id": "102290129340398",
          "changes": [
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550783881",
                  "phone_number_id": "106540352242922"
                },
                "contacts": [
                  {
                    "profile": {
                      "name": "Sheena Nelson"
                    },
                    "wa_id": "16505551234"
                  }
                ],
                "messages": [
                  {
                    "from": "16505551234",
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                    "timestamp": "1744344496",
                    "type": "sticker",
                    "sticker": {
                      "mime_type": "image/webp",
                      "sha256": "wvqXMe6n7n1W0zphvLPoLj+s/NtKqmr3zZ7YzTP7xFI=",
                      "id": "1908647269898587",
                      "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=133...",
                      "animated": true
                    }
                  }
                ]
              },
              "field": "messages"
            }
          ]
        }
      ]
    }"#;

    /// "Location messages webhook reference", example.
    const LOCATION: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [
        {
          "id": "102290129340398",
          "changes": [
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550783881",
                  "phone_number_id": "106540352242922"
                },
                "contacts": [
                  {
                    "profile": {
                      "name": "Sheena Nelson"
                    },
                    "wa_id": "16505551234"
                  }
                ],
                "messages": [
                  {
                    "from": "16505551234",
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
                    "timestamp": "1744344496",
                    "location": {
                      "address": "101 Forest Ave, Palo Alto, CA 94301",
                      "latitude": 37.44221496582,
                      "longitude": -122.16165924072,
                      "name": "Philz Coffee",
                      "url": "https://philzcoffee.com/"
                    },
                    "type": "location"
                  }
                ]
              },
              "field": "messages"
            }
          ]
        }
      ]
    }"#;

    /// "Contacts messages webhook reference", example.
    const CONTACTS: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [
        {
          "id": "102290129340398",
          "changes": [
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550783881",
                  "phone_number_id": "106540352242922"
                },
                "contacts": [
                  {
                    "profile": {
                      "name": "Sheena Nelson"
                    },
                    "wa_id": "16505551234"
                  }
                ],
                "messages": [
                  {
                    "from": "16505551234",
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                    "timestamp": "1744344496",
                    "type": "contacts",
                    "contacts": [
                      {
                        "name": {
                          "first_name": "Barbara",
                          "last_name": "Johnson",
                          "formatted_name": "Barbara J. Johnson"
                        },
                        "org": {
                          "company": "Social Tsunami"
                        },
                        "phones": [
                          {
                            "phone": "+1 (415) 555-0829",
                            "wa_id": "14125550829",
                            "type": "MOBILE"
                          }
                        ]
                      }
                    ]
                  }
                ]
              },
              "field": "messages"
            }
          ]
        }
      ]
    }"#;

    /// "Interactive messages webhook reference", list reply example.
    const LIST_REPLY: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [
        {
          "id": "102290129340398",
          "changes": [
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550783881",
                  "phone_number_id": "106540352242922"
                },
                "contacts": [
                  {
                    "profile": {
                      "name": "Sheena Nelson"
                    },
                    "wa_id": "16505551234"
                  }
                ],
                "messages": [
                  {
                    "context": {
                      "from": "15550783881",
                      "id": "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="
                    },
                    "from": "16505551234",
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
                    "timestamp": "1749854575",
                    "type": "interactive",
                    "interactive": {
                      "type": "list_reply",
                      "list_reply": {
                        "id": "priority_express",
                        "title": "Priority Mail Express",
                        "description": "Next Day to 2 Days"
                      }
                    }
                  }
                ]
              },
              "field": "messages"
            }
          ]
        }
      ]
    }"#;

    /// "Interactive messages webhook reference", reply button example.
    const BUTTON_REPLY: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [
        {
          "id": "102290129340398",
          "changes": [
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550783881",
                  "phone_number_id": "106540352242922"
                },
                "contacts": [
                  {
                    "profile": {
                      "name": "Sheena Nelson"
                    },
                    "wa_id": "16505551234"
                  }
                ],
                "messages": [
                  {
                    "context": {
                      "from": "15550783881",
                      "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA"
                    },
                    "from": "16505551234",
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTZBQzg0MzQ4QjRCM0NGNkVGOAA=",
                    "timestamp": "1750025136",
                    "type": "interactive",
                    "interactive": {
                      "type": "button_reply",
                      "button_reply": {
                        "id": "cancel-button",
                        "title": "Cancel"
                      }
                    }
                  }
                ]
              },
              "field": "messages"
            }
          ]
        }
      ]
    }"#;

    /// "Button messages webhook reference" (template quick reply), example.
    const TEMPLATE_BUTTON: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [
        {
          "id": "102290129340398",
          "changes": [
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550783881",
                  "phone_number_id": "106540352242922"
                },
                "contacts": [
                  {
                    "profile": {
                      "name": "Sheena Nelson"
                    },
                    "wa_id": "16505551234"
                  }
                ],
                "messages": [
                  {
                    "context": {
                      "from": "15550783881",
                      "id": "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="
                    },
                    "from": "16505551234",
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
                    "timestamp": "1750091045",
                    "type": "button",
                    "button": {
                      "payload": "Unsubscribe",
                      "text": "Unsubscribe"
                    }
                  }
                ]
              },
              "field": "messages"
            }
          ]
        }
      ]
    }"#;

    /// "Reaction messages webhook reference", sample "Receiving a reaction".
    const REACTION: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [
        {
          "id": "102290129340398",
          "changes": [
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550783881",
                  "phone_number_id": "106540352242922"
                },
                "contacts": [
                  {
                    "profile": {
                      "name": "Sheena Nelson"
                    },
                    "wa_id": "16505551234"
                  }
                ],
                "messages": [
                  {
                    "from": "16505551234",
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
                    "timestamp": "1749419544",
                    "type": "reaction",
                    "reaction": {
                      "message_id": "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",
                      "emoji": "👍"
                    }
                  }
                ]
              },
              "field": "messages"
            }
          ]
        }
      ]
    }"#;

    /// "Unsupported messages webhook reference", example.
    const UNSUPPORTED: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [
        {
          "id": "102290129340398",
          "changes": [
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550783881",
                  "phone_number_id": "106540352242922"
                },
                "contacts": [
                  {
                    "profile": {
                      "name": "Sheena Nelson"
                    },
                    "wa_id": "16505551234"
                  }
                ],
                "messages": [
                  {
                    "from": "16505551234",
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
                    "timestamp": "1750090702",
                    "errors": [
                      {
                        "code": 131051,
                        "title": "Message type unknown",
                        "message": "Message type unknown",
                        "error_data": {
                          "details": "Message type is currently not supported."
                        }
                      }
                    ],
                    "type": "unsupported",
                    "unsupported": {
                     "type": "edit"
            }
                  }
                ]
              },
              "field": "messages"
            }
          ]
        }
      ]
    }"#;

    /// "Status messages webhook reference", first example (sent).
    const STATUS_SENT: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [
        {
          "id": "102290129340398",
          "changes": [
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550783881",
                  "phone_number_id": "106540352242922"
                },
                "statuses": [
                  {
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
                    "status": "sent",
                    "timestamp": "1750030073",
                    "recipient_id": "16505551234",
                    "conversation": {
                      "id": "72b14d6bd5407799e66f64d1b338e567",
                      "expiration_timestamp": "1750116480",
                      "origin": {
                        "type": "marketing"
                      }
                    },
                    "pricing": {
                      "billable": true,
                      "pricing_model": "PMP",
                      "type": "regular",
                      "category": "marketing"
                    }
                  }
                ]
              },
              "field": "messages"
            }
          ]
        }
      ]
    }"#;

    /// "messages webhook reference", outgoing messages example (delivered).
    const STATUS_DELIVERED: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [
        {
          "id": "102290129340398",
          "changes": [
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550783881",
                  "phone_number_id": "106540352242922"
                },
                "statuses": [
                  {
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA",
                    "status": "delivered",
                    "timestamp": "1750263773",
                    "recipient_id": "16505551234",
                    "conversation": {
                      "id": "6ceb9d929c9bdc4f90e967a32f8639b4",
                      "origin": {
                        "type": "service"
                      }
                    },
                    "pricing": {
                      "billable": true,
                      "pricing_model": "CBP",
                      "category": "service"
                    }
                  }
                ]
              },
              "field": "messages"
            }
          ]
        }
      ]
    }"#;

    /// "Status messages webhook reference", failed example.
    const STATUS_FAILED: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [
        {
          "id": "102290129340398",
          "changes": [
            {
              "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                  "display_phone_number": "15550783881",
                  "phone_number_id": "106540352242922"
                },
                "statuses": [
                  {
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA",
                    "status": "failed",
                    "timestamp": "1751142888",
                    "recipient_id": "16505551234",
                    "errors": [
                      {
                        "code": 131049,
                        "title": "This message was not delivered to maintain healthy ecosystem engagement.",
                        "message": "This message was not delivered to maintain healthy ecosystem engagement.",
                        "error_data": {
                          "details": "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."
                        },
                        "href": "/documentation/business-messaging/whatsapp/support/error-codes"
                      }
                    ]
                  }
                ]
              },
              "field": "messages"
            }
          ]
        }
      ]
    }"#;

    /// "Error codes", example response.
    const ERROR_130429: &str = r#"{
      "error": {
        "message": "(#130429) Rate limit hit",
        "type": "OAuthException",
        "code": 130429,
        "error_data": {
            "messaging_product": "whatsapp",
            "details": "Cloud API message throughput has been reached."
        },
        "error_subcode": 2494055,
        "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"
      }
    }"#;

    fn single(payload: &str) -> InboundEvent {
        let mut events = parse_webhook(payload.as_bytes(), PNID).expect("parses");
        assert_eq!(events.len(), 1, "{events:?}");
        events.remove(0)
    }

    fn sheena() -> Sender {
        Sender { external_id: "16505551234".into(), name: Some("Sheena Nelson".into()), phone: Some("+16505551234".into()) }
    }

    /// (content, media) of the one message in `payload`, after checking the sender.
    fn message(payload: &str) -> (String, Vec<MediaRef>) {
        match single(payload) {
            InboundEvent::Message { from, content, media, edit_of, .. } => {
                assert_eq!(from, sheena());
                assert_eq!(edit_of, None);
                (content, media)
            }
            other => panic!("not a message: {other:?}"),
        }
    }

    fn error_body(code: i64, message: &str) -> Vec<u8> {
        json!({"error": {"message": message, "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": "details"}, "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}})
        .to_string()
        .into_bytes()
    }

    // -- verification ------------------------------------------------------

    #[test]
    fn challenge_is_echoed_for_subscribe_and_the_right_token() {
        assert_eq!(verify_challenge(Some("subscribe"), Some("meatyhamhock"), Some("1158201444"), "meatyhamhock"), Ok("1158201444".into()));
    }

    #[test]
    fn challenge_is_refused_for_a_wrong_token_or_mode() {
        let refused = Err(WebhookError::VerificationRefused);
        assert_eq!(verify_challenge(Some("subscribe"), Some("wrong"), Some("1"), "meatyhamhock"), refused);
        assert_eq!(verify_challenge(Some("subscribe"), Some("meatyhamhoc"), Some("1"), "meatyhamhock"), refused);
        assert_eq!(verify_challenge(Some("subscribe"), None, Some("1"), "meatyhamhock"), refused);
        assert_eq!(verify_challenge(Some("unsubscribe"), Some("meatyhamhock"), Some("1"), "meatyhamhock"), refused);
        assert_eq!(verify_challenge(None, Some("meatyhamhock"), Some("1"), "meatyhamhock"), refused);
        // An inbox without a token verifies nothing, not even an empty token.
        assert_eq!(verify_challenge(Some("subscribe"), Some(""), Some("1"), ""), refused);
        assert!(matches!(verify_challenge(Some("subscribe"), Some("t"), None, "t"), Err(WebhookError::Malformed(_))));
    }

    #[test]
    fn signature_is_checked_on_the_raw_body() {
        let body = TEXT.as_bytes();
        let header = signature_header(SECRET, body);
        assert!(header.starts_with("sha256=") && header.len() == 7 + 64);
        assert_eq!(verify_signature(SECRET, body, Some(&header)), Ok(()));
        assert_eq!(verify_signature(SECRET, body, Some(&header.to_uppercase().replace("SHA256=", "sha256="))), Ok(()));
        // The same JSON re-serialised is a different body.
        let reserialised = serde_json::from_str::<Value>(TEXT).expect("doc example is JSON").to_string();
        assert_eq!(verify_signature(SECRET, reserialised.as_bytes(), Some(&header)), Err(WebhookError::BadSignature));
        assert_eq!(verify_signature("other secret", body, Some(&header)), Err(WebhookError::BadSignature));
    }

    #[test]
    fn signature_missing_or_misshapen_is_refused() {
        let body = TEXT.as_bytes();
        let hex_only = signature_header(SECRET, body).trim_start_matches("sha256=").to_owned();
        assert_eq!(verify_signature(SECRET, body, None), Err(WebhookError::MissingSignature));
        assert_eq!(verify_signature(SECRET, body, Some(&hex_only)), Err(WebhookError::BadSignature));
        assert_eq!(verify_signature(SECRET, body, Some(&format!("sha1={hex_only}"))), Err(WebhookError::BadSignature));
        assert_eq!(verify_signature(SECRET, body, Some("sha256=not-hex")), Err(WebhookError::BadSignature));
        assert_eq!(verify_signature(SECRET, body, Some("sha256=")), Err(WebhookError::BadSignature));
        // Anyone can sign with an empty key.
        let unkeyed = signature_header("", body);
        assert_eq!(verify_signature("", body, Some(&unkeyed)), Err(WebhookError::BadSignature));
    }

    // -- inbound messages --------------------------------------------------

    #[test]
    fn text_message() {
        assert_eq!(
            single(TEXT),
            InboundEvent::Message {
                external_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=".into(),
                from: sheena(),
                content: "Does it come in another color?".into(),
                media: vec![],
                sent_at: 1_749_416_383,
                edit_of: None,
            }
        );
        assert_eq!(message(TEXT_FROM_AD), ("Can I get more info about this?".into(), vec![]));
    }

    #[test]
    fn media_messages_carry_a_media_ref_and_the_caption() {
        let image = MediaRef {
            id: "1003383421387256".into(),
            mime_type: Some("image/jpeg".into()),
            filename: None,
            caption: Some("Taj Mahal".into()),
        };
        assert_eq!(message(IMAGE), ("Taj Mahal".into(), vec![image]));

        let document = MediaRef {
            id: "622684793477189".into(),
            mime_type: Some("application/pdf".into()),
            filename: Some("receipt.pdf".into()),
            caption: Some("my receipt".into()),
        };
        assert_eq!(message(DOCUMENT), ("my receipt".into(), vec![document]));

        let sticker = MediaRef { id: "1908647269898587".into(), mime_type: Some("image/webp".into()), filename: None, caption: None };
        assert_eq!(message(STICKER), ("[sticker]".into(), vec![sticker]));
    }

    #[test]
    fn audio_and_video_messages() {
        // Syntax of the "Audio messages webhook reference" / "Video messages
        // webhook reference" filled with the pages' example values.
        let audio = TEXT.replace(
            r#""type": "text",
                    "text": {
                      "body": "Does it come in another color?"
                    }"#,
            r#""type": "audio",
                    "audio": {
                      "mime_type": "audio/ogg; codecs=opus",
                      "sha256": "wvqXMe6n7n1W0zphvLPoLj+s/NtKqmr3zZ7YzTP7xFI=",
                      "id": "1908647269898587",
                      "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=133...",
                      "voice": true
                    }"#,
        );
        let (content, media) = message(&audio);
        assert_eq!(content, "");
        assert_eq!(media[0].id, "1908647269898587");
        assert_eq!(media[0].mime_type.as_deref(), Some("audio/ogg; codecs=opus"));

        let video = audio.replace(r#""type": "audio""#, r#""type": "video""#).replace(
            r#""audio": {
                      "mime_type": "audio/ogg; codecs=opus","#,
            r#""video": {
                      "caption": "Check out my new hiking boots!",
                      "mime_type": "video/mp4","#,
        );
        let (content, media) = message(&video);
        assert_eq!(content, "Check out my new hiking boots!");
        assert_eq!(media[0].mime_type.as_deref(), Some("video/mp4"));
        assert_eq!(media[0].caption.as_deref(), Some("Check out my new hiking boots!"));
    }

    #[test]
    fn location_and_contacts_become_readable_lines() {
        assert_eq!(
            message(LOCATION),
            ("📍 Philz Coffee, 101 Forest Ave, Palo Alto, CA 94301 (37.44221496582, -122.16165924072)".into(), vec![])
        );
        assert_eq!(message(CONTACTS), ("👤 Barbara J. Johnson: +1 (415) 555-0829".into(), vec![]));
    }

    #[test]
    fn replies_to_buttons_and_lists_show_the_chosen_title() {
        assert_eq!(message(LIST_REPLY).0, "Priority Mail Express");
        assert_eq!(message(BUTTON_REPLY).0, "Cancel");
        assert_eq!(message(TEMPLATE_BUTTON).0, "Unsubscribe");
    }

    #[test]
    fn reactions_unsupported_and_unknown_types_are_kept_visible() {
        assert_eq!(message(REACTION), ("[unsupported message: reaction]".into(), vec![]));
        // "Reaction removed by end user" sample (its trailing comma after
        // message_id removed: the page's JSON does not parse as printed).
        let removed = REACTION.replace(
            r#""message_id": "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",
                      "emoji": "👍""#,
            r#""message_id": "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=""#,
        );
        assert_eq!(message(&removed).0, "[unsupported message: reaction]");
        assert_eq!(message(UNSUPPORTED), ("[unsupported message: edit]".into(), vec![]));
        let future = TEXT.replace(r#""type": "text""#, r#""type": "quantum_hologram""#);
        assert_eq!(message(&future).0, "[unsupported message: quantum_hologram]");
        // A known type whose object is missing is not dropped either.
        let hollow = TEXT.replace(r#""type": "text""#, r#""type": "image""#);
        assert_eq!(message(&hollow), ("[unsupported message: image]".into(), vec![]));
    }

    #[test]
    fn sender_falls_back_to_from_when_contacts_are_absent() {
        let bare = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550783881", "phone_number_id": PNID},
            "messages": [{"from": "+447700900123", "id": "wamid.X", "timestamp": 1_700_000_000, "type": "text", "text": {"body": "hi"}}]}}]}]});
        match single(&bare.to_string()) {
            InboundEvent::Message { from, sent_at, .. } => {
                assert_eq!(from, Sender { external_id: "447700900123".into(), name: None, phone: Some("+447700900123".into()) });
                assert_eq!(sent_at, 1_700_000_000, "numeric timestamps are accepted too");
            }
            other => panic!("{other:?}"),
        }
    }

    // -- statuses ----------------------------------------------------------

    #[test]
    fn statuses_map_to_delivery_statuses() {
        assert_eq!(
            single(STATUS_SENT),
            InboundEvent::Status {
                external_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=".into(),
                status: DeliveryStatus::Sent,
                error: None,
                at: 1_750_030_073,
            }
        );
        assert_eq!(
            single(STATUS_DELIVERED),
            InboundEvent::Status {
                external_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA".into(),
                status: DeliveryStatus::Delivered,
                error: None,
                at: 1_750_263_773,
            }
        );
        for (wire, status) in [("read", DeliveryStatus::Read), ("played", DeliveryStatus::Read)] {
            let payload = STATUS_SENT.replace(r#""status": "sent""#, &format!(r#""status": "{wire}""#));
            assert!(matches!(single(&payload), InboundEvent::Status { status: s, .. } if s == status), "{wire}");
        }
        let unknown = STATUS_SENT.replace(r#""status": "sent""#, r#""status": "warning""#);
        assert_eq!(parse_webhook(unknown.as_bytes(), PNID), Ok(vec![]));
    }

    #[test]
    fn failed_status_carries_the_reason() {
        assert_eq!(
            single(STATUS_FAILED),
            InboundEvent::Status {
                external_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA".into(),
                status: DeliveryStatus::Failed,
                error: Some(
                    "131049: This message was not delivered to maintain healthy ecosystem engagement. \
                     (In order to maintain a healthy ecosystem engagement, the message failed to be delivered.)"
                        .into()
                ),
                at: 1_751_142_888,
            }
        );
        let bare = STATUS_SENT.replace(r#""status": "sent""#, r#""status": "failed""#);
        assert!(matches!(single(&bare), InboundEvent::Status { error: Some(e), .. } if e.contains("without a reason")));
    }

    #[test]
    fn status_callback_data_links_a_status_to_its_outbox_row() {
        let tagged = STATUS_SENT.replace(r#""recipient_id": "16505551234","#, r#""recipient_id": "16505551234", "biz_opaque_callback_data": "outbox-42","#);
        assert_eq!(
            status_callback_keys(tagged.as_bytes(), PNID),
            Ok(vec![("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=".into(), "outbox-42".into())])
        );
        assert_eq!(status_callback_keys(STATUS_SENT.as_bytes(), PNID), Ok(vec![]));
    }

    // -- routing and shape -------------------------------------------------

    #[test]
    fn changes_for_another_number_or_field_are_ignored() {
        assert_eq!(parse_webhook(TEXT.as_bytes(), "999999999999999"), Ok(vec![]));
        assert_eq!(parse_webhook(TEXT.as_bytes(), ""), Ok(vec![]));
        // One notification, two numbers of the same business account.
        let mut two: Value = serde_json::from_str(TEXT).expect("doc example is JSON");
        let mut other = two["entry"][0]["changes"][0].clone();
        other["value"]["metadata"]["phone_number_id"] = json!("999999999999999");
        other["value"]["messages"][0]["id"] = json!("wamid.other");
        two["entry"][0]["changes"].as_array_mut().expect("changes array").insert(0, other);
        let events = parse_webhook(two.to_string().as_bytes(), PNID).expect("parses");
        assert!(matches!(&events[..], [InboundEvent::Message { external_id, .. }] if external_id.ends_with("RgA=")));
        // Fields this adapter does not handle, whatever their shape.
        let account_update = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
            {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}]}]});
        assert_eq!(parse_webhook(account_update.to_string().as_bytes(), PNID), Ok(vec![]));
    }

    #[test]
    fn business_app_echoes_are_outbound() {
        let echo = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
            "field": "smb_message_echoes",
            "value": {"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": PNID},
                "message_echoes": [
                    {"from": "15550783881", "to": "16505551234", "id": "wamid.E1", "timestamp": "1750000000",
                     "type": "text", "text": {"body": "On my way"}},
                    {"from": "15550783881", "to": "16505551234", "id": "wamid.E2", "timestamp": "1750000001",
                     "type": "image", "image": {"id": "1003383421387256", "mime_type": "image/jpeg"}}]}}]}]});
        let events = parse_webhook(echo.to_string().as_bytes(), PNID).expect("parses");
        let customer = Sender { external_id: "16505551234".into(), name: None, phone: Some("+16505551234".into()) };
        assert_eq!(
            events,
            vec![
                InboundEvent::Echo { external_id: "wamid.E1".into(), to: customer.clone(), content: "On my way".into(), sent_at: 1_750_000_000, idempotency_key: None },
                InboundEvent::Echo { external_id: "wamid.E2".into(), to: customer, content: "[image]".into(), sent_at: 1_750_000_001, idempotency_key: None },
            ]
        );
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let malformed = |body: &str| matches!(parse_webhook(body.as_bytes(), PNID), Err(WebhookError::Malformed(_)));
        assert!(malformed(""));
        assert!(malformed("not json"));
        assert!(malformed("[]"));
        assert!(malformed(r#"{"object":"whatsapp_business_account"}"#), "entry missing");
        assert!(malformed(&TEXT.replace("whatsapp_business_account", "page")));
        assert!(malformed(&TEXT.replace(r#""phone_number_id": "106540352242922""#, r#""phone": "106540352242922""#)));
        assert!(malformed(&TEXT.replace(r#""id": "wamid."#, r#""mid": "wamid."#)), "message id missing");
        assert!(malformed(&TEXT.replace(r#""timestamp": "1749416383""#, r#""timestamp": "yesterday""#)));
        assert!(malformed(&TEXT.replace(r#""from": "16505551234","#, "").replace(r#""wa_id": "16505551234""#, r#""x": 1"#)));
        assert!(malformed(&STATUS_SENT.replace(r#""status": "sent","#, "")), "status missing");
    }

    // -- sending -----------------------------------------------------------

    #[test]
    fn text_request() {
        let req = send_text("https://graph.facebook.com/", PNID, "EAAJB...", "+16505551234", "Hello", "outbox-7");
        assert_eq!(req.url, "https://graph.facebook.com/v25.0/106540352242922/messages");
        assert_eq!(
            req.headers,
            vec![
                ("Authorization".to_owned(), "Bearer EAAJB...".to_owned()),
                ("Content-Type".to_owned(), "application/json".to_owned())
            ]
        );
        assert_eq!(
            req.body,
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+16505551234",
                   "type": "text", "text": {"body": "Hello"}, "biz_opaque_callback_data": "outbox-7"})
        );
        assert_eq!(send_text("http://127.0.0.1:9000", PNID, "t", "1", "x", "k").url, "http://127.0.0.1:9000/v25.0/106540352242922/messages");
    }

    #[test]
    fn callback_data_is_bounded_and_optional() {
        let long = "é".repeat(600);
        let req = send_text(DEFAULT_API_BASE, PNID, "t", "1", "x", &long);
        assert_eq!(req.body["biz_opaque_callback_data"].as_str().map(|s| s.chars().count()), Some(512));
        assert!(send_text(DEFAULT_API_BASE, PNID, "t", "1", "x", "").body.get("biz_opaque_callback_data").is_none());
    }

    #[test]
    fn template_request() {
        let params = vec!["Pablo".to_owned(), "860198-230332".to_owned()];
        let t = Template { name: "order_confirmation", language: "en_US", body_parameters: &params };
        let req = send_template(DEFAULT_API_BASE, PNID, "t", "+16505551234", &t, "k");
        assert_eq!(
            req.body,
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+16505551234", "type": "template",
                   "template": {"name": "order_confirmation", "language": {"code": "en_US"},
                                "components": [{"type": "body", "parameters": [{"type": "text", "text": "Pablo"},
                                                                               {"type": "text", "text": "860198-230332"}]}]},
                   "biz_opaque_callback_data": "k"})
        );
        let plain = Template { name: "hello_world", language: "en_US", body_parameters: &[] };
        assert_eq!(
            send_template(DEFAULT_API_BASE, PNID, "t", "1", &plain, "k").body["template"],
            json!({"name": "hello_world", "language": {"code": "en_US"}})
        );
    }

    #[test]
    fn media_requests_by_link_or_id() {
        let image = OutboundMedia {
            kind: MediaKind::Image,
            source: MediaSource::Id("1013859600285441"),
            caption: Some("The best succulent ever?"),
            filename: Some("ignored.png"),
        };
        let req = send_media(DEFAULT_API_BASE, PNID, "t", "+16505551234", &image, "k");
        assert_eq!(
            req.body,
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+16505551234", "type": "image",
                   "image": {"id": "1013859600285441", "caption": "The best succulent ever?"}, "biz_opaque_callback_data": "k"})
        );
        let document = OutboundMedia {
            kind: MediaKind::Document,
            source: MediaSource::Link("https://www.luckyshrub.com/invoices/FmOzfD9cKf/lucky-shrub-invoice.pdf"),
            caption: Some("Lucky Shrub Invoice"),
            filename: Some("lucky-shrub-invoice.pdf"),
        };
        assert_eq!(
            send_media(DEFAULT_API_BASE, PNID, "t", "1", &document, "k").body["document"],
            json!({"link": "https://www.luckyshrub.com/invoices/FmOzfD9cKf/lucky-shrub-invoice.pdf",
                   "caption": "Lucky Shrub Invoice", "filename": "lucky-shrub-invoice.pdf"})
        );
        let audio = OutboundMedia { kind: MediaKind::Audio, source: MediaSource::Id("1"), caption: Some("no captions on audio"), filename: None };
        let body = send_media(DEFAULT_API_BASE, PNID, "t", "1", &audio, "k").body;
        assert_eq!((body["type"].clone(), body["audio"].clone()), (json!("audio"), json!({"id": "1"})));
        assert_eq!(media_info_url("http://emu/", "1003383421387256"), "http://emu/v25.0/1003383421387256");
    }

    // -- send answers ------------------------------------------------------

    #[test]
    fn accepted_send_returns_the_wamid() {
        // Example response of the Messages API.
        let ok = br#"{"messaging_product":"whatsapp","contacts":[{"input":"+16505551234","wa_id":"16505551234"}],
                      "messages":[{"id":"wamid.HBgLMTY0NjcwNDM1OTUVAgARGBJCNUQ5RUNBNTk3OEQ2M0ZEQzgA"}]}"#;
        assert_eq!(
            parse_send_response(200, None, ok),
            SendOutcome::Sent { external_id: "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBJCNUQ5RUNBNTk3OEQ2M0ZEQzgA".into() }
        );
        let template = br#"{"messaging_product":"whatsapp","contacts":[{"input":"1","wa_id":"1"}],"messages":[{"id":"wamid.T","message_status":"accepted"}]}"#;
        assert_eq!(parse_send_response(200, None, template), SendOutcome::Sent { external_id: "wamid.T".into() });
        assert!(matches!(parse_send_response(200, None, b"{}"), SendOutcome::Permanent { .. }));
        assert!(matches!(parse_send_response(200, None, b"<html>"), SendOutcome::Permanent { .. }));
    }

    #[test]
    fn rate_limits_are_retried() {
        assert_eq!(
            parse_send_response(400, None, ERROR_130429.as_bytes()),
            SendOutcome::Retry {
                after_secs: None,
                reason: "(#130429) Rate limit hit: Cloud API message throughput has been reached.".into()
            }
        );
        for code in [4, 80007, 130429, 131056] {
            assert!(matches!(parse_send_response(400, None, &error_body(code, "limit")), SendOutcome::Retry { .. }), "{code}");
        }
        assert!(matches!(parse_send_response(429, Some("30"), &error_body(4, "x")), SendOutcome::Retry { after_secs: Some(30), .. }));
        assert!(matches!(
            parse_send_response(429, Some("Wed, 21 Oct 2026 07:28:00 GMT"), b""),
            SendOutcome::Retry { after_secs: None, .. }
        ));
    }

    #[test]
    fn server_errors_are_retried() {
        assert_eq!(parse_send_response(503, None, b""), SendOutcome::Retry { after_secs: None, reason: "WhatsApp answered HTTP 503".into() });
        assert!(matches!(parse_send_response(500, Some(" 5 "), &error_body(1, "(#1) error")), SendOutcome::Retry { after_secs: Some(5), .. }));
        for code in [2, 131000, 131016, 131057] {
            assert!(matches!(parse_send_response(400, None, &error_body(code, "try later")), SendOutcome::Retry { .. }), "{code}");
        }
    }

    #[test]
    fn permanent_errors_carry_meta_reason() {
        let window = json!({"error": {"message": "(#131047) Re-engagement message", "type": "OAuthException", "code": 131047,
            "error_data": {"messaging_product": "whatsapp",
                           "details": "More than 24 hours have passed since the recipient last replied to the sender number."},
            "fbtrace_id": "A"}});
        assert_eq!(
            parse_send_response(400, None, window.to_string().as_bytes()),
            SendOutcome::Permanent {
                reason: "(#131047) Re-engagement message: More than 24 hours have passed since the recipient last replied to the sender number."
                    .into()
            }
        );
        for (status, code) in [(400, 131026), (401, 190), (400, 131048), (400, 132001), (403, 10), (400, 100)] {
            assert!(matches!(parse_send_response(status, None, &error_body(code, "no")), SendOutcome::Permanent { .. }), "{code}");
        }
        // A known permanent code stays permanent whatever the HTTP status.
        assert!(matches!(parse_send_response(500, None, &error_body(131047, "x")), SendOutcome::Permanent { .. }));
        // Unknown codes follow the HTTP status.
        assert!(matches!(parse_send_response(400, None, &error_body(999_999, "x")), SendOutcome::Permanent { .. }));
        assert!(matches!(parse_send_response(502, None, &error_body(999_999, "x")), SendOutcome::Retry { .. }));
        assert!(matches!(parse_send_response(404, None, b"Not Found"), SendOutcome::Permanent { reason } if reason.contains("404")));
        // Template errors may carry error_data as a plain string.
        let template = br#"{"error":{"message":"(#132001) Template name does not exist in the translation","code":132001,"error_data":"template name (x) does not exist in en"}}"#;
        assert_eq!(
            parse_send_response(404, None, template),
            SendOutcome::Permanent {
                reason: "(#132001) Template name does not exist in the translation: template name (x) does not exist in en".into()
            }
        );
    }

    // -- window --------------------------------------------------------------

    #[test]
    fn window_is_open_for_24_hours_after_the_customer_wrote() {
        let last = 1_750_000_000;
        assert!(window_open(last, last));
        assert!(window_open(last, last + CUSTOMER_SERVICE_WINDOW_SECS - 1));
        assert!(!window_open(last, last + CUSTOMER_SERVICE_WINDOW_SECS));
        assert!(!window_open(last, last + 7 * CUSTOMER_SERVICE_WINDOW_SECS));
        assert!(window_open(last + 60, last), "a future stamp counts as now");
        assert!(!window_open(0, last), "never wrote");
        assert!(!window_open(i64::MIN, i64::MAX));
    }
}
