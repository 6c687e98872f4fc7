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

mod admission;
mod call;
mod outbound;
mod sip_server;
mod trunk_register;

use crate::state::AppState;
use media::{MediaConfig, MediaEngine};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_core::routing::phones::{PhoneMember, RingPlan, ring_plan};
use switchboard_core::routing::{SplitMix64, Strategy};
use switchboard_core::{Presence, TeamId, Timestamp, UserId, WorkspaceId};
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
    /// When the last call ended (longest idle).
    last_call_end: Option<Timestamp>,
    /// Calls answered on `handled_day` (fewest handled today).
    handled_today: u32,
    handled_day: i64,
    /// The presence the agent had before the phone system set `in_call`;
    /// put back when the wrap-up ends.
    presence_before: Option<Presence>,
    /// Bumped when a call starts, so the wrap-up timer of an earlier call
    /// does not touch presence during a later one.
    generation: u64,
}

/// What the queue should do for the call at its head.
#[derive(Debug)]
pub(crate) enum Pick {
    /// Nobody can take a call now.
    Nobody,
    /// Everyone able was rung once for this call: rest, then a new round.
    RoundOver,
    /// Ring these phones (claimed: nobody else rings them meanwhile).
    Ring(Vec<Ringable>),
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
    /// Who was last given a call of each team (round-robin memory).
    last_agent: Mutex<HashMap<(WorkspaceId, TeamId), UserId>>,
    /// For the random strategies.
    rng: Mutex<SplitMix64>,
    next_call: AtomicU64,
    /// Datagrams and stream frames that did not parse.
    pub malformed: AtomicU64,
    /// Keys the stateless digest nonces (REGISTER and INVITE challenges).
    pub digest_secret: Arc<[u8]>,
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
        last_agent: Mutex::new(HashMap::new()),
        rng: Mutex::new(SplitMix64::new(rand::random())),
        next_call: AtomicU64::new(1),
        malformed: AtomicU64::new(0),
        digest_secret: Arc::from(crate::auth::random_secret().into_bytes().into_boxed_slice()),
    });
    let listening = VoiceListening { udp: sockets.udp_addr, tcp: sockets.tcp_addr };
    outbound::spawn_dialer(pbx.clone());
    trunk_register::spawn_supervisor(pbx.clone());
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

    /// Whether a phone of the workspace is registered from `peer` (an
    /// internal call: the INVITE comes from where the phone registered).
    pub fn is_registered_source(&self, ws: WorkspaceId, peer: Peer) -> bool {
        let Ok(reg) = self.registry.lock() else { return false };
        let now = Instant::now();
        reg.aors
            .iter()
            .filter(|((w, _), _)| *w == ws)
            .any(|(_, aor)| reg.registrar.contacts(aor, now).any(|b| b.source.addr == peer.addr))
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

    /// Chooses whose phones ring for the call at the head of a team's
    /// queue: the team's strategy (`core::routing::phones`) over members
    /// who are online, have voice capacity and a live registration, and
    /// are not ringing, talking or wrapping up; `tried` were rung for this
    /// call in the current round. Claims the chosen agents.
    pub async fn pick_agents(&self, ws: WorkspaceId, team: TeamId, tried: &HashSet<UserId>, previous: Option<UserId>) -> Pick {
        let Ok(Some(team_row)) = self.st.store.get_team(ws, team).await else { return Pick::Nobody };
        if team_row.members.is_empty() {
            return Pick::Nobody;
        }
        let Ok(members) = self.st.store.list_members(ws).await else { return Pick::Nobody };
        let strategy = team_row.routing.strategy;
        let mut load: HashMap<UserId, u32> = HashMap::new();
        if strategy == Strategy::LeastBusy
            && let Ok(open) = self.st.store.open_work(ws).await
        {
            for w in open {
                if let Some(a) = w.assignee_id {
                    *load.entry(a).or_default() += 1;
                }
            }
        }
        let now = Instant::now();
        let today = day_of(self.st.now());
        let mut phones = Vec::with_capacity(team_row.members.len());
        let mut contacts: HashMap<UserId, (String, Uri, Peer)> = HashMap::new();
        for m in &team_row.members {
            let Some(member) = members.iter().find(|x| x.id == m.user_id) else { continue };
            let state = self.agent_state(ws, m.user_id);
            // Only the online need a registration lookup.
            let contact = if member.presence == Presence::Online {
                match self.st.store.extension_of_user(ws, m.user_id).await {
                    Ok(Some(ext)) => self.contact_of(ws, &ext.extension).map(|(uri, peer)| (ext.extension, uri, peer)),
                    _ => None,
                }
            } else {
                None
            };
            phones.push(PhoneMember {
                agent: m.user_id,
                priority: m.priority,
                weight: m.weight,
                status: member.presence.into(),
                voice_capacity: member.routing.capacity.voice,
                calls: u32::from(state.busy),
                registered: contact.is_some(),
                wrapping_up: state.wrap_up_until.is_some_and(|t| t > now),
                tried: tried.contains(&m.user_id),
                load: load.get(&m.user_id).copied().unwrap_or(0),
                last_activity: state.last_call_end.unwrap_or(Timestamp(0)),
                handled_today: if state.handled_day == today { state.handled_today } else { 0 },
            });
            if let Some(c) = contact {
                contacts.insert(m.user_id, c);
            }
        }
        let sticky = previous.filter(|_| team_row.routing.sticky);
        let last = self.last_agent.lock().ok().and_then(|l| l.get(&(ws, team)).copied());
        let plan = match self.rng.lock() {
            Ok(mut rng) => ring_plan(strategy, &phones, sticky, last, &mut rng),
            Err(_) => RingPlan::Nobody,
        };
        match plan {
            RingPlan::Nobody => Pick::Nobody,
            RingPlan::RoundOver => Pick::RoundOver,
            RingPlan::Ring(agents) => {
                let mut out = Vec::with_capacity(agents.len());
                for user in agents {
                    if let Some((extension, uri, peer)) = contacts.remove(&user)
                        && self.claim_agent(ws, user)
                    {
                        out.push(Ringable { user, extension, uri, peer });
                    }
                }
                if let [one] = out.as_slice()
                    && let Ok(mut l) = self.last_agent.lock()
                {
                    l.insert((ws, team), one.user);
                }
                if out.is_empty() { Pick::Nobody } else { Pick::Ring(out) }
            }
        }
    }

    fn agent_state(&self, ws: WorkspaceId, user: UserId) -> AgentState {
        self.agents.lock().ok().and_then(|a| a.get(&(ws, user)).copied()).unwrap_or_default()
    }

    /// Marks the agent's phone as taken (ringing or talking); false if it
    /// already was, or the agent is wrapping up.
    pub fn claim_agent(&self, ws: WorkspaceId, user: UserId) -> bool {
        let Ok(mut a) = self.agents.lock() else { return false };
        let s = a.entry((ws, user)).or_default();
        if s.busy || s.wrap_up_until.is_some_and(|t| t > Instant::now()) {
            return false;
        }
        s.busy = true;
        true
    }

    /// The agent's phone is taken whatever its state (click-to-call: the
    /// agent asked for the call).
    pub fn hold_agent(&self, ws: WorkspaceId, user: UserId) {
        if let Ok(mut a) = self.agents.lock() {
            a.entry((ws, user)).or_default().busy = true;
        }
    }

    /// The agent was not reached: free at once.
    pub fn release_agent(&self, ws: WorkspaceId, user: UserId) {
        if let Ok(mut a) = self.agents.lock() {
            a.entry((ws, user)).or_default().busy = false;
        }
    }

    /// The agent answered: presence `in_call` (remembering what it was),
    /// one more call handled today.
    pub async fn agent_in_call(&self, ws: WorkspaceId, user: UserId) {
        let today = day_of(self.st.now());
        if let Ok(mut a) = self.agents.lock() {
            let s = a.entry((ws, user)).or_default();
            s.busy = true;
            s.wrap_up_until = None;
            s.generation += 1;
            if s.handled_day != today {
                s.handled_day = today;
                s.handled_today = 0;
            }
            s.handled_today += 1;
        }
        let current = self.st.store.get_member(ws, user).await.ok().flatten().map(|m| m.presence);
        let Some(current) = current else { return };
        if !current.is_set_by_voice()
            && let Ok(mut a) = self.agents.lock()
        {
            a.entry((ws, user)).or_default().presence_before = Some(current);
        }
        self.set_presence(ws, user, Presence::InCall).await;
    }

    /// The agent's call ended: no new call for `wrap_up`, presence
    /// `wrap_up` meanwhile, then back to what it was before the call. An
    /// agent who changed their status during the call keeps it.
    pub async fn agent_call_ended(self: &Arc<Self>, ws: WorkspaceId, user: UserId, wrap_up: Duration) {
        let generation = {
            let Ok(mut a) = self.agents.lock() else { return };
            let s = a.entry((ws, user)).or_default();
            s.busy = false;
            s.wrap_up_until = Some(Instant::now() + wrap_up);
            s.last_call_end = Some(self.st.now());
            s.generation
        };
        let current = self.st.store.get_member(ws, user).await.ok().flatten().map(|m| m.presence);
        if current != Some(Presence::InCall) {
            self.forget_presence(ws, user);
            return;
        }
        if wrap_up.is_zero() {
            self.restore_presence(ws, user).await;
            return;
        }
        self.set_presence(ws, user, Presence::WrapUp).await;
        let pbx = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wrap_up).await;
            if pbx.agent_state(ws, user).generation != generation {
                return; // a new call started; its end decides
            }
            let current = pbx.st.store.get_member(ws, user).await.ok().flatten().map(|m| m.presence);
            if current == Some(Presence::WrapUp) {
                pbx.restore_presence(ws, user).await;
            } else {
                pbx.forget_presence(ws, user);
            }
        });
    }

    fn forget_presence(&self, ws: WorkspaceId, user: UserId) {
        if let Ok(mut a) = self.agents.lock() {
            a.entry((ws, user)).or_default().presence_before = None;
        }
    }

    async fn restore_presence(&self, ws: WorkspaceId, user: UserId) {
        let before = self.agents.lock().ok().and_then(|mut a| a.entry((ws, user)).or_default().presence_before.take());
        self.set_presence(ws, user, before.unwrap_or(Presence::Online)).await;
    }

    async fn set_presence(&self, ws: WorkspaceId, user: UserId, presence: Presence) {
        match self.st.store.set_presence(ws, user, presence, self.st.now()).await {
            Ok(w) => self.st.publish(w.events),
            Err(e) => tracing::warn!(error = %e, user = %user.0, "voice presence"),
        }
    }
}

fn day_of(t: Timestamp) -> i64 {
    t.0.div_euclid(86_400_000)
}

/// An agent chosen for a call, with where their phone is.
#[derive(Debug, Clone)]
pub(crate) struct Ringable {
    pub user: UserId,
    pub extension: String,
    pub uri: Uri,
    pub peer: Peer,
}

/// Seconds since the epoch, for digest nonces.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A random token for tags, branches and Call-IDs.
pub(crate) fn token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}
