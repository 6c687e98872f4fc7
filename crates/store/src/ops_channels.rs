// Provider channels: contact identities, delivery statuses by the
// provider's message id, and the durable outbox. Part of `ops.rs`
// (included at its end, sharing its `Db`/`Conn` types and helpers).

/// The contact behind a provider identity at an inbox. On first contact it
/// is created — or, when a contact with the same phone exists, linked to it
/// (one card per person across channels).
pub async fn contact_for_identity(c: &mut Conn, ws: WorkspaceId, inbox: InboxId, who: &ProviderIdentity, now: Timestamp) -> Result<Contact> {
    if let Some(contact) = identity_contact(c, ws, inbox, &who.external_id).await? {
        return Ok(contact);
    }
    if get_inbox(c, ws, inbox).await?.is_none() {
        return Err(StoreError::NotFound);
    }
    let same_phone = match who.phone.as_deref() {
        Some(phone) => sqlx::query("SELECT id FROM contacts WHERE workspace_id = $1 AND phone = $2 ORDER BY id LIMIT 1")
            .bind(ws.0)
            .bind(phone)
            .fetch_optional(&mut *c)
            .await?
            .map(|r| r.try_get::<i64, _>(0))
            .transpose()?,
        None => None,
    };
    let contact_id = match same_phone {
        Some(id) => ContactId(id),
        None => {
            let fields = ContactFields {
                name: Some(who.name.clone()),
                phone: Some(who.phone.clone()),
                ..ContactFields::default()
            };
            create_contact(c, ws, &fields, now).await?.id
        }
    };
    sqlx::query(
        "INSERT INTO contact_identities (workspace_id, inbox_id, external_id, contact_id, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace_id, inbox_id, external_id) DO NOTHING",
    )
    .bind(ws.0)
    .bind(inbox.0)
    .bind(&who.external_id)
    .bind(contact_id.0)
    .bind(now.0)
    .execute(&mut *c)
    .await?;
    // A concurrent first message (PostgreSQL) may have linked another card:
    // the stored identity wins.
    identity_contact(c, ws, inbox, &who.external_id).await?.ok_or(StoreError::NotFound)
}

/// Whether a message with this dedup key is stored. A webhook asks before
/// fetching a message's files, so a redelivery downloads nothing again.
pub async fn dedup_key_seen(c: &mut Conn, ws: WorkspaceId, key: &str) -> Result<bool> {
    let r = sqlx::query("SELECT 1 FROM messages WHERE workspace_id = $1 AND dedup_key = $2")
        .bind(ws.0)
        .bind(key)
        .fetch_optional(&mut *c)
        .await?;
    Ok(r.is_some())
}

pub async fn identity_contact(c: &mut Conn, ws: WorkspaceId, inbox: InboxId, external_id: &str) -> Result<Option<Contact>> {
    let r = sqlx::query("SELECT contact_id FROM contact_identities WHERE workspace_id = $1 AND inbox_id = $2 AND external_id = $3")
        .bind(ws.0)
        .bind(inbox.0)
        .bind(external_id)
        .fetch_optional(&mut *c)
        .await?;
    match r {
        Some(r) => get_contact(c, ws, ContactId(r.try_get(0)?)).await,
        None => Ok(None),
    }
}

