// The public methods of a backend, written once. `include!`d by `sqlite.rs`
// and `postgres.rs` after they define `Backend` with two primitives:
//   read()  -> a pooled connection for reads;
//   write(f) -> runs `f` in a write transaction, answers after the commit.
// and the hot point reads (`webhook_inbox`, `get_inbox`, `identity_contact`,
// …), which SQLite answers synchronously (sqlite_reads.rs).
// Arguments are copied into owned values because a write may run on another
// task (SQLite's single writer).

use crate::model::*;
use crate::Result;
use switchboard_core::access::Viewer;
use switchboard_core::events::PresenceChange;
use switchboard_core::*;

/// How many times a write that lost a dedup race (PostgreSQL) is retried;
/// the retry finds the winner's row and answers with it.
const DEDUP_RACE_RETRIES: usize = 3;

fn is_dedup_race(e: &crate::StoreError) -> bool {
    matches!(e, crate::StoreError::Conflict { code: "duplicate_race", .. })
}

impl Backend {
    pub async fn ping(&self) -> Result<()> {
        ops::ping(&mut *self.read().await?).await
    }
    pub async fn count_events(&self, ws: WorkspaceId) -> Result<i64> {
        ops::count_events(&mut *self.read().await?, ws).await
    }

    pub async fn create_workspace(&self, name: &str, secret: &str, now: Timestamp) -> Result<Workspace> {
        let (name, secret) = (name.to_owned(), secret.to_owned());
        self.write(move |c| Box::pin(async move { ops::create_workspace(c, &name, &secret, now).await })).await
    }
    pub async fn find_workspace_by_name(&self, name: &str) -> Result<Option<Workspace>> {
        ops::find_workspace_by_name(&mut *self.read().await?, name).await
    }
    pub async fn get_workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>> {
        ops::get_workspace(&mut *self.read().await?, id).await
    }
    pub async fn workspace_signing_secret(&self, id: WorkspaceId) -> Result<Option<String>> {
        ops::workspace_signing_secret(&mut *self.read().await?, id).await
    }

    pub async fn create_user(&self, email: &str, name: &str, hash: &str, now: Timestamp) -> Result<User> {
        let (email, name, hash) = (email.to_owned(), name.to_owned(), hash.to_owned());
        self.write(move |c| Box::pin(async move { ops::create_user(c, &email, &name, &hash, now).await })).await
    }
    pub async fn set_password(&self, user: UserId, hash: &str) -> Result<()> {
        let hash = hash.to_owned();
        self.write(move |c| Box::pin(async move { ops::set_password(c, user, &hash).await })).await
    }
    pub async fn find_credentials(&self, email: &str) -> Result<Option<Credentials>> {
        ops::find_credentials(&mut *self.read().await?, email).await
    }
    pub async fn get_user(&self, id: UserId) -> Result<Option<User>> {
        ops::get_user(&mut *self.read().await?, id).await
    }
    pub async fn add_member(&self, ws: WorkspaceId, user: UserId, role: Role, now: Timestamp) -> Result<Member> {
        self.write(move |c| Box::pin(async move { ops::add_member(c, ws, user, role, now).await })).await
    }
    pub async fn list_members(&self, ws: WorkspaceId) -> Result<Vec<Member>> {
        ops::list_members(&mut *self.read().await?, ws).await
    }
    pub async fn get_member(&self, ws: WorkspaceId, user: UserId) -> Result<Option<Member>> {
        ops::get_member(&mut *self.read().await?, ws, user).await
    }
    pub async fn update_member(&self, ws: WorkspaceId, user: UserId, patch: MemberPatch) -> Result<Member> {
        self.write(move |c| Box::pin(async move { ops::update_member(c, ws, user, &patch).await })).await
    }
    pub async fn remove_member(&self, ws: WorkspaceId, user: UserId, now: Timestamp) -> Result<Written<()>> {
        self.write(move |c| Box::pin(async move { ops::remove_member(c, ws, user, now).await })).await
    }
    pub async fn user_workspaces(&self, user: UserId) -> Result<Vec<WorkspaceMembership>> {
        ops::user_workspaces(&mut *self.read().await?, user).await
    }
    pub async fn set_presence(&self, ws: WorkspaceId, user: UserId, p: Presence, now: Timestamp) -> Result<Written<PresenceChange>> {
        self.write(move |c| Box::pin(async move { ops::set_presence(c, ws, user, p, now).await })).await
    }
    pub async fn viewer(&self, ws: WorkspaceId, user: UserId) -> Result<Option<Viewer>> {
        ops::viewer(&mut *self.read().await?, ws, user).await
    }

