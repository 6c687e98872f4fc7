//! Channel adapters: for each provider, verify and parse what comes in and
//! build what goes out.
//!
//! Owns: wire formats, signatures and tokens of each channel. Must never:
//! touch the database or the bus directly (the server hands parsed events to
//! the store), or trust a payload before its signature is checked.

pub mod email;
pub mod messenger;
pub mod provider;
pub mod telegram;
pub mod viber;
pub mod webchat;
pub mod webhook;
pub mod whatsapp;
