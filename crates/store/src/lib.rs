//! Persistence for Switchboard on sqlx: SQLite (the default, a file in the
//! data directory) and PostgreSQL (`DATABASE_URL=postgres://…`).
//!
//! Owns: schemas and migrations for both backends, every SQL statement, the
//! transaction boundaries (a write and the events it causes commit together)
//! and SQLite's single batched writer.
//!
//! Must never: load a row by id without its workspace, decide routing or
//! access policy (it applies `core::access::Viewer` as a filter, nothing
//! more), talk HTTP, or publish to the bus (callers publish what it returns
//! after the commit).
//!
//! The SQL is written once in `ops.rs` and compiled twice, against concrete
//! `sqlx::Sqlite` and `sqlx::Postgres` types (see `sqlite.rs` and
//! `postgres.rs`): both dialects accept `$n` parameters, `RETURNING` and
//! `ON CONFLICT`, so one text serves both without sqlx's `Any` driver.

mod cols;
mod error;
pub mod model;
mod model_voice;
mod postgres;
mod sqlite;
pub mod testing;

pub use error::StoreError;
pub use model::*;
pub use model_voice::*;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use std::path::Path;
use switchboard_core::access::Viewer;
use switchboard_core::*;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The store the server talks to: one of the two backends.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(s) => s.$method($($arg),*).await,
            Store::Postgres(s) => s.$method($($arg),*).await,
        }
    };
}

/// Declares `Store` methods that forward to the backend of the same name.
macro_rules! forward {
    ($( fn $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )*) => {
        impl Store {
            $(
                pub async fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                    dispatch!(self.$name($($arg),*))
                }
            )*
        }
    };
}

impl Store {
    /// Opens the database named by `database_url`, or a SQLite file in
    /// `data_dir` when there is none, and applies pending migrations.
    pub async fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Store> {
        match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Store::Postgres(PgStore::connect(url).await?))
            }
            Some(url) if url.starts_with("sqlite:") => {
                let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
                Ok(Store::Sqlite(SqliteStore::open(Path::new(path)).await?))
            }
            Some(other) => Err(StoreError::Config(format!(
                "unsupported DATABASE_URL scheme (expected postgres:// or sqlite:): {}",
                other.split(':').next().unwrap_or("")
            ))),
            None => {
                std::fs::create_dir_all(data_dir).map_err(|e| {
                    StoreError::Config(format!("cannot create data dir {}: {e}", data_dir.display()))
                })?;
                Ok(Store::Sqlite(SqliteStore::open(&data_dir.join("switchboard.db")).await?))
            }
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    pub async fn ping(&self) -> Result<()> {
        dispatch!(self.ping())
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.close().await,
            Store::Postgres(s) => s.close().await,
        }
    }
}

