//! RTP packets (RFC 3550 §5) and just enough RTCP (§6) to recognise and
//! ignore what phones send and to emit our own SR/RR.
//!
//! Parsing borrows from the datagram and never allocates or panics, because
//! it runs on every packet arriving on a public UDP port.

use thiserror::Error;

/// Fixed RTP header length without CSRCs.
pub const RTP_HEADER_LEN: usize = 12;
/// RTP clock ticks per 20 ms frame at 8 kHz.
pub const SAMPLES_PER_FRAME: u32 = 160;
const MAX_CSRC: usize = 15;

/// Why a datagram is not a valid RTP or RTCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Shorter than the header it claims to have.
    #[error("packet truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes required.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// Version field is not 2.
    #[error("unsupported RTP version {0}")]
    BadVersion(u8),
    /// Padding count is zero or larger than the payload.
    #[error("invalid padding length")]
    BadPadding,
    /// More than 15 CSRCs were given when building a header.
    #[error("too many CSRCs")]
    TooManyCsrcs,
    /// Extension data must be a whole number of 32-bit words.
    #[error("extension length not a multiple of 4")]
    BadExtension,
    /// Output buffer too small when serialising.
    #[error("output buffer too small: need {0} bytes")]
    BufferTooSmall(usize),
}

/// The header fields of an RTP packet; CSRCs are stored inline so building
/// and parsing never allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit (start of talkspurt / first packet of a DTMF event).
    pub marker: bool,
    /// 7-bit payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp in codec clock ticks.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    csrc_count: u8,
    csrc: [u32; MAX_CSRC],
}

impl RtpHeader {
    /// A header without CSRCs.
    pub fn new(payload_type: u8, sequence: u16, timestamp: u32, ssrc: u32) -> Self {
        RtpHeader {
            marker: false,
            payload_type: payload_type & 0x7F,
            sequence,
            timestamp,
            ssrc,
            csrc_count: 0,
            csrc: [0; MAX_CSRC],
        }
    }

    /// Replaces the contributing sources (at most 15).
    pub fn set_csrcs(&mut self, csrcs: &[u32]) -> Result<(), RtpError> {
        if csrcs.len() > MAX_CSRC {
            return Err(RtpError::TooManyCsrcs);
        }
        self.csrc = [0; MAX_CSRC];
        self.csrc[..csrcs.len()].copy_from_slice(csrcs);
        self.csrc_count = csrcs.len() as u8;
        Ok(())
    }

    /// The contributing sources.
    pub fn csrcs(&self) -> &[u32] {
        &self.csrc[..self.csrc_count as usize]
    }
}

/// A header extension (RFC 3550 §5.3.1): profile-defined 16 bits plus data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpExtension<'a> {
    /// Profile-specific identifier (0xBEDE for RFC 8285 one-byte headers).
    pub profile: u16,
    /// Extension body; length is a multiple of 4.
    pub data: &'a [u8],
}

/// A parsed (or to-be-serialised) RTP packet borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Header fields.
    pub header: RtpHeader,
    /// Optional header extension.
    pub extension: Option<RtpExtension<'a>>,
    /// Media payload with padding removed.
    pub payload: &'a [u8],
    /// Padding octets after the payload including the count octet; 0 = none.
    pub padding: u8,
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn need(buf: &[u8], n: usize) -> Result<(), RtpError> {
    if buf.len() < n {
        Err(RtpError::Truncated {
            need: n,
            have: buf.len(),
        })
    } else {
        Ok(())
    }
}

impl<'a> RtpPacket<'a> {
    /// A plain packet: header plus payload, no extension or padding.
    pub fn new(header: RtpHeader, payload: &'a [u8]) -> Self {
        RtpPacket {
            header,
            extension: None,
            payload,
            padding: 0,
        }
    }

