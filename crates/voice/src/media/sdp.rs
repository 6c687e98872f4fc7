//! SDP (RFC 4566) as SIP phones use it, and RFC 3264 offer/answer for our
//! G.711 + telephone-event media.
//!
//! Parsing is lenient (unknown lines are kept, `\n` or `\r\n`) because
//! real phones are sloppy; only what we need to route media is required.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use thiserror::Error;

use super::g711::Codec;

/// Why an SDP body could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    /// A line is not `<letter>=<value>`.
    #[error("line {0}: not a type=value line")]
    BadLine(usize),
    /// A known line has the wrong shape.
    #[error("line {line}: malformed {kind}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// Which field.
        kind: &'static str,
    },
    /// A required session line is absent.
    #[error("missing {0}= line")]
    Missing(char),
}

/// Why an offer/answer exchange failed; the SIP layer answers 488.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NegotiationError {
    /// No audio stream offers PCMU or PCMA over RTP/AVP.
    #[error("no common codec")]
    NoCommonCodec,
    /// The accepted stream has no usable connection address.
    #[error("no connection address for the audio stream")]
    NoConnection,
}

/// `o=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name, `-` when none.
    pub username: String,
    /// Session id (digits, kept as text because phones exceed u64).
    pub session_id: String,
    /// Session version.
    pub session_version: String,
    /// Network type (`IN`).
    pub net_type: String,
    /// `IP4` or `IP6`.
    pub addr_type: String,
    /// Address.
    pub address: String,
}

/// `c=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Network type (`IN`).
    pub net_type: String,
    /// `IP4` or `IP6`.
    pub addr_type: String,
    /// Address (possibly with `/ttl`).
    pub address: String,
}

impl Connection {
    /// `IN IP4/IP6 <addr>` for an IP.
    pub fn for_ip(ip: IpAddr) -> Self {
        Connection {
            net_type: "IN".into(),
            addr_type: if ip.is_ipv4() { "IP4" } else { "IP6" }.into(),
            address: ip.to_string(),
        }
    }

    /// The address as an IP, when it is one (multicast TTL suffix dropped).
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.split('/').next()?.parse().ok()
    }
}

/// Media direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Both ways (the default when absent).
    #[default]
    SendRecv,
    /// Sender only sends.
    SendOnly,
    /// Sender only receives.
    RecvOnly,
    /// No media (hold).
    Inactive,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    /// The direction to answer with (RFC 3264 §6.1).
    pub fn reversed(self) -> Self {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// Whether this side sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether this side receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// `a=rtpmap:<pt> <name>/<rate>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub payload_type: u8,
    /// Encoding name as written.
    pub encoding: String,
    /// Clock rate.
    pub clock_rate: u32,
    /// Channels (audio), when given.
    pub channels: Option<u32>,
}

/// Any other `a=` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Name before `:`.
    pub name: String,
    /// Value after `:`, if any.
    pub value: Option<String>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// `audio`, `video`, ...
    pub media: String,
    /// Port; 0 means the stream is rejected/disabled.
    pub port: u16,
    /// Optional `/<count>` after the port.
    pub port_count: Option<u16>,
    /// Transport, e.g. `RTP/AVP`.
    pub proto: String,
    /// Formats (payload types for RTP) in preference order.
    pub formats: Vec<String>,
    /// Media-level `c=`.
    pub connection: Option<Connection>,
    /// `a=rtpmap` lines.
    pub rtpmaps: Vec<RtpMap>,
    /// `a=fmtp:<pt> <params>` lines.
    pub fmtps: Vec<(u8, String)>,
    /// `a=ptime`.
    pub ptime: Option<u32>,
    /// Explicit direction attribute.
    pub direction: Option<Direction>,
    /// `a=rtcp:<port> [IN IP4 addr]`.
    pub rtcp: Option<(u16, Option<Connection>)>,
    /// Other attributes, in order.
    pub attributes: Vec<Attribute>,
    /// Other lines (`i=`, `b=`, `k=`) as (type, value).
    pub other_lines: Vec<(char, String)>,
}