/// Moves a sent message's delivery status forward by the provider's id
/// (never backwards: receipts arrive out of order and repeated). Unknown
/// ids are a no-op.
pub async fn apply_provider_status(
    c: &mut Conn,
    ws: WorkspaceId,
    inbox: InboxId,
    external_id: &str,
    status: DeliveryStatus,
    error: Option<&str>,
    now: Timestamp,
) -> Result<Written<Option<Message>>> {
    let r = sqlx::query(
        "SELECT m.id, m.status FROM messages m JOIN conversations cv ON cv.id = m.conversation_id
          WHERE m.workspace_id = $1 AND m.provider_message_id = $2 AND cv.inbox_id = $3",
    )
    .bind(ws.0)
    .bind(external_id)
    .bind(inbox.0)
    .fetch_optional(&mut *c)
    .await?;
    let Some(r) = r else { return Ok(Written { value: None, events: Vec::new() }) };
    let id: i64 = r.try_get("id")?;
    let current = parse("status", r.try_get("status")?, DeliveryStatus::parse)?;
    if !current.may_advance_to(status) {
        return Ok(Written { value: None, events: Vec::new() });
    }
    let reason = (status == DeliveryStatus::Failed).then(|| error.unwrap_or("the provider reported a failure"));
    sqlx::query(
        "UPDATE messages SET status = $1, failure_reason = COALESCE($2, failure_reason)
          WHERE workspace_id = $3 AND id = $4 AND status = $5",
    )
    .bind(status.as_str())
    .bind(reason)
    .bind(ws.0)
    .bind(id)
    .bind(current.as_str())
    .execute(&mut *c)
    .await?;
    message_updated(c, ws, id, now).await.map(|w| Written { value: Some(w.value), events: w.events })
}

async fn message_updated(c: &mut Conn, ws: WorkspaceId, id: i64, now: Timestamp) -> Result<Written<Message>> {
    let mut message = get_message(c, ws, id).await?;
    attach_files(c, ws, std::slice::from_mut(&mut message)).await?;
    let conversation = must_conversation(c, ws, message.conversation_id).await?;
    let events = vec![Event::conversation(ws, &conversation, EventPayload::MessageUpdated(message.clone()))];
    record(c, &events, now).await?;
    Ok(Written { value: message, events })
}

async fn enqueue_outbox(
    c: &mut Conn,
    ws: WorkspaceId,
    message: MessageId,
    conversation: ConversationId,
    inbox: InboxId,
    template: Option<&str>,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (workspace_id, message_id, conversation_id, inbox_id, status, attempts, next_attempt_at, created_at, updated_at, template)
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, $5, $6)",
    )
    .bind(ws.0)
    .bind(message.0)
    .bind(conversation.0)
    .bind(inbox.0)
    .bind(now.0)
    .bind(template)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// When the customer last wrote in this conversation (messaging windows).
pub async fn last_inbound_at(c: &mut Conn, ws: WorkspaceId, id: ConversationId) -> Result<Option<Timestamp>> {
    let r = sqlx::query("SELECT MAX(created_at) FROM messages WHERE workspace_id = $1 AND conversation_id = $2 AND kind = 'in'")
        .bind(ws.0)
        .bind(id.0)
        .fetch_one(&mut *c)
        .await?;
    Ok(r.try_get::<Option<i64>, _>(0)?.map(Timestamp))
}

/// Sends that are due, across workspaces: for each conversation only its
/// oldest pending one, so a conversation's messages leave in order.
pub async fn due_outbox(c: &mut Conn, now: Timestamp, limit: i64) -> Result<Vec<OutboxItem>> {
    let rows = sqlx::query(
        "SELECT o.id, o.workspace_id, o.message_id, o.conversation_id, o.inbox_id, o.attempts, m.content, o.template,
                (SELECT ci.external_id FROM contact_identities ci
                  WHERE ci.workspace_id = o.workspace_id AND ci.inbox_id = o.inbox_id AND ci.contact_id = cv.contact_id
                  ORDER BY ci.created_at LIMIT 1) AS recipient,
                (SELECT MAX(i.created_at) FROM messages i WHERE i.conversation_id = o.conversation_id AND i.kind = 'in') AS last_inbound_at,
                o.attempt_started_at, o.in_doubt_at
           FROM outbox o
           JOIN messages m ON m.id = o.message_id
           JOIN conversations cv ON cv.id = o.conversation_id
          WHERE o.status = 'pending' AND o.next_attempt_at <= $1
            AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.conversation_id = o.conversation_id AND e.status = 'pending' AND e.id < o.id)
          ORDER BY o.id LIMIT $2",
    )
    .bind(now.0)
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OutboxItem {
                id: r.try_get("id")?,
                workspace_id: WorkspaceId(r.try_get("workspace_id")?),
                message_id: MessageId(r.try_get("message_id")?),
                conversation_id: ConversationId(r.try_get("conversation_id")?),
                inbox_id: InboxId(r.try_get("inbox_id")?),
                attempts: r.try_get("attempts")?,
                content: r.try_get("content")?,
                template: r.try_get("template")?,
                recipient: r.try_get("recipient")?,
                last_inbound_at: r.try_get::<Option<i64>, _>("last_inbound_at")?.map(Timestamp),
                attempt_started_at: r.try_get::<Option<i64>, _>("attempt_started_at")?.map(Timestamp),
                in_doubt_at: r.try_get::<Option<i64>, _>("in_doubt_at")?.map(Timestamp),
            })
        })
        .collect()
}

