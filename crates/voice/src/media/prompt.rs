//! Prompt preparation: any WAV hound can read → 8 kHz mono PCM → frames
//! pre-encoded in both G.711 laws, so playing a cached prompt to hundreds of
//! callers is a slice copy per 20 ms.
//!
//! Text-to-speech runs `espeak-ng --stdout` in the server (IO); its WAV has
//! a streaming header (data size 0xFFFFFFFF or 0x7FFFF000) that hound
//! rejects, so the header is repaired before decoding.

use std::borrow::Cow;
use std::io::Cursor;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use thiserror::Error;

use super::g711::{Codec, FRAME_SAMPLES};

/// Output sample rate.
pub const PROMPT_RATE: u32 = 8000;
/// Zero crossings of the sinc kernel on each side: quality vs. cost.
const ZERO_CROSSINGS: f64 = 10.0;
/// Pass band as a fraction of the output Nyquist (3.6 kHz at 8 kHz).
const PASSBAND: f64 = 0.9;

/// Why a prompt could not be prepared.
#[derive(Debug, Error)]
pub enum PromptError {
    /// hound could not decode the file even after header repair.
    #[error("invalid WAV: {0}")]
    Wav(#[from] hound::Error),
    /// Decoded but outside what we accept.
    #[error("unsupported WAV: {0}")]
    Unsupported(&'static str),
}

/// Returns the WAV bytes with a streaming/oversized `data` chunk length
/// (and RIFF length) rewritten to what is actually present. Borrowed when
/// nothing needs fixing. Non-RIFF input is returned unchanged.
pub fn repair_streaming_header(bytes: &[u8]) -> Cow<'_, [u8]> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Cow::Borrowed(bytes);
    }
    let le32 =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let mut pos = 12usize;
    let mut block_align = 1usize;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = le32(pos + 4) as usize;
        let body = pos + 8;
        if id == b"fmt " && size >= 14 && body + 14 <= bytes.len() {
            block_align =
                (u16::from_le_bytes([bytes[body + 12], bytes[body + 13]]) as usize).max(1);
        }
        if id == b"data" {
            let avail = bytes.len() - body;
            let riff_ok = le32(4) as usize == bytes.len() - 8;
            if size <= avail && riff_ok {
                return Cow::Borrowed(bytes);
            }
            let fixed = size.min(avail) / block_align * block_align;
            let mut out = bytes[..body + fixed].to_vec();
            out[pos + 4..pos + 8].copy_from_slice(&(fixed as u32).to_le_bytes());
            let riff = (out.len() - 8) as u32;
            out[4..8].copy_from_slice(&riff.to_le_bytes());
            return Cow::Owned(out);
        }
        // Chunks are word aligned.
        pos = body.saturating_add(size).saturating_add(size & 1);
    }
    Cow::Borrowed(bytes)
}

/// Decodes a WAV to mono f32 in [-1, 1] and its sample rate.
pub fn decode_wav_mono(bytes: &[u8]) -> Result<(Vec<f32>, u32), PromptError> {
    let bytes = repair_streaming_header(bytes);
    let mut reader = hound::WavReader::new(Cursor::new(bytes.as_ref()))?;
    let spec = reader.spec();
    if spec.channels == 0 {
        return Err(PromptError::Unsupported("zero channels"));
    }
    if !(1000..=192_000).contains(&spec.sample_rate) {
        return Err(PromptError::Unsupported("sample rate out of range"));
    }
    let ch = spec.channels as usize;
    let mut mono = Vec::with_capacity(reader.len() as usize / ch);
    let mut acc = 0.0f32;
    let mut n = 0usize;
    let mut push = |v: f32| {
        acc += v;
        n += 1;
        if n == ch {
            mono.push(acc / ch as f32);
            acc = 0.0;
            n = 0;
        }
    };
    match spec.sample_format {
        hound::SampleFormat::Float => {
            for s in reader.samples::<f32>() {
                push(s?);
            }
        }
        hound::SampleFormat::Int => {
            if !(1..=32).contains(&spec.bits_per_sample) {
                return Err(PromptError::Unsupported("bits per sample"));
            }
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            for s in reader.samples::<i32>() {
                push(s? as f32 * scale);
            }
        }
    }
    Ok((mono, spec.sample_rate))
}

