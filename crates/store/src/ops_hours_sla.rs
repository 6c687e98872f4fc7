// Team business hours, automation settings, automatic replies, SLA breaches
// and idle auto-resolve. Part of `ops.rs` (included at its end, sharing its
// `Db`/`Conn` types and helpers); its own file to keep that one readable.
//
// The scanner's queries here run for every workspace every few seconds, so
// each is bounded (LIMIT) and served by a partial index of migration 0006;
// every write that may race with another node is decided by a unique key
// or a conditional UPDATE, and only the winner gets events to publish.

async fn team_exists(c: &mut Conn, ws: WorkspaceId, team: TeamId) -> Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM teams WHERE workspace_id = $1 AND id = $2")
        .bind(ws.0)
        .bind(team.0)
        .fetch_optional(&mut *c)
        .await?
        .is_some())
}

/// The team's own hours; `None` when it uses the workspace's. A team of
/// another workspace is not found.
pub async fn get_team_business_hours(c: &mut Conn, ws: WorkspaceId, team: TeamId) -> Result<Option<String>> {
    if !team_exists(c, ws, team).await? {
        return Err(StoreError::NotFound);
    }
    let r = sqlx::query("SELECT config FROM team_business_hours WHERE workspace_id = $1 AND team_id = $2")
        .bind(ws.0)
        .bind(team.0)
        .fetch_optional(&mut *c)
        .await?;
    Ok(r.map(|r| r.try_get(0)).transpose()?)
}

/// Sets (`Some`) or removes (`None`: back to the workspace's) a team's hours.
pub async fn set_team_business_hours(c: &mut Conn, ws: WorkspaceId, team: TeamId, config: Option<&str>, now: Timestamp) -> Result<()> {
    if !team_exists(c, ws, team).await? {
        return Err(StoreError::NotFound);
    }
    match config {
        Some(config) => {
            sqlx::query(
                "INSERT INTO team_business_hours (team_id, workspace_id, config, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (team_id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
            )
            .bind(team.0)
            .bind(ws.0)
            .bind(config)
            .bind(now.0)
            .execute(&mut *c)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM team_business_hours WHERE workspace_id = $1 AND team_id = $2")
                .bind(ws.0)
                .bind(team.0)
                .execute(&mut *c)
                .await?;
        }
    }
    Ok(())
}

/// The hours that apply to a conversation of `team`: the team's own, else
/// the workspace's; `None` when neither was ever set.
pub async fn effective_business_hours(c: &mut Conn, ws: WorkspaceId, team: Option<TeamId>) -> Result<Option<String>> {
    if let Some(team) = team {
        let r = sqlx::query("SELECT config FROM team_business_hours WHERE workspace_id = $1 AND team_id = $2")
            .bind(ws.0)
            .bind(team.0)
            .fetch_optional(&mut *c)
            .await?;
        if let Some(r) = r {
            return Ok(Some(r.try_get(0)?));
        }
    }
    get_business_hours(c, ws).await
}

/// Every team override of the workspace (a handful of rows).
pub async fn list_team_business_hours(c: &mut Conn, ws: WorkspaceId) -> Result<Vec<(TeamId, String)>> {
    let rows = sqlx::query("SELECT team_id, config FROM team_business_hours WHERE workspace_id = $1 ORDER BY team_id")
        .bind(ws.0)
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(|r| Ok((TeamId(r.try_get(0)?), r.try_get(1)?))).collect()
}

pub async fn get_automation_settings(c: &mut Conn, ws: WorkspaceId) -> Result<Option<String>> {
    get_doc(c, WorkspaceDoc::AutomationSettings, ws).await
}

pub async fn set_automation_settings(c: &mut Conn, ws: WorkspaceId, config: &str, now: Timestamp) -> Result<()> {
    set_doc(c, WorkspaceDoc::AutomationSettings, ws, config, now).await
}

/// Workspaces that have automation settings, in id order after `after`:
/// the scanner pages through them.
pub async fn automation_settings_page(c: &mut Conn, after: Option<WorkspaceId>, limit: i64) -> Result<Vec<(WorkspaceId, String)>> {
    let rows = sqlx::query("SELECT workspace_id, config FROM automation_settings WHERE workspace_id > $1 ORDER BY workspace_id LIMIT $2")
        .bind(after.map_or(0, |w| w.0))
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(|r| Ok((WorkspaceId(r.try_get(0)?), r.try_get(1)?))).collect()
}

/// Sends `m` unless a reply of this kind was already sent into the
/// conversation; `None` then. The marker row and the message commit
/// together, so a reply is never sent twice nor marked without being sent.
pub async fn send_auto_reply(
    c: &mut Conn,
    ws: WorkspaceId,
    id: ConversationId,
    kind: AutoReply,
    m: &OutboundMessage,
    now: Timestamp,
) -> Result<Option<Written<Message>>> {
    must_conversation(c, ws, id).await?;
    let inserted = sqlx::query(
        "INSERT INTO auto_replies (conversation_id, kind, workspace_id, sent_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (conversation_id, kind) DO NOTHING",
    )
    .bind(id.0)
    .bind(kind.as_str())
    .bind(ws.0)
    .bind(now.0)
    .execute(&mut *c)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(None);
    }
    send_message(c, ws, id, m, now).await.map(Some)
}