    /// Parses one RTP packet. Never panics, whatever the input.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        need(buf, RTP_HEADER_LEN)?;
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = buf[0] & 0x20 != 0;
        let has_ext = buf[0] & 0x10 != 0;
        let cc = (buf[0] & 0x0F) as usize;
        let mut header = RtpHeader::new(buf[1] & 0x7F, be16(buf, 2), be32(buf, 4), be32(buf, 8));
        header.marker = buf[1] & 0x80 != 0;
        let mut at = RTP_HEADER_LEN;
        need(buf, at + 4 * cc)?;
        for i in 0..cc {
            header.csrc[i] = be32(buf, at);
            at += 4;
        }
        header.csrc_count = cc as u8;
        let extension = if has_ext {
            need(buf, at + 4)?;
            let profile = be16(buf, at);
            let words = be16(buf, at + 2) as usize;
            at += 4;
            need(buf, at + 4 * words)?;
            let data = &buf[at..at + 4 * words];
            at += 4 * words;
            Some(RtpExtension { profile, data })
        } else {
            None
        };
        let mut end = buf.len();
        let mut padding = 0u8;
        if has_padding {
            padding = buf[end - 1];
            if padding == 0 || padding as usize > end - at {
                return Err(RtpError::BadPadding);
            }
            end -= padding as usize;
        }
        Ok(RtpPacket {
            header,
            extension,
            payload: &buf[at..end],
            padding,
        })
    }

    /// Bytes [`Self::write`] will produce.
    pub fn encoded_len(&self) -> usize {
        RTP_HEADER_LEN
            + 4 * self.header.csrc_count as usize
            + self.extension.map_or(0, |e| 4 + e.data.len())
            + self.payload.len()
            + self.padding as usize
    }

    /// Serialises into `out`, returning the number of bytes written.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RtpError> {
        let len = self.encoded_len();
        if out.len() < len {
            return Err(RtpError::BufferTooSmall(len));
        }
        if let Some(ext) = &self.extension
            && (!ext.data.len().is_multiple_of(4) || ext.data.len() / 4 > u16::MAX as usize)
        {
            return Err(RtpError::BadExtension);
        }
        let h = &self.header;
        out[0] = 0x80
            | if self.padding > 0 { 0x20 } else { 0 }
            | if self.extension.is_some() { 0x10 } else { 0 }
            | h.csrc_count;
        out[1] = (h.payload_type & 0x7F) | if h.marker { 0x80 } else { 0 };
        out[2..4].copy_from_slice(&h.sequence.to_be_bytes());
        out[4..8].copy_from_slice(&h.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&h.ssrc.to_be_bytes());
        let mut at = RTP_HEADER_LEN;
        for c in h.csrcs() {
            out[at..at + 4].copy_from_slice(&c.to_be_bytes());
            at += 4;
        }
        if let Some(ext) = &self.extension {
            out[at..at + 2].copy_from_slice(&ext.profile.to_be_bytes());
            out[at + 2..at + 4].copy_from_slice(&((ext.data.len() / 4) as u16).to_be_bytes());
            at += 4;
            out[at..at + ext.data.len()].copy_from_slice(ext.data);
            at += ext.data.len();
        }
        out[at..at + self.payload.len()].copy_from_slice(self.payload);
        at += self.payload.len();
        if self.padding > 0 {
            let p = self.padding as usize;
            out[at..at + p - 1].fill(0);
            out[at + p - 1] = self.padding;
            at += p;
        }
        Ok(at)
    }

    /// Appends the serialised packet to `out` (reuse the Vec to avoid
    /// allocating per packet).
    pub fn write_to_vec(&self, out: &mut Vec<u8>) -> Result<(), RtpError> {
        let start = out.len();
        out.resize(start + self.encoded_len(), 0);
        let n = self.write(&mut out[start..])?;
        out.truncate(start + n);
        Ok(())
    }
}

