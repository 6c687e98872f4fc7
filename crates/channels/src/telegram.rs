//! Telegram Bot API adapter: checks the webhook secret, turns `Update`
//! objects into [`InboundEvent`]s and describes `sendMessage` / `sendPhoto` /
//! … calls and what their answers mean. Pure: no IO, no clock.
//!
//! Wire format (core.telegram.org/bots/api):
//! - Webhook: `setWebhook(secret_token)` makes Telegram send the secret in
//!   `X-Telegram-Bot-Api-Secret-Token` on every POST; the body is one JSON
//!   `Update` with `update_id` and at most one of `message`,
//!   `edited_message`, `callback_query`, `channel_post`, `my_chat_member`, …
//! - Methods: `POST {base}/bot{token}/{method}` with a JSON body; the answer
//!   is `{"ok":true,"result":…}` or `{"ok":false,"error_code":N,
//!   "description":"…","parameters":{"retry_after":N}}`.
//!
//! Only private chats with the bot become conversations: group, supergroup
//! and channel traffic, and membership news (`my_chat_member`), are
//! acknowledged with no events, so Telegram does not redeliver them.
//!
//! Message ids are only unique within a chat, so every external id carries
//! the chat: `"<chat_id>:<message_id>"`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::provider::{InboundEvent, MediaRef, SendOutcome, SendRequest, Sender, WebhookError};

/// The real Bot API; inboxes override it (`api_base_url`) to reach the
/// emulator.
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";

/// The header Telegram fills with the inbox's `secret_token`.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Checks the webhook secret header in constant time.
///
/// An inbox with no configured secret refuses every webhook: without one,
/// anybody who learns the URL could post updates as Telegram.
pub fn verify_secret(configured: &str, header: Option<&str>) -> Result<(), WebhookError> {
    let received = header.ok_or(WebhookError::MissingSignature)?;
    if !configured.is_empty() && constant_time_eq(configured.as_bytes(), received.as_bytes()) {
        Ok(())
    } else {
        Err(WebhookError::BadSignature)
    }
}

/// Compares digests rather than the strings so that neither the content nor
/// the length of the secret shows in the timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (da, db) = (Sha256::digest(a), Sha256::digest(b));
    da.iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// One webhook body. `update_id` is the redelivery key (SPEC §8: dedup on
/// bot + `update_id`); `events` is empty for updates that carry nothing for
/// an inbox, which are still acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUpdate {
    pub update_id: i64,
    pub events: Vec<InboundEvent>,
    /// The private-chat customer's IETF language tag as their Telegram app
    /// reports it (`from.language_code`, e.g. `uk`, `en`): `(chat id,
    /// language)`, the chat id being the customer's external id.
    pub sender_language: Option<(String, String)>,
}

impl ParsedUpdate {
    /// The id of the button press this update reported, if any: the caller
    /// should answer it (see [`answer_callback_query`]) or the customer's app
    /// shows a spinner on the button.
    pub fn callback_query_id(&self) -> Option<&str> {
        self.events.iter().find_map(|event| match event {
            InboundEvent::Message { external_id, .. } => external_id.strip_prefix(CALLBACK_PREFIX),
            _ => None,
        })
    }
}

/// Callback ids are opaque strings; the prefix keeps them apart from the
/// numeric `"<chat_id>:<message_id>"` ids.
const CALLBACK_PREFIX: &str = "callback:";

