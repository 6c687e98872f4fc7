//! RFC 4733 telephone-event payloads and a de-duplicating receiver.
//!
//! A single key press arrives as many packets: one every 20–50 ms with the
//! same RTP timestamp and a growing duration, then (usually) three copies of
//! the end packet. The IVR must see the digit exactly once.

use thiserror::Error;

/// Why a telephone-event payload was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DtmfError {
    /// Fewer than the 4 octets of one event.
    #[error("telephone-event payload shorter than 4 bytes")]
    Truncated,
}

/// One RFC 4733 §2.3 event block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfEvent {
    /// Event code; 0–15 are the DTMF keys.
    pub event: u8,
    /// E bit: this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0 (0–63).
    pub volume: u8,
    /// Duration so far in RTP clock ticks.
    pub duration: u16,
}

const DIGITS: &[u8; 16] = b"0123456789*#ABCD";

/// The key for a DTMF event code (0–15).
pub fn event_to_digit(event: u8) -> Option<char> {
    DIGITS.get(event as usize).map(|&b| b as char)
}

/// The event code for a key (case-insensitive for A–D).
pub fn digit_to_event(digit: char) -> Option<u8> {
    let d = digit.to_ascii_uppercase() as u32;
    DIGITS.iter().position(|&b| b as u32 == d).map(|i| i as u8)
}

impl DtmfEvent {
    /// Parses the first event block of a payload (redundant blocks that
    /// may follow are ignored).
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(DtmfError::Truncated);
        };
        Ok(DtmfEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The 4-byte payload.
    pub fn to_bytes(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (if self.end { 0x80 } else { 0 }) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }

    /// The key, when this is a DTMF event.
    pub fn digit(&self) -> Option<char> {
        event_to_digit(self.event)
    }

    /// The payloads to send for one key press: one every `step` ticks while
    /// the tone lasts, then the end packet three times (RFC 4733 §2.5.1.4).
    /// All carry the same RTP timestamp; only the first gets the marker bit.
    pub fn key_press(
        event: u8,
        volume: u8,
        total: u16,
        step: u16,
    ) -> impl Iterator<Item = DtmfEvent> {
        let step = step.max(1);
        let n = total.div_ceil(step).max(1);
        (1..=n)
            .map(move |i| DtmfEvent {
                event,
                end: false,
                volume,
                duration: (u32::from(i) * u32::from(step)).min(u32::from(total)) as u16,
            })
            .chain((0..3).map(move |_| DtmfEvent {
                event,
                end: true,
                volume,
                duration: total,
            }))
    }
}

/// A digit reported once per key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectedDigit {
    /// The key.
    pub digit: char,
    /// RTP timestamp of the event start.
    pub timestamp: u32,
}

/// Turns the stream of telephone-event packets into one digit per press.
///
/// Events are identified by their RTP timestamp. The digit is reported on
/// the first packet seen (not the end packet) so a lost end packet does not
/// lose the digit and the IVR reacts without waiting for key release.
#[derive(Debug, Clone, Default)]
pub struct DtmfDetector {
    last: Option<Last>,
}

#[derive(Debug, Clone, Copy)]
struct Last {
    timestamp: u32,
    event: u8,
    duration: u16,
    ended: bool,
}

impl DtmfDetector {
    /// A detector with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one packet's RTP timestamp and payload; returns a digit the
    /// first time a new key press is seen.
    pub fn on_packet(&mut self, rtp_timestamp: u32, payload: &[u8]) -> Option<DetectedDigit> {
        let ev = DtmfEvent::parse(payload).ok()?;
        self.on_event(rtp_timestamp, &ev)
    }

    /// Like [`Self::on_packet`] for an already parsed event.
    pub fn on_event(&mut self, rtp_timestamp: u32, ev: &DtmfEvent) -> Option<DetectedDigit> {
        if let Some(last) = &mut self.last {
            if last.timestamp == rtp_timestamp {
                last.duration = last.duration.max(ev.duration);
                last.ended |= ev.end;
                return None;
            }
            // A retransmitted end packet of an earlier press arriving late.
            if (rtp_timestamp.wrapping_sub(last.timestamp) as i32) < 0 {
                return None;
            }
            // RFC 4733 §2.5.1.3: a press longer than the 16-bit duration is
            // continued in a new segment starting where the old one ended.
            if !last.ended
                && last.event == ev.event
                && rtp_timestamp == last.timestamp.wrapping_add(last.duration as u32)
            {
                *last = Last {
                    timestamp: rtp_timestamp,
                    event: ev.event,
                    duration: ev.duration,
                    ended: ev.end,
                };
                return None;
            }
        }
        self.last = Some(Last {
            timestamp: rtp_timestamp,
            event: ev.event,
            duration: ev.duration,
            ended: ev.end,
        });
        ev.digit().map(|digit| DetectedDigit {
            digit,
            timestamp: rtp_timestamp,
        })
    }
}

const ROW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COL_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// 8 dB as a power ratio: maximum twist and minimum margin over the
/// runner-up tone in each group.
const DB8: f32 = 6.3;