/// Resamples with a Hann-windowed sinc low-pass at 90 % of the lower
/// Nyquist, so content above 4 kHz is removed rather than aliased.
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || input.is_empty() || from == 0 || to == 0 {
        return input.to_vec();
    }
    let step = from as f64 / to as f64;
    // Cutoff in cycles per input sample.
    let fc = PASSBAND * 0.5 * (to as f64 / from as f64).min(1.0);
    let half = ZERO_CROSSINGS / (2.0 * fc);
    let out_len = (input.len() as u64 * to as u64 / from as u64) as usize;
    let mut out = Vec::with_capacity(out_len);
    let last = input.len() as i64 - 1;
    for n in 0..out_len {
        let t = n as f64 * step;
        let lo = ((t - half).ceil() as i64).max(0);
        let hi = ((t + half).floor() as i64).min(last);
        let (mut acc, mut wsum) = (0.0f64, 0.0f64);
        for i in lo..=hi {
            let x = i as f64 - t;
            let arg = 2.0 * fc * x;
            let sinc = if arg.abs() < 1e-9 {
                1.0
            } else {
                (std::f64::consts::PI * arg).sin() / (std::f64::consts::PI * arg)
            };
            let win = 0.5 + 0.5 * (std::f64::consts::PI * x / half).cos();
            let w = sinc * win;
            acc += w * input[i as usize] as f64;
            wsum += w;
        }
        // Normalising by the tap sum keeps DC gain exactly 1, also at edges.
        out.push(if wsum.abs() > 1e-9 {
            (acc / wsum) as f32
        } else {
            0.0
        });
    }
    out
}

fn to_i16(x: f32) -> i16 {
    (x * 32767.0).round().clamp(-32768.0, 32767.0) as i16
}

/// A prompt ready to play: 8 kHz mono PCM plus both G.711 encodings, all
/// padded with silence to whole 20 ms frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pcm: Vec<i16>,
    pcmu: Vec<u8>,
    pcma: Vec<u8>,
}

impl Prompt {
    /// Decodes, downmixes, resamples and encodes a WAV file's bytes.
    pub fn from_wav(bytes: &[u8]) -> Result<Self, PromptError> {
        let (mono, rate) = decode_wav_mono(bytes)?;
        let pcm: Vec<i16> = resample(&mono, rate, PROMPT_RATE)
            .into_iter()
            .map(to_i16)
            .collect();
        Ok(Self::from_pcm(pcm))
    }

    /// Wraps 8 kHz mono PCM.
    pub fn from_pcm(mut pcm: Vec<i16>) -> Self {
        let frames = pcm.len().div_ceil(FRAME_SAMPLES);
        pcm.resize(frames * FRAME_SAMPLES, 0);
        let mut pcmu = vec![0; pcm.len()];
        let mut pcma = vec![0; pcm.len()];
        Codec::Pcmu.encode(&pcm, &mut pcmu);
        Codec::Pcma.encode(&pcm, &mut pcma);
        Prompt { pcm, pcmu, pcma }
    }

    /// The 8 kHz PCM (whole frames).
    pub fn pcm(&self) -> &[i16] {
        &self.pcm
    }

    /// Number of 20 ms frames.
    pub fn frame_count(&self) -> usize {
        self.pcm.len() / FRAME_SAMPLES
    }

    /// Duration in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.frame_count() as u64 * 20
    }

    fn encoded(&self, codec: Codec) -> &[u8] {
        match codec {
            Codec::Pcmu => &self.pcmu,
            Codec::Pcma => &self.pcma,
        }
    }

    /// The pre-encoded 160-byte frames.
    pub fn frames(&self, codec: Codec) -> std::slice::ChunksExact<'_, u8> {
        self.encoded(codec).chunks_exact(FRAME_SAMPLES)
    }

    /// One pre-encoded frame.
    pub fn frame(&self, codec: Codec, index: usize) -> Option<&[u8]> {
        self.encoded(codec)
            .get(index * FRAME_SAMPLES..(index + 1) * FRAME_SAMPLES)
    }
}

