//! HTTP Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 8760
//! with MD5), qop=auth or no qop.
//!
//! Nonces are stateless: `<unix seconds hex>.<HMAC-SHA256(secret, time ":"
//! realm) hex>`, so any node sharing the secret can verify one and its age
//! without a nonce table. The cost: nonce-count replay within the nonce's
//! lifetime is not detected (acceptable for REGISTER/INVITE, where a
//! replayed request achieves nothing the original didn't).

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

use super::header::{AuthParams, quote};

/// Why an Authorization header was refused, and how to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("Authorization header is not a well-formed Digest credential")]
    Malformed,
    #[error("unsupported algorithm or qop")]
    Unsupported,
    #[error("credentials are for another realm")]
    WrongRealm,
    #[error("nonce was not issued by us")]
    InvalidNonce,
    #[error("nonce has expired")]
    StaleNonce,
    #[error("digest response does not match (wrong password)")]
    WrongResponse,
}

impl DigestError {
    /// The status to answer with. Stale nonces get a 401 with `stale=true`
    /// so the phone retries with the same password without asking the user
    /// (RFC 2617 §3.2.1). A wrong password gets 403, not a re-challenge:
    /// RFC 3261 §22.3 permits either, and phones that auto-retry a 401 with
    /// the same wrong password would otherwise loop and hammer us.
    /// Everything else gets a fresh 401 challenge.
    pub fn status(&self) -> u16 {
        match self {
            DigestError::WrongResponse => 403,
            _ => 401,
        }
    }
}

/// The parsed Digest credentials of an Authorization or Proxy-Authorization header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestCredentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
    pub algorithm: Option<String>,
    pub opaque: Option<String>,
}

impl DigestCredentials {
    pub fn parse(header_value: &str) -> Result<DigestCredentials, DigestError> {
        let p = AuthParams::parse(header_value).map_err(|_| DigestError::Malformed)?;
        if !p.scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::Malformed);
        }
        let required = |n: &str| p.get(n).map(str::to_owned).ok_or(DigestError::Malformed);
        let optional = |n: &str| p.get(n).map(str::to_owned);
        Ok(DigestCredentials {
            username: required("username")?,
            realm: required("realm")?,
            nonce: required("nonce")?,
            uri: required("uri")?,
            response: required("response")?,
            qop: optional("qop"),
            nc: optional("nc"),
            cnonce: optional("cnonce"),
            algorithm: optional("algorithm"),
            opaque: optional("opaque"),
        })
    }
}

/// MD5(username:realm:password) as lower-case hex: what the user store keeps
/// instead of the password.
pub fn ha1(username: &str, realm: &str, password: &str) -> String {
    md5_hex(&format!("{username}:{realm}:{password}"))
}

