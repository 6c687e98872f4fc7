//! Domain entities and their closed sets of states. Every state is an enum
//! with a stable lowercase wire/database name.

use crate::ids::*;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Declares a string-backed enum: serde and the database both use `as_str`.
macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),* }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// A user's role within one workspace. Ordered: admin ⊃ supervisor ⊃ agent.
    Role { Agent => "agent", Supervisor => "supervisor", Admin => "admin" }
);

impl Role {
    fn rank(self) -> u8 {
        match self {
            Role::Agent => 0,
            Role::Supervisor => 1,
            Role::Admin => 2,
        }
    }
    /// Whether this role grants at least what `required` grants.
    pub fn at_least(self, required: Role) -> bool {
        self.rank() >= required.rank()
    }
}

string_enum!(
    /// An agent's availability: the four they set themselves, and the two
    /// the phone system sets while they talk (`in_call`) and for the
    /// after-call work that follows (`wrap_up`); it then puts back what
    /// they had before.
    Presence {
        Online => "online", Away => "away", Dnd => "dnd", Offline => "offline",
        InCall => "in_call", WrapUp => "wrap_up",
    }
);

impl Presence {
    /// Set by the phone system only, never through `PUT presence`.
    pub fn is_set_by_voice(self) -> bool {
        matches!(self, Presence::InCall | Presence::WrapUp)
    }

    /// At work: online, or busy with a call (counts as staffed in the
    /// live numbers even though no new work is offered).
    pub fn is_staffed(self) -> bool {
        matches!(self, Presence::Online | Presence::InCall | Presence::WrapUp)
    }
}

string_enum!(
    Channel {
        Webchat => "webchat", Whatsapp => "whatsapp", Telegram => "telegram",
        Messenger => "messenger", Instagram => "instagram", Viber => "viber",
        Email => "email", Voice => "voice",
    }
);

impl Channel {
    /// Replies go to the customer through a provider's API (the durable
    /// outbox), not over our own socket as with the web chat.
    pub fn sends_through_outbox(self) -> bool {
        !matches!(self, Channel::Webchat | Channel::Voice)
    }
}

string_enum!(
    ConversationStatus { Open => "open", Pending => "pending", Snoozed => "snoozed", Resolved => "resolved" }
);

string_enum!(
    Priority { None => "none", Low => "low", Medium => "medium", High => "high", Urgent => "urgent" }
);

impl Priority {
    /// Ordered from `none` to `urgent`.
    pub fn rank(self) -> u8 {
        match self {
            Priority::None => 0,
            Priority::Low => 1,
            Priority::Medium => 2,
            Priority::High => 3,
            Priority::Urgent => 4,
        }
    }

    /// This priority raised to `to` if that is higher (a routing rule never
    /// lowers what a conversation already has).
    pub fn raised_to(self, to: Option<Priority>) -> Priority {
        match to {
            Some(p) if p.rank() > self.rank() => p,
            _ => self,
        }
    }
}

string_enum!(
    /// in: from the customer; out: to the customer; note: internal, never
    /// shown to the customer; system: an event line (assigned, resolved…).
    MessageKind { In => "in", Out => "out", Note => "note", System => "system" }
);

string_enum!(
    DeliveryStatus { Queued => "queued", Sent => "sent", Delivered => "delivered", Read => "read", Failed => "failed" }
);

impl DeliveryStatus {
    /// Statuses only move forward (sent → delivered → read); `failed` is
    /// terminal. Providers deliver receipts out of order, so a late
    /// "delivered" after "read" must not win.
    pub fn may_advance_to(self, next: DeliveryStatus) -> bool {
        fn rank(s: DeliveryStatus) -> u8 {
            match s {
                DeliveryStatus::Queued => 0,
                DeliveryStatus::Sent => 1,
                DeliveryStatus::Delivered => 2,
                DeliveryStatus::Read => 3,
                DeliveryStatus::Failed => 4,
            }
        }
        self != DeliveryStatus::Failed && rank(next) > rank(self)
    }
}

string_enum!(
    SenderType { Contact => "contact", User => "user", System => "system" }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub created_at: Timestamp,
}

/// A person who can log in. Never carries the password hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
}

