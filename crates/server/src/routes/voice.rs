//! Voice configuration (SPEC §3.6): settings, SIP extensions, numbers
//! (DIDs), SIP trunks and IVR menus. Writes are admin-only; agents may read
//! the settings (their phone needs the SIP domain) and the numbers (the
//! caller ids they can dial out from).

use crate::auth::Ctx;
use crate::dto::{ListOf, double_option};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use switchboard_core::voice::{self, IvrMenuSpec, SipTransport, VoiceSettings};
use switchboard_core::*;
use switchboard_store::*;
use utoipa::ToSchema;

/// HA1 of SIP digest auth (RFC 2617): hex MD5("extension:realm:password").
/// Only this is stored; the registrar checks responses against it.
pub fn ha1(extension: &str, realm: &str, password: &str) -> String {
    hex::encode(Md5::digest(format!("{extension}:{realm}:{password}").as_bytes()))
}

async fn current_domain(st: &AppState, ws: WorkspaceId) -> ApiResult<String> {
    let s = st.store.get_voice_settings(ws).await?;
    Ok(s.sip_domain.unwrap_or_else(|| voice::default_sip_domain(ws)))
}

// ------------------------------------------------------------------ settings

/// The workspace's voice settings (defaults until saved; `sip_domain` is
/// always resolved).
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/voice/settings", tag = "voice",
    responses((status = 200, body = VoiceSettings), (status = 404, body = ErrorBody)))]
pub async fn get_settings(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<VoiceSettings>> {
    Ok(Json(st.store.get_voice_settings(ctx.ws()).await?))
}

/// Saves the settings (missing keys take their defaults; `sip_domain: null`
/// is the default domain). Changing the SIP domain keeps phones working:
/// each extension keeps the realm its password was set under until its
/// password is set again (`password_realm_current: false` until then).
#[utoipa::path(put, path = "/api/v1/workspaces/{workspace_id}/voice/settings", tag = "voice", request_body = VoiceSettings,
    responses((status = 200, body = VoiceSettings), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "sip_domain_taken")))]
pub async fn put_settings(State(st): State<AppState>, ctx: Ctx, ApiJson(s): ApiJson<VoiceSettings>) -> ApiResult<Json<VoiceSettings>> {
    ctx.require(Role::Admin)?;
    let s = s.checked(ctx.ws())?;
    Ok(Json(st.store.set_voice_settings(ctx.ws(), s, st.now()).await?))
}

// ---------------------------------------------------------------- extensions

/// A SIP extension. The password is never shown (only its HA1 is stored).
#[derive(Serialize, ToSchema)]
pub struct ExtensionView {
    pub id: SipExtensionId,
    pub extension: String,
    pub user_id: Option<UserId>,
    pub display_name: String,
    /// The realm the password was set under.
    pub realm: String,
    /// False after the SIP domain changed: set the password again.
    pub password_realm_current: bool,
    pub created_at: Timestamp,
}

