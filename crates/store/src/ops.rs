// Every SQL statement of the store, written once.
//
// This file is `include!`d by `sqlite.rs` and `postgres.rs`, each of which
// first defines `type Db` (the concrete sqlx database) and `type Conn` (its
// connection). Statements use `$n` parameters, `RETURNING` and `ON CONFLICT`,
// which both SQLite (≥ 3.35) and PostgreSQL accept. Functions take a
// connection that the caller has put inside a transaction where needed.

use crate::model::*;
use crate::{Result, StoreError};
use sqlx::{QueryBuilder, Row};
use switchboard_core::access::Viewer;
use switchboard_core::events::{Event, EventPayload, PresenceChange};
use switchboard_core::*;

type DbRow = <Db as sqlx::Database>::Row;

fn ts(ms: i64) -> Timestamp {
    Timestamp(ms)
}

fn corrupt(column: &str, value: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(
        format!("unexpected value {value:?} in column {column}").into(),
    ))
}

fn parse<T>(column: &str, value: String, f: impl Fn(&str) -> Option<T>) -> Result<T> {
    f(&value).ok_or_else(|| corrupt(column, &value))
}

fn json_map(column: &str, text: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
    serde_json::from_str(text).map_err(|_| corrupt(column, text))
}

fn to_json(map: &serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::Value::Object(map.clone()).to_string()
}

/// Queries fetch one row more than the page holds: if it came, there is a
/// next page, starting after the page's last item (`cursor` of it).
fn cut_page<T>(items: &mut Vec<T>, limit: i64, cursor: impl Fn(&T) -> Cursor) -> Option<Cursor> {
    if items.len() as i64 > limit {
        items.truncate(usize::try_from(limit).unwrap_or(0));
        items.last().map(cursor)
    } else {
        None
    }
}

/// The tables that hold one JSON document per workspace.
#[derive(Clone, Copy)]
enum WorkspaceDoc {
    BusinessHours,
    AutomationSettings,
    RoutingRules,
}

impl WorkspaceDoc {
    fn table(self) -> &'static str {
        match self {
            WorkspaceDoc::BusinessHours => "business_hours",
            WorkspaceDoc::AutomationSettings => "automation_settings",
            WorkspaceDoc::RoutingRules => "routing_rules",
        }
    }
}

async fn get_doc(c: &mut Conn, doc: WorkspaceDoc, ws: WorkspaceId) -> Result<Option<String>> {
    let r = sqlx::query(&format!("SELECT config FROM {} WHERE workspace_id = $1", doc.table()))
        .bind(ws.0)
        .fetch_optional(&mut *c)
        .await?;
    Ok(r.map(|r| r.try_get(0)).transpose()?)
}

async fn set_doc(c: &mut Conn, doc: WorkspaceDoc, ws: WorkspaceId, config: &str, now: Timestamp) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO {} (workspace_id, config, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (workspace_id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
        doc.table()
    ))
    .bind(ws.0)
    .bind(config)
    .bind(now.0)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Maps a unique-constraint violation to a conflict that names what exists.
fn taken(message: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match StoreError::from(e) {
        StoreError::Conflict { .. } => StoreError::conflict("already_exists", message),
        other => other,
    }
}

async fn insert_event(c: &mut Conn, event: &Event, now: Timestamp) -> Result<()> {
    let payload = serde_json::to_string(event)
        .map_err(|e| StoreError::Database(sqlx::Error::Encode(Box::new(e))))?;
    sqlx::query("INSERT INTO events (workspace_id, kind, payload, created_at) VALUES ($1, $2, $3, $4)")
        .bind(event.workspace_id.0)
        .bind(event.payload.kind())
        .bind(payload)
        .bind(now.0)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// One statement for all of a write's events: each statement is a round
/// trip to the single writer's connection, the ingest path's bottleneck.
async fn record(c: &mut Conn, events: &[Event], now: Timestamp) -> Result<()> {
    match events {
        [] => Ok(()),
        [one] => insert_event(c, one, now).await,
        many => {
            let mut qb = QueryBuilder::<Db>::new("INSERT INTO events (workspace_id, kind, payload, created_at) ");
            let mut rows = Vec::with_capacity(many.len());
            for e in many {
                let payload = serde_json::to_string(e).map_err(|e| StoreError::Database(sqlx::Error::Encode(Box::new(e))))?;
                rows.push((e.workspace_id.0, e.payload.kind(), payload));
            }
            qb.push_values(rows, |mut row, (ws, kind, payload)| {
                row.push_bind(ws).push_bind(kind).push_bind(payload).push_bind(now.0);
            });
            qb.build().execute(&mut *c).await?;
            Ok(())
        }
    }
}

pub async fn ping(c: &mut Conn) -> Result<()> {
    sqlx::query("SELECT 1").execute(&mut *c).await?;
    Ok(())
}

pub async fn count_events(c: &mut Conn, ws: WorkspaceId) -> Result<i64> {
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM events WHERE workspace_id = $1")
        .bind(ws.0)
        .fetch_one(&mut *c)
        .await?
        .try_get(0)?;
    Ok(n)
}

// ---------------------------------------------------------------- workspaces

fn workspace_row(r: &DbRow) -> Result<Workspace> {
    Ok(Workspace {
        id: WorkspaceId(r.try_get("id")?),
        name: r.try_get("name")?,
        created_at: ts(r.try_get("created_at")?),
    })
}

pub async fn create_workspace(c: &mut Conn, name: &str, secret: &str, now: Timestamp) -> Result<Workspace> {
    let r = sqlx::query(
        "INSERT INTO workspaces (name, signing_secret, created_at) VALUES ($1, $2, $3)
         RETURNING id, name, created_at",
    )
    .bind(name)
    .bind(secret)
    .bind(now.0)
    .fetch_one(&mut *c)
    .await
    .map_err(taken("a workspace with this name exists"))?;
    workspace_row(&r)
}

pub async fn find_workspace_by_name(c: &mut Conn, name: &str) -> Result<Option<Workspace>> {
    let r = sqlx::query("SELECT id, name, created_at FROM workspaces WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(workspace_row).transpose()
}

pub async fn get_workspace(c: &mut Conn, id: WorkspaceId) -> Result<Option<Workspace>> {
    let r = sqlx::query("SELECT id, name, created_at FROM workspaces WHERE id = $1")
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(workspace_row).transpose()
}

pub async fn workspace_signing_secret(c: &mut Conn, id: WorkspaceId) -> Result<Option<String>> {
    let r = sqlx::query("SELECT signing_secret FROM workspaces WHERE id = $1")
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?;
    Ok(r.map(|r| r.try_get(0)).transpose()?)
}

// --------------------------------------------------------------------- users

fn user_row(r: &DbRow) -> Result<User> {
    Ok(User { id: UserId(r.try_get("id")?), email: r.try_get("email")?, name: r.try_get("name")? })
}

pub async fn create_user(c: &mut Conn, email: &str, name: &str, hash: &str, now: Timestamp) -> Result<User> {
    let r = sqlx::query(
        "INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, $2, $3, $4)
         RETURNING id, email, name",
    )
    .bind(email)
    .bind(name)
    .bind(hash)
    .bind(now.0)
    .fetch_one(&mut *c)
    .await
    .map_err(taken("a user with this email exists"))?;
    user_row(&r)
}

pub async fn set_password(c: &mut Conn, user: UserId, hash: &str) -> Result<()> {
    let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(user.0)
        .execute(&mut *c)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    // A new password ends every open session of that user.
    sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user.0).execute(&mut *c).await?;
    Ok(())
}

pub async fn find_credentials(c: &mut Conn, email: &str) -> Result<Option<Credentials>> {
    let r = sqlx::query("SELECT id, email, name, password_hash FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(&mut *c)
        .await?;
    match r {
        None => Ok(None),
        Some(r) => Ok(Some(Credentials { user: user_row(&r)?, password_hash: r.try_get("password_hash")? })),
    }
}

pub async fn get_user(c: &mut Conn, id: UserId) -> Result<Option<User>> {
    let r = sqlx::query("SELECT id, email, name FROM users WHERE id = $1")
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(user_row).transpose()
}

const MEMBER_SELECT: &str = "SELECT u.id, u.email, u.name, m.role, m.presence, m.presence_since, m.routing_profile
     FROM memberships m JOIN users u ON u.id = m.user_id";

fn member_row(r: &DbRow) -> Result<Member> {
    Ok(Member {
        id: UserId(r.try_get("id")?),
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        role: parse("role", r.try_get("role")?, Role::parse)?,
        presence: parse("presence", r.try_get("presence")?, Presence::parse)?,
        presence_since: ts(r.try_get("presence_since")?),
        routing: json_doc("routing_profile", r.try_get("routing_profile")?)?,
    })
}

pub async fn add_member(c: &mut Conn, ws: WorkspaceId, user: UserId, role: Role, now: Timestamp) -> Result<Member> {
    sqlx::query(
        "INSERT INTO memberships (workspace_id, user_id, role, presence, presence_since, created_at)
         VALUES ($1, $2, $3, 'offline', $4, $4)",
    )
    .bind(ws.0)
    .bind(user.0)
    .bind(role.as_str())
    .bind(now.0)
    .execute(&mut *c)
    .await
    .map_err(taken("this user is already a member"))?;
    get_member(c, ws, user).await?.ok_or(StoreError::NotFound)
}

pub async fn list_members(c: &mut Conn, ws: WorkspaceId) -> Result<Vec<Member>> {
    let rows = sqlx::query(&format!("{MEMBER_SELECT} WHERE m.workspace_id = $1 ORDER BY u.name, u.id"))
        .bind(ws.0)
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(member_row).collect()
}

pub async fn get_member(c: &mut Conn, ws: WorkspaceId, user: UserId) -> Result<Option<Member>> {
    let r = sqlx::query(&format!("{MEMBER_SELECT} WHERE m.workspace_id = $1 AND m.user_id = $2"))
        .bind(ws.0)
        .bind(user.0)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(member_row).transpose()
}

pub async fn update_member(c: &mut Conn, ws: WorkspaceId, user: UserId, patch: &MemberPatch) -> Result<Member> {
    if get_member(c, ws, user).await?.is_none() {
        return Err(StoreError::NotFound);
    }
    if let Some(role) = patch.role {
        sqlx::query("UPDATE memberships SET role = $1 WHERE workspace_id = $2 AND user_id = $3")
            .bind(role.as_str())
            .bind(ws.0)
            .bind(user.0)
            .execute(&mut *c)
            .await?;
    }
    if let Some(name) = &patch.name {
        sqlx::query("UPDATE users SET name = $1 WHERE id = $2").bind(name).bind(user.0).execute(&mut *c).await?;
    }
    get_member(c, ws, user).await?.ok_or(StoreError::NotFound)
}

pub async fn remove_member(c: &mut Conn, ws: WorkspaceId, user: UserId, now: Timestamp) -> Result<Written<()>> {
    let gone = sqlx::query("DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2")
        .bind(ws.0)
        .bind(user.0)
        .execute(&mut *c)
        .await?;
    if gone.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    for table in ["team_members", "api_tokens"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE workspace_id = $1 AND user_id = $2"))
            .bind(ws.0)
            .bind(user.0)
            .execute(&mut *c)
            .await?;
    }
    // Their unfinished conversations go back to the pool.
    let ids: Vec<i64> = sqlx::query(
        "UPDATE conversations SET assignee_id = NULL
         WHERE workspace_id = $1 AND assignee_id = $2 AND status <> 'resolved' RETURNING id",
    )
    .bind(ws.0)
    .bind(user.0)
    .fetch_all(&mut *c)
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<std::result::Result<_, _>>()?;
    let mut events = vec![Event {
        workspace_id: ws,
        scope: None,
        payload: EventPayload::MembershipChanged { user_id: user },
    }];
    for conv in fetch_conversations(c, ws, &ids).await? {
        events.push(Event::conversation(ws, &conv, EventPayload::ConversationUpdated(Box::new(conv.clone()))));
    }
    record(c, &events, now).await?;
    Ok(Written { value: (), events })
}

pub async fn user_workspaces(c: &mut Conn, user: UserId) -> Result<Vec<WorkspaceMembership>> {
    let rows = sqlx::query(
        "SELECT w.id, w.name, m.role FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
         WHERE m.user_id = $1 ORDER BY w.name, w.id",
    )
    .bind(user.0)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(WorkspaceMembership {
                id: WorkspaceId(r.try_get("id")?),
                name: r.try_get("name")?,
                role: parse("role", r.try_get("role")?, Role::parse)?,
            })
        })
        .collect()
}

