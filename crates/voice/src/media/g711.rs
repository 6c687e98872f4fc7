//! G.711 µ-law (PCMU, payload type 0) and A-law (PCMA, payload type 8).
//!
//! Decoding is a 256-entry table lookup; encoding uses `leading_zeros` to
//! find the segment instead of a search loop, so both are branch-light and
//! cheap enough to run on every frame of hundreds of calls.

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// µ-law code for digital silence (decodes to 0).
pub const ULAW_SILENCE: u8 = 0xFF;
/// A-law code for (near) silence (decodes to +8).
pub const ALAW_SILENCE: u8 = 0xD5;

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

/// The G.711 variant of a call leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// µ-law, RTP static payload type 0.
    Pcmu,
    /// A-law, RTP static payload type 8.
    Pcma,
}

impl Codec {
    /// The RTP static payload type (RFC 3551).
    pub const fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec for a static payload type, if it is one of ours.
    pub const fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The SDP `rtpmap` encoding name.
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The code byte that decodes to silence.
    pub const fn silence_byte(self) -> u8 {
        match self {
            Codec::Pcmu => ULAW_SILENCE,
            Codec::Pcma => ALAW_SILENCE,
        }
    }

    /// Encodes one sample.
    #[inline]
    pub fn encode_sample(self, s: i16) -> u8 {
        match self {
            Codec::Pcmu => linear_to_ulaw(s),
            Codec::Pcma => linear_to_alaw(s),
        }
    }

    /// Decodes one sample.
    #[inline]
    pub fn decode_sample(self, b: u8) -> i16 {
        match self {
            Codec::Pcmu => ulaw_to_linear(b),
            Codec::Pcma => alaw_to_linear(b),
        }
    }

    /// Encodes `pcm` into `out`; only `min(pcm.len(), out.len())` samples
    /// are touched so callers can reuse fixed buffers without checks.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) {
        // One match per frame, not per sample, keeps the inner loop tight.
        match self {
            Codec::Pcmu => out
                .iter_mut()
                .zip(pcm)
                .for_each(|(o, &s)| *o = linear_to_ulaw(s)),
            Codec::Pcma => out
                .iter_mut()
                .zip(pcm)
                .for_each(|(o, &s)| *o = linear_to_alaw(s)),
        }
    }

    /// Decodes `codes` into `out` (`min` of both lengths).
    pub fn decode(self, codes: &[u8], out: &mut [i16]) {
        let table = match self {
            Codec::Pcmu => &ULAW_TABLE,
            Codec::Pcma => &ALAW_TABLE,
        };
        out.iter_mut()
            .zip(codes)
            .for_each(|(o, &b)| *o = table[b as usize]);
    }
}

const fn ulaw_decode_formula(code: u8) -> i16 {
    let u = !code;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_decode_formula(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if alaw {
            alaw_decode_formula(i as u8)
        } else {
            ulaw_decode_formula(i as u8)
        };
        i += 1;
    }
    t
}

static ULAW_TABLE: [i16; 256] = build_table(false);
static ALAW_TABLE: [i16; 256] = build_table(true);

/// Encodes a 16-bit linear sample to µ-law (ITU-T G.711, 14-bit magnitude).
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(ULAW_CLIP) + ULAW_BIAS;
    // s is in 0x84..=0x7FFF, so the top bit sits at position 7..=14.
    let exponent = (31 - s.leading_zeros() as i32) - 7;
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// Decodes a µ-law code to a 16-bit linear sample.
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TABLE[code as usize]
}

/// Encodes a 16-bit linear sample to A-law (ITU-T G.711, 13-bit magnitude).
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = (sample as i32) >> 3;
    let mask = if pcm >= 0 {
        0xD5
    } else {
        // One's complement keeps -1 (tiny negative) in the smallest step.
        pcm = -pcm - 1;
        0x55
    };
    // pcm is 0..=0xFFF; segment = bit length above 5, floored at 0.
    let bits = 32 - (pcm as u32).leading_zeros() as i32;
    let seg = (bits - 5).max(0);
    let shift = if seg < 2 { 1 } else { seg };
    let aval = (seg << 4) | ((pcm >> shift) & 0x0F);
    (aval as u8) ^ mask
}

/// Decodes an A-law code to a 16-bit linear sample.
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TABLE[code as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_values() {
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0xF0), 120);
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        // Segment boundaries from the Sun reference implementation.
        assert_eq!(linear_to_ulaw(100), 0xF2);
        assert_eq!(linear_to_ulaw(1000), 0xCE);
        assert_eq!(linear_to_ulaw(-1000), 0x4E);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(linear_to_alaw(1000), 0xFA);
        assert_eq!(linear_to_alaw(-1000), 0x7A);
    }

    /// Half a quantisation step, plus the clipping region above the top code.
    fn ulaw_bound(x: i32) -> i32 {
        if x.abs() > ULAW_CLIP {
            645
        } else {
            8 + x.abs() / 16
        }
    }

    #[test]
    fn ulaw_round_trip_error_bounded_for_all_inputs() {
        for x in i16::MIN..=i16::MAX {
            let y = ulaw_to_linear(linear_to_ulaw(x)) as i32;
            let err = (y - x as i32).abs();
            assert!(err <= ulaw_bound(x as i32), "x={x} y={y} err={err}");
            // Sign is preserved (zero may come back as 0 from either side).
            assert!(y == 0 || (y > 0) == (x >= 0), "x={x} y={y}");
        }
    }

    #[test]
    fn alaw_round_trip_error_bounded_for_all_inputs() {
        for x in i16::MIN..=i16::MAX {
            let y = alaw_to_linear(linear_to_alaw(x)) as i32;
            let err = (y - x as i32).abs();
            let bound = if x.unsigned_abs() >= 32256 {
                520
            } else {
                16 + (x as i32).abs() / 32
            };
            assert!(err <= bound, "x={x} y={y} err={err}");
        }
    }

    #[test]
    fn encode_is_idempotent_after_one_pass() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            for x in i16::MIN..=i16::MAX {
                let once = codec.decode_sample(codec.encode_sample(x));
                let twice = codec.decode_sample(codec.encode_sample(once));
                assert_eq!(once, twice, "{codec:?} x={x}");
            }
            // Every code is a fixed point except µ-law's negative zero.
            for b in 0..=255u8 {
                let back = codec.encode_sample(codec.decode_sample(b));
                if !(codec == Codec::Pcmu && b == 0x7F) {
                    assert_eq!(back, b, "{codec:?} code {b:#04x}");
                }
            }
        }
    }

    #[test]
    fn tables_match_formulas_and_frame_helpers() {
        let pcm: Vec<i16> = (0..FRAME_SAMPLES).map(|i| (i as i16 - 80) * 300).collect();
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut enc = [0u8; FRAME_SAMPLES];
            let mut dec = [0i16; FRAME_SAMPLES];
            codec.encode(&pcm, &mut enc);
            codec.decode(&enc, &mut dec);
            for i in 0..FRAME_SAMPLES {
                assert_eq!(enc[i], codec.encode_sample(pcm[i]));
                assert_eq!(dec[i], codec.decode_sample(enc[i]));
            }
            assert_eq!(Codec::from_payload_type(codec.payload_type()), Some(codec));
            assert!(codec.decode_sample(codec.silence_byte()).abs() <= 8);
        }
    }
}