/// Parses one webhook body (after [`verify_secret`]).
///
/// - `message` in a private chat → a [`InboundEvent::Message`] with id
///   `"<chat_id>:<message_id>"`.
/// - `edited_message` → a new message with `edit_of` = the original's id
///   and id `"<chat_id>:<message_id>:edit:<update_id>"`: every edit is its
///   own update, and `update_id` (unlike `edit_date`, which has one-second
///   resolution) never repeats except on redelivery — exactly the dedup
///   wanted. `sent_at` is the `edit_date`.
/// - `callback_query` (an inline-keyboard button pressed in the private
///   chat) → a message whose content is the button's `callback_data`, id
///   `"callback:<callback id>"`. Telegram stamps no time on a press, so
///   `sent_at` is the date of the message carrying the button (0 when that
///   message is no longer accessible). Presses on inline-mode messages carry
///   no chat and are skipped.
/// - anything else (`channel_post`, `my_chat_member`, group messages, …) →
///   no events.
pub fn parse_update(raw_body: &[u8]) -> Result<ParsedUpdate, WebhookError> {
    let update: Update =
        serde_json::from_slice(raw_body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let mut events = Vec::new();
    let mut sender_language = None;
    let language = |chat: &Chat, user: Option<&User>| {
        let code = user?.language_code.as_deref()?.trim();
        // An IETF tag: letters, digits and '-', at most 35 characters.
        let valid = !code.is_empty()
            && code.len() <= 35
            && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        valid.then(|| (chat.id.to_string(), code.to_owned()))
    };
    if let Some(msg) = update.message {
        if msg.chat.kind == ChatType::Private {
            sender_language = language(&msg.chat, msg.from.as_ref());
            let external_id = message_key(&msg);
            let sent_at = msg.date;
            events.push(message_event(msg, external_id, None, sent_at));
        }
    } else if let Some(msg) = update.edited_message {
        if msg.chat.kind == ChatType::Private {
            sender_language = language(&msg.chat, msg.from.as_ref());
            let original = message_key(&msg);
            let external_id = format!("{original}:edit:{}", update.update_id);
            let sent_at = msg.edit_date.unwrap_or(msg.date);
            events.push(message_event(msg, external_id, Some(original), sent_at));
        }
    } else if let Some(query) = update.callback_query {
        events.extend(callback_event(query));
    }
    Ok(ParsedUpdate {
        update_id: update.update_id,
        events,
        sender_language,
    })
}

fn message_key(msg: &Message) -> String {
    format!("{}:{}", msg.chat.id, msg.message_id)
}

fn message_event(
    msg: Message,
    external_id: String,
    edit_of: Option<String>,
    sent_at: i64,
) -> InboundEvent {
    let (content, media) = describe(&msg);
    let from = sender(&msg.chat, msg.from.as_ref(), own_phone(&msg));
    InboundEvent::Message {
        external_id,
        from,
        content,
        media,
        sent_at,
        edit_of,
    }
}

fn callback_event(query: CallbackQuery) -> Option<InboundEvent> {
    let msg = query.message?;
    if msg.chat.kind != ChatType::Private {
        return None;
    }
    let content = match (query.data, query.game_short_name) {
        (Some(data), _) => data,
        (None, Some(_)) => unsupported("callback_game"),
        (None, None) => unsupported("callback_query"),
    };
    Some(InboundEvent::Message {
        external_id: format!("{CALLBACK_PREFIX}{}", query.id),
        from: sender(&msg.chat, Some(&query.from), None),
        content,
        media: Vec::new(),
        sent_at: msg.date,
        edit_of: None,
    })
}

/// In a private chat the chat id is the user's id, and it is what a reply
/// is sent to.
fn sender(chat: &Chat, user: Option<&User>, phone: Option<String>) -> Sender {
    let name = user
        .and_then(|u| {
            display_name(
                Some(&u.first_name),
                u.last_name.as_deref(),
                u.username.as_deref(),
            )
        })
        .or_else(|| {
            display_name(
                chat.first_name.as_deref(),
                chat.last_name.as_deref(),
                chat.username.as_deref(),
            )
        });
    Sender {
        external_id: chat.id.to_string(),
        name,
        phone,
    }
}

fn display_name(first: Option<&str>, last: Option<&str>, username: Option<&str>) -> Option<String> {
    let full = [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let full = full.collect::<Vec<_>>().join(" ");
    if !full.is_empty() {
        Some(full)
    } else {
        username
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }
}

/// A shared contact tells us the sender's phone only when it is their own
/// card (`user_id` = sender), as the "share my phone number" button sends.
fn own_phone(msg: &Message) -> Option<String> {
    let contact = msg.contact.as_ref()?;
    let sender_id = msg.from.as_ref().map_or(msg.chat.id, |u| u.id);
    if contact.user_id != Some(sender_id) {
        return None;
    }
    let digits: String = contact
        .phone_number
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then(|| format!("+{digits}"))
}

fn unsupported(kind: &str) -> String {
    format!("[unsupported message: {kind}]")
}

/// The text agents see, and the files to fetch.
fn describe(msg: &Message) -> (String, Vec<MediaRef>) {
    let caption = || msg.caption.clone().unwrap_or_default();
    let file = |meta: &FileMeta, default_mime: Option<&str>| MediaRef {
        id: meta.file_id.clone(),
        mime_type: meta
            .mime_type
            .clone()
            .or_else(|| default_mime.map(str::to_owned)),
        filename: meta.file_name.clone(),
        caption: msg.caption.clone(),
    };

    if let Some(text) = &msg.text {
        return (text.clone(), Vec::new());
    }
    if let Some(sizes) = &msg.photo {
        // Telegram lists the sizes smallest first; pick by area anyway.
        let largest = sizes
            .iter()
            .max_by_key(|p| (p.width.saturating_mul(p.height), p.file_size.unwrap_or(0)));
        let media = largest.map(|p| MediaRef {
            id: p.file_id.clone(),
            mime_type: Some("image/jpeg".to_owned()),
            filename: None,
            caption: msg.caption.clone(),
        });
        return (caption(), media.into_iter().collect());
    }
    // An animation also fills `document` (backward compatibility), so it goes first.
    let files = [
        (&msg.animation, Some("video/mp4")),
        (&msg.document, None),
        (&msg.audio, None),
        (&msg.voice, Some("audio/ogg")),
        (&msg.video, Some("video/mp4")),
        (&msg.video_note, Some("video/mp4")),
    ];
    if let Some((meta, mime)) = files
        .iter()
        .find_map(|(m, mime)| m.as_ref().map(|m| (m, *mime)))
    {
        return (caption(), vec![file(meta, mime)]);
    }
    if let Some(sticker) = &msg.sticker {
        let mime = if sticker.is_animated {
            "application/x-tgsticker"
        } else if sticker.is_video {
            "video/webm"
        } else {
            "image/webp"
        };
        let content = match sticker.emoji.as_deref() {
            Some(emoji) => format!("[sticker {emoji}]"),
            None => "[sticker]".to_owned(),
        };
        let media = MediaRef {
            id: sticker.file_id.clone(),
            mime_type: Some(mime.to_owned()),
            filename: None,
            caption: None,
        };
        return (content, vec![media]);
    }
    // A venue also fills `location`, so it goes first.
    if let Some(venue) = &msg.venue {
        let Location {
            latitude,
            longitude,
        } = venue.location;
        let place = [venue.title.trim(), venue.address.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        return (
            format!("Location: {place} ({latitude}, {longitude})"),
            Vec::new(),
        );
    }
    if let Some(Location {
        latitude,
        longitude,
    }) = msg.location
    {
        return (format!("Location: {latitude}, {longitude}"), Vec::new());
    }
    if let Some(contact) = &msg.contact {
        let name = display_name(
            Some(&contact.first_name),
            contact.last_name.as_deref(),
            None,
        );
        let content = match name {
            Some(name) => format!("Contact: {name}, {}", contact.phone_number),
            None => format!("Contact: {}", contact.phone_number),
        };
        return (content, Vec::new());
    }
    if let Some(poll) = &msg.poll {
        let options = poll
            .options
            .iter()
            .map(|o| o.text.as_str())
            .collect::<Vec<_>>()
            .join(" / ");
        return (format!("Poll: {} [{options}]", poll.question), Vec::new());
    }
    if let Some(dice) = &msg.dice {
        return (format!("Dice: {} {}", dice.emoji, dice.value), Vec::new());
    }
    let kind = msg
        .other
        .keys()
        .map(String::as_str)
        .find(|k| !METADATA_FIELDS.contains(k));
    (unsupported(kind.unwrap_or("unknown")), Vec::new())
}

/// Message fields that qualify a message rather than say what it is; the
/// first other field names an unsupported kind (`game`, `story`,
/// `invoice`, `pinned_message`, …).
const METADATA_FIELDS: &[&str] = &[
    "author_signature",
    "business_connection_id",
    "caption_entities",
    "effect_id",
    "entities",
    "external_reply",
    "forward_date",
    "forward_from",
    "forward_from_chat",
    "forward_from_message_id",
    "forward_origin",
    "forward_sender_name",
    "forward_signature",
    "has_media_spoiler",
    "has_protected_content",
    "is_automatic_forward",
    "is_from_offline",
    "is_topic_message",
    "link_preview_options",
    "media_group_id",
    "message_thread_id",
    "paid_star_count",
    "quote",
    "reply_markup",
    "reply_to_message",
    "reply_to_story",
    "sender_boost_count",
    "sender_business_bot",
    "sender_chat",
    "show_caption_above_media",
    "via_bot",
];

// ---- wire types (only the fields we read) ----

#[derive(Deserialize)]
struct Update {
    update_id: i64,
    message: Option<Message>,
    edited_message: Option<Message>,
    callback_query: Option<CallbackQuery>,
}

#[derive(Deserialize)]
struct User {
    id: i64,
    #[serde(default)]
    first_name: String,
    last_name: Option<String>,
    username: Option<String>,
    #[serde(default)]
    language_code: Option<String>,
}

#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum ChatType {
    Private,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Chat {
    id: i64,
    #[serde(rename = "type")]
    kind: ChatType,
    first_name: Option<String>,
    last_name: Option<String>,
    username: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    message_id: i64,
    from: Option<User>,
    chat: Chat,
    date: i64,
    edit_date: Option<i64>,
    text: Option<String>,
    caption: Option<String>,
    photo: Option<Vec<PhotoSize>>,
    animation: Option<FileMeta>,
    document: Option<FileMeta>,
    audio: Option<FileMeta>,
    voice: Option<FileMeta>,
    video: Option<FileMeta>,
    video_note: Option<FileMeta>,
    sticker: Option<Sticker>,
    location: Option<Location>,
    venue: Option<Venue>,
    contact: Option<Contact>,
    poll: Option<Poll>,
    dice: Option<Dice>,
    /// Every field not named above, to name an unsupported kind.
    #[serde(flatten)]
    other: BTreeMap<String, IgnoredAny>,
}

#[derive(Deserialize)]
struct PhotoSize {
    file_id: String,
    width: i64,
    height: i64,
    file_size: Option<i64>,
}

/// Document, Audio, Voice, Video, VideoNote and Animation share these.
#[derive(Deserialize)]
struct FileMeta {
    file_id: String,
    file_name: Option<String>,
    mime_type: Option<String>,
}

#[derive(Deserialize)]
struct Sticker {
    file_id: String,
    emoji: Option<String>,
    #[serde(default)]
    is_animated: bool,
    #[serde(default)]
    is_video: bool,
}

#[derive(Deserialize, Clone, Copy)]
struct Location {
    latitude: f64,
    longitude: f64,
}

#[derive(Deserialize)]
struct Venue {
    location: Location,
    title: String,
    address: String,
}

#[derive(Deserialize)]
struct Contact {
    phone_number: String,
    #[serde(default)]
    first_name: String,
    last_name: Option<String>,
    user_id: Option<i64>,
}

#[derive(Deserialize)]
struct Poll {
    question: String,
    options: Vec<PollOption>,
}

#[derive(Deserialize)]
struct PollOption {
    text: String,
}

#[derive(Deserialize)]
struct Dice {
    emoji: String,
    value: i64,
}

#[derive(Deserialize)]
struct CallbackQuery {
    id: String,
    from: User,
    /// A `MaybeInaccessibleMessage`: an inaccessible one still has `chat`,
    /// `message_id` and `date` (0). Absent for inline-mode messages.
    message: Option<Message>,
    data: Option<String>,
    game_short_name: Option<String>,
}

// ---- outbound ----

/// What an outbound attachment is sent as; each has its own method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Photo,
    Document,
    Audio,
    Video,
    Voice,
}

impl MediaKind {
    /// The kind Telegram shows best for a file type: photos for images it
    /// can recompress, voice notes for OGG/Opus, audio for MP3/M4A, video
    /// for MP4, and a plain document for everything else (including GIFs,
    /// which `sendPhoto` would flatten to a still).
    pub fn for_mime(mime_type: &str) -> MediaKind {
        let mime = mime_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "image/jpeg" | "image/png" | "image/webp" => MediaKind::Photo,
            "audio/ogg" | "audio/opus" => MediaKind::Voice,
            "audio/mpeg" | "audio/mp3" | "audio/mp4" | "audio/m4a" | "audio/x-m4a" => {
                MediaKind::Audio
            }
            "video/mp4" => MediaKind::Video,
            _ => MediaKind::Document,
        }
    }

    fn method(self) -> &'static str {
        match self {
            MediaKind::Photo => "sendPhoto",
            MediaKind::Document => "sendDocument",
            MediaKind::Audio => "sendAudio",
            MediaKind::Video => "sendVideo",
            MediaKind::Voice => "sendVoice",
        }
    }

    /// The body field holding the URL or `file_id`.
    fn field(self) -> &'static str {
        match self {
            MediaKind::Photo => "photo",
            MediaKind::Document => "document",
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Voice => "voice",
        }
    }
}