pub async fn set_presence(
    c: &mut Conn,
    ws: WorkspaceId,
    user: UserId,
    presence: Presence,
    now: Timestamp,
) -> Result<Written<PresenceChange>> {
    // `presence_since` only moves when the status really changes, so "time
    // in status" survives a client re-sending its current status.
    let r = sqlx::query(
        "UPDATE memberships
            SET presence_since = CASE WHEN presence = $1 THEN presence_since ELSE $2 END,
                presence = $1
          WHERE workspace_id = $3 AND user_id = $4
          RETURNING presence_since",
    )
    .bind(presence.as_str())
    .bind(now.0)
    .bind(ws.0)
    .bind(user.0)
    .fetch_optional(&mut *c)
    .await?
    .ok_or(StoreError::NotFound)?;
    let change = PresenceChange { user_id: user, status: presence, since: ts(r.try_get(0)?) };
    let events = vec![Event { workspace_id: ws, scope: None, payload: EventPayload::PresenceUpdated(change.clone()) }];
    record(c, &events, now).await?;
    Ok(Written { value: change, events })
}

pub async fn viewer(c: &mut Conn, ws: WorkspaceId, user: UserId) -> Result<Option<Viewer>> {
    let role = sqlx::query("SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2")
        .bind(ws.0)
        .bind(user.0)
        .fetch_optional(&mut *c)
        .await?;
    let Some(role) = role else { return Ok(None) };
    let role = parse("role", role.try_get(0)?, Role::parse)?;
    let team_ids = sqlx::query("SELECT team_id FROM team_members WHERE workspace_id = $1 AND user_id = $2 ORDER BY team_id")
        .bind(ws.0)
        .bind(user.0)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| r.try_get(0).map(TeamId))
        .collect::<std::result::Result<_, _>>()?;
    Ok(Some(Viewer { workspace_id: ws, user_id: user, role, team_ids }))
}

// ------------------------------------------------------------ sessions/tokens

pub async fn create_session(c: &mut Conn, hash: &str, user: UserId, now: Timestamp, expires: Timestamp) -> Result<()> {
    // Expired sessions are swept on every login, so the table stays small.
    sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(now.0).execute(&mut *c).await?;
    sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(hash)
        .bind(user.0)
        .bind(now.0)
        .bind(expires.0)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn session_user(c: &mut Conn, hash: &str, now: Timestamp) -> Result<Option<UserId>> {
    let r = sqlx::query("SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > $2")
        .bind(hash)
        .bind(now.0)
        .fetch_optional(&mut *c)
        .await?;
    Ok(r.map(|r| r.try_get(0).map(UserId)).transpose()?)
}

pub async fn delete_session(c: &mut Conn, hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(hash).execute(&mut *c).await?;
    Ok(())
}

pub async fn create_api_token(
    c: &mut Conn,
    ws: WorkspaceId,
    user: UserId,
    name: &str,
    hash: &str,
    now: Timestamp,
) -> Result<ApiTokenId> {
    let r = sqlx::query(
        "INSERT INTO api_tokens (workspace_id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)
         RETURNING id",
    )
    .bind(ws.0)
    .bind(user.0)
    .bind(name)
    .bind(hash)
    .bind(now.0)
    .fetch_one(&mut *c)
    .await?;
    Ok(ApiTokenId(r.try_get(0)?))
}

pub async fn api_token_owner(c: &mut Conn, hash: &str) -> Result<Option<(WorkspaceId, UserId)>> {
    let r = sqlx::query("SELECT workspace_id, user_id FROM api_tokens WHERE token_hash = $1")
        .bind(hash)
        .fetch_optional(&mut *c)
        .await?;
    match r {
        None => Ok(None),
        Some(r) => Ok(Some((WorkspaceId(r.try_get(0)?), UserId(r.try_get(1)?)))),
    }
}

// --------------------------------------------------------------------- teams

fn team_member_row(m: &DbRow) -> Result<TeamMember> {
    let (priority, weight): (i64, i64) = (m.try_get("priority")?, m.try_get("weight")?);
    Ok(TeamMember {
        user_id: UserId(m.try_get("user_id")?),
        capacity: m.try_get("capacity")?,
        priority: i32::try_from(priority).map_err(|_| corrupt("priority", &priority.to_string()))?,
        weight: u32::try_from(weight).map_err(|_| corrupt("weight", &weight.to_string()))?,
    })
}

pub async fn get_team(c: &mut Conn, ws: WorkspaceId, id: TeamId) -> Result<Option<Team>> {
    let r = sqlx::query("SELECT id, name, routing, created_at FROM teams WHERE workspace_id = $1 AND id = $2")
        .bind(ws.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?;
    let Some(r) = r else { return Ok(None) };
    let members = sqlx::query("SELECT user_id, capacity, priority, weight FROM team_members WHERE team_id = $1 ORDER BY user_id")
        .bind(id.0)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(team_member_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Team {
        id: TeamId(r.try_get("id")?),
        name: r.try_get("name")?,
        members,
        routing: json_doc("routing", r.try_get("routing")?)?,
        created_at: ts(r.try_get("created_at")?),
    }))
}

pub async fn list_teams(c: &mut Conn, ws: WorkspaceId) -> Result<Vec<Team>> {
    let teams = sqlx::query("SELECT id, name, routing, created_at FROM teams WHERE workspace_id = $1 ORDER BY name, id")
        .bind(ws.0)
        .fetch_all(&mut *c)
        .await?;
    let members = sqlx::query(
        "SELECT tm.team_id, tm.user_id, tm.capacity, tm.priority, tm.weight FROM team_members tm
         WHERE tm.workspace_id = $1 ORDER BY tm.team_id, tm.user_id",
    )
    .bind(ws.0)
    .fetch_all(&mut *c)
    .await?;
    let mut out = Vec::with_capacity(teams.len());
    for t in &teams {
        let id: i64 = t.try_get("id")?;
        let mut list = Vec::new();
        for m in &members {
            if m.try_get::<i64, _>("team_id")? == id {
                list.push(team_member_row(m)?);
            }
        }
        out.push(Team {
            id: TeamId(id),
            name: t.try_get("name")?,
            members: list,
            routing: json_doc("routing", t.try_get("routing")?)?,
            created_at: ts(t.try_get("created_at")?),
        });
    }
    Ok(out)
}

pub async fn create_team(c: &mut Conn, ws: WorkspaceId, name: &str, now: Timestamp) -> Result<Team> {
    let r = sqlx::query("INSERT INTO teams (workspace_id, name, created_at) VALUES ($1, $2, $3) RETURNING id")
        .bind(ws.0)
        .bind(name)
        .bind(now.0)
        .fetch_one(&mut *c)
        .await
        .map_err(taken("a team with this name exists"))?;
    get_team(c, ws, TeamId(r.try_get(0)?)).await?.ok_or(StoreError::NotFound)
}

pub async fn rename_team(c: &mut Conn, ws: WorkspaceId, id: TeamId, name: &str) -> Result<Team> {
    let done = sqlx::query("UPDATE teams SET name = $1 WHERE workspace_id = $2 AND id = $3")
        .bind(name)
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *c)
        .await
        .map_err(taken("a team with this name exists"))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    get_team(c, ws, id).await?.ok_or(StoreError::NotFound)
}