fn extension_view(e: SipExtension, domain: &str) -> ExtensionView {
    ExtensionView {
        id: e.id,
        password_realm_current: e.realm == domain,
        extension: e.extension,
        user_id: e.user_id,
        display_name: e.display_name,
        realm: e.realm,
        created_at: e.created_at,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExtension {
    /// 2-10 digits, unique in the workspace.
    pub extension: String,
    /// The agent whose phone this is (at most one extension per agent).
    pub user_id: Option<UserId>,
    pub display_name: String,
    /// Write-only: stored as HA1 = MD5(extension:sip_domain:password).
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateExtension {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub user_id: Option<Option<UserId>>,
    pub display_name: Option<String>,
    /// Write-only; re-hashed under the current SIP domain.
    pub password: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/voice/extensions", tag = "voice",
    responses((status = 200, body = ListOf<ExtensionView>), (status = 403, body = ErrorBody)))]
pub async fn list_extensions(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<ListOf<ExtensionView>>> {
    ctx.require(Role::Admin)?;
    let domain = current_domain(&st, ctx.ws()).await?;
    let list = st.store.list_sip_extensions(ctx.ws()).await?;
    Ok(Json(ListOf { data: list.into_iter().map(|e| extension_view(e, &domain)).collect() }))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/voice/extensions", tag = "voice", request_body = CreateExtension,
    responses((status = 201, body = ExtensionView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "extension_taken / agent_has_extension")))]
pub async fn create_extension(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<CreateExtension>,
) -> ApiResult<(StatusCode, Json<ExtensionView>)> {
    ctx.require(Role::Admin)?;
    let extension = voice::extension(&req.extension)?;
    let display_name = validate::name("display_name", &req.display_name)?;
    voice::sip_password(&req.password)?;
    let realm = current_domain(&st, ctx.ws()).await?;
    let new = NewSipExtension {
        ha1: ha1(&extension, &realm, &req.password),
        extension,
        user_id: req.user_id,
        display_name,
        realm: realm.clone(),
    };
    let e = st.store.create_sip_extension(ctx.ws(), new, st.now()).await?;
    Ok((StatusCode::CREATED, Json(extension_view(e, &realm))))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{workspace_id}/voice/extensions/{extension_id}", tag = "voice", request_body = UpdateExtension,
    responses((status = 200, body = ExtensionView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_extension(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<UpdateExtension>,
) -> ApiResult<Json<ExtensionView>> {
    let (_, id) = path;
    ctx.require(Role::Admin)?;
    let id = SipExtensionId(id);
    let current = st.store.get_sip_extension(ctx.ws(), id).await?.ok_or(ApiError::NotFound)?;
    let display_name = req.display_name.as_deref().map(|n| validate::name("display_name", n)).transpose()?;
    let realm = current_domain(&st, ctx.ws()).await?;
    let credentials = match req.password.as_deref() {
        Some(pw) => {
            voice::sip_password(pw)?;
            Some((ha1(&current.extension, &realm, pw), realm.clone()))
        }
        None => None,
    };
    let patch = SipExtensionPatch { user_id: req.user_id, display_name, credentials };
    let e = st.store.update_sip_extension(ctx.ws(), id, patch).await?;
    Ok(Json(extension_view(e, &realm)))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/voice/extensions/{extension_id}", tag = "voice",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_extension(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<StatusCode> {
    let (_, id) = path;
    ctx.require(Role::Admin)?;
    st.store.delete_sip_extension(ctx.ws(), SipExtensionId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------- numbers

#[derive(Serialize, ToSchema)]
pub struct NumberView {
    pub id: VoiceNumberId,
    /// E.164; unique across all workspaces.
    pub number: String,
    pub inbox_id: InboxId,
    pub ivr_menu_id: Option<IvrMenuId>,
    pub default_team_id: Option<TeamId>,
    pub created_at: Timestamp,
}

fn number_view(n: VoiceNumber) -> NumberView {
    NumberView {
        id: n.id,
        number: n.number,
        inbox_id: n.inbox_id,
        ivr_menu_id: n.ivr_menu_id,
        default_team_id: n.default_team_id,
        created_at: n.created_at,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNumber {
    pub number: String,
    /// A voice inbox of this workspace: its conversations hold the calls.
    pub inbox_id: InboxId,
    pub ivr_menu_id: Option<IvrMenuId>,
    /// The queue when there is no IVR menu.
    pub default_team_id: Option<TeamId>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNumber {
    pub inbox_id: Option<InboxId>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub ivr_menu_id: Option<Option<IvrMenuId>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub default_team_id: Option<Option<TeamId>>,
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/voice/numbers", tag = "voice",
    responses((status = 200, body = ListOf<NumberView>)))]
pub async fn list_numbers(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<ListOf<NumberView>>> {
    let list = st.store.list_voice_numbers(ctx.ws()).await?;
    Ok(Json(ListOf { data: list.into_iter().map(number_view).collect() }))
}

/// Adds a DID. The voice inbox's `numbers` config key mirrors its numbers.
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/voice/numbers", tag = "voice", request_body = CreateNumber,
    responses((status = 201, body = NumberView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "number_taken (in any workspace)")))]
pub async fn create_number(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<CreateNumber>,
) -> ApiResult<(StatusCode, Json<NumberView>)> {
    ctx.require(Role::Admin)?;
    let number = voice::e164("number", &req.number)?;
    let new = NewVoiceNumber { number, inbox_id: req.inbox_id, ivr_menu_id: req.ivr_menu_id, default_team_id: req.default_team_id };
    let n = st.store.create_voice_number(ctx.ws(), new, st.now()).await?;
    Ok((StatusCode::CREATED, Json(number_view(n))))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{workspace_id}/voice/numbers/{number_id}", tag = "voice", request_body = UpdateNumber,
    responses((status = 200, body = NumberView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_number(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<UpdateNumber>,
) -> ApiResult<Json<NumberView>> {
    let (_, id) = path;
    ctx.require(Role::Admin)?;
    let patch = VoiceNumberPatch { inbox_id: req.inbox_id, ivr_menu_id: req.ivr_menu_id, default_team_id: req.default_team_id };
    Ok(Json(number_view(st.store.update_voice_number(ctx.ws(), VoiceNumberId(id), patch).await?)))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/voice/numbers/{number_id}", tag = "voice",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_number(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<StatusCode> {
    let (_, id) = path;
    ctx.require(Role::Admin)?;
    st.store.delete_voice_number(ctx.ws(), VoiceNumberId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// -------------------------------------------------------------------- trunks

/// A SIP trunk; the password is write-only (`has_password` tells if set).
#[derive(Serialize, ToSchema)]
pub struct TrunkView {
    pub id: SipTrunkId,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub transport: SipTransport,
    pub username: Option<String>,
    pub has_password: bool,
    pub register: bool,
    pub inbound_ips: Vec<String>,
    pub inbound_auth: bool,
    /// How the outbound registration stands (`register` trunks, once the
    /// SIP server has tried).
    pub registration: Option<voice::TrunkRegistration>,
    pub created_at: Timestamp,
}

fn trunk_view(t: SipTrunk) -> TrunkView {
    TrunkView {
        id: t.id,
        name: t.name,
        host: t.host,
        port: t.port,
        transport: t.transport,
        username: t.username,
        has_password: t.password.is_some(),
        register: t.register,
        inbound_ips: t.inbound_ips,
        inbound_auth: t.inbound_auth,
        registration: t.registration.filter(|_| t.register),
        created_at: t.created_at,
    }
}

fn default_port() -> u16 {
    5060
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTrunk {
    pub name: String,
    /// Where calls go to (and come from, unless `inbound_ips` says more).
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub transport: Option<SipTransport>,
    pub username: Option<String>,
    /// Write-only: stored to answer the provider's digest challenges.
    pub password: Option<String>,
    /// Register to the provider (needs username and password).
    #[serde(default)]
    pub register: bool,
    /// Source IPs inbound calls are accepted from.
    #[serde(default)]
    pub inbound_ips: Vec<String>,
    /// Accept inbound calls that authenticate with the credentials.
    #[serde(default)]
    pub inbound_auth: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTrunk {
    pub name: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub transport: Option<SipTransport>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub username: Option<Option<String>>,
    /// Write-only; `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub password: Option<Option<String>>,
    pub register: Option<bool>,
    pub inbound_ips: Option<Vec<String>>,
    pub inbound_auth: Option<bool>,
}

fn secret(field: &'static str, v: &str) -> ApiResult<String> {
    if v.is_empty() || v.len() > 256 || v.chars().any(char::is_control) {
        return Err(ApiError::Validation(format!("{field}: must be 1-256 characters without control characters")));
    }
    Ok(v.to_owned())
}

fn port(p: u16) -> ApiResult<u16> {
    if p == 0 { Err(ApiError::Validation("port: must be 1-65535".into())) } else { Ok(p) }
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/voice/trunks", tag = "voice",
    responses((status = 200, body = ListOf<TrunkView>), (status = 403, body = ErrorBody)))]
pub async fn list_trunks(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<ListOf<TrunkView>>> {
    ctx.require(Role::Admin)?;
    let list = st.store.list_sip_trunks(ctx.ws()).await?;
    Ok(Json(ListOf { data: list.into_iter().map(trunk_view).collect() }))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/voice/trunks", tag = "voice", request_body = CreateTrunk,
    responses((status = 201, body = TrunkView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_trunk(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<CreateTrunk>,
) -> ApiResult<(StatusCode, Json<TrunkView>)> {
    ctx.require(Role::Admin)?;
    let new = NewSipTrunk {
        name: validate::name("name", &req.name)?,
        host: voice::trunk_host(&req.host)?,
        port: port(req.port)?,
        transport: req.transport.unwrap_or(SipTransport::Udp),
        username: req.username.as_deref().map(|u| secret("username", u)).transpose()?,
        password: req.password.as_deref().map(|p| secret("password", p)).transpose()?,
        register: req.register,
        inbound_ips: voice::trunk_sources(&req.inbound_ips)?,
        inbound_auth: req.inbound_auth,
    };
    let t = st.store.create_sip_trunk(ctx.ws(), new, st.now()).await?;
    Ok((StatusCode::CREATED, Json(trunk_view(t))))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/voice/trunks/{trunk_id}", tag = "voice",
    responses((status = 200, body = TrunkView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_trunk(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<Json<TrunkView>> {
    let (_, id) = path;
    ctx.require(Role::Admin)?;
    let t = st.store.get_sip_trunk(ctx.ws(), SipTrunkId(id)).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(trunk_view(t)))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{workspace_id}/voice/trunks/{trunk_id}", tag = "voice", request_body = UpdateTrunk,
    responses((status = 200, body = TrunkView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_trunk(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<UpdateTrunk>,
) -> ApiResult<Json<TrunkView>> {
    let (_, id) = path;
    ctx.require(Role::Admin)?;
    let clean = |field: &'static str, v: Option<Option<String>>| -> ApiResult<Option<Option<String>>> {
        v.map(|o| o.as_deref().map(|s| secret(field, s)).transpose()).transpose()
    };
    let patch = SipTrunkPatch {
        name: req.name.as_deref().map(|n| validate::name("name", n)).transpose()?,
        host: req.host.as_deref().map(voice::trunk_host).transpose()?,
        port: req.port.map(port).transpose()?,
        transport: req.transport,
        username: clean("username", req.username)?,
        password: clean("password", req.password)?,
        register: req.register,
        inbound_ips: req.inbound_ips.as_deref().map(voice::trunk_sources).transpose()?,
        inbound_auth: req.inbound_auth,
    };
    Ok(Json(trunk_view(st.store.update_sip_trunk(ctx.ws(), SipTrunkId(id), patch, st.now()).await?)))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/voice/trunks/{trunk_id}", tag = "voice",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_trunk(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<StatusCode> {
    let (_, id) = path;
    ctx.require(Role::Admin)?;
    st.store.delete_sip_trunk(ctx.ws(), SipTrunkId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----------------------------------------------------------------- IVR menus

/// A stored IVR menu: its spec plus id and times.
#[derive(Serialize, ToSchema)]
pub struct IvrMenuView {
    pub id: IvrMenuId,
    #[serde(flatten)]
    pub spec: IvrMenuSpec,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn menu_view(m: IvrMenu) -> IvrMenuView {
    IvrMenuView { id: m.id, spec: m.spec, created_at: m.created_at, updated_at: m.updated_at }
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/voice/ivr-menus", tag = "voice",
    responses((status = 200, body = ListOf<IvrMenuView>), (status = 403, body = ErrorBody)))]
pub async fn list_menus(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<ListOf<IvrMenuView>>> {
    ctx.require(Role::Admin)?;
    let list = st.store.list_ivr_menus(ctx.ws()).await?;
    Ok(Json(ListOf { data: list.into_iter().map(menu_view).collect() }))
}

/// Why an IVR menu was not saved: the API's usual errors, or 422
/// `invalid_prompt_audio` for a prompt file that is not a readable WAV
/// (the PBX could not play it).
pub enum MenuError {
    Api(ApiError),
    UnreadableAudio(String),
}

impl From<ApiError> for MenuError {
    fn from(e: ApiError) -> Self {
        MenuError::Api(e)
    }
}

impl From<StoreError> for MenuError {
    fn from(e: StoreError) -> Self {
        MenuError::Api(e.into())
    }
}

impl From<switchboard_core::validate::ValidationError> for MenuError {
    fn from(e: switchboard_core::validate::ValidationError) -> Self {
        MenuError::Api(e.into())
    }
}

impl axum::response::IntoResponse for MenuError {
    fn into_response(self) -> axum::response::Response {
        match self {
            MenuError::Api(e) => e.into_response(),
            MenuError::UnreadableAudio(message) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(ErrorBody { error: crate::error::ErrorDetail { code: "invalid_prompt_audio".into(), message } }),
            )
                .into_response(),
        }
    }
}

/// Every uploaded prompt of the menu decodes as a WAV the PBX can play.
/// Files that do not exist are left to the store's check (400).
async fn check_prompt_files(st: &AppState, ws: WorkspaceId, spec: &IvrMenuSpec) -> Result<(), MenuError> {
    for id in spec.attachments() {
        let Some(file) = st.store.prompt_file(ws, id).await? else { continue };
        let decoded = tokio::task::spawn_blocking(move || switchboard_voice::media::prompt::Prompt::from_wav(&file.data).map(|_| ()))
            .await
            .map_err(|e| ApiError::Internal(format!("prompt check: {e}")))?;
        if let Err(e) = decoded {
            return Err(MenuError::UnreadableAudio(format!("prompt: attachment {} is not a playable WAV file ({e})", id.0)));
        }
    }
    Ok(())
}

/// Creates a menu. Digits must be unique; teams, menus and prompt files
/// must be this workspace's (400 `validation_failed`, nothing stored);
/// prompt files must be WAV (any rate, PCM or float; 422
/// `invalid_prompt_audio`). A menu may lead back to itself or in a cycle
/// on purpose.
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/voice/ivr-menus", tag = "voice", request_body = IvrMenuSpec,
    responses((status = 201, body = IvrMenuView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_menu(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiJson(spec): ApiJson<IvrMenuSpec>,
) -> Result<(StatusCode, Json<IvrMenuView>), MenuError> {
    ctx.require(Role::Admin)?;
    let spec = spec.checked()?;
    check_prompt_files(&st, ctx.ws(), &spec).await?;
    Ok((StatusCode::CREATED, Json(menu_view(st.store.create_ivr_menu(ctx.ws(), spec, st.now()).await?))))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/voice/ivr-menus/{menu_id}", tag = "voice",
    responses((status = 200, body = IvrMenuView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_menu(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<Json<IvrMenuView>> {
    let (_, id) = path;
    ctx.require(Role::Admin)?;
    let m = st.store.get_ivr_menu(ctx.ws(), IvrMenuId(id)).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(menu_view(m)))
}

/// Replaces a menu (same checks as create).
#[utoipa::path(put, path = "/api/v1/workspaces/{workspace_id}/voice/ivr-menus/{menu_id}", tag = "voice", request_body = IvrMenuSpec,
    responses((status = 200, body = IvrMenuView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn put_menu(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiJson(spec): ApiJson<IvrMenuSpec>,
) -> Result<Json<IvrMenuView>, MenuError> {
    let (_, id) = path;
    ctx.require(Role::Admin)?;
    let spec = spec.checked()?;
    check_prompt_files(&st, ctx.ws(), &spec).await?;
    Ok(Json(menu_view(st.store.update_ivr_menu(ctx.ws(), IvrMenuId(id), spec, st.now()).await?)))
}

/// 409 `ivr_menu_in_use` while a number or another menu leads to it.
#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/voice/ivr-menus/{menu_id}", tag = "voice",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_menu(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<StatusCode> {
    let (_, id) = path;
    ctx.require(Role::Admin)?;
    st.store.delete_ivr_menu(ctx.ws(), IvrMenuId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ha1_matches_rfc_2617_example() {
        // RFC 2617 §3.5: Mufasa / testrealm@host.com / Circle Of Life.
        assert_eq!(super::ha1("Mufasa", "testrealm@host.com", "Circle Of Life"), "939e7578ed9e3c518a452acee763bce9");
    }
}
