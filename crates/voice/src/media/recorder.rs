//! Stereo call recording: left = caller (inbound leg), right = agent.
//!
//! Both legs are placed on one timeline counted in 8 kHz samples since the
//! recording started. The caller of this module derives that position from
//! its own tick clock, not from RTP timestamps: each leg's RTP clock starts
//! at a random value and may drift. Positions never fed stay zero, so the
//! file's duration is the call's wall-clock duration even across loss or
//! hold.
//!
//! Cost per frame is a copy of 160 samples into a preallocated ring; the
//! ring is written to the WAV in half-second blocks, so a 500-call server
//! does ~1000 writes/s in total instead of one per sample.

use std::io::{Seek, Write};

use thiserror::Error;

/// Sample rate of recordings.
pub const RECORDING_RATE: u32 = 8000;
/// Stereo frames per write to the underlying file (0.5 s).
const BLOCK: usize = 4000;
/// Ring size in stereo frames: one block being filled while the previous
/// one can still receive frames from the lagging leg.
const RING: usize = 2 * BLOCK;

/// Which side of the call a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// The inbound caller — left channel.
    Caller,
    /// The agent (or the other outbound leg) — right channel.
    Agent,
}

/// Recording failure (IO from the WAV writer).
#[derive(Debug, Error)]
pub enum RecorderError {
    /// Underlying WAV/IO error.
    #[error("wav write failed: {0}")]
    Wav(#[from] hound::Error),
    /// A position more than a day past the written part: a caller bug
    /// that would otherwise fill the disk with silence.
    #[error("timeline jump to sample {0}")]
    TimelineJump(u64),
}

/// Longest silence `advance_to` will write in one go (24 h).
const MAX_JUMP: u64 = 24 * 3600 * RECORDING_RATE as u64;

/// Counters for diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecorderStats {
    /// Samples that arrived after their block had been written (dropped).
    pub late_samples: u64,
    /// Stereo frames written so far.
    pub written_frames: u64,
}

/// Streams a 16-bit 8 kHz stereo WAV to any `Write + Seek`.
pub struct Recorder<W: Write + Seek> {
    writer: hound::WavWriter<W>,
    /// Interleaved L/R ring holding timeline `[flushed, flushed + RING)`.
    ring: Box<[i16]>,
    /// Ring index (in stereo frames) of timeline position `flushed`.
    head: usize,
    flushed: u64,
    end: u64,
    stats: RecorderStats,
}

