//! What every messaging provider adapter (WhatsApp, Telegram, …) turns its
//! wire format into, and what it answers about a send. Pure data: the
//! server stores inbound events and the outbox worker performs the HTTP
//! calls these adapters describe.

use switchboard_core::DeliveryStatus;
use thiserror::Error;

/// Why a webhook is refused. Every variant is the sender's fault: the
/// server answers 401/403/400 and stores nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WebhookError {
    #[error("signature header missing")]
    MissingSignature,
    #[error("signature does not match")]
    BadSignature,
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// GET verification with a wrong mode or token.
    #[error("verification refused")]
    VerificationRefused,
}

/// A file the provider holds; fetched into the attachment store later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    /// Provider's media id (WhatsApp media id, Telegram file_id) or URL.
    pub id: String,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
    pub caption: Option<String>,
}

/// The customer side of a provider conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// Stable id at the provider (wa_id, Telegram chat/user id, PSID…):
    /// with the inbox, it identifies the contact.
    pub external_id: String,
    pub name: Option<String>,
    /// E.164 phone if the provider tells it (WhatsApp wa_id is one).
    pub phone: Option<String>,
}

/// One thing a webhook told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundEvent {
    /// A customer message. `content` is the text shown to agents: the text,
    /// a caption, or a readable line for locations, contacts, stickers and
    /// unsupported types ("[unsupported message: reaction]") — never dropped.
    Message {
        /// Provider's message id; the dedup key is (inbox, this).
        external_id: String,
        from: Sender,
        content: String,
        media: Vec<MediaRef>,
        /// Unix seconds as the provider stamped it.
        sent_at: i64,
        /// An edit of an earlier message (Telegram `edited_message`).
        edit_of: Option<String>,
    },
    /// A message the business sent (echo): from the provider's own app —
    /// stored as an outbound message, not sent again — or our own send,
    /// which the store recognises by the provider's id, by
    /// `idempotency_key` (the key the outbox put on the send, when the
    /// provider echoes it: Messenger `metadata`), or as the send in flight
    /// to the same person with the same text, and never stores twice.
    Echo { external_id: String, to: Sender, content: String, sent_at: i64, idempotency_key: Option<String> },
    /// Delivery progress of a message we sent, by the provider's id.
    Status { external_id: String, status: DeliveryStatus, error: Option<String>, at: i64 },
    /// Every message we sent to `peer` up to `up_to_ms` (Unix ms, the
    /// provider's clock) reached `status`: Messenger's delivery and read
    /// watermarks, which name no message. The store advances that
    /// contact's sent messages whose send was recorded by then.
    ReadUpTo { peer: String, up_to_ms: i64, status: DeliveryStatus },
    /// Viber subscribed / unsubscribed, and similar lifecycle news.
    Subscription { external_id: String, subscribed: bool },
}

/// How a send API call ended, as the provider said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted; the provider's id for status updates.
    Sent { external_id: String },
    /// Try again later (429, 5xx, rate-limit error codes, timeouts);
    /// `after_secs` from Retry-After / retry_after when given.
    Retry { after_secs: Option<u64>, reason: String },
    /// Will never succeed as is (outside the messaging window, blocked,
    /// bad token): the message is marked failed with this reason.
    Permanent { reason: String },
}

/// An HTTP request an adapter wants made (the worker adds timeouts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub url: String,
    /// (name, value) pairs, e.g. Authorization.
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

/// Prefix of the idempotency key the outbox puts on a send where the
/// provider echoes it back (WhatsApp `biz_opaque_callback_data` on status
/// webhooks, Messenger `metadata` on echoes).
const IDEMPOTENCY_PREFIX: &str = "switchboard-outbox:";

/// The idempotency key of the outbound message `message_id`.
pub fn idempotency_key(message_id: i64) -> String {
    format!("{IDEMPOTENCY_PREFIX}{message_id}")
}

/// The message id an echoed key names; `None` for anything else (another
/// app on the same number may put its own data there).
pub fn parse_idempotency_key(key: &str) -> Option<i64> {
    let digits = key.strip_prefix(IDEMPOTENCY_PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n: &i64| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_round_trip_and_foreign_data_is_not_one() {
        assert_eq!(parse_idempotency_key(&idempotency_key(42)), Some(42));
        for other in ["42", "switchboard-outbox:", "switchboard-outbox:-1", "switchboard-outbox:+7", "switchboard-outbox:0", "switchboard-outbox:1x", "outbox-42"] {
            assert_eq!(parse_idempotency_key(other), None, "{other}");
        }
    }
}

/// A file sent as the body of a `multipart/form-data` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The form field the API reads the file from (Telegram: `photo`,
    /// `document`, …).
    pub field: String,
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// An HTTP request whose body is `multipart/form-data`: text fields, then
/// the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartRequest {
    pub url: String,
    /// (name, value) pairs, e.g. Authorization (not Content-Type).
    pub headers: Vec<(String, String)>,
    pub fields: Vec<(String, String)>,
    pub file: Upload,
}

/// A quoted-string parameter of `Content-Disposition`: quotes, backslashes
/// and line breaks cannot break out of it.
fn disposition_value(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '"' || c == '\\' { '_' } else { c })
        .collect()
}

impl MultipartRequest {
    /// The `Content-Type` header and the body (RFC 7578), with a boundary
    /// that occurs nowhere in the content.
    pub fn encode(&self) -> (String, Vec<u8>) {
        let mut n: u64 = 0;
        let boundary = loop {
            let b = format!("switchboard-{:016x}-{n}", self.file.data.len() as u64 ^ 0x5bd1_e995_u64.wrapping_mul(n + 1));
            let needle = b.as_bytes();
            let clash = self.file.data.windows(needle.len()).any(|w| w == needle)
                || self.fields.iter().any(|(k, v)| k.contains(&b) || v.contains(&b));
            if !clash {
                break b;
            }
            n += 1;
        };
        let mut body = Vec::with_capacity(self.file.data.len() + 512);
        for (name, value) in &self.fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n", disposition_value(name)).as_bytes(),
            );
            body.extend_from_slice(value.as_bytes());
            body.extend_from_slice(b"\r\n");
        }
        let content_type: String = self.file.content_type.chars().filter(|c| !c.is_control()).collect();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {content_type}\r\n\r\n",
                disposition_value(&self.file.field),
                disposition_value(&self.file.filename),
            )
            .as_bytes(),
        );
        body.extend_from_slice(&self.file.data);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={boundary}"), body)
    }
}

#[cfg(test)]
mod multipart_tests {
    use super::*;

    #[test]
    fn multipart_body_holds_fields_and_file() {
        let req = MultipartRequest {
            url: "http://x".into(),
            headers: vec![],
            fields: vec![("chat_id".into(), "42".into()), ("caption".into(), "hi".into())],
            file: Upload { field: "photo".into(), filename: "a\"b\r\n.png".into(), content_type: "image/png".into(), data: b"\x00\xffbytes".to_vec() },
        };
        let (content_type, body) = req.encode();
        let boundary = content_type.strip_prefix("multipart/form-data; boundary=").expect("boundary");
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n42\r\n")), "{text}");
        assert!(text.contains("name=\"photo\"; filename=\"a_b.png\"\r\nContent-Type: image/png\r\n\r\n"), "{text}");
        assert!(body.windows(7).any(|w| w == b"\x00\xffbytes"));
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));
    }
}