/// True when a datagram on a muxed port is RTCP rather than RTP
/// (RFC 5761 §4: second octet 192..=223 is an RTCP packet type).
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 8 && buf[0] >> 6 == 2 && (192..=223).contains(&buf[1])
}

/// Stamps outgoing RTP headers for one stream: sequence +1 and timestamp
/// +160 per 20 ms frame, from random start values the caller supplies
/// (sans-IO: no RNG here).
#[derive(Debug, Clone)]
pub struct RtpSender {
    ssrc: u32,
    payload_type: u8,
    next_seq: u16,
    next_ts: u32,
    marker_pending: bool,
    packets_sent: u32,
    octets_sent: u32,
}

impl RtpSender {
    /// A sender for `payload_type`; the first packet carries the marker bit.
    pub fn new(ssrc: u32, initial_seq: u16, initial_ts: u32, payload_type: u8) -> Self {
        RtpSender {
            ssrc,
            payload_type: payload_type & 0x7F,
            next_seq: initial_seq,
            next_ts: initial_ts,
            marker_pending: true,
            packets_sent: 0,
            octets_sent: 0,
        }
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The media timestamp the next audio frame will carry.
    pub fn next_timestamp(&self) -> u32 {
        self.next_ts
    }

    /// Packets and payload octets sent so far (for the Sender Report).
    pub fn counters(&self) -> (u32, u32) {
        (self.packets_sent, self.octets_sent)
    }

    /// Sets the marker on the next audio packet (start of a talkspurt).
    pub fn mark_next(&mut self) {
        self.marker_pending = true;
    }

    /// Advances the timestamp by one frame without sending (e.g. while a
    /// DTMF event occupies the stream); the next frame gets the marker.
    pub fn skip_frame(&mut self) {
        self.next_ts = self.next_ts.wrapping_add(SAMPLES_PER_FRAME);
        self.marker_pending = true;
    }

    /// Appends one 20 ms audio packet for `payload` to `out`.
    pub fn audio_packet(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let marker = std::mem::take(&mut self.marker_pending);
        let ts = self.next_ts;
        self.next_ts = self.next_ts.wrapping_add(SAMPLES_PER_FRAME);
        self.packet(self.payload_type, ts, marker, payload, out);
    }

    /// Appends a packet with an explicit payload type, timestamp and marker
    /// (RFC 4733 events keep the event-start timestamp across packets); only
    /// the sequence number is stamped.
    pub fn packet(
        &mut self,
        payload_type: u8,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) {
        let mut header = RtpHeader::new(payload_type, self.next_seq, timestamp, self.ssrc);
        header.marker = marker;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.packets_sent = self.packets_sent.wrapping_add(1);
        self.octets_sent = self.octets_sent.wrapping_add(payload.len() as u32);
        // Cannot fail: no extension and the Vec is resized to fit.
        let _ = RtpPacket::new(header, payload).write_to_vec(out);
    }
}

/// RTCP packet types we recognise (RFC 3550 §12.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpType {
    /// Sender Report (200).
    SenderReport,
    /// Receiver Report (201).
    ReceiverReport,
    /// Source Description (202).
    SourceDescription,
    /// Goodbye (203).
    Bye,
    /// Application-defined (204).
    App,
    /// Anything else (feedback, XR, ...).
    Other(u8),
}

impl RtcpType {
    fn from_u8(pt: u8) -> Self {
        match pt {
            200 => RtcpType::SenderReport,
            201 => RtcpType::ReceiverReport,
            202 => RtcpType::SourceDescription,
            203 => RtcpType::Bye,
            204 => RtcpType::App,
            x => RtcpType::Other(x),
        }
    }
}

/// The sender-info block of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// 64-bit NTP timestamp.
    pub ntp: u64,
    /// RTP timestamp corresponding to `ntp`.
    pub rtp_timestamp: u32,
    /// Packets sent.
    pub packet_count: u32,
    /// Payload octets sent.
    pub octet_count: u32,
}

