//! The built-in PBX (SPEC §3.6): the SIP signaling server, call control
//! (IVR, queues, ringing agents, bridging, recording) and the media plane.
//!
//! Owns: the sockets and tasks around the sans-IO cores of
//! `switchboard-voice`. One signaling task owns the SIP transaction layer
//! and the registrar; every call runs in its own task and talks to the
//! signaling task through messages (`Cmd` / `CallEvent`). Must never: make
//! protocol decisions the sans-IO cores can make, or block the signaling
//! loop on the database (REGISTER lookups run in their own tasks).

pub mod media;
pub mod tts;

mod call;
mod outbound;
mod sip_server;

use crate::state::AppState;
use media::{MediaConfig, MediaEngine};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_core::{TeamId, UserId, WorkspaceId};
use switchboard_voice::sip::{Peer, Registrar, RegistrarConfig, Request, Response, TransactionKey, Uri};
use tokio::sync::mpsc;
use tts::PromptCache;

/// How the PBX is reached and where media goes.
#[derive(Debug, Clone)]
pub struct VoiceConfig {
    /// UDP and TCP listen address of the SIP server (port 0: any free port,
    /// the same one for both when possible).
    pub sip_listen: SocketAddr,
    /// The address put in SDP `c=`, Via and Contact. Default: the listen IP,
    /// or for 0.0.0.0 the address of the interface that routes outwards.
    pub public_ip: Option<IpAddr>,
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
    /// Recordings are written here while a call lasts, then moved into the
    /// attachment store.
    pub work_dir: PathBuf,
}

/// Where the SIP server ended up listening.
#[derive(Debug, Clone, Copy)]
pub struct VoiceListening {
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
}

/// A message from a call task to the signaling task.
#[derive(Debug)]
pub(crate) enum Cmd {
    /// A response through the server transaction `key`.
    Respond { key: TransactionKey, response: Response },
    /// A new client transaction; its responses come back to the task bound
    /// to the request's Call-ID.
    Request { request: Request, to: Peer },
    /// Straight onto the wire (the ACK for a 2xx is no transaction).
    Raw { request: Request, to: Peer },
    /// Route messages with this Call-ID to `tx`.
    Bind { call_id: String, tx: mpsc::UnboundedSender<CallEvent> },
    Unbind { call_id: String },
    /// A REGISTER whose credentials checked out.
    Registered { key: TransactionKey, request: Request, source: Peer, ws: WorkspaceId, extension: String },
}

/// A SIP event for a call task. Not boxed: each one moves once, through
/// one channel.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum CallEvent {
    Request { key: Option<TransactionKey>, request: Request },
    Response { response: Response },
    /// A request the call sent got no answer (Timer B/F).
    Timeout,
}

/// An agent's phone as the queue sees it.
#[derive(Debug, Default, Clone, Copy)]
struct AgentState {
    /// Being rung or talking: not offered another call.
    busy: bool,
    /// After-call work ends here.
    wrap_up_until: Option<Instant>,
    /// When the last call ended (longest-idle tie breaks, reports later).
    last_call_end: Option<Instant>,
}

/// Registrar bindings plus which AOR belongs to which extension.
struct Registry {
    registrar: Registrar,
    aors: HashMap<(WorkspaceId, String), String>,
}

/// State shared by the signaling task and the call tasks.
pub(crate) struct Pbx {
    pub st: AppState,
    pub cmd: mpsc::UnboundedSender<Cmd>,
    pub media: MediaEngine,
    pub prompts: PromptCache,
    /// What we put in SDP, Via and Contact.
    pub advertised_ip: IpAddr,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub work_dir: PathBuf,
    registry: Mutex<Registry>,
    agents: Mutex<HashMap<(WorkspaceId, UserId), AgentState>>,
    /// Waiting calls per team queue, first come first served.
    queues: Mutex<HashMap<(WorkspaceId, TeamId), VecDeque<u64>>>,
    /// Round-robin cursor per team.
    cursors: Mutex<HashMap<(WorkspaceId, TeamId), usize>>,
    next_call: AtomicU64,
    /// Datagrams and stream frames that did not parse.
    pub malformed: AtomicU64,
}