impl<W: Write + Seek> Recorder<W> {
    /// Starts a recording, writing the WAV header to `out`.
    pub fn new(out: W) -> Result<Self, RecorderError> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: RECORDING_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        Ok(Recorder {
            writer: hound::WavWriter::new(out, spec)?,
            ring: vec![0; RING * 2].into_boxed_slice(),
            head: 0,
            flushed: 0,
            end: 0,
            stats: RecorderStats::default(),
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> RecorderStats {
        self.stats
    }

    /// Timeline length so far in samples (the duration `finish` will write).
    pub fn duration_samples(&self) -> u64 {
        self.end
    }

    /// Adds `pcm` for `leg` starting at timeline sample `at`. Frames may
    /// arrive out of order and legs may lag each other by up to half a
    /// second; older samples are dropped and counted.
    pub fn push(&mut self, leg: Leg, at: u64, pcm: &[i16]) -> Result<(), RecorderError> {
        let end = at.saturating_add(pcm.len() as u64);
        self.advance_to(end)?;
        let skip = self.flushed.saturating_sub(at).min(pcm.len() as u64) as usize;
        self.stats.late_samples += skip as u64;
        if skip == pcm.len() {
            return Ok(());
        }
        let ch = match leg {
            Leg::Caller => 0,
            Leg::Agent => 1,
        };
        let mut idx = (self.head + (at + skip as u64 - self.flushed) as usize) % RING;
        for &s in &pcm[skip..] {
            self.ring[idx * 2 + ch] = s;
            idx += 1;
            if idx == RING {
                idx = 0;
            }
        }
        Ok(())
    }

    /// Extends the timeline to `at` (e.g. the call's end time) so trailing
    /// silence is recorded even if no frames were fed.
    pub fn advance_to(&mut self, at: u64) -> Result<(), RecorderError> {
        if at > self.flushed.saturating_add(MAX_JUMP) {
            return Err(RecorderError::TimelineJump(at));
        }
        while at > self.flushed + RING as u64 {
            self.flush_block(BLOCK)?;
        }
        self.end = self.end.max(at);
        Ok(())
    }

    /// Writes `n` (≤ BLOCK, from a block boundary) stereo frames at the head.
    fn flush_block(&mut self, n: usize) -> Result<(), RecorderError> {
        let range = self.head * 2..(self.head + n) * 2;
        let mut w = self.writer.get_i16_writer((n * 2) as u32);
        for &s in &self.ring[range.clone()] {
            w.write_sample(s);
        }
        w.flush()?;
        self.ring[range].fill(0);
        self.head = (self.head + n) % RING;
        self.flushed += n as u64;
        self.stats.written_frames += n as u64;
        Ok(())
    }

    /// Writes what is buffered and finalises the WAV header.
    pub fn finish(mut self) -> Result<RecorderStats, RecorderError> {
        // head is always 0 or BLOCK, so at most two partial blocks remain.
        while self.end > self.flushed {
            let n = ((self.end - self.flushed) as usize).min(BLOCK);
            self.flush_block(n)?;
        }
        let stats = self.stats;
        self.writer.finalize()?;
        Ok(stats)
    }
}

/// Why [`wav_slice_channel`] could not cut a slice.
#[derive(Debug, Error)]
pub enum SliceError {
    /// The input is not a readable WAV.
    #[error("wav read failed: {0}")]
    Wav(#[from] hound::Error),
    /// Only 16-bit integer PCM is supported (what [`Recorder`] writes).
    #[error("unsupported wav format: {bits}-bit {format:?}")]
    Format {
        /// Bits per sample of the input.
        bits: u16,
        /// Sample format of the input.
        format: hound::SampleFormat,
    },
    /// `channel` is not below the input's channel count.
    #[error("channel {channel} out of range ({channels} channels)")]
    NoSuchChannel {
        /// The channel asked for.
        channel: u16,
        /// Channels in the input.
        channels: u16,
    },
    /// `to_ms` is before `from_ms`.
    #[error("empty range {from_ms}..{to_ms} ms")]
    Range {
        /// Start asked for.
        from_ms: u64,
        /// End asked for.
        to_ms: u64,
    },
}

/// Cuts `[from_ms, to_ms)` of one channel out of a 16-bit PCM WAV (e.g. a
/// [`Recorder`] file) into a mono WAV at the input's rate. The range is
/// clamped to the input's length: a start past the end gives an empty WAV.
pub fn wav_slice_channel(input: &[u8], channel: u16, from_ms: u64, to_ms: u64) -> Result<Vec<u8>, SliceError> {
    if to_ms < from_ms {
        return Err(SliceError::Range { from_ms, to_ms });
    }
    let mut reader = hound::WavReader::new(std::io::Cursor::new(input))?;
    let spec = reader.spec();
    if spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
        return Err(SliceError::Format { bits: spec.bits_per_sample, format: spec.sample_format });
    }
    if channel >= spec.channels {
        return Err(SliceError::NoSuchChannel { channel, channels: spec.channels });
    }
    let frames = u64::from(reader.duration());
    let rate = u64::from(spec.sample_rate);
    let from = from_ms.saturating_mul(rate) / 1000;
    let to = (to_ms.saturating_mul(rate) / 1000).min(frames);
    let out_spec = hound::WavSpec { channels: 1, ..spec };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut out, out_spec)?;
    if from < to {
        // `from < frames <= u32::MAX` here.
        reader.seek(u32::try_from(from).unwrap_or(u32::MAX)).map_err(hound::Error::IoError)?;
        let channels = usize::from(spec.channels);
        let wanted = (to - from) as usize * channels;
        for (i, sample) in reader.samples::<i16>().take(wanted).enumerate() {
            let sample = sample?;
            if i % channels == usize::from(channel) {
                writer.write_sample(sample)?;
            }
        }
    }
    writer.finalize()?;
    Ok(out.into_inner())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::media::g711::FRAME_SAMPLES;
    use std::io::Cursor;

    fn tone(freq: f64, start: u64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = (start + i as u64) as f64 / RECORDING_RATE as f64;
                (8000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
            })
            .collect()
    }

