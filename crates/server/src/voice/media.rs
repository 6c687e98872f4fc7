//! The PBX media plane: RTP sockets and one 20 ms media task per call
//! around the sans-IO cores of `switchboard_voice::media`.
//!
//! Owns: port allocation for RTP/RTCP pairs, symmetric RTP (latching onto
//! where a phone's packets really come from, for NAT), jitter buffering,
//! DTMF detection, prompt playback, relaying and transcoding between the
//! caller and agent legs, the stereo call recording and RTP timeouts.
//! Must never: decide call routing (it reports [`MediaEvent`]s and obeys
//! [`CallMediaHandle`] commands from call control), block the task on a
//! socket send, or panic on anything that arrives from the network.
//!
//! Timing model: each call's task wakes once per 20 ms tick (an interval
//! with [`MissedTickBehavior::Skip`]). The frame clock is derived from the
//! tick's scheduled instant, not from a tick counter, so a late task catches
//! up by processing up to [`MAX_BURST_FRAMES`] frames back to back (phones'
//! jitter buffers absorb a 100 ms burst) and jumps over anything older:
//! skipped frames stay silent in the recording and advance the outgoing RTP
//! timestamps, so the recording and the RTP timeline both keep wall-clock
//! length without sending an unbounded burst after a long stall.
//!
//! Sockets are not awaited: every tick drains them with `try_recv_from`
//! (bounded per tick against floods) before producing the frame. That is
//! one wake-up per call per 20 ms instead of one per packet, at the cost of
//! up to 20 ms of extra receive latency that the jitter buffer hides anyway.
//! Sends use `try_send_to`; a full socket buffer drops that one packet.
//!
//! File IO: the recorder writes half-second blocks (16 KiB) from the media
//! task itself; that is a page-cache copy, cheaper than a hop to the
//! blocking pool per block.

use std::collections::hash_map::DefaultHasher;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{self, BufWriter};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchboard_voice::media::dtmf::{DtmfDetector, InbandDtmfDetector};
use switchboard_voice::media::g711::{Codec, FRAME_SAMPLES};
use switchboard_voice::media::jitter::{FrameKind, JitterBuffer};
use switchboard_voice::media::prompt::{Player, Prompt, comfort_noise};
use switchboard_voice::media::recorder::{Leg, Recorder};
use switchboard_voice::media::rtp::{
    RtpPacket, RtpSender, SenderInfo, build_sender_report, is_rtcp,
};
use switchboard_voice::media::sdp::{
    self, LocalMedia, NegotiatedMedia, NegotiationError, SessionDescription,
};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

/// One RTP packetisation interval.
pub const FRAME: Duration = Duration::from_millis(20);
/// Nothing received from a leg for this long → [`MediaEvent::RtpTimeout`].
pub const RTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Most frames processed in one wake-up when the task ran late; older
/// frames are skipped (silent in the recording).
pub const MAX_BURST_FRAMES: u64 = 5;
/// Playout delay of the per-leg jitter buffers (60 ms).
const JITTER_DELAY_FRAMES: u16 = 3;
/// RTCP sender report every 5 s (in frames).
const RTCP_INTERVAL_FRAMES: u64 = 250;
/// The RTCP sockets are drained once a second; their content is dropped.
const RTCP_DRAIN_FRAMES: u64 = 50;
/// Datagrams read per socket per tick at most: a flood costs a bounded
/// amount of CPU and the rest is dropped by the kernel.
const MAX_READS_PER_TICK: usize = 32;
/// A latched leg moves to a new source address only after the latched one
/// has been silent this long (a phone re-registered behind a new NAT
/// binding), so a stray sender cannot hijack a live stream.
const RELATCH_AFTER: Duration = Duration::from_secs(2);
/// Comfort noise peak (≈ -60 dBov): audible as "the line is open".
const COMFORT_NOISE_AMPLITUDE: i16 = 30;
/// Queued media events per call; a full queue drops (and logs) the event
/// rather than stall the media task.
const EVENT_QUEUE: usize = 64;
/// Largest datagram we read; RTP for 20 ms G.711 is 172 bytes.
const RECV_BUF: usize = 1500;

/// Where RTP sockets are bound.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Local address to bind (and to advertise in SDP unless it is
    /// unspecified; see [`MediaEngine::with_advertised_ip`]).
    pub bind_ip: IpAddr,
    /// Lowest port of the RTP/RTCP range (inclusive).
    pub port_min: u16,
    /// Highest port of the RTP/RTCP range (inclusive).
    pub port_max: u16,
}

/// Allocates media legs and starts call media tasks. Cheap to clone.
#[derive(Clone)]
pub struct MediaEngine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    cfg: MediaConfig,
    advertised_ip: IpAddr,
    rtp_timeout: Duration,
    /// Index of the next RTP/RTCP pair to try; rotating through the range
    /// keeps a just-closed port idle for a while so late packets of the
    /// previous call do not land in a new one.
    cursor: AtomicU32,
}

impl MediaEngine {
    /// An engine for the port range of `cfg`.
    pub fn new(cfg: MediaConfig) -> MediaEngine {
        let advertised_ip = cfg.bind_ip;
        MediaEngine {
            inner: Arc::new(EngineInner {
                cfg,
                advertised_ip,
                rtp_timeout: RTP_TIMEOUT,
                cursor: AtomicU32::new(0),
            }),
        }
    }

    /// The address to put in SDP when `bind_ip` is a wildcard or a private
    /// address behind 1:1 NAT.
    pub fn with_advertised_ip(self, ip: IpAddr) -> MediaEngine {
        self.rebuild(|i| i.advertised_ip = ip)
    }

    #[allow(dead_code)] // API for call control; used by the tests so far.
    /// Overrides [`RTP_TIMEOUT`] (tests, or a site with long silences).
    pub fn with_rtp_timeout(self, timeout: Duration) -> MediaEngine {
        self.rebuild(|i| i.rtp_timeout = timeout)
    }

    fn rebuild(self, f: impl FnOnce(&mut EngineInner)) -> MediaEngine {
        let mut inner = EngineInner {
            cfg: self.inner.cfg.clone(),
            advertised_ip: self.inner.advertised_ip,
            rtp_timeout: self.inner.rtp_timeout,
            cursor: AtomicU32::new(self.inner.cursor.load(Ordering::Relaxed)),
        };
        f(&mut inner);
        MediaEngine {
            inner: Arc::new(inner),
        }
    }

    #[allow(dead_code)] // API for call control; used by the tests so far.
    /// The address our SDP announces.
    pub fn advertised_ip(&self) -> IpAddr {
        self.inner.advertised_ip
    }

