// Voice (SPEC §3.6): settings, SIP extensions, numbers, trunks, IVR menus,
// call records and callback requests. Part of `ops.rs` (included at its end,
// sharing its `Db`/`Conn` types and helpers).
//
// Every statement is scoped by workspace except the two lookups the SIP
// server makes before it knows the workspace: a DID (`lookup_number`) and a
// SIP domain (`find_workspace_by_sip_domain`); both keys are unique across
// workspaces by index. Writes about a call commit with its event rows
// (`call.created` / `call.updated` / `call.ended`) and, where the call
// changes its conversation, the conversation's and message's events.

use crate::model_voice::*;
use switchboard_core::voice::{self as voice, *};

fn conflict_on_unique(code: &'static str, message: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match StoreError::from(e) {
        StoreError::Conflict { .. } => StoreError::conflict(code, message),
        other => other,
    }
}

fn opt_id(r: &DbRow, col: &str) -> Result<Option<i64>> {
    Ok(r.try_get::<Option<i64>, _>(col)?)
}

async fn must_member(c: &mut Conn, ws: WorkspaceId, user: UserId, field: &str) -> Result<()> {
    if is_member(c, ws, user).await? {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!("{field}: user {user} is not a member of this workspace")))
    }
}

// ------------------------------------------------------------------ settings

/// The workspace's voice settings, with its SIP domain resolved (the
/// default one when never set).
pub async fn get_voice_settings(c: &mut Conn, ws: WorkspaceId) -> Result<VoiceSettings> {
    let r = sqlx::query("SELECT sip_domain, config FROM voice_settings WHERE workspace_id = $1").bind(ws.0).fetch_optional(&mut *c).await?;
    let Some(r) = r else {
        return Ok(VoiceSettings { sip_domain: Some(default_sip_domain(ws)), ..VoiceSettings::default() });
    };
    let config: String = r.try_get("config")?;
    let mut s: VoiceSettings = serde_json::from_str(&config).map_err(|_| corrupt("voice_settings.config", &config))?;
    s.sip_domain = Some(r.try_get("sip_domain")?);
    Ok(s)
}

/// Saves settings already checked by `VoiceSettings::checked`. A SIP domain
/// another workspace uses is a conflict. Extensions keep the realm their
/// HA1 was computed under (see `sip_extensions.realm`), so a new domain
/// never invalidates stored credentials.
pub async fn set_voice_settings(c: &mut Conn, ws: WorkspaceId, s: &VoiceSettings, now: Timestamp) -> Result<VoiceSettings> {
    let domain = s.sip_domain.clone().unwrap_or_else(|| default_sip_domain(ws));
    let doc = VoiceSettings { sip_domain: None, ..s.clone() };
    let config = serde_json::to_string(&doc).map_err(|e| StoreError::Database(sqlx::Error::Encode(Box::new(e))))?;
    sqlx::query(
        "INSERT INTO voice_settings (workspace_id, sip_domain, config, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (workspace_id) DO UPDATE SET sip_domain = excluded.sip_domain, config = excluded.config,
                                                 updated_at = excluded.updated_at",
    )
    .bind(ws.0)
    .bind(&domain)
    .bind(&config)
    .bind(now.0)
    .execute(&mut *c)
    .await
    .map_err(conflict_on_unique("sip_domain_taken", "another workspace uses this SIP domain"))?;
    get_voice_settings(c, ws).await
}

/// The workspace a SIP request's domain names: a saved domain, or a
/// default `ws<id>.switchboard.local` of a workspace that saved none.
pub async fn find_workspace_by_sip_domain(c: &mut Conn, domain: &str) -> Result<Option<WorkspaceId>> {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let r = sqlx::query("SELECT workspace_id FROM voice_settings WHERE sip_domain = $1").bind(&d).fetch_optional(&mut *c).await?;
    if let Some(r) = r {
        return Ok(Some(WorkspaceId(r.try_get(0)?)));
    }
    let Some(ws) = workspace_of_default_domain(&d) else { return Ok(None) };
    let r = sqlx::query(
        "SELECT 1 FROM workspaces w WHERE w.id = $1
            AND NOT EXISTS (SELECT 1 FROM voice_settings v WHERE v.workspace_id = w.id)",
    )
    .bind(ws.0)
    .fetch_optional(&mut *c)
    .await?;
    Ok(r.map(|_| ws))
}

// ---------------------------------------------------------------- extensions

const EXTENSION_SELECT: &str = "SELECT id, extension, user_id, display_name, ha1, realm, created_at FROM sip_extensions";

fn extension_row(r: &DbRow) -> Result<SipExtension> {
    Ok(SipExtension {
        id: SipExtensionId(r.try_get("id")?),
        extension: r.try_get("extension")?,
        user_id: opt_id(r, "user_id")?.map(UserId),
        display_name: r.try_get("display_name")?,
        ha1: r.try_get("ha1")?,
        realm: r.try_get("realm")?,
        created_at: ts(r.try_get("created_at")?),
    })
}

/// Refuses an extension number or an agent that is taken, with codes the
/// API shows (`extension_taken`, `agent_has_extension`).
async fn check_extension_free(
    c: &mut Conn,
    ws: WorkspaceId,
    ext: Option<&str>,
    user: Option<UserId>,
    except: Option<SipExtensionId>,
) -> Result<()> {
    let except = except.map_or(0, |e| e.0);
    if let Some(ext) = ext {
        let taken = sqlx::query("SELECT 1 FROM sip_extensions WHERE workspace_id = $1 AND extension = $2 AND id <> $3")
            .bind(ws.0)
            .bind(ext)
            .bind(except)
            .fetch_optional(&mut *c)
            .await?;
        if taken.is_some() {
            return Err(StoreError::conflict("extension_taken", format!("extension {ext} exists")));
        }
    }
    if let Some(user) = user {
        must_member(c, ws, user, "user_id").await?;
        let taken = sqlx::query("SELECT 1 FROM sip_extensions WHERE workspace_id = $1 AND user_id = $2 AND id <> $3")
            .bind(ws.0)
            .bind(user.0)
            .bind(except)
            .fetch_optional(&mut *c)
            .await?;
        if taken.is_some() {
            return Err(StoreError::conflict("agent_has_extension", "this agent already has an extension"));
        }
    }
    Ok(())
}

