//! Typed ids: a `ConversationId` can never be passed where a `ContactId` is
//! expected. All ids are positive 64-bit integers assigned by the store.

use serde::{Deserialize, Serialize};

macro_rules! typed_id {
    ($($name:ident),* $(,)?) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <i64 as utoipa::PartialSchema>::schema()
            }
        }
        impl utoipa::ToSchema for $name {}
    )*};
}

typed_id!(
    WorkspaceId,
    UserId,
    TeamId,
    InboxId,
    ContactId,
    ConversationId,
    MessageId,
    TagId,
    TemplateId,
    ApiTokenId,
    EventId,
    AttachmentId,
    RuleId,
    RuleRunId,
    // Voice (SPEC §3.6).
    SipExtensionId,
    VoiceNumberId,
    SipTrunkId,
    IvrMenuId,
    CallId,
    CallbackRequestId,
);
