//! Inputs and outputs of store operations that are not domain entities.

use switchboard_core::events::Event;
use switchboard_core::*;

/// The result of a write plus the events it committed; the caller publishes
/// `events` to the bus once the write is acknowledged.
#[derive(Debug, Clone)]
pub struct Written<T> {
    pub value: T,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

#[derive(Debug, Clone, Default)]
pub struct MemberPatch {
    pub role: Option<Role>,
    pub name: Option<String>,
}

/// A member's settings in one team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeamMemberSettings {
    pub capacity: i64,
    /// None keeps the stored value (0 for a new member).
    pub priority: Option<i32>,
    /// None keeps the stored value (1 for a new member).
    pub weight: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct NewInbox {
    pub name: String,
    pub channel: Channel,
    pub config: serde_json::Map<String, serde_json::Value>,
    pub website_token: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct InboxPatch {
    pub name: Option<String>,
    /// Keys to set; a `null` value removes the key. Keys not named keep
    /// their value, so write-only secrets survive an edit of other fields.
    pub config: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Contact card fields. On create, `None` leaves a field empty; on update,
/// `None` keeps it, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ContactFields {
    pub name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub identifier: Option<String>,
    /// Merged into the existing fields; a `null` value removes the key.
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Keyset pagination: `after` is the opaque position returned as
/// `next_cursor` by the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub after: Option<Cursor>,
    pub limit: i64,
}

impl Page {
    pub fn first(limit: i64) -> Self {
        Page { after: None, limit }
    }
}

/// A position in a list ordered by (`key` desc, `id` desc) — or ascending
/// for message history, where `key` is unused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub key: i64,
    pub id: i64,
}

impl Cursor {
    pub fn encode(self) -> String {
        format!("{}.{}", self.key, self.id)
    }
    pub fn decode(s: &str) -> Option<Cursor> {
        let (k, i) = s.split_once('.')?;
        Some(Cursor { key: k.parse().ok()?, id: i.parse().ok()? })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssigneeFilter {
    #[default]
    Any,
    Unassigned,
    User(UserId),
}

#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    pub assignee: AssigneeFilter,
    pub team: Option<TeamId>,
    pub inbox: Option<InboxId>,
    pub channel: Option<Channel>,
    pub tag: Option<String>,
    pub contact: Option<ContactId>,
    /// Case-insensitive substring of the contact's name, email or phone.
    pub search: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Claim {
    /// This call assigned it.
    Claimed(Written<Conversation>),
    /// It was already assigned to the caller; nothing changed.
    AlreadyYours(Conversation),
    /// Someone else holds it.
    Taken { assignee: UserId },
}

#[derive(Debug, Clone, Default)]
pub struct ConversationPatch {
    pub status: Option<ConversationStatus>,
    pub priority: Option<Priority>,
    pub assignee: Option<Option<UserId>>,
    pub team: Option<Option<TeamId>>,
    pub snoozed_until: Option<Option<Timestamp>>,
}

/// A customer's message as an adapter parsed it.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    pub inbox_id: InboxId,
    pub contact_id: ContactId,
    pub content: String,
    pub echo_id: Option<String>,
    /// Unique per workspace; a second message with the same key is the
    /// same message (webhook redelivery, widget resend).
    pub dedup_key: Option<String>,
    /// Files the visitor uploaded for this message.
    pub attachment_ids: Vec<AttachmentId>,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub message: Message,
    pub conversation: Conversation,
    /// False when `dedup_key` matched an earlier message: nothing was written.
    pub created: bool,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone)]
pub struct OutboundMessage {
    pub kind: MessageKind,
    pub content: String,
    pub sender: Sender,
    pub echo_id: Option<String>,
    pub status: DeliveryStatus,
    /// Files uploaded to this conversation, sent with the message.
    pub attachment_ids: Vec<AttachmentId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadOwner {
    /// An agent uploads into a conversation they reply to.
    Agent { conversation: ConversationId, user: UserId },
    /// A widget visitor uploads into their own thread.
    Visitor { contact: ContactId },
}

#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub owner: UploadOwner,
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
    /// Random, unguessable: part of the download URL.
    pub access_key: String,
}

#[derive(Debug, Clone)]
pub struct StoredFile {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// One run of an automation rule, as the runner logs it.
#[derive(Debug, Clone)]
pub struct NewRuleRun {
    pub rule_id: RuleId,
    pub rule_name: String,
    pub conversation_id: Option<ConversationId>,
    pub trigger: switchboard_core::automation::Trigger,
    pub outcome: switchboard_core::automation::RunOutcome,
    pub detail: String,
}

/// An automatic reply sent at most once per conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoReply {
    /// Outside business hours (the away message).
    Away,
    /// On a new conversation inside business hours.
    Greeting,
}

impl AutoReply {
    pub fn as_str(self) -> &'static str {
        match self {
            AutoReply::Away => "away",
            AutoReply::Greeting => "greeting",
        }
    }
}

/// An open conversation as the router needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenWork {
    pub conversation_id: ConversationId,
    pub inbox_id: InboxId,
    pub contact_id: ContactId,
    pub channel: Channel,
    pub team_id: Option<TeamId>,
    pub assignee_id: Option<UserId>,
    pub priority: Priority,
    pub status: ConversationStatus,
    /// Since when the customer waits (creation if not waiting).
    pub waiting_since: Timestamp,
    pub skills: Vec<switchboard_core::routing::SkillRequirement>,
}

/// Who wrote, as a provider names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderIdentity {
    /// wa_id, Telegram chat id, PSID… (unique per inbox).
    pub external_id: String,
    pub name: Option<String>,
    /// E.164, when the provider tells it: links to a card with that phone.
    pub phone: Option<String>,
}

/// A send the outbox worker is to make.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    pub inbox_id: InboxId,
    /// Failed tries so far.
    pub attempts: i64,
    pub content: String,
    /// A WhatsApp template to send instead of `content` (JSON of
    /// `core::messaging_window::WhatsappTemplate`).
    pub template: Option<String>,
    /// The contact's id at this inbox's provider (None: nobody to send to).
    pub recipient: Option<String>,
    /// When the customer last wrote (messaging windows).
    pub last_inbound_at: Option<Timestamp>,
    /// Set when an earlier claim of this row never stored its outcome (the
    /// process died mid-send and the lease ran out): that attempt may have
    /// reached the provider.
    pub attempt_started_at: Option<Timestamp>,
    /// Since when the row has been in doubt (a crash mid-send or a send
    /// whose answer never came), if it ever was.
    pub in_doubt_at: Option<Timestamp>,
}

/// What an email reply in a conversation threads on.
#[derive(Debug, Clone, Default)]
pub struct EmailThread {
    /// The first inbound mail's subject.
    pub first_subject: Option<String>,
    /// The latest inbound mail's Message-ID.
    pub latest_inbound_id: Option<String>,
}

/// A mail's Message-ID (no angle brackets) recorded for threading.
#[derive(Debug, Clone)]
pub struct EmailRecord {
    pub message_id: String,
    pub conversation_id: ConversationId,
    /// The message row the mail is (ours or the customer's).
    pub message_row_id: i64,
    /// "in" or "out".
    pub direction: &'static str,
    pub subject: Option<String>,
}