    pub async fn create_session(&self, hash: &str, user: UserId, now: Timestamp, expires: Timestamp) -> Result<()> {
        let hash = hash.to_owned();
        self.write(move |c| Box::pin(async move { ops::create_session(c, &hash, user, now, expires).await })).await
    }
    pub async fn session_user(&self, hash: &str, now: Timestamp) -> Result<Option<UserId>> {
        ops::session_user(&mut *self.read().await?, hash, now).await
    }
    pub async fn delete_session(&self, hash: &str) -> Result<()> {
        let hash = hash.to_owned();
        self.write(move |c| Box::pin(async move { ops::delete_session(c, &hash).await })).await
    }
    pub async fn create_api_token(&self, ws: WorkspaceId, user: UserId, name: &str, hash: &str, now: Timestamp) -> Result<ApiTokenId> {
        let (name, hash) = (name.to_owned(), hash.to_owned());
        self.write(move |c| Box::pin(async move { ops::create_api_token(c, ws, user, &name, &hash, now).await })).await
    }
    pub async fn api_token_owner(&self, hash: &str) -> Result<Option<(WorkspaceId, UserId)>> {
        ops::api_token_owner(&mut *self.read().await?, hash).await
    }

    pub async fn create_team(&self, ws: WorkspaceId, name: &str, now: Timestamp) -> Result<Team> {
        let name = name.to_owned();
        self.write(move |c| Box::pin(async move { ops::create_team(c, ws, &name, now).await })).await
    }
    pub async fn list_teams(&self, ws: WorkspaceId) -> Result<Vec<Team>> {
        ops::list_teams(&mut *self.read().await?, ws).await
    }
    pub async fn get_team(&self, ws: WorkspaceId, id: TeamId) -> Result<Option<Team>> {
        ops::get_team(&mut *self.read().await?, ws, id).await
    }
    pub async fn rename_team(&self, ws: WorkspaceId, id: TeamId, name: &str) -> Result<Team> {
        let name = name.to_owned();
        self.write(move |c| Box::pin(async move { ops::rename_team(c, ws, id, &name).await })).await
    }
    pub async fn delete_team(&self, ws: WorkspaceId, id: TeamId) -> Result<()> {
        self.write(move |c| Box::pin(async move { ops::delete_team(c, ws, id).await })).await
    }
    pub async fn set_team_member(&self, ws: WorkspaceId, team: TeamId, user: UserId, capacity: i64, now: Timestamp) -> Result<Written<Team>> {
        self.put_team_member(ws, team, user, TeamMemberSettings { capacity, priority: None, weight: None }, now).await
    }
    pub async fn put_team_member(&self, ws: WorkspaceId, team: TeamId, user: UserId, m: TeamMemberSettings, now: Timestamp) -> Result<Written<Team>> {
        self.write(move |c| Box::pin(async move { ops::set_team_member(c, ws, team, user, &m, now).await })).await
    }
    pub async fn set_team_routing(&self, ws: WorkspaceId, team: TeamId, routing: switchboard_core::routing::TeamRouting, now: Timestamp) -> Result<Written<Team>> {
        self.write(move |c| Box::pin(async move { ops::set_team_routing(c, ws, team, &routing, now).await })).await
    }
    pub async fn set_member_routing(&self, ws: WorkspaceId, user: UserId, profile: switchboard_core::routing::AgentProfile, now: Timestamp) -> Result<Written<Member>> {
        self.write(move |c| Box::pin(async move { ops::set_member_routing(c, ws, user, &profile, now).await })).await
    }
    pub async fn get_routing_rules(&self, ws: WorkspaceId) -> Result<switchboard_core::routing::team_select::RoutingRules> {
        ops::get_routing_rules(&mut *self.read().await?, ws).await
    }
    pub async fn set_routing_rules(&self, ws: WorkspaceId, rules: switchboard_core::routing::team_select::RoutingRules, now: Timestamp) -> Result<Written<switchboard_core::routing::team_select::RoutingRules>> {
        self.write(move |c| Box::pin(async move { ops::set_routing_rules(c, ws, &rules, now).await })).await
    }
    pub async fn route_to_team(&self, ws: WorkspaceId, id: ConversationId, team: TeamId, priority: Option<Priority>, skills: Vec<switchboard_core::routing::SkillRequirement>, now: Timestamp) -> Result<Written<Conversation>> {
        self.write(move |c| Box::pin(async move { ops::route_to_team(c, ws, id, team, priority, &skills, now).await })).await
    }
    pub async fn open_work(&self, ws: WorkspaceId) -> Result<Vec<OpenWork>> {
        ops::open_work(&mut *self.read().await?, ws).await
    }
    pub async fn previous_assignee(&self, ws: WorkspaceId, contact: ContactId, before: ConversationId) -> Result<Option<UserId>> {
        ops::previous_assignee(&mut *self.read().await?, ws, contact, before).await
    }
    pub async fn routed_workspaces(&self) -> Result<Vec<WorkspaceId>> {
        ops::routed_workspaces(&mut *self.read().await?).await
    }
    pub async fn remove_team_member(&self, ws: WorkspaceId, team: TeamId, user: UserId, now: Timestamp) -> Result<Written<Team>> {
        self.write(move |c| Box::pin(async move { ops::remove_team_member(c, ws, team, user, now).await })).await
    }