impl MediaDescription {
    /// A section with no attributes.
    pub fn new(media: &str, port: u16, proto: &str, formats: Vec<String>) -> Self {
        MediaDescription {
            media: media.into(),
            port,
            port_count: None,
            proto: proto.into(),
            formats,
            connection: None,
            rtpmaps: Vec::new(),
            fmtps: Vec::new(),
            ptime: None,
            direction: None,
            rtcp: None,
            attributes: Vec::new(),
            other_lines: Vec::new(),
        }
    }

    /// The rtpmap for a payload type.
    pub fn rtpmap(&self, pt: u8) -> Option<&RtpMap> {
        self.rtpmaps.iter().find(|m| m.payload_type == pt)
    }

    /// The fmtp parameters for a payload type.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.fmtps
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, s)| s.as_str())
    }

    /// Payload types (formats that are numbers 0–127), in order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .filter(|p| *p < 128)
    }

    /// Which G.711 codec a payload type denotes here: via rtpmap when
    /// present, else by the RFC 3551 static assignment.
    pub fn codec_of(&self, pt: u8) -> Option<Codec> {
        match self.rtpmap(pt) {
            Some(m) => {
                let mono = m.channels.is_none_or(|c| c == 1);
                if m.clock_rate != 8000 || !mono {
                    return None;
                }
                [Codec::Pcmu, Codec::Pcma]
                    .into_iter()
                    .find(|c| m.encoding.eq_ignore_ascii_case(c.encoding_name()))
            }
            None => Codec::from_payload_type(pt),
        }
    }

    /// The telephone-event/8000 payload type, if offered.
    pub fn telephone_event_pt(&self) -> Option<u8> {
        self.payload_types().find(|&pt| {
            self.rtpmap(pt).is_some_and(|m| {
                m.encoding.eq_ignore_ascii_case("telephone-event") && m.clock_rate == 8000
            })
        })
    }
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`.
    pub origin: Origin,
    /// `s=`.
    pub session_name: String,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// `t=` start/stop.
    pub timing: (u64, u64),
    /// Session-level direction attribute.
    pub direction: Option<Direction>,
    /// Other session-level attributes.
    pub attributes: Vec<Attribute>,
    /// Other session-level lines (`i=`, `u=`, `b=`, ...).
    pub other_lines: Vec<(char, String)>,
    /// Media sections.
    pub media: Vec<MediaDescription>,
}

fn malformed(line: usize, kind: &'static str) -> SdpError {
    SdpError::Malformed { line, kind }
}

fn parse_connection(v: &str, line: usize) -> Result<Connection, SdpError> {
    let mut it = v.split_ascii_whitespace();
    match (it.next(), it.next(), it.next()) {
        (Some(n), Some(a), Some(addr)) => Ok(Connection {
            net_type: n.into(),
            addr_type: a.into(),
            address: addr.into(),
        }),
        _ => Err(malformed(line, "c=")),
    }
}

impl SessionDescription {
    /// Parses an SDP body. Never panics; unknown lines are kept.
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        let mut origin = None;
        let mut session_name = String::new();
        let mut connection = None;
        let mut timing = (0, 0);
        let mut direction = None;
        let mut attributes = Vec::new();
        let mut other_lines = Vec::new();
        let mut media: Vec<MediaDescription> = Vec::new();
        let mut saw_version = false;

        for (idx, raw) in text.lines().enumerate() {
            let line = idx + 1;
            let raw = raw.trim_end_matches('\r');
            if raw.trim().is_empty() {
                continue;
            }
            let mut chars = raw.chars();
            let (Some(kind), Some('=')) = (chars.next(), chars.next()) else {
                return Err(SdpError::BadLine(line));
            };
            let value = chars.as_str().trim();
            match kind {
                'v' => {
                    if value != "0" {
                        return Err(malformed(line, "v="));
                    }
                    saw_version = true;
                }
                'o' => {
                    let f: Vec<&str> = value.split_ascii_whitespace().collect();
                    let [u, id, ver, n, a, addr] = f[..] else {
                        return Err(malformed(line, "o="));
                    };
                    origin = Some(Origin {
                        username: u.into(),
                        session_id: id.into(),
                        session_version: ver.into(),
                        net_type: n.into(),
                        addr_type: a.into(),
                        address: addr.into(),
                    });
                }
                's' => session_name = value.into(),
                't' => {
                    let mut it = value.split_ascii_whitespace().map(str::parse::<u64>);
                    match (it.next(), it.next()) {
                        (Some(Ok(a)), Some(Ok(b))) => timing = (a, b),
                        _ => return Err(malformed(line, "t=")),
                    }
                }
                'm' => {
                    let mut it = value.split_ascii_whitespace();
                    let (Some(m), Some(port), Some(proto)) = (it.next(), it.next(), it.next())
                    else {
                        return Err(malformed(line, "m="));
                    };
                    let (port, count) = match port.split_once('/') {
                        Some((p, c)) => {
                            (p, Some(c.parse().map_err(|_| malformed(line, "m= port"))?))
                        }
                        None => (port, None),
                    };
                    let port = port.parse().map_err(|_| malformed(line, "m= port"))?;
                    let mut md =
                        MediaDescription::new(m, port, proto, it.map(String::from).collect());
                    md.port_count = count;
                    media.push(md);
                }
                'c' => {
                    let c = parse_connection(value, line)?;
                    match media.last_mut() {
                        Some(m) => m.connection = Some(c),
                        None => connection = Some(c),
                    }
                }
                'a' => {
                    let (name, val) = match value.split_once(':') {
                        Some((n, v)) => (n, Some(v.trim())),
                        None => (value, None),
                    };
                    if let Some(d) = Direction::parse(name) {
                        match media.last_mut() {
                            Some(m) => m.direction = Some(d),
                            None => direction = Some(d),
                        }
                        continue;
                    }
                    let attr = Attribute {
                        name: name.into(),
                        value: val.map(String::from),
                    };
                    match media.last_mut() {
                        Some(m) => parse_media_attribute(m, attr, line)?,
                        None => attributes.push(attr),
                    }
                }
                k => {
                    let entry = (k, value.to_string());
                    match media.last_mut() {
                        Some(m) => m.other_lines.push(entry),
                        None => other_lines.push(entry),
                    }
                }
            }
        }
        if !saw_version {
            return Err(SdpError::Missing('v'));
        }
        let origin = origin.ok_or(SdpError::Missing('o'))?;
        Ok(SessionDescription {
            origin,
            session_name,
            connection,
            timing,
            direction,
            attributes,
            other_lines,
            media,
        })
    }

    /// The effective connection of a media section (media-level wins).
    pub fn connection_for<'a>(&'a self, media: &'a MediaDescription) -> Option<&'a Connection> {
        media.connection.as_ref().or(self.connection.as_ref())
    }

    /// The effective direction of a media section.
    pub fn direction_for(&self, media: &MediaDescription) -> Direction {
        media.direction.or(self.direction).unwrap_or_default()
    }

    /// Serialises with CRLF line endings, in RFC 4566 field order.
    pub fn to_sdp_string(&self) -> String {
        let mut s = String::with_capacity(256);
        let o = &self.origin;
        // Writing to a String cannot fail.
        let _ = write!(
            s,
            "v=0\r\no={} {} {} {} {} {}\r\ns={}\r\n",
            o.username,
            o.session_id,
            o.session_version,
            o.net_type,
            o.addr_type,
            o.address,
            if self.session_name.is_empty() {
                "-"
            } else {
                &self.session_name
            }
        );
        let lines = |s: &mut String, ls: &[(char, String)], keys: &str| {
            for (k, v) in ls.iter().filter(|(k, _)| keys.contains(*k)) {
                let _ = write!(s, "{k}={v}\r\n");
            }
        };
        lines(&mut s, &self.other_lines, "iue");
        lines(&mut s, &self.other_lines, "p");
        if let Some(c) = &self.connection {
            let _ = write!(s, "c={} {} {}\r\n", c.net_type, c.addr_type, c.address);
        }
        lines(&mut s, &self.other_lines, "b");
        let _ = write!(s, "t={} {}\r\n", self.timing.0, self.timing.1);
        lines(&mut s, &self.other_lines, "rzk");
        for a in &self.attributes {
            write_attr(&mut s, a);
        }
        if let Some(d) = self.direction {
            let _ = write!(s, "a={}\r\n", d.as_str());
        }
        for m in &self.media {
            let _ = write!(s, "m={} {}", m.media, m.port);
            if let Some(c) = m.port_count {
                let _ = write!(s, "/{c}");
            }
            let _ = write!(s, " {}", m.proto);
            for f in &m.formats {
                let _ = write!(s, " {f}");
            }
            s.push_str("\r\n");
            lines(&mut s, &m.other_lines, "i");
            if let Some(c) = &m.connection {
                let _ = write!(s, "c={} {} {}\r\n", c.net_type, c.addr_type, c.address);
            }
            lines(&mut s, &m.other_lines, "b");
            lines(&mut s, &m.other_lines, "k");
            for r in &m.rtpmaps {
                let _ = write!(
                    s,
                    "a=rtpmap:{} {}/{}",
                    r.payload_type, r.encoding, r.clock_rate
                );
                if let Some(ch) = r.channels {
                    let _ = write!(s, "/{ch}");
                }
                s.push_str("\r\n");
            }
            for (pt, p) in &m.fmtps {
                let _ = write!(s, "a=fmtp:{pt} {p}\r\n");
            }
            if let Some(p) = m.ptime {
                let _ = write!(s, "a=ptime:{p}\r\n");
            }
            if let Some((port, c)) = &m.rtcp {
                let _ = write!(s, "a=rtcp:{port}");
                if let Some(c) = c {
                    let _ = write!(s, " {} {} {}", c.net_type, c.addr_type, c.address);
                }
                s.push_str("\r\n");
            }
            for a in &m.attributes {
                write_attr(&mut s, a);
            }
            if let Some(d) = m.direction {
                let _ = write!(s, "a={}\r\n", d.as_str());
            }
        }
        s
    }
}

fn write_attr(s: &mut String, a: &Attribute) {
    let _ = match &a.value {
        Some(v) => write!(s, "a={}:{}\r\n", a.name, v),
        None => write!(s, "a={}\r\n", a.name),
    };
}

fn parse_media_attribute(
    m: &mut MediaDescription,
    attr: Attribute,
    line: usize,
) -> Result<(), SdpError> {
    let val = attr.value.as_deref().unwrap_or("");
    match attr.name.as_str() {
        "rtpmap" => {
            let (pt, rest) = val.split_once(' ').ok_or(malformed(line, "rtpmap"))?;
            let pt = pt.parse().map_err(|_| malformed(line, "rtpmap"))?;
            let mut parts = rest.trim().split('/');
            let encoding = parts.next().unwrap_or_default().to_string();
            let clock_rate = parts
                .next()
                .and_then(|r| r.parse().ok())
                .ok_or(malformed(line, "rtpmap"))?;
            let channels = match parts.next() {
                Some(c) => Some(c.parse().map_err(|_| malformed(line, "rtpmap"))?),
                None => None,
            };
            m.rtpmaps.push(RtpMap {
                payload_type: pt,
                encoding,
                clock_rate,
                channels,
            });
        }
        "fmtp" => {
            let (pt, rest) = val.split_once(' ').unwrap_or((val, ""));
            match pt.parse() {
                Ok(pt) => m.fmtps.push((pt, rest.trim().to_string())),
                // Non-RTP formats may have non-numeric fmtp; keep verbatim.
                Err(_) => m.attributes.push(attr),
            }
        }
        "ptime" => m.ptime = Some(val.parse().map_err(|_| malformed(line, "ptime"))?),
        "rtcp" => {
            let mut it = val.split_ascii_whitespace();
            let port = it
                .next()
                .and_then(|p| p.parse().ok())
                .ok_or(malformed(line, "rtcp"))?;
            let rest: Vec<&str> = it.collect();
            let conn = match rest[..] {
                [] => None,
                _ => Some(parse_connection(&rest.join(" "), line)?),
            };
            m.rtcp = Some((port, conn));
        }
        _ => m.attributes.push(attr),
    }
    Ok(())
}

/// What we put in our SDP and are willing to receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Address for `o=` and `c=`.
    pub address: IpAddr,
    /// Our RTP port.
    pub rtp_port: u16,
    /// Session id for `o=` (the caller picks a random one per dialog).
    pub session_id: u64,
    /// Session version; bump on every re-offer.
    pub session_version: u64,
    /// Supported codecs, our preference order for offers.
    pub codecs: Vec<Codec>,
    /// Payload type we offer for telephone-event; `None` disables DTMF.
    pub telephone_event_pt: Option<u8>,
    /// Direction we want (`SendRecv` normally, `SendOnly` to hold).
    pub direction: Direction,
}

impl LocalMedia {
    /// PCMU, PCMA and telephone-event on PT 101, sendrecv.
    pub fn new(address: IpAddr, rtp_port: u16, session_id: u64) -> Self {
        LocalMedia {
            address,
            rtp_port,
            session_id,
            session_version: session_id,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event_pt: Some(101),
            direction: Direction::SendRecv,
        }
    }

    fn session(&self, media: Vec<MediaDescription>) -> SessionDescription {
        SessionDescription {
            origin: Origin {
                username: "switchboard".into(),
                session_id: self.session_id.to_string(),
                session_version: self.session_version.to_string(),
                net_type: "IN".into(),
                addr_type: if self.address.is_ipv4() { "IP4" } else { "IP6" }.into(),
                address: self.address.to_string(),
            },
            session_name: "switchboard".into(),
            connection: Some(Connection::for_ip(self.address)),
            timing: (0, 0),
            direction: None,
            attributes: Vec::new(),
            other_lines: Vec::new(),
            media,
        }
    }
}

/// The media parameters agreed for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiatedMedia {
    /// Audio codec.
    pub codec: Codec,
    /// Payload type for audio (static 0/8 in practice, but honour rtpmap).
    pub payload_type: u8,
    /// Payload type for RFC 4733 events, when both sides support them.
    pub telephone_event_pt: Option<u8>,
    /// Where to send RTP.
    pub remote_rtp: SocketAddr,
    /// Where to send RTCP (explicit `a=rtcp` or RTP port + 1).
    pub remote_rtcp: SocketAddr,
    /// Our direction (what we may do).
    pub direction: Direction,
    /// Remote's requested packetisation, if stated.
    pub remote_ptime: Option<u32>,
}

fn is_rtp_avp(m: &MediaDescription) -> bool {
    m.proto.eq_ignore_ascii_case("RTP/AVP")
}

fn negotiated_for(
    sdp: &SessionDescription,
    m: &MediaDescription,
    codec: Codec,
    pt: u8,
    te: Option<u8>,
    direction: Direction,
) -> Result<NegotiatedMedia, NegotiationError> {
    let ip = sdp
        .connection_for(m)
        .and_then(Connection::ip)
        .ok_or(NegotiationError::NoConnection)?;
    let rtcp = match &m.rtcp {
        Some((port, c)) => {
            SocketAddr::new(c.as_ref().and_then(Connection::ip).unwrap_or(ip), *port)
        }
        None => SocketAddr::new(ip, m.port.wrapping_add(1)),
    };
    Ok(NegotiatedMedia {
        codec,
        payload_type: pt,
        telephone_event_pt: te,
        remote_rtp: SocketAddr::new(ip, m.port),
        remote_rtcp: rtcp,
        direction,
        remote_ptime: m.ptime,
    })
}

/// Builds our answer to a remote offer (RFC 3264 §6): the first audio
/// stream over RTP/AVP is accepted with the first codec in the offerer's
/// order that we support; every other stream is rejected with port 0.
/// `Err(NoCommonCodec)` means the SIP layer must answer 488.
pub fn answer(
    offer: &SessionDescription,
    local: &LocalMedia,
) -> Result<(SessionDescription, NegotiatedMedia), NegotiationError> {
    let mut accepted: Option<NegotiatedMedia> = None;
    let mut out = Vec::with_capacity(offer.media.len());
    for m in &offer.media {
        let pick = if accepted.is_none() && m.media == "audio" && m.port != 0 && is_rtp_avp(m) {
            m.payload_types().find_map(|pt| {
                m.codec_of(pt)
                    .filter(|c| local.codecs.contains(c))
                    .map(|c| (pt, c))
            })
        } else {
            None
        };
        let Some((pt, codec)) = pick else {
            // Rejected streams echo the formats (at least one is required).
            out.push(MediaDescription::new(
                &m.media,
                0,
                &m.proto,
                m.formats.clone(),
            ));
            continue;
        };
        let te = local.telephone_event_pt.and(m.telephone_event_pt());
        let remote_dir = offer.direction_for(m);
        let mut dir = remote_dir.reversed();
        // We never send more than the offer allows, nor more than we want.
        dir = intersect(dir, local.direction);
        accepted = Some(negotiated_for(offer, m, codec, pt, te, dir)?);

        let mut md = MediaDescription::new("audio", local.rtp_port, &m.proto, vec![pt.to_string()]);
        md.rtpmaps.push(RtpMap {
            payload_type: pt,
            encoding: codec.encoding_name().into(),
            clock_rate: 8000,
            channels: None,
        });
        if let Some(te) = te {
            md.formats.push(te.to_string());
            md.rtpmaps.push(RtpMap {
                payload_type: te,
                encoding: "telephone-event".into(),
                clock_rate: 8000,
                channels: None,
            });
            // Echo the offerer's event list: it is what both ends agreed on.
            md.fmtps.push((te, m.fmtp(te).unwrap_or("0-16").into()));
        }
        md.ptime = Some(20);
        md.direction = Some(dir);
        out.push(md);
    }
    let negotiated = accepted.ok_or(NegotiationError::NoCommonCodec)?;
    Ok((local.session(out), negotiated))
}

fn intersect(a: Direction, b: Direction) -> Direction {
    let send = a.sends() && b.sends();
    let recv = a.receives() && b.receives();
    match (send, recv) {
        (true, true) => Direction::SendRecv,
        (true, false) => Direction::SendOnly,
        (false, true) => Direction::RecvOnly,
        (false, false) => Direction::Inactive,
    }
}

/// Builds our offer for an outbound call: one audio stream with our codecs
/// in preference order and telephone-event.
pub fn offer(local: &LocalMedia) -> SessionDescription {
    let mut md = MediaDescription::new("audio", local.rtp_port, "RTP/AVP", Vec::new());
    for c in &local.codecs {
        md.formats.push(c.payload_type().to_string());
        md.rtpmaps.push(RtpMap {
            payload_type: c.payload_type(),
            encoding: c.encoding_name().into(),
            clock_rate: 8000,
            channels: None,
        });
    }
    if let Some(te) = local.telephone_event_pt {
        md.formats.push(te.to_string());
        md.rtpmaps.push(RtpMap {
            payload_type: te,
            encoding: "telephone-event".into(),
            clock_rate: 8000,
            channels: None,
        });
        md.fmtps.push((te, "0-16".into()));
    }
    md.ptime = Some(20);
    md.direction = Some(local.direction);
    local.session(vec![md])
}

/// Reads the remote answer to our offer: the first accepted audio stream
/// and the first of its codecs that we offered.
pub fn accept_answer(
    answer: &SessionDescription,
    local: &LocalMedia,
) -> Result<NegotiatedMedia, NegotiationError> {
    for m in &answer.media {
        if m.media != "audio" || m.port == 0 || !is_rtp_avp(m) {
            continue;
        }
        let Some((pt, codec)) = m.payload_types().find_map(|pt| {
            m.codec_of(pt)
                .filter(|c| local.codecs.contains(c))
                .map(|c| (pt, c))
        }) else {
            continue;
        };
        let te = local.telephone_event_pt.and(m.telephone_event_pt());
        let dir = intersect(answer.direction_for(m).reversed(), local.direction);
        return negotiated_for(answer, m, codec, pt, te, dir);
    }
    Err(NegotiationError::NoCommonCodec)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// SIPp's built-in `uac` scenario body, after keyword substitution.
    const SIPP_UAC: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    /// SIPp's `uac_pcap` scenario (PCMA + telephone-event 101).
    const SIPP_PCAP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

    /// baresip 3.x default offer: opus first, G.722, then G.711 and DTMF.
    const BARESIP: &str = "v=0\r
o=- 1866302455 3457812003 IN IP4 192.168.1.23\r
s=-\r
c=IN IP4 192.168.1.23\r
t=0 0\r
a=tool:baresip 3.10.1\r
m=audio 10034 RTP/AVP 96 9 0 8 101\r
b=AS:64\r
a=rtpmap:96 opus/48000/2\r
a=fmtp:96 stereo=1;sprop-stereo=1\r
a=rtpmap:9 G722/8000\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-15\r
a=rtcp:10035\r
a=sendrecv\r
a=label:1\r
a=ssrc:2919384832 cname:b2d9a0f6-6a8e-4f8a\r
a=rtcp-rsize\r
a=ptime:20\r
m=video 10036 RTP/AVP 97\r
a=rtpmap:97 H264/90000\r
";

    fn local() -> LocalMedia {
        LocalMedia::new("203.0.113.7".parse().unwrap(), 20000, 42)
    }

    #[test]
    fn parses_sipp_offer_and_answers_pcmu() {
        let sdp = SessionDescription::parse(SIPP_UAC).unwrap();
        assert_eq!(sdp.origin.session_id, "53655765");
        assert_eq!(sdp.media[0].formats, vec!["0"]);
        let (ans, neg) = answer(&sdp, &local()).unwrap();
        assert_eq!(neg.codec, Codec::Pcmu);
        assert_eq!(neg.payload_type, 0);
        assert_eq!(neg.telephone_event_pt, None);
        assert_eq!(neg.remote_rtp, "127.0.0.1:6000".parse().unwrap());
        assert_eq!(neg.remote_rtcp, "127.0.0.1:6001".parse().unwrap());
        let text = ans.to_sdp_string();
        assert!(text.contains("m=audio 20000 RTP/AVP 0\r\n"), "{text}");
        assert!(text.contains("c=IN IP4 203.0.113.7\r\n"));
        assert!(text.contains("a=rtpmap:0 PCMU/8000\r\n"));
        assert!(!text.contains("telephone-event"));
        assert!(text.ends_with("a=sendrecv\r\n"));
    }

    #[test]
    fn sipp_pcap_offer_echoes_telephone_event_101() {
        let sdp = SessionDescription::parse(SIPP_PCAP).unwrap();
        let (ans, neg) = answer(&sdp, &local()).unwrap();
        assert_eq!(
            (neg.codec, neg.payload_type, neg.telephone_event_pt),
            (Codec::Pcma, 8, Some(101))
        );
        let text = ans.to_sdp_string();
        assert!(text.contains("m=audio 20000 RTP/AVP 8 101\r\n"), "{text}");
        assert!(text.contains("a=rtpmap:101 telephone-event/8000\r\n"));
        assert!(text.contains("a=fmtp:101 0-11,16\r\n"));
    }

    #[test]
    fn baresip_offer_picks_pcmu_and_rejects_video() {
        let sdp = SessionDescription::parse(BARESIP).unwrap();
        let audio = &sdp.media[0];
        assert_eq!(audio.rtpmap(96).unwrap().channels, Some(2));
        assert_eq!(audio.fmtp(101), Some("0-15"));
        assert_eq!(audio.rtcp, Some((10035, None)));
        assert_eq!(audio.ptime, Some(20));
        assert_eq!(audio.other_lines, vec![('b', "AS:64".to_string())]);
        let (ans, neg) = answer(&sdp, &local()).unwrap();
        assert_eq!(
            (neg.codec, neg.payload_type, neg.telephone_event_pt),
            (Codec::Pcmu, 0, Some(101))
        );
        assert_eq!(neg.remote_rtcp, "192.168.1.23:10035".parse().unwrap());
        assert_eq!(ans.media.len(), 2, "one answer m-line per offered m-line");
        assert_eq!(ans.media[1].port, 0);
        assert_eq!(ans.media[1].formats, vec!["97"]);
        // Our answer parses back to the same structure.
        assert_eq!(
            SessionDescription::parse(&ans.to_sdp_string()).unwrap(),
            ans
        );
    }

    #[test]
    fn codec_preference_follows_offerer_and_our_support() {
        let sdp =
            SessionDescription::parse(&BARESIP.replace("96 9 0 8 101", "96 9 8 0 101")).unwrap();
        assert_eq!(answer(&sdp, &local()).unwrap().1.codec, Codec::Pcma);
        let mut only_pcmu = local();
        only_pcmu.codecs = vec![Codec::Pcmu];
        assert_eq!(answer(&sdp, &only_pcmu).unwrap().1.codec, Codec::Pcmu);
        // A dynamic PT mapped to PCMU counts as PCMU.
        let dyn_pt = SIPP_UAC
            .replace("RTP/AVP 0", "RTP/AVP 98")
            .replace("rtpmap:0", "rtpmap:98");
        let neg = answer(&SessionDescription::parse(&dyn_pt).unwrap(), &local())
            .unwrap()
            .1;
        assert_eq!((neg.codec, neg.payload_type), (Codec::Pcmu, 98));
    }

    #[test]
    fn no_common_codec_is_a_typed_error() {
        let opus_only = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n";
        let sdp = SessionDescription::parse(opus_only).unwrap();
        assert_eq!(
            answer(&sdp, &local()).unwrap_err(),
            NegotiationError::NoCommonCodec
        );
        // PCMU offered only over SRTP is not usable either.
        let srtp = SIPP_UAC.replace("RTP/AVP", "RTP/SAVP");
        assert_eq!(
            answer(&SessionDescription::parse(&srtp).unwrap(), &local()).unwrap_err(),
            NegotiationError::NoCommonCodec
        );
        // PCMU at the wrong clock rate is not PCMU.
        let odd = SIPP_UAC.replace("PCMU/8000", "PCMU/16000");
        assert!(answer(&SessionDescription::parse(&odd).unwrap(), &local()).is_err());
    }

    #[test]
    fn hold_directions_are_reversed() {
        let held = SIPP_PCAP.to_string() + "a=sendonly\r\n";
        let (ans, neg) = answer(&SessionDescription::parse(&held).unwrap(), &local()).unwrap();
        assert_eq!(neg.direction, Direction::RecvOnly);
        assert!(ans.to_sdp_string().contains("a=recvonly\r\n"));
        let inactive = SIPP_PCAP.replace("t=0 0\r\n", "t=0 0\r\na=inactive\r\n");
        assert_eq!(
            answer(&SessionDescription::parse(&inactive).unwrap(), &local())
                .unwrap()
                .1
                .direction,
            Direction::Inactive
        );
    }

    #[test]
    fn offer_and_accept_answer() {
        let l = local();
        let o = offer(&l);
        let text = o.to_sdp_string();
        assert!(text.starts_with("v=0\r\no=switchboard 42 42 IN IP4 203.0.113.7\r\ns=switchboard\r\nc=IN IP4 203.0.113.7\r\nt=0 0\r\n"), "{text}");
        assert!(text.contains("m=audio 20000 RTP/AVP 0 8 101\r\n"));
        // A phone answering our offer with PCMA only, LF line endings.
        let remote = "v=0\no=- 5 5 IN IP4 10.1.1.1\ns=-\nc=IN IP4 10.1.1.1\nt=0 0\nm=audio 7078 RTP/AVP 8 101\na=rtpmap:101 telephone-event/8000\n";
        let neg = accept_answer(&SessionDescription::parse(remote).unwrap(), &l).unwrap();
        assert_eq!(
            (neg.codec, neg.telephone_event_pt),
            (Codec::Pcma, Some(101))
        );
        assert_eq!(neg.remote_rtp, "10.1.1.1:7078".parse().unwrap());
        let rejected = remote.replace("7078", "0");
        assert!(accept_answer(&SessionDescription::parse(&rejected).unwrap(), &l).is_err());
    }

    #[test]
    fn malformed_inputs_are_errors() {
        assert_eq!(
            SessionDescription::parse("hello"),
            Err(SdpError::BadLine(1))
        );
        assert_eq!(
            SessionDescription::parse("v=0\r\ns=-\r\n"),
            Err(SdpError::Missing('o'))
        );
        assert!(matches!(
            SessionDescription::parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n"),
            Err(SdpError::Malformed { line: 3, .. })
        ));
        let no_c = SIPP_UAC.replace("c=IN IP4 127.0.0.1\r\n", "");
        assert_eq!(
            answer(&SessionDescription::parse(&no_c).unwrap(), &local()).unwrap_err(),
            NegotiationError::NoConnection
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,300}") {
            let _ = SessionDescription::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_sdp_like_text(
            lines in proptest::collection::vec("[vosctmab]=[ -~]{0,40}", 0..20)
        ) {
            let text = lines.join("\r\n");
            if let Ok(sdp) = SessionDescription::parse(&text) {
                let _ = answer(&sdp, &local());
                let _ = sdp.to_sdp_string();
            }
        }
    }
}
