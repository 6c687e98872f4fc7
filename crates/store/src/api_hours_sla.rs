// Public methods for team hours, automation settings, automatic replies,
// SLA breaches and auto-resolve. Part of `api.rs` (included at its end).

impl Backend {
    pub async fn get_team_business_hours(&self, ws: WorkspaceId, team: TeamId) -> Result<Option<String>> {
        ops::get_team_business_hours(&mut *self.read().await?, ws, team).await
    }
    pub async fn set_team_business_hours(&self, ws: WorkspaceId, team: TeamId, config: Option<String>, now: Timestamp) -> Result<()> {
        self.write(move |c| Box::pin(async move { ops::set_team_business_hours(c, ws, team, config.as_deref(), now).await })).await
    }
    pub async fn list_team_business_hours(&self, ws: WorkspaceId) -> Result<Vec<(TeamId, String)>> {
        ops::list_team_business_hours(&mut *self.read().await?, ws).await
    }
    pub async fn get_automation_settings(&self, ws: WorkspaceId) -> Result<Option<String>> {
        ops::get_automation_settings(&mut *self.read().await?, ws).await
    }
    pub async fn set_automation_settings(&self, ws: WorkspaceId, config: &str, now: Timestamp) -> Result<()> {
        let config = config.to_owned();
        self.write(move |c| Box::pin(async move { ops::set_automation_settings(c, ws, &config, now).await })).await
    }
    pub async fn automation_settings_page(&self, after: Option<WorkspaceId>, limit: i64) -> Result<Vec<(WorkspaceId, String)>> {
        ops::automation_settings_page(&mut *self.read().await?, after, limit).await
    }
    pub async fn send_auto_reply(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        kind: AutoReply,
        outbound: OutboundMessage,
        now: Timestamp,
    ) -> Result<Option<Written<Message>>> {
        self.write(move |c| Box::pin(async move { ops::send_auto_reply(c, ws, id, kind, &outbound, now).await })).await
    }
    pub async fn sla_candidates(&self, ws: WorkspaceId, kind: sla::SlaKind, started_before: Timestamp, limit: i64) -> Result<Vec<Conversation>> {
        ops::sla_candidates(&mut *self.read().await?, ws, kind, started_before, limit).await
    }
    pub async fn record_sla_breach(&self, ws: WorkspaceId, breach: sla::DueBreach, now: Timestamp) -> Result<Option<Written<events::SlaBreach>>> {
        self.write(move |c| Box::pin(async move { ops::record_sla_breach(c, ws, &breach, now).await })).await
    }
    pub async fn list_sla_breaches(&self, ws: WorkspaceId, id: ConversationId) -> Result<Vec<events::SlaBreach>> {
        ops::list_sla_breaches(&mut *self.read().await?, ws, id).await
    }
    pub async fn idle_conversations(&self, ws: WorkspaceId, idle_before: Timestamp, limit: i64) -> Result<Vec<Conversation>> {
        ops::idle_conversations(&mut *self.read().await?, ws, idle_before, limit).await
    }
    pub async fn auto_resolve(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        idle_before: Timestamp,
        note: OutboundMessage,
        now: Timestamp,
    ) -> Result<Option<Written<Conversation>>> {
        self.write(move |c| Box::pin(async move { ops::auto_resolve(c, ws, id, idle_before, &note, now).await })).await
    }
}