    pub async fn create_inbox(&self, ws: WorkspaceId, new: NewInbox, now: Timestamp) -> Result<Inbox> {
        self.write(move |c| Box::pin(async move { ops::create_inbox(c, ws, &new, now).await })).await
    }
    pub async fn list_inboxes(&self, ws: WorkspaceId) -> Result<Vec<Inbox>> {
        ops::list_inboxes(&mut *self.read().await?, ws).await
    }
    pub async fn update_inbox(&self, ws: WorkspaceId, id: InboxId, patch: InboxPatch) -> Result<Inbox> {
        self.write(move |c| Box::pin(async move { ops::update_inbox(c, ws, id, &patch).await })).await
    }
    pub async fn delete_inbox(&self, ws: WorkspaceId, id: InboxId) -> Result<()> {
        self.write(move |c| Box::pin(async move { ops::delete_inbox(c, ws, id).await })).await
    }
    pub async fn find_inbox_by_website_token(&self, token: &str) -> Result<Option<Inbox>> {
        ops::find_inbox_by_website_token(&mut *self.read().await?, token).await
    }

    pub async fn create_contact(&self, ws: WorkspaceId, new: ContactFields, now: Timestamp) -> Result<Contact> {
        self.write(move |c| Box::pin(async move { ops::create_contact(c, ws, &new, now).await })).await
    }
    pub async fn get_contact(&self, ws: WorkspaceId, id: ContactId) -> Result<Option<Contact>> {
        ops::get_contact(&mut *self.read().await?, ws, id).await
    }
    pub async fn update_contact(&self, ws: WorkspaceId, id: ContactId, patch: ContactFields, now: Timestamp) -> Result<Contact> {
        self.write(move |c| Box::pin(async move { ops::update_contact(c, ws, id, &patch, now).await })).await
    }
    pub async fn list_contacts(&self, ws: WorkspaceId, query: Option<&str>, page: Page) -> Result<Paged<Contact>> {
        ops::list_contacts(&mut *self.read().await?, ws, query, page).await
    }
    pub async fn find_contact_by_identifier(&self, ws: WorkspaceId, identifier: &str) -> Result<Option<Contact>> {
        ops::find_contact_by_identifier(&mut *self.read().await?, ws, identifier).await
    }

