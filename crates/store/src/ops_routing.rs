// Routing settings and what the router rebuilds its state from. Part of
// `ops.rs` (included at its end, sharing its `Db`/`Conn` types and helpers).

use switchboard_core::routing::team_select::RoutingRules;
use switchboard_core::routing::{AgentProfile, SkillRequirement, TeamRouting};

/// A JSON document column; NULL means the type's defaults.
fn json_doc<T: serde::de::DeserializeOwned + Default>(column: &str, text: Option<String>) -> Result<T> {
    match text {
        None => Ok(T::default()),
        Some(t) => serde_json::from_str(&t).map_err(|_| corrupt(column, &t)),
    }
}

fn to_doc<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(sqlx::Error::Encode(Box::new(e))))
}

fn routing_changed(ws: WorkspaceId) -> Event {
    Event { workspace_id: ws, scope: None, payload: EventPayload::RoutingChanged }
}

pub async fn set_team_routing(c: &mut Conn, ws: WorkspaceId, team: TeamId, routing: &TeamRouting, now: Timestamp) -> Result<Written<Team>> {
    if let Some(o) = routing.overflow
        && (o.to_team_id == team || get_team(c, ws, o.to_team_id).await?.is_none())
    {
        return Err(StoreError::Invalid("overflow.to_team_id must be another team of this workspace".into()));
    }
    let done = sqlx::query("UPDATE teams SET routing = $1 WHERE workspace_id = $2 AND id = $3")
        .bind(to_doc(routing)?)
        .bind(ws.0)
        .bind(team.0)
        .execute(&mut *c)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    let events = vec![routing_changed(ws)];
    record(c, &events, now).await?;
    Ok(Written { value: get_team(c, ws, team).await?.ok_or(StoreError::NotFound)?, events })
}

pub async fn set_member_routing(c: &mut Conn, ws: WorkspaceId, user: UserId, profile: &AgentProfile, now: Timestamp) -> Result<Written<Member>> {
    let done = sqlx::query("UPDATE memberships SET routing_profile = $1 WHERE workspace_id = $2 AND user_id = $3")
        .bind(to_doc(profile)?)
        .bind(ws.0)
        .bind(user.0)
        .execute(&mut *c)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    let events = vec![routing_changed(ws)];
    record(c, &events, now).await?;
    Ok(Written { value: get_member(c, ws, user).await?.ok_or(StoreError::NotFound)?, events })
}

pub async fn get_routing_rules(c: &mut Conn, ws: WorkspaceId) -> Result<RoutingRules> {
    json_doc("config", get_doc(c, WorkspaceDoc::RoutingRules, ws).await?)
}

/// Stores the rules after checking that every team and inbox they name
/// belongs to this workspace.
pub async fn set_routing_rules(c: &mut Conn, ws: WorkspaceId, rules: &RoutingRules, now: Timestamp) -> Result<Written<RoutingRules>> {
    for team in rules.team_ids() {
        if get_team(c, ws, team).await?.is_none() {
            return Err(StoreError::Invalid(format!("team {team} is not a team of this workspace")));
        }
    }
    for inbox in rules.inbox_ids() {
        if get_inbox(c, ws, inbox).await?.is_none() {
            return Err(StoreError::Invalid(format!("inbox {inbox} is not an inbox of this workspace")));
        }
    }
    set_doc(c, WorkspaceDoc::RoutingRules, ws, &to_doc(rules)?, now).await?;
    let events = vec![routing_changed(ws)];
    record(c, &events, now).await?;
    Ok(Written { value: rules.clone(), events })
}

