//! Switchboard's pure core: domain types, typed ids, events, access rules,
//! validation and small pure algorithms (rate limiting, template rendering).
//!
//! Owns: the vocabulary every other crate speaks and every decision that can
//! be made without IO. Must never: do IO, spawn tasks, read the clock or a
//! random source (time and randomness come in as values), depend on another
//! crate of this workspace.

pub mod access;
pub mod automation;
pub mod business_hours;
pub mod events;
pub mod ids;
pub mod inbox_config;
pub mod live;
pub mod messaging_window;
// `string_enum!` is shared with `voice`, declared after it.
#[macro_use]
pub mod model;
pub mod rate_limit;
pub mod routing;
pub mod sla;
pub mod template;
pub mod time;
pub mod validate;
pub mod voice;
pub mod voice_inbound;

pub use ids::*;
pub use model::*;
pub use time::Timestamp;