/// One packet of a compound RTCP datagram, as far as we care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpHeader {
    /// Packet type.
    pub packet_type: RtcpType,
    /// The 5-bit count field (report blocks, sources, or subtype).
    pub count: u8,
    /// The first SSRC of the packet body, when present.
    pub ssrc: Option<u32>,
    /// Sender info when this is an SR.
    pub sender_info: Option<SenderInfo>,
    /// Length of this packet in bytes including the header.
    pub len: usize,
}

/// Iterates over the packets of a compound RTCP datagram; stops after the
/// first error.
#[derive(Debug, Clone)]
pub struct RtcpIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Walks a (compound) RTCP datagram.
pub fn parse_rtcp(buf: &[u8]) -> RtcpIter<'_> {
    RtcpIter {
        rest: buf,
        failed: false,
    }
}

impl Iterator for RtcpIter<'_> {
    type Item = Result<RtcpHeader, RtpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let r = self.parse_one();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

impl RtcpIter<'_> {
    fn parse_one(&mut self) -> Result<RtcpHeader, RtpError> {
        let buf = self.rest;
        need(buf, 4)?;
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let len = (be16(buf, 2) as usize + 1) * 4;
        need(buf, len)?;
        let body = &buf[..len];
        let packet_type = RtcpType::from_u8(buf[1]);
        let ssrc = (len >= 8).then(|| be32(body, 4));
        let sender_info = if packet_type == RtcpType::SenderReport && len >= 28 {
            Some(SenderInfo {
                ntp: (be32(body, 8) as u64) << 32 | be32(body, 12) as u64,
                rtp_timestamp: be32(body, 16),
                packet_count: be32(body, 20),
                octet_count: be32(body, 24),
            })
        } else {
            None
        };
        self.rest = &buf[len..];
        Ok(RtcpHeader {
            packet_type,
            count: buf[0] & 0x1F,
            ssrc,
            sender_info,
            len,
        })
    }
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source being reported on.
    pub ssrc: u32,
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed, clamped).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the last SR's NTP timestamp.
    pub last_sr: u32,
    /// Delay since last SR in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32 & 0xFF_FFFF;
        out.extend_from_slice(&((self.fraction_lost as u32) << 24 | lost).to_be_bytes());
        out.extend_from_slice(&self.highest_seq.to_be_bytes());
        out.extend_from_slice(&self.jitter.to_be_bytes());
        out.extend_from_slice(&self.last_sr.to_be_bytes());
        out.extend_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }
}

fn write_rtcp_header(out: &mut [u8], count: u8, pt: u8, start: usize) {
    let words = (out.len() - start) / 4 - 1;
    out[start] = 0x80 | (count & 0x1F);
    out[start + 1] = pt;
    out[start + 2..start + 4].copy_from_slice(&(words as u16).to_be_bytes());
}

fn write_sdes_cname(out: &mut Vec<u8>, ssrc: u32, cname: &str) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&ssrc.to_be_bytes());
    let name = &cname.as_bytes()[..cname.len().min(255)];
    out.push(1); // CNAME
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    // Item list ends with a null octet, then pad to a 32-bit boundary.
    out.push(0);
    while !(out.len() - start).is_multiple_of(4) {
        out.push(0);
    }
    write_rtcp_header(out, 1, 202, start);
}

/// Appends a compound Receiver Report (+ SDES CNAME when given) to `out`.
pub fn build_receiver_report(
    ssrc: u32,
    block: Option<&ReportBlock>,
    cname: Option<&str>,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&ssrc.to_be_bytes());
    if let Some(b) = block {
        b.write(out);
    }
    write_rtcp_header(out, block.is_some() as u8, 201, start);
    if let Some(c) = cname {
        write_sdes_cname(out, ssrc, c);
    }
}

