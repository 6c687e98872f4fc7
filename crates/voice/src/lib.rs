//! Voice cores for Switchboard's built-in PBX.
//!
//! Owns: the SIP protocol (message grammar, transactions with their
//! retransmission timers, dialogs, digest authentication, the registrar),
//! media (RTP packets, G.711 µ-law/A-law, RFC 4733 DTMF, SDP offer/answer,
//! jitter buffering, stereo call recording, prompt transcoding).
//!
//! Must never: open a socket, read a clock or spawn a task. Every state
//! machine here takes bytes/events and the current time as values and
//! returns what to send and when to wake it (sans-IO, like quinn-proto);
//! the socket loops live in the `switchboard` binary.

pub mod media;
pub mod sip;