fn md5_hex(s: &str) -> String {
    hex(&Md5::digest(s.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The expected `response` value (RFC 2617 §3.2.2.1).
pub fn expected_response(ha1: &str, method: &str, creds: &DigestCredentials) -> String {
    let ha2 = md5_hex(&format!("{method}:{}", creds.uri));
    match (&creds.qop, &creds.nc, &creds.cnonce) {
        (Some(qop), Some(nc), Some(cnonce)) => {
            md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", creds.nonce))
        }
        _ => md5_hex(&format!("{ha1}:{}:{ha2}", creds.nonce)),
    }
}

/// Client side: the value of an Authorization (for a 401's
/// WWW-Authenticate) or Proxy-Authorization (for a 407's
/// Proxy-Authenticate) header answering `challenge_header` (RFC 2617
/// §3.2.2, RFC 7616 with MD5). qop=auth is used when the challenge offers
/// it, the RFC 2069 form when it offers no qop; MD5-sess, SHA-256 and
/// auth-int-only challenges are `Unsupported`. `nc` counts the requests
/// sent with this nonce (1 for the first); `cnonce` is the caller's
/// randomness (injected so the result is testable).
pub fn authorize(
    challenge_header: &str,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
    cnonce: &str,
    nc: u32,
) -> Result<String, DigestError> {
    let p = AuthParams::parse(challenge_header).map_err(|_| DigestError::Malformed)?;
    if !p.scheme.eq_ignore_ascii_case("Digest") {
        return Err(DigestError::Malformed);
    }
    let realm = p.get("realm").ok_or(DigestError::Malformed)?;
    let nonce = p.get("nonce").ok_or(DigestError::Malformed)?;
    if p.get("algorithm")
        .is_some_and(|a| !a.eq_ignore_ascii_case("MD5"))
    {
        return Err(DigestError::Unsupported);
    }
    let qop_auth = match p.get("qop") {
        None => false,
        Some(list)
            if list
                .split(',')
                .any(|q| q.trim().eq_ignore_ascii_case("auth")) =>
        {
            true
        }
        Some(_) => return Err(DigestError::Unsupported),
    };
    let nc = format!("{nc:08x}");
    let creds = DigestCredentials {
        username: username.to_owned(),
        realm: realm.to_owned(),
        nonce: nonce.to_owned(),
        uri: uri.to_owned(),
        response: String::new(),
        qop: qop_auth.then(|| "auth".to_owned()),
        nc: qop_auth.then(|| nc.clone()),
        cnonce: qop_auth.then(|| cnonce.to_owned()),
        algorithm: Some("MD5".to_owned()),
        opaque: p.get("opaque").map(str::to_owned),
    };
    let response = expected_response(&ha1(username, realm, password), method, &creds);
    let mut out = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm=MD5",
        quote(username),
        quote(realm),
        quote(nonce),
        quote(uri),
        quote(&response)
    );
    if qop_auth {
        out.push_str(&format!(", qop=auth, nc={nc}, cnonce={}", quote(cnonce)));
    }
    if let Some(opaque) = &creds.opaque {
        out.push_str(&format!(", opaque={}", quote(opaque)));
    }
    Ok(out)
}

/// Whether a challenge says the nonce expired while the credentials were
/// right (`stale=true`): retry at once with the new nonce.
pub fn challenge_is_stale(challenge_header: &str) -> bool {
    AuthParams::parse(challenge_header)
        .ok()
        .and_then(|p| p.get("stale").map(|s| s.eq_ignore_ascii_case("true")))
        .unwrap_or(false)
}

/// Compares without an early exit, so timing reveals nothing about how
/// much of a guessed response was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Issues challenges and verifies credentials for one realm.
#[derive(Clone)]
pub struct DigestAuthenticator {
    realm: String,
    secret: Vec<u8>,
    nonce_lifetime_secs: u64,
}

impl std::fmt::Debug for DigestAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestAuthenticator")
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl DigestAuthenticator {
    /// `secret` must be shared by all nodes and kept private; nonces older
    /// than `nonce_lifetime_secs` are stale.
    pub fn new(realm: &str, secret: &[u8], nonce_lifetime_secs: u64) -> DigestAuthenticator {
        DigestAuthenticator {
            realm: realm.to_owned(),
            secret: secret.to_vec(),
            nonce_lifetime_secs,
        }
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn nonce_mac(&self, issued_hex: &str) -> String {
        // new_from_slice accepts any key length for HMAC, so this cannot fail.
        match Hmac::<Sha256>::new_from_slice(&self.secret) {
            Ok(mut mac) => {
                mac.update(issued_hex.as_bytes());
                mac.update(b":");
                mac.update(self.realm.as_bytes());
                hex(&mac.finalize().into_bytes())
            }
            Err(_) => String::new(),
        }
    }

    /// A nonce issued at `now_unix_secs`.
    pub fn nonce(&self, now_unix_secs: u64) -> String {
        let issued = format!("{now_unix_secs:x}");
        let mac = self.nonce_mac(&issued);
        format!("{issued}.{mac}")
    }

    /// The value of a WWW-Authenticate (registrar, UAS) or
    /// Proxy-Authenticate (proxy) header.
    pub fn challenge(&self, now_unix_secs: u64, stale: bool) -> String {
        let mut value = format!(
            "Digest realm={}, nonce={}, algorithm=MD5, qop=\"auth\"",
            quote(&self.realm),
            quote(&self.nonce(now_unix_secs))
        );
        if stale {
            value.push_str(", stale=true");
        }
        value
    }

    fn check_nonce(&self, nonce: &str, now_unix_secs: u64) -> Result<(), DigestError> {
        let (issued_hex, mac) = nonce.split_once('.').ok_or(DigestError::InvalidNonce)?;
        if issued_hex.is_empty() || issued_hex.len() > 16 {
            return Err(DigestError::InvalidNonce);
        }
        if !constant_time_eq(mac.as_bytes(), self.nonce_mac(issued_hex).as_bytes()) {
            return Err(DigestError::InvalidNonce);
        }
        let issued = u64::from_str_radix(issued_hex, 16).map_err(|_| DigestError::InvalidNonce)?;
        if now_unix_secs.saturating_sub(issued) > self.nonce_lifetime_secs
            || issued > now_unix_secs.saturating_add(60)
        {
            return Err(DigestError::StaleNonce);
        }
        Ok(())
    }

    /// Verifies `creds` for a request with `method` against the stored `ha1`.
    /// The nonce is checked before the password, so an expired nonce with
    /// the right password reads as stale (answer 401 stale=true) rather
    /// than wrong.
    pub fn verify(
        &self,
        creds: &DigestCredentials,
        method: &str,
        ha1: &str,
        now_unix_secs: u64,
    ) -> Result<(), DigestError> {
        if creds.realm != self.realm {
            return Err(DigestError::WrongRealm);
        }
        if creds
            .algorithm
            .as_deref()
            .is_some_and(|a| !a.eq_ignore_ascii_case("MD5"))
        {
            return Err(DigestError::Unsupported);
        }
        match creds.qop.as_deref() {
            None => {}
            Some(q)
                if q.eq_ignore_ascii_case("auth")
                    && (creds.nc.is_none() || creds.cnonce.is_none()) =>
            {
                return Err(DigestError::Malformed);
            }
            Some(q) if q.eq_ignore_ascii_case("auth") => {}
            Some(_) => return Err(DigestError::Unsupported),
        }
        self.check_nonce(&creds.nonce, now_unix_secs)?;
        let expected = expected_response(&ha1.to_ascii_lowercase(), method, creds);
        if constant_time_eq(
            expected.as_bytes(),
            creds.response.to_ascii_lowercase().as_bytes(),
        ) {
            Ok(())
        } else {
            Err(DigestError::WrongResponse)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5.
    #[test]
    fn rfc2617_worked_example() {
        let header = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#
            .replace('\n', " ");
        let creds = DigestCredentials::parse(&header).unwrap();
        assert_eq!(creds.username, "Mufasa");
        assert_eq!(
            creds.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
        let ha1 = ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        assert_eq!(ha1, "939e7578ed9e3c518a452acee763bce9");
        assert_eq!(
            expected_response(&ha1, "GET", &creds),
            "6629fae49393a05397450978507c4ef1"
        );
    }

    /// RFC 2617 §3.5 from the client side: the challenge in, the
    /// Authorization value out, with the RFC's response.
    #[test]
    fn authorize_answers_the_rfc2617_challenge() {
        let challenge = r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let header = authorize(
            challenge,
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle Of Life",
            "0a4f113b",
            1,
        )
        .unwrap();
        let creds = DigestCredentials::parse(&header).unwrap();
        assert_eq!(
            creds.response, "6629fae49393a05397450978507c4ef1",
            "{header}"
        );
        assert_eq!(creds.nc.as_deref(), Some("00000001"));
        assert_eq!(creds.qop.as_deref(), Some("auth"));
        assert_eq!(
            creds.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
        assert_eq!(creds.uri, "/dir/index.html");
    }

    /// Our own server side accepts what the client side computes, with
    /// and without qop; unsupported and malformed challenges are refused.
    #[test]
    fn authorize_round_trips_through_the_authenticator() {
        let auth = DigestAuthenticator::new("sip.example.com", b"k", 300);
        let stored = ha1("trunk", "sip.example.com", "pw");
        let header = authorize(
            &auth.challenge(1000, false),
            "INVITE",
            "sip:+1555@sip.example.com",
            "trunk",
            "pw",
            "c1",
            2,
        )
        .unwrap();
        let creds = DigestCredentials::parse(&header).unwrap();
        assert_eq!(creds.nc.as_deref(), Some("00000002"));
        assert_eq!(auth.verify(&creds, "INVITE", &stored, 1001), Ok(()));
        let wrong = authorize(
            &auth.challenge(1000, false),
            "INVITE",
            "sip:x@y",
            "trunk",
            "nope",
            "c1",
            1,
        )
        .unwrap();
        assert_eq!(
            auth.verify(
                &DigestCredentials::parse(&wrong).unwrap(),
                "INVITE",
                &stored,
                1001
            ),
            Err(DigestError::WrongResponse)
        );
        let no_qop = authorize(
            &format!(
                "Digest realm=\"sip.example.com\", nonce=\"{}\"",
                auth.nonce(1000)
            ),
            "REGISTER",
            "sip:sip.example.com",
            "trunk",
            "pw",
            "c",
            1,
        )
        .unwrap();
        assert!(!no_qop.contains("qop"), "{no_qop}");
        assert_eq!(
            auth.verify(
                &DigestCredentials::parse(&no_qop).unwrap(),
                "REGISTER",
                &stored,
                1000
            ),
            Ok(())
        );
        assert_eq!(
            authorize(
                "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256",
                "INVITE",
                "sip:x",
                "u",
                "p",
                "c",
                1
            ),
            Err(DigestError::Unsupported)
        );
        assert_eq!(
            authorize(
                "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"",
                "INVITE",
                "sip:x",
                "u",
                "p",
                "c",
                1
            ),
            Err(DigestError::Unsupported)
        );
        assert_eq!(
            authorize("Digest nonce=\"n\"", "INVITE", "sip:x", "u", "p", "c", 1),
            Err(DigestError::Malformed)
        );
        assert_eq!(
            authorize("Basic realm=\"r\"", "INVITE", "sip:x", "u", "p", "c", 1),
            Err(DigestError::Malformed)
        );
        assert!(challenge_is_stale(&auth.challenge(1, true)));
        assert!(!challenge_is_stale(&auth.challenge(1, false)));
    }

    fn sip_credentials(
        auth: &DigestAuthenticator,
        password: &str,
        nonce: &str,
        qop: bool,
    ) -> DigestCredentials {
        let mut creds = DigestCredentials {
            username: "bob".into(),
            realm: auth.realm().into(),
            nonce: nonce.into(),
            uri: "sip:biloxi.com".into(),
            response: String::new(),
            qop: qop.then(|| "auth".into()),
            nc: qop.then(|| "00000001".into()),
            cnonce: qop.then(|| "0a4f113b".into()),
            algorithm: Some("MD5".into()),
            opaque: None,
        };
        creds.response = expected_response(&ha1("bob", auth.realm(), password), "REGISTER", &creds);
        creds
    }

    #[test]
    fn sip_register_round_trip_with_and_without_qop() {
        let auth = DigestAuthenticator::new("biloxi.com", b"cluster secret", 300);
        let now = 1_700_000_000;
        let challenge = AuthParams::parse(&auth.challenge(now, false)).unwrap();
        assert_eq!(challenge.get("realm"), Some("biloxi.com"));
        assert_eq!(challenge.get("qop"), Some("auth"));
        assert_eq!(challenge.get("stale"), None);
        let nonce = challenge.get("nonce").unwrap();
        let stored = ha1("bob", "biloxi.com", "zanzibar");
        for qop in [true, false] {
            let creds = sip_credentials(&auth, "zanzibar", nonce, qop);
            // Through the header form, as a phone would send it.
            let header = format!(
                "Digest username=\"bob\", realm=\"biloxi.com\", nonce=\"{}\", uri=\"sip:biloxi.com\", response=\"{}\"{}",
                creds.nonce,
                creds.response,
                if qop {
                    ", qop=auth, nc=00000001, cnonce=\"0a4f113b\""
                } else {
                    ""
                }
            );
            let parsed = DigestCredentials::parse(&header).unwrap();
            assert_eq!(auth.verify(&parsed, "REGISTER", &stored, now + 10), Ok(()));
            assert_eq!(
                auth.verify(&parsed, "INVITE", &stored, now + 10),
                Err(DigestError::WrongResponse)
            );
        }
        // Another node with the same secret accepts the nonce.
        let other_node = DigestAuthenticator::new("biloxi.com", b"cluster secret", 300);
        assert_eq!(
            other_node.verify(
                &sip_credentials(&auth, "zanzibar", nonce, true),
                "REGISTER",
                &stored,
                now
            ),
            Ok(())
        );
    }

    #[test]
    fn wrong_password_is_403() {
        let auth = DigestAuthenticator::new("biloxi.com", b"s", 300);
        let creds = sip_credentials(&auth, "wrong", &auth.nonce(1000), true);
        let err = auth
            .verify(
                &creds,
                "REGISTER",
                &ha1("bob", "biloxi.com", "zanzibar"),
                1000,
            )
            .unwrap_err();
        assert_eq!(err, DigestError::WrongResponse);
        assert_eq!(err.status(), 403);
    }

    #[test]
    fn stale_nonce_is_401_stale() {
        let auth = DigestAuthenticator::new("biloxi.com", b"s", 300);
        let creds = sip_credentials(&auth, "zanzibar", &auth.nonce(1000), true);
        let stored = ha1("bob", "biloxi.com", "zanzibar");
        assert_eq!(auth.verify(&creds, "REGISTER", &stored, 1300), Ok(()));
        let err = auth.verify(&creds, "REGISTER", &stored, 1301).unwrap_err();
        assert_eq!(err, DigestError::StaleNonce);
        assert_eq!(err.status(), 401);
        assert!(auth.challenge(1301, true).ends_with("stale=true"));
    }

    #[test]
    fn tampered_or_foreign_nonce_is_rejected() {
        let auth = DigestAuthenticator::new("biloxi.com", b"s", 300);
        let stored = ha1("bob", "biloxi.com", "zanzibar");
        let nonce = auth.nonce(1000);
        // Moving the timestamp forward to dodge expiry breaks the MAC.
        let forged = format!("{:x}{}", 5000, &nonce[nonce.find('.').unwrap()..]);
        for bad in [
            forged,
            "garbage".to_string(),
            format!("{nonce}0"),
            DigestAuthenticator::new("biloxi.com", b"other", 300).nonce(1000),
        ] {
            let creds = sip_credentials(&auth, "zanzibar", &bad, true);
            assert_eq!(
                auth.verify(&creds, "REGISTER", &stored, 5000),
                Err(DigestError::InvalidNonce),
                "{bad}"
            );
        }
        let mut creds = sip_credentials(&auth, "zanzibar", &nonce, true);
        creds.realm = "atlanta.com".into();
        assert_eq!(
            auth.verify(&creds, "REGISTER", &stored, 1000),
            Err(DigestError::WrongRealm)
        );
        let mut creds = sip_credentials(&auth, "zanzibar", &nonce, true);
        creds.qop = Some("auth-int".into());
        assert_eq!(
            auth.verify(&creds, "REGISTER", &stored, 1000),
            Err(DigestError::Unsupported)
        );
        assert_eq!(
            DigestCredentials::parse("Basic abc=="),
            Err(DigestError::Malformed)
        );
        assert_eq!(
            DigestCredentials::parse("Digest username=\"bob\""),
            Err(DigestError::Malformed)
        );
    }
}
