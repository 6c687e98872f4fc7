//! The website widget's credentials.
//!
//! A visitor token names (workspace, inbox, contact) and is signed with the
//! workspace's private signing secret, so a visitor can only ever read and
//! write their own thread. Identity verification lets a site vouch for its
//! logged-in user: `identifier_hash = hex(HMAC-SHA256(identity_secret,
//! identifier))`, computed on the site's server.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use switchboard_core::{ContactId, InboxId, WorkspaceId};
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitorClaims {
    pub workspace_id: WorkspaceId,
    pub inbox_id: InboxId,
    pub contact_id: ContactId,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    #[error("malformed visitor token")]
    Malformed,
    #[error("visitor token signature does not match")]
    BadSignature,
}

fn mac(secret: &[u8], data: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("hmac key of any size"));
    m.update(data);
    m
}

/// `base64url(payload).base64url(HMAC-SHA256(secret, payload))`: the
/// signed-token format of visitor tokens, for other signed payloads too
/// (the outbox's public file URLs).
pub fn sign_text(payload: &str, secret: &[u8]) -> String {
    let sig = mac(secret, payload.as_bytes()).finalize().into_bytes();
    format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(sig))
}

/// The payload of a [`sign_text`] token, without checking the signature.
pub fn peek_text(token: &str) -> Result<String, TokenError> {
    let (payload, _) = token.split_once('.').ok_or(TokenError::Malformed)?;
    let raw = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TokenError::Malformed)?;
    String::from_utf8(raw).map_err(|_| TokenError::Malformed)
}

/// The payload of a [`sign_text`] token whose signature matches `secret`
/// (compared in constant time).
pub fn verify_text(token: &str, secret: &[u8]) -> Result<String, TokenError> {
    let payload = peek_text(token)?;
    let (_, sig) = token.split_once('.').ok_or(TokenError::Malformed)?;
    let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| TokenError::Malformed)?;
    mac(secret, payload.as_bytes()).verify_slice(&sig).map_err(|_| TokenError::BadSignature)?;
    Ok(payload)
}

impl VisitorClaims {
    fn payload(&self) -> String {
        format!("v1:{}:{}:{}", self.workspace_id, self.inbox_id, self.contact_id)
    }

    pub fn sign(&self, secret: &[u8]) -> String {
        sign_text(&self.payload(), secret)
    }

    /// Reads the claims without checking the signature: only to find out
    /// which workspace's secret to verify with.
    pub fn peek(token: &str) -> Result<VisitorClaims, TokenError> {
        let (payload, _) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let raw = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TokenError::Malformed)?;
        let text = std::str::from_utf8(&raw).map_err(|_| TokenError::Malformed)?;
        let mut parts = text.split(':');
        let (Some("v1"), Some(ws), Some(inbox), Some(contact), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let num = |s: &str| s.parse::<i64>().map_err(|_| TokenError::Malformed);
        Ok(VisitorClaims {
            workspace_id: WorkspaceId(num(ws)?),
            inbox_id: InboxId(num(inbox)?),
            contact_id: ContactId(num(contact)?),
        })
    }

    pub fn verify(token: &str, secret: &[u8]) -> Result<VisitorClaims, TokenError> {
        let claims = Self::peek(token)?;
        let (_, sig) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| TokenError::Malformed)?;
        // `verify_slice` compares in constant time.
        mac(secret, claims.payload().as_bytes()).verify_slice(&sig).map_err(|_| TokenError::BadSignature)?;
        Ok(claims)
    }
}

/// Constant-time check of a site's `identifier_hash` (hex, any case).
pub fn identity_matches(identity_secret: &str, identifier: &str, identifier_hash: &str) -> bool {
    let Ok(expected) = hex::decode(identifier_hash.trim()) else { return false };
    mac(identity_secret.as_bytes(), identifier.as_bytes()).verify_slice(&expected).is_ok()
}

/// What a site computes on its server; exposed for tests and docs.
pub fn identity_hash(identity_secret: &str, identifier: &str) -> String {
    hex::encode(mac(identity_secret.as_bytes(), identifier.as_bytes()).finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> VisitorClaims {
        VisitorClaims { workspace_id: WorkspaceId(3), inbox_id: InboxId(5), contact_id: ContactId(8) }
    }

    #[test]
    fn signed_token_verifies_and_round_trips() {
        let t = claims().sign(b"k1");
        assert_eq!(VisitorClaims::verify(&t, b"k1"), Ok(claims()));
    }

    #[test]
    fn wrong_key_or_edited_payload_is_refused() {
        let t = claims().sign(b"k1");
        assert_eq!(VisitorClaims::verify(&t, b"k2"), Err(TokenError::BadSignature));
        let (_, sig) = t.split_once('.').unwrap();
        let forged = format!("{}.{sig}", URL_SAFE_NO_PAD.encode("v1:3:5:9"));
        assert_eq!(VisitorClaims::verify(&forged, b"k1"), Err(TokenError::BadSignature));
    }

    #[test]
    fn garbage_is_malformed() {
        for t in ["", "abc", "a.b", "djE6MzpY.AA", "djE6MzoxOjI6Mw.AA"] {
            assert_eq!(VisitorClaims::verify(t, b"k"), Err(TokenError::Malformed), "{t}");
        }
    }

    #[test]
    fn identity_hash_checks() {
        let h = identity_hash("site-secret", "user-42");
        assert!(identity_matches("site-secret", "user-42", &h));
        assert!(identity_matches("site-secret", "user-42", &h.to_uppercase()));
        assert!(!identity_matches("site-secret", "user-43", &h));
        assert!(!identity_matches("other", "user-42", &h));
        assert!(!identity_matches("site-secret", "user-42", "zz"));
    }
}