pub async fn create_sip_extension(c: &mut Conn, ws: WorkspaceId, new: &NewSipExtension, now: Timestamp) -> Result<SipExtension> {
    check_extension_free(c, ws, Some(&new.extension), new.user_id, None).await?;
    let r = sqlx::query(
        "INSERT INTO sip_extensions (workspace_id, extension, user_id, display_name, ha1, realm, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(ws.0)
    .bind(&new.extension)
    .bind(new.user_id.map(|u| u.0))
    .bind(&new.display_name)
    .bind(&new.ha1)
    .bind(&new.realm)
    .bind(now.0)
    .fetch_one(&mut *c)
    .await
    .map_err(conflict_on_unique("extension_taken", "this extension or agent already has one"))?;
    get_sip_extension(c, ws, SipExtensionId(r.try_get(0)?)).await?.ok_or(StoreError::NotFound)
}

pub async fn list_sip_extensions(c: &mut Conn, ws: WorkspaceId) -> Result<Vec<SipExtension>> {
    let rows = sqlx::query(&format!("{EXTENSION_SELECT} WHERE workspace_id = $1 ORDER BY extension")).bind(ws.0).fetch_all(&mut *c).await?;
    rows.iter().map(extension_row).collect()
}

pub async fn get_sip_extension(c: &mut Conn, ws: WorkspaceId, id: SipExtensionId) -> Result<Option<SipExtension>> {
    let r = sqlx::query(&format!("{EXTENSION_SELECT} WHERE workspace_id = $1 AND id = $2"))
        .bind(ws.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(extension_row).transpose()
}

pub async fn update_sip_extension(c: &mut Conn, ws: WorkspaceId, id: SipExtensionId, p: &SipExtensionPatch) -> Result<SipExtension> {
    let mut e = get_sip_extension(c, ws, id).await?.ok_or(StoreError::NotFound)?;
    if let Some(user) = p.user_id {
        check_extension_free(c, ws, None, user, Some(id)).await?;
        e.user_id = user;
    }
    if let Some(name) = &p.display_name {
        e.display_name = name.clone();
    }
    if let Some((ha1, realm)) = &p.credentials {
        e.ha1 = ha1.clone();
        e.realm = realm.clone();
    }
    sqlx::query("UPDATE sip_extensions SET user_id = $1, display_name = $2, ha1 = $3, realm = $4 WHERE workspace_id = $5 AND id = $6")
        .bind(e.user_id.map(|u| u.0))
        .bind(&e.display_name)
        .bind(&e.ha1)
        .bind(&e.realm)
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *c)
        .await
        .map_err(conflict_on_unique("agent_has_extension", "this agent already has an extension"))?;
    Ok(e)
}

pub async fn delete_sip_extension(c: &mut Conn, ws: WorkspaceId, id: SipExtensionId) -> Result<()> {
    let done = sqlx::query("DELETE FROM sip_extensions WHERE workspace_id = $1 AND id = $2").bind(ws.0).bind(id.0).execute(&mut *c).await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

fn credentials(ws: WorkspaceId, e: SipExtension) -> SipCredentials {
    SipCredentials { workspace_id: ws, extension_id: e.id, user_id: e.user_id, display_name: e.display_name, ha1: e.ha1, realm: e.realm }
}

/// The digest credentials of `extension` in a workspace.
pub async fn workspace_sip_credentials(c: &mut Conn, ws: WorkspaceId, extension: &str) -> Result<Option<SipCredentials>> {
    let r = sqlx::query(&format!("{EXTENSION_SELECT} WHERE workspace_id = $1 AND extension = $2"))
        .bind(ws.0)
        .bind(extension)
        .fetch_optional(&mut *c)
        .await?;
    Ok(r.as_ref().map(extension_row).transpose()?.map(|e| credentials(ws, e)))
}

/// The registrar's lookup: `extension@domain`.
pub async fn sip_credentials(c: &mut Conn, domain: &str, extension: &str) -> Result<Option<SipCredentials>> {
    match find_workspace_by_sip_domain(c, domain).await? {
        Some(ws) => workspace_sip_credentials(c, ws, extension).await,
        None => Ok(None),
    }
}

/// The agent's phone, to ring them.
pub async fn extension_of_user(c: &mut Conn, ws: WorkspaceId, user: UserId) -> Result<Option<SipExtension>> {
    let r = sqlx::query(&format!("{EXTENSION_SELECT} WHERE workspace_id = $1 AND user_id = $2"))
        .bind(ws.0)
        .bind(user.0)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(extension_row).transpose()
}

// ------------------------------------------------------------------- numbers

const NUMBER_SELECT: &str = "SELECT id, workspace_id, number, inbox_id, ivr_menu_id, default_team_id, created_at FROM voice_numbers";

fn number_row(r: &DbRow) -> Result<VoiceNumber> {
    Ok(VoiceNumber {
        id: VoiceNumberId(r.try_get("id")?),
        workspace_id: WorkspaceId(r.try_get("workspace_id")?),
        number: r.try_get("number")?,
        inbox_id: InboxId(r.try_get("inbox_id")?),
        ivr_menu_id: opt_id(r, "ivr_menu_id")?.map(IvrMenuId),
        default_team_id: opt_id(r, "default_team_id")?.map(TeamId),
        created_at: ts(r.try_get("created_at")?),
    })
}

/// The inbox, menu and team a number points at must be this workspace's
/// (and the inbox a voice inbox); otherwise the write is invalid (400).
async fn check_number_refs(c: &mut Conn, ws: WorkspaceId, inbox: InboxId, menu: Option<IvrMenuId>, team: Option<TeamId>) -> Result<()> {
    if !get_inbox(c, ws, inbox).await?.is_some_and(|i| i.channel == Channel::Voice) {
        return Err(StoreError::Invalid(format!("inbox_id: {inbox} is not a voice inbox of this workspace")));
    }
    if let Some(menu) = menu
        && get_ivr_menu(c, ws, menu).await?.is_none()
    {
        return Err(StoreError::Invalid(format!("ivr_menu_id: menu {menu} does not exist")));
    }
    if let Some(team) = team
        && !team_exists(c, ws, team).await?
    {
        return Err(StoreError::Invalid(format!("default_team_id: team {team} does not exist")));
    }
    Ok(())
}

/// Rewrites the voice inbox's `numbers` config key from its number rows:
/// the table is the source, the key a read-only mirror for inbox views.
async fn sync_inbox_numbers(c: &mut Conn, ws: WorkspaceId, inbox: InboxId) -> Result<()> {
    let Some(mut i) = get_inbox(c, ws, inbox).await? else { return Ok(()) };
    let rows = sqlx::query("SELECT number FROM voice_numbers WHERE workspace_id = $1 AND inbox_id = $2 ORDER BY number")
        .bind(ws.0)
        .bind(inbox.0)
        .fetch_all(&mut *c)
        .await?;
    let numbers = rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<std::result::Result<Vec<_>, _>>()?;
    i.config.insert("numbers".into(), serde_json::json!(numbers));
    sqlx::query("UPDATE inboxes SET config = $1 WHERE workspace_id = $2 AND id = $3")
        .bind(to_json(&i.config))
        .bind(ws.0)
        .bind(inbox.0)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn create_voice_number(c: &mut Conn, ws: WorkspaceId, new: &NewVoiceNumber, now: Timestamp) -> Result<VoiceNumber> {
    check_number_refs(c, ws, new.inbox_id, new.ivr_menu_id, new.default_team_id).await?;
    // Unique across workspaces; the message does not say whose it is.
    let taken = sqlx::query("SELECT 1 FROM voice_numbers WHERE number = $1").bind(&new.number).fetch_optional(&mut *c).await?;
    if taken.is_some() {
        return Err(StoreError::conflict("number_taken", format!("{} is already in use", new.number)));
    }
    let r = sqlx::query(
        "INSERT INTO voice_numbers (workspace_id, number, inbox_id, ivr_menu_id, default_team_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(ws.0)
    .bind(&new.number)
    .bind(new.inbox_id.0)
    .bind(new.ivr_menu_id.map(|m| m.0))
    .bind(new.default_team_id.map(|t| t.0))
    .bind(now.0)
    .fetch_one(&mut *c)
    .await
    .map_err(conflict_on_unique("number_taken", "this number is already in use"))?;
    sync_inbox_numbers(c, ws, new.inbox_id).await?;
    get_voice_number(c, ws, VoiceNumberId(r.try_get(0)?)).await?.ok_or(StoreError::NotFound)
}

pub async fn list_voice_numbers(c: &mut Conn, ws: WorkspaceId) -> Result<Vec<VoiceNumber>> {
    let rows = sqlx::query(&format!("{NUMBER_SELECT} WHERE workspace_id = $1 ORDER BY number")).bind(ws.0).fetch_all(&mut *c).await?;
    rows.iter().map(number_row).collect()
}

pub async fn get_voice_number(c: &mut Conn, ws: WorkspaceId, id: VoiceNumberId) -> Result<Option<VoiceNumber>> {
    let r =
        sqlx::query(&format!("{NUMBER_SELECT} WHERE workspace_id = $1 AND id = $2")).bind(ws.0).bind(id.0).fetch_optional(&mut *c).await?;
    r.as_ref().map(number_row).transpose()
}

pub async fn update_voice_number(c: &mut Conn, ws: WorkspaceId, id: VoiceNumberId, p: &VoiceNumberPatch) -> Result<VoiceNumber> {
    let mut n = get_voice_number(c, ws, id).await?.ok_or(StoreError::NotFound)?;
    let old_inbox = n.inbox_id;
    if let Some(inbox) = p.inbox_id {
        n.inbox_id = inbox;
    }
    if let Some(menu) = p.ivr_menu_id {
        n.ivr_menu_id = menu;
    }
    if let Some(team) = p.default_team_id {
        n.default_team_id = team;
    }
    check_number_refs(c, ws, n.inbox_id, n.ivr_menu_id, n.default_team_id).await?;
    sqlx::query("UPDATE voice_numbers SET inbox_id = $1, ivr_menu_id = $2, default_team_id = $3 WHERE workspace_id = $4 AND id = $5")
        .bind(n.inbox_id.0)
        .bind(n.ivr_menu_id.map(|m| m.0))
        .bind(n.default_team_id.map(|t| t.0))
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    if old_inbox != n.inbox_id {
        sync_inbox_numbers(c, ws, old_inbox).await?;
        sync_inbox_numbers(c, ws, n.inbox_id).await?;
    }
    Ok(n)
}

pub async fn delete_voice_number(c: &mut Conn, ws: WorkspaceId, id: VoiceNumberId) -> Result<()> {
    let n = get_voice_number(c, ws, id).await?.ok_or(StoreError::NotFound)?;
    sqlx::query("DELETE FROM voice_numbers WHERE workspace_id = $1 AND id = $2").bind(ws.0).bind(id.0).execute(&mut *c).await?;
    sync_inbox_numbers(c, ws, n.inbox_id).await
}

/// Creates a voice inbox with its numbers in one transaction: a taken or
/// malformed number leaves nothing behind.
pub async fn create_voice_inbox(c: &mut Conn, ws: WorkspaceId, new: &NewInbox, numbers: &[String], now: Timestamp) -> Result<Inbox> {
    let mut bare = new.clone();
    bare.config.remove("numbers");
    let inbox = create_inbox(c, ws, &bare, now).await?;
    for number in numbers {
        let n = NewVoiceNumber { number: number.clone(), inbox_id: inbox.id, ivr_menu_id: None, default_team_id: None };
        create_voice_number(c, ws, &n, now).await?;
    }
    sync_inbox_numbers(c, ws, inbox.id).await?;
    get_inbox(c, ws, inbox.id).await?.ok_or(StoreError::NotFound)
}

/// The SIP server's first question about an INVITE: whose number is this,
/// and what answers it (settings, IVR menu). Global by design: the number
/// is unique across workspaces.
pub async fn lookup_number(c: &mut Conn, number: &str) -> Result<Option<NumberRoute>> {
    let r = sqlx::query(&format!("{NUMBER_SELECT} WHERE number = $1")).bind(number.trim()).fetch_optional(&mut *c).await?;
    let Some(n) = r.as_ref().map(number_row).transpose()? else { return Ok(None) };
    let settings = get_voice_settings(c, n.workspace_id).await?;
    let menu = match n.ivr_menu_id {
        Some(m) => get_ivr_menu(c, n.workspace_id, m).await?,
        None => None,
    };
    Ok(Some(NumberRoute { number: n, settings, menu }))
}

// -------------------------------------------------------------------- trunks

const TRUNK_SELECT: &str = "SELECT id, name, host, port, transport, username, password, register, inbound_ips, inbound_auth, registration, created_at FROM sip_trunks";

fn trunk_row(r: &DbRow) -> Result<SipTrunk> {
    let ips: String = r.try_get("inbound_ips")?;
    let port: i64 = r.try_get("port")?;
    Ok(SipTrunk {
        id: SipTrunkId(r.try_get("id")?),
        name: r.try_get("name")?,
        host: r.try_get("host")?,
        port: u16::try_from(port).map_err(|_| corrupt("port", &port.to_string()))?,
        transport: parse("transport", r.try_get("transport")?, SipTransport::parse)?,
        username: r.try_get("username")?,
        password: r.try_get("password")?,
        register: r.try_get("register")?,
        inbound_ips: serde_json::from_str(&ips).map_err(|_| corrupt("inbound_ips", &ips))?,
        inbound_auth: r.try_get("inbound_auth")?,
        registration: match r.try_get::<Option<String>, _>("registration")? {
            Some(j) => Some(serde_json::from_str(&j).map_err(|_| corrupt("registration", &j))?),
            None => None,
        },
        created_at: ts(r.try_get("created_at")?),
    })
}

/// Records how the trunk's registration stands (`None`: it no longer
/// registers). A trunk deleted meanwhile is no error.
pub async fn set_sip_trunk_registration(c: &mut Conn, ws: WorkspaceId, id: SipTrunkId, reg: Option<&TrunkRegistration>) -> Result<()> {
    let json = reg.map(|r| serde_json::json!(r).to_string());
    sqlx::query("UPDATE sip_trunks SET registration = $1 WHERE workspace_id = $2 AND id = $3")
        .bind(json)
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    Ok(())
}

async fn write_trunk(c: &mut Conn, ws: WorkspaceId, id: Option<SipTrunkId>, t: &NewSipTrunk, now: Timestamp) -> Result<SipTrunkId> {
    let ips = serde_json::json!(t.inbound_ips).to_string();
    let taken = conflict_on_unique("already_exists", "a trunk with this name exists");
    match id {
        None => {
            let r = sqlx::query(
                "INSERT INTO sip_trunks (workspace_id, name, host, port, transport, username, password, register, inbound_ips,
                                         inbound_auth, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            )
            .bind(ws.0)
            .bind(&t.name)
            .bind(&t.host)
            .bind(i64::from(t.port))
            .bind(t.transport.as_str())
            .bind(&t.username)
            .bind(&t.password)
            .bind(t.register)
            .bind(&ips)
            .bind(t.inbound_auth)
            .bind(now.0)
            .fetch_one(&mut *c)
            .await
            .map_err(taken)?;
            Ok(SipTrunkId(r.try_get(0)?))
        }
        Some(id) => {
            sqlx::query(
                "UPDATE sip_trunks SET name = $1, host = $2, port = $3, transport = $4, username = $5, password = $6,
                        register = $7, inbound_ips = $8, inbound_auth = $9
                  WHERE workspace_id = $10 AND id = $11",
            )
            .bind(&t.name)
            .bind(&t.host)
            .bind(i64::from(t.port))
            .bind(t.transport.as_str())
            .bind(&t.username)
            .bind(&t.password)
            .bind(t.register)
            .bind(&ips)
            .bind(t.inbound_auth)
            .bind(ws.0)
            .bind(id.0)
            .execute(&mut *c)
            .await
            .map_err(taken)?;
            Ok(id)
        }
    }
}

/// Registration and credential-matched inbound calls need a username and
/// password; a trunk must accept inbound calls somehow or be outbound-only.
fn check_trunk(t: &NewSipTrunk) -> Result<()> {
    let has_credentials = t.username.is_some() && t.password.is_some();
    if (t.register || t.inbound_auth) && !has_credentials {
        return Err(StoreError::Invalid("username, password: required to register or to authenticate inbound calls".into()));
    }
    Ok(())
}

pub async fn create_sip_trunk(c: &mut Conn, ws: WorkspaceId, t: &NewSipTrunk, now: Timestamp) -> Result<SipTrunk> {
    check_trunk(t)?;
    let id = write_trunk(c, ws, None, t, now).await?;
    get_sip_trunk(c, ws, id).await?.ok_or(StoreError::NotFound)
}

pub async fn list_sip_trunks(c: &mut Conn, ws: WorkspaceId) -> Result<Vec<SipTrunk>> {
    let rows = sqlx::query(&format!("{TRUNK_SELECT} WHERE workspace_id = $1 ORDER BY name, id")).bind(ws.0).fetch_all(&mut *c).await?;
    rows.iter().map(trunk_row).collect()
}

/// Trunks that register to their provider, across workspaces: what the
/// SIP server keeps registered (a global read, like `lookup_number`; each
/// row says its workspace).
pub async fn list_registering_trunks(c: &mut Conn) -> Result<Vec<(WorkspaceId, SipTrunk)>> {
    let rows = sqlx::query(&format!(
        "{} WHERE register = $1 ORDER BY workspace_id, id",
        TRUNK_SELECT.replace("SELECT id,", "SELECT workspace_id, id,")
    ))
    .bind(true)
    .fetch_all(&mut *c)
    .await?;
    rows.iter().map(|r| Ok((WorkspaceId(r.try_get("workspace_id")?), trunk_row(r)?))).collect()
}

pub async fn get_sip_trunk(c: &mut Conn, ws: WorkspaceId, id: SipTrunkId) -> Result<Option<SipTrunk>> {
    let r =
        sqlx::query(&format!("{TRUNK_SELECT} WHERE workspace_id = $1 AND id = $2")).bind(ws.0).bind(id.0).fetch_optional(&mut *c).await?;
    r.as_ref().map(trunk_row).transpose()
}

pub async fn update_sip_trunk(c: &mut Conn, ws: WorkspaceId, id: SipTrunkId, p: &SipTrunkPatch, now: Timestamp) -> Result<SipTrunk> {
    let cur = get_sip_trunk(c, ws, id).await?.ok_or(StoreError::NotFound)?;
    let t = NewSipTrunk {
        name: p.name.clone().unwrap_or(cur.name),
        host: p.host.clone().unwrap_or(cur.host),
        port: p.port.unwrap_or(cur.port),
        transport: p.transport.unwrap_or(cur.transport),
        username: p.username.clone().unwrap_or(cur.username),
        password: p.password.clone().unwrap_or(cur.password),
        register: p.register.unwrap_or(cur.register),
        inbound_ips: p.inbound_ips.clone().unwrap_or(cur.inbound_ips),
        inbound_auth: p.inbound_auth.unwrap_or(cur.inbound_auth),
    };
    check_trunk(&t)?;
    write_trunk(c, ws, Some(id), &t, now).await?;
    get_sip_trunk(c, ws, id).await?.ok_or(StoreError::NotFound)
}

pub async fn delete_sip_trunk(c: &mut Conn, ws: WorkspaceId, id: SipTrunkId) -> Result<()> {
    let done = sqlx::query("DELETE FROM sip_trunks WHERE workspace_id = $1 AND id = $2").bind(ws.0).bind(id.0).execute(&mut *c).await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

// ----------------------------------------------------------------- IVR menus

fn menu_row(r: &DbRow) -> Result<IvrMenu> {
    let config: String = r.try_get("config")?;
    Ok(IvrMenu {
        id: IvrMenuId(r.try_get("id")?),
        spec: serde_json::from_str(&config).map_err(|_| corrupt("ivr_menus.config", &config))?,
        created_at: ts(r.try_get("created_at")?),
        updated_at: ts(r.try_get("updated_at")?),
    })
}

/// Teams, menus and prompt files a menu names must be this workspace's. A
/// menu may name itself (replaying it is a normal design), so loops are
/// not an error.
async fn check_menu_refs(c: &mut Conn, ws: WorkspaceId, spec: &IvrMenuSpec, this: Option<IvrMenuId>) -> Result<()> {
    for action in spec.actions() {
        match action {
            IvrAction::Queue { team_id } => {
                if !team_exists(c, ws, *team_id).await? {
                    return Err(StoreError::Invalid(format!("options: team {team_id} does not exist")));
                }
            }
            IvrAction::Menu { menu_id } => {
                if Some(*menu_id) != this && get_ivr_menu(c, ws, *menu_id).await?.is_none() {
                    return Err(StoreError::Invalid(format!("options: menu {menu_id} does not exist")));
                }
            }
            IvrAction::Voicemail | IvrAction::Hangup => {}
        }
    }
    for file in spec.attachments() {
        let found = sqlx::query("SELECT 1 FROM attachments WHERE workspace_id = $1 AND id = $2")
            .bind(ws.0)
            .bind(file.0)
            .fetch_optional(&mut *c)
            .await?;
        if found.is_none() {
            return Err(StoreError::Invalid(format!("prompt: attachment {file} does not exist")));
        }
    }
    Ok(())
}

fn menu_json(spec: &IvrMenuSpec) -> Result<String> {
    serde_json::to_string(spec).map_err(|e| StoreError::Database(sqlx::Error::Encode(Box::new(e))))
}

/// An uploaded file an IVR menu plays: the PBX reads it by id (the menu
/// names it; no access key), always within the menu's workspace.
pub async fn prompt_file(c: &mut Conn, ws: WorkspaceId, id: AttachmentId) -> Result<Option<StoredFile>> {
    let r = sqlx::query("SELECT filename, content_type, data FROM attachments WHERE workspace_id = $1 AND id = $2")
        .bind(ws.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(stored_file).transpose()
}

pub async fn create_ivr_menu(c: &mut Conn, ws: WorkspaceId, spec: &IvrMenuSpec, now: Timestamp) -> Result<IvrMenu> {
    check_menu_refs(c, ws, spec, None).await?;
    let r =
        sqlx::query("INSERT INTO ivr_menus (workspace_id, name, config, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id")
            .bind(ws.0)
            .bind(&spec.name)
            .bind(menu_json(spec)?)
            .bind(now.0)
            .fetch_one(&mut *c)
            .await?;
    get_ivr_menu(c, ws, IvrMenuId(r.try_get(0)?)).await?.ok_or(StoreError::NotFound)
}

pub async fn list_ivr_menus(c: &mut Conn, ws: WorkspaceId) -> Result<Vec<IvrMenu>> {
    let rows = sqlx::query("SELECT id, config, created_at, updated_at FROM ivr_menus WHERE workspace_id = $1 ORDER BY name, id")
        .bind(ws.0)
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(menu_row).collect()
}

pub async fn get_ivr_menu(c: &mut Conn, ws: WorkspaceId, id: IvrMenuId) -> Result<Option<IvrMenu>> {
    let r = sqlx::query("SELECT id, config, created_at, updated_at FROM ivr_menus WHERE workspace_id = $1 AND id = $2")
        .bind(ws.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(menu_row).transpose()
}

pub async fn update_ivr_menu(c: &mut Conn, ws: WorkspaceId, id: IvrMenuId, spec: &IvrMenuSpec, now: Timestamp) -> Result<IvrMenu> {
    if get_ivr_menu(c, ws, id).await?.is_none() {
        return Err(StoreError::NotFound);
    }
    check_menu_refs(c, ws, spec, Some(id)).await?;
    sqlx::query("UPDATE ivr_menus SET name = $1, config = $2, updated_at = $3 WHERE workspace_id = $4 AND id = $5")
        .bind(&spec.name)
        .bind(menu_json(spec)?)
        .bind(now.0)
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    get_ivr_menu(c, ws, id).await?.ok_or(StoreError::NotFound)
}

/// Refused while a number answers with the menu or another menu leads to
/// it: a caller must never reach a menu that is gone.
pub async fn delete_ivr_menu(c: &mut Conn, ws: WorkspaceId, id: IvrMenuId) -> Result<()> {
    if get_ivr_menu(c, ws, id).await?.is_none() {
        return Err(StoreError::NotFound);
    }
    let by_number = sqlx::query("SELECT 1 FROM voice_numbers WHERE workspace_id = $1 AND ivr_menu_id = $2 LIMIT 1")
        .bind(ws.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?;
    let by_menu =
        list_ivr_menus(c, ws).await?.iter().any(|m| m.id != id && m.spec.actions().any(|a| *a == IvrAction::Menu { menu_id: id }));
    if by_number.is_some() || by_menu {
        return Err(StoreError::conflict("ivr_menu_in_use", "a number or another menu leads to this menu"));
    }
    sqlx::query("DELETE FROM ivr_menus WHERE workspace_id = $1 AND id = $2").bind(ws.0).bind(id.0).execute(&mut *c).await?;
    Ok(())
}

// --------------------------------------------------------------------- calls

const CALL_SELECT: &str = "SELECT id, direction, from_number, to_number, voice_number_id, inbox_id, contact_id, conversation_id,
        team_id, agent_user_id, sip_call_id, offered_at, answered_at, ended_at, disposition, wait_ms, talk_ms,
        recording_attachment_id, voicemail_attachment_id, callback_status FROM calls";

fn call_row(r: &DbRow) -> Result<Call> {
    let disposition: Option<String> = r.try_get("disposition")?;
    let callback: Option<String> = r.try_get("callback_status")?;
    Ok(Call {
        id: CallId(r.try_get("id")?),
        direction: parse("direction", r.try_get("direction")?, CallDirection::parse)?,
        from_number: r.try_get("from_number")?,
        to_number: r.try_get("to_number")?,
        voice_number_id: opt_id(r, "voice_number_id")?.map(VoiceNumberId),
        inbox_id: InboxId(r.try_get("inbox_id")?),
        contact_id: ContactId(r.try_get("contact_id")?),
        conversation_id: ConversationId(r.try_get("conversation_id")?),
        team_id: opt_id(r, "team_id")?.map(TeamId),
        agent_user_id: opt_id(r, "agent_user_id")?.map(UserId),
        sip_call_id: r.try_get("sip_call_id")?,
        offered_at: ts(r.try_get("offered_at")?),
        answered_at: opt_ts(r, "answered_at")?,
        ended_at: opt_ts(r, "ended_at")?,
        disposition: disposition.map(|d| parse("disposition", d, CallDisposition::parse)).transpose()?,
        wait_ms: r.try_get("wait_ms")?,
        talk_ms: r.try_get("talk_ms")?,
        recording_attachment_id: opt_id(r, "recording_attachment_id")?.map(AttachmentId),
        voicemail_attachment_id: opt_id(r, "voicemail_attachment_id")?.map(AttachmentId),
        callback_status: callback.map(|s| parse("callback_status", s, CallbackStatus::parse)).transpose()?,
    })
}

pub async fn get_call(c: &mut Conn, ws: WorkspaceId, id: CallId) -> Result<Option<Call>> {
    let r =
        sqlx::query(&format!("{CALL_SELECT} WHERE workspace_id = $1 AND id = $2")).bind(ws.0).bind(id.0).fetch_optional(&mut *c).await?;
    r.as_ref().map(call_row).transpose()
}

async fn must_call(c: &mut Conn, ws: WorkspaceId, id: CallId) -> Result<Call> {
    get_call(c, ws, id).await?.ok_or(StoreError::NotFound)
}

/// The live (not ended) call with this SIP Call-ID, for the SIP engine.
pub async fn call_by_sip_id(c: &mut Conn, ws: WorkspaceId, sip_call_id: &str) -> Result<Option<Call>> {
    let r = sqlx::query(&format!("{CALL_SELECT} WHERE workspace_id = $1 AND sip_call_id = $2 ORDER BY id DESC LIMIT 1"))
        .bind(ws.0)
        .bind(sip_call_id)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(call_row).transpose()
}

/// A system line in the call's conversation; returns its event.
async fn call_line(c: &mut Conn, ws: WorkspaceId, conversation: ConversationId, text: &str, now: Timestamp) -> Result<Message> {
    let sender = Sender { kind: SenderType::System, id: None, name: None };
    let id = insert_message(c, ws, conversation, MessageKind::System, text, &sender, DeliveryStatus::Sent, None, None, now).await?;
    sqlx::query("UPDATE conversations SET last_message_id = $1, last_activity_at = $2 WHERE workspace_id = $3 AND id = $4")
        .bind(id.0)
        .bind(now.0)
        .bind(ws.0)
        .bind(conversation.0)
        .execute(&mut *c)
        .await?;
    get_message(c, ws, id.0).await
}

/// Records a call as offered. The caller's contact is found — or created
/// and linked by phone, like a messenger's first message — through the
/// voice inbox's identities; the call goes into that contact's open
/// conversation of the inbox (or a new one), with a system line, so it
/// shows in their history beside chats. Inbound calls start the
/// conversation's wait and put it in the number's default team (the
/// router sees it like any new conversation); outbound calls assign an
/// unassigned conversation to the dialing agent.
pub async fn create_call(c: &mut Conn, ws: WorkspaceId, new: &NewCall, now: Timestamp) -> Result<Written<Call>> {
    let number = get_voice_number(c, ws, new.voice_number_id).await?.ok_or(StoreError::NotFound)?;
    if let Some(agent) = new.agent_user_id {
        must_member(c, ws, agent, "agent_user_id").await?;
    }
    let inbound = new.direction == CallDirection::Inbound;
    let (contact, remote) = match (new.contact_id, new.remote_number.clone()) {
        (Some(id), remote) if !inbound => {
            let contact = get_contact(c, ws, id).await?.ok_or(StoreError::NotFound)?;
            let remote = remote
                .or_else(|| contact.phone.clone())
                .ok_or_else(|| StoreError::Invalid("contact_id: the contact has no phone number".into()))?;
            // Link the number to this card, so their call back finds it.
            sqlx::query(
                "INSERT INTO contact_identities (workspace_id, inbox_id, external_id, contact_id, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace_id, inbox_id, external_id) DO NOTHING",
            )
            .bind(ws.0)
            .bind(number.inbox_id.0)
            .bind(&remote)
            .bind(contact.id.0)
            .bind(now.0)
            .execute(&mut *c)
            .await?;
            (contact, remote)
        }
        (_, Some(remote)) => {
            let who = ProviderIdentity { external_id: remote.clone(), name: None, phone: Some(remote.clone()) };
            (contact_for_identity(c, ws, number.inbox_id, &who, now).await?, remote)
        }
        (_, None) => return Err(StoreError::Invalid("number: the customer's number is required".into())),
    };
    let (from, to) = if inbound { (remote.clone(), number.number.clone()) } else { (number.number.clone(), remote.clone()) };
    let waiting = inbound.then_some(now);
    let (conversation_id, existing) = conversation_to_write(c, ws, number.inbox_id, contact.id, waiting, now).await?;
    let team = if inbound { number.default_team_id } else { None };
    if inbound {
        sqlx::query(
            "UPDATE conversations SET waiting_since = COALESCE(waiting_since, $1), team_id = COALESCE(team_id, $2)
              WHERE workspace_id = $3 AND id = $4",
        )
        .bind(now.0)
        .bind(team.map(|t| t.0))
        .bind(ws.0)
        .bind(conversation_id.0)
        .execute(&mut *c)
        .await?;
    } else if let Some(agent) = new.agent_user_id {
        sqlx::query("UPDATE conversations SET assignee_id = COALESCE(assignee_id, $1) WHERE workspace_id = $2 AND id = $3")
            .bind(agent.0)
            .bind(ws.0)
            .bind(conversation_id.0)
            .execute(&mut *c)
            .await?;
    }
    let r = sqlx::query(
        "INSERT INTO calls (workspace_id, conversation_id, contact_id, inbox_id, direction, from_number, to_number,
                            voice_number_id, team_id, agent_user_id, sip_call_id, offered_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(ws.0)
    .bind(conversation_id.0)
    .bind(contact.id.0)
    .bind(number.inbox_id.0)
    .bind(new.direction.as_str())
    .bind(&from)
    .bind(&to)
    .bind(number.id.0)
    .bind(team.map(|t| t.0))
    .bind(new.agent_user_id.map(|u| u.0))
    .bind(&new.sip_call_id)
    .bind(now.0)
    .fetch_one(&mut *c)
    .await?;
    let call = must_call(c, ws, CallId(r.try_get(0)?)).await?;
    let line = if inbound { format!("Incoming call from {from}") } else { format!("Outgoing call to {to}") };
    let message = call_line(c, ws, conversation_id, &line, now).await?;
    let conversation = must_conversation(c, ws, conversation_id).await?;
    let conv_event = match existing {
        None => EventPayload::ConversationCreated(Box::new(conversation.clone())),
        Some(_) => EventPayload::ConversationUpdated(Box::new(conversation.clone())),
    };
    let events = vec![
        Event::conversation(ws, &conversation, conv_event),
        Event::conversation(ws, &conversation, EventPayload::MessageCreated(message)),
        Event::call(ws, &call, EventPayload::CallCreated(Box::new(call.clone()))),
    ];
    record(c, &events, now).await?;
    Ok(Written { value: call, events })
}

fn live_call_conflict(call: &Call) -> Option<StoreError> {
    if call.ended_at.is_some() { Some(StoreError::conflict("call_ended", "the call has ended")) } else { None }
}

/// The call was answered (by `agent`, inbound; by the callee, outbound).
/// Answering an inbound call is the agent's response: the conversation
/// stops waiting and goes to the agent if nobody holds it. An answered
/// outbound call closes the pending missed calls from that number.
pub async fn answer_call(c: &mut Conn, ws: WorkspaceId, id: CallId, agent: Option<UserId>, now: Timestamp) -> Result<Written<Call>> {
    let call = must_call(c, ws, id).await?;
    if let Some(e) = live_call_conflict(&call) {
        return Err(e);
    }
    if call.answered_at.is_some() {
        return Err(StoreError::conflict("call_already_answered", "the call was already answered"));
    }
    if let Some(agent) = agent {
        must_member(c, ws, agent, "agent_user_id").await?;
    }
    let done = sqlx::query(
        "UPDATE calls SET answered_at = $1, agent_user_id = COALESCE($2, agent_user_id)
          WHERE workspace_id = $3 AND id = $4 AND answered_at IS NULL AND ended_at IS NULL",
    )
    .bind(now.0)
    .bind(agent.map(|a| a.0))
    .bind(ws.0)
    .bind(id.0)
    .execute(&mut *c)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::conflict("call_already_answered", "the call was already answered"));
    }
    let call = must_call(c, ws, id).await?;
    let mut events = vec![Event::call(ws, &call, EventPayload::CallUpdated(Box::new(call.clone())))];
    match call.direction {
        CallDirection::Inbound => {
            sqlx::query(
                "UPDATE conversations SET assignee_id = COALESCE(assignee_id, $1), waiting_since = NULL,
                        first_reply_at = COALESCE(first_reply_at, $2), last_activity_at = $2
                  WHERE workspace_id = $3 AND id = $4",
            )
            .bind(call.agent_user_id.map(|a| a.0))
            .bind(now.0)
            .bind(ws.0)
            .bind(call.conversation_id.0)
            .execute(&mut *c)
            .await?;
            let conversation = must_conversation(c, ws, call.conversation_id).await?;
            events.push(Event::conversation(ws, &conversation, EventPayload::ConversationUpdated(Box::new(conversation.clone()))));
        }
        CallDirection::Outbound => {
            let rows = sqlx::query(
                "UPDATE calls SET callback_status = 'done'
                  WHERE workspace_id = $1 AND direction = 'inbound' AND from_number = $2 AND callback_status = 'pending'
                 RETURNING id",
            )
            .bind(ws.0)
            .bind(&call.to_number)
            .fetch_all(&mut *c)
            .await?;
            for r in rows {
                let missed = must_call(c, ws, CallId(r.try_get(0)?)).await?;
                events.push(Event::call(ws, &missed, EventPayload::CallUpdated(Box::new(missed.clone()))));
            }
        }
    }
    record(c, &events, now).await?;
    Ok(Written { value: call, events })
}

/// Puts a live call into a team's queue (the IVR's choice).
pub async fn set_call_team(c: &mut Conn, ws: WorkspaceId, id: CallId, team: Option<TeamId>, now: Timestamp) -> Result<Written<Call>> {
    let call = must_call(c, ws, id).await?;
    if let Some(e) = live_call_conflict(&call) {
        return Err(e);
    }
    if let Some(team) = team
        && !team_exists(c, ws, team).await?
    {
        return Err(StoreError::Invalid(format!("team_id: team {team} does not exist")));
    }
    sqlx::query("UPDATE calls SET team_id = $1 WHERE workspace_id = $2 AND id = $3")
        .bind(team.map(|t| t.0))
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    let call = must_call(c, ws, id).await?;
    let events = vec![Event::call(ws, &call, EventPayload::CallUpdated(Box::new(call.clone())))];
    record(c, &events, now).await?;
    Ok(Written { value: call, events })
}

/// Ends a call: the disposition must fit (`core::voice::check_end`), wait
/// and talk time are computed from its timestamps, and an unanswered
/// inbound call enters the missed-calls list. A line in the conversation
/// tells how it ended.
pub async fn end_call(c: &mut Conn, ws: WorkspaceId, id: CallId, disposition: CallDisposition, now: Timestamp) -> Result<Written<Call>> {
    let call = must_call(c, ws, id).await?;
    if let Some(e) = live_call_conflict(&call) {
        return Err(e);
    }
    voice::check_end(call.answered_at.is_some(), disposition).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let (wait, talk) = call_durations(call.offered_at, call.answered_at, now);
    let callback = callback_for(call.direction, disposition);
    let done = sqlx::query(
        "UPDATE calls SET ended_at = $1, disposition = $2, wait_ms = $3, talk_ms = $4, callback_status = $5
          WHERE workspace_id = $6 AND id = $7 AND ended_at IS NULL",
    )
    .bind(now.0)
    .bind(disposition.as_str())
    .bind(wait)
    .bind(talk)
    .bind(callback.map(|s| s.as_str()))
    .bind(ws.0)
    .bind(id.0)
    .execute(&mut *c)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::conflict("call_ended", "the call has ended"));
    }
    let call = must_call(c, ws, id).await?;
    let message = call_line(c, ws, call.conversation_id, &end_line(disposition, talk), now).await?;
    let conversation = must_conversation(c, ws, call.conversation_id).await?;
    let events = vec![
        Event::call(ws, &call, EventPayload::CallEnded(Box::new(call.clone()))),
        Event::conversation(ws, &conversation, EventPayload::MessageCreated(message)),
        Event::conversation(ws, &conversation, EventPayload::ConversationUpdated(Box::new(conversation.clone()))),
    ];
    record(c, &events, now).await?;
    Ok(Written { value: call, events })
}

fn media_column(kind: CallMedia) -> &'static str {
    match kind {
        CallMedia::Recording => "recording_attachment_id",
        CallMedia::Voicemail => "voicemail_attachment_id",
    }
}

/// Stores a call's recording or voicemail (WAV) and links it to the call;
/// a second one replaces the first. The file belongs to no conversation or
/// contact, so it can never be attached to a message: it is reached only
/// through the call, by those who may see the call.
pub async fn attach_call_media(
    c: &mut Conn,
    ws: WorkspaceId,
    id: CallId,
    kind: CallMedia,
    file: &NewCallFile,
    now: Timestamp,
) -> Result<Written<Call>> {
    let call = must_call(c, ws, id).await?;
    let old = match kind {
        CallMedia::Recording => call.recording_attachment_id,
        CallMedia::Voicemail => call.voicemail_attachment_id,
    };
    let r = sqlx::query(
        "INSERT INTO attachments (workspace_id, uploader_type, uploader_id, filename, content_type, size, access_key, data, created_at)
         VALUES ($1, 'system', 0, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(ws.0)
    .bind(&file.filename)
    .bind(&file.content_type)
    .bind(file.data.len() as i64)
    .bind(&file.access_key)
    .bind(&file.data)
    .bind(now.0)
    .fetch_one(&mut *c)
    .await?;
    let attachment: i64 = r.try_get(0)?;
    sqlx::query(&format!("UPDATE calls SET {} = $1 WHERE workspace_id = $2 AND id = $3", media_column(kind)))
        .bind(attachment)
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    if let Some(old) = old {
        sqlx::query("DELETE FROM attachments WHERE workspace_id = $1 AND id = $2").bind(ws.0).bind(old.0).execute(&mut *c).await?;
    }
    let call = must_call(c, ws, id).await?;
    let events = vec![Event::call(ws, &call, EventPayload::CallUpdated(Box::new(call.clone())))];
    record(c, &events, now).await?;
    Ok(Written { value: call, events })
}

/// The recording or voicemail file of a call, if it has one.
pub async fn call_media_file(c: &mut Conn, ws: WorkspaceId, id: CallId, kind: CallMedia) -> Result<Option<StoredFile>> {
    let r = sqlx::query(&format!(
        "SELECT a.filename, a.content_type, a.data FROM calls k
           JOIN attachments a ON a.workspace_id = k.workspace_id AND a.id = k.{}
          WHERE k.workspace_id = $1 AND k.id = $2",
        media_column(kind)
    ))
    .bind(ws.0)
    .bind(id.0)
    .fetch_optional(&mut *c)
    .await?;
    r.as_ref().map(stored_file).transpose()
}

/// The SQL form of `Event::call`'s visibility for a viewer.
fn push_call_visibility(qb: &mut QueryBuilder<'_, Db>, viewer: &Viewer) {
    if !viewer.sees_all() {
        qb.push(" AND (agent_user_id = ")
            .push_bind(viewer.user_id.0)
            .push(" OR team_id IS NULL OR team_id IN (SELECT team_id FROM team_members WHERE workspace_id = ")
            .push_bind(viewer.workspace_id.0)
            .push(" AND user_id = ")
            .push_bind(viewer.user_id.0)
            .push("))");
    }
}

fn push_call_page(qb: &mut QueryBuilder<'_, Db>, page: Page) {
    if let Some(after) = page.after {
        qb.push(" AND (offered_at < ")
            .push_bind(after.key)
            .push(" OR (offered_at = ")
            .push_bind(after.key)
            .push(" AND id < ")
            .push_bind(after.id)
            .push("))");
    }
    qb.push(" ORDER BY offered_at DESC, id DESC LIMIT ").push_bind(page.limit + 1);
}

/// The call log, newest first, as this viewer may see it.
pub async fn list_calls(c: &mut Conn, viewer: &Viewer, f: &CallFilter, page: Page) -> Result<Paged<Call>> {
    let mut qb = QueryBuilder::<Db>::new(CALL_SELECT);
    qb.push(" WHERE workspace_id = ").push_bind(viewer.workspace_id.0);
    push_call_visibility(&mut qb, viewer);
    if let Some(d) = f.direction {
        qb.push(" AND direction = ").push_bind(d.as_str());
    }
    if let Some(d) = f.disposition {
        qb.push(" AND disposition = ").push_bind(d.as_str());
    }
    if let Some(a) = f.agent {
        qb.push(" AND agent_user_id = ").push_bind(a.0);
    }
    if let Some(contact) = f.contact {
        qb.push(" AND contact_id = ").push_bind(contact.0);
    }
    if let Some(t) = f.team {
        qb.push(" AND team_id = ").push_bind(t.0);
    }
    if let Some(from) = f.from {
        qb.push(" AND offered_at >= ").push_bind(from.0);
    }
    if let Some(to) = f.to {
        qb.push(" AND offered_at < ").push_bind(to.0);
    }
    push_call_page(&mut qb, page);
    let rows = qb.build().fetch_all(&mut *c).await?;
    let mut items = rows.iter().map(call_row).collect::<Result<Vec<_>>>()?;
    let next = cut_page(&mut items, page.limit, |x| Cursor { key: x.offered_at.0, id: x.id.0 });
    Ok(Paged { items, next })
}

/// Unanswered inbound calls, newest first; `status` narrows to one
/// follow-up state (`None`: all of them).
pub async fn missed_calls(c: &mut Conn, viewer: &Viewer, status: Option<CallbackStatus>, page: Page) -> Result<Paged<Call>> {
    let mut qb = QueryBuilder::<Db>::new(CALL_SELECT);
    qb.push(" WHERE workspace_id = ").push_bind(viewer.workspace_id.0);
    match status {
        Some(s) => qb.push(" AND callback_status = ").push_bind(s.as_str()),
        None => qb.push(" AND callback_status IS NOT NULL"),
    };
    push_call_visibility(&mut qb, viewer);
    push_call_page(&mut qb, page);
    let rows = qb.build().fetch_all(&mut *c).await?;
    let mut items = rows.iter().map(call_row).collect::<Result<Vec<_>>>()?;
    let next = cut_page(&mut items, page.limit, |x| Cursor { key: x.offered_at.0, id: x.id.0 });
    Ok(Paged { items, next })
}

/// Moves a missed call's follow-up (done, dismissed, or back to pending).
/// A call that is not in the missed list is a conflict.
pub async fn set_callback_status(
    c: &mut Conn,
    ws: WorkspaceId,
    id: CallId,
    status: CallbackStatus,
    now: Timestamp,
) -> Result<Written<Call>> {
    must_call(c, ws, id).await?;
    let done = sqlx::query("UPDATE calls SET callback_status = $1 WHERE workspace_id = $2 AND id = $3 AND callback_status IS NOT NULL")
        .bind(status.as_str())
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::conflict("not_a_missed_call", "only unanswered inbound calls have a callback status"));
    }
    let call = must_call(c, ws, id).await?;
    let events = vec![Event::call(ws, &call, EventPayload::CallUpdated(Box::new(call.clone())))];
    record(c, &events, now).await?;
    Ok(Written { value: call, events })
}

// --------------------------------------------------------- callback requests

const CALLBACK_SELECT: &str = "SELECT id, phone, name, source, requested_at, status, call_id, inbox_id FROM callback_requests";

fn callback_row(r: &DbRow) -> Result<CallbackRequest> {
    Ok(CallbackRequest {
        id: CallbackRequestId(r.try_get("id")?),
        phone: r.try_get("phone")?,
        name: r.try_get("name")?,
        source: parse("source", r.try_get("source")?, CallbackSource::parse)?,
        requested_at: ts(r.try_get("requested_at")?),
        status: parse("status", r.try_get("status")?, CallbackRequestStatus::parse)?,
        call_id: opt_id(r, "call_id")?.map(CallId),
        inbox_id: opt_id(r, "inbox_id")?.map(InboxId),
    })
}

async fn must_callback_request(c: &mut Conn, ws: WorkspaceId, id: CallbackRequestId) -> Result<CallbackRequest> {
    let r = sqlx::query(&format!("{CALLBACK_SELECT} WHERE workspace_id = $1 AND id = $2"))
        .bind(ws.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(callback_row).transpose()?.ok_or(StoreError::NotFound)
}

/// Records a request to be called back; `callback.requested` tells the SIP
/// engine (and agents) at once.
pub async fn create_callback_request(
    c: &mut Conn,
    ws: WorkspaceId,
    new: &NewCallbackRequest,
    now: Timestamp,
) -> Result<Written<CallbackRequest>> {
    if let Some(call) = new.call_id {
        must_call(c, ws, call).await?;
    }
    if let Some(inbox) = new.inbox_id
        && sqlx::query("SELECT 1 FROM inboxes WHERE workspace_id = $1 AND id = $2")
            .bind(ws.0)
            .bind(inbox.0)
            .fetch_optional(&mut *c)
            .await?
            .is_none()
    {
        return Err(StoreError::Invalid(format!("inbox_id: inbox {inbox} does not exist")));
    }
    let r = sqlx::query(
        "INSERT INTO callback_requests (workspace_id, phone, name, source, requested_at, status, call_id, inbox_id)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7) RETURNING id",
    )
    .bind(ws.0)
    .bind(&new.phone)
    .bind(&new.name)
    .bind(new.source.as_str())
    .bind(now.0)
    .bind(new.call_id.map(|c| c.0))
    .bind(new.inbox_id.map(|i| i.0))
    .fetch_one(&mut *c)
    .await?;
    let request = must_callback_request(c, ws, CallbackRequestId(r.try_get(0)?)).await?;
    let events = vec![Event { workspace_id: ws, scope: None, payload: EventPayload::CallbackRequested(request.clone()) }];
    record(c, &events, now).await?;
    Ok(Written { value: request, events })
}

/// Callback requests, newest first; `status` narrows the list.
pub async fn list_callback_requests(
    c: &mut Conn,
    ws: WorkspaceId,
    status: Option<CallbackRequestStatus>,
    page: Page,
) -> Result<Paged<CallbackRequest>> {
    let mut qb = QueryBuilder::<Db>::new(CALLBACK_SELECT);
    qb.push(" WHERE workspace_id = ").push_bind(ws.0);
    if let Some(s) = status {
        qb.push(" AND status = ").push_bind(s.as_str());
    }
    if let Some(after) = page.after {
        qb.push(" AND (requested_at < ")
            .push_bind(after.key)
            .push(" OR (requested_at = ")
            .push_bind(after.key)
            .push(" AND id < ")
            .push_bind(after.id)
            .push("))");
    }
    qb.push(" ORDER BY requested_at DESC, id DESC LIMIT ").push_bind(page.limit + 1);
    let rows = qb.build().fetch_all(&mut *c).await?;
    let mut items = rows.iter().map(callback_row).collect::<Result<Vec<_>>>()?;
    let next = cut_page(&mut items, page.limit, |x| Cursor { key: x.requested_at.0, id: x.id.0 });
    Ok(Paged { items, next })
}

/// The SIP engine's progress on a request (and the call that carried it out).
pub async fn set_callback_request_status(
    c: &mut Conn,
    ws: WorkspaceId,
    id: CallbackRequestId,
    status: CallbackRequestStatus,
    call: Option<CallId>,
) -> Result<CallbackRequest> {
    must_callback_request(c, ws, id).await?;
    if let Some(call) = call {
        must_call(c, ws, call).await?;
    }
    sqlx::query("UPDATE callback_requests SET status = $1, call_id = COALESCE($2, call_id) WHERE workspace_id = $3 AND id = $4")
        .bind(status.as_str())
        .bind(call.map(|c| c.0))
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    must_callback_request(c, ws, id).await
}
