//! The registrar (RFC 3261 §10.3): contact bindings per address-of-record,
//! kept in memory, with time passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::header::{Contact, NameAddr};
use super::message::{Method, Request, Response, SipMessage};
use super::transaction::Peer;
use super::uri::Uri;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Below this a REGISTER gets 423 Interval Too Brief.
    pub min_expires: u32,
    /// Longer requested intervals are shortened to this.
    pub max_expires: u32,
    /// Used when neither the Contact nor the request gives an expiry.
    pub default_expires: u32,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
        }
    }
}

/// One registered contact of an AOR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub contact: NameAddr,
    pub expires_at: Instant,
    pub call_id: String,
    pub cseq: u32,
    /// Where the REGISTER came from. Requests to this contact go here, not to
    /// the Contact's host, which behind NAT is a private address.
    pub source: Peer,
}

impl Binding {
    pub fn remaining_secs(&self, now: Instant) -> u64 {
        self.expires_at.saturating_duration_since(now).as_secs()
    }
}

/// Bindings of all AORs.
#[derive(Debug, Default)]
pub struct Registrar {
    config: RegistrarConfig,
    bindings: HashMap<String, Vec<Binding>>,
}

struct Change {
    uri: NameAddr,
    expires: u32,
}

impl Registrar {
    pub fn new(config: RegistrarConfig) -> Registrar {
        Registrar {
            config,
            bindings: HashMap::new(),
        }
    }

    /// Processes a REGISTER that the caller has already authenticated as
    /// `authenticated_user`, received from `source`. Returns the final
    /// response (the caller still sends it through the transaction layer).
    pub fn process_register(
        &mut self,
        request: &Request,
        authenticated_user: &str,
        source: Peer,
        now: Instant,
    ) -> Response {
        let reply = |status, reason| Response::for_request(request, status, reason, Some("reg"));
        if request.method != Method::Register {
            return reply(405, "Method Not Allowed");
        }
        let (Ok(to), Ok(call_id), Ok(cseq)) = (request.to(), request.call_id(), request.cseq())
        else {
            return reply(400, "Bad Request");
        };
        // §10.3 step 6: a user may only change their own bindings.
        if to.uri.user.as_deref() != Some(authenticated_user) {
            return reply(403, "Forbidden");
        }
        let aor = to.uri.aor();
        let Ok(contacts) = request.contacts() else {
            return reply(400, "Bad Request");
        };
        let header_expires = match request.expires() {
            Ok(e) => e,
            Err(_) => return reply(400, "Bad Request"),
        };

        if contacts.contains(&Contact::Wildcard) {
            // `*` is only valid alone and with Expires: 0 (§10.2.2).
            if contacts.len() != 1 || header_expires != Some(0) {
                return reply(400, "Bad Request");
            }
            let list = self.bindings.entry(aor.clone()).or_default();
            if list
                .iter()
                .any(|b| b.call_id == call_id && b.cseq >= cseq.seq)
            {
                return reply(500, "Server Internal Error");
            }
            list.clear();
            self.bindings.remove(&aor);
            return self.ok(request, &aor, now);
        }

        let mut changes = Vec::new();
        for contact in contacts {
            let Contact::Address(addr) = contact else {
                continue;
            };
            let requested = addr
                .expires()
                .or(header_expires)
                .unwrap_or(self.config.default_expires);
            if requested != 0 && requested < self.config.min_expires {
                let mut too_brief = reply(423, "Interval Too Brief");
                too_brief
                    .headers
                    .push("Min-Expires", self.config.min_expires.to_string());
                return too_brief;
            }
            changes.push(Change {
                uri: addr,
                expires: requested.min(self.config.max_expires),
            });
        }

        let list = self.bindings.entry(aor.clone()).or_default();
        // §10.3 step 7: a same-Call-ID binding with a CSeq not lower than
        // this request's means the request is stale or reordered; abort it all.
        for change in &changes {
            if list.iter().any(|b| {
                b.contact.uri.same_address(&change.uri.uri)
                    && b.call_id == call_id
                    && b.cseq >= cseq.seq
            }) {
                return reply(500, "Server Internal Error");
            }
        }
        for change in changes {
            list.retain(|b| !b.contact.uri.same_address(&change.uri.uri));
            if change.expires > 0 {
                let mut contact = change.uri;
                contact
                    .params
                    .retain(|(n, _)| !n.eq_ignore_ascii_case("expires"));
                list.push(Binding {
                    contact,
                    expires_at: now + Duration::from_secs(u64::from(change.expires)),
                    call_id: call_id.to_owned(),
                    cseq: cseq.seq,
                    source,
                });
            }
        }
        if list.is_empty() {
            self.bindings.remove(&aor);
        }
        self.ok(request, &aor, now)
    }