/// Appends a compound Sender Report (+ SDES CNAME when given) to `out`.
pub fn build_sender_report(
    ssrc: u32,
    info: &SenderInfo,
    block: Option<&ReportBlock>,
    cname: Option<&str>,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&info.ntp.to_be_bytes());
    out.extend_from_slice(&info.rtp_timestamp.to_be_bytes());
    out.extend_from_slice(&info.packet_count.to_be_bytes());
    out.extend_from_slice(&info.octet_count.to_be_bytes());
    if let Some(b) = block {
        b.write(out);
    }
    write_rtcp_header(out, block.is_some() as u8, 200, start);
    if let Some(c) = cname {
        write_sdes_cname(out, ssrc, c);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_a_captured_pcmu_packet() {
        // Header as sent by SIPp's pcap play: PT 0, marker, seq 0x1234.
        let mut pkt = vec![
            0x80, 0x80, 0x12, 0x34, 0, 0, 0x01, 0x40, 0xde, 0xad, 0xbe, 0xef,
        ];
        pkt.extend_from_slice(&[0xFF; 160]);
        let p = RtpPacket::parse(&pkt).unwrap();
        assert!(p.header.marker);
        assert_eq!(p.header.payload_type, 0);
        assert_eq!(p.header.sequence, 0x1234);
        assert_eq!(p.header.timestamp, 320);
        assert_eq!(p.header.ssrc, 0xdeadbeef);
        assert_eq!(p.payload.len(), 160);
        assert!(!is_rtcp(&pkt));
    }

    #[test]
    fn csrc_extension_padding_round_trip() {
        let mut h = RtpHeader::new(101, 65535, u32::MAX, 7);
        h.set_csrcs(&[1, 2, 3]).unwrap();
        h.marker = true;
        let ext = [9u8; 8];
        let pkt = RtpPacket {
            header: h,
            extension: Some(RtpExtension {
                profile: 0xBEDE,
                data: &ext,
            }),
            payload: b"abc",
            padding: 5,
        };
        let mut out = Vec::new();
        pkt.write_to_vec(&mut out).unwrap();
        assert_eq!(out.len(), 12 + 12 + 12 + 3 + 5);
        assert_eq!(out[0], 0x80 | 0x20 | 0x10 | 3);
        let back = RtpPacket::parse(&out).unwrap();
        assert_eq!(back, pkt);
        assert_eq!(back.header.csrcs(), &[1, 2, 3]);
    }

    #[test]
    fn rejects_bad_inputs_with_typed_errors() {
        assert_eq!(
            RtpPacket::parse(&[0x80; 5]),
            Err(RtpError::Truncated { need: 12, have: 5 })
        );
        let mut v1 = [0u8; 12];
        v1[0] = 0x40;
        assert_eq!(RtpPacket::parse(&v1), Err(RtpError::BadVersion(1)));
        // Padding bit with count 0.
        let mut pad = [0u8; 13];
        pad[0] = 0xA0;
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::BadPadding));
        // Padding larger than payload.
        pad[12] = 2;
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::BadPadding));
        // CSRC count says 2 but only one present.
        let mut cc = [0u8; 16];
        cc[0] = 0x82;
        assert!(matches!(
            RtpPacket::parse(&cc),
            Err(RtpError::Truncated { .. })
        ));
        let mut h = RtpHeader::new(0, 0, 0, 0);
        assert_eq!(h.set_csrcs(&[0; 16]), Err(RtpError::TooManyCsrcs));
        let mut small = [0u8; 4];
        assert_eq!(
            RtpPacket::new(h, &[]).write(&mut small),
            Err(RtpError::BufferTooSmall(12))
        );
    }

    #[test]
    fn sender_stamps_seq_and_timestamp_with_wraparound() {
        let mut s = RtpSender::new(42, 65534, u32::MAX - 100, 0);
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for _ in 0..3 {
            out.clear();
            s.audio_packet(&[0xFF; 160], &mut out);
            let p = RtpPacket::parse(&out).unwrap();
            seen.push((p.header.sequence, p.header.timestamp, p.header.marker));
        }
        assert_eq!(
            seen,
            vec![
                (65534, u32::MAX - 100, true),
                (65535, 59, false),
                (0, 219, false)
            ]
        );
        s.skip_frame();
        out.clear();
        s.audio_packet(&[0xFF; 160], &mut out);
        let p = RtpPacket::parse(&out).unwrap();
        assert_eq!(
            (p.header.sequence, p.header.timestamp, p.header.marker),
            (1, 539, true)
        );
        assert_eq!(s.counters(), (4, 640));
    }

    #[test]
    fn builds_and_recognises_rtcp() {
        let block = ReportBlock {
            ssrc: 9,
            fraction_lost: 12,
            cumulative_lost: -3,
            highest_seq: 70000,
            ..Default::default()
        };
        let mut rr = Vec::new();
        build_receiver_report(1, Some(&block), Some("sb@host"), &mut rr);
        assert!(is_rtcp(&rr));
        assert_eq!(rr.len() % 4, 0);
        let pkts: Vec<_> = parse_rtcp(&rr).collect::<Result<_, _>>().unwrap();
        assert_eq!(pkts.len(), 2);
        assert_eq!(pkts[0].packet_type, RtcpType::ReceiverReport);
        assert_eq!(pkts[0].count, 1);
        assert_eq!(pkts[0].len, 32);
        assert_eq!(pkts[1].packet_type, RtcpType::SourceDescription);
        assert_eq!(&rr[12..16], &[12, 0xFF, 0xFF, 0xFD]);

        let info = SenderInfo {
            ntp: 0x0102030405060708,
            rtp_timestamp: 160,
            packet_count: 1,
            octet_count: 160,
        };
        let mut sr = Vec::new();
        build_sender_report(5, &info, None, None, &mut sr);
        let p = parse_rtcp(&sr).next().unwrap().unwrap();
        assert_eq!(p.packet_type, RtcpType::SenderReport);
        assert_eq!(p.sender_info, Some(info));
        assert_eq!(p.ssrc, Some(5));

        // A BYE as sent by phones on hang-up.
        let bye = [0x81, 203, 0, 1, 0, 0, 0, 7];
        let p = parse_rtcp(&bye).next().unwrap().unwrap();
        assert_eq!((p.packet_type, p.ssrc), (RtcpType::Bye, Some(7)));
        // Truncated compound packet: error then stop.
        let mut it = parse_rtcp(&bye[..6]);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = RtpPacket::parse(&bytes) {
                // Whatever parses re-serialises to the same bytes except
                // padding content, which we zero.
                let mut out = Vec::new();
                p.write_to_vec(&mut out).unwrap();
                prop_assert_eq!(out.len(), bytes.len());
                let pad = p.padding as usize;
                prop_assert_eq!(&out[..out.len() - pad], &bytes[..bytes.len() - pad]);
            }
            for r in parse_rtcp(&bytes) { let _ = r; }
            let _ = is_rtcp(&bytes);
        }

        #[test]
        fn build_then_parse_round_trips(
            pt in 0u8..128, seq: u16, ts: u32, ssrc: u32, marker: bool,
            csrcs in proptest::collection::vec(any::<u32>(), 0..=15),
            ext in proptest::option::of((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..4).prop_map(|w| w.repeat(4)))),
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            padding in 0u8..=255,
        ) {
            let mut h = RtpHeader::new(pt, seq, ts, ssrc);
            h.marker = marker;
            h.set_csrcs(&csrcs).unwrap();
            let pkt = RtpPacket {
                header: h,
                extension: ext.as_ref().map(|(p, d)| RtpExtension { profile: *p, data: d }),
                payload: &payload,
                padding,
            };
            let mut out = Vec::new();
            pkt.write_to_vec(&mut out).unwrap();
            prop_assert_eq!(RtpPacket::parse(&out).unwrap(), pkt);
        }
    }
}