/// A 20 ms frame of encoded silence.
pub fn silence_frame(codec: Codec) -> [u8; FRAME_SAMPLES] {
    [codec.silence_byte(); FRAME_SAMPLES]
}

/// A 20 ms frame of low white noise (peak `amplitude`, e.g. 30 ≈ -60 dBov)
/// so callers on hold do not think the line dropped. `seed` carries the
/// xorshift state between frames; any non-zero start value works.
pub fn comfort_noise(codec: Codec, amplitude: i16, seed: &mut u32) -> [u8; FRAME_SAMPLES] {
    let mut out = [0u8; FRAME_SAMPLES];
    let amp = amplitude.unsigned_abs() as i32;
    if *seed == 0 {
        *seed = 0x9E37_79B9;
    }
    for o in &mut out {
        let mut x = *seed;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *seed = x;
        let s = ((x >> 16) as i32 % (2 * amp + 1)) - amp;
        *o = codec.encode_sample(s as i16);
    }
    out
}

/// Plays a list of prompts frame by frame, optionally looping (music on
/// hold). Prompts are shared, so many players cost one copy of the audio.
#[derive(Debug, Clone)]
pub struct Player {
    prompts: Vec<Arc<Prompt>>,
    codec: Codec,
    looping: bool,
    prompt: usize,
    frame: usize,
}

impl Player {
    /// A player for `codec` starting at the first prompt.
    pub fn new(prompts: Vec<Arc<Prompt>>, codec: Codec, looping: bool) -> Self {
        Player {
            prompts,
            codec,
            looping,
            prompt: 0,
            frame: 0,
        }
    }

    /// The next 160-byte frame, or `None` when finished (never when looping
    /// over non-empty prompts).
    pub fn next_frame(&mut self) -> Option<&[u8]> {
        // Bounded so a list of only empty prompts cannot spin forever.
        for _ in 0..=self.prompts.len() {
            if self.prompt >= self.prompts.len() {
                if !self.looping || self.prompts.is_empty() {
                    return None;
                }
                self.prompt = 0;
            }
            let p = &self.prompts[self.prompt];
            if self.frame < p.frame_count() {
                let i = self.frame;
                self.frame += 1;
                return self.prompts[self.prompt].frame(self.codec, i);
            }
            self.prompt += 1;
            self.frame = 0;
        }
        None
    }

    /// True once a non-looping player has played everything.
    pub fn is_finished(&self) -> bool {
        !self.looping && self.prompt >= self.prompts.len()
    }
}

