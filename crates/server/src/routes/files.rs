//! Attachments: upload (agents into a conversation, visitors into their
//! thread) and download by unguessable URL.

use crate::auth::{self, Ctx};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiBytes, ApiPath, ApiQuery};
use crate::routes::widget::Visitor;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use switchboard_core::*;
use switchboard_store::{NewAttachment, UploadOwner};

/// Largest accepted file unless `--max-upload-bytes` says otherwise.
pub const DEFAULT_MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Most files on one message.
pub const MAX_FILES_PER_MESSAGE: usize = 10;

#[derive(Deserialize, utoipa::IntoParams)]
pub struct UploadQuery {
    /// The file's name as the user chose it.
    pub filename: String,
}

/// `type/subtype` from the request, or octet-stream when absent or odd.
fn content_type(headers: &HeaderMap) -> String {
    clean_content_type(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or(""))
}

/// `type/subtype` of a Content-Type value (parameters dropped), or
/// octet-stream when empty or odd. Also for files fetched from providers.
pub fn clean_content_type(raw: &str) -> String {
    let essence = raw.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let valid = essence.len() <= 100
        && essence.split_once('/').is_some_and(|(t, s)| {
            !t.is_empty() && !s.is_empty() && essence.chars().all(|c| c.is_ascii_alphanumeric() || "/.+-_".contains(c))
        });
    if valid { essence } else { "application/octet-stream".to_owned() }
}

async fn store_upload(st: &AppState, ws: WorkspaceId, owner: UploadOwner, filename: &str, headers: &HeaderMap, body: &[u8]) -> ApiResult<Attachment> {
    if body.is_empty() {
        return Err(ApiError::Validation("file: the body is empty".into()));
    }
    let filename = validate::filename(filename)?;
    let new = NewAttachment {
        owner,
        filename,
        content_type: content_type(headers),
        data: body.to_vec(),
        access_key: auth::random_secret(),
    };
    Ok(st.store.create_attachment(ws, new, st.now()).await?)
}