    pub async fn list_conversations(&self, viewer: &Viewer, filter: &ConversationFilter, page: Page) -> Result<Paged<Conversation>> {
        ops::list_conversations(&mut *self.read().await?, viewer, filter, page).await
    }
    pub async fn get_conversation(&self, ws: WorkspaceId, id: ConversationId) -> Result<Option<Conversation>> {
        ops::get_conversation(&mut *self.read().await?, ws, id).await
    }
    pub async fn claim_conversation(&self, ws: WorkspaceId, id: ConversationId, user: UserId, now: Timestamp) -> Result<Claim> {
        self.write(move |c| Box::pin(async move { ops::claim_conversation(c, ws, id, user, now).await })).await
    }
    pub async fn update_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        patch: ConversationPatch,
        _actor: Option<UserId>,
        now: Timestamp,
    ) -> Result<Written<Conversation>> {
        self.write(move |c| Box::pin(async move { ops::update_conversation(c, ws, id, &patch, now).await })).await
    }
    pub async fn tag_conversation(&self, ws: WorkspaceId, id: ConversationId, tag: &str, add: bool, now: Timestamp) -> Result<Written<Conversation>> {
        let tag = tag.to_owned();
        self.write(move |c| Box::pin(async move { ops::tag_conversation(c, ws, id, &tag, add, now).await })).await
    }

    pub async fn receive_message(&self, ws: WorkspaceId, inbound: InboundMessage, now: Timestamp) -> Result<Received> {
        let mut attempt = 0;
        loop {
            // Each backend's `write_received` runs `ops::receive_message` in a
            // write (SQLite: a synchronous copy of its hot path, see sqlite.rs).
            match self.write_received(ws, inbound.clone(), now).await {
                Err(e) if is_dedup_race(&e) && attempt < DEDUP_RACE_RETRIES => attempt += 1,
                other => return other,
            }
        }
    }
    pub async fn send_message(&self, ws: WorkspaceId, id: ConversationId, outbound: OutboundMessage, now: Timestamp) -> Result<Written<Message>> {
        let mut attempt = 0;
        loop {
            let m = outbound.clone();
            match self.write(move |c| Box::pin(async move { ops::send_message(c, ws, id, &m, now).await })).await {
                Err(e) if is_dedup_race(&e) && attempt < DEDUP_RACE_RETRIES => attempt += 1,
                other => return other,
            }
        }
    }
    pub async fn send_message_with_template(&self, ws: WorkspaceId, id: ConversationId, outbound: OutboundMessage, template: String, now: Timestamp) -> Result<Written<Message>> {
        let mut attempt = 0;
        loop {
            let (m, t) = (outbound.clone(), template.clone());
            match self.write(move |c| Box::pin(async move { ops::send_message_with_template(c, ws, id, &m, Some(&t), now).await })).await {
                Err(e) if is_dedup_race(&e) && attempt < DEDUP_RACE_RETRIES => attempt += 1,
                other => return other,
            }
        }
    }
    pub async fn last_inbound_at(&self, ws: WorkspaceId, id: ConversationId) -> Result<Option<Timestamp>> {
        ops::last_inbound_at(&mut *self.read().await?, ws, id).await
    }
    pub async fn open_conversation_of(&self, ws: WorkspaceId, inbox: InboxId, contact: ContactId) -> Result<Option<Conversation>> {
        ops::open_conversation_of(&mut *self.read().await?, ws, inbox, contact).await
    }
    pub async fn list_messages(&self, ws: WorkspaceId, id: ConversationId, page: Page) -> Result<Paged<Message>> {
        ops::list_messages(&mut *self.read().await?, ws, id, page).await
    }
    pub async fn contact_thread(&self, ws: WorkspaceId, inbox: InboxId, contact: ContactId, limit: i64) -> Result<Vec<Message>> {
        ops::contact_thread(&mut *self.read().await?, ws, inbox, contact, limit).await
    }

    pub async fn list_tags(&self, ws: WorkspaceId) -> Result<Vec<Tag>> {
        ops::list_tags(&mut *self.read().await?, ws).await
    }
    pub async fn create_tag(&self, ws: WorkspaceId, name: &str, color: &str) -> Result<Tag> {
        let (name, color) = (name.to_owned(), color.to_owned());
        self.write(move |c| Box::pin(async move { ops::create_tag(c, ws, &name, &color).await })).await
    }
    pub async fn delete_tag(&self, ws: WorkspaceId, id: TagId) -> Result<()> {
        self.write(move |c| Box::pin(async move { ops::delete_tag(c, ws, id).await })).await
    }
    pub async fn list_templates(&self, ws: WorkspaceId) -> Result<Vec<Template>> {
        ops::list_templates(&mut *self.read().await?, ws).await
    }
    pub async fn create_template(&self, ws: WorkspaceId, name: &str, content: &str, now: Timestamp) -> Result<Template> {
        let (name, content) = (name.to_owned(), content.to_owned());
        self.write(move |c| Box::pin(async move { ops::create_template(c, ws, &name, &content, now).await })).await
    }
    pub async fn update_template(&self, ws: WorkspaceId, id: TemplateId, name: Option<&str>, content: Option<&str>) -> Result<Template> {
        let (name, content) = (name.map(str::to_owned), content.map(str::to_owned));
        self.write(move |c| {
            Box::pin(async move { ops::update_template(c, ws, id, name.as_deref(), content.as_deref()).await })
        })
        .await
    }
    pub async fn delete_template(&self, ws: WorkspaceId, id: TemplateId) -> Result<()> {
        self.write(move |c| Box::pin(async move { ops::delete_template(c, ws, id).await })).await
    }

    pub async fn list_reviews(&self, ws: WorkspaceId, conversation: ConversationId) -> Result<Vec<Review>> {
        ops::list_reviews(&mut *self.read().await?, ws, conversation).await
    }
    pub async fn create_review(&self, ws: WorkspaceId, conversation: ConversationId, reviewer: UserId, score: i64, comment: &str, now: Timestamp) -> Result<Review> {
        let comment = comment.to_owned();
        self.write(move |c| Box::pin(async move { ops::create_review(c, ws, conversation, reviewer, score, &comment, now).await })).await
    }
    pub async fn get_business_hours(&self, ws: WorkspaceId) -> Result<Option<String>> {
        ops::get_business_hours(&mut *self.read().await?, ws).await
    }
    pub async fn set_business_hours(&self, ws: WorkspaceId, config: &str, now: Timestamp) -> Result<()> {
        let config = config.to_owned();
        self.write(move |c| Box::pin(async move { ops::set_business_hours(c, ws, &config, now).await })).await
    }
    pub async fn list_api_tokens(&self, ws: WorkspaceId) -> Result<Vec<ApiTokenInfo>> {
        ops::list_api_tokens(&mut *self.read().await?, ws).await
    }
    pub async fn delete_api_token(&self, ws: WorkspaceId, id: ApiTokenId) -> Result<UserId> {
        self.write(move |c| Box::pin(async move { ops::delete_api_token(c, ws, id).await })).await
    }
    pub async fn advance_delivery(&self, ws: WorkspaceId, inbox: InboxId, contact: ContactId, up_to: MessageId, status: DeliveryStatus, now: Timestamp) -> Result<Written<Vec<Message>>> {
        self.write(move |c| Box::pin(async move { ops::advance_delivery(c, ws, inbox, contact, up_to, status, now).await })).await
    }
    pub async fn advance_delivery_until(&self, ws: WorkspaceId, inbox: InboxId, peer: &str, up_to: Timestamp, status: DeliveryStatus, now: Timestamp) -> Result<Written<Vec<Message>>> {
        let peer = peer.to_owned();
        self.write(move |c| Box::pin(async move { ops::advance_delivery_until(c, ws, inbox, &peer, up_to, status, now).await })).await
    }
    pub async fn live_stats(&self, ws: WorkspaceId) -> Result<switchboard_core::live::LiveStats> {
        let (conversations, agents, teams) = ops::live_rows(&mut *self.read().await?, ws).await?;
        Ok(switchboard_core::live::live_stats(&conversations, &agents, &teams))
    }
    pub async fn create_attachment(&self, ws: WorkspaceId, new: NewAttachment, now: Timestamp) -> Result<Attachment> {
        self.write(move |c| Box::pin(async move { ops::create_attachment(c, ws, &new, now).await })).await
    }
    pub async fn attachment_file(&self, ws: WorkspaceId, id: AttachmentId, key: &str) -> Result<Option<StoredFile>> {
        ops::attachment_file(&mut *self.read().await?, ws, id, key).await
    }

    pub async fn create_rule(&self, ws: WorkspaceId, rule: automation::Rule, now: Timestamp) -> Result<automation::AutomationRule> {
        self.write(move |c| Box::pin(async move { ops::create_rule(c, ws, &rule, now).await })).await
    }
    pub async fn list_rules(&self, ws: WorkspaceId) -> Result<Vec<automation::AutomationRule>> {
        ops::list_rules(&mut *self.read().await?, ws).await
    }
    pub async fn get_rule(&self, ws: WorkspaceId, id: RuleId) -> Result<Option<automation::AutomationRule>> {
        ops::get_rule(&mut *self.read().await?, ws, id).await
    }
    pub async fn update_rule(&self, ws: WorkspaceId, id: RuleId, rule: automation::Rule, position: Option<i64>, now: Timestamp) -> Result<automation::AutomationRule> {
        self.write(move |c| Box::pin(async move { ops::update_rule(c, ws, id, &rule, position, now).await })).await
    }
    pub async fn delete_rule(&self, ws: WorkspaceId, id: RuleId) -> Result<()> {
        self.write(move |c| Box::pin(async move { ops::delete_rule(c, ws, id).await })).await
    }
    pub async fn record_rule_run(&self, ws: WorkspaceId, run: NewRuleRun, now: Timestamp) -> Result<automation::RuleRun> {
        self.write(move |c| Box::pin(async move { ops::record_rule_run(c, ws, &run, now).await })).await
    }
    pub async fn list_rule_runs(&self, ws: WorkspaceId, rule: Option<RuleId>, page: Page) -> Result<Paged<automation::RuleRun>> {
        ops::list_rule_runs(&mut *self.read().await?, ws, rule, page).await
    }
    pub async fn get_template(&self, ws: WorkspaceId, id: TemplateId) -> Result<Option<Template>> {
        ops::get_template(&mut *self.read().await?, ws, id).await
    }
}