/// Gives a conversation a customer's message has just opened its team by
/// the workspace's routing rules (`RoutingRules::select_on_arrival`, as the
/// router would), with the rule's priority and skills, so it is born in its
/// team: its first events reach that team's agents, not every agent of the
/// workspace. A rule naming a team deleted since is skipped (the router
/// then decides); this never fails a customer's message.
pub async fn route_on_arrival(
    c: &mut Conn,
    ws: WorkspaceId,
    id: ConversationId,
    inbox: &Inbox,
    first_message: &str,
    contact: &Contact,
) -> Result<()> {
    let Some(doc) = get_doc(c, WorkspaceDoc::RoutingRules, ws).await? else { return Ok(()) };
    let rules: RoutingRules = json_doc("config", Some(doc))?;
    let Some(choice) = rules.select_on_arrival(inbox.id, inbox.channel, first_message, &contact.custom_fields) else {
        return Ok(());
    };
    let rule_skills = choice.rule.map(|r| r.skills.as_slice()).unwrap_or_default();
    let skills = if rule_skills.is_empty() { None } else { Some(to_doc(&rule_skills)?) };
    let priority = Priority::None.raised_to(choice.rule.and_then(|r| r.priority));
    sqlx::query(
        "UPDATE conversations SET team_id = $1, priority = $2, routing_skills = $3
          WHERE workspace_id = $4 AND id = $5
            AND EXISTS (SELECT 1 FROM teams WHERE workspace_id = $4 AND id = $1)",
    )
    .bind(choice.team_id.0)
    .bind(priority.as_str())
    .bind(skills)
    .bind(ws.0)
    .bind(id.0)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Gives a conversation to a team (routing rules or overflow), with the
/// priority and skills the rule asked for.
pub async fn route_to_team(
    c: &mut Conn,
    ws: WorkspaceId,
    id: ConversationId,
    team: TeamId,
    priority: Option<Priority>,
    skills: &[SkillRequirement],
    now: Timestamp,
) -> Result<Written<Conversation>> {
    let patch = ConversationPatch { team: Some(Some(team)), priority, ..ConversationPatch::default() };
    let written = update_conversation(c, ws, id, &patch, now).await?;
    let skills = if skills.is_empty() { None } else { Some(to_doc(&skills)?) };
    sqlx::query("UPDATE conversations SET routing_skills = $1 WHERE workspace_id = $2 AND id = $3")
        .bind(skills)
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    Ok(written)
}

/// Open work of a workspace, oldest first: what the router's queues and
/// agents' loads are rebuilt from.
pub async fn open_work(c: &mut Conn, ws: WorkspaceId) -> Result<Vec<OpenWork>> {
    let rows = sqlx::query(
        "SELECT c.id, c.inbox_id, c.contact_id, i.channel, c.team_id, c.assignee_id, c.priority, c.status,
                COALESCE(c.waiting_since, c.created_at) AS since, c.routing_skills
           FROM conversations c JOIN inboxes i ON i.id = c.inbox_id
          WHERE c.workspace_id = $1 AND c.status IN ('open', 'pending')
          ORDER BY c.id",
    )
    .bind(ws.0)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OpenWork {
                conversation_id: ConversationId(r.try_get("id")?),
                inbox_id: InboxId(r.try_get("inbox_id")?),
                contact_id: ContactId(r.try_get("contact_id")?),
                channel: parse("channel", r.try_get("channel")?, Channel::parse)?,
                team_id: r.try_get::<Option<i64>, _>("team_id")?.map(TeamId),
                assignee_id: r.try_get::<Option<i64>, _>("assignee_id")?.map(UserId),
                priority: parse("priority", r.try_get("priority")?, Priority::parse)?,
                status: parse("status", r.try_get("status")?, ConversationStatus::parse)?,
                waiting_since: ts(r.try_get("since")?),
                skills: json_doc("routing_skills", r.try_get("routing_skills")?)?,
            })
        })
        .collect()
}

/// Who served this contact in their latest earlier conversation (sticky
/// routing).
pub async fn previous_assignee(c: &mut Conn, ws: WorkspaceId, contact: ContactId, before: ConversationId) -> Result<Option<UserId>> {
    let r = sqlx::query(
        "SELECT assignee_id FROM conversations
          WHERE workspace_id = $1 AND contact_id = $2 AND id < $3 AND assignee_id IS NOT NULL
          ORDER BY id DESC LIMIT 1",
    )
    .bind(ws.0)
    .bind(contact.0)
    .bind(before.0)
    .fetch_optional(&mut *c)
    .await?;
    Ok(r.map(|r| r.try_get::<i64, _>(0)).transpose()?.map(UserId))
}

/// Workspaces with at least one team that assigns automatically: the ones
/// a router loads on start.
pub async fn routed_workspaces(c: &mut Conn) -> Result<Vec<WorkspaceId>> {
    let rows = sqlx::query("SELECT DISTINCT workspace_id FROM teams WHERE routing IS NOT NULL ORDER BY workspace_id")
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(|r| Ok(WorkspaceId(r.try_get(0)?))).collect()
}