/// A user as seen inside one workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub presence: Presence,
    pub presence_since: Timestamp,
    /// Capacity per kind of work and skills, for routing.
    pub routing: crate::routing::AgentProfile,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkspaceMembership {
    pub id: WorkspaceId,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TeamMember {
    pub user_id: UserId,
    /// Maximum concurrent conversations this agent takes in this team.
    pub capacity: i64,
    /// Ordered strategy: lower goes first.
    pub priority: i32,
    /// Weighted-random share.
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub members: Vec<TeamMember>,
    pub routing: crate::routing::TeamRouting,
    pub created_at: Timestamp,
}

/// An inbox as stored, secrets included. The API shows `Inbox::public_config`.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbox {
    pub id: InboxId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub channel: Channel,
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Public token that identifies a webchat inbox to the widget script.
    pub website_token: Option<String>,
    pub created_at: Timestamp,
}

/// Config keys that are write-only: accepted on create/update, never shown.
pub const SECRET_CONFIG_KEYS: &[&str] = &[
    "access_token",
    "app_secret",
    "verify_token",
    "bot_token",
    "secret_token",
    "page_access_token",
    "auth_token",
    "password",
    "identity_secret",
];

impl Inbox {
    pub fn public_config(&self) -> serde_json::Map<String, serde_json::Value> {
        self.config
            .iter()
            .filter(|(k, _)| !SECRET_CONFIG_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
    pub fn config_str(&self, key: &str) -> Option<&str> {
        self.config.get(key).and_then(|v| v.as_str())
    }

    /// The sender name a Viber inbox shows on its messages: its
    /// `sender_name`, else the inbox's name.
    pub fn viber_sender_name(&self) -> &str {
        self.config_str("sender_name").filter(|s| !s.trim().is_empty()).unwrap_or(&self.name)
    }
}

pub type CustomFields = BTreeMap<String, serde_json::Value>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Contact {
    pub id: ContactId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[schema(value_type = Object)]
    pub custom_fields: CustomFields,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Sender {
    #[serde(rename = "type")]
    pub kind: SenderType,
    pub id: Option<i64>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub kind: MessageKind,
    pub content: String,
    pub sender: Sender,
    pub status: DeliveryStatus,
    pub failure_reason: Option<String>,
    pub echo_id: Option<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    pub created_at: Timestamp,
}

/// A file sent with a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    pub id: AttachmentId,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    /// Download path (unguessable; no session needed).
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Conversation {
    pub id: ConversationId,
    pub inbox_id: InboxId,
    pub channel: Channel,
    pub contact: Contact,
    pub status: ConversationStatus,
    pub priority: Priority,
    pub assignee_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub tags: Vec<String>,
    pub last_message: Option<Message>,
    pub last_activity_at: Timestamp,
    pub created_at: Timestamp,
    /// Since when the customer has been waiting for an agent's reply.
    pub waiting_since: Option<Timestamp>,
    pub snoozed_until: Option<Timestamp>,
    pub first_reply_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tag {
    pub id: TagId,
    pub name: String,
    pub color: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Template {
    pub id: TemplateId,
    pub name: String,
    pub content: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin.at_least(Role::Supervisor));
        assert!(Role::Supervisor.at_least(Role::Agent));
        assert!(!Role::Agent.at_least(Role::Supervisor));
        assert!(!Role::Supervisor.at_least(Role::Admin));
    }

    #[test]
    fn string_enums_round_trip() {
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(*c));
        }
        assert_eq!(ConversationStatus::parse("closed"), None);
    }

    #[test]
    fn delivery_status_never_moves_backwards() {
        use DeliveryStatus::*;
        assert!(Sent.may_advance_to(Delivered));
        assert!(Delivered.may_advance_to(Read));
        assert!(!Read.may_advance_to(Delivered));
        assert!(!Failed.may_advance_to(Read));
        assert!(Sent.may_advance_to(Failed));
    }

    #[test]
    fn public_config_hides_secrets() {
        let mut config = serde_json::Map::new();
        config.insert("phone_number_id".into(), "123".into());
        config.insert("access_token".into(), "secret".into());
        let inbox = Inbox {
            id: InboxId(1),
            workspace_id: WorkspaceId(1),
            name: "wa".into(),
            channel: Channel::Whatsapp,
            config,
            website_token: None,
            created_at: Timestamp(0),
        };
        let public = inbox.public_config();
        assert!(public.contains_key("phone_number_id"));
        assert!(!public.contains_key("access_token"));
    }
}

/// A supervisor's spot-check mark on a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Review {
    pub id: i64,
    pub conversation_id: ConversationId,
    pub reviewer_id: UserId,
    /// 1 (poor) … 5 (excellent).
    pub score: i64,
    pub comment: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiTokenInfo {
    pub id: ApiTokenId,
    pub name: String,
    pub user_id: UserId,
    pub created_at: Timestamp,
}