    /// 200 OK listing every live binding with its remaining expiry (§10.3 step 8).
    fn ok(&self, request: &Request, aor: &str, now: Instant) -> Response {
        let mut response = Response::for_request(request, 200, "OK", Some("reg"));
        for b in self.contacts(aor, now) {
            let mut contact = b.contact.clone();
            contact.set_param("expires", Some(b.remaining_secs(now).to_string()));
            response.headers.push("Contact", contact.to_string());
        }
        response
    }

    /// Live bindings of an AOR (`sip:user@domain`, see [`Uri::aor`]).
    pub fn contacts(&self, aor: &str, now: Instant) -> impl Iterator<Item = &Binding> {
        self.bindings
            .get(aor)
            .into_iter()
            .flatten()
            .filter(move |b| b.expires_at > now)
    }

    /// Drops expired bindings; returns how many went.
    pub fn sweep(&mut self, now: Instant) -> usize {
        let mut removed = 0;
        self.bindings.retain(|_, list| {
            let before = list.len();
            list.retain(|b| b.expires_at > now);
            removed += before - list.len();
            !list.is_empty()
        });
        removed
    }

    /// When the next binding expires, for the caller's sweep timer.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.bindings.values().flatten().map(|b| b.expires_at).min()
    }

    /// The AOR a request targets, for lookups: its Request-URI reduced to
    /// scheme, user and host.
    pub fn aor_of(uri: &Uri) -> String {
        uri.aor()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sip::transaction::Transport;

    fn source() -> Peer {
        Peer {
            addr: "203.0.113.9:40123".parse().unwrap(),
            transport: Transport::Udp,
        }
    }

    fn register(cseq: u32, contacts: &[&str], expires: Option<&str>) -> Request {
        let mut r = Request::new(Method::Register, Uri::sip(None, "example.com", None));
        r.headers
            .push("Via", "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKr;rport");
        r.headers.push("From", "<sip:alice@example.com>;tag=f1");
        r.headers.push("To", "<sip:alice@Example.com>");
        r.headers.push("Call-ID", "reg-call-1");
        r.headers.push("CSeq", format!("{cseq} REGISTER"));
        for c in contacts {
            r.headers.push("Contact", *c);
        }
        if let Some(e) = expires {
            r.headers.push("Expires", e);
        }
        r
    }

    const DESK: &str = "<sip:alice@10.0.0.5:5060>";
    const MOBILE: &str = "<sip:alice@10.0.0.6:5062>;expires=120";

    #[test]
    fn register_lists_contacts_with_remaining_expiry() {
        let mut reg = Registrar::new(RegistrarConfig::default());
        let t0 = Instant::now();
        let resp = reg.process_register(
            &register(1, &[DESK, MOBILE], Some("600")),
            "alice",
            source(),
            t0,
        );
        assert_eq!(resp.status, 200);
        assert!(resp.to().unwrap().tag().is_some());
        let contacts: Vec<_> = resp.headers.get_all("Contact").collect();
        assert_eq!(
            contacts,
            [
                "<sip:alice@10.0.0.5:5060>;expires=600",
                "<sip:alice@10.0.0.6:5062>;expires=120"
            ]
        );
        let live: Vec<_> = reg.contacts("sip:alice@example.com", t0).collect();
        assert_eq!(live.len(), 2);
        assert_eq!(
            live[0].source,
            source(),
            "NAT source address is kept for routing"
        );
        // A query (no Contact) lists bindings with their remaining time.
        let later = t0 + Duration::from_secs(100);
        let resp = reg.process_register(&register(2, &[], None), "alice", source(), later);
        assert_eq!(
            resp.headers.get_all("Contact").collect::<Vec<_>>(),
            [
                "<sip:alice@10.0.0.5:5060>;expires=500",
                "<sip:alice@10.0.0.6:5062>;expires=20"
            ]
        );
    }

    #[test]
    fn refresh_extends_and_expiry_is_exact() {
        let mut reg = Registrar::new(RegistrarConfig::default());
        let t0 = Instant::now();
        reg.process_register(&register(1, &[DESK], Some("300")), "alice", source(), t0);
        let t1 = t0 + Duration::from_secs(200);
        assert_eq!(
            reg.process_register(&register(2, &[DESK], Some("300")), "alice", source(), t1)
                .status,
            200
        );
        assert_eq!(
            reg.contacts("sip:alice@example.com", t1).count(),
            1,
            "refresh replaces, not duplicates"
        );
        let expiry = t1 + Duration::from_secs(300);
        assert_eq!(reg.next_expiry(), Some(expiry));
        assert_eq!(
            reg.contacts("sip:alice@example.com", expiry - Duration::from_millis(1))
                .count(),
            1
        );
        assert_eq!(reg.contacts("sip:alice@example.com", expiry).count(), 0);
        assert_eq!(reg.sweep(expiry - Duration::from_millis(1)), 0);
        assert_eq!(reg.sweep(expiry), 1);
        assert_eq!(reg.next_expiry(), None);
    }

    #[test]
    fn expires_zero_removes_one_and_star_removes_all() {
        let mut reg = Registrar::new(RegistrarConfig::default());
        let t0 = Instant::now();
        reg.process_register(&register(1, &[DESK, MOBILE], None), "alice", source(), t0);
        let resp = reg.process_register(
            &register(2, &["<sip:alice@10.0.0.5:5060>;expires=0"], None),
            "alice",
            source(),
            t0,
        );
        assert_eq!(resp.headers.get_all("Contact").count(), 1);
        reg.process_register(&register(3, &[DESK], None), "alice", source(), t0);
        let resp = reg.process_register(&register(4, &["*"], Some("0")), "alice", source(), t0);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.headers.get("Contact"), None);
        assert_eq!(reg.contacts("sip:alice@example.com", t0).count(), 0);
        assert_eq!(
            reg.process_register(&register(5, &["*"], Some("60")), "alice", source(), t0)
                .status,
            400
        );
        assert_eq!(
            reg.process_register(&register(5, &["*", DESK], Some("0")), "alice", source(), t0)
                .status,
            400
        );
    }

    #[test]
    fn too_brief_gets_423_and_long_is_clamped() {
        let mut reg = Registrar::new(RegistrarConfig::default());
        let t0 = Instant::now();
        let resp = reg.process_register(&register(1, &[DESK], Some("30")), "alice", source(), t0);
        assert_eq!(resp.status, 423);
        assert_eq!(resp.headers.get("Min-Expires"), Some("60"));
        assert_eq!(reg.contacts("sip:alice@example.com", t0).count(), 0);
        let resp =
            reg.process_register(&register(2, &[DESK], Some("86400")), "alice", source(), t0);
        assert_eq!(
            resp.headers.get("Contact"),
            Some("<sip:alice@10.0.0.5:5060>;expires=3600")
        );
        let resp = reg.process_register(&register(3, &[DESK], None), "alice", source(), t0);
        assert_eq!(
            resp.headers.get("Contact"),
            Some("<sip:alice@10.0.0.5:5060>;expires=3600"),
            "default"
        );
    }

    #[test]
    fn out_of_order_cseq_is_rejected() {
        let mut reg = Registrar::new(RegistrarConfig::default());
        let t0 = Instant::now();
        reg.process_register(&register(5, &[DESK], Some("600")), "alice", source(), t0);
        for stale in [5, 4] {
            let resp = reg.process_register(
                &register(stale, &["<sip:alice@10.0.0.5:5060>;expires=0"], None),
                "alice",
                source(),
                t0,
            );
            assert_eq!(resp.status, 500, "CSeq {stale}");
        }
        assert_eq!(
            reg.contacts("sip:alice@example.com", t0).count(),
            1,
            "stale request changed nothing"
        );
        // A different Call-ID (phone rebooted) may restart at any CSeq.
        let mut other = register(1, &[DESK], Some("600"));
        other.headers.set("Call-ID", "reg-call-2");
        assert_eq!(
            reg.process_register(&other, "alice", source(), t0).status,
            200
        );
    }

    #[test]
    fn other_users_aor_is_forbidden() {
        let mut reg = Registrar::new(RegistrarConfig::default());
        let resp = reg.process_register(
            &register(1, &[DESK], None),
            "mallory",
            source(),
            Instant::now(),
        );
        assert_eq!(resp.status, 403);
    }
}