    /// Goertzel power of `freq` in `x`, normalised by length.
    fn power(x: &[i16], freq: f64) -> f64 {
        let w = 2.0 * std::f64::consts::PI * freq / RECORDING_RATE as f64;
        let c = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0, 0.0);
        for &v in x {
            let s = v as f64 + c * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.len() as f64).powi(2)
    }

    fn read(buf: Vec<u8>) -> (hound::WavSpec, Vec<i16>, Vec<i16>) {
        let mut r = hound::WavReader::new(Cursor::new(buf)).unwrap();
        let spec = r.spec();
        let all: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
        let left = all.iter().step_by(2).copied().collect();
        let right = all.iter().skip(1).step_by(2).copied().collect();
        (spec, left, right)
    }

    #[test]
    fn two_tones_land_on_their_channels_with_gaps_filled() {
        let mut out = Cursor::new(Vec::new());
        let mut rec = Recorder::new(&mut out).unwrap();
        let frames = 150; // 3 s
        for f in 0..frames {
            let at = (f * FRAME_SAMPLES) as u64;
            // The agent leg lags the caller by one frame, as in a real
            // engine where legs are polled in turn.
            rec.push(Leg::Caller, at, &tone(440.0, at, FRAME_SAMPLES))
                .unwrap();
            if f > 0 {
                let prev = at - FRAME_SAMPLES as u64;
                // Agent answers at 1 s and loses frames 100..110.
                if prev >= 8000 && !(100..110).contains(&(f - 1)) {
                    rec.push(Leg::Agent, prev, &tone(1000.0, prev, FRAME_SAMPLES))
                        .unwrap();
                }
            }
        }
        // Call ends 0.5 s after the last frame.
        rec.advance_to((frames * FRAME_SAMPLES + 4000) as u64)
            .unwrap();
        let stats = rec.finish().unwrap();
        assert_eq!(stats.late_samples, 0);

        let (spec, left, right) = read(out.into_inner());
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (2, 8000, 16)
        );
        assert_eq!(left.len(), frames * FRAME_SAMPLES + 4000);

        let seg = 8000..16000;
        assert!(power(&left[seg.clone()], 440.0) > 1000.0 * power(&left[seg.clone()], 1000.0));
        assert!(power(&right[seg.clone()], 1000.0) > 1000.0 * power(&right[seg.clone()], 440.0));
        // Exact samples survive.
        assert_eq!(&left[..FRAME_SAMPLES], &tone(440.0, 0, FRAME_SAMPLES)[..]);
        assert_eq!(&right[8000..8160], &tone(1000.0, 8000, FRAME_SAMPLES)[..]);
        // Before the agent answered, during its loss and after hang-up: silence.
        assert!(right[..8000].iter().all(|&s| s == 0));
        assert!(right[100 * 160..110 * 160].iter().all(|&s| s == 0));
        assert!(right[99 * 160..100 * 160].iter().any(|&s| s != 0));
        assert!(left[frames * 160..].iter().all(|&s| s == 0));
    }

    #[test]
    fn long_hold_writes_silence_and_very_late_frames_are_dropped() {
        let mut out = Cursor::new(Vec::new());
        let mut rec = Recorder::new(&mut out).unwrap();
        rec.push(Leg::Caller, 0, &[1000; 160]).unwrap();
        // 60 s of hold with no media, then one more frame.
        rec.push(Leg::Caller, 60 * 8000, &[2000; 160]).unwrap();
        // A frame from 59 s ago is far too late.
        rec.push(Leg::Agent, 160, &[3000; 160]).unwrap();
        assert_eq!(rec.stats().late_samples, 160);
        assert_eq!(rec.duration_samples(), 60 * 8000 + 160);
        rec.finish().unwrap();
        let (_, left, right) = read(out.into_inner());
        assert_eq!(left.len(), 60 * 8000 + 160);
        assert_eq!(left[0], 1000);
        assert_eq!(left[60 * 8000], 2000);
        assert!(right.iter().all(|&s| s == 0));
        assert_eq!(left.iter().filter(|&&s| s != 0).count(), 320);
    }

    #[test]
    fn out_of_order_frames_within_window_are_kept() {
        let mut out = Cursor::new(Vec::new());
        let mut rec = Recorder::new(&mut out).unwrap();
        rec.push(Leg::Agent, 320, &[2; 160]).unwrap();
        rec.push(Leg::Agent, 0, &[1; 160]).unwrap();
        rec.finish().unwrap();
        let (_, _, right) = read(out.into_inner());
        assert_eq!(right.len(), 480);
        assert_eq!((right[0], right[200], right[400]), (1, 0, 2));
    }

    /// Not a benchmark harness, just a printed figure:
    /// `cargo test --release -- --ignored --nocapture recorder_cost`.
    #[test]
    #[ignore]
    fn recorder_cost() {
        struct Null(u64);
        impl Write for Null {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0 += b.len() as u64;
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        impl Seek for Null {
            fn seek(&mut self, _: std::io::SeekFrom) -> std::io::Result<u64> {
                Ok(self.0)
            }
        }
        let calls = 500;
        let secs = 20;
        let mut recs: Vec<_> = (0..calls)
            .map(|_| Recorder::new(Null(0)).unwrap())
            .collect();
        let frame = tone(440.0, 0, FRAME_SAMPLES);
        let t = std::time::Instant::now();
        for f in 0..secs * 50 {
            for r in &mut recs {
                let at = (f * FRAME_SAMPLES) as u64;
                r.push(Leg::Caller, at, &frame).unwrap();
                r.push(Leg::Agent, at, &frame).unwrap();
            }
        }
        let el = t.elapsed();
        let n = (calls * secs * 50 * 2) as f64;
        println!(
            "recorder: {:.0} ns per 20 ms leg-frame; {} calls x {} s took {:?} ({:.2}% of one core)",
            el.as_nanos() as f64 / n,
            calls,
            secs,
            el,
            el.as_secs_f64() / secs as f64 * 100.0
        );

        // Whole receive path per leg-frame: RTP parse, G.711 decode,
        // jitter push + pop, record.
        use crate::media::{
            g711::Codec,
            jitter::JitterBuffer,
            rtp::{RtpPacket, RtpSender},
        };
        let mut tx = RtpSender::new(1, 0, 0, 0);
        let mut pkts = Vec::new();
        for _ in 0..1000 {
            let mut v = Vec::new();
            tx.audio_packet(&[0x55; 160], &mut v);
            pkts.push(v);
        }
        let mut legs: Vec<_> = (0..calls * 2).map(|_| JitterBuffer::new(3)).collect();
        let mut pcm = [0i16; FRAME_SAMPLES];
        let t = std::time::Instant::now();
        for (f, pkt) in pkts.iter().enumerate() {
            let at = (f * FRAME_SAMPLES) as u64;
            for (i, jb) in legs.iter_mut().enumerate() {
                let p = RtpPacket::parse(pkt).unwrap();
                Codec::Pcmu.decode(p.payload, &mut pcm);
                jb.push(p.header.sequence, &pcm);
                let out = jb.pop();
                let leg = if i % 2 == 0 { Leg::Caller } else { Leg::Agent };
                recs[i / 2]
                    .push(leg, at + (secs * 50 * FRAME_SAMPLES) as u64, out.frame)
                    .unwrap();
            }
        }
        let el = t.elapsed();
        println!(
            "receive path: {:.0} ns per leg-frame ({:.2}% of one core for {} calls)",
            el.as_nanos() as f64 / (pkts.len() * calls * 2) as f64,
            el.as_secs_f64() / (pkts.len() as f64 / 50.0) * 100.0,
            calls
        );
    }

    fn stereo_wav(rate: u32, left: &[i16], right: &[i16]) -> Vec<u8> {
        let spec = hound::WavSpec { channels: 2, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        let mut out = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        for (l, r) in left.iter().zip(right) {
            w.write_sample(*l).unwrap();
            w.write_sample(*r).unwrap();
        }
        w.finalize().unwrap();
        out.into_inner()
    }

    #[test]
    fn slice_takes_one_channel_from_the_offset() {
        // Left counts up from 0, right counts down: each sample tells where it came from.
        let left: Vec<i16> = (0..8000).map(|i| i as i16).collect();
        let right: Vec<i16> = (0..8000).map(|i| -(i as i16)).collect();
        let wav = stereo_wav(8000, &left, &right);
        let out = wav_slice_channel(&wav, 0, 250, 500).unwrap();
        let mut r = hound::WavReader::new(Cursor::new(out)).unwrap();
        assert_eq!(r.spec().channels, 1);
        assert_eq!(r.spec().sample_rate, 8000);
        let got: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(got, (2000..4000).map(|i| i as i16).collect::<Vec<_>>());
        let out = wav_slice_channel(&wav, 1, 0, 1).unwrap();
        let got: Vec<i16> = hound::WavReader::new(Cursor::new(out)).unwrap().samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(got, (0..8).map(|i| -(i as i16)).collect::<Vec<_>>());
    }

    #[test]
    fn slice_clamps_to_the_end_and_past_it() {
        let wav = stereo_wav(8000, &[7; 800], &[0; 800]);
        let out = wav_slice_channel(&wav, 0, 50, 60_000).unwrap();
        let r = hound::WavReader::new(Cursor::new(out)).unwrap();
        assert_eq!(r.duration(), 400);
        let out = wav_slice_channel(&wav, 0, 5_000, 6_000).unwrap();
        let r = hound::WavReader::new(Cursor::new(out)).unwrap();
        assert_eq!(r.duration(), 0);
        assert_eq!(r.spec().channels, 1);
    }

    #[test]
    fn slice_rejects_bad_input() {
        let wav = stereo_wav(8000, &[1; 10], &[2; 10]);
        assert!(matches!(wav_slice_channel(&wav, 2, 0, 10), Err(SliceError::NoSuchChannel { channel: 2, channels: 2 })));
        assert!(matches!(wav_slice_channel(&wav, 0, 10, 5), Err(SliceError::Range { .. })));
        assert!(matches!(wav_slice_channel(b"not a wav at all", 0, 0, 10), Err(SliceError::Wav(_))));
        assert!(matches!(wav_slice_channel(&wav[..20], 0, 0, 10), Err(SliceError::Wav(_))));
        let spec = hound::WavSpec { channels: 1, sample_rate: 8000, bits_per_sample: 8, sample_format: hound::SampleFormat::Int };
        let mut out = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        w.write_sample(3i8).unwrap();
        w.finalize().unwrap();
        assert!(matches!(wav_slice_channel(&out.into_inner(), 0, 0, 10), Err(SliceError::Format { bits: 8, .. })));
    }
}
