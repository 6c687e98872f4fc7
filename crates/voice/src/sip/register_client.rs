//! Outbound registration to a SIP provider (RFC 3261 §10.2): the REGISTER
//! requests of one binding, digest answers to 401/407, when to refresh
//! and when to retry. Sans-IO: the caller sends the requests, feeds the
//! final responses (and timeouts) in and sleeps as told.

use super::digest::{authorize, challenge_is_stale};
use super::header::{Contact, NameAddr};
use super::message::{Method, Request, Response};
use super::uri::Uri;
use std::time::Duration;

/// The registration is refreshed when this share of the granted time
/// has passed (RFC 3261 §10.2.4 leaves the margin to the UA).
const REFRESH_PERCENT: u64 = 80;
/// First retry after a failure; doubled per failure up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What one binding is made of.
#[derive(Debug, Clone)]
pub struct RegisterConfig {
    /// The provider: `sip:host:port` (Request-URI).
    pub registrar: Uri,
    /// The account's address of record: `sip:username@host`.
    pub aor: Uri,
    /// Where the provider sends our calls (`<sip:user@our-ip:port>`).
    pub contact: String,
    pub username: String,
    pub password: String,
    /// Requested lifetime in seconds.
    pub expires: u32,
    pub call_id: String,
    pub from_tag: String,
}

/// What to do after a final response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterStep {
    /// Send `request()` again now (a challenge was answered).
    Resend,
    /// Registered for `granted`; send `request()` again after `refresh_in`.
    Registered {
        granted: Duration,
        refresh_in: Duration,
    },
    /// Not registered; try again after `retry_in`.
    Failed { reason: String, retry_in: Duration },
}

/// One binding's REGISTER sequence (one Call-ID, rising CSeq).
#[derive(Debug, Clone)]
pub struct RegisterClient {
    cfg: RegisterConfig,
    cseq: u32,
    /// (header name, value) answering the last challenge.
    authorization: Option<(&'static str, String)>,
    /// Challenges in a row without a success: a second non-stale one
    /// means the password is wrong.
    challenges: u32,
    failures: u32,
}

impl RegisterClient {
    pub fn new(cfg: RegisterConfig) -> RegisterClient {
        RegisterClient {
            cfg,
            cseq: 0,
            authorization: None,
            challenges: 0,
            failures: 0,
        }
    }

    /// The next REGISTER with `via` (the transport shell knows its
    /// address and picks the branch); each call takes a new CSeq.
    pub fn request(&mut self, via: &str) -> Request {
        self.cseq += 1;
        let mut r = Request::new(Method::Register, self.cfg.registrar.clone());
        r.headers.push("Via", via);
        r.headers.push("Max-Forwards", "70");
        r.headers.push(
            "From",
            format!("<{}>;tag={}", self.cfg.aor, self.cfg.from_tag),
        );
        r.headers.push("To", format!("<{}>", self.cfg.aor));
        r.headers.push("Call-ID", self.cfg.call_id.clone());
        r.headers.push("CSeq", format!("{} REGISTER", self.cseq));
        r.headers.push("Contact", self.cfg.contact.clone());
        r.headers.push("Expires", self.cfg.expires.to_string());
        if let Some((name, value)) = &self.authorization {
            // Re-used on refreshes until the provider challenges again
            // (most do on every REGISTER; nc stays 1 per challenge).
            r.headers.push(name, value.clone());
        }
        r.headers.push("Content-Length", "0");
        r
    }

