//! Events that leave a committed write: the store records them, the bus
//! fans them out, the realtime hub filters them per viewer.

use crate::ids::*;
use crate::model::*;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Who may see an event about a conversation: what the access rules need,
/// carried with the event so the hub never has to query the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationScope {
    pub conversation_id: ConversationId,
    pub inbox_id: InboxId,
    pub contact_id: ContactId,
    pub team_id: Option<TeamId>,
    pub assignee_id: Option<UserId>,
}

impl ConversationScope {
    pub fn of(c: &Conversation) -> Self {
        ConversationScope {
            conversation_id: c.id,
            inbox_id: c.inbox_id,
            contact_id: c.contact.id,
            team_id: c.team_id,
            assignee_id: c.assignee_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceChange {
    pub user_id: UserId,
    pub status: Presence,
    pub since: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypingChange {
    pub conversation_id: ConversationId,
    pub actor: Sender,
    pub on: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum EventPayload {
    #[serde(rename = "message.created")]
    MessageCreated(Message),
    #[serde(rename = "message.updated")]
    MessageUpdated(Message),
    #[serde(rename = "conversation.created")]
    ConversationCreated(Box<Conversation>),
    #[serde(rename = "conversation.updated")]
    ConversationUpdated(Box<Conversation>),
    #[serde(rename = "presence.updated")]
    PresenceUpdated(PresenceChange),
    #[serde(rename = "typing")]
    Typing(TypingChange),
    /// Team membership or roles changed: live connections refresh who they
    /// are allowed to see. Never forwarded to clients.
    #[serde(rename = "membership.changed")]
    MembershipChanged { user_id: UserId },
    /// A session or API token of this user was revoked: their open sockets
    /// re-check their credentials. Never forwarded to clients.
    #[serde(rename = "credentials.revoked")]
    CredentialsRevoked { user_id: UserId },
}

impl EventPayload {
    pub fn kind(&self) -> &'static str {
        match self {
            EventPayload::MessageCreated(_) => "message.created",
            EventPayload::MessageUpdated(_) => "message.updated",
            EventPayload::ConversationCreated(_) => "conversation.created",
            EventPayload::ConversationUpdated(_) => "conversation.updated",
            EventPayload::PresenceUpdated(_) => "presence.updated",
            EventPayload::Typing(_) => "typing",
            EventPayload::MembershipChanged { .. } => "membership.changed",
            EventPayload::CredentialsRevoked { .. } => "credentials.revoked",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub workspace_id: WorkspaceId,
    /// Present for events about one conversation; absent for
    /// workspace-wide ones (presence).
    pub scope: Option<ConversationScope>,
    #[serde(flatten)]
    pub payload: EventPayload,
}

impl Event {
    pub fn conversation(workspace_id: WorkspaceId, c: &Conversation, payload: EventPayload) -> Self {
        Event { workspace_id, scope: Some(ConversationScope::of(c)), payload }
    }

    /// Whether the customer side (widget) of this conversation may see it:
    /// their own and agents' visible messages and agents' typing, never notes.
    pub fn visible_to_customer(&self) -> bool {
        match &self.payload {
            EventPayload::MessageCreated(m) | EventPayload::MessageUpdated(m) => {
                matches!(m.kind, MessageKind::In | MessageKind::Out)
            }
            EventPayload::Typing(t) => t.actor.kind == SenderType::User,
            _ => false,
        }
    }
}