/// What an agent reads on a message sent again after an attempt whose
/// outcome is unknown (at-least-once channels, or WhatsApp when no status
/// named the earlier attempt within the grace period).
pub const MAYBE_SENT_TWICE: &str = "may have been sent twice: an earlier attempt's outcome is unknown (the server stopped mid-send or the provider did not answer)";

/// The provider accepted the send: the message is sent, with its id. A
/// row that was in doubt is marked as possibly sent twice.
pub async fn outbox_sent(c: &mut Conn, ws: WorkspaceId, id: i64, external_id: &str, now: Timestamp) -> Result<Written<Message>> {
    let (message_id, in_doubt) = settle_outbox(c, ws, id, "sent", None, now).await?;
    sqlx::query(
        "UPDATE messages SET provider_message_id = $1, status = CASE WHEN status = 'queued' THEN 'sent' ELSE status END,
                failure_reason = CASE WHEN $2 THEN $3 ELSE failure_reason END
          WHERE workspace_id = $4 AND id = $5",
    )
    .bind(external_id)
    .bind(in_doubt)
    .bind(MAYBE_SENT_TWICE)
    .bind(ws.0)
    .bind(message_id)
    .execute(&mut *c)
    .await?;
    message_updated(c, ws, message_id, now).await
}

/// The provider named one of our sends by its idempotency key (WhatsApp's
/// `biz_opaque_callback_data` on a status webhook, Messenger's `metadata`
/// on an echo) before the worker stored the outcome — a send in flight, or
/// one whose worker died. The pending row of that message at this inbox is
/// settled as sent with the provider's id, so it is never sent again; a
/// row already settled, or a message of another inbox, is a no-op (`None`).
pub async fn outbox_sent_by_key(
    c: &mut Conn,
    ws: WorkspaceId,
    inbox: InboxId,
    message: MessageId,
    external_id: &str,
    now: Timestamp,
) -> Result<Written<Option<Message>>> {
    let r = sqlx::query(
        "UPDATE outbox SET status = 'sent', attempts = attempts + 1, attempt_started_at = NULL, updated_at = $1
          WHERE workspace_id = $2 AND inbox_id = $3 AND message_id = $4 AND status = 'pending'
            AND EXISTS (SELECT 1 FROM messages m WHERE m.id = outbox.message_id AND m.provider_message_id IS NULL)
          RETURNING id",
    )
    .bind(now.0)
    .bind(ws.0)
    .bind(inbox.0)
    .bind(message.0)
    .fetch_optional(&mut *c)
    .await?;
    if r.is_none() {
        return Ok(Written { value: None, events: Vec::new() });
    }
    sqlx::query(
        "UPDATE messages SET provider_message_id = $1, status = CASE WHEN status = 'queued' THEN 'sent' ELSE status END
          WHERE workspace_id = $2 AND id = $3",
    )
    .bind(external_id)
    .bind(ws.0)
    .bind(message.0)
    .execute(&mut *c)
    .await?;
    message_updated(c, ws, message.0, now).await.map(|w| Written { value: Some(w.value), events: w.events })
}

/// An attempt whose outcome is unknown (a crash mid-send found after the
/// lease ran out, or a send the provider never answered): the row is in
/// doubt from now (if not already) and is looked at again at `next_at`.
pub async fn outbox_in_doubt(c: &mut Conn, ws: WorkspaceId, id: i64, next_at: Timestamp, note: &str, now: Timestamp) -> Result<()> {
    reschedule_outbox(c, ws, id, next_at, note, true, now).await
}

