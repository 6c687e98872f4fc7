//! Inbound trunk admission, the IO half: loads the workspace's trunks,
//! resolves trunk hosts, checks an INVITE's digest credentials and asks
//! `core::voice_inbound::admit_inbound` for the verdict.
//!
//! INVITEs are challenged with 407 Proxy-Authenticate, not 401: to the
//! provider we are the next hop of its call, and the trunking side of SIP
//! (FreeSWITCH/Kamailio gateways, most carriers' SBCs) answers INVITEs
//! with 407 and REGISTERs with 401 (RFC 3261 §22.3); providers' UACs
//! answer either, and some only retry a 407 on INVITE. Credentials are
//! read from Proxy-Authorization, or Authorization from UAs that answer a
//! 407 with the wrong header.

use super::Pbx;
use std::net::IpAddr;
use std::time::Duration;
use switchboard_core::WorkspaceId;
use switchboard_core::voice_inbound::{InboundAdmission, InboundCredentials, InboundTrunk, admit_inbound};
use switchboard_store::SipTrunk;
use switchboard_voice::sip::{DigestAuthenticator, DigestCredentials, DigestError, Peer, Request, ha1};

/// Nonces of INVITE challenges are valid this long (the provider re-sends
/// at once).
const NONCE_LIFETIME_SECS: u64 = 300;
/// A trunk host that does not resolve in this time matches nothing.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// The verdict and, for a challenge, the Proxy-Authenticate value.
#[derive(Debug)]
pub(super) enum Admission {
    Accept,
    Challenge(String),
    Forbidden,
    /// The trunks could not be read: 500, nothing stored.
    Unavailable,
}

/// Decides an INVITE for workspace `ws` that came from `from`; `realm` is
/// the workspace's SIP domain.
pub(super) async fn admit(pbx: &Pbx, ws: WorkspaceId, invite: &Request, from: Peer, realm: &str) -> Admission {
    let trunks = match pbx.st.store.list_sip_trunks(ws).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "trunks lookup");
            return Admission::Unavailable;
        }
    };
    let mut inbound = Vec::with_capacity(trunks.len());
    for t in &trunks {
        inbound.push(InboundTrunk {
            id: t.id,
            sources: t.inbound_ips.clone(),
            host_addrs: if t.inbound_ips.is_empty() { resolve(&t.host, t.port).await } else { Vec::new() },
            inbound_auth: t.inbound_auth,
        });
    }
    let registered = pbx.is_registered_source(ws, from);
    let auth = DigestAuthenticator::new(realm, &pbx.digest_secret, NONCE_LIFETIME_SECS);
    let now = super::unix_now();
    let credentials = credentials(&auth, invite, &trunks, now);
    match admit_inbound(from.addr.ip(), &inbound, registered, credentials) {
        InboundAdmission::Trunk(_) | InboundAdmission::Extension => Admission::Accept,
        InboundAdmission::Challenge { stale } => Admission::Challenge(auth.challenge(now, stale)),
        InboundAdmission::Forbidden => Admission::Forbidden,
    }
}

/// Checks the INVITE's digest answer against the trunk whose username it
/// names (only trunks that take inbound credentials).
fn credentials(auth: &DigestAuthenticator, invite: &Request, trunks: &[SipTrunk], now: u64) -> InboundCredentials {
    let header = invite.headers.get("Proxy-Authorization").or_else(|| invite.headers.get("Authorization"));
    let Some(header) = header else { return InboundCredentials::Absent };
    let creds = match DigestCredentials::parse(header) {
        Ok(c) => c,
        Err(_) => return InboundCredentials::Absent,
    };
    let trunk = trunks.iter().find(|t| t.inbound_auth && t.username.as_deref() == Some(creds.username.as_str()));
    let Some((trunk, password)) = trunk.and_then(|t| t.password.as_deref().map(|p| (t, p))) else {
        return InboundCredentials::Invalid;
    };
    let stored = ha1(&creds.username, auth.realm(), password);
    match auth.verify(&creds, "INVITE", &stored, now) {
        Ok(()) => InboundCredentials::Valid(trunk.id),
        Err(DigestError::StaleNonce) => InboundCredentials::Stale,
        Err(e) if e.status() == 403 => InboundCredentials::Invalid,
        Err(_) => InboundCredentials::Absent,
    }
}

/// A trunk host's addresses: an IP as is, a name through DNS (bounded).
async fn resolve(host: &str, port: u16) -> Vec<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return vec![ip];
    }
    match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
        _ => {
            tracing::info!(%host, "trunk host does not resolve");
            Vec::new()
        }
    }
}