    /// Binds an RTP socket (even port) and RTCP (port+1) in the range;
    /// errors when exhausted.
    pub async fn open_leg(&self) -> io::Result<MediaLeg> {
        let cfg = &self.inner.cfg;
        let first = cfg.port_min.saturating_add(cfg.port_min % 2) as u32;
        let max = cfg.port_max as u32;
        let pairs = if max > first {
            (max - first).div_ceil(2)
        } else {
            0
        };
        if pairs == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "media port range holds no RTP/RTCP pair",
            ));
        }
        for _ in 0..pairs {
            let idx = self.inner.cursor.fetch_add(1, Ordering::Relaxed) % pairs;
            let port = (first + idx * 2) as u16;
            let rtp = match UdpSocket::bind(SocketAddr::new(cfg.bind_ip, port)).await {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            };
            let rtcp = match UdpSocket::bind(SocketAddr::new(cfg.bind_ip, port + 1)).await {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            };
            let local_rtp = rtp.local_addr()?;
            return Ok(MediaLeg {
                local_rtp,
                rtp,
                rtcp,
            });
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "media port range exhausted",
        ))
    }

    #[allow(dead_code)] // API for call control; used by the tests so far.
    /// Our SDP for `leg` (PCMU, PCMA, telephone-event 101, sendrecv).
    pub fn local_media(&self, leg: &MediaLeg, session_id: u64) -> LocalMedia {
        LocalMedia::new(self.advertised_ip(), leg.local_rtp.port(), session_id)
    }

    #[allow(dead_code)] // API for call control; used by the tests so far.
    /// Our SDP offer for an outbound leg (the agent's phone, a dialled
    /// customer); read the answer with [`sdp::accept_answer`] and
    /// [`Self::local_media`].
    pub fn sdp_offer(&self, leg: &MediaLeg, session_id: u64) -> SessionDescription {
        sdp::offer(&self.local_media(leg, session_id))
    }
}

/// Answers a caller's SDP offer for `leg`: our SDP and what was agreed.
/// `Err` means the SIP layer answers 488 Not Acceptable Here.
#[allow(dead_code)] // API for call control; used by the tests so far.
pub fn caller_sdp_answer(
    engine: &MediaEngine,
    leg: &MediaLeg,
    offer: &SessionDescription,
    session_id: u64,
) -> Result<(SessionDescription, NegotiatedMedia), NegotiationError> {
    sdp::answer(offer, &engine.local_media(leg, session_id))
}

/// A bound RTP/RTCP socket pair, not yet carrying a call.
pub struct MediaLeg {
    /// Our RTP address (for SDP; RTCP is the next port).
    pub local_rtp: SocketAddr,
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

impl std::fmt::Debug for MediaLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaLeg")
            .field("local_rtp", &self.local_rtp)
            .finish_non_exhaustive()
    }
}

/// Which side of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegRole {
    /// The inbound caller (left recording channel).
    Caller,
    /// The agent's phone or the second outbound leg (right channel).
    Agent,
}

/// What the media task reports to call control.
#[derive(Debug, Clone)]
pub enum MediaEvent {
    /// A key press (RFC 4733, or in-band when no event PT was agreed),
    /// reported once per press.
    Dtmf {
        /// Who pressed it.
        leg: LegRole,
        /// `0-9`, `*`, `#`, `A-D`.
        digit: char,
    },
    /// A non-looping [`CallMediaHandle::play`] reached its end (not sent
    /// when playback was stopped or replaced).
    PlaybackFinished {
        /// The leg it played to.
        #[allow(dead_code)] // Call control only plays to the caller so far.
        leg: LegRole,
    },
    /// Nothing valid received from the leg for the RTP timeout. Sent once;
    /// re-armed when packets arrive again.
    RtpTimeout {
        /// The silent leg.
        leg: LegRole,
    },
}

/// The finished recording of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSummary {
    /// The `record_to` path given at start (the caller moves it).
    pub path: PathBuf,
    /// Length of the timeline (the call's media wall-clock time).
    pub duration_ms: u64,
    /// File size.
    pub bytes: u64,
}

/// Counters of one leg, for metrics and diagnosis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegStats {
    /// Valid RTP packets accepted (audio and events).
    pub rtp_received: u64,
    /// Datagrams that did not parse as RTP.
    pub malformed: u64,
    /// RTP with a payload type that was not negotiated (CN, video…).
    pub unexpected_pt: u64,
    /// RTP from an address other than the latched one.
    pub foreign_source: u64,
    /// RTCP datagrams received (and dropped) on either port.
    pub rtcp_received: u64,
    /// RTP packets sent.
    pub rtp_sent: u64,
    /// Sends that failed or would have blocked.
    pub send_errors: u64,
    /// Jitter buffer: frames concealed, late and duplicate packets.
    pub concealed: u64,
    /// Packets that arrived after their playout slot.
    pub late: u64,
    /// Where our RTP goes now (after latching), if known.
    pub remote: Option<SocketAddr>,
}

/// Counters of one call's media.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallMediaStats {
    /// 20 ms frames produced (including skipped ones).
    pub frames: u64,
    /// Frames skipped because the task ran more than
    /// [`MAX_BURST_FRAMES`] late.
    pub skipped_frames: u64,
    /// The caller leg.
    pub caller: LegStats,
    /// The agent leg, while attached.
    pub agent: Option<LegStats>,
}

enum Command {
    Play {
        leg: LegRole,
        prompts: Vec<Arc<Prompt>>,
        looping: bool,
    },
    StopPlayback(LegRole),
    AttachAgent(Box<(MediaLeg, NegotiatedMedia)>),
    DetachAgent,
    #[allow(dead_code)] // Sent by `update_media`.
    UpdateMedia(LegRole, NegotiatedMedia),
    Stats(oneshot::Sender<CallMediaStats>),
    Hangup(oneshot::Sender<Option<RecordingSummary>>),
}

/// Controls one call's media task. Cheap to clone; commands to a task that
/// has ended are ignored.
#[derive(Clone)]
pub struct CallMediaHandle {
    tx: mpsc::UnboundedSender<Command>,
}

/// Starts one call's media task: the caller leg is live (RTP to/from
/// `remote`), recording (stereo WAV, left = caller, right = agent) to
/// `record_to` if Some, from this moment.
///
/// Must be called inside a tokio runtime. If `record_to` cannot be created
/// the call runs unrecorded (logged) and `hangup` returns `None`.
pub fn start_call_media(
    engine: &MediaEngine,
    caller: MediaLeg,
    caller_media: NegotiatedMedia,
    record_to: Option<PathBuf>,
) -> (CallMediaHandle, mpsc::Receiver<MediaEvent>) {
    let start = Instant::now();
    let (tx, rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
    let recording = record_to.and_then(|path| match File::create(&path) {
        Ok(f) => match Recorder::new(BufWriter::with_capacity(32 * 1024, f)) {
            Ok(rec) => Some((path, rec)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "call recording not started");
                None
            }
        },
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "call recording not started");
            None
        }
    });
    let seed = seed_from(&caller.local_rtp, start);
    let task = CallTask {
        start,
        rtp_timeout: engine.inner.rtp_timeout,
        frames_done: 0,
        skipped_frames: 0,
        caller: LegState::new(LegRole::Caller, caller, caller_media, start, seed),
        agent: None,
        recording,
        events: ev_tx,
        out: Vec::with_capacity(RECV_BUF),
        buf: vec![0; RECV_BUF].into_boxed_slice(),
        prompt_pcm: [0; FRAME_SAMPLES],
        seed,
    };
    tokio::spawn(task.run(rx));
    (CallMediaHandle { tx }, ev_rx)
}