fn method_url(base: &str, bot_token: &str, method: &str) -> String {
    format!("{}/bot{bot_token}/{method}", base.trim_end_matches('/'))
}

/// Telegram takes `chat_id` as an integer or an `@username` string; ours
/// are numeric, sent as numbers as the API documents them.
fn chat_id_value(chat_id: &str) -> Value {
    chat_id
        .trim()
        .parse::<i64>()
        .map_or_else(|_| Value::from(chat_id), Value::from)
}

/// The body is JSON (the worker sends it as `application/json`); the bot
/// token is part of the URL, so the URL is a secret and must not be logged.
fn request(base: &str, bot_token: &str, method: &str, body: Value) -> SendRequest {
    SendRequest {
        url: method_url(base, bot_token, method),
        headers: Vec::new(),
        body,
    }
}

/// `sendMessage`. Telegram refuses texts over 4096 characters (400), so
/// longer replies must be split by the caller.
pub fn send_text(base: &str, bot_token: &str, chat_id: &str, text: &str) -> SendRequest {
    request(
        base,
        bot_token,
        "sendMessage",
        json!({ "chat_id": chat_id_value(chat_id), "text": text }),
    )
}

/// `sendPhoto` / `sendDocument` / `sendAudio` / `sendVideo` / `sendVoice`
/// with an HTTPS URL Telegram downloads, or a `file_id` it already holds.
/// An empty caption is left out (captions are limited to 1024 characters).
pub fn send_media(
    base: &str,
    bot_token: &str,
    chat_id: &str,
    kind: MediaKind,
    url_or_file_id: &str,
    caption: Option<&str>,
) -> SendRequest {
    let mut body = json!({ "chat_id": chat_id_value(chat_id), kind.field(): url_or_file_id });
    if let (Some(caption), Some(fields)) = (caption.filter(|c| !c.is_empty()), body.as_object_mut())
    {
        fields.insert("caption".to_owned(), Value::from(caption));
    }
    request(base, bot_token, kind.method(), body)
}