pub async fn delete_team(c: &mut Conn, ws: WorkspaceId, id: TeamId) -> Result<()> {
    sqlx::query("UPDATE conversations SET team_id = NULL WHERE workspace_id = $1 AND team_id = $2")
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND workspace_id = $2")
        .bind(id.0)
        .bind(ws.0)
        .execute(&mut *c)
        .await?;
    let done = sqlx::query("DELETE FROM teams WHERE workspace_id = $1 AND id = $2")
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

async fn is_member(c: &mut Conn, ws: WorkspaceId, user: UserId) -> Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM memberships WHERE workspace_id = $1 AND user_id = $2")
        .bind(ws.0)
        .bind(user.0)
        .fetch_optional(&mut *c)
        .await?
        .is_some())
}

pub async fn set_team_member(
    c: &mut Conn,
    ws: WorkspaceId,
    team: TeamId,
    user: UserId,
    m: &TeamMemberSettings,
    now: Timestamp,
) -> Result<Written<Team>> {
    if get_team(c, ws, team).await?.is_none() || !is_member(c, ws, user).await? {
        return Err(StoreError::NotFound);
    }
    // Priority and weight keep their stored value when not given.
    sqlx::query(
        "INSERT INTO team_members (team_id, user_id, workspace_id, capacity, priority, weight)
         VALUES ($1, $2, $3, $4, COALESCE($5, 0), COALESCE($6, 1))
         ON CONFLICT (team_id, user_id) DO UPDATE SET capacity = excluded.capacity,
             priority = COALESCE($5, team_members.priority), weight = COALESCE($6, team_members.weight)",
    )
    .bind(team.0)
    .bind(user.0)
    .bind(ws.0)
    .bind(m.capacity)
    .bind(m.priority.map(i64::from))
    .bind(m.weight.map(i64::from))
    .execute(&mut *c)
    .await?;
    let events = vec![Event { workspace_id: ws, scope: None, payload: EventPayload::MembershipChanged { user_id: user } }];
    record(c, &events, now).await?;
    Ok(Written { value: get_team(c, ws, team).await?.ok_or(StoreError::NotFound)?, events })
}

pub async fn remove_team_member(c: &mut Conn, ws: WorkspaceId, team: TeamId, user: UserId, now: Timestamp) -> Result<Written<Team>> {
    let done = sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2 AND workspace_id = $3")
        .bind(team.0)
        .bind(user.0)
        .bind(ws.0)
        .execute(&mut *c)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    let events = vec![Event { workspace_id: ws, scope: None, payload: EventPayload::MembershipChanged { user_id: user } }];
    record(c, &events, now).await?;
    Ok(Written { value: get_team(c, ws, team).await?.ok_or(StoreError::NotFound)?, events })
}

// ------------------------------------------------------------------- inboxes

pub(crate) const INBOX_SELECT: &str = "SELECT id, workspace_id, name, channel, config, website_token, created_at FROM inboxes";

/// Also maps SQLite's synchronous reads (`sqlite_reads.rs`).
pub(crate) fn inbox_row(r: &impl crate::cols::Cols) -> Result<Inbox> {
    Ok(Inbox {
        id: InboxId(r.i64("id")?),
        workspace_id: WorkspaceId(r.i64("workspace_id")?),
        name: r.text("name")?,
        channel: parse("channel", r.text("channel")?, Channel::parse)?,
        config: json_map("config", &r.text("config")?)?,
        website_token: r.opt_text("website_token")?,
        created_at: ts(r.i64("created_at")?),
    })
}

