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