/// In-band DTMF (tones inside the audio) for phones that do not send
/// RFC 4733 events. Goertzel filters over each 20 ms frame; a key must be
/// seen in two consecutive frames (40 ms, the ITU Q.24 minimum) and is
/// reported once until the tone stops.
#[derive(Debug, Clone)]
pub struct InbandDtmfDetector {
    coeffs: [f32; 8],
    candidate: Option<char>,
    reported: bool,
}

impl Default for InbandDtmfDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandDtmfDetector {
    /// A detector for 8 kHz PCM.
    pub fn new() -> Self {
        let mut coeffs = [0.0; 8];
        for (c, f) in coeffs.iter_mut().zip(ROW_HZ.iter().chain(&COL_HZ)) {
            *c = 2.0 * (2.0 * std::f32::consts::PI * f / 8000.0).cos();
        }
        InbandDtmfDetector {
            coeffs,
            candidate: None,
            reported: false,
        }
    }

    /// Feeds one frame (any length; 160 samples is intended) and returns
    /// a key once per press.
    pub fn process_frame(&mut self, pcm: &[i16]) -> Option<char> {
        let key = self.classify(pcm);
        if key != self.candidate {
            self.candidate = key;
            self.reported = false;
            return None;
        }
        if key.is_some() && !self.reported {
            self.reported = true;
            return key;
        }
        None
    }

