//! Outbound registration of trunks with `register = true`: one task per
//! trunk drives a `RegisterClient` (sans-IO, `switchboard-voice`) over
//! the signaling task; a supervisor re-reads the trunks every few seconds
//! and starts, restarts (changed host, port, transport or credentials)
//! or stops those tasks. Polling instead of change events: trunks change
//! rarely, the query is one small indexed read, and it also picks up
//! trunks written by other nodes.

use super::{CallEvent, Cmd, Pbx, token};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::voice::{SipTransport, TrunkRegistration, TrunkRegistrationState};
use switchboard_core::{SipTrunkId, Timestamp, WorkspaceId};
use switchboard_store::SipTrunk;
use switchboard_voice::sip::{Peer, RegisterClient, RegisterConfig, RegisterStep, Response, SipMessage, Transport, Uri};
use tokio::sync::mpsc;

/// How often the supervisor re-reads the trunks.
const RESCAN: Duration = Duration::from_secs(2);
/// The lifetime we ask for; providers often grant less.
const REQUESTED_EXPIRES: u32 = 600;
/// A host that does not resolve is tried again after this long.
const RESOLVE_RETRY: Duration = Duration::from_secs(30);

/// What a registration depends on: a change restarts it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    host: String,
    port: u16,
    transport: SipTransport,
    username: Option<String>,
    password: Option<String>,
}

fn fingerprint(t: &SipTrunk) -> Fingerprint {
    Fingerprint { host: t.host.clone(), port: t.port, transport: t.transport, username: t.username.clone(), password: t.password.clone() }
}

pub(super) fn spawn_supervisor(pbx: Arc<Pbx>) {
    tokio::spawn(async move {
        let mut running: HashMap<(WorkspaceId, SipTrunkId), (Fingerprint, tokio::task::AbortHandle)> = HashMap::new();
        let mut shutdown = pbx.st.shutdown.clone();
        loop {
            match pbx.st.store.list_registering_trunks().await {
                Ok(list) => {
                    let mut seen = HashSet::new();
                    for (ws, trunk) in list {
                        let key = (ws, trunk.id);
                        seen.insert(key);
                        let fp = fingerprint(&trunk);
                        if running.get(&key).is_some_and(|(f, _)| *f == fp) {
                            continue;
                        }
                        if let Some((_, old)) = running.remove(&key) {
                            old.abort();
                        }
                        let task = tokio::spawn(keep_registered(pbx.clone(), ws, trunk)).abort_handle();
                        running.insert(key, (fp, task));
                    }
                    let stopped: Vec<_> = running.keys().filter(|k| !seen.contains(k)).copied().collect();
                    for (ws, id) in stopped {
                        if let Some((_, task)) = running.remove(&(ws, id)) {
                            task.abort();
                        }
                        tracing::info!(workspace = %ws.0, trunk = %id.0, "trunk registration stopped");
                        // No longer registering: no status to show (a deleted
                        // trunk makes this a no-op).
                        let _ = pbx.st.store.set_sip_trunk_registration(ws, id, None).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "trunks to register"),
            }
            tokio::select! {
                _ = tokio::time::sleep(RESCAN) => {}
                _ = shutdown.changed() => {
                    for (_, (_, task)) in running.drain() {
                        task.abort();
                    }
                    return;
                }
            }
        }
    });
}

/// Unbinds the registration's Call-ID however the task ends (aborts too).
struct Bound<'a> {
    pbx: &'a Pbx,
    call_id: String,
}

impl Drop for Bound<'_> {
    fn drop(&mut self) {
        let _ = self.pbx.cmd.send(Cmd::Unbind { call_id: self.call_id.clone() });
    }
}

async fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    let found = tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((host, port))).await;
    found.ok()?.ok()?.find(SocketAddr::is_ipv4)
}