/// The provider refused for good: the message failed, with its reason.
pub async fn outbox_failed(c: &mut Conn, ws: WorkspaceId, id: i64, reason: &str, now: Timestamp) -> Result<Written<Message>> {
    let (message_id, _) = settle_outbox(c, ws, id, "failed", Some(reason), now).await?;
    sqlx::query("UPDATE messages SET status = 'failed', failure_reason = $1 WHERE workspace_id = $2 AND id = $3")
        .bind(reason)
        .bind(ws.0)
        .bind(message_id)
        .execute(&mut *c)
        .await?;
    message_updated(c, ws, message_id, now).await
}

/// Try again at `next_at`.
pub async fn outbox_retry(c: &mut Conn, ws: WorkspaceId, id: i64, next_at: Timestamp, error: &str, now: Timestamp) -> Result<()> {
    reschedule_outbox(c, ws, id, next_at, error, false, now).await
}

/// A pending row's attempt ended without an outcome to record: counted,
/// looked at again at `next_at`; `in_doubt` marks it in doubt from now
/// unless it already was.
async fn reschedule_outbox(c: &mut Conn, ws: WorkspaceId, id: i64, next_at: Timestamp, note: &str, in_doubt: bool, now: Timestamp) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2, updated_at = $3, attempt_started_at = NULL,
                in_doubt_at = CASE WHEN $6 THEN COALESCE(in_doubt_at, $3) ELSE in_doubt_at END
          WHERE workspace_id = $4 AND id = $5 AND status = 'pending'",
    )
    .bind(next_at.0)
    .bind(note)
    .bind(now.0)
    .bind(ws.0)
    .bind(id)
    .bind(in_doubt)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Ends a pending row; answers its message id and whether it was ever in
/// doubt. A row already settled (by another worker, or by the provider
/// naming its key) is a conflict, so nothing is recorded twice.
async fn settle_outbox(c: &mut Conn, ws: WorkspaceId, id: i64, status: &str, error: Option<&str>, now: Timestamp) -> Result<(i64, bool)> {
    let r = sqlx::query(
        "UPDATE outbox SET status = $1, attempts = attempts + 1, last_error = COALESCE($2, last_error), updated_at = $3, attempt_started_at = NULL
          WHERE workspace_id = $4 AND id = $5 AND status = 'pending' RETURNING message_id, in_doubt_at",
    )
    .bind(status)
    .bind(error)
    .bind(now.0)
    .bind(ws.0)
    .bind(id)
    .fetch_optional(&mut *c)
    .await?;
    match r {
        Some(r) => Ok((r.try_get(0)?, r.try_get::<Option<i64>, _>(1)?.is_some())),
        None => Err(StoreError::conflict("outbox_settled", "this send was already settled")),
    }
}

/// Takes a due row for one send attempt: only one worker (of any node) wins
/// it, and until `lease_until` nobody else tries. A crash mid-send leaves
/// the lease to run out with `attempt_started_at` still set: the next
/// claim finds it so and records the row as in doubt from then.
pub async fn outbox_claim(c: &mut Conn, ws: WorkspaceId, id: i64, lease_until: Timestamp, now: Timestamp) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE outbox SET next_attempt_at = $1, updated_at = $2, attempt_started_at = $2,
                in_doubt_at = CASE WHEN attempt_started_at IS NOT NULL THEN COALESCE(in_doubt_at, $2) ELSE in_doubt_at END
          WHERE workspace_id = $3 AND id = $4 AND status = 'pending' AND next_attempt_at <= $2",
    )
    .bind(lease_until.0)
    .bind(now.0)
    .bind(ws.0)
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An inbox as its provider's webhook names it: by id alone, because the
/// provider's URL carries no workspace. Nothing from it is trusted until
/// the payload's signature checks out with this inbox's secret.
pub async fn webhook_inbox(c: &mut Conn, channel: Channel, id: InboxId) -> Result<Option<Inbox>> {
    let r = sqlx::query(&format!("{INBOX_SELECT} WHERE id = $1 AND channel = $2"))
        .bind(id.0)
        .bind(channel.as_str())
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(inbox_row).transpose()
}