pub async fn create_inbox(c: &mut Conn, ws: WorkspaceId, new: &NewInbox, now: Timestamp) -> Result<Inbox> {
    let r = sqlx::query(
        "INSERT INTO inboxes (workspace_id, name, channel, config, website_token, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(ws.0)
    .bind(&new.name)
    .bind(new.channel.as_str())
    .bind(to_json(&new.config))
    .bind(&new.website_token)
    .bind(now.0)
    .fetch_one(&mut *c)
    .await?;
    get_inbox(c, ws, InboxId(r.try_get(0)?)).await?.ok_or(StoreError::NotFound)
}

pub async fn list_inboxes(c: &mut Conn, ws: WorkspaceId) -> Result<Vec<Inbox>> {
    let rows = sqlx::query(&format!("{INBOX_SELECT} WHERE workspace_id = $1 ORDER BY name, id"))
        .bind(ws.0)
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(inbox_row).collect()
}

pub async fn get_inbox(c: &mut Conn, ws: WorkspaceId, id: InboxId) -> Result<Option<Inbox>> {
    let r = sqlx::query(&format!("{INBOX_SELECT} WHERE workspace_id = $1 AND id = $2"))
        .bind(ws.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(inbox_row).transpose()
}

pub async fn update_inbox(c: &mut Conn, ws: WorkspaceId, id: InboxId, patch: &InboxPatch) -> Result<Inbox> {
    let mut inbox = get_inbox(c, ws, id).await?.ok_or(StoreError::NotFound)?;
    if let Some(name) = &patch.name {
        inbox.name = name.clone();
    }
    if let Some(changes) = &patch.config {
        for (k, v) in changes {
            if v.is_null() {
                inbox.config.remove(k);
            } else {
                inbox.config.insert(k.clone(), v.clone());
            }
        }
    }
    sqlx::query("UPDATE inboxes SET name = $1, config = $2 WHERE workspace_id = $3 AND id = $4")
        .bind(&inbox.name)
        .bind(to_json(&inbox.config))
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    Ok(inbox)
}

pub async fn delete_inbox(c: &mut Conn, ws: WorkspaceId, id: InboxId) -> Result<()> {
    if get_inbox(c, ws, id).await?.is_none() {
        return Err(StoreError::NotFound);
    }
    let used = sqlx::query("SELECT 1 FROM conversations WHERE workspace_id = $1 AND inbox_id = $2 LIMIT 1")
        .bind(ws.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?;
    if used.is_some() {
        return Err(StoreError::conflict(
            "inbox_has_conversations",
            "this inbox has conversations; it cannot be deleted",
        ));
    }
    sqlx::query("DELETE FROM inboxes WHERE workspace_id = $1 AND id = $2")
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn find_inbox_by_website_token(c: &mut Conn, token: &str) -> Result<Option<Inbox>> {
    let r = sqlx::query(&format!("{INBOX_SELECT} WHERE website_token = $1"))
        .bind(token)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(inbox_row).transpose()
}

// ------------------------------------------------------------------ contacts

pub(crate) const CONTACT_SELECT: &str =
    "SELECT id, name, email, phone, custom_fields, created_at, updated_at FROM contacts";

/// Also maps SQLite's synchronous reads (`sqlite_reads.rs`).
pub(crate) fn contact_row(r: &impl crate::cols::Cols) -> Result<Contact> {
    let fields = json_map("custom_fields", &r.text("custom_fields")?)?;
    Ok(Contact {
        id: ContactId(r.i64("id")?),
        name: r.opt_text("name")?,
        email: r.opt_text("email")?,
        phone: r.opt_text("phone")?,
        custom_fields: fields.into_iter().collect(),
        created_at: ts(r.i64("created_at")?),
        updated_at: ts(r.i64("updated_at")?),
    })
}

fn search_text(name: Option<&str>, email: Option<&str>, phone: Option<&str>) -> String {
    [name, email, phone].iter().flatten().map(|s| s.to_lowercase()).collect::<Vec<_>>().join(" ")
}

pub async fn create_contact(c: &mut Conn, ws: WorkspaceId, new: &ContactFields, now: Timestamp) -> Result<Contact> {
    let name = new.name.clone().flatten();
    let email = new.email.clone().flatten();
    let phone = new.phone.clone().flatten();
    let fields: serde_json::Map<_, _> = new
        .custom_fields
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .collect();
    let r = sqlx::query(
        "INSERT INTO contacts (workspace_id, name, email, phone, identifier, search_text, custom_fields, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
    )
    .bind(ws.0)
    .bind(&name)
    .bind(&email)
    .bind(&phone)
    .bind(&new.identifier)
    .bind(search_text(name.as_deref(), email.as_deref(), phone.as_deref()))
    .bind(to_json(&fields))
    .bind(now.0)
    .fetch_one(&mut *c)
    .await?;
    get_contact(c, ws, ContactId(r.try_get(0)?)).await?.ok_or(StoreError::NotFound)
}

pub async fn get_contact(c: &mut Conn, ws: WorkspaceId, id: ContactId) -> Result<Option<Contact>> {
    let r = sqlx::query(&format!("{CONTACT_SELECT} WHERE workspace_id = $1 AND id = $2"))
        .bind(ws.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(contact_row).transpose()
}

pub async fn find_contact_by_identifier(c: &mut Conn, ws: WorkspaceId, identifier: &str) -> Result<Option<Contact>> {
    let r = sqlx::query(&format!("{CONTACT_SELECT} WHERE workspace_id = $1 AND identifier = $2"))
        .bind(ws.0)
        .bind(identifier)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(contact_row).transpose()
}

pub async fn update_contact(
    c: &mut Conn,
    ws: WorkspaceId,
    id: ContactId,
    patch: &ContactFields,
    now: Timestamp,
) -> Result<Contact> {
    let mut contact = get_contact(c, ws, id).await?.ok_or(StoreError::NotFound)?;
    if let Some(v) = &patch.name {
        contact.name = v.clone();
    }
    if let Some(v) = &patch.email {
        contact.email = v.clone();
    }
    if let Some(v) = &patch.phone {
        contact.phone = v.clone();
    }
    if let Some(changes) = &patch.custom_fields {
        for (k, v) in changes {
            if v.is_null() {
                contact.custom_fields.remove(k);
            } else {
                contact.custom_fields.insert(k.clone(), v.clone());
            }
        }
    }
    let fields: serde_json::Map<_, _> = contact.custom_fields.clone().into_iter().collect();
    sqlx::query(
        "UPDATE contacts SET name = $1, email = $2, phone = $3, search_text = $4, custom_fields = $5, updated_at = $6
         WHERE workspace_id = $7 AND id = $8",
    )
    .bind(&contact.name)
    .bind(&contact.email)
    .bind(&contact.phone)
    .bind(search_text(contact.name.as_deref(), contact.email.as_deref(), contact.phone.as_deref()))
    .bind(to_json(&fields))
    .bind(now.0)
    .bind(ws.0)
    .bind(id.0)
    .execute(&mut *c)
    .await?;
    if let Some(identifier) = &patch.identifier {
        sqlx::query("UPDATE contacts SET identifier = $1 WHERE workspace_id = $2 AND id = $3")
            .bind(identifier)
            .bind(ws.0)
            .bind(id.0)
            .execute(&mut *c)
            .await?;
    }
    contact.updated_at = now;
    Ok(contact)
}

/// `%`, `_` and `\` are literal in user searches.
fn like_pattern(q: &str) -> String {
    let mut p = String::from("%");
    for ch in q.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

pub async fn list_contacts(c: &mut Conn, ws: WorkspaceId, query: Option<&str>, page: Page) -> Result<Paged<Contact>> {
    let mut qb = QueryBuilder::<Db>::new(CONTACT_SELECT);
    qb.push(" WHERE workspace_id = ").push_bind(ws.0);
    if let Some(q) = query.map(str::trim).filter(|q| !q.is_empty()) {
        qb.push(" AND search_text LIKE ").push_bind(like_pattern(q)).push(" ESCAPE '\\'");
    }
    if let Some(after) = page.after {
        qb.push(" AND id < ").push_bind(after.id);
    }
    qb.push(" ORDER BY id DESC LIMIT ").push_bind(page.limit + 1);
    let rows = qb.build().fetch_all(&mut *c).await?;
    let mut items = rows.iter().map(contact_row).collect::<Result<Vec<_>>>()?;
    let next = cut_page(&mut items, page.limit, |x| Cursor { key: 0, id: x.id.0 });
    Ok(Paged { items, next })
}

// ------------------------------------------------------------- conversations

const CONVERSATION_SELECT: &str = "SELECT c.id, c.inbox_id, i.channel, c.status, c.priority, c.assignee_id, c.team_id,
        c.last_activity_at, c.created_at, c.waiting_since, c.snoozed_until, c.first_reply_at, c.resolved_at,
        ct.id AS contact_id, ct.name AS contact_name, ct.email AS contact_email, ct.phone AS contact_phone,
        ct.custom_fields AS contact_custom_fields, ct.created_at AS contact_created_at, ct.updated_at AS contact_updated_at,
        m.id AS m_id, m.kind AS m_kind, m.content AS m_content, m.sender_type AS m_sender_type,
        m.sender_id AS m_sender_id, m.sender_name AS m_sender_name, m.status AS m_status,
        m.failure_reason AS m_failure_reason, m.echo_id AS m_echo_id, m.created_at AS m_created_at
   FROM conversations c
   JOIN inboxes i ON i.id = c.inbox_id
   JOIN contacts ct ON ct.id = c.contact_id
   LEFT JOIN messages m ON m.id = c.last_message_id";

fn opt_ts(r: &DbRow, col: &str) -> Result<Option<Timestamp>> {
    Ok(r.try_get::<Option<i64>, _>(col)?.map(ts))
}

fn conversation_row(r: &DbRow) -> Result<Conversation> {
    let id = ConversationId(r.try_get("id")?);
    let last_message = match r.try_get::<Option<i64>, _>("m_id")? {
        None => None,
        Some(mid) => Some(Message {
            id: MessageId(mid),
            conversation_id: id,
            kind: parse("kind", r.try_get("m_kind")?, MessageKind::parse)?,
            content: r.try_get("m_content")?,
            sender: Sender {
                kind: parse("sender_type", r.try_get("m_sender_type")?, SenderType::parse)?,
                id: r.try_get("m_sender_id")?,
                name: r.try_get("m_sender_name")?,
            },
            status: parse("status", r.try_get("m_status")?, DeliveryStatus::parse)?,
            failure_reason: r.try_get("m_failure_reason")?,
            echo_id: r.try_get("m_echo_id")?,
            attachments: Vec::new(),
            created_at: ts(r.try_get("m_created_at")?),
        }),
    };
    let fields = json_map("custom_fields", &r.try_get::<String, _>("contact_custom_fields")?)?;
    Ok(Conversation {
        id,
        inbox_id: InboxId(r.try_get("inbox_id")?),
        channel: parse("channel", r.try_get("channel")?, Channel::parse)?,
        contact: Contact {
            id: ContactId(r.try_get("contact_id")?),
            name: r.try_get("contact_name")?,
            email: r.try_get("contact_email")?,
            phone: r.try_get("contact_phone")?,
            custom_fields: fields.into_iter().collect(),
            created_at: ts(r.try_get("contact_created_at")?),
            updated_at: ts(r.try_get("contact_updated_at")?),
        },
        status: parse("status", r.try_get("status")?, ConversationStatus::parse)?,
        priority: parse("priority", r.try_get("priority")?, Priority::parse)?,
        assignee_id: r.try_get::<Option<i64>, _>("assignee_id")?.map(UserId),
        team_id: r.try_get::<Option<i64>, _>("team_id")?.map(TeamId),
        tags: Vec::new(),
        last_message,
        last_activity_at: ts(r.try_get("last_activity_at")?),
        created_at: ts(r.try_get("created_at")?),
        waiting_since: opt_ts(r, "waiting_since")?,
        snoozed_until: opt_ts(r, "snoozed_until")?,
        first_reply_at: opt_ts(r, "first_reply_at")?,
        resolved_at: opt_ts(r, "resolved_at")?,
    })
}

/// Tags, and the files of each last message.
async fn attach_tags(c: &mut Conn, ws: WorkspaceId, conversations: &mut [Conversation]) -> Result<()> {
    if conversations.is_empty() {
        return Ok(());
    }
    attach_last_message_files(c, ws, conversations).await?;
    let mut qb = QueryBuilder::<Db>::new(
        "SELECT x.conversation_id, t.name FROM conversation_tags x JOIN tags t ON t.id = x.tag_id WHERE x.conversation_id IN (",
    );
    let mut ids = qb.separated(", ");
    for conv in conversations.iter() {
        ids.push_bind(conv.id.0);
    }
    qb.push(") ORDER BY t.name");
    let rows = qb.build().fetch_all(&mut *c).await?;
    for r in &rows {
        let cid: i64 = r.try_get(0)?;
        let name: String = r.try_get(1)?;
        if let Some(conv) = conversations.iter_mut().find(|x| x.id.0 == cid) {
            conv.tags.push(name);
        }
    }
    Ok(())
}

async fn fetch_conversations(c: &mut Conn, ws: WorkspaceId, ids: &[i64]) -> Result<Vec<Conversation>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb = QueryBuilder::<Db>::new(CONVERSATION_SELECT);
    qb.push(" WHERE c.workspace_id = ").push_bind(ws.0).push(" AND c.id IN (");
    let mut sep = qb.separated(", ");
    for id in ids {
        sep.push_bind(*id);
    }
    qb.push(") ORDER BY c.id");
    let rows = qb.build().fetch_all(&mut *c).await?;
    let mut list = rows.iter().map(conversation_row).collect::<Result<Vec<_>>>()?;
    attach_tags(c, ws, &mut list).await?;
    Ok(list)
}

pub async fn get_conversation(c: &mut Conn, ws: WorkspaceId, id: ConversationId) -> Result<Option<Conversation>> {
    Ok(fetch_conversations(c, ws, &[id.0]).await?.pop())
}

async fn must_conversation(c: &mut Conn, ws: WorkspaceId, id: ConversationId) -> Result<Conversation> {
    get_conversation(c, ws, id).await?.ok_or(StoreError::NotFound)
}

pub async fn list_conversations(c: &mut Conn, viewer: &Viewer, f: &ConversationFilter, page: Page) -> Result<Paged<Conversation>> {
    let ws = viewer.workspace_id;
    let mut qb = QueryBuilder::<Db>::new(CONVERSATION_SELECT);
    qb.push(" WHERE c.workspace_id = ").push_bind(ws.0);
    if !viewer.sees_all() {
        // The SQL form of `Viewer::can_see`.
        qb.push(" AND (c.assignee_id = ")
            .push_bind(viewer.user_id.0)
            .push(" OR c.team_id IS NULL OR c.team_id IN (SELECT team_id FROM team_members WHERE workspace_id = ")
            .push_bind(ws.0)
            .push(" AND user_id = ")
            .push_bind(viewer.user_id.0)
            .push("))");
    }
    if let Some(s) = f.status {
        qb.push(" AND c.status = ").push_bind(s.as_str());
    }
    match f.assignee {
        AssigneeFilter::Any => {}
        AssigneeFilter::Unassigned => {
            qb.push(" AND c.assignee_id IS NULL");
        }
        AssigneeFilter::User(u) => {
            qb.push(" AND c.assignee_id = ").push_bind(u.0);
        }
    }
    if let Some(t) = f.team {
        qb.push(" AND c.team_id = ").push_bind(t.0);
    }
    if let Some(i) = f.inbox {
        qb.push(" AND c.inbox_id = ").push_bind(i.0);
    }
    if let Some(ch) = f.channel {
        qb.push(" AND i.channel = ").push_bind(ch.as_str());
    }
    if let Some(contact) = f.contact {
        qb.push(" AND c.contact_id = ").push_bind(contact.0);
    }
    if let Some(tag) = &f.tag {
        qb.push(
            " AND EXISTS (SELECT 1 FROM conversation_tags x JOIN tags t ON t.id = x.tag_id
                          WHERE x.conversation_id = c.id AND t.name = ",
        )
        .push_bind(tag.clone())
        .push(")");
    }
    if let Some(q) = f.search.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        qb.push(" AND ct.search_text LIKE ").push_bind(like_pattern(q)).push(" ESCAPE '\\'");
    }
    if let Some(after) = page.after {
        qb.push(" AND (c.last_activity_at < ")
            .push_bind(after.key)
            .push(" OR (c.last_activity_at = ")
            .push_bind(after.key)
            .push(" AND c.id < ")
            .push_bind(after.id)
            .push("))");
    }
    qb.push(" ORDER BY c.last_activity_at DESC, c.id DESC LIMIT ").push_bind(page.limit + 1);
    let rows = qb.build().fetch_all(&mut *c).await?;
    let mut items = rows.iter().map(conversation_row).collect::<Result<Vec<_>>>()?;
    let next = cut_page(&mut items, page.limit, |x| Cursor { key: x.last_activity_at.0, id: x.id.0 });
    attach_tags(c, ws, &mut items).await?;
    Ok(Paged { items, next })
}

pub async fn claim_conversation(c: &mut Conn, ws: WorkspaceId, id: ConversationId, user: UserId, now: Timestamp) -> Result<Claim> {
    // The `assignee_id IS NULL` guard makes the claim a compare-and-set: of
    // concurrent claimers exactly one sees a changed row.
    let done = sqlx::query(
        "UPDATE conversations SET assignee_id = $1 WHERE workspace_id = $2 AND id = $3 AND assignee_id IS NULL",
    )
    .bind(user.0)
    .bind(ws.0)
    .bind(id.0)
    .execute(&mut *c)
    .await?;
    let conv = must_conversation(c, ws, id).await?;
    if done.rows_affected() == 1 {
        let events = vec![Event::conversation(ws, &conv, EventPayload::ConversationUpdated(Box::new(conv.clone())))];
        record(c, &events, now).await?;
        return Ok(Claim::Claimed(Written { value: conv, events }));
    }
    match conv.assignee_id {
        Some(holder) if holder == user => Ok(Claim::AlreadyYours(conv)),
        Some(holder) => Ok(Claim::Taken { assignee: holder }),
        // Unreachable in a serialized transaction; answer as a lost race.
        None => Err(StoreError::conflict("already_assigned", "the conversation changed, try again")),
    }
}

pub async fn update_conversation(
    c: &mut Conn,
    ws: WorkspaceId,
    id: ConversationId,
    patch: &ConversationPatch,
    now: Timestamp,
) -> Result<Written<Conversation>> {
    let before = must_conversation(c, ws, id).await?;
    if let Some(Some(user)) = patch.assignee
        && !is_member(c, ws, user).await? {
            return Err(StoreError::Invalid("assignee_id is not a member of this workspace".into()));
        }
    if let Some(Some(team)) = patch.team
        && get_team(c, ws, team).await?.is_none() {
            return Err(StoreError::Invalid("team_id is not a team of this workspace".into()));
        }
    let status = patch.status.unwrap_or(before.status);
    let mut snoozed_until = match patch.snoozed_until {
        Some(v) => v,
        None => before.snoozed_until,
    };
    if status != ConversationStatus::Snoozed {
        snoozed_until = None;
    }
    let resolved_at = match (before.status, status) {
        (s, ConversationStatus::Resolved) if s != ConversationStatus::Resolved => Some(now),
        (_, ConversationStatus::Resolved) => before.resolved_at,
        _ => None,
    };
    // A resolved conversation is not waiting for anyone.
    let waiting_since = if status == ConversationStatus::Resolved { None } else { before.waiting_since };
    let assignee = patch.assignee.unwrap_or(before.assignee_id);
    let team = patch.team.unwrap_or(before.team_id);
    let priority = patch.priority.unwrap_or(before.priority);
    sqlx::query(
        "UPDATE conversations SET status = $1, priority = $2, assignee_id = $3, team_id = $4,
                snoozed_until = $5, resolved_at = $6, waiting_since = $7, last_activity_at = $8
          WHERE workspace_id = $9 AND id = $10",
    )
    .bind(status.as_str())
    .bind(priority.as_str())
    .bind(assignee.map(|u| u.0))
    .bind(team.map(|t| t.0))
    .bind(snoozed_until.map(|t| t.0))
    .bind(resolved_at.map(|t| t.0))
    .bind(waiting_since.map(|t| t.0))
    .bind(now.0.max(before.last_activity_at.0))
    .bind(ws.0)
    .bind(id.0)
    .execute(&mut *c)
    .await?;
    let conv = must_conversation(c, ws, id).await?;
    // Both the old and the new audience hear about a transfer: the event
    // carries the new scope, so also tell the old one with the old scope.
    let mut events = vec![Event::conversation(ws, &conv, EventPayload::ConversationUpdated(Box::new(conv.clone())))];
    if before.team_id != conv.team_id || before.assignee_id != conv.assignee_id {
        events.push(Event::conversation(ws, &before, EventPayload::ConversationUpdated(Box::new(conv.clone()))));
    }
    events.extend(status_change(ws, before.status, &conv));
    record(c, &events, now).await?;
    Ok(Written { value: conv, events })
}

async fn tag_id(c: &mut Conn, ws: WorkspaceId, name: &str, create: bool) -> Result<Option<i64>> {
    let found = sqlx::query("SELECT id FROM tags WHERE workspace_id = $1 AND name = $2")
        .bind(ws.0)
        .bind(name)
        .fetch_optional(&mut *c)
        .await?;
    if let Some(r) = found {
        return Ok(Some(r.try_get(0)?));
    }
    if !create {
        return Ok(None);
    }
    let r = sqlx::query("INSERT INTO tags (workspace_id, name, color) VALUES ($1, $2, $3) RETURNING id")
        .bind(ws.0)
        .bind(name)
        .bind(DEFAULT_TAG_COLOR)
        .fetch_one(&mut *c)
        .await?;
    Ok(Some(r.try_get(0)?))
}

pub const DEFAULT_TAG_COLOR: &str = "#64748b";

pub async fn tag_conversation(
    c: &mut Conn,
    ws: WorkspaceId,
    id: ConversationId,
    tag: &str,
    add: bool,
    now: Timestamp,
) -> Result<Written<Conversation>> {
    must_conversation(c, ws, id).await?;
    let tid = tag_id(c, ws, tag, add).await?;
    let mut newly_added = false;
    match (tid, add) {
        (Some(t), true) => {
            newly_added = sqlx::query("INSERT INTO conversation_tags (conversation_id, tag_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(id.0)
                .bind(t)
                .execute(&mut *c)
                .await?
                .rows_affected()
                == 1;
        }
        (Some(t), false) => {
            let done = sqlx::query("DELETE FROM conversation_tags WHERE conversation_id = $1 AND tag_id = $2")
                .bind(id.0)
                .bind(t)
                .execute(&mut *c)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        }
        (None, _) => return Err(StoreError::NotFound),
    }
    let conv = must_conversation(c, ws, id).await?;
    let mut events = vec![Event::conversation(ws, &conv, EventPayload::ConversationUpdated(Box::new(conv.clone())))];
    if newly_added {
        let added = events::TagAdded { conversation_id: id, tag: tag.to_owned() };
        events.push(Event::conversation(ws, &conv, EventPayload::TagAdded(added)));
    }
    record(c, &events, now).await?;
    Ok(Written { value: conv, events })
}

/// The `conversation.status_changed` event when a write moved the status.
fn status_change(ws: WorkspaceId, from: ConversationStatus, now: &Conversation) -> Option<Event> {
    (from != now.status).then(|| {
        let change = events::StatusChange { conversation_id: now.id, from, to: now.status };
        Event::conversation(ws, now, EventPayload::StatusChanged(change))
    })
}

// ------------------------------------------------------------------ messages

const MESSAGE_SELECT: &str = "SELECT id, conversation_id, kind, content, sender_type, sender_id, sender_name,
        status, failure_reason, echo_id, created_at FROM messages";

fn message_row(r: &DbRow) -> Result<Message> {
    Ok(Message {
        id: MessageId(r.try_get("id")?),
        conversation_id: ConversationId(r.try_get("conversation_id")?),
        kind: parse("kind", r.try_get("kind")?, MessageKind::parse)?,
        content: r.try_get("content")?,
        sender: Sender {
            kind: parse("sender_type", r.try_get("sender_type")?, SenderType::parse)?,
            id: r.try_get("sender_id")?,
            name: r.try_get("sender_name")?,
        },
        status: parse("status", r.try_get("status")?, DeliveryStatus::parse)?,
        failure_reason: r.try_get("failure_reason")?,
        echo_id: r.try_get("echo_id")?,
        attachments: Vec::new(),
        created_at: ts(r.try_get("created_at")?),
    })
}

/// A message just written without files: no attachment lookup needed.
async fn get_message_without_files(c: &mut Conn, ws: WorkspaceId, id: i64) -> Result<Message> {
    let r = sqlx::query(&format!("{MESSAGE_SELECT} WHERE workspace_id = $1 AND id = $2"))
        .bind(ws.0)
        .bind(id)
        .fetch_one(&mut *c)
        .await?;
    message_row(&r)
}

async fn get_message(c: &mut Conn, ws: WorkspaceId, id: i64) -> Result<Message> {
    let mut m = [get_message_without_files(c, ws, id).await?];
    attach_files(c, ws, &mut m).await?;
    let [m] = m;
    Ok(m)
}

/// The download path of an attachment: unguessable through its access key.
pub fn attachment_url(ws: WorkspaceId, id: i64, key: &str, filename: &str) -> String {
    let mut name = String::with_capacity(filename.len());
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    format!("/files/{ws}/{id}/{key}/{name}")
}

/// Fills `attachments` of each message.
async fn attach_files(c: &mut Conn, ws: WorkspaceId, messages: &mut [Message]) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let mut qb = QueryBuilder::<Db>::new(
        "SELECT id, message_id, filename, content_type, size, access_key FROM attachments WHERE workspace_id = ",
    );
    qb.push_bind(ws.0).push(" AND message_id IN (");
    let mut sep = qb.separated(", ");
    for m in messages.iter() {
        sep.push_bind(m.id.0);
    }
    qb.push(") ORDER BY id");
    for r in qb.build().fetch_all(&mut *c).await? {
        let mid: i64 = r.try_get("message_id")?;
        let id: i64 = r.try_get("id")?;
        let filename: String = r.try_get("filename")?;
        let key: String = r.try_get("access_key")?;
        if let Some(m) = messages.iter_mut().find(|m| m.id.0 == mid) {
            m.attachments.push(Attachment {
                id: AttachmentId(id),
                url: attachment_url(ws, id, &key, &filename),
                filename,
                content_type: r.try_get("content_type")?,
                size: r.try_get("size")?,
            });
        }
    }
    Ok(())
}

/// Links uploaded files to a new message. Each must be in this workspace,
/// not yet sent, and uploaded for this conversation (agents) or by this
/// contact (visitors); otherwise the whole write is refused.
async fn link_attachments(c: &mut Conn, ws: WorkspaceId, message: MessageId, owner: AttachmentOwner, ids: &[AttachmentId]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut qb = QueryBuilder::<Db>::new("UPDATE attachments SET message_id = ");
    qb.push_bind(message.0).push(" WHERE workspace_id = ").push_bind(ws.0).push(" AND message_id IS NULL");
    match owner {
        AttachmentOwner::Conversation(conv) => qb.push(" AND conversation_id = ").push_bind(conv.0),
        AttachmentOwner::Contact(contact) => qb.push(" AND contact_id = ").push_bind(contact.0),
    };
    qb.push(" AND id IN (");
    let mut sep = qb.separated(", ");
    for id in ids {
        sep.push_bind(id.0);
    }
    qb.push(")");
    let done = qb.build().execute(&mut *c).await?;
    if done.rows_affected() as usize != ids.len() {
        return Err(StoreError::Invalid("attachment_ids: unknown, already sent or uploaded elsewhere".into()));
    }
    Ok(())
}

async fn message_by_dedup_key(c: &mut Conn, ws: WorkspaceId, key: &str) -> Result<Option<Message>> {
    let r = sqlx::query(&format!("{MESSAGE_SELECT} WHERE workspace_id = $1 AND dedup_key = $2"))
        .bind(ws.0)
        .bind(key)
        .fetch_optional(&mut *c)
        .await?;
    let Some(r) = r else { return Ok(None) };
    let mut m = [message_row(&r)?];
    attach_files(c, ws, &mut m).await?;
    let [m] = m;
    Ok(Some(m))
}

#[allow(clippy::too_many_arguments)]
async fn insert_message(
    c: &mut Conn,
    ws: WorkspaceId,
    conversation: ConversationId,
    kind: MessageKind,
    content: &str,
    sender: &Sender,
    status: DeliveryStatus,
    echo_id: Option<&str>,
    dedup_key: Option<&str>,
    now: Timestamp,
) -> Result<MessageId> {
    let r = sqlx::query(
        "INSERT INTO messages (workspace_id, conversation_id, kind, content, sender_type, sender_id, sender_name,
                               status, echo_id, dedup_key, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (workspace_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
         RETURNING id",
    )
    .bind(ws.0)
    .bind(conversation.0)
    .bind(kind.as_str())
    .bind(content)
    .bind(sender.kind.as_str())
    .bind(sender.id)
    .bind(&sender.name)
    .bind(status.as_str())
    .bind(echo_id)
    .bind(dedup_key)
    .bind(now.0)
    .fetch_optional(&mut *c)
    .await?;
    match r {
        Some(r) => Ok(MessageId(r.try_get(0)?)),
        // A concurrent writer (PostgreSQL only: SQLite has one writer) stored
        // the same message between our check and insert.
        None => Err(StoreError::conflict("duplicate_race", "the same message was stored concurrently")),
    }
}

/// The contact's open (not resolved) latest conversation in the inbox, with
/// its status, or a new open one (`None`): where a provider message goes.
/// A new conversation waits from `waiting_since` (the customer wrote).
async fn conversation_to_write(
    c: &mut Conn,
    ws: WorkspaceId,
    inbox: InboxId,
    contact: ContactId,
    waiting_since: Option<Timestamp>,
    now: Timestamp,
) -> Result<(ConversationId, Option<ConversationStatus>)> {
    // One write per contact at a time from here to the commit: two
    // concurrent first messages (a burst of lines, an album) would each find
    // no open conversation and open one each on PostgreSQL. The no-op UPDATE
    // holds the contact's row lock; SQLite's single writer serializes anyway.
    sqlx::query("UPDATE contacts SET id = id WHERE workspace_id = $1 AND id = $2").bind(ws.0).bind(contact.0).execute(&mut *c).await?;
    let latest = sqlx::query(
        "SELECT id, status FROM conversations WHERE workspace_id = $1 AND contact_id = $2 AND inbox_id = $3
         ORDER BY id DESC LIMIT 1",
    )
    .bind(ws.0)
    .bind(contact.0)
    .bind(inbox.0)
    .fetch_optional(&mut *c)
    .await?;
    if let Some(r) = latest
        && r.try_get::<String, _>("status")? != ConversationStatus::Resolved.as_str() {
            let status = parse("status", r.try_get("status")?, ConversationStatus::parse)?;
            return Ok((ConversationId(r.try_get("id")?), Some(status)));
        }
    let r = sqlx::query(
        "INSERT INTO conversations (workspace_id, inbox_id, contact_id, status, priority, last_activity_at, created_at, waiting_since)
         VALUES ($1, $2, $3, 'open', 'none', $4, $4, $5) RETURNING id",
    )
    .bind(ws.0)
    .bind(inbox.0)
    .bind(contact.0)
    .bind(now.0)
    .bind(waiting_since.map(|t| t.0))
    .fetch_one(&mut *c)
    .await?;
    Ok((ConversationId(r.try_get(0)?), None))
}

pub async fn receive_message(c: &mut Conn, ws: WorkspaceId, m: &InboundMessage, now: Timestamp) -> Result<Received> {
    if let Some(key) = &m.dedup_key
        && let Some(existing) = message_by_dedup_key(c, ws, key).await? {
            let conversation = must_conversation(c, ws, existing.conversation_id).await?;
            return Ok(Received { message: existing, conversation, created: false, events: Vec::new() });
        }
    let inbox = get_inbox(c, ws, m.inbox_id).await?.ok_or(StoreError::NotFound)?;
    let contact = get_contact(c, ws, m.contact_id).await?.ok_or(StoreError::NotFound)?;
    let (conversation_id, open) = conversation_to_write(c, ws, m.inbox_id, m.contact_id, Some(now), now).await?;
    let is_new = open.is_none();
    if is_new {
        route_on_arrival(c, ws, conversation_id, &inbox, &m.content, &contact).await?;
    }
    let sender = Sender { kind: SenderType::Contact, id: Some(contact.id.0), name: contact.name.clone() };
    let message_id = insert_message(
        c,
        ws,
        conversation_id,
        MessageKind::In,
        &m.content,
        &sender,
        DeliveryStatus::Delivered,
        m.echo_id.as_deref(),
        m.dedup_key.as_deref(),
        now,
    )
    .await?;
    link_attachments(c, ws, message_id, AttachmentOwner::Contact(m.contact_id), &m.attachment_ids).await?;
    let message = if m.attachment_ids.is_empty() { get_message_without_files(c, ws, message_id.0).await? } else { get_message(c, ws, message_id.0).await? };
    // A customer writing to a snoozed conversation wakes it up.
    sqlx::query(
        "UPDATE conversations
            SET last_message_id = $1, last_activity_at = $2, waiting_since = COALESCE(waiting_since, $2),
                status = CASE WHEN status = 'snoozed' THEN 'open' ELSE status END,
                snoozed_until = CASE WHEN status = 'snoozed' THEN NULL ELSE snoozed_until END
          WHERE workspace_id = $3 AND id = $4",
    )
    .bind(message.id.0)
    .bind(now.0)
    .bind(ws.0)
    .bind(conversation_id.0)
    .execute(&mut *c)
    .await?;
    let conversation = must_conversation(c, ws, conversation_id).await?;
    let conv_event = if is_new {
        EventPayload::ConversationCreated(Box::new(conversation.clone()))
    } else {
        EventPayload::ConversationUpdated(Box::new(conversation.clone()))
    };
    let mut events = vec![
        Event::conversation(ws, &conversation, conv_event),
        Event::conversation(ws, &conversation, EventPayload::MessageCreated(message.clone())),
    ];
    // A snoozed conversation woken by the customer.
    if let Some(before) = open {
        events.extend(status_change(ws, before, &conversation));
    }
    record(c, &events, now).await?;
    Ok(Received { message, conversation, created: true, events })
}

pub async fn send_message(
    c: &mut Conn,
    ws: WorkspaceId,
    id: ConversationId,
    m: &OutboundMessage,
    now: Timestamp,
) -> Result<Written<Message>> {
    send_message_with_template(c, ws, id, m, None, now).await
}

/// `send_message`, with a WhatsApp template (JSON) for the outbox to send
/// instead of the text. Refused unless the reply goes through the outbox.
pub async fn send_message_with_template(
    c: &mut Conn,
    ws: WorkspaceId,
    id: ConversationId,
    m: &OutboundMessage,
    template: Option<&str>,
    now: Timestamp,
) -> Result<Written<Message>> {
    let dedup_key = match (&m.echo_id, m.sender.id) {
        (Some(echo), Some(sender)) => Some(format!("{}:{sender}:{echo}", m.sender.kind.as_str())),
        _ => None,
    };
    if let Some(key) = &dedup_key
        && let Some(existing) = message_by_dedup_key(c, ws, key).await? {
            if existing.conversation_id == id {
                return Ok(Written { value: existing, events: Vec::new() });
            }
            return Err(StoreError::conflict("echo_id_reused", "this echo_id was used for another conversation"));
        }
    let conversation_before = must_conversation(c, ws, id).await?;
    let before = conversation_before.status;
    // A reply into a provider's chat is queued: the outbox worker sends it
    // and moves it on to sent (or failed, with the provider's reason).
    let via_outbox = m.kind == MessageKind::Out && conversation_before.channel.sends_through_outbox();
    let status = if via_outbox { DeliveryStatus::Queued } else { m.status };
    if template.is_some() && !via_outbox {
        return Err(StoreError::Invalid("whatsapp_template: only a reply through a provider can be a template".into()));
    }
    let message_id =
        insert_message(c, ws, id, m.kind, &m.content, &m.sender, status, m.echo_id.as_deref(), dedup_key.as_deref(), now)
            .await?;
    if via_outbox {
        enqueue_outbox(c, ws, message_id, id, conversation_before.inbox_id, template, now).await?;
    }
    link_attachments(c, ws, message_id, AttachmentOwner::Conversation(id), &m.attachment_ids).await?;
    let message = get_message(c, ws, message_id.0).await?;
    // Only a person's reply counts: an automatic one (away message,
    // greeting) neither stops the SLA clocks nor claims or reopens anything.
    if m.kind == MessageKind::Out && m.sender.kind == SenderType::User {
        // The first reply stops the customer's wait and, if nobody had the
        // conversation, gives it to whoever answered.
        let replier = if m.sender.kind == SenderType::User { m.sender.id } else { None };
        sqlx::query(
            "UPDATE conversations
                SET last_message_id = $1, last_activity_at = $2, first_reply_at = COALESCE(first_reply_at, $2),
                    waiting_since = NULL, assignee_id = COALESCE(assignee_id, $3),
                    status = CASE WHEN status = 'resolved' THEN 'open' ELSE status END,
                    resolved_at = CASE WHEN status = 'resolved' THEN NULL ELSE resolved_at END
              WHERE workspace_id = $4 AND id = $5",
        )
        .bind(message.id.0)
        .bind(now.0)
        .bind(replier)
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    } else {
        sqlx::query("UPDATE conversations SET last_message_id = $1, last_activity_at = $2 WHERE workspace_id = $3 AND id = $4")
            .bind(message.id.0)
            .bind(now.0)
            .bind(ws.0)
            .bind(id.0)
            .execute(&mut *c)
            .await?;
    }
    let conversation = must_conversation(c, ws, id).await?;
    let mut events = vec![
        Event::conversation(ws, &conversation, EventPayload::MessageCreated(message.clone())),
        Event::conversation(ws, &conversation, EventPayload::ConversationUpdated(Box::new(conversation.clone()))),
    ];
    // A reply reopens a resolved conversation.
    events.extend(status_change(ws, before, &conversation));
    record(c, &events, now).await?;
    Ok(Written { value: message, events })
}

/// Oldest first. `page.after` is the oldest message already shown: the page
/// holds the `limit` messages before it.
pub async fn list_messages(c: &mut Conn, ws: WorkspaceId, id: ConversationId, page: Page) -> Result<Paged<Message>> {
    must_conversation(c, ws, id).await?;
    let mut qb = QueryBuilder::<Db>::new(MESSAGE_SELECT);
    qb.push(" WHERE workspace_id = ").push_bind(ws.0).push(" AND conversation_id = ").push_bind(id.0);
    if let Some(after) = page.after {
        qb.push(" AND id < ").push_bind(after.id);
    }
    qb.push(" ORDER BY id DESC LIMIT ").push_bind(page.limit + 1);
    let rows = qb.build().fetch_all(&mut *c).await?;
    let mut items = rows.iter().map(message_row).collect::<Result<Vec<_>>>()?;
    let next = cut_page(&mut items, page.limit, |m| Cursor { key: 0, id: m.id.0 });
    items.reverse();
    attach_files(c, ws, &mut items).await?;
    Ok(Paged { items, next })
}

/// What the customer sees in the widget: their and agents' messages across
/// all their conversations in this inbox, never notes. Oldest first.
pub async fn contact_thread(c: &mut Conn, ws: WorkspaceId, inbox: InboxId, contact: ContactId, limit: i64) -> Result<Vec<Message>> {
    let rows = sqlx::query(&format!(
        "{MESSAGE_SELECT} WHERE workspace_id = $1 AND kind IN ('in', 'out') AND conversation_id IN
            (SELECT id FROM conversations WHERE workspace_id = $1 AND inbox_id = $2 AND contact_id = $3)
         ORDER BY id DESC LIMIT $4"
    ))
    .bind(ws.0)
    .bind(inbox.0)
    .bind(contact.0)
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    let mut items = rows.iter().map(message_row).collect::<Result<Vec<_>>>()?;
    items.reverse();
    attach_files(c, ws, &mut items).await?;
    Ok(items)
}

// -------------------------------------------------------- tags and templates

pub async fn list_tags(c: &mut Conn, ws: WorkspaceId) -> Result<Vec<Tag>> {
    let rows = sqlx::query("SELECT id, name, color FROM tags WHERE workspace_id = $1 ORDER BY name")
        .bind(ws.0)
        .fetch_all(&mut *c)
        .await?;
    rows.iter()
        .map(|r| Ok(Tag { id: TagId(r.try_get("id")?), name: r.try_get("name")?, color: r.try_get("color")? }))
        .collect()
}

pub async fn create_tag(c: &mut Conn, ws: WorkspaceId, name: &str, color: &str) -> Result<Tag> {
    let r = sqlx::query("INSERT INTO tags (workspace_id, name, color) VALUES ($1, $2, $3) RETURNING id")
        .bind(ws.0)
        .bind(name)
        .bind(color)
        .fetch_one(&mut *c)
        .await
        .map_err(taken("a tag with this name exists"))?;
    Ok(Tag { id: TagId(r.try_get(0)?), name: name.to_owned(), color: color.to_owned() })
}

pub async fn delete_tag(c: &mut Conn, ws: WorkspaceId, id: TagId) -> Result<()> {
    let exists = sqlx::query("SELECT 1 FROM tags WHERE workspace_id = $1 AND id = $2")
        .bind(ws.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?;
    if exists.is_none() {
        return Err(StoreError::NotFound);
    }
    sqlx::query("DELETE FROM conversation_tags WHERE tag_id = $1").bind(id.0).execute(&mut *c).await?;
    sqlx::query("DELETE FROM tags WHERE workspace_id = $1 AND id = $2").bind(ws.0).bind(id.0).execute(&mut *c).await?;
    Ok(())
}

fn template_row(r: &DbRow) -> Result<Template> {
    Ok(Template { id: TemplateId(r.try_get("id")?), name: r.try_get("name")?, content: r.try_get("content")? })
}

pub async fn list_templates(c: &mut Conn, ws: WorkspaceId) -> Result<Vec<Template>> {
    let rows = sqlx::query("SELECT id, name, content FROM templates WHERE workspace_id = $1 ORDER BY name")
        .bind(ws.0)
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(template_row).collect()
}

pub async fn create_template(c: &mut Conn, ws: WorkspaceId, name: &str, content: &str, now: Timestamp) -> Result<Template> {
    let r = sqlx::query(
        "INSERT INTO templates (workspace_id, name, content, created_at) VALUES ($1, $2, $3, $4) RETURNING id, name, content",
    )
    .bind(ws.0)
    .bind(name)
    .bind(content)
    .bind(now.0)
    .fetch_one(&mut *c)
    .await
    .map_err(taken("a template with this name exists"))?;
    template_row(&r)
}

pub async fn update_template(
    c: &mut Conn,
    ws: WorkspaceId,
    id: TemplateId,
    name: Option<&str>,
    content: Option<&str>,
) -> Result<Template> {
    let r = sqlx::query(
        "UPDATE templates SET name = COALESCE($1, name), content = COALESCE($2, content)
         WHERE workspace_id = $3 AND id = $4 RETURNING id, name, content",
    )
    .bind(name)
    .bind(content)
    .bind(ws.0)
    .bind(id.0)
    .fetch_optional(&mut *c)
    .await
    .map_err(taken("a template with this name exists"))?
    .ok_or(StoreError::NotFound)?;
    template_row(&r)
}

pub async fn delete_template(c: &mut Conn, ws: WorkspaceId, id: TemplateId) -> Result<()> {
    let done = sqlx::query("DELETE FROM templates WHERE workspace_id = $1 AND id = $2")
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The contact's current (not resolved) conversation in this inbox.
pub async fn open_conversation_of(c: &mut Conn, ws: WorkspaceId, inbox: InboxId, contact: ContactId) -> Result<Option<Conversation>> {
    let r = sqlx::query(
        "SELECT id FROM conversations WHERE workspace_id = $1 AND inbox_id = $2 AND contact_id = $3 AND status <> 'resolved'
         ORDER BY id DESC LIMIT 1",
    )
    .bind(ws.0)
    .bind(inbox.0)
    .bind(contact.0)
    .fetch_optional(&mut *c)
    .await?;
    match r {
        None => Ok(None),
        Some(r) => get_conversation(c, ws, ConversationId(r.try_get(0)?)).await,
    }
}

// ------------------------------------------------- reviews, hours, api tokens

fn review_row(r: &DbRow) -> Result<Review> {
    Ok(Review {
        id: r.try_get("id")?,
        conversation_id: ConversationId(r.try_get("conversation_id")?),
        reviewer_id: UserId(r.try_get("reviewer_id")?),
        score: r.try_get("score")?,
        comment: r.try_get("comment")?,
        created_at: ts(r.try_get("created_at")?),
    })
}

pub async fn list_reviews(c: &mut Conn, ws: WorkspaceId, conversation: ConversationId) -> Result<Vec<Review>> {
    must_conversation(c, ws, conversation).await?;
    let rows = sqlx::query(
        "SELECT id, conversation_id, reviewer_id, score, comment, created_at FROM reviews
         WHERE workspace_id = $1 AND conversation_id = $2 ORDER BY id DESC",
    )
    .bind(ws.0)
    .bind(conversation.0)
    .fetch_all(&mut *c)
    .await?;
    rows.iter().map(review_row).collect()
}

pub async fn create_review(
    c: &mut Conn,
    ws: WorkspaceId,
    conversation: ConversationId,
    reviewer: UserId,
    score: i64,
    comment: &str,
    now: Timestamp,
) -> Result<Review> {
    must_conversation(c, ws, conversation).await?;
    let r = sqlx::query(
        "INSERT INTO reviews (workspace_id, conversation_id, reviewer_id, score, comment, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, conversation_id, reviewer_id, score, comment, created_at",
    )
    .bind(ws.0)
    .bind(conversation.0)
    .bind(reviewer.0)
    .bind(score)
    .bind(comment)
    .bind(now.0)
    .fetch_one(&mut *c)
    .await?;
    review_row(&r)
}

pub async fn get_business_hours(c: &mut Conn, ws: WorkspaceId) -> Result<Option<String>> {
    get_doc(c, WorkspaceDoc::BusinessHours, ws).await
}

pub async fn set_business_hours(c: &mut Conn, ws: WorkspaceId, config: &str, now: Timestamp) -> Result<()> {
    set_doc(c, WorkspaceDoc::BusinessHours, ws, config, now).await
}

pub async fn list_api_tokens(c: &mut Conn, ws: WorkspaceId) -> Result<Vec<ApiTokenInfo>> {
    let rows = sqlx::query("SELECT id, name, user_id, created_at FROM api_tokens WHERE workspace_id = $1 ORDER BY id")
        .bind(ws.0)
        .fetch_all(&mut *c)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ApiTokenInfo {
                id: ApiTokenId(r.try_get("id")?),
                name: r.try_get("name")?,
                user_id: UserId(r.try_get("user_id")?),
                created_at: ts(r.try_get("created_at")?),
            })
        })
        .collect()
}

/// Revokes a token; answers whose it was, so their sockets can be closed.
pub async fn delete_api_token(c: &mut Conn, ws: WorkspaceId, id: ApiTokenId) -> Result<UserId> {
    let r = sqlx::query("DELETE FROM api_tokens WHERE workspace_id = $1 AND id = $2 RETURNING user_id")
        .bind(ws.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(UserId(r.try_get(0)?))
}

/// Moves the customer-facing messages `ids` (or, with `up_to`, every agent
/// message of the contact's thread in this inbox up to that id) forward to
/// `status`. Statuses never move backwards (`DeliveryStatus::may_advance_to`),
/// so late or repeated receipts change nothing. Returns the changed messages.
pub async fn advance_delivery(
    c: &mut Conn,
    ws: WorkspaceId,
    inbox: InboxId,
    contact: ContactId,
    up_to: MessageId,
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
        .push(" AND kind = 'out' AND id <= ")
        .push_bind(up_to.0)
        .push(" AND conversation_id IN (SELECT id FROM conversations WHERE workspace_id = ")
        .push_bind(ws.0)
        .push(" AND inbox_id = ")
        .push_bind(inbox.0)
        .push(" AND contact_id = ")
        .push_bind(contact.0)
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
        let m = get_message(c, ws, id).await?;
        let conv = must_conversation(c, ws, m.conversation_id).await?;
        events.push(Event::conversation(ws, &conv, EventPayload::MessageUpdated(m.clone())));
        messages.push(m);
    }
    record(c, &events, now).await?;
    Ok(Written { value: messages, events })
}

/// The rows `core::live::live_stats` needs: every conversation that is not
/// resolved, the members with their presence and teams, and the team ids.
pub async fn live_rows(
    c: &mut Conn,
    ws: WorkspaceId,
) -> Result<(Vec<switchboard_core::live::OpenConversationRow>, Vec<switchboard_core::live::AgentRow>, Vec<TeamId>)> {
    use switchboard_core::live::{AgentRow, OpenConversationRow};
    let rows = sqlx::query(
        "SELECT c.team_id, i.channel, c.status, c.assignee_id, c.waiting_since, c.created_at
           FROM conversations c JOIN inboxes i ON i.id = c.inbox_id
          WHERE c.workspace_id = $1 AND c.status <> 'resolved'",
    )
    .bind(ws.0)
    .fetch_all(&mut *c)
    .await?;
    let conversations = rows
        .iter()
        .map(|r| {
            Ok(OpenConversationRow {
                team_id: r.try_get::<Option<i64>, _>("team_id")?.map(TeamId),
                channel: parse("channel", r.try_get("channel")?, Channel::parse)?,
                status: parse("status", r.try_get("status")?, ConversationStatus::parse)?,
                assignee_id: r.try_get::<Option<i64>, _>("assignee_id")?.map(UserId),
                waiting_since: opt_ts(r, "waiting_since")?,
                created_at: ts(r.try_get("created_at")?),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let members = list_members(c, ws).await?;
    let memberships = sqlx::query("SELECT user_id, team_id FROM team_members WHERE workspace_id = $1")
        .bind(ws.0)
        .fetch_all(&mut *c)
        .await?;
    let mut agents = Vec::with_capacity(members.len());
    for m in members {
        let mut team_ids = Vec::new();
        for r in &memberships {
            if r.try_get::<i64, _>(0)? == m.id.0 {
                team_ids.push(TeamId(r.try_get(1)?));
            }
        }
        agents.push(AgentRow { user_id: m.id, role: m.role, presence: m.presence, since: m.presence_since, team_ids });
    }
    let teams = list_teams(c, ws).await?.into_iter().map(|t| t.id).collect();
    Ok((conversations, agents, teams))
}

#[derive(Debug, Clone, Copy)]
enum AttachmentOwner {
    Conversation(ConversationId),
    Contact(ContactId),
}

pub async fn create_attachment(c: &mut Conn, ws: WorkspaceId, new: &NewAttachment, now: Timestamp) -> Result<Attachment> {
    match new.owner {
        UploadOwner::Agent { conversation, .. } => {
            must_conversation(c, ws, conversation).await?;
        }
        UploadOwner::Visitor { contact } => {
            get_contact(c, ws, contact).await?.ok_or(StoreError::NotFound)?;
        }
    }
    let (conversation, contact, uploader_type, uploader_id) = match new.owner {
        UploadOwner::Agent { conversation, user } => (Some(conversation.0), None, "user", user.0),
        UploadOwner::Visitor { contact } => (None, Some(contact.0), "contact", contact.0),
    };
    let r = sqlx::query(
        "INSERT INTO attachments (workspace_id, conversation_id, contact_id, uploader_type, uploader_id, filename,
                                  content_type, size, access_key, data, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(ws.0)
    .bind(conversation)
    .bind(contact)
    .bind(uploader_type)
    .bind(uploader_id)
    .bind(&new.filename)
    .bind(&new.content_type)
    .bind(new.data.len() as i64)
    .bind(&new.access_key)
    .bind(&new.data)
    .bind(now.0)
    .fetch_one(&mut *c)
    .await?;
    let id: i64 = r.try_get(0)?;
    Ok(Attachment {
        id: AttachmentId(id),
        url: attachment_url(ws, id, &new.access_key, &new.filename),
        filename: new.filename.clone(),
        content_type: new.content_type.clone(),
        size: new.data.len() as i64,
    })
}

/// The file behind a download URL, if the key matches.
pub async fn attachment_file(c: &mut Conn, ws: WorkspaceId, id: AttachmentId, key: &str) -> Result<Option<StoredFile>> {
    let r = sqlx::query("SELECT filename, content_type, data FROM attachments WHERE workspace_id = $1 AND id = $2 AND access_key = $3")
        .bind(ws.0)
        .bind(id.0)
        .bind(key)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(stored_file).transpose()
}

/// A `SELECT filename, content_type, data` row of `attachments`.
fn stored_file(r: &DbRow) -> Result<StoredFile> {
    Ok(StoredFile { filename: r.try_get(0)?, content_type: r.try_get(1)?, data: r.try_get(2)? })
}

/// Fills the files of each conversation's last message (list previews name
/// them), with the same loader as full messages.
async fn attach_last_message_files(c: &mut Conn, ws: WorkspaceId, conversations: &mut [Conversation]) -> Result<()> {
    let mut lasts: Vec<Message> = conversations.iter_mut().filter_map(|x| x.last_message.take()).collect();
    attach_files(c, ws, &mut lasts).await?;
    for m in lasts {
        if let Some(conv) = conversations.iter_mut().find(|x| x.id == m.conversation_id) {
            conv.last_message = Some(m);
        }
    }
    Ok(())
}

// Automation rules: see the file.
include!("ops_automation.rs");

// Team hours, automation settings, auto replies, SLA breaches, auto-resolve.
include!("ops_hours_sla.rs");
include!("ops_routing.rs");
include!("ops_channels.rs");
include!("ops_voice.rs");
