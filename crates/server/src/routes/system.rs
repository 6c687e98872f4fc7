//! Health, readiness, metrics, the OpenAPI document and static files.

use crate::assets;
use crate::dto::Health;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;

#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Ready when the database answers.
#[utoipa::path(get, path = "/readyz", tag = "system", responses((status = 200, body = Health), (status = 503)))]
pub async fn readyz(State(st): State<AppState>) -> Result<Json<Health>, ApiError> {
    st.store.ping().await.map_err(|_| ApiError::Unavailable)?;
    Ok(Json(Health { status: "ready" }))
}

pub async fn metrics(State(st): State<AppState>) -> Response {
    let body = st.metrics.render(st.store.backend());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

pub async fn demo_page(State(st): State<AppState>, headers: axum::http::HeaderMap) -> Result<Html<String>, ApiError> {
    if !st.settings.demo {
        return Err(ApiError::NotFound);
    }
    let token = crate::demo::website_token(&st).await?.ok_or(ApiError::NotFound)?;
    let base = super::inboxes::public_base(&st, &headers);
    Ok(Html(crate::demo::widget_page(&base, &token)))
}

/// Built web UI files; any other non-API path gets the app's index.html
/// (client-side routes); `/api/…` and `/webhooks/…` get a JSON 404.
pub async fn fallback(uri: Uri) -> Response {
    let path = uri.path();
    if path.starts_with("/api/") || path == "/api" || path.starts_with("/webhooks/") {
        return ApiError::NotFound.into_response();
    }
    if let Some(asset) = assets::get(path.trim_start_matches('/')) {
        let mut resp = serve(asset, path.starts_with("/assets/"));
        if path == "/widget.js" {
            // Embedded on customers' sites; short cache so updates spread.
            let h = resp.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        }
        return resp;
    }
    // A path with a file extension that is not here is a missing file.
    if path.rsplit('/').next().is_some_and(|last| last.contains('.')) {
        return ApiError::NotFound.into_response();
    }
    match assets::get("index.html") {
        Some(index) => serve(index, false),
        None => (
            StatusCode::OK,
            Html("<!doctype html><title>Switchboard</title><p>Switchboard is running. The web UI was not built into this binary: run <code>npm ci && npm run build</code> in <code>web/</code> and rebuild.</p>".to_owned()),
        )
            .into_response(),
    }
}

fn serve(asset: &assets::Asset, immutable: bool) -> Response {
    let mut resp = (StatusCode::OK, asset.bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime));
    // Vite's hashed files never change; everything else is revalidated.
    let cache = if immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}