forward! {
    fn create_workspace(name: &str, signing_secret: &str, now: Timestamp) -> Workspace;
    fn find_workspace_by_name(name: &str) -> Option<Workspace>;
    fn get_workspace(id: WorkspaceId) -> Option<Workspace>;
    fn workspace_signing_secret(id: WorkspaceId) -> Option<String>;
    fn create_user(email: &str, name: &str, password_hash: &str, now: Timestamp) -> User;
    fn set_password(user: UserId, password_hash: &str) -> ();
    fn find_credentials(email: &str) -> Option<Credentials>;
    fn get_user(id: UserId) -> Option<User>;
    fn add_member(ws: WorkspaceId, user: UserId, role: Role, now: Timestamp) -> Member;
    fn list_members(ws: WorkspaceId) -> Vec<Member>;
    fn get_member(ws: WorkspaceId, user: UserId) -> Option<Member>;
    fn update_member(ws: WorkspaceId, user: UserId, patch: MemberPatch) -> Member;
    fn remove_member(ws: WorkspaceId, user: UserId, now: Timestamp) -> Written<()>;
    fn user_workspaces(user: UserId) -> Vec<WorkspaceMembership>;
    fn set_presence(ws: WorkspaceId, user: UserId, presence: Presence, now: Timestamp) -> Written<events::PresenceChange>;
    fn viewer(ws: WorkspaceId, user: UserId) -> Option<Viewer>;
    fn create_session(token_hash: &str, user: UserId, now: Timestamp, expires: Timestamp) -> ();
    fn session_user(token_hash: &str, now: Timestamp) -> Option<UserId>;
    fn delete_session(token_hash: &str) -> ();
    fn create_api_token(ws: WorkspaceId, user: UserId, name: &str, token_hash: &str, now: Timestamp) -> ApiTokenId;
    fn api_token_owner(token_hash: &str) -> Option<(WorkspaceId, UserId)>;
    fn create_team(ws: WorkspaceId, name: &str, now: Timestamp) -> Team;
    fn list_teams(ws: WorkspaceId) -> Vec<Team>;
    fn get_team(ws: WorkspaceId, id: TeamId) -> Option<Team>;
    fn rename_team(ws: WorkspaceId, id: TeamId, name: &str) -> Team;
    fn delete_team(ws: WorkspaceId, id: TeamId) -> ();
    fn set_team_member(ws: WorkspaceId, team: TeamId, user: UserId, capacity: i64, now: Timestamp) -> Written<Team>;
    fn put_team_member(ws: WorkspaceId, team: TeamId, user: UserId, settings: TeamMemberSettings, now: Timestamp) -> Written<Team>;
    fn set_team_routing(ws: WorkspaceId, team: TeamId, routing: switchboard_core::routing::TeamRouting, now: Timestamp) -> Written<Team>;
    fn set_member_routing(ws: WorkspaceId, user: UserId, profile: switchboard_core::routing::AgentProfile, now: Timestamp) -> Written<Member>;
    fn get_routing_rules(ws: WorkspaceId) -> switchboard_core::routing::team_select::RoutingRules;
    fn set_routing_rules(ws: WorkspaceId, rules: switchboard_core::routing::team_select::RoutingRules, now: Timestamp) -> Written<switchboard_core::routing::team_select::RoutingRules>;
    fn route_to_team(ws: WorkspaceId, id: ConversationId, team: TeamId, priority: Option<Priority>, skills: Vec<switchboard_core::routing::SkillRequirement>, now: Timestamp) -> Written<Conversation>;
    fn open_work(ws: WorkspaceId) -> Vec<OpenWork>;
    fn previous_assignee(ws: WorkspaceId, contact: ContactId, before: ConversationId) -> Option<UserId>;
    fn routed_workspaces() -> Vec<WorkspaceId>;
    fn contact_for_identity(ws: WorkspaceId, inbox: InboxId, who: ProviderIdentity, now: Timestamp) -> Contact;
    fn apply_provider_status(ws: WorkspaceId, inbox: InboxId, external_id: &str, status: DeliveryStatus, error: Option<&str>, now: Timestamp) -> Written<Option<Message>>;
    fn record_echo(ws: WorkspaceId, inbox: InboxId, who: ProviderIdentity, external_id: &str, content: &str, now: Timestamp) -> Written<Option<Message>>;
    fn due_outbox(now: Timestamp, limit: i64) -> Vec<OutboxItem>;
    fn outbox_claim(ws: WorkspaceId, id: i64, lease_until: Timestamp, now: Timestamp) -> bool;
    fn webhook_inbox(channel: Channel, id: InboxId) -> Option<Inbox>;
    fn identity_contact(ws: WorkspaceId, inbox: InboxId, external_id: &str) -> Option<Contact>;
    fn email_inboxes() -> Vec<Inbox>;
    fn latest_conversation(ws: WorkspaceId, inbox: InboxId, contact: ContactId) -> Option<ConversationId>;
    fn email_thread_conversation(ws: WorkspaceId, inbox: InboxId, keys: &[String]) -> Option<ConversationId>;
    fn email_thread(ws: WorkspaceId, conversation: ConversationId) -> EmailThread;
    fn record_email_message(ws: WorkspaceId, inbox: InboxId, record: EmailRecord, now: Timestamp) -> ();
    fn dedup_key_seen(ws: WorkspaceId, key: &str) -> bool;
    fn outbox_sent(ws: WorkspaceId, id: i64, external_id: &str, now: Timestamp) -> Written<Message>;
    fn outbox_failed(ws: WorkspaceId, id: i64, reason: &str, now: Timestamp) -> Written<Message>;
    fn outbox_retry(ws: WorkspaceId, id: i64, next_at: Timestamp, error: &str, now: Timestamp) -> ();
    fn outbox_sent_by_key(ws: WorkspaceId, inbox: InboxId, message: MessageId, external_id: &str, now: Timestamp) -> Written<Option<Message>>;
    fn outbox_in_doubt(ws: WorkspaceId, id: i64, next_at: Timestamp, note: &str, now: Timestamp) -> ();
    fn message_files(ws: WorkspaceId, message: MessageId) -> Vec<StoredFile>;
    fn record_echo_keyed(ws: WorkspaceId, inbox: InboxId, who: ProviderIdentity, external_id: &str, content: &str, key: Option<MessageId>, now: Timestamp) -> Written<Option<Message>>;
    fn remove_team_member(ws: WorkspaceId, team: TeamId, user: UserId, now: Timestamp) -> Written<Team>;
    fn create_inbox(ws: WorkspaceId, new: NewInbox, now: Timestamp) -> Inbox;
    fn list_inboxes(ws: WorkspaceId) -> Vec<Inbox>;
    fn get_inbox(ws: WorkspaceId, id: InboxId) -> Option<Inbox>;
    fn update_inbox(ws: WorkspaceId, id: InboxId, patch: InboxPatch) -> Inbox;
    fn delete_inbox(ws: WorkspaceId, id: InboxId) -> ();
    fn find_inbox_by_website_token(token: &str) -> Option<Inbox>;
    fn create_contact(ws: WorkspaceId, new: ContactFields, now: Timestamp) -> Contact;
    fn get_contact(ws: WorkspaceId, id: ContactId) -> Option<Contact>;
    fn update_contact(ws: WorkspaceId, id: ContactId, patch: ContactFields, now: Timestamp) -> Contact;
    fn list_contacts(ws: WorkspaceId, query: Option<&str>, page: Page) -> Paged<Contact>;
    fn find_contact_by_identifier(ws: WorkspaceId, identifier: &str) -> Option<Contact>;
    fn list_conversations(viewer: &Viewer, filter: &ConversationFilter, page: Page) -> Paged<Conversation>;
    fn get_conversation(ws: WorkspaceId, id: ConversationId) -> Option<Conversation>;
    fn claim_conversation(ws: WorkspaceId, id: ConversationId, user: UserId, now: Timestamp) -> Claim;
    fn update_conversation(ws: WorkspaceId, id: ConversationId, patch: ConversationPatch, actor: Option<UserId>, now: Timestamp) -> Written<Conversation>;
    fn tag_conversation(ws: WorkspaceId, id: ConversationId, tag: &str, add: bool, now: Timestamp) -> Written<Conversation>;
    fn receive_message(ws: WorkspaceId, inbound: InboundMessage, now: Timestamp) -> Received;
    fn send_message(ws: WorkspaceId, id: ConversationId, outbound: OutboundMessage, now: Timestamp) -> Written<Message>;
    fn send_message_with_template(ws: WorkspaceId, id: ConversationId, outbound: OutboundMessage, template: String, now: Timestamp) -> Written<Message>;
    fn last_inbound_at(ws: WorkspaceId, id: ConversationId) -> Option<Timestamp>;
    fn open_conversation_of(ws: WorkspaceId, inbox: InboxId, contact: ContactId) -> Option<Conversation>;
    fn list_messages(ws: WorkspaceId, id: ConversationId, page: Page) -> Paged<Message>;
    fn contact_thread(ws: WorkspaceId, inbox: InboxId, contact: ContactId, limit: i64) -> Vec<Message>;
    fn list_tags(ws: WorkspaceId) -> Vec<Tag>;
    fn create_tag(ws: WorkspaceId, name: &str, color: &str) -> Tag;
    fn delete_tag(ws: WorkspaceId, id: TagId) -> ();
    fn list_templates(ws: WorkspaceId) -> Vec<Template>;
    fn create_template(ws: WorkspaceId, name: &str, content: &str, now: Timestamp) -> Template;
    fn update_template(ws: WorkspaceId, id: TemplateId, name: Option<&str>, content: Option<&str>) -> Template;
    fn delete_template(ws: WorkspaceId, id: TemplateId) -> ();
    fn count_events(ws: WorkspaceId) -> i64;
    fn create_attachment(ws: WorkspaceId, new: NewAttachment, now: Timestamp) -> Attachment;
    fn attachment_file(ws: WorkspaceId, id: AttachmentId, key: &str) -> Option<StoredFile>;
    fn live_stats(ws: WorkspaceId) -> switchboard_core::live::LiveStats;
    fn advance_delivery(ws: WorkspaceId, inbox: InboxId, contact: ContactId, up_to: MessageId, status: DeliveryStatus, now: Timestamp) -> Written<Vec<Message>>;
    fn advance_delivery_until(ws: WorkspaceId, inbox: InboxId, peer: &str, up_to: Timestamp, status: DeliveryStatus, now: Timestamp) -> Written<Vec<Message>>;
    fn list_reviews(ws: WorkspaceId, conversation: ConversationId) -> Vec<Review>;
    fn create_review(ws: WorkspaceId, conversation: ConversationId, reviewer: UserId, score: i64, comment: &str, now: Timestamp) -> Review;
    fn get_business_hours(ws: WorkspaceId) -> Option<String>;
    fn set_business_hours(ws: WorkspaceId, config: &str, now: Timestamp) -> ();
    fn list_api_tokens(ws: WorkspaceId) -> Vec<ApiTokenInfo>;
    fn delete_api_token(ws: WorkspaceId, id: ApiTokenId) -> UserId;
    fn get_team_business_hours(ws: WorkspaceId, team: TeamId) -> Option<String>;
    fn set_team_business_hours(ws: WorkspaceId, team: TeamId, config: Option<String>, now: Timestamp) -> ();
    fn effective_business_hours(ws: WorkspaceId, team: Option<TeamId>) -> Option<String>;
    fn list_team_business_hours(ws: WorkspaceId) -> Vec<(TeamId, String)>;
    fn get_automation_settings(ws: WorkspaceId) -> Option<String>;
    fn set_automation_settings(ws: WorkspaceId, config: &str, now: Timestamp) -> ();
    fn automation_settings_page(after: Option<WorkspaceId>, limit: i64) -> Vec<(WorkspaceId, String)>;
    fn send_auto_reply(ws: WorkspaceId, id: ConversationId, kind: AutoReply, outbound: OutboundMessage, now: Timestamp) -> Option<Written<Message>>;
    fn sla_candidates(ws: WorkspaceId, kind: sla::SlaKind, started_before: Timestamp, limit: i64) -> Vec<Conversation>;
    fn record_sla_breach(ws: WorkspaceId, breach: sla::DueBreach, now: Timestamp) -> Option<Written<events::SlaBreach>>;
    fn list_sla_breaches(ws: WorkspaceId, id: ConversationId) -> Vec<events::SlaBreach>;
    fn idle_conversations(ws: WorkspaceId, idle_before: Timestamp, limit: i64) -> Vec<Conversation>;
    fn auto_resolve(ws: WorkspaceId, id: ConversationId, idle_before: Timestamp, note: OutboundMessage, now: Timestamp) -> Option<Written<Conversation>>;
    fn create_rule(ws: WorkspaceId, rule: automation::Rule, now: Timestamp) -> automation::AutomationRule;
    fn list_rules(ws: WorkspaceId) -> Vec<automation::AutomationRule>;
    fn rules_for_trigger(ws: WorkspaceId, trigger: automation::Trigger) -> Vec<automation::AutomationRule>;
    fn get_rule(ws: WorkspaceId, id: RuleId) -> Option<automation::AutomationRule>;
    fn update_rule(ws: WorkspaceId, id: RuleId, rule: automation::Rule, position: Option<i64>, now: Timestamp) -> automation::AutomationRule;
    fn delete_rule(ws: WorkspaceId, id: RuleId) -> ();
    fn record_rule_run(ws: WorkspaceId, run: NewRuleRun, now: Timestamp) -> automation::RuleRun;
    fn list_rule_runs(ws: WorkspaceId, rule: Option<RuleId>, page: Page) -> Paged<automation::RuleRun>;
    fn get_template(ws: WorkspaceId, id: TemplateId) -> Option<Template>;
}

