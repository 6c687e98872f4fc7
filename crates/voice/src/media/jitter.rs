//! A small fixed-size jitter buffer keyed by RTP sequence number.
//!
//! The caller pushes decoded 20 ms frames as packets arrive and pops exactly
//! one frame per 20 ms tick, so downstream (recorder, mixer) always gets a
//! steady stream. There is no clock in here: "time" is the tick count.

use super::g711::FRAME_SAMPLES;

/// Slots in the ring; packets further ahead than this resync the buffer.
const CAPACITY: usize = 16;

/// A 20 ms frame of 8 kHz PCM.
pub type Frame = [i16; FRAME_SAMPLES];

/// What happened to a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored for playout.
    Accepted,
    /// Already have this sequence number.
    Duplicate,
    /// Its playout slot has already passed.
    Late,
    /// Far outside the window (sender restarted or long outage): the buffer
    /// was flushed and restarted at this packet.
    Resynced,
}

/// Where a popped frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A received packet.
    Received,
    /// Loss concealment: the last frame repeated at reduced gain.
    Concealed,
    /// Nothing to play (before playout starts or after a long gap).
    Silence,
}

/// A frame popped at one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Popped<'a> {
    /// Sequence number this tick stands for (`None` before playout starts).
    pub sequence: Option<u16>,
    /// Provenance.
    pub kind: FrameKind,
    /// The samples.
    pub frame: &'a Frame,
}

/// Counters for call-quality reporting (and RTCP RR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JitterStats {
    /// Frames played from received packets.
    pub played: u64,
    /// Frames concealed.
    pub concealed: u64,
    /// Packets dropped as late.
    pub late: u64,
    /// Packets dropped as duplicates.
    pub duplicates: u64,
    /// Buffer restarts.
    pub resyncs: u64,
    /// Frames skipped to shed excess delay.
    pub skipped: u64,
}

