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

/// A conversation's status moved (`from` ≠ `to`): carried as its own event
/// so consumers (automation's `status_changed` trigger, integrators) need
/// not remember every conversation's previous state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    pub conversation_id: ConversationId,
    pub from: ConversationStatus,
    pub to: ConversationStatus,
}

/// A tag that was not on the conversation before was put on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagAdded {
    pub conversation_id: ConversationId,
    pub tag: String,
}

/// An SLA timer of a conversation ran out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaBreach {
    pub conversation_id: ConversationId,
    /// "first_response" | "next_response" | "resolution".
    pub kind: String,
    pub due_at: Timestamp,
    pub breached_at: Timestamp,
}

/// A routing offer to one agent: accept or decline before `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingOffer {
    pub conversation_id: ConversationId,
    pub agent_id: UserId,
    pub team_id: TeamId,
    pub expires_at: Timestamp,
}

/// An offer is off: taken by someone else, declined, timed out, or the
/// agent stepped away.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingOfferEnded {
    pub conversation_id: ConversationId,
    pub agent_id: UserId,
    pub reason: crate::routing::RetractReason,
}

/// Where a waiting customer is in their team's queue (1 = next).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuePosition {
    pub conversation_id: ConversationId,
    pub team_id: TeamId,
    pub position: usize,
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
    #[serde(rename = "conversation.status_changed")]
    StatusChanged(StatusChange),
    #[serde(rename = "conversation.tag_added")]
    TagAdded(TagAdded),
    #[serde(rename = "sla.breached")]
    SlaBreached(SlaBreach),
    /// Only the offered agent hears it.
    #[serde(rename = "offer.created")]
    OfferCreated(RoutingOffer),
    #[serde(rename = "offer.ended")]
    OfferEnded(RoutingOfferEnded),
    /// The customer side hears it too (widget: "you are number 3").
    #[serde(rename = "queue.position")]
    QueuePosition(QueuePosition),
    /// Teams' routing settings, agents' capacity/skills or the routing
    /// rules changed: routers reload the workspace. Never forwarded.
    #[serde(rename = "routing.changed")]
    RoutingChanged,
    /// A call was offered (inbound) or accepted for dialing (outbound).
    #[serde(rename = "call.created")]
    CallCreated(Box<crate::voice::Call>),
    /// Answered, routed to a team, a recording attached, callback status…
    #[serde(rename = "call.updated")]
    CallUpdated(Box<crate::voice::Call>),
    /// The call ended: its disposition, wait and talk time are final.
    #[serde(rename = "call.ended")]
    CallEnded(Box<crate::voice::Call>),
    /// Someone asked to be called back (the SIP engine dials it).
    #[serde(rename = "callback.requested")]
    CallbackRequested(crate::voice::CallbackRequest),
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
            EventPayload::StatusChanged(_) => "conversation.status_changed",
            EventPayload::TagAdded(_) => "conversation.tag_added",
            EventPayload::SlaBreached(_) => "sla.breached",
            EventPayload::OfferCreated(_) => "offer.created",
            EventPayload::OfferEnded(_) => "offer.ended",
            EventPayload::QueuePosition(_) => "queue.position",
            EventPayload::RoutingChanged => "routing.changed",
            EventPayload::CallCreated(_) => "call.created",
            EventPayload::CallUpdated(_) => "call.updated",
            EventPayload::CallEnded(_) => "call.ended",
            EventPayload::CallbackRequested(_) => "callback.requested",
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

    /// An event about a call. Its scope is the call's own: an agent sees
    /// calls they took, calls of their teams and calls of no team (the same
    /// rule as conversations, applied to the call's team and agent), so the
    /// call log and the live feed agree.
    pub fn call(workspace_id: WorkspaceId, call: &crate::voice::Call, payload: EventPayload) -> Self {
        Event { workspace_id, scope: Some(call_scope(call)), payload }
    }

    /// Whether the customer side (widget) of this conversation may see it:
    /// their own and agents' visible messages and agents' typing, never notes.
    pub fn visible_to_customer(&self) -> bool {
        match &self.payload {
            EventPayload::MessageCreated(m) | EventPayload::MessageUpdated(m) => {
                matches!(m.kind, MessageKind::In | MessageKind::Out)
            }
            EventPayload::Typing(t) => t.actor.kind == SenderType::User,
            EventPayload::QueuePosition(_) => true,
            _ => false,
        }
    }
}

/// Who may see a call (see `Event::call`).
pub fn call_scope(call: &crate::voice::Call) -> ConversationScope {
    ConversationScope {
        conversation_id: call.conversation_id,
        inbox_id: call.inbox_id,
        contact_id: call.contact_id,
        team_id: call.team_id,
        assignee_id: call.agent_user_id,
    }
}