/// Moves forward every message sent to the contact behind `peer` at this
/// inbox whose send was recorded at or before `up_to` (a provider's
/// delivery/read watermark, which names no message). The send's record
/// time is the outbox row settling, which comes after the provider stamped
/// the message: a watermark between the two leaves the message behind
/// rather than marking one the customer may not have seen.
pub async fn advance_delivery_until(
    c: &mut Conn,
    ws: WorkspaceId,
    inbox: InboxId,
    peer: &str,
    up_to: Timestamp,
    status: DeliveryStatus,
    now: Timestamp,
) -> Result<Written<Vec<Message>>> {
    let from: Vec<&str> = DeliveryStatus::ALL.iter().filter(|s| s.may_advance_to(status)).map(|s| s.as_str()).collect();
    if from.is_empty() {
        return Ok(Written { value: Vec::new(), events: Vec::new() });
    }
    let mut qb = QueryBuilder::<Db>::new("UPDATE messages SET status = ");
    qb.push_bind(status.as_str())
        .push(" WHERE workspace_id = ")
        .push_bind(ws.0)
        .push(" AND kind = 'out' AND provider_message_id IS NOT NULL AND id IN (SELECT o.message_id FROM outbox o WHERE o.workspace_id = ")
        .push_bind(ws.0)
        .push(" AND o.inbox_id = ")
        .push_bind(inbox.0)
        .push(" AND o.status = 'sent' AND o.updated_at <= ")
        .push_bind(up_to.0)
        .push(") AND conversation_id IN (SELECT cv.id FROM conversations cv JOIN contact_identities ci ON ci.contact_id = cv.contact_id AND ci.workspace_id = cv.workspace_id AND ci.inbox_id = cv.inbox_id WHERE cv.workspace_id = ")
        .push_bind(ws.0)
        .push(" AND cv.inbox_id = ")
        .push_bind(inbox.0)
        .push(" AND ci.external_id = ")
        .push_bind(peer)
        .push(") AND status IN (");
    let mut sep = qb.separated(", ");
    for s in from {
        sep.push_bind(s);
    }
    qb.push(") RETURNING id");
    let ids: Vec<i64> = qb.build().fetch_all(&mut *c).await?.iter().map(|r| r.try_get(0)).collect::<std::result::Result<_, _>>()?;
    let mut messages = Vec::with_capacity(ids.len());
    let mut events = Vec::with_capacity(ids.len());
    for id in ids {
        let written = message_updated(c, ws, id, now).await?;
        events.extend(written.events);
        messages.push(written.value);
    }
    Ok(Written { value: messages, events })
}

/// A message the business sent to `who` from the provider's own app (an
/// echo): stored in the contact's open conversation as sent outbound, never
/// queued in the outbox, and not an agent's reply (no SLA or assignment
/// change). An id already stored in the workspace — a redelivered echo, or
/// the echo of our own send, whose id the outbox recorded — is a no-op
/// (`None`).
pub async fn record_echo(
    c: &mut Conn,
    ws: WorkspaceId,
    inbox: InboxId,
    who: &ProviderIdentity,
    external_id: &str,
    content: &str,
    now: Timestamp,
) -> Result<Written<Option<Message>>> {
    record_echo_keyed(c, ws, inbox, who, external_id, content, None, now).await
}