/// Conversations whose `kind` clock started at or before `started_before`,
/// is still running, and has no breach recorded; oldest clock first. Due
/// times only grow with the start (also in business hours), so the oldest
/// are the first to breach and a full page of not-yet-due rows means none
/// further on is due either.
pub async fn sla_candidates(c: &mut Conn, ws: WorkspaceId, kind: sla::SlaKind, started_before: Timestamp, limit: i64) -> Result<Vec<Conversation>> {
    // The literal predicates match the partial indexes' WHERE clauses.
    let (filter, start) = match kind {
        sla::SlaKind::FirstResponse => ("c.first_reply_at IS NULL AND c.status <> 'resolved' AND c.created_at <= $2", "c.created_at"),
        sla::SlaKind::NextResponse => (
            "c.waiting_since IS NOT NULL AND c.status <> 'resolved' AND c.first_reply_at IS NOT NULL AND c.waiting_since <= $2",
            "c.waiting_since",
        ),
        sla::SlaKind::Resolution => ("c.status <> 'resolved' AND c.created_at <= $2", "c.created_at"),
    };
    let rows = sqlx::query(&format!(
        "SELECT c.id FROM conversations c
          WHERE c.workspace_id = $1 AND {filter}
            AND NOT EXISTS (SELECT 1 FROM sla_breaches b
                             WHERE b.conversation_id = c.id AND b.kind = $3 AND b.started_at = {start})
          ORDER BY {start}, c.id LIMIT $4"
    ))
    .bind(ws.0)
    .bind(started_before.0)
    .bind(kind.as_str())
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    let ids = rows.iter().map(|r| r.try_get(0)).collect::<std::result::Result<Vec<i64>, _>>()?;
    fetch_conversations(c, ws, &ids).await
}

/// Records a breach unless that clock's breach is already recorded (by
/// this or another node): `None` then, and nothing to announce.
pub async fn record_sla_breach(c: &mut Conn, ws: WorkspaceId, b: &sla::DueBreach, now: Timestamp) -> Result<Option<Written<events::SlaBreach>>> {
    let conv = must_conversation(c, ws, b.conversation_id).await?;
    let created = sqlx::query(
        "INSERT INTO sla_breaches (workspace_id, conversation_id, kind, started_at, due_at, breached_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (conversation_id, kind, started_at) DO NOTHING RETURNING id",
    )
    .bind(ws.0)
    .bind(b.conversation_id.0)
    .bind(b.kind.as_str())
    .bind(b.started_at.0)
    .bind(b.due_at.0)
    .bind(now.0)
    .fetch_optional(&mut *c)
    .await?;
    if created.is_none() {
        return Ok(None);
    }
    let breach = b.event(now);
    let events = vec![Event::conversation(ws, &conv, EventPayload::SlaBreached(breach.clone()))];
    record(c, &events, now).await?;
    Ok(Some(Written { value: breach, events }))
}

/// The conversation's recorded breaches, oldest first.
pub async fn list_sla_breaches(c: &mut Conn, ws: WorkspaceId, id: ConversationId) -> Result<Vec<events::SlaBreach>> {
    let rows = sqlx::query(
        "SELECT conversation_id, kind, due_at, breached_at FROM sla_breaches
          WHERE workspace_id = $1 AND conversation_id = $2 ORDER BY breached_at, id",
    )
    .bind(ws.0)
    .bind(id.0)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(events::SlaBreach {
                conversation_id: ConversationId(r.try_get("conversation_id")?),
                kind: r.try_get("kind")?,
                due_at: ts(r.try_get("due_at")?),
                breached_at: ts(r.try_get("breached_at")?),
            })
        })
        .collect()
}

/// Open or pending conversations without activity since `idle_before`,
/// longest idle first.
pub async fn idle_conversations(c: &mut Conn, ws: WorkspaceId, idle_before: Timestamp, limit: i64) -> Result<Vec<Conversation>> {
    let rows = sqlx::query(
        "SELECT id FROM conversations
          WHERE workspace_id = $1 AND status IN ('open', 'pending') AND last_activity_at <= $2
          ORDER BY last_activity_at, id LIMIT $3",
    )
    .bind(ws.0)
    .bind(idle_before.0)
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    let ids = rows.iter().map(|r| r.try_get(0)).collect::<std::result::Result<Vec<i64>, _>>()?;
    fetch_conversations(c, ws, &ids).await
}

/// Resolves the conversation if it is still open or pending and idle since
/// `idle_before`, and adds the system line `note`; `None` if anything moved
/// meanwhile (a new message, another node resolving it first).
pub async fn auto_resolve(
    c: &mut Conn,
    ws: WorkspaceId,
    id: ConversationId,
    idle_before: Timestamp,
    note: &OutboundMessage,
    now: Timestamp,
) -> Result<Option<Written<Conversation>>> {
    // A no-op UPDATE as compare-and-set: on PostgreSQL it takes the row lock
    // and re-checks the condition after a concurrent writer commits, so of
    // two nodes only one sees a row; SQLite has one writer anyway.
    let still_idle = sqlx::query(
        "UPDATE conversations SET last_activity_at = last_activity_at
          WHERE workspace_id = $1 AND id = $2 AND status IN ('open', 'pending') AND last_activity_at <= $3",
    )
    .bind(ws.0)
    .bind(id.0)
    .bind(idle_before.0)
    .execute(&mut *c)
    .await?
    .rows_affected();
    if still_idle == 0 {
        return Ok(None);
    }
    let patch = ConversationPatch { status: Some(ConversationStatus::Resolved), ..Default::default() };
    let resolved = update_conversation(c, ws, id, &patch, now).await?;
    let line = send_message(c, ws, id, note, now).await?;
    let conversation = must_conversation(c, ws, id).await?;
    let mut events = resolved.events;
    events.extend(line.events);
    Ok(Some(Written { value: conversation, events }))
}