/// Starts the SIP server and the media plane.
pub async fn start(st: AppState, cfg: VoiceConfig) -> std::io::Result<VoiceListening> {
    let advertised_ip = match cfg.public_ip {
        Some(ip) => ip,
        None if cfg.sip_listen.ip().is_unspecified() => outward_ip().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        None => cfg.sip_listen.ip(),
    };
    let media = MediaEngine::new(MediaConfig { bind_ip: cfg.sip_listen.ip(), port_min: cfg.rtp_port_min, port_max: cfg.rtp_port_max })
        .with_advertised_ip(advertised_ip);
    let prompts = PromptCache::new(cfg.work_dir.join("prompts"));
    std::fs::create_dir_all(cfg.work_dir.join("recordings"))?;
    let sockets = sip_server::bind(cfg.sip_listen).await?;
    let (cmd, cmd_rx) = mpsc::unbounded_channel();
    let pbx = Arc::new(Pbx {
        st,
        cmd,
        media,
        prompts,
        advertised_ip,
        udp: sockets.udp_addr,
        tcp: sockets.tcp_addr,
        work_dir: cfg.work_dir,
        registry: Mutex::new(Registry {
            registrar: Registrar::new(RegistrarConfig::default()),
            aors: HashMap::new(),
        }),
        agents: Mutex::new(HashMap::new()),
        queues: Mutex::new(HashMap::new()),
        cursors: Mutex::new(HashMap::new()),
        next_call: AtomicU64::new(1),
        malformed: AtomicU64::new(0),
    });
    let listening = VoiceListening { udp: sockets.udp_addr, tcp: sockets.tcp_addr };
    outbound::spawn_dialer(pbx.clone());
    sip_server::spawn(pbx, sockets, cmd_rx);
    Ok(listening)
}

/// The local address the OS would use to reach the internet. No packet is
/// sent: connecting a UDP socket only picks a route.
fn outward_ip() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    s.local_addr().ok().map(|a| a.ip()).filter(|ip| !ip.is_unspecified())
}

impl Pbx {
    pub fn new_call_serial(&self) -> u64 {
        self.next_call.fetch_add(1, Ordering::Relaxed)
    }

    /// Our address for a transport, as Via sent-by and in Contact.
    pub fn local_addr(&self, transport: switchboard_voice::sip::Transport) -> SocketAddr {
        let port = match transport {
            switchboard_voice::sip::Transport::Tcp => self.tcp.port(),
            _ => self.udp.port(),
        };
        SocketAddr::new(self.advertised_ip, port)
    }

    fn register_binding(&self, ws: WorkspaceId, extension: &str, request: &Request, source: Peer) -> Response {
        let now = Instant::now();
        let Ok(mut reg) = self.registry.lock() else {
            return Response::for_request(request, 500, "Server Internal Error", None);
        };
        reg.registrar.sweep(now);
        let response = reg.registrar.process_register(request, extension, source, now);
        if response.is_success()
            && let Ok(to) = switchboard_voice::sip::SipMessage::to(request)
        {
            reg.aors.insert((ws, extension.to_owned()), to.uri.aor());
        }
        response
    }

    /// The registered contact of an extension: where to send an INVITE
    /// (the REGISTER's source, which behind NAT differs from the Contact).
    pub fn contact_of(&self, ws: WorkspaceId, extension: &str) -> Option<(Uri, Peer)> {
        let reg = self.registry.lock().ok()?;
        let aor = reg.aors.get(&(ws, extension.to_owned()))?;
        let now = Instant::now();
        // The newest binding wins (phones re-register after a restart).
        reg.registrar.contacts(aor, now).max_by_key(|b| b.expires_at).map(|b| (b.contact.uri.clone(), b.source))
    }