/// Cache key for synthesised speech: SHA-256 hex over a versioned,
/// length-prefixed encoding so `("ab", "c")` and `("a", "bc")` differ.
pub fn tts_cache_key(text: &str, voice: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"switchboard-tts-v1\0");
    h.update((voice.len() as u64).to_le_bytes());
    h.update(voice.as_bytes());
    h.update((text.len() as u64).to_le_bytes());
    h.update(text.as_bytes());
    h.finalize()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn wav(
        spec: hound::WavSpec,
        f: impl Fn(&mut hound::WavWriter<&mut Cursor<Vec<u8>>>),
    ) -> Vec<u8> {
        let mut c = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut c, spec).unwrap();
        f(&mut w);
        w.finalize().unwrap();
        c.into_inner()
    }

    fn spec(channels: u16, rate: u32, bits: u16, float: bool) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: if float {
                hound::SampleFormat::Float
            } else {
                hound::SampleFormat::Int
            },
        }
    }

    fn sine(freq: f64, rate: u32, i: usize) -> f64 {
        (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin()
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    /// Goertzel magnitude (normalised) of `freq` at 8 kHz.
    fn tone_level(x: &[i16], freq: f64) -> f64 {
        let w = 2.0 * std::f64::consts::PI * freq / 8000.0;
        let c = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0, 0.0);
        for &v in x {
            let s = v as f64 + c * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        (s1 * s1 + s2 * s2 - c * s1 * s2).sqrt() * 2.0 / x.len() as f64
    }

    #[test]
    fn resamples_48k_stereo_float_and_downmixes() {
        let bytes = wav(spec(2, 48000, 32, true), |w| {
            for i in 0..48000 {
                let v = 0.5 * sine(440.0, 48000, i) as f32;
                w.write_sample(v).unwrap();
                w.write_sample(v).unwrap();
            }
        });
        let p = Prompt::from_wav(&bytes).unwrap();
        assert_eq!(p.pcm().len(), 8000);
        assert_eq!(p.frame_count(), 50);
        let mid = &p.pcm()[1000..7000];
        let amp = tone_level(mid, 440.0);
        assert!((amp - 16383.0).abs() < 300.0, "amp {amp}");
    }

    #[test]
    fn content_above_4khz_is_filtered_not_aliased() {
        // 5 kHz at 48 kHz would alias to 3 kHz under naive decimation.
        let bytes = wav(spec(1, 48000, 16, false), |w| {
            for i in 0..24000 {
                w.write_sample((16000.0 * sine(5000.0, 48000, i)) as i16)
                    .unwrap();
            }
        });
        let p = Prompt::from_wav(&bytes).unwrap();
        let mid = &p.pcm()[500..3500];
        assert!(rms(mid) < 200.0, "leaked rms {}", rms(mid));
        assert!(tone_level(mid, 3000.0) < 100.0);
    }

    #[test]
    fn reads_8_and_24_bit_int() {
        for bits in [8u16, 24] {
            let full = (1i32 << (bits - 1)) - 1;
            let bytes = wav(spec(1, 16000, bits, false), |w| {
                for i in 0..16000 {
                    w.write_sample((full as f64 * 0.5 * sine(1000.0, 16000, i)) as i32)
                        .unwrap();
                }
            });
            let p = Prompt::from_wav(&bytes).unwrap();
            assert_eq!(p.pcm().len(), 8000);
            let amp = tone_level(&p.pcm()[1000..7000], 1000.0);
            assert!((amp - 16383.0).abs() < 600.0, "bits {bits} amp {amp}");
        }
    }

    /// espeak-ng writes to a pipe, so it cannot seek back to fill in sizes.
    fn streaming_wav(data_size: u32, samples: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&data_size.wrapping_add(36).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes()); // PCM
        v.extend_from_slice(&1u16.to_le_bytes()); // mono
        v.extend_from_slice(&22050u32.to_le_bytes());
        v.extend_from_slice(&44100u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&16u16.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&data_size.to_le_bytes());
        for s in samples {
            v.extend_from_slice(&s.to_le_bytes());
        }
        v
    }

    #[test]
    fn espeak_streaming_header_is_repaired() {
        let samples: Vec<i16> = (0..11025)
            .map(|i| (10000.0 * sine(1000.0, 22050, i)) as i16)
            .collect();
        for size in [0xFFFF_FFFF, 0x7FFF_F000] {
            let mut bytes = streaming_wav(size, &samples);
            bytes.push(0); // streams can end mid-sample
            assert!(hound::WavReader::new(Cursor::new(&bytes[..])).is_err() || size != 0xFFFF_FFFF);
            let p = Prompt::from_wav(&bytes).unwrap();
            assert_eq!(p.pcm().len(), 4000);
            let amp = tone_level(&p.pcm()[500..3500], 1000.0);
            assert!((amp - 10000.0).abs() < 400.0, "amp {amp}");
        }
        // Well-formed files are not copied.
        let ok = wav(spec(1, 8000, 16, false), |w| w.write_sample(1i16).unwrap());
        assert!(matches!(repair_streaming_header(&ok), Cow::Borrowed(_)));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Prompt::from_wav(b"").is_err());
        assert!(Prompt::from_wav(b"RIFF\xff\xff\xff\xffWAVEdata\xff\xff\xff\xff").is_err());
        assert!(Prompt::from_wav(&[0u8; 100]).is_err());
    }

    #[test]
    fn frames_are_pre_encoded_and_padded() {
        let p = Prompt::from_pcm(vec![1000; 200]);
        assert_eq!(p.frame_count(), 2);
        assert_eq!(p.duration_ms(), 40);
        let f1 = p.frame(Codec::Pcmu, 1).unwrap();
        assert_eq!(f1[39], Codec::Pcmu.encode_sample(1000));
        assert_eq!(f1[40], 0xFF);
        assert_eq!(p.frame(Codec::Pcma, 1).unwrap()[40], 0xD5);
        assert!(p.frame(Codec::Pcmu, 2).is_none());
        assert_eq!(p.frames(Codec::Pcma).count(), 2);
    }

    #[test]
    fn player_sequences_and_loops() {
        let a = Arc::new(Prompt::from_pcm(vec![1000; 320]));
        let b = Arc::new(Prompt::from_pcm(vec![-1000; 160]));
        let empty = Arc::new(Prompt::from_pcm(Vec::new()));
        let mut once = Player::new(
            vec![a.clone(), empty.clone(), b.clone()],
            Codec::Pcmu,
            false,
        );
        let mut got = Vec::new();
        while let Some(f) = once.next_frame() {
            got.push(f[0]);
        }
        let (pa, pb) = (
            Codec::Pcmu.encode_sample(1000),
            Codec::Pcmu.encode_sample(-1000),
        );
        assert_eq!(got, vec![pa, pa, pb]);
        assert!(once.is_finished());

        let mut moh = Player::new(vec![a, b], Codec::Pcmu, true);
        let got: Vec<u8> = (0..7).map(|_| moh.next_frame().unwrap()[0]).collect();
        assert_eq!(got, vec![pa, pa, pb, pa, pa, pb, pa]);
        let mut dead = Player::new(vec![empty], Codec::Pcmu, true);
        assert!(dead.next_frame().is_none());
    }

    #[test]
    fn silence_and_comfort_noise() {
        assert_eq!(silence_frame(Codec::Pcmu), [0xFF; 160]);
        assert_eq!(silence_frame(Codec::Pcma), [0xD5; 160]);
        let mut seed = 1;
        let a = comfort_noise(Codec::Pcmu, 30, &mut seed);
        let b = comfort_noise(Codec::Pcmu, 30, &mut seed);
        assert_ne!(a, b);
        let mut pcm = [0i16; 160];
        Codec::Pcmu.decode(&a, &mut pcm);
        assert!(pcm.iter().all(|&s| s.abs() <= 40));
        assert!(pcm.iter().any(|&s| s != 0));
    }

    #[test]
    fn tts_key_is_stable_and_unambiguous() {
        let k = tts_cache_key("Press two for sales", "en-us");
        assert_eq!(k.len(), 64);
        assert_eq!(k, tts_cache_key("Press two for sales", "en-us"));
        assert_ne!(k, tts_cache_key("Press two for sales", "en"));
        assert_ne!(tts_cache_key("ab", "c"), tts_cache_key("a", "bc"));
        // Pinned so a change of scheme (which orphans the cache) is deliberate.
        assert_eq!(
            k,
            "76defbb2226c765260c8d698f9b15073d183320a7ddb3b4b2ad6d1a6ecd49189"
        );
    }

    /// Run with `ESPEAK_WAV=/tmp/x.wav cargo test -- --ignored espeak_real`
    /// after `espeak-ng --stdout "Press two for sales" > /tmp/x.wav`.
    #[test]
    #[ignore]
    fn espeak_real_output() {
        let path = std::env::var("ESPEAK_WAV").unwrap();
        let bytes = std::fs::read(path).unwrap();
        let p = Prompt::from_wav(&bytes).unwrap();
        println!(
            "espeak prompt: {} ms, rms {:.0}",
            p.duration_ms(),
            rms(p.pcm())
        );
        assert!(p.duration_ms() > 500);
        assert!(rms(p.pcm()) > 100.0);
    }
}
