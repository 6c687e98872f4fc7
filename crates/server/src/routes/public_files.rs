//! Signed, expiring public URLs of an outgoing message's file, for the
//! providers that take attachments only by URL (Viber, Instagram): they
//! fetch the file themselves, with no session. The token names the
//! workspace, the message and an expiry, signed with the workspace's
//! signing secret (the visitor-token format); anything wrong with it is a
//! plain 404.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use switchboard_channels::webchat::{peek_text, sign_text, verify_text};
use switchboard_core::{MessageId, WorkspaceId};

/// How long a file URL handed to a provider stays valid.
pub const FILE_URL_TTL_SECS: i64 = 60 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileClaims {
    pub workspace_id: WorkspaceId,
    /// The outgoing message whose (single) file is served.
    pub message_id: MessageId,
    /// Unix seconds after which the URL is refused.
    pub expires_at: i64,
}

impl FileClaims {
    fn payload(&self) -> String {
        format!("f1:{}:{}:{}", self.workspace_id.0, self.message_id.0, self.expires_at)
    }

    pub fn sign(&self, secret: &[u8]) -> String {
        sign_text(&self.payload(), secret)
    }

    fn parse(payload: &str) -> Option<FileClaims> {
        let mut parts = payload.split(':');
        let (Some("f1"), Some(ws), Some(msg), Some(exp), None) = (parts.next(), parts.next(), parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        Some(FileClaims {
            workspace_id: WorkspaceId(ws.parse().ok()?),
            message_id: MessageId(msg.parse().ok()?),
            expires_at: exp.parse().ok()?,
        })
    }

    /// The claims, unchecked: only to find which workspace's secret to use.
    pub fn peek(token: &str) -> Option<FileClaims> {
        Self::parse(&peek_text(token).ok()?)
    }

    /// The claims if `secret` signed them and they have not expired.
    pub fn verify(token: &str, secret: &[u8], now_secs: i64) -> Option<FileClaims> {
        let claims = Self::parse(&verify_text(token, secret).ok()?)?;
        (now_secs < claims.expires_at).then_some(claims)
    }
}

/// `{base}/public/files/{token}` for a message's file, valid for an hour.
pub fn file_url(base: &str, ws: WorkspaceId, message: MessageId, secret: &[u8], now_secs: i64) -> String {
    let token = FileClaims { workspace_id: ws, message_id: message, expires_at: now_secs + FILE_URL_TTL_SECS }.sign(secret);
    format!("{}/public/files/{token}", base.trim_end_matches('/'))
}

/// `GET /public/files/{token}`: the file's bytes, its type and name.
pub async fn serve(State(st): State<AppState>, Path(token): Path<String>) -> ApiResult<Response> {
    let claims = FileClaims::peek(&token).ok_or(ApiError::NotFound)?;
    let secret = st.signing_secret(claims.workspace_id).await?.ok_or(ApiError::NotFound)?;
    let claims = FileClaims::verify(&token, &secret, st.now().0 / 1000).ok_or(ApiError::NotFound)?;
    let file = st.store.message_files(claims.workspace_id, claims.message_id).await?.into_iter().next().ok_or(ApiError::NotFound)?;
    let disposition = format!("attachment; filename=\"{}\"", file.filename.replace(['"', '\\', '\r', '\n'], "_"));
    let mut resp = file.data.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(&file.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=600"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> FileClaims {
        FileClaims { workspace_id: WorkspaceId(3), message_id: MessageId(42), expires_at: 1_000 }
    }

    #[test]
    fn signed_token_round_trips_before_expiry() {
        let t = claims().sign(b"k1");
        assert_eq!(FileClaims::peek(&t), Some(claims()));
        assert_eq!(FileClaims::verify(&t, b"k1", 999), Some(claims()));
    }

    #[test]
    fn expired_token_is_refused() {
        let t = claims().sign(b"k1");
        assert_eq!(FileClaims::verify(&t, b"k1", 1_000), None);
        assert_eq!(FileClaims::verify(&t, b"k1", 5_000), None);
    }

    #[test]
    fn another_workspaces_secret_is_refused() {
        let t = claims().sign(b"k1");
        assert_eq!(FileClaims::verify(&t, b"k2", 0), None);
    }

    #[test]
    fn tampered_or_malformed_tokens_are_refused() {
        let t = claims().sign(b"k1");
        // Another message or a later expiry under the same signature.
        let (_, sig) = t.split_once('.').unwrap_or_default();
        let other = FileClaims { message_id: MessageId(43), ..claims() }.sign(b"k1");
        let (payload, _) = other.split_once('.').unwrap_or_default();
        assert_eq!(FileClaims::verify(&format!("{payload}.{sig}"), b"k1", 0), None);
        let later = FileClaims { expires_at: 9_999, ..claims() }.sign(b"k1");
        let (payload, _) = later.split_once('.').unwrap_or_default();
        assert_eq!(FileClaims::verify(&format!("{payload}.{sig}"), b"k1", 0), None);
        // Every single-character change.
        for i in 0..t.len() {
            let mut bytes = t.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap_or_default();
            if changed != t {
                assert_eq!(FileClaims::verify(&changed, b"k1", 0), None, "changed at {i}");
            }
        }
        for bad in ["", ".", "abc", "abc.def", "Zm9v.", "a.b.c"] {
            assert_eq!(FileClaims::verify(bad, b"k1", 0), None);
        }
    }
}