/// `record_echo` for an echo that may be of our own send whose outcome the
/// outbox has not stored yet (the echo raced the send's answer, or the
/// worker died): the send named by `key` (the idempotency key the provider
/// handed back), else the send in flight at this inbox to the same person
/// with the same text, is settled as sent with the echo's id — the
/// message the agent wrote, never a second copy. Answers that message.
#[allow(clippy::too_many_arguments)]
pub async fn record_echo_keyed(
    c: &mut Conn,
    ws: WorkspaceId,
    inbox: InboxId,
    who: &ProviderIdentity,
    external_id: &str,
    content: &str,
    key: Option<MessageId>,
    now: Timestamp,
) -> Result<Written<Option<Message>>> {
    let known = sqlx::query("SELECT 1 FROM messages WHERE workspace_id = $1 AND provider_message_id = $2")
        .bind(ws.0)
        .bind(external_id)
        .fetch_optional(&mut *c)
        .await?;
    let Some(found) = get_inbox(c, ws, inbox).await? else { return Err(StoreError::NotFound) };
    let dedup_key = format!("{}:{}:echo:{external_id}", found.channel.as_str(), inbox.0);
    if known.is_some() || message_by_dedup_key(c, ws, &dedup_key).await?.is_some() {
        return Ok(Written { value: None, events: Vec::new() });
    }
    if let Some(key) = key {
        let settled = outbox_sent_by_key(c, ws, inbox, key, external_id, now).await?;
        if settled.value.is_some() {
            return Ok(settled);
        }
    }
    let in_flight = sqlx::query(
        "SELECT o.message_id FROM outbox o
           JOIN messages m ON m.id = o.message_id
           JOIN conversations cv ON cv.id = o.conversation_id
           JOIN contact_identities ci ON ci.workspace_id = o.workspace_id AND ci.inbox_id = o.inbox_id AND ci.contact_id = cv.contact_id
          WHERE o.workspace_id = $1 AND o.inbox_id = $2 AND o.status = 'pending' AND o.attempt_started_at IS NOT NULL
            AND m.provider_message_id IS NULL AND m.content = $3 AND ci.external_id = $4
          ORDER BY o.id LIMIT 1",
    )
    .bind(ws.0)
    .bind(inbox.0)
    .bind(content)
    .bind(&who.external_id)
    .fetch_optional(&mut *c)
    .await?;
    if let Some(r) = in_flight {
        let settled = outbox_sent_by_key(c, ws, inbox, MessageId(r.try_get(0)?), external_id, now).await?;
        if settled.value.is_some() {
            return Ok(settled);
        }
    }
    let contact = contact_for_identity(c, ws, inbox, who, now).await?;
    // The customer has not written: a new conversation is not waiting.
    let (conversation_id, open) = conversation_to_write(c, ws, inbox, contact.id, None, now).await?;
    let app = match found.channel {
        Channel::Whatsapp => "the WhatsApp app",
        Channel::Messenger => "the Facebook Page",
        Channel::Instagram => "the Instagram app",
        Channel::Telegram => "the Telegram app",
        Channel::Viber => "the Viber app",
        _ => "the provider's app",
    };
    let sender = Sender { kind: SenderType::System, id: None, name: Some(format!("Sent from {app}")) };
    let message_id =
        insert_message(c, ws, conversation_id, MessageKind::Out, content, &sender, DeliveryStatus::Sent, None, Some(&dedup_key), now).await?;
    sqlx::query("UPDATE messages SET provider_message_id = $1 WHERE workspace_id = $2 AND id = $3")
        .bind(external_id)
        .bind(ws.0)
        .bind(message_id.0)
        .execute(&mut *c)
        .await?;
    let message = get_message(c, ws, message_id.0).await?;
    sqlx::query("UPDATE conversations SET last_message_id = $1, last_activity_at = $2 WHERE workspace_id = $3 AND id = $4")
        .bind(message.id.0)
        .bind(now.0)
        .bind(ws.0)
        .bind(conversation_id.0)
        .execute(&mut *c)
        .await?;
    let conversation = must_conversation(c, ws, conversation_id).await?;
    let conv_event = match open {
        None => EventPayload::ConversationCreated(Box::new(conversation.clone())),
        Some(_) => EventPayload::ConversationUpdated(Box::new(conversation.clone())),
    };
    let events = vec![
        Event::conversation(ws, &conversation, conv_event),
        Event::conversation(ws, &conversation, EventPayload::MessageCreated(message.clone())),
    ];
    record(c, &events, now).await?;
    Ok(Written { value: Some(message), events })
}

