use crate::auth::Ctx;
use crate::dto::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::{next_cursor, PageQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use switchboard_core::*;
use switchboard_store::{ContactFields, ConversationFilter};

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ContactQuery {
    /// Case-insensitive part of the name, email or phone.
    pub q: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Validates card fields; `Some(None)` (explicit null or empty) clears one.
pub fn card_fields(req: ContactRequest) -> ApiResult<ContactFields> {
    fn clean(
        v: Option<Option<String>>,
        check: impl Fn(&str) -> Result<String, validate::ValidationError>,
    ) -> ApiResult<Option<Option<String>>> {
        Ok(match v {
            None => None,
            Some(None) => Some(None),
            Some(Some(s)) if s.trim().is_empty() => Some(None),
            Some(Some(s)) => Some(Some(check(&s)?)),
        })
    }
    if let Some(fields) = &req.custom_fields {
        if fields.len() > 100 || fields.keys().any(|k| k.is_empty() || k.len() > 64) {
            return Err(ApiError::Validation("custom_fields: at most 100 fields, names of 1-64 characters".into()));
        }
        if fields.values().any(|v| v.is_object() || v.is_array() || v.to_string().len() > 2000) {
            return Err(ApiError::Validation("custom_fields: values must be strings, numbers, booleans or null".into()));
        }
    }
    Ok(ContactFields {
        name: clean(req.name, |s| validate::name("name", s))?,
        email: clean(req.email, |s| validate::email("email", s))?,
        phone: clean(req.phone, |s| validate::phone("phone", s))?,
        identifier: None,
        custom_fields: req.custom_fields,
    })
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/contacts", tag = "contacts", params(ContactQuery),
    responses((status = 200, body = Paginated<Contact>)))]
pub async fn list_contacts(State(st): State<AppState>, ctx: Ctx, ApiQuery(q): ApiQuery<ContactQuery>) -> ApiResult<Json<Paginated<Contact>>> {
    let page = PageQuery { cursor: q.cursor, limit: q.limit }.page()?;
    let p = st.store.list_contacts(ctx.ws(), q.q.as_deref(), page).await?;
    Ok(Json(Paginated { data: p.items, next_cursor: next_cursor(p.next) }))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/contacts", tag = "contacts", request_body = ContactRequest,
    responses((status = 201, body = Contact), (status = 400, body = ErrorBody)))]
pub async fn create_contact(State(st): State<AppState>, ctx: Ctx, ApiJson(req): ApiJson<ContactRequest>) -> ApiResult<(StatusCode, Json<Contact>)> {
    let fields = card_fields(req)?;
    Ok((StatusCode::CREATED, Json(st.store.create_contact(ctx.ws(), fields, st.now()).await?)))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/contacts/{contact_id}", tag = "contacts",
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)))]
pub async fn get_contact(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<Json<Contact>> {
    let (_, id) = path;
    Ok(Json(st.store.get_contact(ctx.ws(), ContactId(id)).await?.ok_or(ApiError::NotFound)?))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{workspace_id}/contacts/{contact_id}", tag = "contacts", request_body = ContactRequest,
    responses((status = 200, body = Contact), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_contact(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<ContactRequest>,
) -> ApiResult<Json<Contact>> {
    let (_, id) = path;
    let fields = card_fields(req)?;
    Ok(Json(st.store.update_contact(ctx.ws(), ContactId(id), fields, st.now()).await?))
}

/// The contact's conversations across all inboxes and channels, newest first.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/contacts/{contact_id}/conversations", tag = "contacts",
    params(PageQuery), responses((status = 200, body = Paginated<Conversation>), (status = 404, body = ErrorBody)))]
pub async fn contact_conversations(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Paginated<Conversation>>> {
    let (_, id) = path;
    let contact = st.store.get_contact(ctx.ws(), ContactId(id)).await?.ok_or(ApiError::NotFound)?;
    let filter = ConversationFilter { contact: Some(contact.id), ..Default::default() };
    let p = st.store.list_conversations(&ctx.viewer, &filter, q.page()?).await?;
    Ok(Json(Paginated { data: p.items, next_cursor: next_cursor(p.next) }))
}