impl CallMediaHandle {
    /// Plays `prompts` in order to `leg`, replacing what was playing there.
    /// A playing prompt takes precedence over the relayed audio of the
    /// other leg (announcements to a bridged leg are heard); attaching the
    /// agent stops the caller's playback. Ignored for the agent leg while
    /// none is attached.
    pub fn play(&self, leg: LegRole, prompts: Vec<Arc<Prompt>>, looping: bool) {
        let _ = self.tx.send(Command::Play {
            leg,
            prompts,
            looping,
        });
    }

    /// Stops playback on `leg` (no `PlaybackFinished` is sent).
    pub fn stop_playback(&self, leg: LegRole) {
        let _ = self.tx.send(Command::StopPlayback(leg));
    }

    /// Second leg (the agent's phone) joins: audio is relayed both ways
    /// (transcoding PCMU<->PCMA if they differ), playback to the caller
    /// stops. Replaces an already attached agent leg.
    pub fn attach_agent(&self, agent: MediaLeg, agent_media: NegotiatedMedia) {
        let _ = self
            .tx
            .send(Command::AttachAgent(Box::new((agent, agent_media))));
    }

    /// The agent leg leaves (its sockets close); the caller hears comfort
    /// noise until something is played.
    pub fn detach_agent(&self) {
        let _ = self.tx.send(Command::DetachAgent);
    }

    #[allow(dead_code)] // API for call control; used by the tests so far.
    /// A re-INVITE changed a leg's media (hold, new address or codec).
    pub fn update_media(&self, leg: LegRole, media: NegotiatedMedia) {
        let _ = self.tx.send(Command::UpdateMedia(leg, media));
    }

    #[allow(dead_code)] // API for call control; used by the tests so far.
    /// Current counters; `None` once the task has ended.
    pub async fn stats(&self) -> Option<CallMediaStats> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Command::Stats(tx)).ok()?;
        rx.await.ok()
    }

    /// Ends the media task; returns the recording summary when recording.
    /// Later calls (from clones) return `None`.
    pub async fn hangup(&self) -> Option<RecordingSummary> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Command::Hangup(tx)).ok()?;
        rx.await.ok().flatten()
    }
}

fn seed_from(addr: &SocketAddr, start: Instant) -> u32 {
    let mut h = DefaultHasher::new();
    addr.hash(&mut h);
    start.hash(&mut h);
    rand::random::<u64>().hash(&mut h);
    (h.finish() as u32) | 1
}

/// One leg's sockets and per-leg media state.
struct LegState {
    role: LegRole,
    socket: MediaLeg,
    media: NegotiatedMedia,
    /// Where our RTP goes: the SDP address until a packet is seen, then the
    /// packet's source (symmetric RTP).
    remote: Option<SocketAddr>,
    latched: bool,
    remote_rtcp: Option<SocketAddr>,
    rtcp_latched: bool,
    rx_ssrc: Option<u32>,
    sender: RtpSender,
    jitter: JitterBuffer,
    dtmf: DtmfDetector,
    inband: Option<InbandDtmfDetector>,
    player: Option<Player>,
    last_rx: Instant,
    timeout_reported: bool,
    noise_seed: u32,
    /// The frame popped this tick (decoded PCM).
    pcm: [i16; FRAME_SAMPLES],
    /// Scratch for decoding a packet before it enters the jitter buffer.
    decoded: [i16; FRAME_SAMPLES],
    encoded: [u8; FRAME_SAMPLES],
    stats: LegStats,
}

fn usable(addr: SocketAddr) -> Option<SocketAddr> {
    (!addr.ip().is_unspecified() && addr.port() != 0).then_some(addr)
}

impl LegState {
    fn new(
        role: LegRole,
        socket: MediaLeg,
        media: NegotiatedMedia,
        now: Instant,
        seed: u32,
    ) -> LegState {
        let sender = RtpSender::new(
            rand::random(),
            rand::random(),
            rand::random(),
            media.payload_type,
        );
        LegState {
            role,
            socket,
            remote: usable(media.remote_rtp),
            latched: false,
            remote_rtcp: usable(media.remote_rtcp),
            rtcp_latched: false,
            rx_ssrc: None,
            sender,
            jitter: JitterBuffer::new(JITTER_DELAY_FRAMES),
            dtmf: DtmfDetector::new(),
            inband: media
                .telephone_event_pt
                .is_none()
                .then(InbandDtmfDetector::new),
            media,
            player: None,
            last_rx: now,
            timeout_reported: false,
            noise_seed: seed,
            pcm: [0; FRAME_SAMPLES],
            decoded: [0; FRAME_SAMPLES],
            encoded: [0; FRAME_SAMPLES],
            stats: LegStats::default(),
        }
    }

    fn codec(&self) -> Codec {
        self.media.codec
    }

    fn update_media(&mut self, media: NegotiatedMedia) {
        if media.payload_type != self.media.payload_type {
            self.sender = RtpSender::new(
                self.sender.ssrc(),
                rand::random(),
                self.sender.next_timestamp(),
                media.payload_type,
            );
        }
        // A new SDP address is a deliberate move: follow it and latch anew.
        if media.remote_rtp != self.media.remote_rtp {
            self.remote = usable(media.remote_rtp);
            self.latched = false;
        }
        if media.remote_rtcp != self.media.remote_rtcp {
            self.remote_rtcp = usable(media.remote_rtcp);
            self.rtcp_latched = false;
        }
        self.inband = match (media.telephone_event_pt, self.inband.take()) {
            (None, Some(d)) => Some(d),
            (None, None) => Some(InbandDtmfDetector::new()),
            (Some(_), _) => None,
        };
        if let Some(p) = self.player.take() {
            // Players hold their codec; restart on the new one only if it changed.
            if media.codec == self.media.codec {
                self.player = Some(p);
            }
        }
        self.media = media;
    }

    /// Reads what arrived since the last tick.
    fn drain(&mut self, buf: &mut [u8], now: Instant, events: &mpsc::Sender<MediaEvent>) {
        for _ in 0..MAX_READS_PER_TICK {
            let (n, src) = match self.socket.rtp.try_recv_from(buf) {
                Ok(v) => v,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // ICMP errors surface on some platforms; the socket stays usable.
                Err(_) => continue,
            };
            self.on_datagram(&buf[..n], src, now, events);
        }
    }