    /// A final response to the last REGISTER, or `None` when it timed out.
    pub fn on_response(&mut self, response: Option<&Response>, cnonce: &str) -> RegisterStep {
        let Some(response) = response else {
            return self.fail("no answer from the provider".into());
        };
        match response.status {
            200..=299 => {
                self.challenges = 0;
                self.failures = 0;
                let granted = Duration::from_secs(
                    granted_expires(response, &self.cfg.contact)
                        .unwrap_or(self.cfg.expires)
                        .into(),
                );
                let refresh_in = Duration::from_millis(
                    (granted.as_millis() as u64).saturating_mul(REFRESH_PERCENT) / 100,
                )
                .max(Duration::from_secs(1));
                RegisterStep::Registered {
                    granted,
                    refresh_in,
                }
            }
            401 | 407 => {
                let (challenge_name, answer_name) = if response.status == 401 {
                    ("WWW-Authenticate", "Authorization")
                } else {
                    ("Proxy-Authenticate", "Proxy-Authorization")
                };
                let Some(challenge) = response.headers.get(challenge_name) else {
                    return self.fail(format!("{} without {challenge_name}", response.status));
                };
                if self.challenges > 0 && !challenge_is_stale(challenge) {
                    self.authorization = None;
                    self.challenges = 0;
                    return self.fail("the provider refused the username or password".into());
                }
                let uri = self.cfg.registrar.to_string();
                match authorize(
                    challenge,
                    "REGISTER",
                    &uri,
                    &self.cfg.username,
                    &self.cfg.password,
                    cnonce,
                    1,
                ) {
                    Ok(value) => {
                        self.challenges += 1;
                        self.authorization = Some((answer_name, value));
                        RegisterStep::Resend
                    }
                    Err(e) => self.fail(format!("cannot answer the challenge: {e}")),
                }
            }
            423 => {
                // Interval Too Brief: ask for what the provider wants.
                if let Some(min) = response
                    .headers
                    .get("Min-Expires")
                    .and_then(|v| v.trim().parse::<u32>().ok())
                    && min > self.cfg.expires
                    && min <= 86_400
                {
                    self.cfg.expires = min;
                    return RegisterStep::Resend;
                }
                self.fail("423 Interval Too Brief".into())
            }
            s => self.fail(format!("{s} {}", response.reason)),
        }
    }

    fn fail(&mut self, reason: String) -> RegisterStep {
        self.failures = self.failures.saturating_add(1);
        let factor = 1u32 << (self.failures - 1).min(10);
        let retry_in = FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF);
        RegisterStep::Failed { reason, retry_in }
    }

    /// The current requested lifetime (after a 423 it is the provider's).
    pub fn expires(&self) -> u32 {
        self.cfg.expires
    }
}

/// The lifetime the registrar granted our contact: its `expires` param in
/// the 200's Contact list, else the Expires header (§10.2.4).
fn granted_expires(response: &Response, our_contact: &str) -> Option<u32> {
    let ours = NameAddr::parse(our_contact).ok().map(|n| n.uri);
    for value in response.headers.get_all("Contact") {
        for item in split_contacts(value) {
            let Ok(Contact::Address(n)) = Contact::parse(item) else {
                continue;
            };
            let same = ours.as_ref().is_none_or(|u| {
                u.host.eq_ignore_ascii_case(&n.uri.host)
                    && u.port == n.uri.port
                    && u.user == n.uri.user
            });
            if same && let Some(e) = n.expires() {
                return Some(e);
            }
        }
    }
    response
        .headers
        .get("Expires")
        .and_then(|v| v.trim().parse().ok())
}

