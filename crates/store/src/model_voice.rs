//! Inputs and outputs of the voice store operations (SPEC §3.6). The domain
//! types (calls, settings, IVR menus) are `switchboard_core::voice`'s.

use switchboard_core::voice::*;
use switchboard_core::*;

/// A SIP extension as stored. `ha1` is secret-equivalent for digest auth:
/// the API never shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SipExtension {
    pub id: SipExtensionId,
    pub extension: String,
    pub user_id: Option<UserId>,
    pub display_name: String,
    pub ha1: String,
    /// The realm `ha1` was computed under.
    pub realm: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewSipExtension {
    pub extension: String,
    pub user_id: Option<UserId>,
    pub display_name: String,
    /// Hex MD5(extension:realm:password), computed by the caller.
    pub ha1: String,
    pub realm: String,
}

/// `None` keeps a field; `user_id: Some(None)` unlinks the agent. A new
/// password comes as a new (`ha1`, `realm`) pair.
#[derive(Debug, Clone, Default)]
pub struct SipExtensionPatch {
    pub user_id: Option<Option<UserId>>,
    pub display_name: Option<String>,
    pub credentials: Option<(String, String)>,
}

/// What the registrar needs to check a digest response.
#[derive(Debug, Clone, PartialEq)]
pub struct SipCredentials {
    pub workspace_id: WorkspaceId,
    pub extension_id: SipExtensionId,
    pub user_id: Option<UserId>,
    pub display_name: String,
    pub ha1: String,
    /// The realm to challenge with (the one `ha1` was computed under).
    pub realm: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VoiceNumber {
    pub id: VoiceNumberId,
    pub workspace_id: WorkspaceId,
    pub number: String,
    pub inbox_id: InboxId,
    pub ivr_menu_id: Option<IvrMenuId>,
    pub default_team_id: Option<TeamId>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewVoiceNumber {
    /// E.164, checked by the caller (`core::voice::e164`).
    pub number: String,
    pub inbox_id: InboxId,
    pub ivr_menu_id: Option<IvrMenuId>,
    pub default_team_id: Option<TeamId>,
}

#[derive(Debug, Clone, Default)]
pub struct VoiceNumberPatch {
    pub inbox_id: Option<InboxId>,
    pub ivr_menu_id: Option<Option<IvrMenuId>>,
    pub default_team_id: Option<Option<TeamId>>,
}

/// A trunk as stored, password included (we answer the provider's digest
/// challenges with it); the API shows `has_password` only.
#[derive(Debug, Clone, PartialEq)]
pub struct SipTrunk {
    pub id: SipTrunkId,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub transport: SipTransport,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Register to the provider with the credentials (outbound registration).
    pub register: bool,
    /// Inbound calls are accepted from these addresses…
    pub inbound_ips: Vec<String>,
    /// …and/or when they authenticate with the trunk's credentials.
    pub inbound_auth: bool,
    /// How the outbound registration stands (written by the SIP server).
    pub registration: Option<TrunkRegistration>,
    pub created_at: Timestamp,
}

/// A whole trunk on create; on update, `None` keeps a field and
/// `Some(None)` clears an optional one.
#[derive(Debug, Clone)]
pub struct NewSipTrunk {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub transport: SipTransport,
    pub username: Option<String>,
    pub password: Option<String>,
    pub register: bool,
    pub inbound_ips: Vec<String>,
    pub inbound_auth: bool,
}

#[derive(Debug, Clone, Default)]
pub struct SipTrunkPatch {
    pub name: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub transport: Option<SipTransport>,
    pub username: Option<Option<String>>,
    pub password: Option<Option<String>>,
    pub register: Option<bool>,
    pub inbound_ips: Option<Vec<String>>,
    pub inbound_auth: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IvrMenu {
    pub id: IvrMenuId,
    pub spec: IvrMenuSpec,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Where an inbound INVITE to a DID goes: the global lookup the SIP server
/// makes before it knows the workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberRoute {
    pub number: VoiceNumber,
    pub settings: VoiceSettings,
    pub menu: Option<IvrMenu>,
}

/// A call to record. Inbound: `remote_number` called our `voice_number_id`.
/// Outbound (click-to-call, callbacks): we call `remote_number` (or the
/// contact's phone) from `voice_number_id` for `agent_user_id`.
#[derive(Debug, Clone)]
pub struct NewCall {
    pub direction: CallDirection,
    pub voice_number_id: VoiceNumberId,
    /// The customer's number (E.164). May be left out for outbound calls
    /// to a contact: their phone is used.
    pub remote_number: Option<String>,
    /// Outbound to a known contact.
    pub contact_id: Option<ContactId>,
    pub agent_user_id: Option<UserId>,
    pub sip_call_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub direction: Option<CallDirection>,
    pub disposition: Option<CallDisposition>,
    pub agent: Option<UserId>,
    pub contact: Option<ContactId>,
    pub team: Option<TeamId>,
    /// Offered at or after.
    pub from: Option<Timestamp>,
    /// Offered before.
    pub to: Option<Timestamp>,
}

/// A recording or voicemail file, stored as an attachment of the call's
/// conversation.
#[derive(Debug, Clone)]
pub struct NewCallFile {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
    pub access_key: String,
}

#[derive(Debug, Clone)]
pub struct NewCallbackRequest {
    pub phone: String,
    pub name: Option<String>,
    pub source: CallbackSource,
    pub call_id: Option<CallId>,
    /// The widget's inbox (website requests): its team takes the call.
    pub inbox_id: Option<InboxId>,
}