    fn drain_rtcp(&mut self, buf: &mut [u8]) {
        for _ in 0..MAX_READS_PER_TICK {
            match self.socket.rtcp.try_recv_from(buf) {
                Ok((n, src)) => {
                    if is_rtcp(&buf[..n]) {
                        self.stats.rtcp_received += 1;
                        if !self.rtcp_latched {
                            self.remote_rtcp = Some(src);
                            self.rtcp_latched = true;
                        }
                    } else {
                        self.stats.malformed += 1;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => continue,
            }
        }
    }

    fn on_datagram(
        &mut self,
        data: &[u8],
        src: SocketAddr,
        now: Instant,
        events: &mpsc::Sender<MediaEvent>,
    ) {
        if is_rtcp(data) {
            // rtcp-mux or a confused phone: not media.
            self.stats.rtcp_received += 1;
            return;
        }
        let Ok(pkt) = RtpPacket::parse(data) else {
            self.stats.malformed += 1;
            return;
        };
        let pt = pkt.header.payload_type;
        let is_event = Some(pt) == self.media.telephone_event_pt;
        // The agreed PT, or the other static G.711 law (phones that switch
        // codec without a re-INVITE): decoded either way.
        let codec = if pt == self.media.payload_type {
            Some(self.media.codec)
        } else {
            Codec::from_payload_type(pt)
        };
        if !is_event && codec.is_none() {
            self.stats.unexpected_pt += 1;
            return;
        }
        // Symmetric RTP: answer to where packets come from (NAT).
        if self.remote != Some(src) || !self.latched {
            let may_move = !self.latched || now.duration_since(self.last_rx) >= RELATCH_AFTER;
            if !may_move {
                self.stats.foreign_source += 1;
                return;
            }
            if self.latched {
                tracing::info!(leg = ?self.role, from = ?self.remote, to = %src, "RTP source moved");
            }
            self.remote = Some(src);
            self.latched = true;
        }
        self.stats.rtp_received += 1;
        self.last_rx = now;
        self.timeout_reported = false;
        if self.rx_ssrc != Some(pkt.header.ssrc) {
            if self.rx_ssrc.is_some() {
                // A new stream (phone restarted it): its numbering is unrelated.
                self.jitter = JitterBuffer::new(JITTER_DELAY_FRAMES);
                self.dtmf = DtmfDetector::new();
            }
            self.rx_ssrc = Some(pkt.header.ssrc);
        }
        if is_event {
            if let Some(d) = self.dtmf.on_packet(pkt.header.timestamp, pkt.payload) {
                emit(
                    events,
                    MediaEvent::Dtmf {
                        leg: self.role,
                        digit: d.digit,
                    },
                );
            }
            return;
        }
        if let Some(codec) = codec {
            let n = pkt.payload.len().min(FRAME_SAMPLES);
            codec.decode(&pkt.payload[..n], &mut self.decoded[..n]);
            self.jitter.push(pkt.header.sequence, &self.decoded[..n]);
        }
    }

    /// Pops this tick's frame into `self.pcm`.
    fn pop(&mut self, events: &mpsc::Sender<MediaEvent>) {
        let popped = self.jitter.pop();
        self.pcm.copy_from_slice(popped.frame);
        if popped.kind != FrameKind::Received {
            return;
        }
        if let Some(digit) = self
            .inband
            .as_mut()
            .and_then(|d| d.process_frame(&self.pcm))
        {
            emit(
                events,
                MediaEvent::Dtmf {
                    leg: self.role,
                    digit,
                },
            );
        }
    }

    fn check_timeout(
        &mut self,
        now: Instant,
        timeout: Duration,
        events: &mpsc::Sender<MediaEvent>,
    ) {
        // A leg on hold (sendonly/inactive from the phone) may be silent.
        if !self.media.direction.receives() {
            self.last_rx = now;
            return;
        }
        if !self.timeout_reported && now.duration_since(self.last_rx) >= timeout {
            self.timeout_reported = true;
            emit(events, MediaEvent::RtpTimeout { leg: self.role });
        }
    }

    /// Sends `self.encoded` as this tick's packet.
    fn send_encoded(&mut self, out: &mut Vec<u8>) {
        send_audio(
            &self.socket.rtp,
            &mut self.sender,
            self.remote,
            self.media.direction.sends(),
            &self.encoded,
            out,
            &mut self.stats,
        );
    }

    fn send_rtcp(&mut self, out: &mut Vec<u8>) {
        let Some(dest) = self.remote_rtcp else { return };
        if !self.media.direction.sends() && !self.media.direction.receives() {
            return;
        }
        let (packets, octets) = self.sender.counters();
        let info = SenderInfo {
            ntp: ntp_now(),
            rtp_timestamp: self.sender.next_timestamp(),
            packet_count: packets,
            octet_count: octets,
        };
        out.clear();
        build_sender_report(self.sender.ssrc(), &info, None, Some("switchboard"), out);
        if self.socket.rtcp.try_send_to(out, dest).is_err() {
            self.stats.send_errors += 1;
        }
    }

    fn snapshot(&self) -> LegStats {
        let j = self.jitter.stats();
        LegStats {
            concealed: j.concealed,
            late: j.late,
            remote: self.remote,
            ..self.stats
        }
    }
}

/// Stamps and sends one audio frame; split from `LegState` so a frame
/// borrowed from the leg's own player can be sent.
fn send_audio(
    socket: &UdpSocket,
    sender: &mut RtpSender,
    remote: Option<SocketAddr>,
    may_send: bool,
    payload: &[u8],
    out: &mut Vec<u8>,
    stats: &mut LegStats,
) {
    let Some(dest) = remote.filter(|_| may_send) else {
        // Keep the RTP clock running so the stream resumes in time.
        sender.skip_frame();
        return;
    };
    out.clear();
    sender.audio_packet(payload, out);
    match socket.try_send_to(out, dest) {
        Ok(_) => stats.rtp_sent += 1,
        Err(_) => stats.send_errors += 1,
    }
}

fn emit(events: &mpsc::Sender<MediaEvent>, ev: MediaEvent) {
    if let Err(e) = events.try_send(ev) {
        match e {
            mpsc::error::TrySendError::Full(ev) => {
                tracing::warn!(?ev, "media event queue full; event dropped");
            }
            // Nobody listens any more: call control has gone away.
            mpsc::error::TrySendError::Closed(_) => {}
        }
    }
}

/// NTP timestamp (RFC 3550 §4) of now, 32.32 fixed point.
fn ntp_now() -> u64 {
    const UNIX_TO_NTP: u64 = 2_208_988_800;
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs().wrapping_add(UNIX_TO_NTP);
    let frac = ((d.subsec_nanos() as u64) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

type WavRecorder = Recorder<BufWriter<File>>;

struct CallTask {
    start: Instant,
    rtp_timeout: Duration,
    /// Frames produced so far; frame `k` covers samples `k*160..(k+1)*160`
    /// of the call timeline.
    frames_done: u64,
    skipped_frames: u64,
    caller: LegState,
    agent: Option<LegState>,
    recording: Option<(PathBuf, WavRecorder)>,
    events: mpsc::Sender<MediaEvent>,
    out: Vec<u8>,
    buf: Box<[u8]>,
    /// The prompt frame played to the caller this tick (right channel
    /// while no agent is attached, so the recording has what the caller
    /// heard).
    prompt_pcm: [i16; FRAME_SAMPLES],
    seed: u32,
}

impl CallTask {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut ticker = tokio::time::interval_at(self.start + FRAME, FRAME);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let reply = loop {
            tokio::select! {
                biased;
                cmd = commands.recv() => match cmd {
                    Some(Command::Hangup(reply)) => break Some(reply),
                    Some(cmd) => self.on_command(cmd),
                    // Every handle dropped: end the call, keep the file valid.
                    None => break None,
                },
                at = ticker.tick() => self.on_tick(at),
            }
        };
        let summary = self.finish();
        if let Some(reply) = reply {
            let _ = reply.send(summary);
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Play {
                leg,
                prompts,
                looping,
            } => {
                if let Some(l) = self.leg_mut(leg) {
                    l.player = Some(Player::new(prompts, l.codec(), looping));
                } else {
                    tracing::debug!(?leg, "play to a leg that is not attached");
                }
            }
            Command::StopPlayback(leg) => {
                if let Some(l) = self.leg_mut(leg) {
                    l.player = None;
                }
            }
            Command::AttachAgent(b) => {
                let (leg, media) = *b;
                self.caller.player = None;
                self.seed = self.seed.rotate_left(7) ^ 0x5bd1_e995;
                self.agent = Some(LegState::new(
                    LegRole::Agent,
                    leg,
                    media,
                    Instant::now(),
                    self.seed,
                ));
            }
            Command::DetachAgent => self.agent = None,
            Command::UpdateMedia(leg, media) => {
                if let Some(l) = self.leg_mut(leg) {
                    l.update_media(media);
                }
            }
            Command::Stats(reply) => {
                let _ = reply.send(CallMediaStats {
                    frames: self.frames_done,
                    skipped_frames: self.skipped_frames,
                    caller: self.caller.snapshot(),
                    agent: self.agent.as_ref().map(LegState::snapshot),
                });
            }
            Command::Hangup(_) => {}
        }
    }

    fn leg_mut(&mut self, leg: LegRole) -> Option<&mut LegState> {
        match leg {
            LegRole::Caller => Some(&mut self.caller),
            LegRole::Agent => self.agent.as_mut(),
        }
    }

    fn frames_at(&self, at: Instant) -> u64 {
        (at.saturating_duration_since(self.start).as_micros() / FRAME.as_micros()) as u64
    }

    fn on_tick(&mut self, at: Instant) {
        let now = Instant::now();
        let due = self.frames_at(at);
        if due <= self.frames_done {
            return;
        }
        self.caller.drain(&mut self.buf, now, &self.events);
        if let Some(a) = &mut self.agent {
            a.drain(&mut self.buf, now, &self.events);
        }
        let behind = due - self.frames_done;
        if behind > MAX_BURST_FRAMES {
            let skip = behind - MAX_BURST_FRAMES;
            for _ in 0..skip {
                self.caller.sender.skip_frame();
                if let Some(a) = &mut self.agent {
                    a.sender.skip_frame();
                }
            }
            self.frames_done += skip;
            self.skipped_frames += skip;
        }
        while self.frames_done < due {
            let k = self.frames_done;
            self.process_frame(k);
            self.frames_done += 1;
            if k.is_multiple_of(RTCP_DRAIN_FRAMES) {
                self.caller.drain_rtcp(&mut self.buf);
                if let Some(a) = &mut self.agent {
                    a.drain_rtcp(&mut self.buf);
                }
            }
            if (k + 1).is_multiple_of(RTCP_INTERVAL_FRAMES) {
                self.caller.send_rtcp(&mut self.out);
                if let Some(a) = &mut self.agent {
                    a.send_rtcp(&mut self.out);
                }
            }
        }
        self.caller
            .check_timeout(now, self.rtp_timeout, &self.events);
        if let Some(a) = &mut self.agent {
            a.check_timeout(now, self.rtp_timeout, &self.events);
        }
    }

    /// Produces timeline frame `k`: one frame in from each leg, one packet
    /// out to each leg, both into the recording.
    fn process_frame(&mut self, k: u64) {
        let at = k * FRAME_SAMPLES as u64;
        self.caller.pop(&self.events);
        if let Some(a) = &mut self.agent {
            a.pop(&self.events);
        }

        // To the caller: a prompt, else the agent, else comfort noise.
        let caller_prompt = play_next(&mut self.caller, &mut self.out, &self.events);
        if let Some(codec) = caller_prompt {
            // What the caller heard, for the right channel.
            codec.decode(&self.caller.encoded, &mut self.prompt_pcm);
        } else if let Some(a) = &self.agent {
            self.caller.codec().encode(&a.pcm, &mut self.caller.encoded);
            self.caller.send_encoded(&mut self.out);
        } else {
            let codec = self.caller.codec();
            self.caller.encoded =
                comfort_noise(codec, COMFORT_NOISE_AMPLITUDE, &mut self.caller.noise_seed);
            self.caller.send_encoded(&mut self.out);
        }

        // To the agent: a prompt (whisper), else the caller.
        if let Some(a) = &mut self.agent {
            let prompted = play_next(a, &mut self.out, &self.events).is_some();
            if !prompted {
                a.codec().encode(&self.caller.pcm, &mut a.encoded);
                a.send_encoded(&mut self.out);
            }
        }

        if let Some((path, rec)) = &mut self.recording {
            let right: Option<&[i16]> = match (&self.agent, caller_prompt) {
                (Some(a), _) => Some(&a.pcm),
                (None, Some(_)) => Some(&self.prompt_pcm),
                (None, None) => None,
            };
            let res = rec
                .push(Leg::Caller, at, &self.caller.pcm)
                .and_then(|()| match right {
                    Some(pcm) => rec.push(Leg::Agent, at, pcm),
                    None => Ok(()),
                });
            if let Err(e) = res {
                tracing::error!(path = %path.display(), error = %e, "call recording failed; continuing unrecorded");
                self.recording = None;
            }
        }
    }

    fn finish(mut self) -> Option<RecordingSummary> {
        let (path, mut rec) = self.recording.take()?;
        // The timeline ends now, not at the last tick.
        let end = Instant::now().saturating_duration_since(self.start);
        let end_samples = end.as_micros() as u64 * 8 / 1000;
        let result = rec
            .advance_to(end_samples)
            .map(|()| rec.duration_samples())
            .and_then(|samples| rec.finish().map(|_| samples));
        match result {
            Ok(samples) => {
                let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                Some(RecordingSummary {
                    path,
                    duration_ms: samples / 8,
                    bytes,
                })
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "call recording could not be finished");
                None
            }
        }
    }
}

/// Sends the next frame of `leg`'s player, if one is playing; returns the
/// codec it was encoded in (the frame is left in `leg.encoded`).
fn play_next(
    leg: &mut LegState,
    out: &mut Vec<u8>,
    events: &mpsc::Sender<MediaEvent>,
) -> Option<Codec> {
    let player = leg.player.as_mut()?;
    match player.next_frame() {
        Some(frame) if frame.len() == FRAME_SAMPLES => {
            leg.encoded.copy_from_slice(frame);
            leg.send_encoded(out);
            Some(leg.codec())
        }
        _ => {
            let finished = player.is_finished();
            leg.player = None;
            if finished {
                emit(events, MediaEvent::PlaybackFinished { leg: leg.role });
            }
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use switchboard_voice::media::dtmf::DtmfEvent;
    use switchboard_voice::media::rtp::RtpHeader;

    const PHONE_TE_PT: u8 = 101;

    fn engine() -> MediaEngine {
        // A per-process slice of the range so parallel test processes
        // rarely race for the same ports (a collision just moves on).
        let base = 40_000 + (std::process::id() % 200) as u16 * 100;
        MediaEngine::new(MediaConfig {
            bind_ip: "127.0.0.1".parse().unwrap(),
            port_min: base,
            port_max: base + 99,
        })
    }

    /// An SDP offer like a phone's: PCMU and PCMA in `codec` order,
    /// telephone-event when `dtmf`.
    fn phone_offer(port: u16, first: Codec, dtmf: bool) -> SessionDescription {
        let other = match first {
            Codec::Pcmu => Codec::Pcma,
            Codec::Pcma => Codec::Pcmu,
        };
        let te = if dtmf { " 101" } else { "" };
        let mut s = format!(
            "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP {} {}{te}\r\n",
            first.payload_type(),
            other.payload_type()
        );
        if dtmf {
            s.push_str("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n");
        }
        s.push_str("a=ptime:20\r\na=sendrecv\r\n");
        SessionDescription::parse(&s).unwrap()
    }

    /// An SDP answer from a phone that only does `codec`.
    fn phone_answer(port: u16, codec: Codec) -> SessionDescription {
        let pt = codec.payload_type();
        SessionDescription::parse(&format!(
            "v=0\r\no=agent 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP {pt} 101\r\na=rtpmap:{pt} {}/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n",
            codec.encoding_name()
        ))
        .unwrap()
    }

    fn tone(freq: f64, start: u64, n: usize, amp: f64) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = (start + i as u64) as f64 / 8000.0;
                (amp * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
            })
            .collect()
    }

    /// Share of the signal's energy at `freq` (Goertzel vs. total), 0..≈1.
    fn tone_share(x: &[i16], freq: f64) -> f64 {
        if x.is_empty() {
            return 0.0;
        }
        let w = 2.0 * std::f64::consts::PI * freq / 8000.0;
        let c = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        let mut energy = 0.0;
        for &v in x {
            let v = v as f64;
            energy += v * v;
            let s = v + c * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        let p = s1 * s1 + s2 * s2 - c * s1 * s2;
        if energy == 0.0 {
            0.0
        } else {
            2.0 * p / (x.len() as f64 * energy)
        }
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
    }

    /// What a phone received: (time since test start, payload type, PCM).
    struct Received {
        at: Duration,
        pt: u8,
        pcm: Vec<i16>,
    }

    /// A fake phone: sends a `freq` tone in `codec` every 20 ms from
    /// `sock` to `to` (DTMF '2' instead of audio in packets 30..40 when
    /// `press_two`), and records everything it receives.
    fn spawn_phone(
        sock: Arc<UdpSocket>,
        to: SocketAddr,
        codec: Codec,
        freq: f64,
        press_two: bool,
        t0: Instant,
        stop: Arc<AtomicBool>,
    ) -> tokio::task::JoinHandle<Vec<Received>> {
        tokio::spawn(async move {
            let mut got = Vec::new();
            let mut sender = RtpSender::new(0x1234_5678, 100, 9_000, codec.payload_type());
            let mut out = Vec::new();
            let mut enc = [0u8; FRAME_SAMPLES];
            let mut buf = [0u8; 1500];
            let mut tick = tokio::time::interval(FRAME);
            let mut n: u64 = 0;
            let mut dtmf_ts = 0;
            while !stop.load(Ordering::Relaxed) {
                tokio::select! {
                    _ = tick.tick() => {
                        out.clear();
                        if press_two && (30..40).contains(&n) {
                            // One press: 7 progress packets, then the end
                            // packet three times, all with the same timestamp.
                            if n == 30 {
                                dtmf_ts = sender.next_timestamp();
                            }
                            let i = (n - 30) as u16;
                            let ev = DtmfEvent {
                                event: 2,
                                end: i >= 7,
                                volume: 10,
                                duration: 160 * (i.min(7) + 1),
                            };
                            sender.packet(PHONE_TE_PT, dtmf_ts, n == 30, &ev.to_bytes(), &mut out);
                            sender.skip_frame();
                        } else {
                            let pcm = tone(freq, n * 160, 160, 8000.0);
                            codec.encode(&pcm, &mut enc);
                            sender.audio_packet(&enc, &mut out);
                        }
                        let _ = sock.send_to(&out, to).await;
                        n += 1;
                    }
                    r = sock.recv_from(&mut buf) => {
                        let Ok((len, _)) = r else { continue };
                        let Ok(p) = RtpPacket::parse(&buf[..len]) else { continue };
                        let pt = p.header.payload_type;
                        let c = Codec::from_payload_type(pt).unwrap_or(codec);
                        let mut pcm = vec![0i16; p.payload.len()];
                        c.decode(p.payload, &mut pcm);
                        got.push(Received { at: t0.elapsed(), pt, pcm });
                    }
                }
            }
            got
        })
    }

    fn concat(rx: &[Received], from: Duration, to: Duration) -> Vec<i16> {
        rx.iter()
            .filter(|r| r.at >= from && r.at < to)
            .flat_map(|r| r.pcm.iter().copied())
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn call_with_prompt_dtmf_bridge_and_recording() {
        let engine = engine();
        let dir = std::env::temp_dir().join(format!("switchboard-media-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let wav_path = dir.join(format!("call-{}.wav", rand::random::<u32>()));

        // The caller's phone offers PCMU + telephone-event.
        let caller_phone = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let caller_leg = engine.open_leg().await.unwrap();
        assert_eq!(caller_leg.local_rtp.port() % 2, 0);
        let our_rtp = caller_leg.local_rtp;
        let offer = phone_offer(caller_phone.local_addr().unwrap().port(), Codec::Pcmu, true);
        let (answer_sdp, caller_media) =
            caller_sdp_answer(&engine, &caller_leg, &offer, 42).unwrap();
        assert_eq!(caller_media.codec, Codec::Pcmu);
        assert_eq!(caller_media.telephone_event_pt, Some(101));
        assert!(
            answer_sdp
                .to_sdp_string()
                .contains(&format!("m=audio {} ", our_rtp.port()))
        );

        let t0 = Instant::now();
        let (handle, mut events) =
            start_call_media(&engine, caller_leg, caller_media, Some(wav_path.clone()));
        // A 600 ms prompt of 600 Hz.
        let prompt = Arc::new(Prompt::from_pcm(tone(600.0, 0, 4800, 6000.0)));
        handle.play(LegRole::Caller, vec![prompt], false);

        let stop = Arc::new(AtomicBool::new(false));
        let caller_task = spawn_phone(
            caller_phone.clone(),
            our_rtp,
            Codec::Pcmu,
            440.0,
            true,
            t0,
            stop.clone(),
        );

        // The prompt ends → PlaybackFinished; the DTMF press (packets
        // 30..40, ~0.6–0.8 s) → exactly one '2'.
        let mut digits = Vec::new();
        let mut finished = false;
        let deadline = tokio::time::sleep(Duration::from_millis(1200));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                ev = events.recv() => match ev.unwrap() {
                    MediaEvent::Dtmf { leg, digit } => {
                        assert_eq!(leg, LegRole::Caller);
                        digits.push(digit);
                    }
                    MediaEvent::PlaybackFinished { leg } => {
                        assert_eq!(leg, LegRole::Caller);
                        finished = true;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        assert!(finished, "PlaybackFinished not reported");
        assert_eq!(digits, vec!['2'], "one digit per press");

        // The agent's phone answers our offer with PCMA only.
        let agent_phone = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let agent_leg = engine.open_leg().await.unwrap();
        let agent_rtp = agent_leg.local_rtp;
        let local = engine.local_media(&agent_leg, 43);
        let agent_media = sdp::accept_answer(
            &phone_answer(agent_phone.local_addr().unwrap().port(), Codec::Pcma),
            &local,
        )
        .unwrap();
        assert_eq!(agent_media.codec, Codec::Pcma);
        let attached_at = t0.elapsed();
        handle.attach_agent(agent_leg, agent_media);
        let agent_task = spawn_phone(
            agent_phone,
            agent_rtp,
            Codec::Pcma,
            1000.0,
            false,
            t0,
            stop.clone(),
        );

        tokio::time::sleep(Duration::from_secs(2)).await;
        let stats = handle.stats().await.unwrap();
        let summary = handle.hangup().await.expect("recording summary");
        let wall = t0.elapsed();
        stop.store(true, Ordering::Relaxed);
        let caller_rx = caller_task.await.unwrap();
        let agent_rx = agent_task.await.unwrap();
        while let Ok(ev) = events.try_recv() {
            assert!(!matches!(ev, MediaEvent::Dtmf { .. }), "extra DTMF {ev:?}");
        }
        assert!(handle.hangup().await.is_none(), "second hangup has nothing");

        // Counters: all well-formed, both legs latched to the phones.
        assert_eq!(stats.caller.malformed, 0);
        assert_eq!(
            stats.caller.remote,
            Some(caller_phone.local_addr().unwrap())
        );
        assert!(stats.agent.unwrap().rtp_received > 50);

        // The caller heard the prompt before the agent came, in PCMU.
        assert!(caller_rx.iter().all(|r| r.pt == 0), "caller gets PCMU");
        let before = concat(&caller_rx, Duration::ZERO, Duration::from_millis(500));
        assert!(
            before.len() >= 160 * 15,
            "caller got {} samples before attach",
            before.len()
        );
        assert!(
            tone_share(&before, 600.0) > 0.5,
            "prompt share {}",
            tone_share(&before, 600.0)
        );
        // Between the prompt and the agent: comfort noise, still packets.
        let gap = concat(&caller_rx, Duration::from_millis(800), attached_at);
        assert!(
            !gap.is_empty() && rms(&gap) < 100.0,
            "comfort noise rms {}",
            rms(&gap)
        );

        // Bridged: the caller hears the agent's 1 kHz (transcoded PCMA →
        // PCMU), the agent hears the caller's 440 Hz (PCMU → PCMA).
        let settle = attached_at + Duration::from_millis(300);
        let end = attached_at + Duration::from_millis(1900);
        let to_caller = concat(&caller_rx, settle, end);
        assert!(
            to_caller.len() >= 160 * 50,
            "caller got {} samples bridged",
            to_caller.len()
        );
        // G.711 keeps the level within a few percent, so a wrong law (no
        // or double transcoding) shows up as a level error, and distortion
        // as energy outside the tone.
        let level = 8000.0 / 2f64.sqrt();
        assert!(
            (rms(&to_caller) / level - 1.0).abs() < 0.15,
            "caller hears rms {}",
            rms(&to_caller)
        );
        assert!(
            tone_share(&to_caller, 1000.0) > 0.95,
            "1 kHz share {}",
            tone_share(&to_caller, 1000.0)
        );
        assert!(
            tone_share(&to_caller, 440.0) < 0.05,
            "caller hears own echo"
        );
        assert!(agent_rx.iter().all(|r| r.pt == 8), "agent gets PCMA");
        let to_agent = concat(&agent_rx, settle, end);
        assert!(
            to_agent.len() >= 160 * 50,
            "agent got {} samples",
            to_agent.len()
        );
        assert!(
            (rms(&to_agent) / level - 1.0).abs() < 0.15,
            "agent hears rms {}",
            rms(&to_agent)
        );
        assert!(
            tone_share(&to_agent, 440.0) > 0.95,
            "440 share {}",
            tone_share(&to_agent, 440.0)
        );

        eprintln!(
            "to_caller: rms {:.0} 1k {:.3}; to_agent: rms {:.0} 440 {:.3}",
            rms(&to_caller),
            tone_share(&to_caller, 1000.0),
            rms(&to_agent),
            tone_share(&to_agent, 440.0)
        );
        // The recording: wall-clock length, left = caller, right = agent.
        assert_eq!(summary.path, wav_path);
        let mut r = hound::WavReader::open(&summary.path).unwrap();
        let spec = r.spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (2, 8000, 16)
        );
        let all: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
        let frames = all.len() as u64 / 2;
        let wav_ms = frames / 8;
        assert_eq!(summary.duration_ms, wav_ms);
        assert_eq!(summary.bytes, std::fs::metadata(&wav_path).unwrap().len());
        let wall_ms = wall.as_millis() as u64;
        assert!(
            wav_ms.abs_diff(wall_ms) * 10 <= wall_ms,
            "recording {wav_ms} ms vs wall {wall_ms} ms"
        );
        let left: Vec<i16> = all.iter().step_by(2).copied().collect();
        let right: Vec<i16> = all.iter().skip(1).step_by(2).copied().collect();
        let s = |d: Duration| (d.as_millis() as usize * 8).min(left.len());
        let (a, b) = (s(settle), s(end));
        assert!(
            tone_share(&left[a..b], 440.0) > 0.95,
            "left 440 share {}",
            tone_share(&left[a..b], 440.0)
        );
        assert!(
            (rms(&left[a..b]) / level - 1.0).abs() < 0.15,
            "left rms {}",
            rms(&left[a..b])
        );
        assert!(
            tone_share(&left[a..b], 1000.0) < 0.05,
            "agent leaks into left"
        );
        assert!(
            tone_share(&right[a..b], 1000.0) > 0.95,
            "right 1k share {}",
            tone_share(&right[a..b], 1000.0)
        );
        assert!(
            (rms(&right[a..b]) / level - 1.0).abs() < 0.15,
            "right rms {}",
            rms(&right[a..b])
        );
        assert!(
            tone_share(&right[a..b], 440.0) < 0.05,
            "caller leaks into right"
        );
        // Before the agent, the right channel holds what the caller heard.
        let p = &right[s(Duration::from_millis(150))..s(Duration::from_millis(500))];
        assert!(tone_share(p, 600.0) > 0.5, "prompt not in right channel");
        std::fs::remove_file(&wav_path).unwrap();
    }

    #[tokio::test]
    async fn latches_to_source_drops_junk_and_times_out() {
        let engine = engine().with_rtp_timeout(Duration::from_millis(400));
        let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let leg = engine.open_leg().await.unwrap();
        let ours = leg.local_rtp;
        // The SDP names a port nobody listens on (the phone is behind NAT).
        let offer = phone_offer(9, Codec::Pcma, false);
        let (_, media) = caller_sdp_answer(&engine, &leg, &offer, 1).unwrap();
        assert_eq!(media.telephone_event_pt, None);
        let (handle, mut events) = start_call_media(&engine, leg, media, None);

        let mut sender = RtpSender::new(7, 1, 1, Codec::Pcma.payload_type());
        let mut out = Vec::new();
        let junk: [&[u8]; 4] = [
            b"",
            b"\x80",
            b"hello world, not rtp",
            &[0x90, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff],
        ];
        let mut buf = [0u8; 1500];
        let mut heard = 0;
        for i in 0..25 {
            for j in junk {
                phone.send_to(j, ours).await.unwrap();
            }
            // A packet with an unsupported payload type (CN).
            let mut cn = Vec::new();
            RtpPacket::new(RtpHeader::new(13, i, 0, 7), &[40])
                .write_to_vec(&mut cn)
                .unwrap();
            phone.send_to(&cn, ours).await.unwrap();
            out.clear();
            sender.audio_packet(&[Codec::Pcma.silence_byte(); 160], &mut out);
            phone.send_to(&out, ours).await.unwrap();
            tokio::time::sleep(FRAME).await;
            while let Ok((n, _)) = phone.try_recv_from(&mut buf) {
                let p = RtpPacket::parse(&buf[..n]).unwrap();
                assert_eq!(p.header.payload_type, 8);
                heard += 1;
            }
        }
        // Symmetric RTP: our packets reach the phone despite the SDP port.
        assert!(heard >= 15, "phone heard {heard} packets");
        let stats = handle.stats().await.unwrap();
        assert_eq!(stats.caller.malformed, 25 * 4);
        assert_eq!(stats.caller.unexpected_pt, 25);
        assert_eq!(stats.caller.rtp_received, 25);
        assert_eq!(stats.caller.remote, Some(phone.local_addr().unwrap()));

        // Silence from the phone → one RtpTimeout.
        let ev = tokio::time::timeout(Duration::from_secs(2), events.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(
            matches!(
                ev,
                MediaEvent::RtpTimeout {
                    leg: LegRole::Caller
                }
            ),
            "{ev:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(events.try_recv().is_err(), "timeout reported once");
        assert!(handle.hangup().await.is_none(), "no recording requested");
    }

    #[tokio::test]
    async fn inband_dtmf_without_telephone_event() {
        let engine = engine();
        let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let leg = engine.open_leg().await.unwrap();
        let ours = leg.local_rtp;
        let offer = phone_offer(phone.local_addr().unwrap().port(), Codec::Pcmu, false);
        let (_, media) = caller_sdp_answer(&engine, &leg, &offer, 1).unwrap();
        assert_eq!(media.telephone_event_pt, None);
        let (handle, mut events) = start_call_media(&engine, leg, media, None);
        let mut sender = RtpSender::new(9, 1, 1, 0);
        let (mut out, mut enc) = (Vec::new(), [0u8; FRAME_SAMPLES]);
        let mut tick = tokio::time::interval(FRAME);
        // Silence, a 120 ms '5' (770 + 1336 Hz), silence.
        for n in 0..30u64 {
            tick.tick().await;
            let pcm: Vec<i16> = if (10..16).contains(&n) {
                tone(770.0, n * 160, 160, 5000.0)
                    .iter()
                    .zip(tone(1336.0, n * 160, 160, 5000.0))
                    .map(|(a, b)| a + b)
                    .collect()
            } else {
                vec![0; FRAME_SAMPLES]
            };
            Codec::Pcmu.encode(&pcm, &mut enc);
            out.clear();
            sender.audio_packet(&enc, &mut out);
            phone.send_to(&out, ours).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut digits = Vec::new();
        while let Ok(ev) = events.try_recv() {
            if let MediaEvent::Dtmf { leg, digit } = ev {
                assert_eq!(leg, LegRole::Caller);
                digits.push(digit);
            }
        }
        assert_eq!(digits, vec!['5']);
        handle.hangup().await;
    }

    #[tokio::test]
    async fn port_range_exhaustion_is_an_error() {
        let base = 45_000 + (std::process::id() % 500) as u16 * 4;
        let engine = MediaEngine::new(MediaConfig {
            bind_ip: "127.0.0.1".parse().unwrap(),
            port_min: base + 1,
            port_max: base + 4,
        });
        // Only base+2/base+3 is a full even/odd pair in [base+1, base+4].
        let a = engine.open_leg().await;
        let Ok(a) = a else {
            eprintln!("SKIP: port {} busy on this host", base + 2);
            return;
        };
        assert_eq!(a.local_rtp.port(), base + 2);
        let e = engine.open_leg().await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        drop(a);
        assert!(engine.open_leg().await.is_ok(), "port reused after release");
    }

    /// Print-only: CPU per recorded, bridged call. Each call's caller leg
    /// (PCMU) and agent leg (PCMA) send to each other, so every leg both
    /// receives and sends 50 packets/s, transcodes and records, and only
    /// the engine runs in the process.
    /// `cargo nextest run -p switchboard --bin switchboard --run-ignored only -E 'test(/media_cpu/)' --no-capture`
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn media_cpu_per_call() {
        /// (user, system) CPU time of this process.
        fn cpu() -> (Duration, Duration) {
            let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            let f: Vec<u64> = rest.split(' ').map(|x| x.parse().unwrap_or(0)).collect();
            // utime and stime (fields 14 and 15; 12 and 13 after the name).
            (
                Duration::from_millis(f[11] * 10),
                Duration::from_millis(f[12] * 10),
            )
        }
        fn media(codec: Codec, to: SocketAddr) -> NegotiatedMedia {
            NegotiatedMedia {
                codec,
                payload_type: codec.payload_type(),
                telephone_event_pt: Some(101),
                remote_rtp: to,
                remote_rtcp: SocketAddr::new(to.ip(), to.port() + 1),
                direction: sdp::Direction::SendRecv,
                remote_ptime: None,
            }
        }
        let calls: u32 = std::env::var("MEDIA_CPU_CALLS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(250);
        let engine = MediaEngine::new(MediaConfig {
            bind_ip: "127.0.0.1".parse().unwrap(),
            port_min: 20_000,
            port_max: 29_999,
        });
        let dir = std::env::temp_dir().join(format!("switchboard-cpu-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut handles = Vec::new();
        for i in 0..calls {
            let caller = engine.open_leg().await.unwrap();
            let agent = engine.open_leg().await.unwrap();
            let (c, a) = (caller.local_rtp, agent.local_rtp);
            let (h, ev) = start_call_media(
                &engine,
                caller,
                media(Codec::Pcmu, a),
                Some(dir.join(format!("{i}.wav"))),
            );
            h.attach_agent(agent, media(Codec::Pcma, c));
            handles.push((h, ev));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (c0, t0) = (cpu(), std::time::Instant::now());
        tokio::time::sleep(Duration::from_secs(10)).await;
        let (c1, t1) = (cpu(), std::time::Instant::now());
        let mut skipped = 0;
        let mut received = 0;
        for (h, _) in &handles {
            let st = h.stats().await.unwrap();
            skipped += st.skipped_frames;
            received += st.caller.rtp_received;
        }
        for (h, _) in &handles {
            h.hangup().await.unwrap();
        }
        let secs = (t1 - t0).as_secs_f64();
        let user = (c1.0 - c0.0).as_secs_f64() / secs;
        let sys = (c1.1 - c0.1).as_secs_f64() / secs;
        let used = user + sys;
        println!(
            "media_cpu_per_call: {calls} bridged recorded calls ({} legs, {} RTP packets/s in and out) \
             use {:.1}% of one core = {:.3}% per call; 500 calls ≈ {:.0}% of one core; \
             (user {:.1}%, system {:.1}%); skipped frames {skipped}, caller packets received {received}",
            calls * 2,
            calls * 2 * 50,
            used * 100.0,
            used * 100.0 / calls as f64,
            used * 100.0 * 500.0 / calls as f64,
            user * 100.0,
            sys * 100.0
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