    /// Adds a call to the end of a team queue; returns its position (1 = next).
    pub fn enqueue(&self, ws: WorkspaceId, team: TeamId, call: u64) -> usize {
        let Ok(mut q) = self.queues.lock() else { return 1 };
        let list = q.entry((ws, team)).or_default();
        if !list.contains(&call) {
            list.push_back(call);
        }
        list.iter().position(|c| *c == call).map_or(1, |p| p + 1)
    }

    pub fn position(&self, ws: WorkspaceId, team: TeamId, call: u64) -> usize {
        let Ok(q) = self.queues.lock() else { return 1 };
        q.get(&(ws, team)).and_then(|l| l.iter().position(|c| *c == call)).map_or(1, |p| p + 1)
    }

    pub fn dequeue(&self, ws: WorkspaceId, team: TeamId, call: u64) {
        if let Ok(mut q) = self.queues.lock()
            && let Some(list) = q.get_mut(&(ws, team))
        {
            list.retain(|c| *c != call);
        }
    }

    /// Picks the next free agent of a team with a registered phone, round
    /// robin from where the last pick stopped, skipping `tried`; marks them
    /// busy. See docs/ARCHITECTURE.md (Voice) for why voice does not go
    /// through the chat router yet.
    pub async fn pick_agent(&self, ws: WorkspaceId, team: TeamId, tried: &HashSet<UserId>) -> Option<Ringable> {
        let team_row = self.st.store.get_team(ws, team).await.ok()??;
        let mut members: Vec<_> = team_row.members.iter().map(|m| (m.priority, m.user_id)).collect();
        members.sort();
        if members.is_empty() {
            return None;
        }
        let start = self.cursors.lock().ok().and_then(|c| c.get(&(ws, team)).copied()).unwrap_or(0) % members.len();
        for i in 0..members.len() {
            let idx = (start + i) % members.len();
            let user = members[idx].1;
            if tried.contains(&user) || !self.agent_free(ws, user) {
                continue;
            }
            let Ok(Some(ext)) = self.st.store.extension_of_user(ws, user).await else { continue };
            let Some((uri, peer)) = self.contact_of(ws, &ext.extension) else { continue };
            if !self.claim_agent(ws, user) {
                continue;
            }
            if let Ok(mut c) = self.cursors.lock() {
                c.insert((ws, team), idx + 1);
            }
            return Some(Ringable { user, extension: ext.extension, uri, peer });
        }
        None
    }

    fn agent_free(&self, ws: WorkspaceId, user: UserId) -> bool {
        let Ok(a) = self.agents.lock() else { return false };
        a.get(&(ws, user)).is_none_or(|s| !s.busy && s.wrap_up_until.is_none_or(|t| t <= Instant::now()))
    }

    fn claim_agent(&self, ws: WorkspaceId, user: UserId) -> bool {
        let Ok(mut a) = self.agents.lock() else { return false };
        let s = a.entry((ws, user)).or_default();
        if s.busy || s.wrap_up_until.is_some_and(|t| t > Instant::now()) {
            return false;
        }
        s.busy = true;
        true
    }

    /// The agent was not reached: free at once.
    pub fn release_agent(&self, ws: WorkspaceId, user: UserId) {
        if let Ok(mut a) = self.agents.lock() {
            a.entry((ws, user)).or_default().busy = false;
        }
    }

    /// The agent's call ended: free after wrap-up.
    pub fn agent_call_ended(&self, ws: WorkspaceId, user: UserId, wrap_up: Duration) {
        if let Ok(mut a) = self.agents.lock() {
            let s = a.entry((ws, user)).or_default();
            let now = Instant::now();
            s.busy = false;
            s.wrap_up_until = Some(now + wrap_up);
            s.last_call_end = Some(now);
        }
    }
}

/// An agent chosen for a call, with where their phone is.
#[derive(Debug, Clone)]
pub(crate) struct Ringable {
    pub user: UserId,
    pub extension: String,
    pub uri: Uri,
    pub peer: Peer,
}

/// A random token for tags, branches and Call-IDs.
pub(crate) fn token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}