/// Every email inbox of every workspace (the IMAP poller's work list).
pub async fn email_inboxes(c: &mut Conn) -> Result<Vec<Inbox>> {
    let rows = sqlx::query(&format!("{INBOX_SELECT} WHERE channel = $1 ORDER BY id"))
        .bind(Channel::Email.as_str())
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(inbox_row).collect()
}

/// The conversation of the first of `keys` (Message-IDs a mail replies
/// to, nearest first) stored at this inbox.
pub async fn email_thread_conversation(c: &mut Conn, ws: WorkspaceId, inbox: InboxId, keys: &[String]) -> Result<Option<ConversationId>> {
    for key in keys {
        let r = sqlx::query("SELECT conversation_id FROM email_messages WHERE workspace_id = $1 AND inbox_id = $2 AND message_id = $3")
            .bind(ws.0)
            .bind(inbox.0)
            .bind(key)
            .fetch_optional(&mut *c)
            .await?;
        if let Some(r) = r {
            return Ok(Some(ConversationId(r.try_get(0)?)));
        }
    }
    Ok(None)
}

/// Records a mail's Message-ID for threading (a repeat is a no-op).
pub async fn record_email_message(c: &mut Conn, ws: WorkspaceId, inbox: InboxId, r: &EmailRecord, now: Timestamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO email_messages (workspace_id, inbox_id, message_id, conversation_id, message_row_id, direction, subject, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (workspace_id, inbox_id, message_id) DO NOTHING",
    )
    .bind(ws.0)
    .bind(inbox.0)
    .bind(&r.message_id)
    .bind(r.conversation_id.0)
    .bind(r.message_row_id)
    .bind(r.direction)
    .bind(r.subject.as_deref())
    .bind(now.0)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// What a reply in this conversation threads on: the first inbound mail's
/// subject and the latest inbound mail's Message-ID.
pub async fn email_thread(c: &mut Conn, ws: WorkspaceId, conversation: ConversationId) -> Result<EmailThread> {
    let first = sqlx::query(
        "SELECT subject FROM email_messages WHERE workspace_id = $1 AND conversation_id = $2 AND direction = 'in'
          ORDER BY created_at, message_row_id LIMIT 1",
    )
    .bind(ws.0)
    .bind(conversation.0)
    .fetch_optional(&mut *c)
    .await?;
    let latest = sqlx::query(
        "SELECT message_id FROM email_messages WHERE workspace_id = $1 AND conversation_id = $2 AND direction = 'in'
          ORDER BY created_at DESC, message_row_id DESC LIMIT 1",
    )
    .bind(ws.0)
    .bind(conversation.0)
    .fetch_optional(&mut *c)
    .await?;
    Ok(EmailThread {
        first_subject: first.map(|r| r.try_get::<Option<String>, _>(0)).transpose()?.flatten(),
        latest_inbound_id: latest.map(|r| r.try_get::<String, _>(0)).transpose()?,
    })
}

/// The contact's latest conversation in the inbox (where its next message
/// goes unless that one is resolved).
pub async fn latest_conversation(c: &mut Conn, ws: WorkspaceId, inbox: InboxId, contact: ContactId) -> Result<Option<ConversationId>> {
    let r = sqlx::query("SELECT id FROM conversations WHERE workspace_id = $1 AND contact_id = $2 AND inbox_id = $3 ORDER BY id DESC LIMIT 1")
        .bind(ws.0)
        .bind(contact.0)
        .bind(inbox.0)
        .fetch_optional(&mut *c)
        .await?;
    r.map(|r| r.try_get::<i64, _>(0).map(ConversationId)).transpose().map_err(Into::into)
}

/// The files of an outgoing message, in upload order, for the outbox to
/// send with it.
pub async fn message_files(c: &mut Conn, ws: WorkspaceId, message: MessageId) -> Result<Vec<StoredFile>> {
    let rows = sqlx::query("SELECT filename, content_type, data FROM attachments WHERE workspace_id = $1 AND message_id = $2 ORDER BY id")
        .bind(ws.0)
        .bind(message.0)
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(stored_file).collect()
}
