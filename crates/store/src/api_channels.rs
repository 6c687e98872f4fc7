// Provider channels: the outbox's exactly-once bookkeeping. `include!`d by
// `api.rs` (beside the channel methods written there).
impl Backend {
    pub async fn outbox_sent_by_key(&self, ws: WorkspaceId, inbox: InboxId, message: MessageId, external_id: &str, now: Timestamp) -> Result<Written<Option<Message>>> {
        let external_id = external_id.to_owned();
        self.write(move |c| Box::pin(async move { ops::outbox_sent_by_key(c, ws, inbox, message, &external_id, now).await })).await
    }
    #[allow(clippy::too_many_arguments)]
    pub async fn record_echo_keyed(&self, ws: WorkspaceId, inbox: InboxId, who: ProviderIdentity, external_id: &str, content: &str, key: Option<MessageId>, now: Timestamp) -> Result<Written<Option<Message>>> {
        let (external_id, content) = (external_id.to_owned(), content.to_owned());
        let mut attempt = 0;
        loop {
            let (who, external_id, content) = (who.clone(), external_id.clone(), content.clone());
            match self.write(move |c| Box::pin(async move { ops::record_echo_keyed(c, ws, inbox, &who, &external_id, &content, key, now).await })).await {
                Err(e) if is_dedup_race(&e) && attempt < DEDUP_RACE_RETRIES => attempt += 1,
                other => return other,
            }
        }
    }
    pub async fn message_files(&self, ws: WorkspaceId, message: MessageId) -> Result<Vec<StoredFile>> {
        ops::message_files(&mut *self.read().await?, ws, message).await
    }
    pub async fn outbox_in_doubt(&self, ws: WorkspaceId, id: i64, next_at: Timestamp, note: &str, now: Timestamp) -> Result<()> {
        let note = note.to_owned();
        self.write(move |c| Box::pin(async move { ops::outbox_in_doubt(c, ws, id, next_at, &note, now).await })).await
    }
}
