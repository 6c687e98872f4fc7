//! Signatures of the webhooks Switchboard sends (automation's
//! `send_webhook`): `X-Switchboard-Signature: sha256=<hex HMAC-SHA256(key,
//! raw body)>`, the same scheme as WhatsApp's and Messenger's.
//!
//! The key is derived from the workspace's private signing secret, never
//! the secret itself: every receiver must hold the key to verify, and the
//! secret also signs visitor tokens — handing it out would let a receiver
//! impersonate any widget visitor. HMAC is one-way, so the derived key
//! reveals nothing about the secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const SIGNATURE_HEADER: &str = "x-switchboard-signature";

/// Separates this use of the workspace secret from every other one.
const KEY_LABEL: &[u8] = b"switchboard/webhook-signing-key/v1";

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("hmac key of any size"))
}

/// The workspace's webhook signing key (hex), shown to its admins.
pub fn signing_key(workspace_secret: &[u8]) -> String {
    let mut m = mac(workspace_secret);
    m.update(KEY_LABEL);
    hex::encode(m.finalize().into_bytes())
}

/// The header value for `body`: `sha256=<hex>`.
pub fn signature(key: &str, body: &[u8]) -> String {
    let mut m = mac(key.as_bytes());
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// Checks a received header value in constant time.
pub fn verify(key: &str, body: &[u8], header: &str) -> bool {
    let Some(sig) = header.trim().strip_prefix("sha256=").and_then(|h| hex::decode(h).ok()) else { return false };
    let mut m = mac(key.as_bytes());
    m.update(body);
    m.verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_with_a_derived_key() {
        let key = signing_key(b"workspace secret");
        assert_eq!(key.len(), 64);
        assert_ne!(key.as_bytes(), b"workspace secret");
        assert_eq!(key, signing_key(b"workspace secret"), "stable");
        assert_ne!(key, signing_key(b"another secret"));
        let sig = signature(&key, b"{\"a\":1}");
        assert!(sig.starts_with("sha256="));
        assert!(verify(&key, b"{\"a\":1}", &sig));
        assert!(!verify(&key, b"{\"a\":2}", &sig));
        assert!(!verify(&key, b"{\"a\":1}", "sha256=zz"));
        assert!(!verify(&key, b"{\"a\":1}", "md5=00"));
    }
}
