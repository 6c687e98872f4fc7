//! Request and response shapes of the REST API that are not domain types.

use serde::{Deserialize, Deserializer, Serialize};
use switchboard_core::*;
use utoipa::ToSchema;

/// Distinguishes "absent" (keep) from `null` (clear) in PATCH bodies.
pub fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Serialize, ToSchema)]
pub struct Paginated<T: ToSchema> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ListOf<T: ToSchema> {
    pub data: Vec<T>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub user: User,
}

#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    pub user: User,
    pub workspaces: Vec<WorkspaceMembership>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub email: String,
    pub name: String,
    pub password: Option<String>,
    pub role: Role,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub role: Option<Role>,
    pub name: Option<String>,
    /// Capacity per kind of work and skills (admin only).
    pub routing: Option<switchboard_core::routing::AgentProfile>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceRequest {
    pub status: Presence,
}

#[derive(Serialize, ToSchema)]
pub struct PresenceView {
    pub user_id: UserId,
    pub status: Presence,
    pub since: Timestamp,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiTokenRequest {
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct ApiTokenCreated {
    pub id: ApiTokenId,
    pub name: String,
    /// Shown once; only its hash is stored.
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamRequest {
    pub name: String,
}

/// Rename a team and/or change how it routes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamPatchRequest {
    pub name: Option<String>,
    pub routing: Option<switchboard_core::routing::TeamRouting>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TeamMemberRequest {
    /// Maximum concurrent conversations (1-100, default 5).
    pub capacity: Option<i64>,
    /// Ordered strategy: lower goes first (-1000..1000; kept if absent).
    pub priority: Option<i32>,
    /// Weighted random share (0-1000; kept if absent).
    pub weight: Option<u32>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInboxRequest {
    pub name: String,
    pub channel: Channel,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateInboxRequest {
    pub name: Option<String>,
    /// Keys to change; `null` removes a key. Omitted keys (and secrets) stay.
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Serialize, ToSchema)]
pub struct InboxView {
    pub id: InboxId,
    pub name: String,
    pub channel: Channel,
    /// Settings without secrets (those are write-only).
    #[schema(value_type = Object)]
    pub config: serde_json::Map<String, serde_json::Value>,
    pub website_token: Option<String>,
    /// Where the provider delivers webhooks for this inbox.
    pub webhook_url: String,
    /// For webchat: the snippet to paste into the website.
    pub widget_snippet: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ContactRequest {
    #[serde(default, deserialize_with = "double_option")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub phone: Option<Option<String>>,
    /// Merged into the card's fields; `null` removes a field.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationUpdate {
    pub status: Option<ConversationStatus>,
    pub priority: Option<Priority>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub assignee_id: Option<Option<UserId>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub team_id: Option<Option<TeamId>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub snoozed_until: Option<Option<Timestamp>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRequest {
    pub tag: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessageRequest {
    /// Required unless `attachment_ids` are given.
    #[serde(default)]
    pub content: Option<String>,
    /// Files uploaded to this conversation (`POST …/attachments`).
    pub attachment_ids: Option<Vec<i64>>,
    /// `out` (to the customer, the default) or `note` (internal).
    pub kind: Option<MessageKind>,
    /// Client-generated id: sending the same one twice stores one message.
    pub echo_id: Option<String>,
    /// WhatsApp conversations only: send this approved template instead of
    /// free text (allowed outside the 24-hour window). `content` may then be
    /// omitted: the thread shows `[template name: p1, p2]`.
    pub whatsapp_template: Option<switchboard_core::messaging_window::WhatsappTemplate>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTagRequest {
    pub name: String,
    pub color: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    pub name: Option<String>,
    pub content: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

// ------------------------------------------------------------------ widget

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetSessionRequest {
    pub website_token: String,
    /// The token from an earlier visit, to continue the same thread.
    pub visitor_token: Option<String>,
    /// The site's own user id, when the site vouches for the visitor.
    pub identifier: Option<String>,
    /// hex HMAC-SHA256(identity_secret, identifier), computed by the site.
    pub identifier_hash: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WidgetContact {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WidgetInbox {
    pub name: String,
    /// Whether to ask for name/email/phone before the first message.
    pub prechat: bool,
    pub greeting: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WidgetSession {
    pub visitor_token: String,
    pub contact: WidgetContact,
    pub inbox: WidgetInbox,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetContactRequest {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetMessageRequest {
    #[serde(default)]
    pub content: Option<String>,
    pub echo_id: String,
    /// Files uploaded with `POST /api/v1/widget/attachments`.
    pub attachment_ids: Option<Vec<i64>>,
}