/// `sendPhoto` / `sendDocument` / … uploading the file itself as
/// `multipart/form-data` (the Bot API's third way of sending a file,
/// beside a URL and a `file_id`): the file in the method's field, the
/// other parameters as form fields. An empty caption is left out.
#[allow(clippy::too_many_arguments)]
pub fn send_upload(
    base: &str,
    bot_token: &str,
    chat_id: &str,
    kind: MediaKind,
    filename: &str,
    content_type: &str,
    data: Vec<u8>,
    caption: Option<&str>,
) -> crate::provider::MultipartRequest {
    let mut fields = vec![("chat_id".to_owned(), chat_id.trim().to_owned())];
    if let Some(caption) = caption.filter(|c| !c.is_empty()) {
        fields.push(("caption".to_owned(), caption.to_owned()));
    }
    crate::provider::MultipartRequest {
        url: method_url(base, bot_token, kind.method()),
        headers: Vec::new(),
        fields,
        file: crate::provider::Upload {
            field: kind.field().to_owned(),
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
            data,
        },
    }
}

/// Captions of media messages are limited to 1024 characters.
pub const MAX_CAPTION_CHARS: usize = 1024;

/// `answerCallbackQuery`: stops the spinner on the button the customer
/// pressed (see [`ParsedUpdate::callback_query_id`]).
pub fn answer_callback_query(base: &str, bot_token: &str, callback_query_id: &str) -> SendRequest {
    request(
        base,
        bot_token,
        "answerCallbackQuery",
        json!({ "callback_query_id": callback_query_id }),
    )
}

/// The updates the product handles; Telegram keeps the rest to itself.
const ALLOWED_UPDATES: [&str; 3] = ["message", "edited_message", "callback_query"];

/// `setWebhook`: Telegram posts updates to `url`, each carrying
/// `secret_token` in `X-Telegram-Bot-Api-Secret-Token` (1–256 characters
/// of `A-Z a-z 0-9 _ -`; Telegram refuses others with a 400).
pub fn set_webhook(base: &str, bot_token: &str, url: &str, secret_token: &str) -> SendRequest {
    request(
        base,
        bot_token,
        "setWebhook",
        json!({ "url": url, "secret_token": secret_token, "allowed_updates": ALLOWED_UPDATES }),
    )
}

/// What `setWebhook` answered: `Ok` for `{"ok":true,…}`, else Telegram's
/// `description` (e.g. "Bad Request: bad webhook: HTTPS url must be
/// provided for webhook") with the HTTP status.
pub fn parse_set_webhook_response(http_status: u16, body: &[u8]) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Answer {
        ok: bool,
        #[serde(default)]
        description: Option<String>,
    }
    match serde_json::from_slice::<Answer>(body) {
        Ok(a) if a.ok && (200..300).contains(&http_status) => Ok(()),
        Ok(a) => Err(format!(
            "Telegram refused setWebhook ({http_status}): {}",
            a.description.unwrap_or_else(|| "no description".to_owned())
        )),
        Err(_) => Err(format!(
            "Telegram answered setWebhook with HTTP {http_status} and no Bot API answer"
        )),
    }
}

/// `getFile`: the first step of downloading an inbound [`MediaRef`]; its
/// answer gives a `file_path` for [`file_download_url`].
pub fn get_file(base: &str, bot_token: &str, file_id: &str) -> SendRequest {
    request(base, bot_token, "getFile", json!({ "file_id": file_id }))
}

/// Where a file is fetched (GET) once `getFile` gave its path; valid for at
/// least an hour.
pub fn file_download_url(base: &str, bot_token: &str, file_path: &str) -> String {
    format!(
        "{}/file/bot{bot_token}/{}",
        base.trim_end_matches('/'),
        file_path.trim_start_matches('/')
    )
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    result: Option<Value>,
    error_code: Option<i64>,
    description: Option<String>,
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize)]
struct ResponseParameters {
    retry_after: Option<u64>,
}

#[derive(Deserialize)]
struct SentMessage {
    message_id: i64,
    chat: SentChat,
}

#[derive(Deserialize)]
struct SentChat {
    id: i64,
}

/// The `result` of a successful call, or how the failure should be handled.
fn api_result(http_status: u16, body: &[u8]) -> Result<Value, SendOutcome> {
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope {
            ok: true,
            result: Some(result),
            ..
        }) => Ok(result),
        Ok(envelope) => Err(failure(
            envelope.error_code,
            http_status,
            envelope.description,
            envelope.parameters,
        )),
        Err(_) => Err(failure(None, http_status, None, None)),
    }
}

/// Classifies a failed call. `error_code` mirrors the HTTP status; it wins
/// when present because it is Telegram's own word, while a bare status may
/// come from a proxy in front of it.
fn failure(
    error_code: Option<i64>,
    http_status: u16,
    description: Option<String>,
    parameters: Option<ResponseParameters>,
) -> SendOutcome {
    let code = error_code.unwrap_or(i64::from(http_status));
    let reason = description
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| format!("Telegram answered HTTP {code}"));
    let after_secs = parameters
        .and_then(|p| p.retry_after)
        .or_else(|| retry_after_in_description(&reason));
    match code {
        429 | 408 | 500..=599 => SendOutcome::Retry { after_secs, reason },
        // 200 with `ok:true` but no `result` still means the call went
        // through: sending again could duplicate the message.
        200..=299 => SendOutcome::Permanent {
            reason: format!("unexpected answer from Telegram: {reason}"),
        },
        // 400 (chat not found, message too long, group migrated), 401 (bad
        // token), 403 (bot blocked, user deactivated), 404 (bad method).
        _ => SendOutcome::Permanent { reason },
    }
}