/// Reorders packets within a small window and conceals gaps.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    slots: Box<[Frame; CAPACITY]>,
    filled: [bool; CAPACITY],
    /// Next sequence number to play; `None` until the first packet.
    next_seq: Option<u16>,
    /// Ticks to wait after the first packet before playout starts.
    delay: u16,
    waited: u16,
    out: Frame,
    last: Frame,
    conceal_run: u32,
    stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer with `delay_frames` ticks of playout delay (clamped to
    /// 1..=CAPACITY/2; 3–5 i.e. 60–100 ms suits most networks).
    pub fn new(delay_frames: u16) -> Self {
        JitterBuffer {
            slots: Box::new([[0; FRAME_SAMPLES]; CAPACITY]),
            filled: [false; CAPACITY],
            next_seq: None,
            delay: delay_frames.clamp(1, (CAPACITY / 2) as u16),
            waited: 0,
            out: [0; FRAME_SAMPLES],
            last: [0; FRAME_SAMPLES],
            conceal_run: 0,
            stats: JitterStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    fn slot(seq: u16) -> usize {
        seq as usize % CAPACITY
    }

    fn reset_to(&mut self, seq: u16) {
        self.filled = [false; CAPACITY];
        self.next_seq = Some(seq);
        self.waited = 0;
    }

    /// Stores a decoded frame for `seq`. Frames shorter than 160 samples are
    /// zero-padded, longer ones truncated.
    pub fn push(&mut self, seq: u16, pcm: &[i16]) -> PushOutcome {
        let outcome = match self.next_seq {
            None => {
                self.reset_to(seq);
                PushOutcome::Accepted
            }
            Some(next) => {
                // Signed distance on the 16-bit circle handles wraparound.
                let ahead = seq.wrapping_sub(next) as i16;
                if ahead < 0
                    && self.waited < self.delay
                    && self.depth_from(next) + (ahead.unsigned_abs() as usize) < CAPACITY
                {
                    // Still prefilling: the first packet to arrive need not
                    // be the first sent, so move the start back.
                    self.next_seq = Some(seq);
                    PushOutcome::Accepted
                } else if ahead < 0 {
                    if ahead > -(CAPACITY as i16) * 4 {
                        self.stats.late += 1;
                        return PushOutcome::Late;
                    }
                    self.stats.resyncs += 1;
                    self.reset_to(seq);
                    PushOutcome::Resynced
                } else if ahead as usize >= CAPACITY {
                    self.stats.resyncs += 1;
                    self.reset_to(seq);
                    PushOutcome::Resynced
                } else if self.filled[Self::slot(seq)] {
                    self.stats.duplicates += 1;
                    return PushOutcome::Duplicate;
                } else {
                    PushOutcome::Accepted
                }
            }
        };
        let i = Self::slot(seq);
        let n = pcm.len().min(FRAME_SAMPLES);
        self.slots[i][..n].copy_from_slice(&pcm[..n]);
        self.slots[i][n..].fill(0);
        self.filled[i] = true;
        outcome
    }

    fn depth_from(&self, next: u16) -> usize {
        (0..CAPACITY)
            .rev()
            .find(|&k| self.filled[Self::slot(next.wrapping_add(k as u16))])
            .map_or(0, |k| k + 1)
    }

    /// Produces the frame for this 20 ms tick: the packet due now, a
    /// concealment frame if it is missing, or silence before playout.
    pub fn pop(&mut self) -> Popped<'_> {
        let Some(mut next) = self.next_seq else {
            return Popped {
                sequence: None,
                kind: FrameKind::Silence,
                frame: &ZERO,
            };
        };
        if self.waited < self.delay {
            self.waited += 1;
            return Popped {
                sequence: None,
                kind: FrameKind::Silence,
                frame: &ZERO,
            };
        }
        // Shed delay when far more is queued than the target (sender clock
        // running fast, or a burst after a network stall): drop the oldest
        // down to the target rather than play everything late forever.
        let buffered = self.filled.iter().filter(|f| **f).count();
        let target = self.delay as usize;
        if buffered > target + target.max(4) {
            let mut excess = buffered - target;
            while excess > 0 {
                let i = Self::slot(next);
                if self.filled[i] {
                    self.filled[i] = false;
                    excess -= 1;
                }
                next = next.wrapping_add(1);
                self.stats.skipped += 1;
            }
        }
        let i = Self::slot(next);
        self.next_seq = Some(next.wrapping_add(1));
        let kind = if self.filled[i] {
            self.filled[i] = false;
            self.out = self.slots[i];
            self.last = self.out;
            self.conceal_run = 0;
            self.stats.played += 1;
            FrameKind::Received
        } else {
            self.conceal_run += 1;
            self.stats.concealed += 1;
            // Half gain per missing frame, silence after three: repeating a
            // voiced frame forever sounds worse than a gap.
            if self.conceal_run <= 3 {
                let shift = self.conceal_run;
                for (o, l) in self.out.iter_mut().zip(&self.last) {
                    *o = l >> shift;
                }
                FrameKind::Concealed
            } else {
                self.out = [0; FRAME_SAMPLES];
                FrameKind::Silence
            }
        };
        Popped {
            sequence: Some(next),
            kind,
            frame: &self.out,
        }
    }
}

static ZERO: Frame = [0; FRAME_SAMPLES];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(tag: i16) -> Frame {
        [tag; FRAME_SAMPLES]
    }

    /// Pops `n` ticks and returns (seq, kind, first sample) per tick.
    fn drain(jb: &mut JitterBuffer, n: usize) -> Vec<(Option<u16>, FrameKind, i16)> {
        (0..n)
            .map(|_| {
                let p = jb.pop();
                (p.sequence, p.kind, p.frame[0])
            })
            .collect()
    }

    #[test]
    fn reorders_within_window() {
        let mut jb = JitterBuffer::new(3);
        for s in [10u16, 12, 11, 13] {
            assert_eq!(jb.push(s, &frame(s as i16 * 100)), PushOutcome::Accepted);
        }
        let out = drain(&mut jb, 7);
        assert_eq!(
            out[..3].iter().map(|o| o.1).collect::<Vec<_>>(),
            vec![FrameKind::Silence; 3]
        );
        assert_eq!(
            out[3..]
                .iter()
                .map(|o| (o.0.unwrap(), o.2))
                .collect::<Vec<_>>(),
            vec![(10, 1000), (11, 1100), (12, 1200), (13, 1300)]
        );
    }

    #[test]
    fn late_and_duplicate_packets_are_dropped() {
        let mut jb = JitterBuffer::new(1);
        jb.push(100, &frame(1));
        jb.push(101, &frame(2));
        assert_eq!(jb.push(101, &frame(9)), PushOutcome::Duplicate);
        drain(&mut jb, 2); // wait + seq 100
        assert_eq!(jb.push(100, &frame(9)), PushOutcome::Late);
        assert_eq!(jb.pop().frame[0], 2);
        assert_eq!(jb.stats().late, 1);
        assert_eq!(jb.stats().duplicates, 1);
    }

    #[test]
    fn gap_is_concealed_then_silenced() {
        let mut jb = JitterBuffer::new(1);
        jb.push(0, &frame(800));
        jb.push(6, &frame(5));
        let out = drain(&mut jb, 8);
        let kinds: Vec<_> = out.iter().map(|o| (o.1, o.2)).collect();
        assert_eq!(
            kinds,
            vec![
                (FrameKind::Silence, 0),
                (FrameKind::Received, 800),
                (FrameKind::Concealed, 400),
                (FrameKind::Concealed, 200),
                (FrameKind::Concealed, 100),
                (FrameKind::Silence, 0),
                (FrameKind::Silence, 0),
                (FrameKind::Received, 5),
            ]
        );
    }

    #[test]
    fn sequence_wraparound_and_resync() {
        let mut jb = JitterBuffer::new(1);
        for s in [65534u16, 65535, 0, 1] {
            assert_eq!(jb.push(s, &frame(s as i16)), PushOutcome::Accepted);
        }
        let seqs: Vec<_> = drain(&mut jb, 5).into_iter().filter_map(|o| o.0).collect();
        assert_eq!(seqs, vec![65534, 65535, 0, 1]);
        // A jump of thousands (new stream after re-INVITE) restarts playout.
        assert_eq!(jb.push(30000, &frame(7)), PushOutcome::Resynced);
        let out = drain(&mut jb, 2);
        assert_eq!((out[1].0, out[1].2), (Some(30000), 7));
    }

    #[test]
    fn sheds_excess_delay() {
        let mut jb = JitterBuffer::new(2);
        for s in 0..12u16 {
            jb.push(s, &frame(s as i16));
        }
        let out = drain(&mut jb, 4);
        // 12 queued with a target of 2: the oldest 10 are skipped, not
        // played late.
        assert_eq!(out[2], (Some(10), FrameKind::Received, 10));
        assert_eq!(out[3], (Some(11), FrameKind::Received, 11));
        assert_eq!(jb.stats().skipped, 10);
    }

    proptest! {
        /// Random arrival order, loss and duplication: output sequence
        /// numbers strictly increase and no received frame plays twice.
        #[test]
        fn never_out_of_order_or_duplicate(
            start: u16,
            jitter in proptest::collection::vec(0u8..5, 60),
            dup in proptest::collection::vec(any::<bool>(), 60),
            lose in proptest::collection::vec(0u8..10, 60),
            delay in 1u16..6,
        ) {
            // Packet i is sent at tick i and arrives at tick i + jitter[i].
            let mut arrivals: Vec<(usize, u16)> = Vec::new();
            for i in 0..60 {
                if lose[i] == 0 { continue; }
                let seq = start.wrapping_add(i as u16);
                arrivals.push((i + jitter[i] as usize, seq));
                if dup[i] { arrivals.push((i + jitter[i] as usize + 1, seq)); }
            }
            arrivals.sort_by_key(|a| a.0);
            let mut jb = JitterBuffer::new(delay);
            let mut played: Vec<u16> = Vec::new();
            let mut last_seq: Option<u16> = None;
            let mut k = 0;
            for tick in 0..80 {
                while k < arrivals.len() && arrivals[k].0 == tick {
                    let seq = arrivals[k].1;
                    // Payload carries the seq so we can check what plays.
                    jb.push(seq, &[seq as i16; FRAME_SAMPLES]);
                    k += 1;
                }
                let p = jb.pop();
                if let Some(s) = p.sequence {
                    if let Some(l) = last_seq {
                        prop_assert!((s.wrapping_sub(l) as i16) > 0, "{} after {}", s, l);
                    }
                    last_seq = Some(s);
                    if p.kind == FrameKind::Received {
                        prop_assert_eq!(p.frame[0], s as i16);
                        prop_assert!(!played.contains(&s));
                        played.push(s);
                    }
                }
            }
            // With jitter below the delay nothing received is lost.
            if jitter.iter().all(|&j| (j as u16) < delay) {
                let expected = lose.iter().filter(|&&l| l != 0).count();
                prop_assert_eq!(played.len(), expected);
            }
        }
    }
}