    fn classify(&self, pcm: &[i16]) -> Option<char> {
        let n = pcm.len() as f32;
        let mut s1 = [0.0f32; 8];
        let mut s2 = [0.0f32; 8];
        let mut energy = 0.0f32;
        for &x in pcm {
            let x = x as f32;
            energy += x * x;
            for k in 0..8 {
                let s = x + self.coeffs[k] * s1[k] - s2[k];
                s2[k] = s1[k];
                s1[k] = s;
            }
        }
        // Below about -40 dBm0 it is background noise, not a key.
        if n == 0.0 || energy / n < 100.0 * 100.0 {
            return None;
        }
        let mut p = [0.0f32; 8];
        for k in 0..8 {
            p[k] = s1[k] * s1[k] + s2[k] * s2[k] - self.coeffs[k] * s1[k] * s2[k];
        }
        let best = |g: &[f32]| {
            let mut idx = 0;
            for i in 1..4 {
                if g[i] > g[idx] {
                    idx = i;
                }
            }
            let second = (0..4)
                .filter(|&i| i != idx)
                .map(|i| g[i])
                .fold(0.0, f32::max);
            (idx, g[idx], second)
        };
        let (r, rp, r2) = best(&p[..4]);
        let (c, cp, c2) = best(&p[4..]);
        // A pure pair puts ~N/2 of the frame energy into the two bins;
        // speech and music spread it, so demand most of it.
        let concentrated = rp + cp >= 0.5 * (n / 2.0) * energy;
        let twist_ok = rp <= cp * DB8 && cp <= rp * DB8;
        let distinct = rp >= r2 * DB8 && cp >= c2 * DB8;
        (concentrated && twist_ok && distinct).then(|| KEYPAD[r][c])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn digit_mapping() {
        let all: String = (0..16).map(|e| event_to_digit(e).unwrap()).collect();
        assert_eq!(all, "0123456789*#ABCD");
        assert_eq!(event_to_digit(16), None);
        assert_eq!(digit_to_event('#'), Some(11));
        assert_eq!(digit_to_event('d'), Some(15));
        assert_eq!(digit_to_event('x'), None);
    }

    #[test]
    fn parse_and_build() {
        // '5', end bit, volume 10, duration 800 (as Linphone sends).
        let p = [5, 0x8A, 0x03, 0x20];
        let ev = DtmfEvent::parse(&p).unwrap();
        assert_eq!(
            ev,
            DtmfEvent {
                event: 5,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(ev.to_bytes(), p);
        assert_eq!(ev.digit(), Some('5'));
        // Reserved bit is ignored.
        assert!(!DtmfEvent::parse(&[1, 0x4A, 0, 0]).unwrap().end);
        assert_eq!(DtmfEvent::parse(&[1, 2, 3]), Err(DtmfError::Truncated));
    }

    fn feed(det: &mut DtmfDetector, ts: u32, packets: impl Iterator<Item = DtmfEvent>) -> String {
        packets
            .filter_map(|e| det.on_packet(ts, &e.to_bytes()))
            .map(|d| d.digit)
            .collect()
    }

    #[test]
    fn one_digit_per_press_despite_repeats_and_triple_end() {
        let mut det = DtmfDetector::new();
        let mut got = String::new();
        for (i, d) in "1234#".chars().enumerate() {
            let ev = digit_to_event(d).unwrap();
            let packets: Vec<_> = DtmfEvent::key_press(ev, 10, 800, 160).collect();
            assert_eq!(packets.len(), 5 + 3);
            got += &feed(&mut det, 1000 + i as u32 * 4000, packets.into_iter());
        }
        assert_eq!(got, "1234#");
    }

    #[test]
    fn same_digit_twice_is_two_presses() {
        let mut det = DtmfDetector::new();
        let a = feed(&mut det, 100, DtmfEvent::key_press(2, 10, 480, 160));
        let b = feed(&mut det, 2000, DtmfEvent::key_press(2, 10, 480, 160));
        assert_eq!(a + &b, "22");
    }

    #[test]
    fn lost_start_and_late_end_packets() {
        let mut det = DtmfDetector::new();
        // Only the end packets of the first press arrive.
        let end = DtmfEvent {
            event: 7,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(det.on_event(500, &end).map(|d| d.digit), Some('7'));
        assert_eq!(det.on_event(500, &end), None);
        let next = DtmfEvent {
            event: 8,
            end: false,
            volume: 10,
            duration: 160,
        };
        assert_eq!(det.on_event(5000, &next).map(|d| d.digit), Some('8'));
        // A reordered end packet of the previous press must not re-fire '7'.
        assert_eq!(det.on_event(500, &end), None);
    }

    #[test]
    fn long_press_continuation_segment_and_timestamp_wrap() {
        let mut det = DtmfDetector::new();
        let ts = u32::MAX - 100;
        let seg1 = DtmfEvent {
            event: 0,
            end: false,
            volume: 10,
            duration: 0xFFFF,
        };
        assert!(det.on_event(ts, &seg1).is_some());
        let seg2 = DtmfEvent {
            event: 0,
            end: true,
            volume: 10,
            duration: 400,
        };
        assert_eq!(det.on_event(ts.wrapping_add(0xFFFF), &seg2), None);
        // A new press after the wrap is still "later".
        let again = DtmfEvent {
            event: 0,
            end: false,
            volume: 10,
            duration: 160,
        };
        assert!(det.on_event(ts.wrapping_add(200_000), &again).is_some());
    }

    #[test]
    fn non_dtmf_events_are_not_digits() {
        let mut det = DtmfDetector::new();
        assert_eq!(det.on_packet(1, &[32, 0, 0, 160]), None); // fax tone
        assert_eq!(det.on_packet(2, &[1, 2]), None);
    }

    fn tone_pair(key: char, len: usize, amp: f32, detune: f32) -> Vec<i16> {
        let (r, c) = (0..16)
            .map(|i| (i / 4, i % 4))
            .find(|&(r, c)| KEYPAD[r][c] == key)
            .unwrap();
        let (fr, fc) = (ROW_HZ[r] * detune, COL_HZ[c] * detune);
        (0..len)
            .map(|i| {
                let t = i as f32 / 8000.0;
                let w = std::f32::consts::TAU;
                (amp * ((w * fr * t).sin() + (w * fc * t).sin())) as i16
            })
            .collect()
    }

    fn run_inband(signal: &[i16]) -> String {
        let mut det = InbandDtmfDetector::new();
        let mut out = String::new();
        // Through G.711 as it would arrive from the network.
        for chunk in signal.chunks(160) {
            let mut enc = [0u8; 160];
            let mut dec = [0i16; 160];
            crate::media::g711::Codec::Pcmu.encode(chunk, &mut enc);
            crate::media::g711::Codec::Pcmu.decode(&enc[..chunk.len()], &mut dec[..chunk.len()]);
            out.extend(det.process_frame(&dec[..chunk.len()]));
        }
        out
    }

    #[test]
    fn inband_detects_all_keys_once_each() {
        let keys = "123A456B789C*0#D";
        // 70 ms tone, 50 ms pause, unaligned to frame boundaries; 1.5 %
        // off-frequency as Q.24 allows.
        let mut signal = vec![0i16; 37];
        for (i, k) in keys.chars().enumerate() {
            let detune = if i % 2 == 0 { 1.015 } else { 0.985 };
            signal.extend(tone_pair(k, 560, 4000.0, detune));
            signal.extend(std::iter::repeat_n(0, 400));
        }
        assert_eq!(run_inband(&signal), keys);
        // A long press is still one digit.
        assert_eq!(run_inband(&tone_pair('5', 8000, 4000.0, 1.0)), "5");
    }

    #[test]
    fn inband_ignores_single_tones_chords_and_quiet_signals() {
        let w = std::f32::consts::TAU;
        let single: Vec<i16> = (0..4000)
            .map(|i| (8000.0 * (w * 697.0 * i as f32 / 8000.0).sin()) as i16)
            .collect();
        assert_eq!(run_inband(&single), "");
        // Music-like chord with energy outside the DTMF bins.
        let chord: Vec<i16> = (0..4000)
            .map(|i| {
                let t = i as f32 / 8000.0;
                (3000.0 * ((w * 440.0 * t).sin() + (w * 554.0 * t).sin() + (w * 659.0 * t).sin()))
                    as i16
            })
            .collect();
        assert_eq!(run_inband(&chord), "");
        assert_eq!(run_inband(&tone_pair('1', 4000, 40.0, 1.0)), "");
        // 40 ms exactly on frame boundaries is the minimum that counts.
        assert_eq!(run_inband(&tone_pair('9', 320, 4000.0, 1.0)), "9");
        assert_eq!(run_inband(&tone_pair('9', 160, 4000.0, 1.0)), "");
    }
}
