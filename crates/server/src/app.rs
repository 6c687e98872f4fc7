//! Builds the HTTP application: routes, OpenAPI document, middleware.

use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::routes::{auth, automation, calls, contacts, conversations, files, hours_sla, inboxes, library, realtime, routing, system, teams, voice, webhooks, widget, workspace};
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;
use std::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard API", description = "Omnichannel contact center: REST API. Errors are always {\"error\":{\"code\",\"message\"}}."),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// The OpenAPI document, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router(files::DEFAULT_MAX_FILE_BYTES).split_for_parts().1
}

fn api_router(max_upload_bytes: usize) -> OpenApiRouter<AppState> {
    let widget_cors = CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([Method::GET, Method::POST, Method::PATCH])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(3600));
    let widget = OpenApiRouter::new()
        .routes(routes!(widget::session))
        .routes(routes!(widget::update_contact))
        .routes(routes!(widget::messages, widget::send))
        .routes(routes!(widget::read))
        .routes(routes!(calls::widget_callback))
        .merge(OpenApiRouter::new().routes(routes!(files::widget_upload)).layer(DefaultBodyLimit::max(max_upload_bytes)))
        .layer(widget_cors);
    let uploads = OpenApiRouter::new()
        .routes(routes!(files::upload))
        .layer(DefaultBodyLimit::max(max_upload_bytes));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(system::healthz))
        .routes(routes!(system::readyz))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(workspace::get_workspace))
        .routes(routes!(workspace::list_users, workspace::create_user))
        .routes(routes!(workspace::update_user, workspace::delete_user))
        .routes(routes!(workspace::set_presence))
        .routes(routes!(workspace::list_api_tokens, workspace::create_api_token))
        .routes(routes!(workspace::delete_api_token))
        .routes(routes!(workspace::get_business_hours, workspace::put_business_hours))
        .routes(routes!(workspace::live_stats))
        .routes(routes!(hours_sla::get_settings, hours_sla::put_settings))
        .routes(routes!(hours_sla::get_team_hours, hours_sla::put_team_hours, hours_sla::delete_team_hours))
        .routes(routes!(hours_sla::conversation_sla))
        .routes(routes!(teams::list_teams, teams::create_team))
        .routes(routes!(teams::update_team, teams::delete_team))
        .routes(routes!(teams::put_member, teams::delete_member))
        .routes(routes!(inboxes::list_inboxes, inboxes::create_inbox))
        .routes(routes!(inboxes::get_inbox, inboxes::update_inbox, inboxes::delete_inbox))
        .routes(routes!(contacts::list_contacts, contacts::create_contact))
        .routes(routes!(contacts::get_contact, contacts::update_contact))
        .routes(routes!(contacts::contact_conversations))
        .routes(routes!(conversations::list_conversations))
        .routes(routes!(conversations::get_conversation, conversations::update_conversation))
        .routes(routes!(conversations::claim))
        .routes(routes!(routing::accept))
        .routes(routes!(routing::decline))
        .routes(routes!(routing::get_rules, routing::put_rules))
        .routes(routes!(routing::queues))
        .routes(routes!(routing::my_offers))
        .routes(routes!(conversations::add_tag))
        .routes(routes!(conversations::list_reviews, conversations::create_review))
        .routes(routes!(conversations::remove_tag))
        .routes(routes!(conversations::list_messages, conversations::create_message))
        .routes(routes!(conversations::messaging_window))
        .routes(routes!(library::list_tags, library::create_tag))
        .routes(routes!(library::delete_tag))
        .routes(routes!(library::list_templates, library::create_template))
        .routes(routes!(library::update_template, library::delete_template))
        .routes(routes!(automation::list_rules, automation::create_rule))
        .routes(routes!(automation::get_rule, automation::update_rule, automation::delete_rule))
        .routes(routes!(automation::list_rule_runs))
        .routes(routes!(automation::list_all_runs))
        .routes(routes!(automation::webhook_signing_key))
        // Voice (SPEC §3.6).
        .routes(routes!(voice::get_settings, voice::put_settings))
        .routes(routes!(voice::list_extensions, voice::create_extension))
        .routes(routes!(voice::update_extension, voice::delete_extension))
        .routes(routes!(voice::list_numbers, voice::create_number))
        .routes(routes!(voice::update_number, voice::delete_number))
        .routes(routes!(voice::list_trunks, voice::create_trunk))
        .routes(routes!(voice::get_trunk, voice::update_trunk, voice::delete_trunk))
        .routes(routes!(voice::list_menus, voice::create_menu))
        .routes(routes!(voice::get_menu, voice::put_menu, voice::delete_menu))
        .routes(routes!(calls::list_calls, calls::click_to_call))
        .routes(routes!(calls::get_call))
        .routes(routes!(calls::missed_calls))
        .routes(routes!(calls::dismiss_missed))
        .routes(routes!(calls::recording))
        .routes(routes!(calls::voicemail))
        .routes(routes!(calls::callback_requests))
        .merge(widget)
        .merge(uploads)
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Internal("handler panicked".into()).into_response()
}

async fn record_metrics(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let resp = next.run(req).await;
    st.metrics.record_request(&method, &route, resp.status().as_u16(), started.elapsed().as_millis() as u64);
    resp
}

/// Security headers for every answer.
async fn harden(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    resp
}

pub fn router(st: AppState) -> Router {
    let (api, doc) = api_router(st.settings.max_upload_bytes).split_for_parts();
    let doc = Arc::new(doc);
    api.route("/api/v1/openapi.json", get(move || {
        let doc = doc.clone();
        async move { Json(doc.as_ref().clone()) }
    }))
    .route("/api/v1/ws", get(realtime::socket))
    .route("/api/v1/widget/ws", get(widget::socket))
    .route("/metrics", get(system::metrics))
    .route("/files/{workspace_id}/{attachment_id}/{key}/{filename}", get(files::download))
    .route("/public/files/{token}", get(crate::routes::public_files::serve))
    .route("/demo/widget", get(system::demo_page))
    .route("/webhooks/{channel}/{inbox_id}", get(webhooks::verify).post(webhooks::receive))
    .fallback(system::fallback)
    .method_not_allowed_fallback(method_not_allowed)
    .layer(middleware::from_fn_with_state(st.clone(), record_metrics))
    .layer(middleware::from_fn(harden))
    .layer(DefaultBodyLimit::max(st.settings.max_body_bytes))
    .layer(CatchPanicLayer::custom(panic_response))
    .with_state(st)
}