// Team hours, automation settings, auto replies, SLA breaches, auto-resolve.
include!("api_hours_sla.rs");

// Voice: settings, extensions, numbers, trunks, IVR menus, calls.
include!("api_voice.rs");

// Provider channels and the outbox (more in api_channels.rs).
include!("api_channels.rs");
impl Backend {
    pub async fn contact_for_identity(&self, ws: WorkspaceId, inbox: InboxId, who: ProviderIdentity, now: Timestamp) -> Result<Contact> {
        // Nearly every message comes from a customer we know: a read finds
        // them without taking a turn of the single writer.
        if let Some(known) = self.identity_contact(ws, inbox, &who.external_id).await? {
            return Ok(known);
        }
        self.write(move |c| Box::pin(async move { ops::contact_for_identity(c, ws, inbox, &who, now).await })).await
    }
    pub async fn apply_provider_status(&self, ws: WorkspaceId, inbox: InboxId, external_id: &str, status: DeliveryStatus, error: Option<&str>, now: Timestamp) -> Result<Written<Option<Message>>> {
        let (external_id, error) = (external_id.to_owned(), error.map(str::to_owned));
        self.write(move |c| Box::pin(async move { ops::apply_provider_status(c, ws, inbox, &external_id, status, error.as_deref(), now).await })).await
    }
    pub async fn record_echo(&self, ws: WorkspaceId, inbox: InboxId, who: ProviderIdentity, external_id: &str, content: &str, now: Timestamp) -> Result<Written<Option<Message>>> {
        let (external_id, content) = (external_id.to_owned(), content.to_owned());
        let mut attempt = 0;
        loop {
            let (who, external_id, content) = (who.clone(), external_id.clone(), content.clone());
            match self.write(move |c| Box::pin(async move { ops::record_echo(c, ws, inbox, &who, &external_id, &content, now).await })).await {
                Err(e) if is_dedup_race(&e) && attempt < DEDUP_RACE_RETRIES => attempt += 1,
                other => return other,
            }
        }
    }
    pub async fn outbox_claim(&self, ws: WorkspaceId, id: i64, lease_until: Timestamp, now: Timestamp) -> Result<bool> {
        self.write(move |c| Box::pin(async move { ops::outbox_claim(c, ws, id, lease_until, now).await })).await
    }
    pub async fn latest_conversation(&self, ws: WorkspaceId, inbox: InboxId, contact: ContactId) -> Result<Option<ConversationId>> {
        ops::latest_conversation(&mut *self.read().await?, ws, inbox, contact).await
    }
    pub async fn email_inboxes(&self) -> Result<Vec<Inbox>> {
        ops::email_inboxes(&mut *self.read().await?).await
    }
    pub async fn email_thread_conversation(&self, ws: WorkspaceId, inbox: InboxId, keys: &[String]) -> Result<Option<ConversationId>> {
        ops::email_thread_conversation(&mut *self.read().await?, ws, inbox, keys).await
    }
    pub async fn email_thread(&self, ws: WorkspaceId, conversation: ConversationId) -> Result<EmailThread> {
        ops::email_thread(&mut *self.read().await?, ws, conversation).await
    }
    pub async fn record_email_message(&self, ws: WorkspaceId, inbox: InboxId, record: EmailRecord, now: Timestamp) -> Result<()> {
        self.write(move |c| Box::pin(async move { ops::record_email_message(c, ws, inbox, &record, now).await })).await
    }
    pub async fn due_outbox(&self, now: Timestamp, limit: i64) -> Result<Vec<OutboxItem>> {
        ops::due_outbox(&mut *self.read().await?, now, limit).await
    }
    pub async fn outbox_sent(&self, ws: WorkspaceId, id: i64, external_id: &str, now: Timestamp) -> Result<Written<Message>> {
        let external_id = external_id.to_owned();
        self.write(move |c| Box::pin(async move { ops::outbox_sent(c, ws, id, &external_id, now).await })).await
    }
    pub async fn outbox_failed(&self, ws: WorkspaceId, id: i64, reason: &str, now: Timestamp) -> Result<Written<Message>> {
        let reason = reason.to_owned();
        self.write(move |c| Box::pin(async move { ops::outbox_failed(c, ws, id, &reason, now).await })).await
    }
    pub async fn outbox_retry(&self, ws: WorkspaceId, id: i64, next_at: Timestamp, error: &str, now: Timestamp) -> Result<()> {
        let error = error.to_owned();
        self.write(move |c| Box::pin(async move { ops::outbox_retry(c, ws, id, next_at, &error, now).await })).await
    }
}