/// "Too Many Requests: retry after 35", for answers without `parameters`.
fn retry_after_in_description(description: &str) -> Option<u64> {
    let lower = description.to_ascii_lowercase();
    let (_, rest) = lower.split_once("retry after ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// How a `sendMessage` / `sendPhoto` / … call ended. A sent message's id is
/// `"<chat_id>:<message_id>"` from the returned `Message`, the same shape as
/// inbound ids.
pub fn parse_send_response(http_status: u16, body: &[u8]) -> SendOutcome {
    let result = match api_result(http_status, body) {
        Ok(result) => result,
        Err(outcome) => return outcome,
    };
    match serde_json::from_value::<SentMessage>(result) {
        Ok(sent) => SendOutcome::Sent {
            external_id: format!("{}:{}", sent.chat.id, sent.message_id),
        },
        Err(e) => SendOutcome::Permanent {
            reason: format!("Telegram accepted the message but its answer has no message id: {e}"),
        },
    }
}

/// The `file_path` from a `getFile` answer, or how the failure should be
/// handled (files over 20 MB are refused with a permanent 400).
pub fn parse_get_file_response(http_status: u16, body: &[u8]) -> Result<String, SendOutcome> {
    let result = api_result(http_status, body)?;
    result
        .get("file_path")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| SendOutcome::Permanent {
            reason: "Telegram gave no file_path for this file".to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> ParsedUpdate {
        match parse_update(body.as_bytes()) {
            Ok(parsed) => parsed,
            Err(e) => panic!("payload should parse: {e}"),
        }
    }

    /// The single message event of an update, as its parts.
    fn only_message(
        parsed: &ParsedUpdate,
    ) -> (&str, &Sender, &str, &[MediaRef], i64, Option<&str>) {
        match parsed.events.as_slice() {
            [
                InboundEvent::Message {
                    external_id,
                    from,
                    content,
                    media,
                    sent_at,
                    edit_of,
                },
            ] => (
                external_id,
                from,
                content,
                media,
                *sent_at,
                edit_of.as_deref(),
            ),
            other => panic!("expected one message, got {other:?}"),
        }
    }

    const FROM: &str = r#""from":{"id":1111111,"is_bot":false,"first_name":"Test Firstname","last_name":"Test Lastname","username":"Testusername","language_code":"en"}"#;
    const CHAT: &str = r#""chat":{"id":1111111,"first_name":"Test Firstname","last_name":"Test Lastname","username":"Testusername","type":"private"}"#;

    fn update_with(kind: &str, fields: &str) -> String {
        format!(
            r#"{{"update_id":10000,"{kind}":{{"message_id":1365,{FROM},{CHAT},"date":1441645532,{fields}}}}}"#
        )
    }

    #[test]
    fn the_customers_language_code_is_reported_for_private_chats() {
        let update = update_with("message", r#""text":"hi""#);
        assert_eq!(
            parse(&update).sender_language,
            Some(("1111111".to_owned(), "en".to_owned()))
        );
        let edited = update_with("edited_message", r#""edit_date":1441645600,"text":"hi!""#);
        assert_eq!(
            parse(&edited).sender_language,
            Some(("1111111".to_owned(), "en".to_owned()))
        );
        let odd = update.replace(
            r#""language_code":"en""#,
            r#""language_code":"en\" OR 1=1""#,
        );
        assert_eq!(parse(&odd).sender_language, None, "not a language tag");
        let none = update.replace(r#","language_code":"en""#, "");
        assert_eq!(parse(&none).sender_language, None);
    }

    #[test]
    fn secret_header_is_checked() {
        assert_eq!(
            verify_secret("s3cr3t_T0ken-x", Some("s3cr3t_T0ken-x")),
            Ok(())
        );
        assert_eq!(
            verify_secret("s3cr3t_T0ken-x", Some("s3cr3t_T0ken-y")),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify_secret("s3cr3t_T0ken-x", Some("s3cr3t")),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify_secret("s3cr3t_T0ken-x", Some("")),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify_secret("s3cr3t_T0ken-x", None),
            Err(WebhookError::MissingSignature)
        );
    }

    #[test]
    fn an_inbox_without_a_secret_refuses_everything() {
        assert_eq!(verify_secret("", Some("")), Err(WebhookError::BadSignature));
        assert_eq!(
            verify_secret("", Some("anything")),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(verify_secret("", None), Err(WebhookError::MissingSignature));
    }

    #[test]
    fn text_message() {
        let parsed = parse(&update_with(
            "message",
            r#""text":"/start","entities":[{"offset":0,"length":6,"type":"bot_command"}]"#,
        ));
        assert_eq!(parsed.update_id, 10000);
        let (id, from, content, media, sent_at, edit_of) = only_message(&parsed);
        assert_eq!(id, "1111111:1365");
        assert_eq!(
            from,
            &Sender {
                external_id: "1111111".into(),
                name: Some("Test Firstname Test Lastname".into()),
                phone: None
            }
        );
        assert_eq!(content, "/start");
        assert!(media.is_empty());
        assert_eq!(sent_at, 1441645532);
        assert_eq!(edit_of, None);
        assert_eq!(parsed.callback_query_id(), None);
    }

    #[test]
    fn sender_name_falls_back_to_username_then_chat() {
        let body = r#"{"update_id":7,"message":{"message_id":2,"from":{"id":42,"is_bot":false,"first_name":"","username":"nick"},"chat":{"id":42,"type":"private"},"date":1,"text":"hi"}}"#;
        assert_eq!(only_message(&parse(body)).1.name.as_deref(), Some("nick"));
        let body = r#"{"update_id":7,"message":{"message_id":2,"chat":{"id":42,"type":"private","first_name":"Ann"},"date":1,"text":"hi"}}"#;
        let parsed = parse(body);
        let (_, from, ..) = only_message(&parsed);
        assert_eq!(
            (from.external_id.as_str(), from.name.as_deref()),
            ("42", Some("Ann"))
        );
    }

    #[test]
    fn photo_takes_the_largest_size() {
        let parsed = parse(&update_with(
            "message",
            r#""photo":[{"file_id":"AgAD-small","file_unique_id":"a","file_size":1162,"width":90,"height":67},{"file_id":"AgAD-large","file_unique_id":"c","file_size":85000,"width":1280,"height":960},{"file_id":"AgAD-medium","file_unique_id":"b","file_size":15000,"width":320,"height":240}],"caption":"my receipt""#,
        ));
        let (_, _, content, media, ..) = only_message(&parsed);
        assert_eq!(content, "my receipt");
        assert_eq!(
            media,
            [MediaRef {
                id: "AgAD-large".into(),
                mime_type: Some("image/jpeg".into()),
                filename: None,
                caption: Some("my receipt".into())
            }]
        );
    }

    #[test]
    fn document_keeps_name_and_type() {
        let parsed = parse(&update_with(
            "message",
            r#""document":{"file_name":"invoice.pdf","mime_type":"application/pdf","file_id":"BQAD-doc","file_unique_id":"u","file_size":24802}"#,
        ));
        let (_, _, content, media, ..) = only_message(&parsed);
        assert_eq!(content, "");
        assert_eq!(
            media,
            [MediaRef {
                id: "BQAD-doc".into(),
                mime_type: Some("application/pdf".into()),
                filename: Some("invoice.pdf".into()),
                caption: None
            }]
        );
    }

    #[test]
    fn voice_audio_video_and_video_note() {
        let voice = parse(&update_with(
            "message",
            r#""voice":{"duration":3,"mime_type":"audio/ogg","file_id":"AwAD-voice","file_unique_id":"v","file_size":9000}"#,
        ));
        let (_, _, _, media, ..) = only_message(&voice);
        assert_eq!(
            (media[0].id.as_str(), media[0].mime_type.as_deref()),
            ("AwAD-voice", Some("audio/ogg"))
        );

        let audio = parse(&update_with(
            "message",
            r#""audio":{"duration":200,"performer":"Band","title":"Song","file_name":"song.mp3","mime_type":"audio/mpeg","file_id":"CQAD-audio","file_unique_id":"x"},"caption":"listen""#,
        ));
        let (_, _, content, media, ..) = only_message(&audio);
        assert_eq!(content, "listen");
        assert_eq!(media[0].filename.as_deref(), Some("song.mp3"));
        assert_eq!(media[0].mime_type.as_deref(), Some("audio/mpeg"));

        let video = parse(&update_with(
            "message",
            r#""video":{"duration":5,"width":640,"height":360,"mime_type":"video/mp4","file_id":"BAAD-video","file_unique_id":"y"}"#,
        ));
        assert_eq!(only_message(&video).3[0].id, "BAAD-video");

        let note = parse(&update_with(
            "message",
            r#""video_note":{"duration":4,"length":240,"file_id":"DQAD-note","file_unique_id":"z"}"#,
        ));
        let (_, _, _, media, ..) = only_message(&note);
        assert_eq!(
            (media[0].id.as_str(), media[0].mime_type.as_deref()),
            ("DQAD-note", Some("video/mp4"))
        );
    }

    #[test]
    fn animation_wins_over_its_document_copy() {
        let parsed = parse(&update_with(
            "message",
            r#""animation":{"file_name":"cat.mp4","mime_type":"video/mp4","duration":2,"width":320,"height":240,"file_id":"CgAD-anim","file_unique_id":"a"},"document":{"file_name":"cat.mp4","mime_type":"video/mp4","file_id":"CgAD-anim","file_unique_id":"a"}"#,
        ));
        let (_, _, _, media, ..) = only_message(&parsed);
        assert_eq!(media.len(), 1);
        assert_eq!(media[0].id, "CgAD-anim");
    }

    #[test]
    fn sticker_is_readable() {
        let parsed = parse(&update_with(
            "message",
            r#""sticker":{"width":512,"height":512,"emoji":"😀","set_name":"Animals","is_animated":false,"is_video":false,"type":"regular","file_id":"CAAD-sticker","file_unique_id":"s","file_size":20000}"#,
        ));
        let (_, _, content, media, ..) = only_message(&parsed);
        assert_eq!(content, "[sticker 😀]");
        assert_eq!(
            (media[0].id.as_str(), media[0].mime_type.as_deref()),
            ("CAAD-sticker", Some("image/webp"))
        );
    }

    #[test]
    fn location_and_venue_are_readable() {
        let parsed = parse(&update_with(
            "message",
            r#""location":{"latitude":48.858370,"longitude":2.294481}"#,
        ));
        assert_eq!(only_message(&parsed).2, "Location: 48.85837, 2.294481");

        let parsed = parse(&update_with(
            "message",
            r#""location":{"latitude":48.85837,"longitude":2.294481},"venue":{"location":{"latitude":48.85837,"longitude":2.294481},"title":"Eiffel Tower","address":"Champ de Mars, Paris"}"#,
        ));
        assert_eq!(
            only_message(&parsed).2,
            "Location: Eiffel Tower, Champ de Mars, Paris (48.85837, 2.294481)"
        );
    }

    #[test]
    fn own_contact_gives_the_senders_phone() {
        let parsed = parse(&update_with(
            "message",
            r#""contact":{"phone_number":"79001234567","first_name":"Test Firstname","last_name":"Test Lastname","user_id":1111111}"#,
        ));
        let (_, from, content, ..) = only_message(&parsed);
        assert_eq!(
            content,
            "Contact: Test Firstname Test Lastname, 79001234567"
        );
        assert_eq!(from.phone.as_deref(), Some("+79001234567"));
    }

    #[test]
    fn someone_elses_contact_is_only_text() {
        let parsed = parse(&update_with(
            "message",
            r#""contact":{"phone_number":"+1 555 0100","first_name":"Jane","user_id":2222}"#,
        ));
        let (_, from, content, ..) = only_message(&parsed);
        assert_eq!(content, "Contact: Jane, +1 555 0100");
        assert_eq!(from.phone, None);
        let parsed = parse(&update_with(
            "message",
            r#""contact":{"phone_number":"+15550100","first_name":"Bob"}"#,
        ));
        assert_eq!(only_message(&parsed).1.phone, None);
    }

    #[test]
    fn poll_and_dice_are_readable() {
        let parsed = parse(&update_with(
            "message",
            r#""poll":{"id":"5","question":"Colour?","options":[{"text":"Red","voter_count":0},{"text":"Blue","voter_count":0}],"total_voter_count":0,"is_closed":false,"is_anonymous":true,"type":"regular","allows_multiple_answers":false}"#,
        ));
        assert_eq!(only_message(&parsed).2, "Poll: Colour? [Red / Blue]");
        let parsed = parse(&update_with(
            "message",
            r#""dice":{"emoji":"🎲","value":4}"#,
        ));
        assert_eq!(only_message(&parsed).2, "Dice: 🎲 4");
    }

    #[test]
    fn unknown_kind_is_kept_visible() {
        let parsed = parse(&update_with(
            "message",
            r#""reply_to_message":{"message_id":1},"game":{"title":"Lumberjack","description":"Chop","photo":[]}"#,
        ));
        let (id, _, content, media, ..) = only_message(&parsed);
        assert_eq!(id, "1111111:1365");
        assert_eq!(content, "[unsupported message: game]");
        assert!(media.is_empty());

        let parsed = parse(&update_with("message", r#""forward_date":1"#));
        assert_eq!(only_message(&parsed).2, "[unsupported message: unknown]");
    }

    #[test]
    fn edited_message_points_at_the_original() {
        let parsed = parse(&update_with(
            "edited_message",
            r#""edit_date":1441645600,"text":"/start now""#,
        ));
        let (id, from, content, _, sent_at, edit_of) = only_message(&parsed);
        assert_eq!(id, "1111111:1365:edit:10000");
        assert_eq!(edit_of, Some("1111111:1365"));
        assert_eq!(content, "/start now");
        assert_eq!(sent_at, 1441645600);
        assert_eq!(from.external_id, "1111111");
        // Redelivery of the same update gives the same id (dedup), a later
        // edit a new one.
        assert_eq!(
            parse(&update_with(
                "edited_message",
                r#""edit_date":1441645600,"text":"/start now""#
            )),
            parsed
        );
        let later = update_with("edited_message", r#""edit_date":1441645600,"text":"again""#)
            .replacen("10000", "10001", 1);
        assert_eq!(only_message(&parse(&later)).0, "1111111:1365:edit:10001");
    }

    #[test]
    fn callback_query_becomes_the_button_data() {
        let body = format!(
            r#"{{"update_id":10002,"callback_query":{{"id":"4382bfdwdsb323b2d9",{FROM},"message":{{"message_id":1366,"from":{{"id":999,"is_bot":true,"first_name":"Shop bot","username":"shop_bot"}},{CHAT},"date":1441645540,"text":"Pick one","reply_markup":{{"inline_keyboard":[[{{"text":"Billing","callback_data":"team:billing"}}]]}}}},"chat_instance":"-4213","data":"team:billing"}}}}"#
        );
        let parsed = parse(&body);
        let (id, from, content, media, sent_at, edit_of) = only_message(&parsed);
        assert_eq!(id, "callback:4382bfdwdsb323b2d9");
        assert_eq!(from.external_id, "1111111");
        assert_eq!(from.name.as_deref(), Some("Test Firstname Test Lastname"));
        assert_eq!(content, "team:billing");
        assert!(media.is_empty());
        assert_eq!(sent_at, 1441645540);
        assert_eq!(edit_of, None);
        assert_eq!(parsed.callback_query_id(), Some("4382bfdwdsb323b2d9"));
    }

    #[test]
    fn callback_without_chat_or_in_a_group_is_skipped() {
        let inline = format!(
            r#"{{"update_id":10003,"callback_query":{{"id":"77",{FROM},"inline_message_id":"AAAA","chat_instance":"1","data":"x"}}}}"#
        );
        assert!(parse(&inline).events.is_empty());
        let group = format!(
            r#"{{"update_id":10004,"callback_query":{{"id":"78",{FROM},"message":{{"message_id":5,"chat":{{"id":-100123,"title":"Team","type":"supergroup"}},"date":0}},"chat_instance":"1","data":"x"}}}}"#
        );
        assert!(parse(&group).events.is_empty());
    }

    #[test]
    fn channel_posts_groups_and_membership_are_acknowledged_without_events() {
        let channel = r#"{"update_id":20000,"channel_post":{"message_id":10,"sender_chat":{"id":-1001234567890,"title":"News","type":"channel"},"chat":{"id":-1001234567890,"title":"News","type":"channel"},"date":1441645532,"text":"hello"}}"#;
        assert_eq!(
            parse(channel),
            ParsedUpdate {
                update_id: 20000,
                events: Vec::new(),
                sender_language: None,
            }
        );

        let member = format!(
            r#"{{"update_id":20001,"my_chat_member":{{{CHAT},{FROM},"date":1441645532,"old_chat_member":{{"status":"member","user":{{"id":999,"is_bot":true,"first_name":"Shop bot"}}}},"new_chat_member":{{"status":"kicked","until_date":0,"user":{{"id":999,"is_bot":true,"first_name":"Shop bot"}}}}}}}}"#
        );
        assert!(parse(&member).events.is_empty());

        let group = format!(
            r#"{{"update_id":20002,"message":{{"message_id":3,{FROM},"chat":{{"id":-4001,"title":"Friends","type":"group"}},"date":1,"text":"hi all"}}}}"#
        );
        assert!(parse(&group).events.is_empty());
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for body in [
            &b"not json"[..],
            b"",
            b"[]",
            br#"{"message":{"message_id":1}}"#,
            br#"{"update_id":"ten"}"#,
            br#"{"update_id":1,"message":{"message_id":1,"date":1}}"#,
            br#"{"update_id":1,"message":{"message_id":1,"chat":{"id":1,"type":"private"},"date":1,"photo":{}}}"#,
        ] {
            assert!(matches!(parse_update(body), Err(WebhookError::Malformed(_))), "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn send_text_request() {
        let req = send_text("http://127.0.0.1:9000/", "123:ABC", "1111111", "Hello");
        assert_eq!(req.url, "http://127.0.0.1:9000/bot123:ABC/sendMessage");
        assert!(req.headers.is_empty());
        assert_eq!(req.body, json!({"chat_id": 1111111, "text": "Hello"}));
        let req = send_text(DEFAULT_API_BASE, "123:ABC", "@channel", "Hi");
        assert_eq!(req.url, "https://api.telegram.org/bot123:ABC/sendMessage");
        assert_eq!(req.body, json!({"chat_id": "@channel", "text": "Hi"}));
    }

    #[test]
    fn send_media_requests() {
        let req = send_media(
            DEFAULT_API_BASE,
            "t",
            "42",
            MediaKind::Photo,
            "https://x.test/a.jpg",
            Some("look"),
        );
        assert_eq!(req.url, "https://api.telegram.org/bott/sendPhoto");
        assert_eq!(
            req.body,
            json!({"chat_id": 42, "photo": "https://x.test/a.jpg", "caption": "look"})
        );
        let req = send_media(
            DEFAULT_API_BASE,
            "t",
            "42",
            MediaKind::Document,
            "BQAD-doc",
            None,
        );
        assert_eq!(req.url, "https://api.telegram.org/bott/sendDocument");
        assert_eq!(req.body, json!({"chat_id": 42, "document": "BQAD-doc"}));
        let req = send_media(DEFAULT_API_BASE, "t", "42", MediaKind::Audio, "u", Some(""));
        assert_eq!(
            (req.url.ends_with("/sendAudio"), req.body),
            (true, json!({"chat_id": 42, "audio": "u"}))
        );
        let req = send_media(DEFAULT_API_BASE, "t", "42", MediaKind::Video, "v", None);
        assert!(req.url.ends_with("/sendVideo"));
        assert_eq!(req.body["video"], "v");
        let req = send_media(DEFAULT_API_BASE, "t", "42", MediaKind::Voice, "o", None);
        assert!(req.url.ends_with("/sendVoice"));
        assert_eq!(req.body["voice"], "o");
    }

    #[test]
    fn media_kind_for_mime() {
        assert_eq!(MediaKind::for_mime("image/jpeg"), MediaKind::Photo);
        assert_eq!(MediaKind::for_mime("IMAGE/PNG"), MediaKind::Photo);
        assert_eq!(MediaKind::for_mime("image/gif"), MediaKind::Document);
        assert_eq!(
            MediaKind::for_mime("audio/ogg; codecs=opus"),
            MediaKind::Voice
        );
        assert_eq!(MediaKind::for_mime("audio/mpeg"), MediaKind::Audio);
        assert_eq!(MediaKind::for_mime("video/mp4"), MediaKind::Video);
        assert_eq!(MediaKind::for_mime("application/pdf"), MediaKind::Document);
    }

    #[test]
    fn callback_answer_and_file_download() {
        let req = answer_callback_query(DEFAULT_API_BASE, "t", "4382bfdwdsb323b2d9");
        assert_eq!(req.url, "https://api.telegram.org/bott/answerCallbackQuery");
        assert_eq!(req.body, json!({"callback_query_id": "4382bfdwdsb323b2d9"}));
        let req = get_file("http://emu/", "t", "AgAD-large");
        assert_eq!(
            (req.url.as_str(), req.body),
            ("http://emu/bott/getFile", json!({"file_id": "AgAD-large"}))
        );
        let ok = br#"{"ok":true,"result":{"file_id":"AgAD-large","file_unique_id":"c","file_size":85000,"file_path":"photos/file_0.jpg"}}"#;
        assert_eq!(
            parse_get_file_response(200, ok),
            Ok("photos/file_0.jpg".to_owned())
        );
        assert_eq!(
            file_download_url("http://emu/", "t", "photos/file_0.jpg"),
            "http://emu/file/bott/photos/file_0.jpg"
        );
        let too_big =
            br#"{"ok":false,"error_code":400,"description":"Bad Request: file is too big"}"#;
        assert_eq!(
            parse_get_file_response(400, too_big),
            Err(SendOutcome::Permanent {
                reason: "Bad Request: file is too big".into()
            })
        );
        assert!(matches!(
            parse_get_file_response(502, b"Bad Gateway"),
            Err(SendOutcome::Retry { .. })
        ));
    }

    #[test]
    fn sent_message_id_includes_the_chat() {
        let body = br#"{"ok":true,"result":{"message_id":1367,"from":{"id":999,"is_bot":true,"first_name":"Shop bot","username":"shop_bot"},"chat":{"id":1111111,"first_name":"Test Firstname","type":"private"},"date":1441645600,"text":"Hello"}}"#;
        assert_eq!(
            parse_send_response(200, body),
            SendOutcome::Sent {
                external_id: "1111111:1367".into()
            }
        );
    }

    #[test]
    fn rate_limit_retries_after_the_given_delay() {
        let body = br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 35","parameters":{"retry_after":35}}"#;
        assert_eq!(
            parse_send_response(429, body),
            SendOutcome::Retry {
                after_secs: Some(35),
                reason: "Too Many Requests: retry after 35".into()
            }
        );
        // Without `parameters`, the delay is read from the description.
        let body =
            br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7"}"#;
        assert!(matches!(
            parse_send_response(429, body),
            SendOutcome::Retry {
                after_secs: Some(7),
                ..
            }
        ));
        assert!(matches!(
            parse_send_response(429, b""),
            SendOutcome::Retry {
                after_secs: None,
                ..
            }
        ));
    }

    #[test]
    fn server_errors_retry() {
        let body = br#"{"ok":false,"error_code":500,"description":"Internal Server Error"}"#;
        assert_eq!(
            parse_send_response(500, body),
            SendOutcome::Retry {
                after_secs: None,
                reason: "Internal Server Error".into()
            }
        );
        let body = br#"{"ok":false,"error_code":502,"description":"Bad Gateway"}"#;
        assert!(matches!(
            parse_send_response(502, body),
            SendOutcome::Retry { .. }
        ));
        // A proxy's HTML error page.
        assert_eq!(
            parse_send_response(503, b"<html>Service Unavailable</html>"),
            SendOutcome::Retry {
                after_secs: None,
                reason: "Telegram answered HTTP 503".into()
            }
        );
    }

    #[test]
    fn blocked_missing_chat_and_bad_token_are_permanent() {
        let blocked = br#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#;
        assert_eq!(
            parse_send_response(403, blocked),
            SendOutcome::Permanent {
                reason: "Forbidden: bot was blocked by the user".into()
            }
        );
        let not_found =
            br#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#;
        assert_eq!(
            parse_send_response(400, not_found),
            SendOutcome::Permanent {
                reason: "Bad Request: chat not found".into()
            }
        );
        let unauthorized = br#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#;
        assert_eq!(
            parse_send_response(401, unauthorized),
            SendOutcome::Permanent {
                reason: "Unauthorized".into()
            }
        );
        let migrated = br#"{"ok":false,"error_code":400,"description":"Bad Request: group chat was migrated to a supergroup chat","parameters":{"migrate_to_chat_id":-123456789}}"#;
        assert!(matches!(
            parse_send_response(400, migrated),
            SendOutcome::Permanent { .. }
        ));
        assert_eq!(
            parse_send_response(404, b""),
            SendOutcome::Permanent {
                reason: "Telegram answered HTTP 404".into()
            }
        );
    }

    #[test]
    fn error_code_in_the_body_wins_over_the_status() {
        let body = br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}"#;
        assert!(matches!(
            parse_send_response(200, body),
            SendOutcome::Retry {
                after_secs: Some(3),
                ..
            }
        ));
    }

    #[test]
    fn odd_success_answers_are_not_sent_again() {
        // The message may well have gone out: never retry (no duplicates).
        for body in [
            &br#"{"ok":true,"result":true}"#[..],
            br#"{"ok":true}"#,
            b"<html>ok</html>",
        ] {
            assert!(
                matches!(
                    parse_send_response(200, body),
                    SendOutcome::Permanent { .. }
                ),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
