use crate::auth::{self, Authed, SESSION_COOKIE, SESSION_PREFIX};
use crate::dto::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ClientIp};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::atomic::Ordering;
use switchboard_core::validate;

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let email = req.email.trim().to_lowercase();
    let key = format!("{ip}|{email}");
    let now = st.now();
    // Only failures count, so a user who logs in often is never locked
    // out, but guessing is capped per address and account.
    if let Ok(mut limiter) = st.limiters.login.lock()
        && let Err(retry_ms) = limiter.allowed(&key, now.0) {
            return Err(ApiError::RateLimited { retry_after_secs: (retry_ms as u64).div_ceil(1000) });
        }
    let creds = st.store.find_credentials(&email).await?;
    let (user, hash) = match creds {
        Some(c) => (Some(c.user), Some(c.password_hash)),
        None => (None, None),
    };
    let ok = auth::verify_password(&req.password, hash).await;
    let Some(user) = user.filter(|_| ok) else {
        st.metrics.login_failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut limiter) = st.limiters.login.lock() {
            limiter.record(&key, now.0);
        }
        return Err(ApiError::InvalidCredentials("invalid_credentials"));
    };
    let token = auth::new_token(SESSION_PREFIX);
    let ttl = st.settings.session_ttl_ms;
    st.store.create_session(&auth::token_hash(&token), user.id, now, now.plus_millis(ttl)).await?;
    let cookie = format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}", ttl / 1000);
    let mut resp = Json(LoginResponse { token, user }).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(State(st): State<AppState>, authed: Authed) -> ApiResult<Response> {
    if let Some(token) = &authed.session_token {
        st.store.delete_session(&auth::token_hash(token)).await?;
        // Sockets opened with this session close (on every node).
        let workspaces = st.store.user_workspaces(authed.user_id).await?;
        st.publish(
            workspaces
                .iter()
                .map(|w| switchboard_core::events::Event {
                    workspace_id: w.id,
                    scope: None,
                    payload: switchboard_core::events::EventPayload::CredentialsRevoked { user_id: authed.user_id },
                })
                .collect(),
        );
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_static("sb_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)))]
pub async fn me(State(st): State<AppState>, authed: Authed) -> ApiResult<Json<MeResponse>> {
    let user = st.store.get_user(authed.user_id).await?.ok_or(ApiError::Unauthorized)?;
    let mut workspaces = st.store.user_workspaces(authed.user_id).await?;
    if let Some(only) = authed.only_workspace {
        workspaces.retain(|w| w.id == only);
    }
    Ok(Json(MeResponse { user, workspaces }))
}

/// Checks and normalises what a new account needs.
pub fn check_new_user(email: &str, name: &str, password: &str) -> ApiResult<(String, String)> {
    let email = validate::email("email", email)?;
    let name = validate::name("name", name)?;
    validate::password(password)?;
    Ok((email, name))
}