/// Upload a file (raw body, its type as Content-Type) to send with the next
/// message of this conversation: pass the returned id in `attachment_ids`.
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/attachments", tag = "messages",
    params(UploadQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Attachment), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn upload(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiPath(path): ApiPath<(i64, i64)>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<(StatusCode, Json<Attachment>)> {
    let (_, id) = path;
    let conv = super::conversations::visible(&st, &ctx, id).await?;
    let owner = UploadOwner::Agent { conversation: conv.id, user: ctx.user() };
    Ok((StatusCode::CREATED, Json(store_upload(&st, ctx.ws(), owner, &q.filename, &headers, &body).await?)))
}

/// A visitor's upload, to send with their next message.
#[utoipa::path(post, path = "/api/v1/widget/attachments", tag = "widget",
    params(UploadQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Attachment), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn widget_upload(
    State(st): State<AppState>,
    visitor: Visitor,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<(StatusCode, Json<Attachment>)> {
    let owner = UploadOwner::Visitor { contact: visitor.claims.contact_id };
    let a = store_upload(&st, visitor.claims.workspace_id, owner, &q.filename, &headers, &body).await?;
    Ok((StatusCode::CREATED, Json(a)))
}

/// Downloads need no session: the URL's key is the permission (visitors
/// fetch agents' files and vice versa). Only images display inline; every
/// other type downloads, and nothing served here may run scripts.
pub async fn download(State(st): State<AppState>, headers: HeaderMap, ApiPath(path): ApiPath<(i64, i64, String, String)>) -> ApiResult<Response> {
    let (ws, id, key, _name) = path;
    let file = st.store.attachment_file(WorkspaceId(ws), AttachmentId(id), &key).await?.ok_or(ApiError::NotFound)?;
    let inline = file.content_type.starts_with("image/") && file.content_type != "image/svg+xml";
    let disposition = format!(
        "{}; filename=\"{}\"",
        if inline { "inline" } else { "attachment" },
        file.filename.replace(['"', '\\'], "_")
    );
    let mut resp = ranged(file.data, &headers);
    let h = resp.headers_mut();
    let ct = if inline { file.content_type.as_str() } else { "application/octet-stream" };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400"));
    Ok(resp)
}

/// Checks a message's `attachment_ids` list.
pub fn attachment_ids(ids: Option<Vec<i64>>) -> ApiResult<Vec<AttachmentId>> {
    let ids = ids.unwrap_or_default();
    if ids.len() > MAX_FILES_PER_MESSAGE {
        return Err(ApiError::Validation(format!("attachment_ids: at most {MAX_FILES_PER_MESSAGE} files per message")));
    }
    let mut out: Vec<AttachmentId> = ids.into_iter().map(AttachmentId).collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Message text: required unless files come with it.
pub fn message_text(content: Option<&str>, has_files: bool) -> ApiResult<String> {
    match content.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => Ok(validate::text("content", c, validate::MAX_MESSAGE_CHARS)?),
        None if has_files => Ok(String::new()),
        None => Err(ApiError::Validation("content: must not be empty".into())),
    }
}

/// What a `Range` header asks of a body of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No range, or one we may ignore (RFC 9110 §14.2: another unit,
    /// several ranges, or a syntactically invalid one): the whole body.
    Full,
    /// Inclusive byte positions, within the body.
    Part { start: u64, end: u64 },
    /// A valid range that no byte of the body satisfies: 416.
    Unsatisfiable,
}

pub fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return RangeRequest::Full };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return RangeRequest::Full };
    let (first, last) = (first.trim(), last.trim());
    let num = |s: &str| if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<u64>().ok() } else { None };
    match (first.is_empty(), last.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match num(last) {
            None => RangeRequest::Full,
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if len == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Part { start: len.saturating_sub(n), end: len - 1 },
        },
        (false, _) => {
            let Some(start) = num(first) else { return RangeRequest::Full };
            let end = if last.is_empty() {
                None
            } else {
                match num(last) {
                    Some(e) if e >= start => Some(e),
                    _ => return RangeRequest::Full,
                }
            };
            if start >= len {
                return RangeRequest::Unsatisfiable;
            }
            RangeRequest::Part { start, end: end.map_or(len - 1, |e| e.min(len - 1)) }
        }
        (true, true) => RangeRequest::Full,
    }
}

/// The body as the request's `Range` asks: 200 whole, 206 with
/// `Content-Range`, or 416 with `Content-Range: bytes */len`. Browsers'
/// audio players seek with ranges, so recordings need this.
pub fn ranged(data: Vec<u8>, headers: &HeaderMap) -> Response {
    let len = data.len() as u64;
    let range = parse_range(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), len);
    let mut resp = match range {
        RangeRequest::Full => (StatusCode::OK, data).into_response(),
        RangeRequest::Part { start, end } => {
            let part = data.get(start as usize..=end as usize).map(<[u8]>::to_vec).unwrap_or_default();
            let mut r = (StatusCode::PARTIAL_CONTENT, part).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
        RangeRequest::Unsatisfiable => {
            let mut r = ApiError::RangeNotSatisfiable.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
    };
    resp.headers_mut().insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    resp
}

#[cfg(test)]
mod range_tests {
    use super::{parse_range, RangeRequest::*};

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Full);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Part { start: 0, end: 3 });
        assert_eq!(parse_range(Some("bytes=4-"), 10), Part { start: 4, end: 9 });
        assert_eq!(parse_range(Some("bytes=5-100"), 10), Part { start: 5, end: 9 });
        assert_eq!(parse_range(Some("bytes=-3"), 10), Part { start: 7, end: 9 });
        assert_eq!(parse_range(Some("bytes=-30"), 10), Part { start: 0, end: 9 });
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-0"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=3-1"), 10), Full);
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), Full);
        assert_eq!(parse_range(Some("bytes=a-b"), 10), Full);
    }
}
