//! Media: RTP, G.711, RFC 4733 DTMF, SDP, jitter buffer, recording and
//! prompts. Sans-IO: callers pass bytes, frames and timeline positions in
//! and get bytes and frames back; nothing here touches a socket or clock.

pub mod dtmf;
pub mod g711;
pub mod jitter;
pub mod prompt;
pub mod recorder;
pub mod rtp;
pub mod sdp;
