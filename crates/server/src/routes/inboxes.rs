use crate::auth::{self, Ctx};
use crate::dto::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::Json;
use switchboard_core::*;
use switchboard_store::{InboxPatch, NewInbox};

/// The origin clients reached us at, for URLs shown to admins.
/// Where providers and browsers reach this server: `--public-url` if set,
/// else the scheme and Host of the request.
pub fn public_base(st: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &st.settings.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let proto = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    format!("{proto}://{host}")
}

pub fn view(inbox: &Inbox, base: &str) -> InboxView {
    let widget_snippet = inbox.website_token.as_ref().map(|t| {
        format!("<script src=\"{base}/widget.js\" data-token=\"{t}\" async></script>")
    });
    InboxView {
        id: inbox.id,
        name: inbox.name.clone(),
        channel: inbox.channel,
        config: inbox.public_config(),
        website_token: inbox.website_token.clone(),
        webhook_url: format!("{base}/webhooks/{}/{}", inbox.channel, inbox.id),
        widget_snippet,
        created_at: inbox.created_at,
    }
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/inboxes", tag = "inboxes",
    responses((status = 200, body = ListOf<InboxView>)))]
pub async fn list_inboxes(State(st): State<AppState>, ctx: Ctx, headers: HeaderMap) -> ApiResult<Json<ListOf<InboxView>>> {
    let base = public_base(&st, &headers);
    let list = st.store.list_inboxes(ctx.ws()).await?;
    Ok(Json(ListOf { data: list.iter().map(|i| view(i, &base)).collect() }))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/inboxes", tag = "inboxes", request_body = CreateInboxRequest,
    responses((status = 201, body = InboxView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_inbox(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateInboxRequest>,
) -> ApiResult<(StatusCode, Json<InboxView>)> {
    ctx.require(Role::Admin)?;
    let name = validate::name("name", &req.name)?;
    inbox_config::check(req.channel, &req.config, false)?;
    let website_token = (req.channel == Channel::Webchat).then(|| auth::random_secret()[..24].to_owned());
    let base = public_base(&st, &headers);
    let mut config = req.config;
    config.insert(PUBLIC_BASE_KEY.into(), base.clone().into());
    let new = NewInbox { name, channel: req.channel, config, website_token };
    let inbox = if req.channel == Channel::Voice {
        // The listed numbers become `voice_numbers` rows in the same
        // transaction (the config key then mirrors them; see inbox_config).
        let numbers = voice_numbers(&new.config)?;
        st.store.create_voice_inbox(ctx.ws(), new, numbers, st.now()).await?
    } else {
        st.store.create_inbox(ctx.ws(), new, st.now()).await?
    };
    if matches!(inbox.channel, Channel::Telegram | Channel::Viber) {
        register_webhook(&st, &inbox, &base);
    }
    Ok((StatusCode::CREATED, Json(view(&inbox, &base))))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/inboxes/{inbox_id}", tag = "inboxes",
    responses((status = 200, body = InboxView), (status = 404, body = ErrorBody)))]
pub async fn get_inbox(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    ApiPath(path): ApiPath<(i64, i64)>,
) -> ApiResult<Json<InboxView>> {
    let (_, id) = path;
    let inbox = st.store.get_inbox(ctx.ws(), InboxId(id)).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(view(&inbox, &public_base(&st, &headers))))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{workspace_id}/inboxes/{inbox_id}", tag = "inboxes", request_body = UpdateInboxRequest,
    responses((status = 200, body = InboxView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_inbox(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<UpdateInboxRequest>,
) -> ApiResult<Json<InboxView>> {
    let (_, id) = path;
    ctx.require(Role::Admin)?;
    let existing = st.store.get_inbox(ctx.ws(), InboxId(id)).await?.ok_or(ApiError::NotFound)?;
    let name = req.name.as_deref().map(|n| validate::name("name", n)).transpose()?;
    if let Some(config) = &req.config {
        inbox_config::check(existing.channel, config, true)?;
        if existing.channel == Channel::Voice && config.contains_key("numbers") {
            return Err(ApiError::Validation("config: numbers are managed with /voice/numbers".into()));
        }
    }
    // A new token, secret or API base: tell the provider again.
    let reregister = req.config.as_ref().is_some_and(|c| {
        WEBHOOK_KEYS.iter().any(|k| c.get(*k).is_some_and(|v| existing.config.get(*k) != Some(v)))
    });
    let base = public_base(&st, &headers);
    let config = if existing.config_str(PUBLIC_BASE_KEY) == Some(base.as_str()) {
        req.config
    } else {
        let mut config = req.config.unwrap_or_default();
        config.insert(PUBLIC_BASE_KEY.into(), base.clone().into());
        Some(config)
    };
    let inbox = st.store.update_inbox(ctx.ws(), InboxId(id), InboxPatch { name, config }).await?;
    if reregister && matches!(inbox.channel, Channel::Telegram | Channel::Viber) {
        register_webhook(&st, &inbox, &base);
    }
    Ok(Json(view(&inbox, &base)))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/inboxes/{inbox_id}", tag = "inboxes",
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_inbox(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<StatusCode> {
    let (_, id) = path;
    ctx.require(Role::Admin)?;
    st.store.delete_inbox(ctx.ws(), InboxId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Server-managed config key: the origin the admin reached us at when the
/// inbox was last created or updated (see [`public_base`]), which the
/// outbox uses for the public file URLs that Viber and Instagram fetch.
/// Not settable by clients (`inbox_config::check` refuses unknown keys).
pub const PUBLIC_BASE_KEY: &str = "public_base_url";

/// Config keys whose change means the provider must be told the webhook
/// again (Telegram: `bot_token`, `secret_token`; Viber: `auth_token`).
const WEBHOOK_KEYS: [&str; 4] = ["bot_token", "secret_token", "auth_token", "api_base_url"];

/// How long a provider may take to answer a webhook registration.
const REGISTRATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Telegram and Viber post updates only to a URL their API was given:
/// `setWebhook` (with the inbox's `secret_token`, which Telegram then
/// sends on every update) or `set_webhook` (Viber signs with the auth
/// token and checks the URL with a `webhook` callback at once). Runs in
/// the background — the provider may be slow or unreachable, and Viber
/// calls us back before it answers — and records the outcome in the
/// inbox's config as `webhook_registration` (`ok`, `url`, `at`, and the
/// provider's words in `error`) for the admin to see.
fn register_webhook(st: &AppState, inbox: &Inbox, base: &str) {
    use switchboard_channels::{telegram, viber};
    let url = format!("{base}/webhooks/{}/{}", inbox.channel, inbox.id);
    let req = match inbox.channel {
        Channel::Telegram => match (inbox.config_str("bot_token"), inbox.config_str("secret_token")) {
            (Some(token), Some(secret)) => {
                let api = inbox.config_str("api_base_url").unwrap_or(telegram::DEFAULT_API_BASE);
                Ok(telegram::set_webhook(api, token, &url, secret))
            }
            _ => Err("the inbox has no bot_token or secret_token".to_owned()),
        },
        Channel::Viber => match inbox.config_str("auth_token") {
            Some(token) => Ok(viber::set_webhook(inbox.config_str("api_base_url").unwrap_or(viber::DEFAULT_API_BASE), token, &url)),
            None => Err("the inbox has no auth_token".to_owned()),
        },
        _ => return,
    };
    let (st, ws, id, channel) = (st.clone(), inbox.workspace_id, inbox.id, inbox.channel);
    tokio::spawn(async move {
        let outcome = match req {
            Err(e) => Err(e),
            Ok(req) => call_provider(req, channel).await,
        };
        let mut record = serde_json::Map::new();
        record.insert("ok".into(), outcome.is_ok().into());
        record.insert("url".into(), url.into());
        record.insert("at".into(), st.now().0.into());
        if let Err(e) = &outcome {
            tracing::warn!(inbox = id.0, error = %e, "webhook registration failed");
            record.insert("error".into(), e.clone().into());
        }
        let mut config = serde_json::Map::new();
        config.insert("webhook_registration".into(), serde_json::Value::Object(record));
        if let Err(e) = st.store.update_inbox(ws, id, InboxPatch { name: None, config: Some(config) }).await {
            tracing::warn!(inbox = id.0, error = %e, "webhook registration outcome not stored");
        }
    });
}

async fn call_provider(req: switchboard_channels::provider::SendRequest, channel: Channel) -> Result<(), String> {
    use switchboard_channels::{telegram, viber};
    let http = reqwest::Client::builder()
        .timeout(REGISTRATION_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))?;
    let mut r = http.post(&req.url).json(&req.body);
    for (k, v) in &req.headers {
        r = r.header(k.as_str(), v.as_str());
    }
    let resp = r.send().await.map_err(|e| format!("the provider could not be reached: {}", e.without_url()))?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| format!("the provider's answer was cut off: {}", e.without_url()))?;
    match channel {
        Channel::Telegram => telegram::parse_set_webhook_response(status, &body),
        _ => viber::parse_set_webhook_response(status, &body),
    }
}

/// The E.164 numbers listed in a new voice inbox's config.
fn voice_numbers(config: &serde_json::Map<String, serde_json::Value>) -> ApiResult<Vec<String>> {
    let Some(list) = config.get("numbers").and_then(|v| v.as_array()) else { return Ok(Vec::new()) };
    let mut out = Vec::with_capacity(list.len());
    for v in list {
        let n = switchboard_core::voice::e164("numbers", v.as_str().unwrap_or_default())?;
        if out.contains(&n) {
            return Err(ApiError::Validation(format!("numbers: {n} is listed twice")));
        }
        out.push(n);
    }
    Ok(out)
}