/// Registers one trunk for as long as the task lives.
async fn keep_registered(pbx: Arc<Pbx>, ws: WorkspaceId, trunk: SipTrunk) {
    let (Some(username), Some(password)) = (trunk.username.clone(), trunk.password.clone()) else { return };
    let transport = if trunk.transport == SipTransport::Tcp { Transport::Tcp } else { Transport::Udp };
    let addr = loop {
        match resolve(&trunk.host, trunk.port).await {
            Some(a) => break a,
            None => {
                tracing::warn!(trunk = %trunk.id.0, host = %trunk.host, "trunk host does not resolve; registration retried later");
                tokio::time::sleep(RESOLVE_RETRY).await;
            }
        }
    };
    let peer = Peer { addr, transport };
    let call_id = format!("reg-{}@switchboard", token());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _ = pbx.cmd.send(Cmd::Bind { call_id: call_id.clone(), tx });
    let _bound = Bound { pbx: &pbx, call_id: call_id.clone() };
    let local = pbx.local_addr(transport);
    let suffix = if transport == Transport::Tcp { ";transport=tcp" } else { "" };
    let mut client = RegisterClient::new(RegisterConfig {
        registrar: Uri::sip(None, &trunk.host, Some(trunk.port)),
        aor: Uri::sip(Some(&username), &trunk.host, None),
        contact: format!("<sip:{username}@{local}{suffix}>"),
        username,
        password,
        expires: REQUESTED_EXPIRES,
        call_id,
        from_tag: token(),
    });
    status(&pbx, ws, trunk.id, TrunkRegistrationState::Registering, None, None).await;
    loop {
        let request = client.request(&super::outbound::via(&pbx, peer));
        let seq = request.cseq().map(|c| c.seq).unwrap_or(0);
        let _ = pbx.cmd.send(Cmd::Request { request, to: peer });
        let response = final_response(&mut rx, seq).await;
        match client.on_response(response.as_ref(), &token()) {
            RegisterStep::Resend => {}
            RegisterStep::Registered { granted, refresh_in } => {
                tracing::info!(workspace = %ws.0, trunk = %trunk.id.0, granted_secs = granted.as_secs(), "trunk registered");
                let until = Timestamp(pbx.st.now().0.saturating_add(i64::try_from(granted.as_millis()).unwrap_or(i64::MAX)));
                status(&pbx, ws, trunk.id, TrunkRegistrationState::Registered, Some(until), None).await;
                tokio::time::sleep(refresh_in).await;
            }
            RegisterStep::Failed { reason, retry_in } => {
                tracing::warn!(workspace = %ws.0, trunk = %trunk.id.0, %reason, retry_secs = retry_in.as_secs(), "trunk registration failed");
                status(&pbx, ws, trunk.id, TrunkRegistrationState::Failed, None, Some(reason)).await;
                tokio::time::sleep(retry_in).await;
            }
        }
    }
}

/// Records the registration's state for the trunk API.
async fn status(
    pbx: &Pbx,
    ws: WorkspaceId,
    id: SipTrunkId,
    state: TrunkRegistrationState,
    expires_at: Option<Timestamp>,
    last_error: Option<String>,
) {
    let reg = TrunkRegistration { state, expires_at, last_error, updated_at: pbx.st.now() };
    if let Err(e) = pbx.st.store.set_sip_trunk_registration(ws, id, Some(reg)).await {
        tracing::warn!(error = %e, trunk = %id.0, "trunk registration status");
    }
}

/// The final response to the REGISTER with CSeq `seq` (late answers to
/// earlier ones are skipped); `None` when the transaction timed out (or
/// the signaling task is gone).
async fn final_response(rx: &mut mpsc::UnboundedReceiver<CallEvent>, seq: u32) -> Option<Response> {
    loop {
        match rx.recv().await? {
            CallEvent::Response { response } if response.status >= 200 && response.cseq().is_ok_and(|c| c.seq == seq) => {
                return Some(response);
            }
            CallEvent::Response { .. } | CallEvent::Request { .. } => {}
            CallEvent::Timeout => return None,
        }
    }
}