/// A Contact header value may list several addresses; commas inside `<>`
/// or quotes belong to the address.
fn split_contacts(value: &str) -> Vec<&str> {
    let (mut out, mut start, mut angle, mut quoted) = (Vec::new(), 0, false, false);
    for (i, ch) in value.char_indices() {
        match ch {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(value.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value.get(start..).unwrap_or_default());
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sip::digest::{DigestAuthenticator, DigestCredentials, ha1};
    use crate::sip::message::SipMessage;

    fn client() -> RegisterClient {
        RegisterClient::new(RegisterConfig {
            registrar: Uri::parse("sip:sip.carrier.test:5060").unwrap(),
            aor: Uri::parse("sip:acct@sip.carrier.test").unwrap(),
            contact: "<sip:acct@192.0.2.1:5070>".into(),
            username: "acct".into(),
            password: "secret".into(),
            expires: 300,
            call_id: "reg-1@sb".into(),
            from_tag: "t1".into(),
        })
    }

    fn answer(req: &Request, status: u16, extra: &[(&str, &str)]) -> Response {
        let mut r = Response::for_request(req, status, "X", Some("srv"));
        for (n, v) in extra {
            r.headers.push(n, *v);
        }
        r
    }

    #[test]
    fn challenge_answer_register_and_refresh_at_80_percent() {
        let mut c = client();
        let first = c.request("SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1");
        assert_eq!(first.cseq().unwrap().seq, 1);
        assert!(first.headers.get("Authorization").is_none());
        let auth = DigestAuthenticator::new("carrier", b"k", 300);
        let step = c.on_response(
            Some(&answer(
                &first,
                401,
                &[("WWW-Authenticate", &auth.challenge(1000, false))],
            )),
            "c1",
        );
        assert_eq!(step, RegisterStep::Resend);
        let second = c.request("SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK2");
        assert_eq!(
            second.cseq().unwrap().seq,
            2,
            "CSeq + 1 on the same Call-ID"
        );
        assert_eq!(second.call_id().unwrap(), "reg-1@sb");
        let creds = DigestCredentials::parse(second.headers.get("Authorization").unwrap()).unwrap();
        assert_eq!(
            auth.verify(&creds, "REGISTER", &ha1("acct", "carrier", "secret"), 1001),
            Ok(())
        );
        let ok = answer(
            &second,
            200,
            &[(
                "Contact",
                "<sip:other@192.0.2.9>;expires=60, <sip:acct@192.0.2.1:5070>;expires=120",
            )],
        );
        assert_eq!(
            c.on_response(Some(&ok), "c3"),
            RegisterStep::Registered {
                granted: Duration::from_secs(120),
                refresh_in: Duration::from_secs(96)
            }
        );
        // Without a Contact param the Expires header counts.
        let ok = answer(&second, 200, &[("Expires", "3600")]);
        assert!(
            matches!(c.on_response(Some(&ok), "c"), RegisterStep::Registered { refresh_in, .. } if refresh_in == Duration::from_secs(2880))
        );
    }

    #[test]
    fn a_second_challenge_means_wrong_credentials_and_failures_back_off() {
        let mut c = client();
        let auth = DigestAuthenticator::new("carrier", b"k", 300);
        let r = c.request("v");
        assert_eq!(
            c.on_response(
                Some(&answer(
                    &r,
                    407,
                    &[("Proxy-Authenticate", &auth.challenge(1, false))]
                )),
                "c"
            ),
            RegisterStep::Resend
        );
        let r = c.request("v");
        assert!(
            r.headers.get("Proxy-Authorization").is_some(),
            "407 is answered with Proxy-Authorization"
        );
        // A stale nonce is retried once more…
        assert_eq!(
            c.on_response(
                Some(&answer(
                    &r,
                    407,
                    &[("Proxy-Authenticate", &auth.challenge(1, true))]
                )),
                "c"
            ),
            RegisterStep::Resend
        );
        // …a plain second challenge is a wrong password.
        let r = c.request("v");
        let step = c.on_response(
            Some(&answer(
                &r,
                407,
                &[("Proxy-Authenticate", &auth.challenge(1, false))],
            )),
            "c",
        );
        assert!(
            matches!(&step, RegisterStep::Failed { retry_in, .. } if *retry_in == Duration::from_secs(5)),
            "{step:?}"
        );
        let r = c.request("v");
        assert!(
            r.headers.get("Proxy-Authorization").is_none(),
            "the refused answer is not repeated"
        );
        assert!(
            matches!(c.on_response(None, "c"), RegisterStep::Failed { retry_in, .. } if retry_in == Duration::from_secs(10))
        );
        for _ in 0..20 {
            c.on_response(Some(&answer(&r, 503, &[])), "c");
        }
        assert!(
            matches!(c.on_response(Some(&answer(&r, 503, &[])), "c"), RegisterStep::Failed { retry_in, .. } if retry_in == MAX_BACKOFF)
        );
        let ok = answer(&r, 200, &[]);
        assert!(
            matches!(c.on_response(Some(&ok), "c"), RegisterStep::Registered { granted, .. } if granted == Duration::from_secs(300))
        );
        assert!(
            matches!(c.on_response(None, "c"), RegisterStep::Failed { retry_in, .. } if retry_in == FIRST_BACKOFF),
            "success resets the backoff"
        );
    }

    #[test]
    fn interval_too_brief_asks_again_with_min_expires() {
        let mut c = client();
        let r = c.request("v");
        assert_eq!(
            c.on_response(Some(&answer(&r, 423, &[("Min-Expires", "600")])), "c"),
            RegisterStep::Resend
        );
        assert_eq!(c.expires(), 600);
        let r = c.request("v");
        assert_eq!(r.headers.get("Expires"), Some("600"));
        assert!(
            matches!(
                c.on_response(Some(&answer(&r, 401, &[])), "c"),
                RegisterStep::Failed { .. }
            ),
            "401 without a challenge"
        );
    }
}