// Voice (SPEC §3.6).
forward! {
    fn get_voice_settings(ws: WorkspaceId) -> voice::VoiceSettings;
    fn set_voice_settings(ws: WorkspaceId, settings: voice::VoiceSettings, now: Timestamp) -> voice::VoiceSettings;
    fn find_workspace_by_sip_domain(domain: &str) -> Option<WorkspaceId>;
    fn create_sip_extension(ws: WorkspaceId, new: NewSipExtension, now: Timestamp) -> SipExtension;
    fn list_sip_extensions(ws: WorkspaceId) -> Vec<SipExtension>;
    fn get_sip_extension(ws: WorkspaceId, id: SipExtensionId) -> Option<SipExtension>;
    fn update_sip_extension(ws: WorkspaceId, id: SipExtensionId, patch: SipExtensionPatch) -> SipExtension;
    fn delete_sip_extension(ws: WorkspaceId, id: SipExtensionId) -> ();
    fn sip_credentials(domain: &str, extension: &str) -> Option<SipCredentials>;
    fn workspace_sip_credentials(ws: WorkspaceId, extension: &str) -> Option<SipCredentials>;
    fn extension_of_user(ws: WorkspaceId, user: UserId) -> Option<SipExtension>;
    fn create_voice_number(ws: WorkspaceId, new: NewVoiceNumber, now: Timestamp) -> VoiceNumber;
    fn list_voice_numbers(ws: WorkspaceId) -> Vec<VoiceNumber>;
    fn get_voice_number(ws: WorkspaceId, id: VoiceNumberId) -> Option<VoiceNumber>;
    fn update_voice_number(ws: WorkspaceId, id: VoiceNumberId, patch: VoiceNumberPatch) -> VoiceNumber;
    fn delete_voice_number(ws: WorkspaceId, id: VoiceNumberId) -> ();
    fn create_voice_inbox(ws: WorkspaceId, new: NewInbox, numbers: Vec<String>, now: Timestamp) -> Inbox;
    fn lookup_number(number: &str) -> Option<NumberRoute>;
    fn create_sip_trunk(ws: WorkspaceId, new: NewSipTrunk, now: Timestamp) -> SipTrunk;
    fn list_sip_trunks(ws: WorkspaceId) -> Vec<SipTrunk>;
    fn list_registering_trunks() -> Vec<(WorkspaceId, SipTrunk)>;
    fn set_sip_trunk_registration(ws: WorkspaceId, id: SipTrunkId, reg: Option<voice::TrunkRegistration>) -> ();
    fn get_sip_trunk(ws: WorkspaceId, id: SipTrunkId) -> Option<SipTrunk>;
    fn update_sip_trunk(ws: WorkspaceId, id: SipTrunkId, patch: SipTrunkPatch, now: Timestamp) -> SipTrunk;
    fn delete_sip_trunk(ws: WorkspaceId, id: SipTrunkId) -> ();
    fn create_ivr_menu(ws: WorkspaceId, spec: voice::IvrMenuSpec, now: Timestamp) -> IvrMenu;
    fn list_ivr_menus(ws: WorkspaceId) -> Vec<IvrMenu>;
    fn get_ivr_menu(ws: WorkspaceId, id: IvrMenuId) -> Option<IvrMenu>;
    fn update_ivr_menu(ws: WorkspaceId, id: IvrMenuId, spec: voice::IvrMenuSpec, now: Timestamp) -> IvrMenu;
    fn delete_ivr_menu(ws: WorkspaceId, id: IvrMenuId) -> ();
    fn create_call(ws: WorkspaceId, new: NewCall, now: Timestamp) -> Written<voice::Call>;
    fn get_call(ws: WorkspaceId, id: CallId) -> Option<voice::Call>;
    fn call_by_sip_id(ws: WorkspaceId, sip_call_id: &str) -> Option<voice::Call>;
    fn answer_call(ws: WorkspaceId, id: CallId, agent: Option<UserId>, now: Timestamp) -> Written<voice::Call>;
    fn set_call_team(ws: WorkspaceId, id: CallId, team: Option<TeamId>, now: Timestamp) -> Written<voice::Call>;
    fn end_call(ws: WorkspaceId, id: CallId, disposition: voice::CallDisposition, now: Timestamp) -> Written<voice::Call>;
    fn attach_call_media(ws: WorkspaceId, id: CallId, kind: voice::CallMedia, file: NewCallFile, now: Timestamp) -> Written<voice::Call>;
    fn call_media_file(ws: WorkspaceId, id: CallId, kind: voice::CallMedia) -> Option<StoredFile>;
    fn prompt_file(ws: WorkspaceId, id: AttachmentId) -> Option<StoredFile>;
    fn list_calls(viewer: &Viewer, filter: &CallFilter, page: Page) -> Paged<voice::Call>;
    fn missed_calls(viewer: &Viewer, status: Option<voice::CallbackStatus>, page: Page) -> Paged<voice::Call>;
    fn set_callback_status(ws: WorkspaceId, id: CallId, status: voice::CallbackStatus, now: Timestamp) -> Written<voice::Call>;
    fn create_callback_request(ws: WorkspaceId, new: NewCallbackRequest, now: Timestamp) -> Written<voice::CallbackRequest>;
    fn list_callback_requests(ws: WorkspaceId, status: Option<voice::CallbackRequestStatus>, page: Page) -> Paged<voice::CallbackRequest>;
    fn set_callback_request_status(ws: WorkspaceId, id: CallbackRequestId, status: voice::CallbackRequestStatus, call: Option<CallId>) -> voice::CallbackRequest;
}
